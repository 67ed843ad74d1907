//! The receiver: `POST /webhook/{provider}` -> verify -> store once -> enqueue -> 200.
//!
//! A 2xx is answered only once the webhook is stored and enqueued; when enqueueing fails the
//! answer is 5xx so the provider retries, and the retry re-enqueues.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backends::{BackendError, Queue, Secrets, Store};
use crate::headers::Headers;
use crate::model::{QueueMessage, Status, UNSTORED_HEADERS, WebhookRecord, id_at, webhook_id};
use crate::secret::SecretValue;
use crate::verify::{self, STANDARD_WEBHOOKS_ID, Scheme};

/// Where a provider's event id is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventIdSource {
    /// A request header.
    Header(String),
    /// Several request headers, each required and non-empty, joined with `:` in this order.
    Headers(Vec<String>),
    /// A JSON pointer into the body.
    JsonPointer(String),
}

/// One provider as the receiver serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Its signature scheme.
    pub scheme: Scheme,
    /// Where its event id is.
    pub event_id: EventIdSource,
}

/// The receiver's behaviour, baked into the generated crate.
#[derive(Clone, Debug, Default)]
pub struct ReceiverConfig {
    /// Providers by URL name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Largest accepted body, in bytes.
    pub max_payload: usize,
}

/// A delivery as the receiver sees it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The `{provider}` path parameter.
    pub provider: String,
    /// Request headers.
    pub headers: Headers,
    /// The raw body, already base64-decoded.
    pub body: Vec<u8>,
    /// The X-Ray trace header, propagated into the stored webhook.
    pub trace_header: Option<String>,
}

/// What happened to a delivery; drives the answer, the metrics and the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored and enqueued for the first time.
    Accepted,
    /// A redelivery of a known event.
    Duplicate,
    /// No such provider.
    UnknownProvider,
    /// Body over the limit.
    TooLarge,
    /// Signature or timestamp refused.
    SignatureFailure,
    /// Verified, but not the JSON the scheme promises, or without an event id.
    BadRequest,
    /// The provider's secret is not set or not usable: the provider should retry later.
    SecretUnavailable,
    /// Storing or enqueueing failed: the provider should retry.
    BackendFailure,
}

impl Outcome {
    /// The metric the outcome counts under, if any.
    pub fn metric(self) -> Option<&'static str> {
        match self {
            Outcome::Accepted => Some("Accepted"),
            Outcome::Duplicate => Some("Duplicate"),
            Outcome::SignatureFailure => Some("SignatureFailures"),
            _ => None,
        }
    }
}

/// The receiver's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// What happened.
    pub outcome: Outcome,
    /// The webhook's id, once known.
    pub webhook_id: Option<String>,
}

fn answer(status: u16, outcome: Outcome, body: Value) -> Response {
    Response {
        status,
        body,
        outcome,
        webhook_id: None,
    }
}

/// The receiver with its backends.
pub struct Receiver<S, Q, K> {
    config: ReceiverConfig,
    store: S,
    queue: Q,
    secrets: K,
}

impl<S: Store, Q: Queue, K: Secrets> Receiver<S, Q, K> {
    /// A receiver over the given backends.
    pub fn new(config: ReceiverConfig, store: S, queue: Q, secrets: K) -> Self {
        Receiver {
            config,
            store,
            queue,
            secrets,
        }
    }

    /// The backends, for inspection (tests, `wh dev`).
    pub fn backends(&self) -> (&S, &Q, &K) {
        (&self.store, &self.queue, &self.secrets)
    }

