//! Stripe: list the events not yet delivered, ingest those the stack does not have.
//!
//! `GET /v1/webhook_endpoints/<id>` gives the endpoint's `enabled_events` (`["*"]` for all);
//! `GET /v1/events?delivery_success=false&created[gte]=<unix>&limit=100` lists events "still
//! pending or [that] have failed all delivery attempts to a webhook endpoint", any endpoint's,
//! newest first, paged with `starting_after=<last id>` while `has_more`; "List events, going
//! back up to 30 days" (<https://docs.stripe.com/api/events/list>,
//! <https://docs.stripe.com/api/webhook_endpoints/retrieve>). Stripe retries a failed delivery
//! for up to 3 days (<https://docs.stripe.com/webhooks#retries>), so an event failing for
//! longer is gone unless fetched here.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Item, ReconcileError, Stack, Summary, Verdict, error_message, rfc3339};

/// The environment variable the secret key is read from.
pub const KEY_VAR: &str = "STRIPE_API_KEY";
/// The environment variable that may point the client at a loopback fake (tests, emulators).
pub const API_URL_VAR: &str = "WH_STRIPE_API_URL";
/// Stripe's API.
pub const API_URL: &str = "https://api.stripe.com";
/// How far back the events API reaches.
pub const EVENTS_WINDOW: time::Duration = time::Duration::days(30);
/// What `fetched_from` records on an ingested webhook.
pub const FETCHED_FROM: &str =
    "stripe GET /v1/events (wh reconcile; unsigned, read with the account's API key)";

/// A client of Stripe's API with a secret (or restricted) key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

#[derive(Deserialize)]
struct Endpoint {
    enabled_events: Vec<String>,
}

#[derive(Deserialize)]
struct EventList {
    data: Vec<Value>,
    has_more: bool,
}

impl Client {
    /// A client with the key in [`KEY_VAR`] against [`API_URL`] (or [`API_URL_VAR`]).
    pub fn from_env() -> Result<Self, ReconcileError> {
        Ok(Client {
            http: reqwest::Client::new(),
            base: super::api_base(API_URL_VAR, API_URL)?,
            key: super::token(
                KEY_VAR,
                "a secret key, or a restricted key with read access to Events and Webhook Endpoints",
            )?,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ReconcileError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .query(query)
            .send()
            .await
            .map_err(|e| ReconcileError::Api(format!("Stripe {url}: {e}")))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let message = error_message(&response.text().await.unwrap_or_default());
            return Err(match status {
                401 | 403 => ReconcileError::BadToken {
                    provider: "Stripe",
                    var: KEY_VAR,
                    status,
                    message,
                    hint: "give a secret key, or a restricted key that can read Events and Webhook Endpoints",
                },
                _ => ReconcileError::Api(format!("Stripe {what}: HTTP {status}: {message}")),
            });
        }
        response.json().await.map_err(|e| {
            ReconcileError::Api(format!("Stripe {what}: not the documented shape: {e}"))
        })
    }

    /// The event types the endpoint receives (`*` for all).
    pub async fn enabled_events(&self, endpoint: &str) -> Result<Vec<String>, ReconcileError> {
        let e: Endpoint = self
            .get(
                "retrieve the webhook endpoint",
                &format!("/v1/webhook_endpoints/{endpoint}"),
                &[],
            )
            .await?;
        Ok(e.enabled_events)
    }

    /// Events created at or after `since` not delivered to every endpoint, newest first.
    pub async fn undelivered(&self, since: OffsetDateTime) -> Result<Vec<Value>, ReconcileError> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let mut query = vec![
                ("delivery_success", "false".to_owned()),
                ("created[gte]", since.unix_timestamp().to_string()),
                ("limit", "100".to_owned()),
            ];
            if let Some(last) = out.last().and_then(|e| e["id"].as_str()) {
                query.push(("starting_after", last.to_owned()));
            }
            let page: EventList = self.get("list events", "/v1/events", &query).await?;
            let empty = page.data.is_empty();
            out.extend(page.data);
            if !page.has_more || empty {
                return Ok(out);
            }
        }
    }
}

/// Whether an endpoint with `enabled` receives events of type `kind`.
pub fn receives(enabled: &[String], kind: &str) -> bool {
    enabled.iter().any(|e| e == "*" || e == kind)
}

/// Reconciles `provider` (a Stripe provider of the spec, its event id at `id_pointer`) against
/// the undelivered events since `since` of the types `endpoint` receives.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile<S: Stack>(
    client: &Client,
    endpoint: &str,
    stack: &S,
    provider: &str,
    id_pointer: &str,
    since: OffsetDateTime,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Summary, ReconcileError> {
    let enabled = client.enabled_events(endpoint).await?;
    let mut events: Vec<Value> = client
        .undelivered(since)
        .await?
        .into_iter()
        .filter(|e| receives(&enabled, e["type"].as_str().unwrap_or("")))
        .collect();
    events.sort_by_key(|e| (e["created"].as_i64(), e["id"].as_str().map(str::to_owned)));
    // Where the receiver reads it: the stack's webhook ids derive from these.
    let event_ids: Vec<Option<String>> = events
        .iter()
        .map(|e| wh_runtime::model::id_at(e, id_pointer))
        .collect();
    let ids: Vec<String> = event_ids
        .iter()
        .map(|id| wh_runtime::model::webhook_id(provider, id.as_deref().unwrap_or_default()))
        .collect();
    let stored = stack.stored(&ids).await.map_err(ReconcileError::Stack)?;
    let mut items = Vec::new();
    for ((event, event_id), stored) in events.iter().zip(event_ids).zip(stored) {
        let created = event["created"]
            .as_i64()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let verdict = if event_id.is_none() {
            Verdict::Failed(format!("no event id at {id_pointer}"))
        } else if stored {
            Verdict::AlreadyStored
        } else if created.is_none_or(|t| t < now - EVENTS_WINDOW) {
            Verdict::TooOld
        } else if dry_run {
            Verdict::WouldRecover
        } else {
            let body = serde_json::to_vec(event).unwrap_or_default();
            match stack.ingest(provider, &body, FETCHED_FROM).await {
                Ok(()) => Verdict::Recovered,
                Err(e) => Verdict::Failed(e),
            }
        };
        items.push(Item {
            id: event_id.unwrap_or_default(),
            event: event["type"].as_str().unwrap_or("").to_owned(),
            at: created.map(rfc3339).unwrap_or_default(),
            verdict,
        });
    }
    Ok(Summary {
        provider: provider.to_owned(),
        since: rfc3339(since),
        dry_run,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_receives_its_enabled_events_or_all() {
        let some = vec!["charge.succeeded".to_owned(), "charge.refunded".to_owned()];
        assert!(receives(&some, "charge.refunded"));
        assert!(!receives(&some, "customer.created"));
        assert!(receives(&["*".to_owned()], "customer.created"));
        assert!(!receives(&[], "charge.succeeded"));
    }
}
