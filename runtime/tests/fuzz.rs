//! Fuzzing on stable, inside `cargo test`: the receiver's whole request handling and each
//! signature scheme's parsing, over generated and mutated deliveries (seeded from the provider
//! fixtures). The properties and the cases' shape are shared with the libFuzzer targets
//! (`fuzz/`): `support/fuzz_receiver.rs`.
//!
//! `WH_FUZZ_CASES` sets the cases per target (default a few thousand, seconds in CI);
//! `scripts/fuzz` runs them for minutes, a new random seed each round.

#[path = "support/fuzz_receiver.rs"]
mod harness;

use std::path::Path;

use harness::{Delivery, MAX_PAYLOAD, ReceiverTarget, SchemeInput, Signing, providers};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases(default: u32) -> u32 {
    std::env::var("WH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seeds() -> Vec<Vec<u8>> {
    harness::seeds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
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
fn delivery() -> impl Strategy<Value = Delivery> {
    (
        proptest::option::weighted(0.9, 0..providers().len()),
        "[a-z]{0,8}",
        body(),
        signing(),
        prop_oneof![Just(0_i64), -400..400_i64],
    )
        .prop_map(|(provider, unknown, body, signing, skew)| Delivery {
            provider,
            unknown,
            body,
            signing,
            skew,
        })
}

#[test]
fn the_receiver_answers_every_delivery_as_documented() {
    let target = ReceiverTarget::new();
    let mut runner = TestRunner::new(Config {
        cases: cases(3000),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&delivery(), |d| {
            target.check(&d).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn each_schemes_parser_refuses_what_its_signer_did_not_make() {
    let mut runner = TestRunner::new(Config {
        cases: cases(3000),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..providers().len(),
        proptest::collection::vec((header_name(), header_value()), 0..6),
        body(),
        any::<i64>(),
    );
    runner
        .run(&strategy, |(scheme, headers, body, now)| {
            SchemeInput {
                scheme,
                headers,
                body,
                now,
            }
            .check()
            .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_seeds_are_accepted_when_signed_so_the_fuzzer_reaches_past_the_signature() {
    // If no seed got through, the receiver target would only ever test refusals.
    let target = ReceiverTarget::new();
    let accepted = seeds()
        .iter()
        .filter(|b| b.len() <= MAX_PAYLOAD && target.accepts_signed(b))
        .count();
    // The Stripe fixtures and the Stripe-shaped seed carry /id.
    assert!(accepted >= 10, "{accepted}");
}

#[test]
fn libfuzzers_byte_format_reads_a_bare_body_as_a_signed_stripe_delivery() {
    // The libFuzzer seeds are the fixtures' bodies as they are: each must read as a delivery
    // signed by Stripe now, or the long runs would start from refusals.
    let body = br#"{"id":"evt_1"}"#;
    let d = Delivery::from_bytes(body);
    assert_eq!(d.provider, Some(0));
    assert_eq!(d.body, body);
    assert!(matches!(d.signing, Signing::Signed { ref mutate } if mutate.is_empty()));
    assert_eq!(d.skew, 0);
    assert!(ReceiverTarget::new().check(&d).is_ok());
    // A trailer picks the provider (six, then an unknown name), the mode and the skew.
    let mut forged = body.to_vec();
    forged.extend([0xFF, 2, 2, 0, 30]);
    forged.extend(b"X-Hub-Signature-256: sha256=00\n");
    let d = Delivery::from_bytes(&forged);
    assert_eq!(d.provider, Some(2));
    assert_eq!(d.skew, 30);
    assert!(
        matches!(d.signing, Signing::Forged(ref h) if h == &[("X-Hub-Signature-256".to_owned(), "sha256=00".to_owned())])
    );
    let s = SchemeInput::from_bytes(b"\x02\x01\0\0\0\0\0\0\0X-Hub-Signature-256: sha256=00\0{}");
    assert_eq!((s.scheme, s.now, s.body.as_slice()), (2, 1, &b"{}"[..]));
    assert!(s.check().is_ok());
}

#[test]
fn the_scheme_property_fails_on_headers_the_signer_made() {
    // The property can fail: headers the scheme's signer made are valid, so a target fed them
    // must report it (the fuzzers can only reach this through a broken verifier).
    let (_, config, secret) = &providers()[0];
    let body = br#"{"id":"evt_1"}"#.to_vec();
    let now = harness::NOW.unix_timestamp();
    let headers = wh_runtime::verify::sign(&config.scheme, secret, &body, now, "").unwrap();
    let input = SchemeInput {
        scheme: 0,
        headers,
        body,
        now,
    };
    let e = input.check().unwrap_err();
    assert!(e.contains("accepted"), "{e}");
}
