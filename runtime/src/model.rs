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

/// The id at `pointer` (RFC 6901) in a provider's JSON: a string as it is, a number in its
/// decimal form (Shopify's ids are numbers); anything else is no id.
pub fn id_at(document: &serde_json::Value, pointer: &str) -> Option<String> {
    match document.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
    /// When it was last sent to the processing queue (RFC 3339, UTC); none before that, and on
    /// webhooks stored before the field existed. SQS counts a message's retention from its
    /// first enqueue, in the DLQ too, so this says when its message is gone for sure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_at: Option<String>,
    /// Set when the event was not a signed delivery but fetched from the provider's API by
    /// `wh reconcile`: which API, read how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_from: Option<String>,
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
    /// The payment the event is about (for Stripe and Shopify, whatever object the event
    /// describes: see `normalise`), else the object it describes.
    pub object_id: Option<String>,
    /// The amount, as the provider writes it (minor units for Stripe and Square).
    pub amount: Option<serde_json::Value>,
    /// ISO currency code, as the provider writes it.
    pub currency: Option<String>,
    /// The payment object's state after this event, when the event type has one.
    pub state: Option<String>,
    /// The provider's payload (null when it would not fit an event: see `data_omitted`).
    pub data: serde_json::Value,
    /// Set when `data` was left out because the event would exceed EventBridge's entry limit:
    /// the payload's size in bytes. The webhook, body included, is in the webhook table under
    /// `webhookId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_omitted: Option<u64>,
}

/// EventBridge's largest PutEvents entry: "The total entry size must be less than 256KB",
/// counting `Source`, `DetailType` and `Detail` in UTF-8
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html>).
pub const MAX_EVENT_ENTRY_BYTES: usize = 256 * 1024;

impl NormalisedEvent {
    /// The PutEvents entry size of this event as the bus sends it (source, detail type, detail).
    pub fn entry_bytes(&self) -> usize {
        let detail = serde_json::to_string(self).map_or(usize::MAX, |d| d.len());
        self.provider.len() + self.event_type.len() + detail
    }

    /// The event without `data`, when its entry is not under [`MAX_EVENT_ENTRY_BYTES`]: AWS's
    /// advice for larger events is to send a reference to where they are stored, and the
    /// webhook table is that place. A claim check rather than a refused publish, which would
    /// fail every attempt and end in the DLQ. `None`: the event fits as it is.
    pub fn slimmed_for_bus(&self) -> Option<Self> {
        // Rare (a payload near the limit), so the clone of its data does not matter.
        (self.entry_bytes() >= MAX_EVENT_ENTRY_BYTES).then(|| NormalisedEvent {
            data: serde_json::Value::Null,
            data_omitted: Some(serde_json::to_string(&self.data).map_or(0, |d| d.len() as u64)),
            ..self.clone()
        })
    }
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

/// An audit record as stored in the audit table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// `AUDIT#<the changed item's pk>`.
    pub pk: String,
    /// `<change time>#<stream event id>`: one item's history sorts by time.
    pub sk: String,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: String,
    /// The item's keys, plain.
    pub keys: serde_json::Value,
    /// The item before, plain, without the body: whole on REMOVE, the changed attributes on
    /// MODIFY, null on INSERT.
    pub old: serde_json::Value,
    /// The item after, plain, without the body: whole on INSERT, the changed attributes on
    /// MODIFY, null on REMOVE.
    pub new: serde_json::Value,
    /// SHA-256 (hex) of the item's body, when it has one: the body is never copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// The body's length in bytes, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// Top-level attributes whose value changed, added or went away.
    pub changed_fields: Vec<String>,
    /// When the change was made (RFC 3339).
    pub time: String,
    /// DynamoDB TTL (unix seconds): the spec's audit retention after the change.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: serde_json::Value) -> NormalisedEvent {
        NormalisedEvent {
            webhook_id: "w1".into(),
            provider: "stripe".into(),
            event_id: "evt_1".into(),
            event_type: "charge.succeeded".into(),
            object_id: Some("ch_1".into()),
            amount: None,
            currency: None,
            state: Some("succeeded".into()),
            data,
            data_omitted: None,
        }
    }

    #[test]
    fn an_event_under_eventbridges_256_kb_goes_whole() {
        assert_eq!(MAX_EVENT_ENTRY_BYTES, 262_144);
        let e = event(serde_json::json!({ "blob": "x".repeat(200 * 1024) }));
        assert!(e.slimmed_for_bus().is_none());
    }

    #[test]
    fn a_larger_event_goes_without_its_data_and_says_so() {
        let e = event(serde_json::json!({ "blob": "x".repeat(256 * 1024) }));
        let slim = e.slimmed_for_bus().expect("over the limit");
        assert_eq!(slim.data, serde_json::Value::Null);
        // {"blob":"xxx..."}: 11 bytes around the 262,144.
        assert_eq!(slim.data_omitted, Some(262_155));
        assert_eq!(
            (slim.webhook_id.as_str(), slim.state.as_deref()),
            ("w1", Some("succeeded"))
        );
        assert!(slim.entry_bytes() < 1_024);
        let detail = serde_json::to_value(&slim).unwrap();
        assert_eq!(detail["dataOmitted"], 262_155);
    }
}
