//! The one customer-managed key that encrypts everything, and who may use it.
//!
//! Function roles reach the key through their own policies with `kms:ViaService` conditions
//! (see `functions.rs`). Service principals that act on their own need a statement here, each
//! scoped to this stack: CloudWatch Logs (log groups), CloudWatch (alarms publishing to the
//! encrypted topic: without it, alarms deploy fine and never notify), SNS (undeliverable alerts
//! into the encrypted alert-failures queue) and EventBridge (the encrypted bus).

use serde_json::{Value, json};

use super::{Template, ids, sub};
use crate::ir::names::Function;

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    let mut log_groups: Vec<Value> = Function::ALL
        .iter()
        .map(|f| log_group_arn(&n.function_log_group(*f)))
        .collect();
    log_groups.push(log_group_arn(&n.access_log_group()));
    log_groups.push(log_group_arn(&n.execution_log_group(
        &format!("${{{}}}", ids::REST_API),
        &t.stack.stage,
    )));
    log_groups.push(log_group_arn(&n.waf_log_group()));

    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersKey",
                "Effect": "Allow",
                "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                // Only AWS services, on behalf of their resources, may be granted use of the
                // key: a grant is a second policy that this one would not show (Control Tower
                // CT.KMS.PR.3, https://docs.aws.amazon.com/controltower/latest/controlreference/kms-rules.html).
                "Sid": "GrantsOnlyForAwsResources",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "BoolIfExists": {
                        "kms:GrantIsForAWSResource": "false",
                        "aws:PrincipalIsAWSService": "false",
                    },
                },
            },
            {
                "Sid": "LogsEncryptThisStacksLogGroups",
                "Effect": "Allow",
                "Principal": { "Service": sub("logs.${AWS::Region}.amazonaws.com") },
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": { "ArnEquals": { "kms:EncryptionContext:aws:logs:arn": log_groups } },
            },
            {
                "Sid": "AlarmsPublishToEncryptedTopic",
                "Effect": "Allow",
                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "aws:SourceAccount": sub("${AWS::AccountId}") },
                    "ArnLike": {
                        "aws:SourceArn": sub(format!(
                            "arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{}",
                            n.alarm("*")
                        )),
                    },
                },
            },
            {
                "Sid": "AlertTopicDeadLettersToEncryptedQueue",
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {
                        "aws:SourceArn": super::arn("sns", &n.alert_topic()),
                    },
                },
            },
            {
                // "kms:DescribeKey — EventBridge requires this permission to retrieve the KMS
                // key ARN for the Key Id provided, and to verify that the key is symmetric";
                // AWS's example key policy grants it alone, without the encryption-context
                // condition, which a DescribeKey request never carries
                // (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-event-bus-cmkey.html).
                "Sid": "EventBridgeValidatesTheKey",
                "Effect": "Allow",
                "Principal": { "Service": "events.amazonaws.com" },
                "Action": "kms:DescribeKey",
                "Resource": "*",
            },
            {
                "Sid": "EventBridgeEncryptsTheBus",
                "Effect": "Allow",
                "Principal": { "Service": "events.amazonaws.com" },
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": sub("${AWS::AccountId}"),
                        "kms:EncryptionContext:aws:events:event-bus:arn": sub(format!(
                            "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:event-bus/{}",
                            n.event_bus()
                        )),
                    },
                },
            },
        ],
    });

    let key = t.stateful(
        "AWS::KMS::Key",
        json!({
            "Description": sub(format!("Encrypts every resource of {}", n.stack())),
            "EnableKeyRotation": true,
            "PendingWindowInDays": if t.stack.retains() { 30 } else { 7 },
            "KeyPolicy": policy,
        }),
    );
    t.add(ids::KEY, key);
    let alias = super::resource(
        "AWS::KMS::Alias",
        json!({ "AliasName": sub(n.kms_alias()), "TargetKeyId": super::r(ids::KEY) }),
    );
    t.add("EncryptionKeyAlias", alias);
}

/// A log group's ARN as CloudWatch Logs puts it in the encryption context (no trailing `:*`).
pub(super) fn log_group_arn(name: &str) -> Value {
    super::arn("logs", &format!("log-group:{name}"))
}
