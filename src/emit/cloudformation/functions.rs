//! The three Lambda functions, their log groups, least-privilege roles and event sources.
//!
//! Handlers never bake in a name, ARN or URL: everything they reach is passed in the
//! environment below (the contract with `runtime/`, listed in the README), so one build serves
//! any suffix.

use serde_json::{Map, Value, json};

use super::exceptions::{
    AUDIT_NO_DLQ, GUARD_NO_VPC, LOG_GROUP_BY_LOGGING_CONFIG, NO_VPC, PROCESSOR_NO_DLQ,
    RECEIVER_NO_DLQ, SQS_SOURCE_NO_ON_FAILURE, attach,
};
use super::{Template, arn, att, ids, r, resource, secrets, sub};
use crate::ir::names::Function;

/// The logical id of a function.
pub fn function_id(f: Function) -> String {
    format!("{}Function", f.title())
}

/// The logical id of a function's log group.
pub fn log_group_id(f: Function) -> String {
    format!("{}LogGroup", f.title())
}

pub(super) fn emit(t: &mut Template) {
    for f in Function::ALL {
        emit_function(t, f);
    }
    let source = t.stack.processor_source;
    let mut sqs_source = resource(
        "AWS::Lambda::EventSourceMapping",
        json!({
            "FunctionName": r(&function_id(Function::Processor)),
            "EventSourceArn": att(ids::PROCESSING_QUEUE, "Arn"),
            "BatchSize": source.batch_size,
            "MaximumBatchingWindowInSeconds": source.batching_window_secs,
            "ScalingConfig": { "MaximumConcurrency": source.max_concurrency },
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": true,
        }),
    );
    attach(&mut sqs_source, &[SQS_SOURCE_NO_ON_FAILURE]);
    t.add("ProcessorEventSource", sqs_source);
    let stream = t.stack.audit_source;
    t.add(
        "AuditEventSource",
        resource(
            "AWS::Lambda::EventSourceMapping",
            json!({
                "FunctionName": r(&function_id(Function::Audit)),
                "EventSourceArn": att(ids::WEBHOOK_TABLE, "StreamArn"),
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": stream.batch_size,
                "ParallelizationFactor": t.stack.load().parallelization(),
                "BisectBatchOnFunctionError": true,
                "MaximumRetryAttempts": stream.max_retries,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": { "OnFailure": { "Destination": att(ids::AUDIT_FAILURE_QUEUE, "Arn") } },
                "Enabled": true,
            }),
        ),
    );
}

fn emit_function(t: &mut Template, f: Function) {
    let n = t.names.clone();
    let model = *t.stack.function(f);
    let log_group = t.log_group(sub(n.function_log_group(f)));
    t.add(log_group_id(f), log_group);

    let role_id = format!("{}Role", f.title());
    let role = resource(
        "AWS::IAM::Role",
        json!({
            "RoleName": sub(n.role(f)),
            "Description": sub(format!("Execution role of {}", n.function(f))),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "lambda.amazonaws.com" },
                    "Action": "sts:AssumeRole",
                }],
            },
            "Policies": [{
                "PolicyName": f.slug(),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements(t, f) },
            }],
        }),
    );
    t.add(role_id.clone(), role);

    let code_key = format!("{}CodeKey", f.title());
    let mut function = resource(
        "AWS::Lambda::Function",
        json!({
            "FunctionName": sub(n.function(f)),
            "Description": description(f),
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "Code": { "S3Bucket": r("ArtifactBucket"), "S3Key": r(&code_key) },
            "MemorySize": model.memory_mib,
            "Timeout": model.timeout_secs,
            "ReservedConcurrentExecutions": model.reserved,
            "Role": att(&role_id, "Arn"),
            "TracingConfig": { "Mode": "Active" },
            "KmsKeyArn": att(ids::KEY, "Arn"),
            "Environment": { "Variables": environment(t, f) },
            "LoggingConfig": { "LogGroup": r(&log_group_id(f)), "LogFormat": "JSON" },
        }),
    );
    let no_dlq = match f {
        Function::Receiver => RECEIVER_NO_DLQ,
        Function::Processor => PROCESSOR_NO_DLQ,
        Function::Audit => AUDIT_NO_DLQ,
    };
    attach(
        &mut function,
        &[NO_VPC, no_dlq, LOG_GROUP_BY_LOGGING_CONFIG, GUARD_NO_VPC],
    );
    t.add(function_id(f), function);
}