    /// Handles one delivery at time `now`.
    pub async fn handle(&self, request: Request, now: OffsetDateTime) -> Response {
        let provider = match self.admit(&request) {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        if let Err(refused) = self.verify(provider, &request, now).await {
            return refused;
        }
        // Only now is the body parsed: it is the provider's, verified.
        self.accept(provider, &request, now, None).await
    }

    /// Runs an event fetched from the provider's own API (`wh reconcile`) through what
    /// follows verification: no signature to check (it came from the provider over TLS, read
    /// with the account's key), `fetched_from` recorded on the stored webhook. The answers are
    /// those of [`handle`](Self::handle): a stored event is a duplicate, a FAILED one reopened.
    pub async fn ingest(
        &self,
        request: Request,
        fetched_from: &str,
        now: OffsetDateTime,
    ) -> Response {
        let provider = match self.admit(&request) {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        tracing::info!(provider = %request.provider, fetched_from, "an event fetched from the provider's API");
        self.accept(provider, &request, now, Some(fetched_from))
            .await
    }

    /// Stores a delivery once and enqueues it: everything after the signature.
    async fn accept(
        &self,
        provider: &ProviderConfig,
        request: &Request,
        now: OffsetDateTime,
        fetched_from: Option<&str>,
    ) -> Response {
        let Ok(body) = std::str::from_utf8(&request.body) else {
            return answer(
                400,
                Outcome::BadRequest,
                json!({ "error": "body is not UTF-8 JSON" }),
            );
        };
        let Ok(document) = serde_json::from_str::<Value>(body) else {
            return answer(
                400,
                Outcome::BadRequest,
                json!({ "error": "body is not JSON" }),
            );
        };
        let event_id = match &provider.event_id {
            // Standard Webhooks' default id header: read it from the family the signature used
            // (`webhook-*` or Svix's default `svix-*`), as verification did.
            EventIdSource::Header(name)
                if matches!(provider.scheme, Scheme::StandardWebhooks { .. })
                    && name.eq_ignore_ascii_case(STANDARD_WEBHOOKS_ID[0]) =>
            {
                verify::standard_webhooks_id(&request.headers).map(str::to_owned)
            }
            EventIdSource::Header(name) => request.headers.get(name).map(str::to_owned),
            EventIdSource::Headers(names) => names
                .iter()
                .map(|name| request.headers.get(name).filter(|v| !v.is_empty()))
                .collect::<Option<Vec<_>>>()
                .map(|values| values.join(":")),
            EventIdSource::JsonPointer(pointer) => id_at(&document, pointer),
        };
        let Some(event_id) = event_id.filter(|id| !id.is_empty()) else {
            return answer(
                400,
                Outcome::BadRequest,
                json!({ "error": "no event id where the provider puts it" }),
            );
        };

        let id = webhook_id(&request.provider, &event_id);
        let record = WebhookRecord {
            webhook_id: id.clone(),
            provider: request.provider.clone(),
            event_id,
            received_at: now.format(&Rfc3339).unwrap_or_default(),
            status: Status::Received,
            attempts: 0,
            last_error: None,
            body: body.to_owned(),
            headers: request
                .headers
                .iter()
                .filter(|(k, _)| !UNSTORED_HEADERS.contains(k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            trace_header: request.trace_header.clone(),
            enqueued_at: None,
            fetched_from: fetched_from.map(str::to_owned),
        };
        let (outcome, mut stored) = match self.store.insert_new(&record).await {
            Ok(None) => (Outcome::Accepted, record),
            Ok(Some(existing)) => (Outcome::Duplicate, existing),
            Err(e) => return self.failed(&id, "store", &e),
        };
        // A redelivery of a webhook that failed every attempt (a provider's "resend" after a
        // fix) gets a new life: attempts reset, back through the queue. Acknowledging it as a
        // duplicate would drop it.
        if stored.status == Status::Failed {
            match self.store.reopen_failed(&id).await {
                Ok(true) => {
                    tracing::warn!(webhook_id = %id, attempts = stored.attempts, last_error = stored.last_error.as_deref().unwrap_or(""), "a FAILED webhook was delivered again: attempts reset, enqueued again");
                    stored.status = Status::Received;
                }
                Ok(false) => {}
                Err(e) => return self.failed(&id, "reopen", &e),
            }
        }
        // A duplicate is enqueued again only if its first delivery never reached the queue, or
        // it had failed for good.
        if stored.status == Status::Received {
            let message = QueueMessage {
                webhook_id: id.clone(),
                timestamp: stored.received_at.clone(),
                provider: stored.provider.clone(),
            };
            if let Err(e) = self.queue.send(&message).await {
                return self.failed(&id, "enqueue", &e);
            }
            let at = now.format(&Rfc3339).unwrap_or_default();
            if let Err(e) = self.store.mark_enqueued(&id, &at).await {
                // The message is on the queue; the processor works from the queue, so this only
                // leaves the status behind. Answering 5xx would make the provider send it again.
                tracing::warn!(webhook_id = %id, error = %e, "enqueued, but the status update failed");
            }
        }
        tracing::info!(webhook_id = %id, provider = %request.provider, duplicate = outcome == Outcome::Duplicate, "accepted");
        let mut body = json!({ "webhookId": id });
        if outcome == Outcome::Duplicate {
            body["duplicate"] = json!(true);
        }
        Response {
            status: 200,
            body,
            outcome,
            webhook_id: Some(id),
        }
    }

    /// The answer a delivery gets from its provider and body length alone: 404 for an unknown
    /// provider, 413 over the size limit; `None` when it may go on. A server can ask this with
    /// the declared length (or the bytes read so far) and answer without reading the rest.
    pub fn refuse_early(&self, provider: &str, body_len: usize) -> Option<Response> {
        self.admitted(provider, body_len).err()
    }

    /// The largest body accepted, in bytes.
    pub fn max_payload(&self) -> usize {
        self.config.max_payload
    }

    /// The provider of a delivery within the size limit; else the 404 or 413 answer.
    fn admit(&self, request: &Request) -> Result<&ProviderConfig, Response> {
        self.admitted(&request.provider, request.body.len())
    }

    /// [`Self::admit`] by provider name and body length.
    fn admitted(&self, provider: &str, body_len: usize) -> Result<&ProviderConfig, Response> {
        let Some(config) = self.config.providers.get(provider) else {
            return Err(answer(
                404,
                Outcome::UnknownProvider,
                json!({ "error": "unknown provider", "provider": provider }),
            ));
        };
        if body_len > self.config.max_payload {
            return Err(answer(
                413,
                Outcome::TooLarge,
                json!({ "error": "payload too large", "limit_bytes": self.config.max_payload }),
            ));
        }
        Ok(config)
    }

    /// Checks the delivery's signature against the provider's secret. A signature refused by
    /// the cached secret is checked once more against the secret read anew, when the cache has
    /// a newer one to offer: a provider signing with a secret just put is accepted at once.
    async fn verify(
        &self,
        provider: &ProviderConfig,
        request: &Request,
        now: OffsetDateTime,
    ) -> Result<(), Response> {
        let name = request.provider.as_str();
        let value = self.secrets.get(name).await.map_err(|e| {
            tracing::error!(provider = name, error = %e, "signing secret unreadable");
            answer(
                503,
                Outcome::SecretUnavailable,
                json!({ "error": "signing secret unavailable", "retryable": true }),
            )
        })?;
        let check = |value: &SecretValue| -> Result<(), Response> {
            let keys = value.active(now).map_err(|e| {
                tracing::error!(provider = name, error = %e, "signing secret unusable");
                answer(
                    503,
                    Outcome::SecretUnavailable,
                    json!({ "error": "signing secret not configured", "retryable": true }),
                )
            })?;
            match verify::verify(
                &provider.scheme,
                &request.headers,
                &request.body,
                &keys,
                now.unix_timestamp(),
            ) {
                Ok(()) => Ok(()),
                Err(e) if e.is_configuration() => {
                    tracing::error!(provider = name, error = %e, "signing secret unusable for the scheme");
                    Err(answer(
                        503,
                        Outcome::SecretUnavailable,
                        json!({ "error": "signing secret not usable", "retryable": true }),
                    ))
                }
                Err(e) => {
                    tracing::warn!(provider = name, reason = %e, "signature refused");
                    Err(answer(
                        401,
                        Outcome::SignatureFailure,
                        json!({ "error": "invalid signature" }),
                    ))
                }
            }
        };
        match check(&value) {
            Err(refused) if refused.outcome == Outcome::SignatureFailure => {
                match self.secrets.refresh(name).await {
                    Ok(Some(fresh)) => {
                        tracing::info!(
                            provider = name,
                            "signing secret changed since it was cached: read anew"
                        );
                        check(&fresh)
                    }
                    Ok(None) => Err(refused),
                    Err(e) => {
                        tracing::warn!(provider = name, error = %e, "signing secret could not be read anew");
                        Err(refused)
                    }
                }
            }
            other => other,
        }
    }

    fn failed(&self, id: &str, step: &str, e: &BackendError) -> Response {
        tracing::error!(webhook_id = %id, step, error = %e, "not accepted; the provider will retry");
        Response {
            status: 503,
            body: json!({ "error": format!("could not {step} the webhook"), "retryable": true }),
            outcome: Outcome::BackendFailure,
            webhook_id: Some(id.to_owned()),
        }
    }
}
