//! Receiver CPU per request: signature verification and event handling (store, enqueue) for a
//! signed 2 KB Stripe-style body, on the in-memory backends. Target: under 20 µs.

use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;
use wh_runtime::backends::memory::{MemoryQueue, MemorySecrets, MemoryStore};
use wh_runtime::headers::Headers;
use wh_runtime::receiver::{EventIdSource, ProviderConfig, Receiver, ReceiverConfig, Request};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

const SECRET: &str = "whsec_YmVuY2htYXJrLXNlY3JldA==";

fn body(i: u64) -> String {
    let pad = "x".repeat(1_900);
    format!(
        r#"{{"id":"evt_{i}","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_{i}","amount":1299,"currency":"eur","description":"{pad}"}}}}}}"#
    )
}

fn receiver() -> Receiver<MemoryStore, MemoryQueue, MemorySecrets> {
    let secrets = MemorySecrets::default();
    secrets.set("stripe", SecretValue::new(SECRET));
    let config = ReceiverConfig {
        providers: [(
            "stripe".to_owned(),
            ProviderConfig {
                scheme: Scheme::Stripe {
                    tolerance_secs: 300,
                },
                event_id: EventIdSource::JsonPointer("/id".into()),
            },
        )]
        .into(),
        max_payload: 262_144,
    };
    Receiver::new(
        config,
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets,
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let r = receiver();
    let mut i = 0_u64;
    c.bench_function(
        "receiver: verify + store + enqueue, 2 KB stripe body",
        |b| {
            b.iter_batched(
                || {
                    i += 1;
                    let body = body(i);
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
                        body: body.into_bytes(),
                        trace_header: None,
                    }
                },
                |request| {
                    let response = rt.block_on(r.handle(request, now));
                    assert_eq!(response.status, 200);
                    // Keep the in-memory queue from growing without bound.
                    r.backends().1.drain();
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
