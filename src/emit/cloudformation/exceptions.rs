//! Deliberate scanner exceptions: each is written into the resource's `Metadata` with its
//! reason (a checkov skip, or a cfn-lint ignore whose reason sits beside it under `wh`).
//!
//! A written exception is preferred over a setting that changes nothing. The README lists every
//! entry of [`ALL`]; a test keeps the two in step.

use serde_json::{Map, Value, json};

/// Which scanner an exception is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scanner {
    /// checkov.
    Checkov,
    /// cfn-lint, including the serverless rules.
    CfnLint,
}

/// One deliberate exception.
#[derive(Clone, Copy, Debug)]
pub struct Exception {
    /// The check's id (`CKV_AWS_117`, `WS1004`).
    pub id: &'static str,
    /// The scanner that reports it.
    pub scanner: Scanner,
    /// The resources it is written on.
    pub applies_to: &'static str,
    /// Why the check does not apply.
    pub reason: &'static str,
}

/// Functions outside a VPC.
pub const NO_VPC: Exception = Exception {
    id: "CKV_AWS_117",
    scanner: Scanner::Checkov,
    applies_to: "all three functions",
    reason: "The functions call only AWS APIs, over TLS with IAM auth; a VPC would add NAT cost and cold-start time and protect nothing",
};

/// The receiver has no function DLQ.
pub const RECEIVER_NO_DLQ: Exception = Exception {
    id: "CKV_AWS_116",
    scanner: Scanner::Checkov,
    applies_to: "receiver function",
    reason: "API Gateway invokes the receiver synchronously: a failure is answered 5xx and the provider retries; a function DLQ only catches asynchronous invokes",
};

/// The processor has no function DLQ.
pub const PROCESSOR_NO_DLQ: Exception = Exception {
    id: "CKV_AWS_116",
    scanner: Scanner::Checkov,
    applies_to: "processor function",
    reason: "Its SQS event source invokes it synchronously: failed messages reach the DLQ through the processing queue's redrive policy",
};

/// The audit logger has no function DLQ.
pub const AUDIT_NO_DLQ: Exception = Exception {
    id: "CKV_AWS_116",
    scanner: Scanner::Checkov,
    applies_to: "audit function",
    reason: "Its stream event source invokes it synchronously: failed batches go to the event source's on-failure destination, the audit-failures queue",
};

/// The webhook method has no authorizer.
pub const NO_AUTHORIZER: Exception = Exception {
    id: "CKV_AWS_59",
    scanner: Scanner::Checkov,
    applies_to: "POST /webhook/{provider}",
    reason: "Providers cannot sign with IAM or send tokens; every delivery is authenticated by its provider's signature in the receiver before anything is stored",
};

/// The stage has no cache.
pub const NO_CACHE: Exception = Exception {
    id: "CKV_AWS_120",
    scanner: Scanner::Checkov,
    applies_to: "API stage",
    reason: "Every request is a unique signed POST: a cache would never hit and is billed by the hour",
};

/// Function log groups are attached through `LoggingConfig`.
pub const LOG_GROUP_BY_LOGGING_CONFIG: Exception = Exception {
    id: "WS1004",
    scanner: Scanner::CfnLint,
    applies_to: "all three functions",
    reason: "Each function's log group is created with retention and the stack's key and attached through LoggingConfig; the rule only recognises a group named after the function's Ref, which would be a dependency cycle here",
};

/// SQS event sources take no on-failure destination.
pub const SQS_SOURCE_NO_ON_FAILURE: Exception = Exception {
    id: "ES1001",
    scanner: Scanner::CfnLint,
    applies_to: "processor event source",
    reason: "SQS event sources accept no on-failure destination: the processing queue's redrive policy sends failing messages to the DLQ",
};

/// Dead-letter queues have no dead-letter queue of their own.
pub const END_OF_FAILURE_PATH: Exception = Exception {
    id: "ES6000",
    scanner: Scanner::CfnLint,
    applies_to: "dead-letter, audit-failures and alert-failures queues",
    reason: "This queue is the end of a failure path: it is alarmed on depth and drained by wh redrive; a queue behind it would only move the problem",
};

/// The Log4j rule lives in the known-bad-inputs group, which the spec turned off.
pub const KNOWN_BAD_INPUTS_OFF: Exception = Exception {
    id: "CKV_AWS_192",
    scanner: Scanner::Checkov,
    applies_to: "web ACL, when the spec turns known-bad-inputs off",
    reason: "The spec turns the known-bad-inputs managed rules off for this environment (waf.managed_rules)",
};

/// Every exception, for the README check.
pub const ALL: &[Exception] = &[
    NO_VPC,
    RECEIVER_NO_DLQ,
    PROCESSOR_NO_DLQ,
    AUDIT_NO_DLQ,
    NO_AUTHORIZER,
    NO_CACHE,
    LOG_GROUP_BY_LOGGING_CONFIG,
    SQS_SOURCE_NO_ON_FAILURE,
    END_OF_FAILURE_PATH,
    KNOWN_BAD_INPUTS_OFF,
];

/// Writes `exceptions` into `resource`'s `Metadata`.
pub fn attach(resource: &mut Value, exceptions: &[Exception]) {
    if exceptions.is_empty() {
        return;
    }
    let skips: Vec<Value> = exceptions
        .iter()
        .filter(|e| e.scanner == Scanner::Checkov)
        .map(|e| json!({ "id": e.id, "comment": e.reason }))
        .collect();
    let ignores: Vec<&Exception> = exceptions
        .iter()
        .filter(|e| e.scanner == Scanner::CfnLint)
        .collect();
    let mut metadata = Map::new();
    if !skips.is_empty() {
        metadata.insert("checkov".into(), json!({ "skip": skips }));
    }
    if !ignores.is_empty() {
        metadata.insert(
            "cfn-lint".into(),
            json!({ "config": { "ignore_checks": ignores.iter().map(|e| e.id).collect::<Vec<_>>() } }),
        );
        let reasons: Map<String, Value> = ignores
            .iter()
            .map(|e| (e.id.to_owned(), json!(e.reason)))
            .collect();
        metadata.insert("wh".into(), json!({ "cfn-lint-exceptions": reasons }));
    }
    resource["Metadata"] = Value::Object(metadata);
}

/// How many exceptions a template carries.
pub fn count(template: &Value) -> usize {
    template["Resources"].as_object().map_or(0, |resources| {
        resources
            .values()
            .map(|r| {
                r["Metadata"]["checkov"]["skip"]
                    .as_array()
                    .map_or(0, Vec::len)
                    + r["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
                        .as_array()
                        .map_or(0, Vec::len)
            })
            .sum()
    })
}
