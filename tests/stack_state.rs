//! Reading a deployed stack's leftovers (queue depths, unprocessed webhooks through the sparse
//! `status-shard-index`, every shard) and each webhook's status by key, with the real SDK against moto server on
//! 127.0.0.1: what the soak check asks of a deployed stack once the load stops.

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use support::moto::Moto;
use wh::ops::stack_state::{Leftovers, StackOutputs, dlq_depth, leftovers, webhook_statuses};

/// A webhook item as the handlers write it, with its index key.
async fn put_webhook(ddb: &aws_sdk_dynamodb::Client, id: &str, status: &str, key: &str) {
    ddb.put_item()
        .table_name("t")
        .item("pk", AttributeValue::S(format!("WEBHOOK#{id}")))
        .item("sk", AttributeValue::S("WEBHOOK".into()))
        .item("webhook_id", AttributeValue::S(id.into()))
        .item("status", AttributeValue::S(status.into()))
        .item("status_shard", AttributeValue::S(key.into()))
        .item(
            "received_at",
            AttributeValue::S("2026-11-23T12:00:00Z".into()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_count_queues_and_unprocessed_webhooks() {
    let moto = Moto::start();
    let sdk = moto.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name("t")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("status_shard"))
        .attribute_definitions(attr("received_at"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("status-shard-index")
                .key_schema(key("status_shard", KeyType::Hash))
                .key_schema(key("received_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Ids whose first byte puts them in shards 0, 10, 31 and 1: a count over one shard
    // would miss some.
    for (id, status, key) in [
        ("a0", "PROCESSED", "PROCESSED#00"),
        ("0a", "RECEIVED", "RECEIVED#10"),
        ("ff", "ENQUEUED", "ENQUEUED#31"),
        ("01", "FAILED", "FAILED#01"),
    ] {
        put_webhook(&ddb, id, status, key).await;
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name("q")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq = sqs
        .create_queue()
        .queue_name("dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let outputs = StackOutputs::from_json(&serde_json::json!({
        "ProcessingQueueUrl": queue, "DeadLetterQueueUrl": dlq, "WebhookTableName": "t",
    }))
    .unwrap();
    assert_eq!(
        leftovers(&sdk, &outputs).await.unwrap(),
        Leftovers {
            queued: 0,
            dlq: 1,
            unprocessed: 2
        }
    );

    assert_eq!(dlq_depth(&sdk, &outputs).await.unwrap(), 1);

    // The soak's after-check: each id's status by key, over more ids than one BatchGetItem
    // takes (100), an id the table does not have among them.
    for n in 0..150 {
        put_webhook(&ddb, &format!("p{n}"), "PROCESSED", "PROCESSED#00").await;
    }
    let mut ids: Vec<String> = ["a0", "0a", "lost", "01"].map(String::from).to_vec();
    ids.extend((0..150).map(|n| format!("p{n}")));
    let statuses = webhook_statuses(&sdk, "t", &ids).await.unwrap();
    assert_eq!(statuses.len(), 154);
    assert_eq!(
        statuses[..4],
        [
            Some("PROCESSED".to_owned()),
            Some("RECEIVED".to_owned()),
            None,
            Some("FAILED".to_owned())
        ]
    );
    assert!(
        statuses[4..]
            .iter()
            .all(|s| s.as_deref() == Some("PROCESSED"))
    );

    assert!(
        StackOutputs::from_json(&serde_json::json!({ "ProcessingQueueUrl": "x" }))
            .unwrap_err()
            .contains("DeadLetterQueueUrl")
    );
}
