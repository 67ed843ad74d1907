//! Fakes of the provider APIs `wh reconcile` calls, on 127.0.0.1, answering in the shapes the
//! providers document:
//! - GitHub's repository-webhook deliveries (<https://docs.github.com/en/rest/repos/webhooks>):
//!   `GET /repos/{owner}/{repo}/hooks/{id}/deliveries` (newest first, `Link: <...&cursor=N>;
//!   rel="next"`), `POST .../deliveries/{id}/attempts` (202, and, as GitHub does, the delivery
//!   sent again, signed, listed as a new delivery with `redelivery: true`), `401 {"message":
//!   "Bad credentials"}` for another token.
//! - Stripe (<https://docs.stripe.com/api/events/list>, <https://docs.stripe.com/api/webhook_endpoints>):
//!   `GET /v1/webhook_endpoints/{id}`, `GET /v1/events` (`delivery_success`, `created[gte]`,
//!   `limit`, `starting_after`; newest first; `{"object": "list", "data", "has_more"}`), `401
//!   {"error": {"message": "Invalid API Key provided: ...", "type": "invalid_request_error"}}`.
//!
//! Both page by 2 whatever `per_page` or `limit` asks (the documented maxima are 100), so the
//! tests cross pages with a handful of items.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PAGE: usize = 2;

/// A fake API server; stopped on drop.
pub struct Fake<S> {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// What it holds and what it was asked.
    pub state: Arc<Mutex<S>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<S> Drop for Fake<S> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve<S: Send + 'static>(state: Arc<Mutex<S>>, app: Router) -> Fake<S> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Fake {
        url,
        state,
        stop: Some(stop),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// The time `hours` ago.
pub fn hours_ago(hours: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::hours(hours)
}

/// GitHub's side: a hook's deliveries and the payload of each event.
pub struct Github {
    /// The token it accepts.
    pub token: String,
    /// Deliveries as listed (`id`, `guid`, `delivered_at`, `status_code`, `event`, ...).
    pub deliveries: Vec<Value>,
    /// Each guid's event and body.
    pub payloads: BTreeMap<String, (String, String)>,
    /// The delivery ids whose redelivery was requested.
    pub attempts: Vec<u64>,
    /// Where redeliveries go (the stack's `/webhook/<provider>` URL), signed with `secret`;
    /// `None`: requests are only recorded (a stack GitHub cannot reach).
    pub target: Option<String>,
    /// The hook's secret.
    pub secret: String,
}

impl Github {
    /// A delivery of `guid` (`event`) answered `status` `hours` ago, with its payload.
    pub fn delivered(&mut self, id: u64, guid: &str, hours: i64, status: u16) {
        let body = json!({
            "action": "completed",
            "check_run": { "id": id, "status": "completed", "conclusion": "success" },
            "repository": { "id": 1296269, "full_name": "acme/payments" },
            "sender": { "login": "octocat", "id": 1 }
        })
        .to_string();
        self.payloads
            .insert(guid.to_owned(), ("check_run".to_owned(), body));
        self.deliveries.push(json!({
            "id": id, "guid": guid, "delivered_at": rfc3339(hours_ago(hours)),
            "redelivery": false, "duration": 0.27,
            "status": if (200..300).contains(&status) { "OK" } else { "Invalid HTTP Response: 503" },
            "status_code": status, "event": "check_run", "action": "completed",
            "installation_id": null, "repository_id": 1296269, "throttled_at": null
        }));
    }

    /// The signed headers and body GitHub sends for `guid`.
    pub fn delivery(&self, guid: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let (event, body) = &self.payloads[guid];
        let mut headers = wh_runtime::verify::sign(
            &wh_runtime::verify::Scheme::Github,
            &self.secret,
            body.as_bytes(),
            0,
            "",
        )
        .unwrap();
        headers.extend([
            ("X-GitHub-Event".to_owned(), event.clone()),
            ("X-GitHub-Delivery".to_owned(), guid.to_owned()),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ]);
        (headers, body.clone().into_bytes())
    }
}

/// Whether the request carries `token` as GitHub expects it (`Authorization: Bearer`).
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(token)
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401" })),
    )
        .into_response()
}