fn description(f: Function) -> &'static str {
    match f {
        Function::Receiver => {
            "Verifies webhook signatures, stores each webhook once and enqueues it"
        }
        Function::Processor => {
            "Normalises queued webhooks, publishes them to the event bus, tracks payment state"
        }
        Function::Audit => "Writes an audit record for every change to the webhook table",
    }
}

/// The handler's environment: every resource it reaches, by name or ARN.
fn environment(t: &Template, f: Function) -> Value {
    let n = &t.names;
    let mut vars = Map::new();
    vars.insert("WH_STACK_NAME".into(), sub(n.stack()));
    match f {
        Function::Receiver => {
            vars.insert("WH_WEBHOOK_TABLE".into(), r(ids::WEBHOOK_TABLE));
            vars.insert("WH_PROCESSING_QUEUE_URL".into(), r(ids::PROCESSING_QUEUE));
            vars.insert("WH_METRICS_NAMESPACE".into(), sub(n.metrics_namespace()));
            for p in &t.stack.providers {
                vars.insert(
                    format!("WH_SECRET_ARN_{}", p.env_key()),
                    secrets::secret_arn(p),
                );
                vars.insert(
                    format!("WH_NOTIFICATION_URL_{}", p.env_key()),
                    notification_url(t, &p.name, p.notification_url_template.as_deref()),
                );
            }
        }
        Function::Processor => {
            vars.insert("WH_WEBHOOK_TABLE".into(), r(ids::WEBHOOK_TABLE));
            vars.insert("WH_EVENT_BUS_NAME".into(), r(ids::EVENT_BUS));
            vars.insert("WH_ALERT_TOPIC_ARN".into(), r(ids::ALERT_TOPIC));
            vars.insert("WH_METRICS_NAMESPACE".into(), sub(n.metrics_namespace()));
        }
        Function::Audit => {
            vars.insert("WH_AUDIT_TABLE".into(), r(ids::AUDIT_TABLE));
        }
    }
    Value::Object(vars)
}

/// The URL a provider posts to (and Square signs): the spec's override, the custom domain, or
/// the API's own URL.
fn notification_url(t: &Template, provider: &str, spec_override: Option<&str>) -> Value {
    if let Some(url) = spec_override {
        return if url.contains("${") {
            sub(url)
        } else {
            Value::String(url.to_owned())
        };
    }
    match &t.stack.domain {
        Some(domain) => Value::String(format!("https://{}/webhook/{provider}", domain.name)),
        None => sub(format!(
            "https://${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{}/webhook/{provider}",
            ids::REST_API,
            t.stack.stage
        )),
    }
}

/// What a caller needs of the stack's key to call a service whose resource it encrypts, as
/// that service documents it. No data-plane call needs `kms:Encrypt` or `kms:DescribeKey`.
#[derive(Clone, Copy)]
struct KeyUse {
    service: &'static str,
    actions: &'static [&'static str],
}

impl KeyUse {
    /// DynamoDB decrypts the table key as the principal accessing the table; the data keys are
    /// generated by DynamoDB's own account
    /// (<https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html>, its
    /// CloudTrail examples: Decrypt "The user is the principal in your AWS account who is
    /// accessing the table"; GenerateDataKey "The user is the DynamoDB service account").
    /// Stream reads are the same table key.
    const DYNAMODB: KeyUse = KeyUse {
        service: "dynamodb",
        actions: &["kms:Decrypt"],
    };
    /// "the producer must have the kms:GenerateDataKey and kms:Decrypt permissions"
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html>).
    const SQS_SEND: KeyUse = KeyUse {
        service: "sqs",
        actions: &["kms:GenerateDataKey", "kms:Decrypt"],
    };
    /// "the consumer must have the kms:Decrypt permission" (same page).
    const SQS_RECEIVE: KeyUse = KeyUse {
        service: "sqs",
        actions: &["kms:Decrypt"],
    };
    /// "The publisher must have the kms:GenerateDataKey and kms:Decrypt permissions"
    /// (<https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html>).
    const SNS_PUBLISH: KeyUse = KeyUse {
        service: "sns",
        actions: &["kms:GenerateDataKey", "kms:Decrypt"],
    };
    /// "you also need kms:Decrypt permissions for that key"
    /// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>).
    const SECRETS_MANAGER: KeyUse = KeyUse {
        service: "secretsmanager",
        actions: &["kms:Decrypt"],
    };
    /// The function's own environment, encrypted with the stack's key.
    const LAMBDA: KeyUse = KeyUse {
        service: "lambda",
        actions: &["kms:Decrypt"],
    };
    // EventBridge PutEvents: the bus's key is used by `events.amazonaws.com` under the key
    // policy; the caller-side list of the event bus encryption page names rule and target
    // actions, not PutEvents
    // (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-event-bus-cmkey.html>).
}

