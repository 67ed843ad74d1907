//! The Lambda event glue: real event payloads (as AWS documents them) into the handlers' types.
#![cfg(feature = "aws")]

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::json;
use wh_runtime::lambda::{api_request, api_response, sqs_messages, stream_changes};
use wh_runtime::receiver::{Outcome, Response};

#[test]
fn an_api_gateway_proxy_event_becomes_a_request_with_the_raw_bytes() {
    let body = br#"{"id":"evt_1","note":"caf\xc3\xa9"}"#;
    let event: ApiGatewayProxyRequest = serde_json::from_value(json!({
        "resource": "/webhook/{provider}",
        "path": "/webhook/stripe",
        "httpMethod": "POST",
        "headers": { "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=ab" },
        "multiValueHeaders": { "Content-Type": ["application/json"], "Stripe-Signature": ["t=1,v1=ab"] },
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": { "provider": "stripe" },
        "stageVariables": null,
        "requestContext": { "resourcePath": "/webhook/{provider}", "httpMethod": "POST", "stage": "live", "requestId": "r1", "identity": { "sourceIp": "203.0.113.9" } },
        "body": base64_of(body),
        "isBase64Encoded": true
    }))
    .unwrap();
    let request = api_request(
        &event,
        Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
    );
    assert_eq!(request.provider, "stripe");
    assert_eq!(request.body, body);
    assert_eq!(request.headers.get("stripe-signature"), Some("t=1,v1=ab"));
    assert_eq!(
        request.trace_header.as_deref(),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793")
    );

    let response = api_response(&Response {
        status: 401,
        body: json!({ "error": "invalid signature" }),
        outcome: Outcome::SignatureFailure,
        webhook_id: None,
    });
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["statusCode"], 401);
    assert_eq!(wire["headers"]["content-type"], "application/json");
    assert_eq!(wire["body"], r#"{"error":"invalid signature"}"#);
}

/// A REST proxy event whose `Stripe-Signature` came twice, `first` then `second`:
/// `multiValueHeaders` has both in order, `headers` one of them (here the last).
fn twice_signed(body: &[u8], first: &str, second: &str) -> ApiGatewayProxyRequest {
    serde_json::from_value(json!({
        "resource": "/webhook/{provider}",
        "path": "/webhook/stripe",
        "httpMethod": "POST",
        "headers": { "Content-Type": "application/json", "Stripe-Signature": second },
        "multiValueHeaders": { "Content-Type": ["application/json"], "Stripe-Signature": [first, second] },
        "pathParameters": { "provider": "stripe" },
        "requestContext": { "resourcePath": "/webhook/{provider}", "httpMethod": "POST", "stage": "live", "requestId": "r1", "identity": { "sourceIp": "203.0.113.9" } },
        "body": std::str::from_utf8(body).unwrap(),
        "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test]
async fn a_repeated_signature_header_counts_by_its_first_value_as_in_wh_dev() {
    use wh_runtime::backends::memory::{MemoryQueue, MemorySecrets, MemoryStore};
    use wh_runtime::receiver::{EventIdSource, ProviderConfig, Receiver, ReceiverConfig};
    use wh_runtime::secret::SecretValue;
    use wh_runtime::verify::{Scheme, sign};

    let scheme = Scheme::Stripe {
        tolerance_secs: 300,
    };
    let secret = "whsec_dGVzdC1zZWNyZXQ=";
    let now = time::macros::datetime!(2026-11-23 12:00 UTC);
    let body =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;
    let good = sign(&scheme, secret, body, now.unix_timestamp(), "").unwrap()[0]
        .1
        .clone();
    let bad = format!("t={},v1={}", now.unix_timestamp(), "0".repeat(64));
    let secrets = MemorySecrets::default();
    secrets.set("stripe", SecretValue::new(secret));
    let receiver = Receiver::new(
        ReceiverConfig {
            providers: [(
                "stripe".to_owned(),
                ProviderConfig {
                    scheme,
                    event_id: EventIdSource::JsonPointer("/id".into()),
                },
            )]
            .into(),
            max_payload: 1024,
        },
        MemoryStore::default(),
        MemoryQueue::default(),
        secrets,
    );
    let first_bad = api_request(&twice_signed(body, &bad, &good), None);
    assert_eq!(
        first_bad.headers.get("stripe-signature"),
        Some(bad.as_str())
    );
    assert_eq!(receiver.handle(first_bad, now).await.status, 401);
    let first_good = api_request(&twice_signed(body, &good, &bad), None);
    assert_eq!(receiver.handle(first_good, now).await.status, 200);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn sqs_records_carry_their_receive_count() {
    let event: SqsEvent = serde_json::from_value(json!({ "Records": [
        { "messageId": "m1", "receiptHandle": "h", "body": "{\"webhookId\":\"w\"}", "attributes": { "ApproximateReceiveCount": "3" }, "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1" }
    ]}))
    .unwrap();
    let messages = sqs_messages(&event);
    assert_eq!(
        (messages[0].message_id.as_str(), messages[0].receive_count),
        ("m1", 3)
    );
}

#[test]
fn stream_records_become_changes_with_plain_values() {
    let event: StreamEvent = serde_json::from_value(json!({ "Records": [{
        "eventID": "e1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1800000000,
            "Keys": { "pk": { "S": "WEBHOOK#w1" }, "sk": { "S": "WEBHOOK" } },
            "NewImage": { "pk": { "S": "WEBHOOK#w1" }, "status": { "S": "PROCESSED" }, "attempts": { "N": "1" }, "raw": { "B": "aGk=" }, "tags": { "SS": ["a"] } },
            "OldImage": { "pk": { "S": "WEBHOOK#w1" }, "status": { "S": "ENQUEUED" }, "attempts": { "N": "0" } },
            "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
    }]}))
    .unwrap();
    let changes = stream_changes(&event);
    assert_eq!(changes[0].sequence_number, "111");
    let record = wh_runtime::audit::audit_record(changes[0].clone(), 60).unwrap();
    // A MODIFY keeps what changed: the unchanged `pk` is in `keys` only.
    assert_eq!(
        record.new,
        json!({ "status": "PROCESSED", "attempts": 1, "raw": "aGk=", "tags": ["a"] })
    );
    assert_eq!(record.changed_fields, ["attempts", "raw", "status", "tags"]);
}
