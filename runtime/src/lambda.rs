//! The Lambda entry points the generated crates call: read the environment the template sets,
//! build the AWS backends, and serve events until the runtime stops.
//!
//! A missing environment variable stops the function at init with a message naming it, never a
//! panic at the first request.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use time::OffsetDateTime;

use crate::audit::{self, StreamChange};
use crate::backends::aws::{
    DynamoAudit, DynamoStore, EventBridgeBus, SecretsManagerSecrets, SnsNotifier, SqsQueue,
};
use crate::backends::cache::{CachedSecrets, SECRET_CACHE};
use crate::headers::Headers;
use crate::metrics::emf_line;
use crate::processor::{Message, Processor, ProcessorConfig};
use crate::receiver::{Receiver, ReceiverConfig, Request, Response};
use crate::verify::Scheme;

/// The environment variable a provider's value is passed in (`my-psp` -> `WH_SECRET_ARN_MY_PSP`).
pub fn provider_var(prefix: &str, provider: &str) -> String {
    format!(
        "{prefix}_{}",
        provider.to_ascii_uppercase().replace('-', "_")
    )
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!("environment variable {name} is not set (the stack's template sets it)")
    })
}

/// Runs `serve` on a single-threaded runtime (Lambda sends one event at a time), exiting with
/// a message when init or the runtime fails.
fn run<F: std::future::Future<Output = Result<(), String>>>(serve: impl FnOnce() -> F) {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| rt.block_on(serve()));
    if let Err(e) = result {
        eprintln!("wh handler stopped: {e}");
        std::process::exit(1);
    }
}

/// The receiver behind API Gateway.
pub fn run_receiver(mut config: ReceiverConfig) {
    run(|| async move {
        lambda_runtime::tracing::init_default_subscriber();
        let mut arns = BTreeMap::new();
        for (name, provider) in config.providers.iter_mut() {
            arns.insert(name.clone(), env(&provider_var("WH_SECRET_ARN", name))?);
            if let Scheme::Square { notification_url } = &mut provider.scheme {
                *notification_url = env(&provider_var("WH_NOTIFICATION_URL", name))?;
            }
        }
        let namespace = env("WH_METRICS_NAMESPACE")?;
        let stack = env("WH_STACK_NAME")?;
        let sdk = aws_config::load_from_env().await;
        let receiver = Receiver::new(
            config,
            DynamoStore::new(&sdk, env("WH_WEBHOOK_TABLE")?),
            SqsQueue::new(&sdk, env("WH_PROCESSING_QUEUE_URL")?),
            CachedSecrets::new(SecretsManagerSecrets::new(&sdk, arns), SECRET_CACHE),
        );
        let receiver = &receiver;
        let (namespace, stack) = (&namespace, &stack);
        lambda_runtime::run(service_fn(
            move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
                let request = api_request(&event.payload, event.context.xray_trace_id.clone());
                let provider = request.provider.clone();
                let response = receiver.handle(request, OffsetDateTime::now_utc()).await;
                if let Some(metric) = response.outcome.metric() {
                    let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                    println!("{}", emf_line(namespace, stack, &provider, metric, now_ms));
                }
                Ok::<_, Error>(api_response(&response))
            },
        ))
        .await
        .map_err(|e| e.to_string())
    })
}

/// An API Gateway proxy event as the receiver's request.
pub fn api_request(event: &ApiGatewayProxyRequest, trace_header: Option<String>) -> Request {
    let body = match (&event.body, event.is_base64_encoded) {
        (Some(b), true) => B64.decode(b).unwrap_or_else(|_| b.as_bytes().to_vec()),
        (Some(b), false) => b.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    Request {
        provider: event
            .path_parameters
            .get("provider")
            .cloned()
            .unwrap_or_default(),
        // A REST API's proxy event has each header in `headers` (one value of a repeated one)
        // and in `multiValueHeaders` (every value, in order) (<https://docs.aws.amazon.com/
        // apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
        // #apigateway-multivalue-headers-and-parameters>). Reading every value in order and
        // keeping the first, as `wh dev` does with the request it serves, gives a repeated
        // signature header one meaning on both.
        headers: headers(if event.multi_value_headers.is_empty() {
            &event.headers
        } else {
            &event.multi_value_headers
        }),
        body,
        trace_header,
    }
}

fn headers(map: &HeaderMap) -> Headers {
    map.iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

/// The receiver's answer as an API Gateway proxy response.
pub fn api_response(response: &Response) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    // The event types are non-exhaustive: built from their defaults.
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(response.status);
    out.headers = headers;
    out.body = Some(Body::Text(response.body.to_string()));
    out
}

/// The processor behind the SQS event source.
pub fn run_processor(config: ProcessorConfig) {
    run(|| async move {
        lambda_runtime::tracing::init_default_subscriber();
        let sdk = aws_config::load_from_env().await;
        let processor = Processor::new(
            config,
            DynamoStore::new(&sdk, env("WH_WEBHOOK_TABLE")?),
            EventBridgeBus::new(&sdk, env("WH_EVENT_BUS_NAME")?),
            SnsNotifier::new(&sdk, env("WH_ALERT_TOPIC_ARN")?),
        );
        let processor = &processor;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
            let messages = sqs_messages(&event.payload);
            let failed = processor
                .handle_batch(&messages, OffsetDateTime::now_utc())
                .await;
            let mut response = SqsBatchResponse::default();
            for id in failed {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
            Ok::<_, Error>(response)
        }))
        .await
        .map_err(|e| e.to_string())
    })
}

/// SQS records as processor messages (receive count from `ApproximateReceiveCount`).
pub fn sqs_messages(event: &SqsEvent) -> Vec<Message> {
    event
        .records
        .iter()
        .map(|r| Message {
            message_id: r.message_id.clone().unwrap_or_default(),
            body: r.body.clone().unwrap_or_default(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        })
        .collect()
}

/// The audit logger behind the DynamoDB stream event source.
pub fn run_audit(retention_secs: i64) {
    run(|| async move {
        lambda_runtime::tracing::init_default_subscriber();
        let sdk = aws_config::load_from_env().await;
        let sink = DynamoAudit::new(&sdk, env("WH_AUDIT_TABLE")?);
        let sink = &sink;
        lambda_runtime::run(service_fn(
            move |event: LambdaEvent<StreamEvent>| async move {
                let changes = stream_changes(&event.payload);
                let failed = audit::handle_batch(sink, changes, retention_secs).await;
                let mut response = DynamoDbEventResponse::default();
                for seq in failed {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(seq);
                    response.batch_item_failures.push(failure);
                }
                Ok::<_, Error>(response)
            },
        ))
        .await
        .map_err(|e| e.to_string())
    })
}

/// Stream records as audit changes.
pub fn stream_changes(event: &StreamEvent) -> Vec<StreamChange> {
    event
        .records
        .iter()
        .map(|r| StreamChange {
            event_id: r.event_id.clone(),
            sequence_number: r.change.sequence_number.clone().unwrap_or_default(),
            event_name: r.event_name.clone(),
            changed_at: r.change.approximate_creation_date_time.timestamp(),
            keys: r.change.keys.clone().into_inner(),
            old: (!r.change.old_image.is_empty()).then(|| r.change.old_image.clone().into_inner()),
            new: (!r.change.new_image.is_empty()).then(|| r.change.new_image.clone().into_inner()),
        })
        .collect()
}