/// The role's statements: exactly the actions the handler performs, on exactly its resources.
fn statements(t: &Template, f: Function) -> Vec<Value> {
    let n = &t.names;
    let allow = |sid: &str, actions: &[&str], resources: Value| json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources });
    let table = att(ids::WEBHOOK_TABLE, "Arn");
    let mut out = Vec::new();
    // The key through each service the function calls, with the actions that service's page
    // says the caller needs (see `KeyUse`).
    let uses: &[KeyUse] = match f {
        Function::Receiver => {
            out.push(allow(
                "StoreWebhooks",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                json!([table]),
            ));
            out.push(allow(
                "EnqueueWebhooks",
                &["sqs:SendMessage"],
                json!([att(ids::PROCESSING_QUEUE, "Arn")]),
            ));
            let secrets: Vec<Value> = t.stack.providers.iter().map(secrets::secret_arn).collect();
            out.push(allow(
                "ReadSigningSecrets",
                &["secretsmanager:GetSecretValue"],
                json!(secrets),
            ));
            &[
                KeyUse::DYNAMODB,
                KeyUse::SQS_SEND,
                KeyUse::SECRETS_MANAGER,
                KeyUse::LAMBDA,
            ]
        }
        Function::Processor => {
            out.push(allow(
                "TrackWebhooksAndPayments",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                json!([table]),
            ));
            out.push(allow(
                "ConsumeQueue",
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                json!([att(ids::PROCESSING_QUEUE, "Arn")]),
            ));
            out.push(allow(
                "PublishEvents",
                &["events:PutEvents"],
                json!([att(ids::EVENT_BUS, "Arn")]),
            ));
            out.push(allow(
                "PublishAlerts",
                &["sns:Publish"],
                json!([r(ids::ALERT_TOPIC)]),
            ));
            // EventBridge: none; its service principal uses the key (see `KeyUse`).
            &[
                KeyUse::DYNAMODB,
                KeyUse::SQS_RECEIVE,
                KeyUse::SNS_PUBLISH,
                KeyUse::LAMBDA,
            ]
        }
        Function::Audit => {
            out.push(allow(
                "ReadTableStream",
                &[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                json!([att(ids::WEBHOOK_TABLE, "StreamArn")]),
            ));
            out.push(allow(
                "ListTableStreams",
                &["dynamodb:ListStreams"],
                json!([arn(
                    "dynamodb",
                    &format!("table/{}/stream/*", n.webhook_table())
                )]),
            ));
            out.push(allow(
                "WriteAuditRecords",
                &["dynamodb:PutItem"],
                json!([att(ids::AUDIT_TABLE, "Arn")]),
            ));
            out.push(allow(
                "ReportFailedBatches",
                &["sqs:SendMessage"],
                json!([att(ids::AUDIT_FAILURE_QUEUE, "Arn")]),
            ));
            // The failure destination is written with the function's role.
            &[KeyUse::DYNAMODB, KeyUse::SQS_SEND, KeyUse::LAMBDA]
        }
    };
    for (sid, action) in [
        ("DecryptThroughItsServices", "kms:Decrypt"),
        ("GenerateDataKeysThroughItsServices", "kms:GenerateDataKey"),
    ] {
        let services: Vec<&str> = uses
            .iter()
            .filter(|u| u.actions.contains(&action))
            .map(|u| u.service)
            .collect();
        if services.is_empty() {
            continue;
        }
        let services: Vec<Value> = services
            .iter()
            .map(|s| sub(format!("{s}.${{AWS::Region}}.amazonaws.com")))
            .collect();
        out.push(json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": [action],
            "Resource": [att(ids::KEY, "Arn")],
            "Condition": { "StringEquals": { "kms:ViaService": services } },
        }));
    }
    out.push(allow(
        "WriteOwnLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        json!([att(&log_group_id(f), "Arn")]),
    ));
    // X-Ray's segment APIs take no resource: AWS requires "*" here.
    out.push(allow(
        "SendTraces",
        &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        json!("*"),
    ));
    out
}
