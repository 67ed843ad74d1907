//! Receiver and processor end to end over the in-memory backends: every answer of the receiver,
//! idempotency, enqueue failures, out-of-order events, alerts and the last attempt.

use std::sync::atomic::{AtomicU32, Ordering};

use time::OffsetDateTime;
use time::macros::datetime;
use wh_runtime::backends::cache::{CacheTimes, CachedSecrets, SECRET_CACHE};
use wh_runtime::backends::memory::{
    MemoryBus, MemoryNotifier, MemoryQueue, MemorySecrets, MemoryStore,
};
use wh_runtime::backends::{BackendError, Queue, Secrets, Store};
use wh_runtime::headers::Headers;
use wh_runtime::model::{QueueMessage, Status};
use wh_runtime::normalise::Family;
use wh_runtime::processor::{Message, Processor, ProcessorConfig};
use wh_runtime::receiver::{
    EventIdSource, Outcome, ProviderConfig, Receiver, ReceiverConfig, Request,
};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

#[path = "support/stripe.rs"]
mod stripe;

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
const SECRET: &str = "whsec_dGVzdC1zZWNyZXQ=";

fn config() -> ReceiverConfig {
    stripe::stripe_only(1024)
}

fn secrets() -> MemorySecrets {
    let s = MemorySecrets::default();
    s.set("stripe", SecretValue::new(SECRET));
    s
}

fn event(id: &str, ty: &str, object: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"{ty}","data":{{"object":{{"id":"{object}","amount":1299,"currency":"eur"}}}}}}"#
    )
}

fn delivery(body: &str) -> Request {
    delivery_signed_with(body, SECRET)
}

fn delivery_signed_with(body: &str, secret: &str) -> Request {
    let headers: Headers = sign(
        &Scheme::Stripe {
            tolerance_secs: 300,
        },
        secret,
        body.as_bytes(),
        NOW.unix_timestamp(),
        "",
    )
    .unwrap()
    .into_iter()
    .collect();
    Request {
        provider: "stripe".into(),
        headers,
        body: body.as_bytes().to_vec(),
        trace_header: Some("Root=1-abc".into()),
    }
}

fn receiver() -> Receiver<MemoryStore, MemoryQueue, MemorySecrets> {
    Receiver::new(
        config(),
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets(),
    )
}

#[tokio::test]
async fn a_valid_delivery_is_stored_enqueued_and_answered_200() {
    let r = receiver();
    let response = r
        .handle(
            delivery(&event("evt_1", "payment_intent.succeeded", "pi_1")),
            NOW,
        )
        .await;
    assert_eq!(response.status, 200);
    let id = response.body["webhookId"].as_str().unwrap().to_owned();
    let (store, queue, _) = r.backends();
    let stored = store.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Enqueued);
    assert_eq!(stored.event_id, "evt_1");
    assert_eq!(stored.trace_header.as_deref(), Some("Root=1-abc"));
    assert!(
        !stored.headers.contains_key("stripe-signature"),
        "signatures are never stored"
    );
    assert_eq!(
        queue.drain(),
        [QueueMessage {
            webhook_id: id,
            timestamp: "2026-11-23T12:00:00Z".into(),
            provider: "stripe".into()
        }]
    );
}

