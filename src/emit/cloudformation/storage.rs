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
    let capacity = t.stack.load().tables();
    let mut index = json!({
        "IndexName": STATUS_INDEX,
        "KeySchema": [
            { "AttributeName": "status_shard", "KeyType": "HASH" },
            { "AttributeName": "received_at", "KeyType": "RANGE" },
        ],
        "Projection": { "ProjectionType": "KEYS_ONLY" },
    });
    if let Some(w) = capacity.index_warm_writes {
        index["WarmThroughput"] = json!({ "WriteUnitsPerSecond": w });
    }
    let mut webhooks = table(
        t,
        &t.names.webhook_table(),
        json!({
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" },
                { "AttributeName": "status_shard", "AttributeType": "S" },
                { "AttributeName": "received_at", "AttributeType": "S" },
            ],
            "GlobalSecondaryIndexes": [index],
            "StreamSpecification": { "StreamViewType": "NEW_AND_OLD_IMAGES" },
        }),
    );
    warm(
        &mut webhooks,
        capacity.webhook_warm_writes,
        capacity.webhook_warm_reads,
    );
    t.add(ids::WEBHOOK_TABLE, webhooks);
    let mut audit = table(
        t,
        &t.names.audit_table(),
        json!({
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" },
            ],
        }),
    );
    warm(&mut audit, capacity.audit_warm_writes, None);
    t.add(ids::AUDIT_TABLE, audit);
}

/// Pre-warms an on-demand table whose writes (reads) the capacity model puts above the 4,000
/// (12,000) units a new table serves: "A new on-demand table starts with a warm throughput of 12,000 read units
/// per second and 4,000 write units per second"; warm throughput is charged once when raised
/// and can never be lowered, so it is set only where the need is above the start
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html>).
fn warm(table: &mut Value, writes: Option<u64>, reads: Option<u64>) {
    let mut warm = serde_json::Map::new();
    if let Some(w) = writes {
        warm.insert("WriteUnitsPerSecond".into(), w.into());
    }
    if let Some(r) = reads {
        warm.insert("ReadUnitsPerSecond".into(), r.into());
    }
    if !warm.is_empty() {
        table["Properties"]["WarmThroughput"] = Value::Object(warm);
    }
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
