//! Fuzzing the Lambda glue and the audit logger's decoding on stable, inside `cargo test`: the
//! API Gateway, SQS and DynamoDB stream events AWS documents, with values replaced at random
//! places (by other JSON of any kind, or by DynamoDB attribute values of the wrong type).
//! Properties: decoding an event either fails or gives values the handlers use without a
//! panic; an audit record is either made or refused with an error, never a panic.
//!
//! `WH_FUZZ_CASES` sets the cases (default 1,000 per event kind).
#![cfg(feature = "aws")]

#[path = "support/fuzz_events.rs"]
mod harness;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::SqsEvent;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use wh_runtime::lambda::stream_changes;

fn cases(default: u32) -> u32 {
    std::env::var("WH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seed event from `tests/fixtures/events/` (the libFuzzer target starts from the same files).
fn seed(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn api_event() -> Value {
    seed("api-gateway")
}

fn sqs_event() -> Value {
    seed("sqs")
}

fn stream_event() -> Value {
    seed("dynamodb-stream")
}

/// A JSON value to put in place of another: any kind, and DynamoDB attribute values with
/// wrong or odd contents.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
        "[0-9eE.+-]{0,30}".prop_map(|n| json!({ "N": n })),
        any::<String>().prop_map(|s| json!({ "B": s })),
        "[A-Za-z0-9+/=]{0,20}".prop_map(|s| json!({ "B": s })),
        Just(json!({ "SS": [1, 2] })),
        Just(json!({ "NS": ["x", "1e400"] })),
        Just(json!({ "M": { "a": { "Q": 1 } } })),
        Just(json!({ "L": [{}] })),
        Just(json!({ "S": "a", "N": "1" })),
        Just(json!([])),
        Just(json!({})),
        Just(json!([[[[[[[[]]]]]]]])),
    ]
}

/// Every path (as JSON-pointer segments) to a value in `v`.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// `seed` with the values at some of its paths replaced.
fn mutated(seed: Value) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    paths(&seed, &mut Vec::new(), &mut all);
    let n = all.len();
    proptest::collection::vec((0..n, replacement()), 1..4).prop_map(move |edits| {
        let mut v = seed.clone();
        for (i, with) in edits {
            let pointer: String = all[i].iter().map(|s| format!("/{s}")).collect();
            if pointer.is_empty() {
                v = with;
            } else if let Some(slot) = v.pointer_mut(&pointer) {
                *slot = with;
            }
        }
        v
    })
}

fn run(seed: Value, check: impl Fn(Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(1000),
        failure_persistence: None,
        ..Config::default()
    });
    runner.run(&mutated(seed), check).unwrap();
}

#[test]
fn api_gateway_events_decode_or_are_refused() {
    run(api_event(), |v| {
        harness::check_api(&v).map_err(TestCaseError::fail)
    });
}

#[test]
fn sqs_events_decode_or_are_refused() {
    run(sqs_event(), |v| {
        harness::check_sqs(&v).map_err(TestCaseError::fail)
    });
}

#[test]
fn stream_events_become_audit_records_or_errors() {
    run(stream_event(), |v| {
        harness::check_stream(&v).map_err(TestCaseError::fail)
    });
}

#[test]
fn the_seeds_decode_so_the_fuzzer_starts_from_valid_events() {
    assert!(serde_json::from_value::<ApiGatewayProxyRequest>(api_event()).is_ok());
    assert!(serde_json::from_value::<SqsEvent>(sqs_event()).is_ok());
    let stream: StreamEvent = serde_json::from_value(stream_event()).unwrap();
    let changes = stream_changes(&stream);
    assert!(wh_runtime::audit::audit_record(changes[0].clone(), 60).is_ok());
}