#[tokio::test]
async fn each_refusal_has_its_status_and_json_body() {
    let r = receiver();
    let mut unknown = delivery("{}");
    unknown.provider = "paypal".into();
    let cases = [
        (unknown, 404, Outcome::UnknownProvider),
        (
            delivery(&format!(r#"{{"id":"big","pad":"{}"}}"#, "x".repeat(2000))),
            413,
            Outcome::TooLarge,
        ),
        (
            {
                let mut d = delivery(&event("evt_1", "t", "o"));
                d.body[5] ^= 1;
                d
            },
            401,
            Outcome::SignatureFailure,
        ),
        (delivery("not json"), 400, Outcome::BadRequest),
        (delivery(r#"{"type":"no id"}"#), 400, Outcome::BadRequest),
    ];
    for (request, status, outcome) in cases {
        let response = r.handle(request, NOW).await;
        assert_eq!(
            (response.status, response.outcome),
            (status, outcome),
            "{}",
            response.body
        );
        assert!(response.body["error"].is_string(), "{}", response.body);
    }
    let (store, queue, _) = r.backends();
    assert!(
        store.webhooks().is_empty() && queue.drain().is_empty(),
        "nothing refused is stored or enqueued"
    );
}

#[tokio::test]
async fn stale_and_future_deliveries_are_replays() {
    let r = receiver();
    for skew in [-301, 301] {
        let response = r
            .handle(
                delivery(&event("evt_1", "t", "o")),
                NOW + time::Duration::seconds(skew),
            )
            .await;
        assert_eq!(response.status, 401);
    }
}

#[tokio::test]
async fn an_unfilled_secret_answers_503_and_is_not_cached() {
    let store = MemorySecrets::default();
    store.set("stripe", SecretValue::default());
    let r = Receiver::new(
        config(),
        MemoryStore::default(),
        MemoryQueue::default(),
        CachedSecrets::new(store, SECRET_CACHE),
    );
    let body = event("evt_1", "t", "o");
    let response = r.handle(delivery(&body), NOW).await;
    assert_eq!(
        (response.status, response.body["retryable"].as_bool()),
        (503, Some(true))
    );
    r.backends()
        .2
        .inner()
        .set("stripe", SecretValue::new(SECRET));
    assert_eq!(
        r.handle(delivery(&body), NOW).await.status,
        200,
        "the filled secret is read at once"
    );
}

#[tokio::test]
async fn a_secret_replaced_under_the_cache_is_accepted_at_once_and_the_old_one_refused() {
    const NEW: &str = "whsec_bmV3LXNlY3JldC1hZnRlci1sZWFr";
    let store = MemorySecrets::default();
    store.set("stripe", SecretValue::new(SECRET));
    let r = Receiver::new(
        config(),
        MemoryStore::default(),
        MemoryQueue::default(),
        // The refresh interval (at most one read per 5 s) is the cache's unit tests' subject;
        // here the secret changes within it.
        CachedSecrets::new(
            store,
            CacheTimes {
                min_refresh: std::time::Duration::ZERO,
                ..SECRET_CACHE
            },
        ),
    );
    assert_eq!(
        r.handle(delivery(&event("evt_1", "t", "o")), NOW)
            .await
            .status,
        200
    );
    // `wh secrets put` after a leak: the provider now signs with NEW.
    r.backends().2.inner().set("stripe", SecretValue::new(NEW));
    let body = event("evt_2", "t", "o");
    let signed_new = delivery_signed_with(&body, NEW);
    assert_eq!(
        r.handle(signed_new, NOW).await.status,
        200,
        "the failed verification read the new secret"
    );
    // The cache now holds NEW: the leaked secret is refused, without waiting for the TTL.
    assert_eq!(
        r.handle(delivery(&event("evt_3", "t", "o")), NOW)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn svix_and_standard_webhooks_headers_both_give_the_signed_id() {
    // Svix sends svix-id, svix-timestamp and svix-signature by default
    // (docs.svix.com, "Verifying Webhooks Manually"); the standard's names are webhook-*.
    let scheme = Scheme::StandardWebhooks {
        tolerance_secs: 300,
    };
    let mut config = config();
    config.providers.insert(
        "svix".into(),
        ProviderConfig {
            scheme: scheme.clone(),
            event_id: EventIdSource::Header("webhook-id".into()),
        },
    );
    let secrets = secrets();
    secrets.set("svix", SecretValue::new(SECRET));
    let r = Receiver::new(
        config,
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets,
    );
    let body = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
    for (family, id) in [("webhook-", "msg_standard"), ("svix-", "msg_svix")] {
        let headers: Headers = sign(&scheme, SECRET, body.as_bytes(), NOW.unix_timestamp(), id)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.replace("webhook-", family), v))
            .collect();
        let response = r
            .handle(
                Request {
                    provider: "svix".into(),
                    headers,
                    body: body.as_bytes().to_vec(),
                    trace_header: None,
                },
                NOW,
            )
            .await;
        assert_eq!(response.status, 200, "{family}: {}", response.body);
        let stored = r
            .backends()
            .0
            .get(response.body["webhookId"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.event_id, id, "{family}");
    }
}

#[tokio::test]
async fn a_redelivery_answers_the_same_id_and_is_not_enqueued_again() {
    let r = receiver();
    let body = event("evt_1", "payment_intent.succeeded", "pi_1");
    let first = r.handle(delivery(&body), NOW).await;
    let second = r.handle(delivery(&body), NOW).await;
    assert_eq!(first.body["webhookId"], second.body["webhookId"]);
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert_eq!(r.backends().1.drain().len(), 1);
    assert_eq!(r.backends().0.webhooks().len(), 1);
}

#[tokio::test]
async fn a_failed_webhook_delivered_again_is_enqueued_again_with_its_attempts_reset() {
    let r = receiver();
    let body = event("evt_9", "payment_intent.succeeded", "pi_9");
    let first = r.handle(delivery(&body), NOW).await;
    let id = first.body["webhookId"].as_str().unwrap().to_owned();
    let (store, queue, _) = r.backends();
    assert_eq!(queue.drain().len(), 1);
    // Every attempt failed: the processor marked it FAILED and the queue moved it to the DLQ.
    store.record_failure(&id, 5, "boom", true).await.unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        Status::Failed
    );

    // The provider's "resend" after the fix: answered as a duplicate, and enqueued again.
    let again = r.handle(delivery(&body), NOW).await;
    assert_eq!((again.status, again.outcome), (200, Outcome::Duplicate));
    assert_eq!(queue.drain().len(), 1, "back on the queue");
    let stored = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempts, stored.last_error),
        (Status::Enqueued, 0, None)
    );
    // A processed webhook delivered again stays as it is.
    store.mark_processed(&id, 1, 0).await.unwrap();
    r.handle(delivery(&body), NOW).await;
    assert!(queue.drain().is_empty());
}

/// A queue that fails its first `n` sends.
#[derive(Default)]
struct FlakyQueue {
    failures_left: AtomicU32,
    inner: MemoryQueue,
}

impl Queue for FlakyQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        if self.failures_left.load(Ordering::SeqCst) > 0 {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
            return Err(BackendError::Unavailable("queue down".into()));
        }
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn an_enqueue_failure_answers_5xx_and_the_retry_enqueues() {
    let queue = FlakyQueue {
        failures_left: AtomicU32::new(1),
        inner: MemoryQueue::default(),
    };
    let r = Receiver::new(config(), MemoryStore::default(), queue, secrets());
    let body = event("evt_1", "payment_intent.succeeded", "pi_1");
    let failed = r.handle(delivery(&body), NOW).await;
    assert_eq!(
        failed.status, 503,
        "never 2xx before the webhook is enqueued"
    );
    let id = failed.webhook_id.unwrap();
    assert_eq!(
        r.backends().0.get(&id).await.unwrap().unwrap().status,
        Status::Received
    );
    let retried = r.handle(delivery(&body), NOW).await;
    assert_eq!(retried.status, 200);
    assert_eq!(
        r.backends().1.inner.drain().len(),
        1,
        "the provider's retry enqueued it"
    );
    assert_eq!(
        r.backends().0.get(&id).await.unwrap().unwrap().status,
        Status::Enqueued
    );
}

fn processor(store: MemoryStore) -> Processor<MemoryStore, MemoryBus, MemoryNotifier> {
    Processor::new(
        ProcessorConfig {
            families: [("stripe".to_owned(), Family::Stripe)].into(),
            critical_events: vec!["charge.dispute.created".into()],
            processed_ttl_secs: 86_400,
            max_receive_count: 3,
        },
        store,
        MemoryBus::default(),
        MemoryNotifier::default(),
    )
}

/// Receives `bodies`, then hands the stored webhooks and the enqueued messages (received
/// `receive_count` times) to a processor.
async fn handoff(
    bodies: &[String],
    receive_count: u32,
) -> (
    Processor<MemoryStore, MemoryBus, MemoryNotifier>,
    Vec<Message>,
) {
    let r = receiver();
    for body in bodies {
        assert_eq!(r.handle(delivery(body), NOW).await.status, 200);
    }
    let p = processor(MemoryStore::default());
    for w in r.backends().0.webhooks() {
        p.backends().0.insert_new(&w).await.unwrap();
    }
    let messages = r
        .backends()
        .1
        .drain()
        .iter()
        .enumerate()
        .map(|(i, m)| Message {
            message_id: format!("m{i}"),
            body: serde_json::to_string(m).unwrap(),
            receive_count,
        })
        .collect();
    (p, messages)
}

#[tokio::test]
async fn processing_publishes_tracks_state_and_alerts() {
    let bodies = [
        event("evt_2", "payment_intent.succeeded", "pi_1"),
        event("evt_1", "payment_intent.created", "pi_1"),
        event("evt_3", "charge.dispute.created", "ch_1"),
    ];
    let (p, messages) = handoff(&bodies, 1).await;
    assert!(p.handle_batch(&messages, NOW).await.is_empty());
    let (store, bus, notifier) = p.backends();
    let types: Vec<String> = bus.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            "payment_intent.succeeded",
            "payment_intent.created",
            "charge.dispute.created"
        ]
    );
    assert_eq!(
        store.state("stripe", "pi_1").unwrap().state,
        "succeeded",
        "the late created event did not regress it"
    );
    assert_eq!(notifier.alerts().len(), 1);
    assert!(notifier.alerts()[0].0.contains("charge.dispute.created"));
    assert!(
        store
            .webhooks()
            .iter()
            .all(|w| w.status == Status::Processed)
    );
    // Redelivered queue messages are skipped: each event is published once.
    assert!(p.handle_batch(&messages, NOW).await.is_empty());
    assert_eq!(bus.events().len(), 3);
}

