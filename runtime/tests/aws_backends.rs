//! The AWS backends against moto server (pinned, installed by tools/install.sh), started on
//! 127.0.0.1 by the test and stopped after it: real HTTP, the real SDK, conditional writes,
//! send/receive, publish, put-events and secret reads.
#![cfg(feature = "aws")]

mod support;

use aws_config::SdkConfig;
use time::OffsetDateTime;
use wh_runtime::audit::audit_record;
use wh_runtime::backends::aws::{
    DynamoAudit, DynamoStore, EventBridgeBus, SecretsManagerSecrets, SnsNotifier, SqsQueue,
    webhook_key,
};
use wh_runtime::backends::cache::CachedSecrets;
use wh_runtime::backends::{AuditSink, Store};
use wh_runtime::headers::Headers;
use wh_runtime::model::AuditRecord;
use wh_runtime::model::{PaymentState, QueueMessage, Status};
use wh_runtime::normalise::Family;
use wh_runtime::processor::{Message, Processor, ProcessorConfig};
use wh_runtime::receiver::{Outcome, Receiver, Request};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

use support::moto::{Moto, create_table};

const SECRET: &str = "whsec_bW90by1zZWNyZXQ=";
const TABLE: &str = "payments-webhooks-test";

struct Stack {
    queue_url: String,
    bus: String,
    topic: String,
    secret_arn: String,
}

async fn stack(sdk: &SdkConfig) -> Stack {
    create_table(sdk, TABLE).await;
    create_table(sdk, "payments-audit-test").await;
    let queue_url = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name("payments-processing-test")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let bus = aws_sdk_eventbridge::Client::new(sdk)
        .create_event_bus()
        .name("payments-events-test")
        .send()
        .await
        .unwrap();
    assert!(bus.event_bus_arn.is_some());
    let topic = aws_sdk_sns::Client::new(sdk)
        .create_topic()
        .name("payments-alerts-test")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let secret_arn = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name("payments-stripe-test")
        .secret_string(r#"{"current":null,"previous":null,"previous_expires_at":null}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    Stack {
        queue_url,
        bus: "payments-events-test".into(),
        topic,
        secret_arn,
    }
}

