//! Providers' real deliveries through receiver and processor: which payment each event's state
//! lands on, the order of those states, and which deliveries are one event. The deliveries are
//! the fixtures in `tests/fixtures/` (see its README), written from the providers' documentation.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;
use wh_runtime::backends::memory::{
    MemoryBus, MemoryNotifier, MemoryQueue, MemorySecrets, MemoryStore,
};
use wh_runtime::headers::Headers;
use wh_runtime::normalise::Family;
use wh_runtime::processor::{Message, Processor, ProcessorConfig};
use wh_runtime::receiver::{
    EventIdSource, Outcome, ProviderConfig, Receiver, ReceiverConfig, Request,
};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
const STRIPE_SECRET: &str = "whsec_dGVzdC1zZWNyZXQ=";
const SHOPIFY_SECRET: &str = "shpss_0123456789abcdef0123456789abcdef";

/// The payment every Stripe fixture but the legacy ones belongs to.
const PI: &str = "pi_3PwhRUN1xQ9bX0aG1J8kLm2N";
/// The legacy charge (no PaymentIntent).
const LEGACY_CHARGE: &str = "ch_1PwhLEGACYbX0aG1l2e3g4a";
/// The Shopify order.
const ORDER: &str = "820982911946154508";

fn stripe_scheme() -> Scheme {
    Scheme::Stripe {
        tolerance_secs: 300,
    }
}

/// The providers with their documented defaults (`Scheme::default_event_id` in the compiler).
fn config() -> ReceiverConfig {
    ReceiverConfig {
        providers: [
            (
                "stripe".to_owned(),
                ProviderConfig {
                    scheme: stripe_scheme(),
                    event_id: EventIdSource::JsonPointer("/id".into()),
                },
            ),
            (
                "shopify".to_owned(),
                ProviderConfig {
                    scheme: Scheme::Shopify,
                    event_id: EventIdSource::Headers(vec![
                        "X-Shopify-Topic".into(),
                        "X-Shopify-Event-Id".into(),
                    ]),
                },
            ),
        ]
        .into(),
        max_payload: 256 * 1024,
    }
}

/// A receiver and a processor sharing one table.
struct Stack {
    receiver: Receiver<Arc<MemoryStore>, MemoryQueue, MemorySecrets>,
    processor: Processor<Arc<MemoryStore>, MemoryBus, MemoryNotifier>,
    store: Arc<MemoryStore>,
}

fn stack() -> Stack {
    let store = Arc::new(MemoryStore::default());
    let secrets = MemorySecrets::default();
    secrets.set("stripe", SecretValue::new(STRIPE_SECRET));
    secrets.set("shopify", SecretValue::new(SHOPIFY_SECRET));
    Stack {
        receiver: Receiver::new(config(), store.clone(), MemoryQueue::default(), secrets),
        processor: Processor::new(
            ProcessorConfig {
                families: [
                    ("stripe".to_owned(), Family::Stripe),
                    ("shopify".to_owned(), Family::Shopify),
                ]
                .into(),
                critical_events: vec![],
                processed_ttl_secs: 86_400,
                max_receive_count: 5,
            },
            store.clone(),
            MemoryBus::default(),
            MemoryNotifier::default(),
        ),
        store,
    }
}

/// A fixture as a signed delivery to `provider`.
fn delivery(provider: &str, fixture: &str) -> Request {
    let path = format!(
        "{}/tests/fixtures/{provider}/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["source"].as_array().is_some_and(|s| !s.is_empty()),
        "{path} names its source"
    );
    let body = serde_json::to_vec(&doc["body"]).unwrap();
    let (scheme, secret) = match provider {
        "stripe" => (stripe_scheme(), STRIPE_SECRET),
        _ => (Scheme::Shopify, SHOPIFY_SECRET),
    };
    let mut headers: Vec<(String, String)> = doc["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    headers.extend(sign(&scheme, secret, &body, NOW.unix_timestamp(), "").unwrap());
    Request {
        provider: provider.into(),
        headers: headers.into_iter().collect::<Headers>(),
        body,
        trace_header: None,
    }
}

impl Stack {
    /// Delivers the fixtures in order and processes what they enqueued, in that order.
    async fn run(&self, deliveries: &[(&str, &str)]) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for (provider, fixture) in deliveries {
            let response = self.receiver.handle(delivery(provider, fixture), NOW).await;
            assert_eq!(response.status, 200, "{fixture}: {}", response.body);
            outcomes.push(response.outcome);
        }
        let messages: Vec<Message> = self
            .receiver
            .backends()
            .1
            .drain()
            .iter()
            .enumerate()
            .map(|(i, m)| Message {
                message_id: format!("m{i}"),
                body: serde_json::to_string(m).unwrap(),
                receive_count: 1,
            })
            .collect();
        assert_eq!(
            self.processor.handle_batch(&messages, NOW).await,
            Vec::<String>::new()
        );
        outcomes
    }

    fn state(&self, provider: &str, object: &str) -> Option<String> {
        self.store.state(provider, object).map(|s| s.state)
    }
}

