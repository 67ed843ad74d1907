//! The HTTP side of `wh dev` (axum): API Gateway's routes and answers, with WAF's per-IP rule
//! and the stage throttle in front of the same receiver code the Lambda runs.
//!
//! Answers as a deployed REST API gives them: no route 403 `{"message":"Missing Authentication
//! Token"}`; WAF-blocked 403 `{"message":"Forbidden"}` with the per-IP rule's custom header
//! (`x-wh-blocked-by: per-ip`, as the template's rule sends it); throttled 429
//! `{"message":"Too Many Requests"}`; everything else is the receiver's own answer.
//! `/_wh/status` (GET), `/_wh/redrive` (POST: DLQ back to the queue) and `/_wh/webhooks`
//! (POST a JSON array of ids: their statuses) operate the stack itself.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use time::OffsetDateTime;
use wh_runtime::headers::Headers;
use wh_runtime::receiver::Request;

use super::DevStack;
use super::throttle::TokenBucket;
use super::waf::{PerIpRule, Verdict};
use wh::emit::cloudformation::waf::BLOCK_HEADER;

/// The gateway in front of the stack.
pub struct Gateway {
    /// The stack.
    pub stack: Arc<DevStack>,
    throttle: Mutex<TokenBucket>,
    waf: Mutex<PerIpRule>,
    started: Instant,
}

impl Gateway {
    /// A gateway with the spec's limits.
    pub fn new(stack: Arc<DevStack>) -> Arc<Gateway> {
        let s = &stack.stack;
        let exempt = s
            .waf
            .exempt_v4
            .iter()
            .chain(&s.waf.exempt_v6)
            .copied()
            .collect();
        Arc::new(Gateway {
            throttle: Mutex::new(TokenBucket::new(
                s.api.rate.per_second(),
                s.api.burst,
                std::time::Duration::ZERO,
            )),
            waf: Mutex::new(PerIpRule::new(
                s.waf.limit,
                std::time::Duration::from_secs(s.waf.window_secs),
                exempt,
                stack.options.waf_mode,
            )),
            started: Instant::now(),
            stack,
        })
    }
}

/// API Gateway's largest payload: "10 MB" (<https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>).
const GATEWAY_MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The router: everything goes through [`handle`], which routes as API Gateway does. Bodies
/// are read by the routes themselves, each within its own limit.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(handle).with_state(gateway)
}

/// Why a body could not be read.
enum BodyError {
    /// Longer than the limit: only that much was read.
    TooLong,
    /// The client sent a malformed body or went away.
    Broken(String),
    /// It did not arrive within the timeout.
    Stalled,
}

/// Reads a body of at most `limit` bytes within `timeout`, stopping as soon as it is longer.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::Stalled),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(BodyError::TooLong),
        Ok(Err(e)) => Err(BodyError::Broken(e.to_string())),
    }
}

/// The answer to a body that did not come whole; the connection is closed after it.
fn unread(e: BodyError) -> Response {
    let mut answer = match e {
        BodyError::TooLong => message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        BodyError::Broken(e) => message(
            StatusCode::BAD_REQUEST,
            &format!("could not read the body: {e}"),
        ),
        BodyError::Stalled => message(StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
    };
    answer.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    answer
}

/// The receiver's own answer as an HTTP response.
fn receiver_answer(response: &wh_runtime::receiver::Response) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        response.body.to_string(),
    )
        .into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

