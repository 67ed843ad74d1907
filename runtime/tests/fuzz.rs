//! Fuzzing on stable, inside `cargo test`: the receiver's whole request handling and each
//! signature scheme's parsing, over generated and mutated deliveries (seeded from the provider
//! fixtures). Properties: nothing panics; every answer is one of the documented ones with its
//! outcome; a 200 means the webhook is stored with the body as sent; a delivery whose headers
//! were not made by the scheme's signer is never accepted.
//!
//! `WH_FUZZ_CASES` sets the cases per target (default a few thousand, seconds in CI);
//! `scripts/fuzz` runs them for minutes in a release build, a new random seed each round.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use time::OffsetDateTime;
use time::macros::datetime;
use wh_runtime::backends::Store;
use wh_runtime::backends::memory::{MemoryQueue, MemorySecrets, MemoryStore};
use wh_runtime::headers::Headers;
use wh_runtime::receiver::{
    EventIdSource, Outcome, ProviderConfig, Receiver, ReceiverConfig, Request,
};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{self, Encoding, Scheme, sign};

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
const MAX_PAYLOAD: usize = 2048;

fn cases(default: u32) -> u32 {
    std::env::var("WH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every scheme, as `specs/dev.yaml` configures its provider, with its secret.
fn providers() -> Vec<(&'static str, ProviderConfig, &'static str)> {
    let header = |h: &str| EventIdSource::Header(h.into());
    vec![
        (
            "stripe",
            ProviderConfig {
                scheme: Scheme::Stripe {
                    tolerance_secs: 300,
                },
                event_id: EventIdSource::JsonPointer("/id".into()),
            },
            "whsec_c3RyaXBlLWZ1eno=",
        ),
        (
            "svix",
            ProviderConfig {
                scheme: Scheme::StandardWebhooks {
                    tolerance_secs: 300,
                },
                event_id: header("webhook-id"),
            },
            "whsec_c3ZpeC1mdXp6LXNlY3JldA==",
        ),
        (
            "github",
            ProviderConfig {
                scheme: Scheme::Github,
                event_id: header("X-GitHub-Delivery"),
            },
            "github-fuzz",
        ),
        (
            "shopify",
            ProviderConfig {
                scheme: Scheme::Shopify,
                event_id: EventIdSource::Headers(vec![
                    "X-Shopify-Topic".into(),
                    "X-Shopify-Event-Id".into(),
                ]),
            },
            "shopify-fuzz",
        ),
        (
            "square",
            ProviderConfig {
                scheme: Scheme::Square {
                    notification_url: "https://hooks.example.com/webhook/square".into(),
                },
                event_id: EventIdSource::JsonPointer("/event_id".into()),
            },
            "square-fuzz",
        ),
        (
            "acme",
            ProviderConfig {
                scheme: Scheme::Hmac {
                    header: "X-Acme-Signature".into(),
                    encoding: Encoding::Base64,
                    prefix: "sha256=".into(),
                },
                event_id: EventIdSource::JsonPointer("/delivery/id".into()),
            },
            "acme-fuzz",
        ),
    ]
}

/// Bodies the fuzzer starts from: the provider fixtures, and small documents of each shape.
fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut out = Vec::new();
    for sub in ["stripe", "shopify"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("{dir}/{sub}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            out.push(serde_json::to_vec(&doc["body"]).unwrap());
        }
    }
    for s in [
        r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#,
        r#"{"type":"invoice.paid","data":{"id":"inv_1"}}"#,
        r#"{"event_id":"e1","type":"payment.updated","data":{"id":"sq_1","object":{"payment":{"status":"COMPLETED"}}}}"#,
        r#"{"delivery":{"id":"d1"},"type":"payment.succeeded"}"#,
        r#"{"delivery":{"id":7}}"#,
        "[]",
        "null",
        "{}",
        "",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    out
}

/// A body: a seed, a seed with bytes flipped or cut, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    let n = seeds.len();
    prop_oneof![
        3 => (0..n).prop_map({
            let seeds = seeds.clone();
            move |i| seeds[i].clone()
        }),
        3 => (0..n, proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)).prop_map(
            move |(i, flips)| {
                let mut b = seeds[i].clone();
                for (at, byte) in flips {
                    if !b.is_empty() {
                        let at = at % b.len();
                        b[at] = byte;
                    }
                }
                b
            }
        ),
        1 => proptest::collection::vec(any::<u8>(), 0..MAX_PAYLOAD + 64),
    ]
}

