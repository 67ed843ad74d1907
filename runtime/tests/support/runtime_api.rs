//! A minimal Lambda Runtime API on 127.0.0.1, enough to run a `bootstrap` outside AWS: it hands
//! out the queued events on `/invocation/next` and collects what the function posts back.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the function answered for one event.
#[derive(Debug)]
pub struct Answer {
    /// `response` or `error`.
    pub kind: String,
    /// The posted body.
    pub body: String,
}

/// The server; it stops when dropped.
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    server: std::sync::Arc<tiny_http::Server>,
    answers: mpsc::Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Serves `events` in order.
    pub fn start(events: Vec<String>) -> RuntimeApi {
        let server = std::sync::Arc::new(
            tiny_http::Server::http("127.0.0.1:0").expect("runtime API listens"),
        );
        let address = server
            .server_addr()
            .to_ip()
            .expect("an IP address")
            .to_string();
        let (tx, answers) = mpsc::channel();
        let serving = server.clone();
        let thread = std::thread::spawn(move || {
            let mut events: VecDeque<String> = events.into();
            let mut next_id = 0_u32;
            // Long polls that arrived with no event left are held, as Lambda does.
            let mut held = Vec::new();
            for mut request in serving.incoming_requests() {
                let url = request.url().to_owned();
                if url.ends_with("/invocation/next") {
                    match events.pop_front() {
                        Some(event) => {
                            next_id += 1;
                            let headers = [
                                ("Lambda-Runtime-Aws-Request-Id", format!("req-{next_id}")),
                                ("Lambda-Runtime-Deadline-Ms", "4102444800000".to_owned()),
                                (
                                    "Lambda-Runtime-Invoked-Function-Arn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:bench"
                                        .to_owned(),
                                ),
                                (
                                    "Lambda-Runtime-Trace-Id",
                                    "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".to_owned(),
                                ),
                                ("Content-Type", "application/json".to_owned()),
                            ];
                            let mut response = tiny_http::Response::from_string(event);
                            for (k, v) in headers {
                                response.add_header(tiny_http::Header::from_bytes(k, v).unwrap());
                            }
                            let _ = request.respond(response);
                        }
                        None => held.push(request),
                    }
                } else {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let kind = if url.ends_with("/response") {
                        "response"
                    } else {
                        "error"
                    };
                    let _ = request
                        .respond(tiny_http::Response::from_string("{}").with_status_code(202));
                    if tx
                        .send(Answer {
                            kind: kind.to_owned(),
                            body,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            }
            drop(held);
        });
        RuntimeApi {
            address,
            server,
            answers,
            thread: Some(thread),
        }
    }

    /// The next answer, waiting at most `timeout`.
    pub fn answer(&self, timeout: Duration) -> Option<Answer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An API Gateway proxy event posting `body` (base64-encoded, as the stack's binary media types
/// make it) with `headers` to `/webhook/<provider>`.
pub fn api_event(provider: &str, headers: &[(String, String)], body: &[u8]) -> String {
    use base64::Engine;
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    serde_json::json!({
        "resource": "/webhook/{provider}",
        "path": format!("/webhook/{provider}"),
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": { "provider": provider },
        "stageVariables": null,
        "requestContext": { "resourcePath": "/webhook/{provider}", "httpMethod": "POST", "stage": "live", "requestId": "r1", "identity": { "sourceIp": "203.0.113.9" } },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
    .to_string()
}

/// The environment a function's bootstrap needs from Lambda and from the stack's template.
pub fn lambda_env(runtime_api: &str, providers: &[&str], endpoint: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "payments-receiver-test"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/payments-receiver-test",
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("WH_STACK_NAME", "payments-test"),
        ("WH_METRICS_NAMESPACE", "Webhooks/payments-test"),
        ("WH_WEBHOOK_TABLE", "payments-webhooks-test"),
        (
            "WH_PROCESSING_QUEUE_URL",
            "http://127.0.0.1:1/123456789012/payments-processing-test",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for p in providers {
        let key = p.to_ascii_uppercase().replace('-', "_");
        env.push((
            format!("WH_SECRET_ARN_{key}"),
            format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:payments-{p}-test"),
        ));
        env.push((
            format!("WH_NOTIFICATION_URL_{key}"),
            format!("https://hooks.example.com/webhook/{p}"),
        ));
    }
    env
}