/// `/_wh/...`: status and the operations commands' endpoints (never behind the gateway's limits).
async fn operations(dev: &DevStack, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    let query: std::collections::HashMap<String, String> =
        match axum::extract::Query::try_from_uri(uri) {
            Ok(axum::extract::Query(q)) => q,
            Err(e) => return message(StatusCode::BAD_REQUEST, &e.to_string()),
        };
    let dry_run = query.get("dry_run").is_some_and(|v| v == "true");
    let report = |r: Result<wh_runtime::ops::Report, wh_runtime::backends::BackendError>| match r {
        Ok(r) => axum::Json(json!(r)).into_response(),
        Err(e) => message(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let path = uri.path().trim_start_matches("/_wh/");
    match (method, path.split('/').collect::<Vec<_>>().as_slice()) {
        (&Method::GET, ["status"]) => axum::Json(dev.status()).into_response(),
        (&Method::POST, ["redrive"]) => {
            let moved = if dry_run { 0 } else { dev.queue.redrive() };
            axum::Json(json!({ "moved": moved, "dlq": dev.queue.depths().dlq })).into_response()
        }
        (&Method::PUT, ["faults"]) => {
            let rate = |k: &str| {
                query
                    .get(k)
                    .map(|v| v.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p)))
            };
            let (processor, enqueue, lose) =
                (rate("processor"), rate("enqueue"), rate("lose_acked"));
            if [processor, enqueue, lose]
                .iter()
                .any(|r| matches!(r, Some(None)))
            {
                return message(
                    StatusCode::BAD_REQUEST,
                    "processor=, enqueue= and lose_acked= are probabilities from 0 to 1",
                );
            }
            if let Some(Some(p)) = lose {
                dev.lose_acked.set(p);
            }
            if let Some(Some(p)) = processor {
                dev.processor.backends().1.rate.set(p);
            }
            if let Some(Some(p)) = enqueue {
                dev.receiver.backends().1.rate.set(p);
            }
            axum::Json(json!({
                "processor": dev.processor.backends().1.rate.get(),
                "enqueue": dev.receiver.backends().1.rate.get(),
                "lose_acked": dev.lose_acked.get(),
            }))
            .into_response()
        }
        (&Method::POST, ["webhooks"]) => match serde_json::from_slice::<Vec<String>>(body) {
            Ok(ids) => {
                let statuses: Vec<Option<&str>> = dev
                    .store
                    .statuses(&ids)
                    .into_iter()
                    .map(|s| s.map(|s| s.as_str()))
                    .collect();
                axum::Json(json!({ "statuses": statuses })).into_response()
            }
            Err(e) => message(
                StatusCode::BAD_REQUEST,
                &format!("give a JSON array of webhook ids: {e}"),
            ),
        },
        (&Method::GET, ["secrets", provider]) => match dev.secret(provider).await {
            Some(v) => axum::Json(json!(v)).into_response(),
            None => message(StatusCode::NOT_FOUND, &format!("no provider `{provider}`")),
        },
        (&Method::PUT, ["secrets", provider]) => {
            let value = match serde_json::from_slice::<wh_runtime::secret::SecretValue>(body) {
                Ok(v) => v,
                Err(e) => {
                    return message(StatusCode::BAD_REQUEST, &format!("not a secret value: {e}"));
                }
            };
            match dev.set_secret(provider, value).await {
                Ok(()) => axum::Json(json!({ "ok": true })).into_response(),
                Err(e) => message(StatusCode::NOT_FOUND, &e),
            }
        }
        (&Method::POST, ["reenqueue"]) => {
            let Some(secs) = query
                .get("older_than_secs")
                .and_then(|v| v.parse::<u64>().ok())
            else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "give older_than_secs=<whole seconds>",
                );
            };
            let lost_after = match query.get("lost_after_secs").map(|v| v.parse::<u64>()) {
                None => None,
                Some(Ok(s)) => Some(std::time::Duration::from_secs(s)),
                Some(Err(_)) => {
                    return message(
                        StatusCode::BAD_REQUEST,
                        "lost_after_secs=<whole seconds>, or leave it out for the queues' retention",
                    );
                }
            };
            report(
                dev.reenqueue(std::time::Duration::from_secs(secs), lost_after, dry_run)
                    .await,
            )
        }
        (&Method::POST, ["ingest", provider]) => {
            // `wh reconcile`: an event fetched from the provider's API, through the receiver's
            // unsigned ingest path.
            let Some(fetched_from) = query.get("fetched_from") else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "give fetched_from=<the provider API the event came from>",
                );
            };
            let request = Request {
                provider: (*provider).to_owned(),
                body: body.to_vec(),
                ..Default::default()
            };
            let answer = dev
                .receiver
                .ingest(request, fetched_from, OffsetDateTime::now_utc())
                .await;
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, axum::Json(answer.body)).into_response()
        }
        (&Method::POST, ["replay"]) => {
            let (Some(from), Some(to)) = (query.get("from"), query.get("to")) else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "give from=<RFC 3339>&to=<RFC 3339>",
                );
            };
            let provider = query.get("provider").map(String::as_str);
            report(dev.replay((from, to), provider, dry_run).await)
        }
        _ => message(StatusCode::NOT_FOUND, "no such wh dev operation"),
    }
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A deployed stack's round trip: half before the gateway sees the request, half after.
    let latency = gw.stack.options.latency;
    if !latency.is_zero() && !uri.path().starts_with("/_wh/") {
        tokio::time::sleep(latency / 2).await;
        let response = gateway(gw, peer, method, uri, headers, body).await;
        tokio::time::sleep(latency / 2).await;
        response
    } else {
        gateway(gw, peer, method, uri, headers, body).await
    }
}