/// Header values near the schemes' formats, and anything at all.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "t=[0-9]{0,12},v1=[0-9a-f]{0,70}(,v0=[0-9a-f]{0,8})?",
        "(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}",
        "sha256=[0-9a-fA-F]{0,70}",
        "[A-Za-z0-9+/=]{0,60}",
        "[0-9]{0,20}",
        "msg_[a-z0-9]{0,10}",
        any::<String>(),
    ]
}

/// The header names the schemes read, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Stripe-Signature".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        Just("svix-id".to_owned()),
        Just("svix-timestamp".to_owned()),
        Just("svix-signature".to_owned()),
        Just("X-Hub-Signature-256".to_owned()),
        Just("X-GitHub-Delivery".to_owned()),
        Just("X-Shopify-Hmac-Sha256".to_owned()),
        Just("X-Shopify-Topic".to_owned()),
        Just("X-Shopify-Event-Id".to_owned()),
        Just("x-square-hmacsha256-signature".to_owned()),
        Just("X-Acme-Signature".to_owned()),
        "[A-Za-z-]{1,20}",
    ]
}

/// How a delivery's headers are made.
#[derive(Clone, Debug)]
enum Signing {
    /// By the scheme's signer, then the event-id headers set; `mutate`: then some of them
    /// replaced or dropped (no longer signer-made).
    Signed {
        mutate: Vec<(usize, Option<String>)>,
    },
    /// Not by the signer at all.
    Forged(Vec<(String, String)>),
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        2 => Just(Signing::Signed { mutate: vec![] }),
        1 => proptest::collection::vec(
            (any::<usize>(), proptest::option::of(header_value())),
            1..3
        )
        .prop_map(|mutate| Signing::Signed { mutate }),
        2 => proptest::collection::vec((header_name(), header_value()), 0..8)
            .prop_map(Signing::Forged),
    ]
}

/// One generated delivery: a provider (or an unknown name), a body, its headers.
fn delivery() -> impl Strategy<Value = (Option<usize>, String, Vec<u8>, Signing, i64)> {
    (
        proptest::option::weighted(0.9, 0..providers().len()),
        "[a-z]{0,8}",
        body(),
        signing(),
        prop_oneof![Just(0_i64), -400..400_i64],
    )
}

