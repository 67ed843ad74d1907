//! DynamoDB: the webhook table (webhooks, and the latest state of each payment object) and the
//! audit table.
//!
//! Both use generic `pk`/`sk` keys so one table holds webhooks and payment-object states; the
//! sparse `status-shard-index` lets operations find webhooks by status and age (stuck RECEIVED
//! ones) without a scan. Its key is the status and one of 32 shards (`status_shard`), never
//! the status alone: see `wh_runtime::items::STATUS_SHARDS` for the partition arithmetic.

use serde_json::{Value, json};

use super::{Template, att, ids, sub};
use wh_runtime::items::STATUS_INDEX;

/// The TTL attribute of both tables (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub(super) fn emit(t: &mut Template) {
    let webhooks = table(
        t,
        &t.names.webhook_table(),
        json!({
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" },
                { "AttributeName": "status_shard", "AttributeType": "S" },
                { "AttributeName": "received_at", "AttributeType": "S" },
            ],
            "GlobalSecondaryIndexes": [{
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    { "AttributeName": "status_shard", "KeyType": "HASH" },
                    { "AttributeName": "received_at", "KeyType": "RANGE" },
                ],
                "Projection": { "ProjectionType": "KEYS_ONLY" },
            }],
            "StreamSpecification": { "StreamViewType": "NEW_AND_OLD_IMAGES" },
        }),
    );
    t.add(ids::WEBHOOK_TABLE, webhooks);
    let audit = table(
        t,
        &t.names.audit_table(),
        json!({
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" },
            ],
        }),
    );
    t.add(ids::AUDIT_TABLE, audit);
}

/// A table with the properties both share: on demand, KMS, point-in-time recovery, TTL,
/// deletion protection when retained.
fn table(t: &Template, name: &str, specific: Value) -> Value {
    let mut properties = json!({
        "TableName": sub(name),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            { "AttributeName": "pk", "KeyType": "HASH" },
            { "AttributeName": "sk", "KeyType": "RANGE" },
        ],
        "SSESpecification": {
            "SSEEnabled": true,
            "SSEType": "KMS",
            "KMSMasterKeyId": att(ids::KEY, "Arn"),
        },
        "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
        "TimeToLiveSpecification": { "AttributeName": TTL_ATTRIBUTE, "Enabled": true },
        "DeletionProtectionEnabled": t.stack.retains(),
    });
    if let (Some(target), Value::Object(extra)) = (properties.as_object_mut(), specific) {
        target.extend(extra);
    }
    t.stateful("AWS::DynamoDB::Table", properties)
}