async fn github_list(
    State(s): State<Arc<Mutex<Github>>>,
    Path((_owner, _repo, _hook)): Path<(String, String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let s = s.lock().unwrap();
    if !authorised(&headers, &s.token) {
        return unauthorised();
    }
    let mut all = s.deliveries.clone();
    all.sort_by(|a, b| b["delivered_at"].as_str().cmp(&a["delivered_at"].as_str()));
    let from: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(from).take(PAGE).cloned().collect();
    let mut response = axum::Json(page).into_response();
    if from + PAGE < all.len() {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let link = format!(
            r#"<http://{host}/repos/acme/payments/hooks/1/deliveries?per_page=100&cursor={}>; rel="next""#,
            from + PAGE
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

async fn github_redeliver(
    State(s): State<Arc<Mutex<Github>>>,
    Path((_owner, _repo, _hook, id)): Path<(String, String, u64, u64)>,
    headers: HeaderMap,
) -> Response {
    let (target, request, guid) = {
        let mut s = s.lock().unwrap();
        if !authorised(&headers, &s.token) {
            return unauthorised();
        }
        let Some(guid) = s
            .deliveries
            .iter()
            .find(|d| d["id"] == id)
            .and_then(|d| d["guid"].as_str())
            .map(str::to_owned)
        else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({ "message": "Not Found" })),
            )
                .into_response();
        };
        s.attempts.push(id);
        (s.target.clone(), s.delivery(&guid), guid)
    };
    if let Some(target) = target {
        let (headers, body) = request;
        let mut post = reqwest::Client::new().post(&target).body(body);
        for (k, v) in headers {
            post = post.header(k, v);
        }
        let status = post.send().await.map_or(0, |r| r.status().as_u16());
        let mut s = s.lock().unwrap();
        let next = s.deliveries.len() as u64 + 1000;
        let (event, _) = s.payloads[&guid].clone();
        s.deliveries.push(json!({
            "id": next, "guid": guid, "delivered_at": rfc3339(OffsetDateTime::now_utc()),
            "redelivery": true, "status_code": status, "event": event, "action": "completed"
        }));
    }
    (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
}

/// Serves `github` on 127.0.0.1.
pub async fn github(github: Github) -> Fake<Github> {
    let state = Arc::new(Mutex::new(github));
    let app = Router::new()
        .route(
            "/repos/{owner}/{repo}/hooks/{hook}/deliveries",
            get(github_list),
        )
        .route(
            "/repos/{owner}/{repo}/hooks/{hook}/deliveries/{id}/attempts",
            post(github_redeliver),
        )
        .with_state(state.clone());
    serve(state, app).await
}

/// Stripe's side: the account's events and one webhook endpoint.
pub struct Stripe {
    /// The secret key it accepts.
    pub key: String,
    /// The endpoint's id and enabled events.
    pub endpoint: (String, Vec<String>),
    /// Events not delivered to every endpoint.
    pub events: Vec<Value>,
    /// Each `GET /v1/events` query.
    pub queries: Vec<BTreeMap<String, String>>,
}

impl Stripe {
    /// A `type` event about PaymentIntent `pi`, created `hours` ago.
    pub fn event(&mut self, id: &str, kind: &str, pi: &str, hours: i64) {
        self.events.push(json!({
            "id": id, "object": "event", "api_version": "2024-06-20",
            "created": hours_ago(hours).unix_timestamp(), "livemode": false,
            "pending_webhooks": 1, "request": { "id": null, "idempotency_key": null },
            "type": kind,
            "data": { "object": {
                "id": pi, "object": "payment_intent", "amount": 2000, "currency": "usd",
                "status": "succeeded", "metadata": {}
            } }
        }));
    }
}

fn stripe_unauthorised(key: &str) -> Response {
    let shown = format!(
        "{}****{}",
        &key[..key.len().min(8)],
        &key[key.len().saturating_sub(4)..]
    );
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": {
            "message": format!("Invalid API Key provided: {shown}"),
            "type": "invalid_request_error"
        } })),
    )
        .into_response()
}

fn stripe_key(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned()
}

async fn stripe_endpoint(
    State(s): State<Arc<Mutex<Stripe>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = s.lock().unwrap();
    let key = stripe_key(&headers);
    if key != s.key {
        return stripe_unauthorised(&key);
    }
    if id != s.endpoint.0 {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": { "message": format!("No such webhook endpoint: '{id}'"), "type": "invalid_request_error" } })),
        )
            .into_response();
    }
    axum::Json(json!({
        "id": s.endpoint.0, "object": "webhook_endpoint", "api_version": null,
        "enabled_events": s.endpoint.1, "status": "enabled",
        "url": "https://hooks.example.com/webhook/stripe", "livemode": false
    }))
    .into_response()
}

async fn stripe_events(
    State(s): State<Arc<Mutex<Stripe>>>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = s.lock().unwrap();
    let key = stripe_key(&headers);
    if key != s.key {
        return stripe_unauthorised(&key);
    }
    s.queries.push(q.clone());
    let gte: i64 = q
        .get("created[gte]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut all: Vec<Value> = s
        .events
        .iter()
        .filter(|e| e["created"].as_i64().unwrap_or(0) >= gte)
        .cloned()
        .collect();
    all.sort_by(|a, b| b["created"].as_i64().cmp(&a["created"].as_i64()));
    let from = q
        .get("starting_after")
        .and_then(|after| all.iter().position(|e| e["id"] == after.as_str()))
        .map_or(0, |i| i + 1);
    let page: Vec<Value> = all.iter().skip(from).take(PAGE).cloned().collect();
    axum::Json(json!({
        "object": "list", "url": "/v1/events",
        "has_more": from + PAGE < all.len(), "data": page
    }))
    .into_response()
}

/// Serves `stripe` on 127.0.0.1.
pub async fn stripe(stripe: Stripe) -> Fake<Stripe> {
    let state = Arc::new(Mutex::new(stripe));
    let app = Router::new()
        .route("/v1/webhook_endpoints/{id}", get(stripe_endpoint))
        .route("/v1/events", get(stripe_events))
        .with_state(state.clone());
    serve(state, app).await
}