fn delivery(body: &str, now: OffsetDateTime) -> Request {
    let headers: Headers = sign(
        &Scheme::Stripe {
            tolerance_secs: 300,
        },
        SECRET,
        body.as_bytes(),
        now.unix_timestamp(),
        "",
    )
    .unwrap()
    .into_iter()
    .collect();
    Request {
        provider: "stripe".into(),
        headers,
        body: body.as_bytes().to_vec(),
        trace_header: Some("Root=1-abc-def".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_path_runs_on_the_aws_backends() {
    let moto = Moto::start();
    let sdk = moto.config().await;
    let s = stack(&sdk).await;
    let now = OffsetDateTime::now_utc();

    let config = support::stripe::stripe_only(65_536);
    let secrets = CachedSecrets::new(
        SecretsManagerSecrets::new(&sdk, [("stripe".to_owned(), s.secret_arn.clone())].into()),
        wh_runtime::backends::cache::SECRET_CACHE,
    );
    let receiver = Receiver::new(
        config,
        DynamoStore::new(&sdk, TABLE),
        SqsQueue::new(&sdk, &s.queue_url),
        secrets,
    );
    let body = r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":500,"currency":"usd"}}}"#;

    // The template's placeholder secret: a retryable 503, not cached.
    let unfilled = receiver.handle(delivery(body, now), now).await;
    assert_eq!(
        (unfilled.status, unfilled.outcome),
        (503, Outcome::SecretUnavailable)
    );
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&s.secret_arn)
        .secret_string(SecretValue::new(SECRET).to_json())
        .send()
        .await
        .unwrap();

    let accepted = receiver.handle(delivery(body, now), now).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let id = accepted.webhook_id.clone().unwrap();
    let duplicate = receiver.handle(delivery(body, now), now).await;
    assert_eq!(
        (
            duplicate.status,
            duplicate.outcome,
            duplicate.webhook_id.as_deref()
        ),
        (200, Outcome::Duplicate, Some(id.as_str()))
    );

    let store = DynamoStore::new(&sdk, TABLE);
    let stored = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.status,
            stored.event_id.as_str(),
            stored.trace_header.as_deref()
        ),
        (Status::Enqueued, "evt_1", Some("Root=1-abc-def"))
    );

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let received = sqs
        .receive_message()
        .queue_url(&s.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "the duplicate was not enqueued again");
    let q: QueueMessage = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(q.webhook_id, id);

    let processor = Processor::new(
        ProcessorConfig {
            families: [("stripe".to_owned(), Family::Stripe)].into(),
            critical_events: vec!["payment_intent.succeeded".into()],
            processed_ttl_secs: 3_600,
            max_receive_count: 3,
        },
        DynamoStore::new(&sdk, TABLE),
        EventBridgeBus::new(&sdk, &s.bus),
        SnsNotifier::new(&sdk, &s.topic),
    );
    let message = Message {
        message_id: messages[0].message_id().unwrap().to_owned(),
        body: messages[0].body().unwrap().to_owned(),
        receive_count: 1,
    };
    assert!(
        processor
            .handle_batch(std::slice::from_ref(&message), now)
            .await
            .is_empty()
    );
    let processed = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (processed.status, processed.attempts),
        (Status::Processed, 1)
    );
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(TABLE)
        .set_key(Some(webhook_key(&id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        item.contains_key("expires_at"),
        "processed webhooks get their TTL"
    );
    assert!(
        processor.handle_batch(&[message], now).await.is_empty(),
        "a redelivered message is skipped"
    );
}

/// A webhook just received.
fn record(id: &str) -> wh_runtime::model::WebhookRecord {
    wh_runtime::model::WebhookRecord {
        webhook_id: id.into(),
        provider: "stripe".into(),
        event_id: "evt_1".into(),
        received_at: "2026-11-23T12:00:00Z".into(),
        status: Status::Received,
        attempts: 0,
        last_error: None,
        body: "{}".into(),
        headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
        trace_header: None,
        enqueued_at: None,
        fetched_from: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_hold_across_instances() {
    let moto = Moto::start();
    let sdk = moto.config().await;
    create_table(&sdk, TABLE).await;
    let (a, b) = (DynamoStore::new(&sdk, TABLE), DynamoStore::new(&sdk, TABLE));
    let record = record("w1");
    let (first, second) = tokio::join!(a.insert_new(&record), b.insert_new(&record));
    let outcomes = [first.unwrap().is_none(), second.unwrap().is_none()];
    assert_eq!(
        outcomes.iter().filter(|inserted| **inserted).count(),
        1,
        "exactly one instance stores it: {outcomes:?}"
    );

    a.mark_enqueued("w1", "2026-11-23T12:00:01Z").await.unwrap();
    assert_eq!(
        a.get("w1").await.unwrap().unwrap().enqueued_at.as_deref(),
        Some("2026-11-23T12:00:01Z")
    );
    a.record_failure("w1", 1, "bus down", false).await.unwrap();
    let failing = a.get("w1").await.unwrap().unwrap();
    assert_eq!(
        (failing.status, failing.last_error.as_deref()),
        (Status::Enqueued, Some("bus down"))
    );
    a.record_failure("w1", 3, "bus down", true).await.unwrap();
    assert_eq!(a.get("w1").await.unwrap().unwrap().status, Status::Failed);
    a.mark_enqueued("w1", "2026-11-23T13:00:00Z").await.unwrap();
    assert_eq!(
        a.get("w1").await.unwrap().unwrap().status,
        Status::Failed,
        "a FAILED webhook is enqueued only after it is reopened"
    );
    assert!(a.mark_processed("w1", 4, 1).await.unwrap());
    assert!(
        !b.mark_processed("w1", 4, 1).await.unwrap(),
        "processed once"
    );
    a.record_failure("w1", 5, "late", true).await.unwrap();
    assert_eq!(
        a.get("w1").await.unwrap().unwrap().status,
        Status::Processed,
        "a processed webhook never goes back"
    );

    let state = |state: &str, rank| PaymentState {
        provider: "stripe".into(),
        object_id: "pi_1".into(),
        state: state.into(),
        rank,
        event_id: "e".into(),
    };
    assert!(a.advance_state(&state("created", 10)).await.unwrap());
    assert!(a.advance_state(&state("succeeded", 50)).await.unwrap());
    assert!(
        !a.advance_state(&state("created", 10)).await.unwrap(),
        "a late event does not regress the state"
    );
    assert!(!a.advance_state(&state("canceled", 50)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_persisted_with_plain_values() {
    use serde_dynamo::AttributeValue as A;
    let moto = Moto::start();
    let sdk = moto.config().await;
    create_table(&sdk, "payments-audit-test").await;
    let change = wh_runtime::audit::StreamChange {
        event_id: "e1".into(),
        sequence_number: "1".into(),
        event_name: "INSERT".into(),
        changed_at: 1_800_000_000,
        keys: std::collections::HashMap::from([("pk".to_owned(), A::S("WEBHOOK#w1".into()))]),
        old: None,
        new: Some(std::collections::HashMap::from([
            ("pk".to_owned(), A::S("WEBHOOK#w1".into())),
            ("raw".to_owned(), A::B(vec![1, 2, 3])),
        ])),
    };
    let record: AuditRecord = audit_record(change, 86_400).unwrap();
    DynamoAudit::new(&sdk, "payments-audit-test")
        .write(record.clone())
        .await
        .unwrap();
    let items = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name("payments-audit-test")
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(items.len(), 1);
    let stored: serde_json::Value = serde_dynamo::from_item(items[0].clone()).unwrap();
    assert_eq!(stored["pk"], "AUDIT#WEBHOOK#w1");
    assert_eq!(
        stored["new"]["raw"], "AQID",
        "binary is plain base64, not DynamoDB's typed JSON"
    );
    assert_eq!(stored["expires_at"], 1_800_086_400);
}

/// Every status change rewrites the index key `status_shard` (`<STATUS>#<shard>`, the shard
/// from the id's first byte: 0x3f = 63, 63 % 32 = 31), so the sharded index follows the
/// webhook from `RECEIVED` to where it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_change_moves_the_webhook_in_the_sharded_index() {
    let moto = Moto::start();
    let sdk = moto.config().await;
    create_table(&sdk, TABLE).await;
    let store = DynamoStore::new(&sdk, TABLE);
    let key = || async {
        let item = aws_sdk_dynamodb::Client::new(&sdk)
            .get_item()
            .table_name(TABLE)
            .set_key(Some(webhook_key("3f00")))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item["status_shard"].as_s().unwrap().clone()
    };
    store.insert_new(&record("3f00")).await.unwrap();
    assert_eq!(key().await, "RECEIVED#31");
    store
        .mark_enqueued("3f00", "2026-11-23T12:00:01Z")
        .await
        .unwrap();
    assert_eq!(key().await, "ENQUEUED#31");
    store
        .record_failure("3f00", 1, "bus down", false)
        .await
        .unwrap();
    assert_eq!(key().await, "ENQUEUED#31", "a retry stays where it is");
    store
        .record_failure("3f00", 3, "bus down", true)
        .await
        .unwrap();
    assert_eq!(key().await, "FAILED#31");
    // A redelivery reopens it: back in RECEIVED, attempts reset, the last error gone; only once.
    assert!(store.reopen_failed("3f00").await.unwrap());
    assert_eq!(key().await, "RECEIVED#31");
    let reopened = store.get("3f00").await.unwrap().unwrap();
    assert_eq!((reopened.attempts, reopened.last_error), (0, None));
    assert!(
        !store.reopen_failed("3f00").await.unwrap(),
        "only a FAILED webhook reopens"
    );
    assert!(store.mark_processed("3f00", 4, 1).await.unwrap());
    assert_eq!(key().await, "PROCESSED#31");
}
