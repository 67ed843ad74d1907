//! The records every component shares: webhook states, the stored webhook, the queue message,
//! the normalised event and the payment-object state.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a webhook is in its life. Every component and command reads these same states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Stored; not yet on the queue (an enqueue failed, or is in flight).
    Received,
    /// On the processing queue.
    Enqueued,
    /// Published to the bus.
    Processed,
    /// Its last allowed attempt failed: it is in the DLQ.
    Failed,
}

impl Status {
    /// The stored spelling (`RECEIVED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "RECEIVED",
            Status::Enqueued => "ENQUEUED",
            Status::Processed => "PROCESSED",
            Status::Failed => "FAILED",
        }
    }

    /// All states, in life order.
    pub const ALL: [Status; 4] = [
        Status::Received,
        Status::Enqueued,
        Status::Processed,
        Status::Failed,
    ];
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook's id: derived from provider and provider event id, so a redelivery of the same
/// event maps to the same id (and the same table item) on any instance, with no lookup.
pub fn webhook_id(provider: &str, event_id: &str) -> String {
    let digest = Sha256::digest([provider.as_bytes(), b"\0", event_id.as_bytes()].concat());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A stored webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// See [`webhook_id`].
    pub webhook_id: String,
    /// The provider's URL name.
    pub provider: String,
    /// The provider's own event id.
    pub event_id: String,
    /// When the first delivery was received (RFC 3339, UTC).
    pub received_at: String,
    /// Life state.
    pub status: Status,
    /// Processing attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The raw body, exactly as signed.
    pub body: String,
    /// Request headers, less signatures and credentials.
    pub headers: BTreeMap<String, String>,
    /// The X-Ray trace header of the delivery, if any.
    pub trace_header: Option<String>,
}

/// Headers never stored: signatures and credentials.
pub const UNSTORED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "stripe-signature",
    "webhook-signature",
    "svix-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-square-hmacsha256-signature",
    "x-square-signature",
];

/// The processing-queue message, shared by producer (receiver) and consumer (processor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// The stored webhook.
    pub webhook_id: String,
    /// When it was received (RFC 3339).
    pub timestamp: String,
    /// Its provider.
    pub provider: String,
}

/// A provider event in the shape the bus carries, whatever the provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalisedEvent {
    /// The stored webhook.
    pub webhook_id: String,
    /// The provider's URL name (the bus event's `source`).
    pub provider: String,
    /// The provider's event id.
    pub event_id: String,
    /// The provider's event type (the bus event's `detail-type`).
    pub event_type: String,
    /// The payment or other object the event is about.
    pub object_id: Option<String>,
    /// The amount, as the provider writes it (minor units for Stripe and Square).
    pub amount: Option<serde_json::Value>,
    /// ISO currency code, as the provider writes it.
    pub currency: Option<String>,
    /// The payment object's state after this event, when the event type has one.
    pub state: Option<String>,
    /// The provider's payload.
    pub data: serde_json::Value,
}

/// The latest known state of a payment object (provider + object id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    /// Provider.
    pub provider: String,
    /// Object id.
    pub object_id: String,
    /// State name.
    pub state: String,
    /// Position in the provider's state order; a state only replaces a lower one.
    pub rank: u32,
    /// The event that set it.
    pub event_id: String,
}
