//! The stack's outputs: the fixed keys other commands and CI read (the outputs contract in the
//! README). Keys never change between specs; a key that does not apply is left out.

use serde_json::Value;

use super::functions::function_id;
use super::{Template, att, ids, r, sub};
use crate::ir::names::Function;

/// Every output key a template may have, in order.
pub const OUTPUT_KEYS: &[&str] = &[
    "ApiUrl",
    "RestApiId",
    "StageName",
    "CustomDomainUrl",
    "CustomDomainTarget",
    "CustomDomainHostedZoneId",
    "WebhookTableName",
    "WebhookTableStreamArn",
    "AuditTableName",
    "ProcessingQueueUrl",
    "ProcessingQueueArn",
    "DeadLetterQueueUrl",
    "DeadLetterQueueArn",
    "AuditFailureQueueUrl",
    "AlertFailureQueueUrl",
    "AlertTopicArn",
    "EventBusName",
    "EventBusArn",
    "KmsKeyArn",
    "ReceiverFunctionName",
    "ProcessorFunctionName",
    "AuditFunctionName",
    "WebAclName",
    "MetricsNamespace",
    "EnvironmentSuffix",
];

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    let stage = t.stack.stage.clone();
    let mut out: Vec<(&str, &str, Value)> = vec![
        (
            "ApiUrl",
            "Base URL of the stage; webhooks are posted to <ApiUrl>webhook/<provider>",
            sub(format!(
                "https://${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}/",
                ids::REST_API
            )),
        ),
        ("RestApiId", "REST API id", r(ids::REST_API)),
        ("StageName", "API stage name", Value::String(stage)),
    ];
    if let Some(domain) = &t.stack.domain {
        out.extend([
            (
                "CustomDomainUrl",
                "Stable base URL for providers",
                Value::String(format!("https://{}/", domain.name)),
            ),
            (
                "CustomDomainTarget",
                "Point the domain's DNS (alias or CNAME) here",
                att("CustomDomain", "RegionalDomainName"),
            ),
            (
                "CustomDomainHostedZoneId",
                "Hosted zone of CustomDomainTarget, for a Route 53 alias",
                att("CustomDomain", "RegionalHostedZoneId"),
            ),
        ]);
    }
    out.extend([
        ("WebhookTableName", "Webhook table", r(ids::WEBHOOK_TABLE)),
        (
            "WebhookTableStreamArn",
            "Webhook table stream",
            att(ids::WEBHOOK_TABLE, "StreamArn"),
        ),
        ("AuditTableName", "Audit table", r(ids::AUDIT_TABLE)),
        (
            "ProcessingQueueUrl",
            "Processing queue",
            r(ids::PROCESSING_QUEUE),
        ),
        (
            "ProcessingQueueArn",
            "Processing queue",
            att(ids::PROCESSING_QUEUE, "Arn"),
        ),
        (
            "DeadLetterQueueUrl",
            "Dead-letter queue",
            r(ids::DEAD_LETTER_QUEUE),
        ),
        (
            "DeadLetterQueueArn",
            "Dead-letter queue",
            att(ids::DEAD_LETTER_QUEUE, "Arn"),
        ),
        (
            "AuditFailureQueueUrl",
            "Stream batches the audit logger gave up on",
            r(ids::AUDIT_FAILURE_QUEUE),
        ),
        (
            "AlertFailureQueueUrl",
            "Alerts SNS could not deliver",
            r(ids::ALERT_FAILURE_QUEUE),
        ),
        ("AlertTopicArn", "Alert topic", r(ids::ALERT_TOPIC)),
        (
            "EventBusName",
            "Bus of normalised payment events",
            r(ids::EVENT_BUS),
        ),
        (
            "EventBusArn",
            "Bus of normalised payment events",
            att(ids::EVENT_BUS, "Arn"),
        ),
        (
            "KmsKeyArn",
            "The stack's customer-managed key",
            att(ids::KEY, "Arn"),
        ),
        (
            "ReceiverFunctionName",
            "Receiver function",
            r(&function_id(Function::Receiver)),
        ),
        (
            "ProcessorFunctionName",
            "Processor function",
            r(&function_id(Function::Processor)),
        ),
        (
            "AuditFunctionName",
            "Audit logger function",
            r(&function_id(Function::Audit)),
        ),
        // Written out, not read from the ACL: WAF metrics are keyed by name.
        (
            "WebAclName",
            "WAF web ACL (its metrics' WebACL dimension)",
            sub(n.web_acl()),
        ),
        (
            "MetricsNamespace",
            "Namespace of the receiver's metrics",
            sub(n.metrics_namespace()),
        ),
        (
            "EnvironmentSuffix",
            "Environment suffix of this stack",
            r("EnvironmentSuffix"),
        ),
    ]);
    for (key, description, value) in out {
        t.output(key, description, value);
    }
}