#[test]
fn the_receiver_answers_every_delivery_as_documented() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let all = providers();
    let secrets = MemorySecrets::default();
    for (name, _, secret) in &all {
        secrets.set(name, SecretValue::new(*secret));
    }
    let receiver = Receiver::new(
        ReceiverConfig {
            providers: all
                .iter()
                .map(|(n, c, _)| ((*n).to_owned(), c.clone()))
                .collect(),
            max_payload: MAX_PAYLOAD,
        },
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets,
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(3000),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&delivery(), |(which, unknown, body, signing, skew)| {
            let (provider, signed_by) = match which {
                Some(i) => (all[i].0.to_owned(), Some(&all[i])),
                None => (format!("zz{unknown}"), None),
            };
            let ts = NOW.unix_timestamp() + skew;
            let mut headers: Vec<(String, String)> = Vec::new();
            let mut signer_made = false;
            match (&signing, signed_by) {
                (Signing::Signed { mutate }, Some((_, config, secret))) => {
                    let signed = sign(&config.scheme, secret, &body, ts, "msg_fuzz").unwrap();
                    headers = signed.clone();
                    headers.extend([
                        ("X-GitHub-Delivery".to_owned(), "gh-1".to_owned()),
                        ("X-Shopify-Topic".to_owned(), "orders/paid".to_owned()),
                        ("X-Shopify-Event-Id".to_owned(), "sh-1".to_owned()),
                    ]);
                    for (at, value) in mutate {
                        let at = at % headers.len();
                        match value {
                            Some(v) => headers[at].1 = v.clone(),
                            None => {
                                headers.remove(at);
                            }
                        }
                    }
                    // Still the signer's if every header it made is there unchanged.
                    signer_made = signed.iter().all(|h| headers.contains(h));
                }
                (Signing::Forged(h), _) => headers = h.clone(),
                (Signing::Signed { .. }, None) => {}
            }
            let request = Request {
                provider: provider.clone(),
                headers: headers.iter().cloned().collect::<Headers>(),
                body: body.clone(),
                trace_header: None,
            };
            let response = rt.block_on(receiver.handle(request, NOW));
            let expected_outcomes: &[Outcome] = match response.status {
                200 => &[Outcome::Accepted, Outcome::Duplicate],
                400 => &[Outcome::BadRequest],
                401 => &[Outcome::SignatureFailure],
                404 => &[Outcome::UnknownProvider],
                413 => &[Outcome::TooLarge],
                503 => &[Outcome::SecretUnavailable, Outcome::BackendFailure],
                other => {
                    return Err(TestCaseError::fail(format!("undocumented status {other}")));
                }
            };
            prop_assert!(
                expected_outcomes.contains(&response.outcome),
                "{} with {:?}",
                response.status,
                response.outcome
            );
            prop_assert!(
                response.body.is_object(),
                "a JSON object: {}",
                response.body
            );
            if signed_by.is_none() {
                prop_assert_eq!(response.status, 404);
            } else if body.len() > MAX_PAYLOAD {
                prop_assert_eq!(response.status, 413);
            }
            if response.status == 200 {
                prop_assert!(
                    signer_made,
                    "accepted headers the signer did not make: {headers:?}"
                );
                let id = response.webhook_id.clone().unwrap();
                let stored = rt.block_on(receiver.backends().0.get(&id)).unwrap();
                let stored = stored.expect("a 200 is stored");
                // A duplicate keeps the first delivery's body (ids repeat across cases).
                if response.outcome == Outcome::Accepted {
                    prop_assert_eq!(stored.body.as_bytes(), &body[..]);
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn each_schemes_parser_refuses_what_its_signer_did_not_make() {
    let schemes: Vec<(Scheme, String)> = providers()
        .into_iter()
        .map(|(_, c, s)| (c.scheme, s.to_owned()))
        .collect();
    let mut runner = TestRunner::new(Config {
        cases: cases(3000),
        failure_persistence: None,
        ..Config::default()
    });
    let n = schemes.len();
    let strategy = (
        0..n,
        proptest::collection::vec((header_name(), header_value()), 0..6),
        body(),
        any::<i64>(),
    );
    runner
        .run(&strategy, |(i, headers, body, now)| {
            let (scheme, secret) = &schemes[i];
            let headers: Headers = headers.into_iter().collect();
            let keys = vec![secret.clone()];
            let result = verify::verify(scheme, &headers, &body, &keys, now);
            prop_assert!(result.is_err(), "{scheme:?} accepted {headers:?}");
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_seeds_are_accepted_when_signed_so_the_fuzzer_reaches_past_the_signature() {
    // If no seed got through, the receiver target would only ever test refusals.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (name, config, secret) = providers().remove(0);
    let secrets = MemorySecrets::default();
    secrets.set(name, SecretValue::new(secret));
    let receiver = Receiver::new(
        ReceiverConfig {
            providers: BTreeMap::from([(name.to_owned(), config.clone())]),
            max_payload: MAX_PAYLOAD * 4,
        },
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets,
    );
    let accepted = seeds()
        .into_iter()
        .filter(|b| {
            let headers = sign(&config.scheme, secret, b, NOW.unix_timestamp(), "").unwrap();
            let r = rt.block_on(receiver.handle(
                Request {
                    provider: name.into(),
                    headers: headers.into_iter().collect(),
                    body: b.clone(),
                    trace_header: None,
                },
                NOW,
            ));
            r.status == 200
        })
        .count();
    // The Stripe fixtures and the Stripe-shaped seed carry /id.
    assert!(accepted >= 10, "{accepted}");
}