async fn gateway(
    gw: Arc<Gateway>,
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let dev = &gw.stack;
    if uri.path().starts_with("/_wh/") {
        return match read_body(body, GATEWAY_MAX_PAYLOAD, dev.options.body_timeout).await {
            Ok(body) => operations(dev, &method, &uri, &body).await,
            Err(e) => unread(e),
        };
    }
    // WAF sees every request first, routed or not, as it does in front of a stage.
    let now = gw.started.elapsed();
    let verdict = if !dev.options.limits {
        Verdict::Allow
    } else {
        let mut waf = gw
            .waf
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fastrand::u8(..) == 0 {
            waf.prune(now);
        }
        waf.check(peer.ip(), now)
    };
    if verdict == Verdict::Block {
        dev.counters.blocked.fetch_add(1, Ordering::Relaxed);
        count(dev, 403);
        let mut blocked = message(StatusCode::FORBIDDEN, "Forbidden");
        blocked.headers_mut().insert(
            BLOCK_HEADER.0,
            axum::http::HeaderValue::from_static(BLOCK_HEADER.1),
        );
        return blocked;
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let provider = match segments.as_slice() {
        ["webhook", p] => Some(*p),
        [stage, "webhook", p] if *stage == dev.stack.stage => Some(*p),
        _ => None,
    };
    let (Some(provider), true) = (provider, method == Method::POST) else {
        count(dev, 403);
        return message(StatusCode::FORBIDDEN, "Missing Authentication Token");
    };
    let allowed = !dev.options.limits
        || gw
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(now);
    if !allowed {
        dev.counters.throttled.fetch_add(1, Ordering::Relaxed);
        count(dev, 429);
        return message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    }
    // A body over the limit is answered as the receiver answers it, without reading the rest:
    // at once when its declared length says so, else as soon as that many bytes have come.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if let Some(refused) = dev.receiver.refuse_early(provider, declared) {
        count(dev, refused.status);
        return receiver_answer(&refused);
    }
    let limit = dev.receiver.max_payload();
    let body = match read_body(body, limit, dev.options.body_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLong) => {
            count(dev, 413);
            return match dev.receiver.refuse_early(provider, limit.saturating_add(1)) {
                Some(refused) => receiver_answer(&refused),
                None => unread(BodyError::TooLong),
            };
        }
        Err(e) => {
            let answer = unread(e);
            count(dev, answer.status().as_u16());
            return answer;
        }
    };
    let request = Request {
        provider: provider.to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect::<Headers>(),
        body: body.to_vec(),
        trace_header: headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let response = dev
        .receiver
        .handle(request, OffsetDateTime::now_utc())
        .await;
    if response.status == 200
        && let Some(id) = &response.webhook_id
        && !response.body["duplicate"].as_bool().unwrap_or(false)
        && dev.lose_acked.fails()
    {
        dev.lose(id);
    }
    count(dev, response.status);
    if dev.options.verbose {
        println!(
            "{} POST /webhook/{provider} {} {}",
            peer.ip(),
            response.status,
            response
                .webhook_id
                .as_deref()
                .map_or_else(|| response.body.to_string(), |id| format!("webhook {id}"))
        );
    }
    receiver_answer(&response)
}

fn count(dev: &DevStack, status: u16) {
    *dev.counters
        .answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(status)
        .or_default() += 1;
}