#[tokio::test]
async fn failures_are_per_message_and_the_last_attempt_marks_failed() {
    let bodies = [
        event("evt_1", "payment_intent.succeeded", "pi_1"),
        r#"{"id":"evt_2","data":{}}"#.to_owned(),
    ];
    let (p, first) = handoff(&bodies, 1).await;
    assert_eq!(
        p.handle_batch(&first, NOW).await,
        ["m1"],
        "only the bad message fails"
    );
    let bad: wh_runtime::model::QueueMessage = serde_json::from_str(&first[1].body).unwrap();
    let after_first = p.backends().0.get(&bad.webhook_id).await.unwrap().unwrap();
    assert_eq!(
        (after_first.status, after_first.attempts),
        (Status::Enqueued, 1)
    );
    assert!(after_first.last_error.unwrap().contains("no event type"));
    let third: Vec<Message> = first
        .iter()
        .map(|m| Message {
            receive_count: 3,
            ..m.clone()
        })
        .collect();
    assert_eq!(p.handle_batch(&third, NOW).await, ["m1"]);
    assert_eq!(
        p.backends()
            .0
            .get(&bad.webhook_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Failed,
        "the third receive is the last"
    );
    assert_eq!(
        p.backends().1.events().len(),
        1,
        "the good message was published once"
    );
}

#[tokio::test]
async fn a_secret_backend_error_is_retryable() {
    struct Down;
    impl Secrets for Down {
        async fn get(&self, _: &str) -> Result<SecretValue, BackendError> {
            Err(BackendError::Unavailable("secrets manager down".into()))
        }
    }
    let r = Receiver::new(
        config(),
        MemoryStore::default(),
        MemoryQueue::default(),
        Down,
    );
    let response = r.handle(delivery(&event("evt_1", "t", "o")), NOW).await;
    assert_eq!(
        (response.status, response.outcome),
        (503, Outcome::SecretUnavailable)
    );
}

#[tokio::test]
async fn an_event_fetched_from_the_api_is_stored_once_and_says_where_it_came_from() {
    let r = receiver();
    let body = event("evt_api", "payment_intent.succeeded", "pi_9");
    let request = || Request {
        provider: "stripe".into(),
        body: body.as_bytes().to_vec(),
        ..Request::default()
    };
    let first = r.ingest(request(), "stripe GET /v1/events", NOW).await;
    assert_eq!((first.status, first.outcome), (200, Outcome::Accepted));
    let id = first.webhook_id.unwrap();
    let stored = r.backends().0.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.fetched_from.as_deref()),
        (Status::Enqueued, Some("stripe GET /v1/events"))
    );
    assert_eq!(r.backends().1.drain().len(), 1);
    // Fetched again, or delivered signed after all: the same webhook, not enqueued again.
    assert_eq!(
        r.ingest(request(), "stripe GET /v1/events", NOW)
            .await
            .outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        r.handle(delivery(&body), NOW).await.outcome,
        Outcome::Duplicate
    );
    assert!(r.backends().1.drain().is_empty());
    // The unsigned path is no way around a refusal: an unknown provider is still refused.
    let other = Request {
        provider: "paypal".into(),
        ..request()
    };
    assert_eq!(r.ingest(other, "x", NOW).await.status, 404);
}
