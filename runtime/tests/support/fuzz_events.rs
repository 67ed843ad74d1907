//! The event-decoding fuzz targets' shared part: what the Lambda glue and the audit logger must
//! do with any API Gateway, SQS or DynamoDB stream event (decode it or refuse it; a decoded one
//! gives values the handlers use without a panic; an audit record is made or refused with an
//! error). Run by proptest inside `cargo test` (`runtime/tests/fuzz_events.rs`) and by libFuzzer
//! (`fuzz/fuzz_targets/events.rs`, every decoder on each JSON input).

#![allow(dead_code)] // each includer uses its part

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;
use wh_runtime::lambda::{api_request, sqs_messages, stream_changes};

/// An API Gateway proxy event: decoded into the receiver's request, or refused.
pub fn check_api(v: &Value) -> Result<(), String> {
    if let Ok(event) = ApiGatewayProxyRequest::deserialize(v) {
        let request = api_request(&event, Some("Root=1".into()));
        if request.provider.len() >= 1 << 20 {
            return Err(format!(
                "a provider name of {} bytes",
                request.provider.len()
            ));
        }
    }
    Ok(())
}

/// An SQS event: at most one message per record.
pub fn check_sqs(v: &Value) -> Result<(), String> {
    if let Ok(event) = SqsEvent::deserialize(v) {
        let messages = sqs_messages(&event);
        if messages.len() > event.records.len() {
            return Err(format!(
                "{} messages from {} records",
                messages.len(),
                event.records.len()
            ));
        }
    }
    Ok(())
}

/// A DynamoDB stream event: each change becomes an audit record or an error (the record then
/// fails its batch), never a panic.
pub fn check_stream(v: &Value) -> Result<(), String> {
    if let Ok(event) = StreamEvent::deserialize(v) {
        for change in stream_changes(&event) {
            let _ = wh_runtime::audit::audit_record(change, 60);
        }
    }
    Ok(())
}
