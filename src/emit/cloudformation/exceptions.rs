//! Deliberate scanner exceptions: each is written into the resource's `Metadata` with its
//! reason (a checkov skip; a cfn-lint ignore or a cfn-guard suppression, whose reason sits
//! beside it under `wh`).
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
    /// cfn-guard with AWS Control Tower's proactive controls.
    CfnGuard,
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

/// Functions outside a VPC (Control Tower's CT.LAMBDA.PR.3).
pub const GUARD_NO_VPC: Exception = Exception {
    id: "lambda_inside_vpc_check",
    scanner: Scanner::CfnGuard,
    applies_to: "all three functions",
    reason: NO_VPC.reason,
};

/// The receiver's invoke permission names its API by `Fn::Sub` (CT.LAMBDA.PR.2).
pub const GUARD_PERMISSION_BY_SUB: Exception = Exception {
    id: "lambda_function_public_access_prohibited_check",
    scanner: Scanner::CfnGuard,
    applies_to: "the receiver's invoke permission",
    reason: "The permission is not public: API Gateway may invoke only from this account (SourceAccount) and this API's stage (SourceArn); both are built with Fn::Sub so one template serves any account, and the rule accepts only literal strings or references to resources",
};

/// Log groups kept less than a year (CT.CLOUDWATCH.PR.2).
pub const GUARD_LOG_RETENTION: Exception = Exception {
    id: "cloudwatch_log_group_retention_period_check",
    scanner: Scanner::CfnGuard,
    applies_to: "every log group, when the spec's retention.logs is under 365d",
    reason: "Log retention is the spec's retention.logs; the durable record of each webhook's life is the audit table, kept for retention.audit_records",
};

/// Failure queues have no dead-letter queue of their own (CT.SQS.PR.1).
pub const GUARD_END_OF_FAILURE_PATH: Exception = Exception {
    id: "sqs_dlq_check",
    scanner: Scanner::CfnGuard,
    applies_to: "audit-failures and alert-failures queues",
    reason: END_OF_FAILURE_PATH.reason,
};

/// The alarm on undeliverable alerts has no action (CT.CLOUDWATCH.PR.1).
pub const GUARD_ALERT_FAILURE_ALARM: Exception = Exception {
    id: "cloudwatch_alarm_action_check",
    scanner: Scanner::CfnGuard,
    applies_to: "the alert-failures depth alarm",
    reason: "Its only possible action is the alert topic, whose e-mail delivery is what failed; it shows in CloudWatch and in wh status",
};

/// Every exception, for the docs check (docs/template.md lists each with its reason).
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
    GUARD_NO_VPC,
    GUARD_PERMISSION_BY_SUB,
    GUARD_LOG_RETENTION,
    GUARD_END_OF_FAILURE_PATH,
    GUARD_ALERT_FAILURE_ALARM,
];

/// Writes `exceptions` into `resource`'s `Metadata`, beside any already there.
pub fn attach(resource: &mut Value, exceptions: &[Exception]) {
    if exceptions.is_empty() {
        return;
    }
    if !resource["Metadata"].is_object() {
        resource["Metadata"] = Value::Object(Map::new());
    }
    let metadata = &mut resource["Metadata"];
    let push = |list: &mut Value, item: Value| {
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Value::Array(items) = list {
            items.push(item);
        }
    };
    for e in exceptions {
        match e.scanner {
            Scanner::Checkov => push(
                &mut metadata["checkov"]["skip"],
                json!({ "id": e.id, "comment": e.reason }),
            ),
            Scanner::CfnLint => {
                push(
                    &mut metadata["cfn-lint"]["config"]["ignore_checks"],
                    json!(e.id),
                );
                metadata["wh"]["cfn-lint-exceptions"][e.id] = json!(e.reason);
            }
            Scanner::CfnGuard => {
                push(&mut metadata["guard"]["SuppressedRules"], json!(e.id));
                metadata["wh"]["cfn-guard-exceptions"][e.id] = json!(e.reason);
            }
        }
    }
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
                    + r["Metadata"]["guard"]["SuppressedRules"]
                        .as_array()
                        .map_or(0, Vec::len)
            })
            .sum()
    })
}