#[tokio::test]
async fn stripe_charge_dispute_and_refund_events_reach_their_payment_intent() {
    let s = stack();
    s.run(&[
        ("stripe", "payment_intent.succeeded"),
        ("stripe", "charge.succeeded"),
        ("stripe", "refund.created"),
        ("stripe", "charge.refunded.partial"),
    ])
    .await;
    assert_eq!(s.state("stripe", PI).as_deref(), Some("partially_refunded"));
    // Nothing was keyed on the charge, the refund or the dispute.
    for own in [
        "ch_3PwhRUN1xQ9bX0aG1a2b3c4d",
        "re_3PwhRUN1xQ9bX0aG1r5e6f7g",
        "du_1PwhRUN1xQ9bX0aGd1s2p3u4",
    ] {
        assert_eq!(s.state("stripe", own), None, "{own}");
    }
    let objects: Vec<Option<String>> = s
        .processor
        .backends()
        .1
        .events()
        .into_iter()
        .map(|e| e.object_id)
        .collect();
    assert_eq!(
        objects,
        vec![Some(PI.to_owned()); 4],
        "every event names the payment"
    );

    s.run(&[("stripe", "charge.dispute.created")]).await;
    assert_eq!(s.state("stripe", PI).as_deref(), Some("disputed"));
    s.run(&[("stripe", "charge.dispute.closed")]).await;
    assert_eq!(s.state("stripe", PI).as_deref(), Some("dispute_lost"));
    // The full refund arrives late: a lost dispute stays.
    s.run(&[("stripe", "charge.refunded.full")]).await;
    assert_eq!(s.state("stripe", PI).as_deref(), Some("dispute_lost"));
}

#[tokio::test]
async fn a_full_refund_outranks_a_partial_one_in_either_order() {
    let s = stack();
    s.run(&[
        ("stripe", "charge.refunded.full"),
        ("stripe", "charge.refunded.partial"),
    ])
    .await;
    assert_eq!(s.state("stripe", PI).as_deref(), Some("refunded"));
    let t = stack();
    t.run(&[
        ("stripe", "charge.refunded.partial"),
        ("stripe", "charge.refunded.full"),
    ])
    .await;
    assert_eq!(t.state("stripe", PI).as_deref(), Some("refunded"));
}

#[tokio::test]
async fn a_legacy_charge_without_a_payment_intent_is_its_own_payment() {
    let s = stack();
    s.run(&[
        ("stripe", "charge.succeeded.legacy"),
        ("stripe", "charge.dispute.created.legacy"),
    ])
    .await;
    assert_eq!(
        s.state("stripe", LEGACY_CHARGE).as_deref(),
        Some("disputed")
    );
    assert_eq!(s.state("stripe", "du_1PwhLEGACYbX0aGd9s8p7u6"), None);
}

#[tokio::test]
async fn a_shopify_refund_refunds_its_order_and_a_cancellation_ends_it() {
    let s = stack();
    s.run(&[
        ("shopify", "orders-create"),
        ("shopify", "orders-paid"),
        ("shopify", "refunds-create"),
    ])
    .await;
    assert_eq!(s.state("shopify", ORDER).as_deref(), Some("refunded"));
    assert_eq!(
        s.state("shopify", "890088186047892319"),
        None,
        "not the refund's own id"
    );
    s.run(&[("shopify", "orders-cancelled")]).await;
    assert_eq!(s.state("shopify", ORDER).as_deref(), Some("cancelled"));

    // Paid, then cancelled: cancelled (equal ranks kept the first, paid).
    let t = stack();
    t.run(&[("shopify", "orders-paid"), ("shopify", "orders-cancelled")])
        .await;
    assert_eq!(t.state("shopify", ORDER).as_deref(), Some("cancelled"));
    // A late orders/paid never un-cancels.
    let u = stack();
    u.run(&[("shopify", "orders-cancelled"), ("shopify", "orders-paid")])
        .await;
    assert_eq!(u.state("shopify", ORDER).as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn two_shopify_topics_sharing_an_event_id_are_two_webhooks_and_a_retry_is_one() {
    let s = stack();
    let outcomes = s
        .run(&[
            ("shopify", "orders-create"),
            ("shopify", "orders-paid"),
            ("shopify", "orders-paid"),
        ])
        .await;
    assert_eq!(
        outcomes,
        [Outcome::Accepted, Outcome::Accepted, Outcome::Duplicate]
    );
    let mut ids: Vec<String> = s.store.webhooks().into_iter().map(|w| w.event_id).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "orders/create:5f0c1b2a-8d4e-4c3b-9a71-2e6d8f90ab01",
            "orders/paid:5f0c1b2a-8d4e-4c3b-9a71-2e6d8f90ab01"
        ]
    );
    assert_eq!(s.processor.backends().1.events().len(), 2);
    assert_eq!(s.state("shopify", ORDER).as_deref(), Some("paid"));
}

#[tokio::test]
async fn a_shopify_delivery_without_its_event_id_header_is_refused_not_stored() {
    let s = stack();
    let mut request = delivery("shopify", "orders-paid");
    request.headers = request
        .headers
        .iter()
        .filter(|(k, _)| *k != "x-shopify-event-id")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let response = s.receiver.handle(request, NOW).await;
    assert_eq!(
        (response.status, response.outcome),
        (400, Outcome::BadRequest)
    );
    assert!(s.store.webhooks().is_empty());
}
