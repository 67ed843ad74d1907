//! The webhook table's item layout, shared by the DynamoDB backend and `wh dev`'s change feed:
//! a webhook is `pk = WEBHOOK#<id>`, `sk = WEBHOOK` with the fields of [`WebhookRecord`]; a
//! payment object's state is `pk = PAYMENT#<provider>#<object id>`, `sk = STATE`.

use serde::{Deserialize, Serialize};

use crate::model::{PaymentState, Status, WebhookRecord};

/// The webhook table's index of webhooks by status and receipt time (sparse: only webhook
/// items carry its key).
pub const STATUS_INDEX: &str = "status-shard-index";

/// Shards of each status in [`STATUS_INDEX`]. An index keyed on the status alone puts every
/// `RECEIVED` webhook in one partition, which takes "up to 1,000 write request units per
/// second"
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html>),
/// and a webhook's moves (into `RECEIVED`, out to `ENQUEUED`, out to `PROCESSED`) write each
/// key twice: one partition throttles at about 500 webhooks/s, and an index that falls behind
/// throttles the base table's writes ("GSI write throttling and back pressure"). The key is
/// therefore `<STATUS>#<shard>`, the shard taken from the webhook id (uniform: a SHA-256
/// prefix). 32 shards keep each key at `2 x 10,000 / 32 = 625` writes/s at the highest rate a
/// spec may ask (10,000/s), so one count serves every spec and a changed rate never strands
/// items in shards a reader does not ask; readers query all 32 (`wh status`, `wh reenqueue`,
/// `wh replay`, the soak's after-check).
pub const STATUS_SHARDS: u32 = 32;

/// The shard of a webhook, from its id's first two hex digits.
pub fn shard_of(webhook_id: &str) -> u32 {
    webhook_id
        .get(..2)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0)
        % STATUS_SHARDS
}

/// The index key of a webhook in `status`: `RECEIVED#07`.
pub fn status_shard(webhook_id: &str, status: Status) -> String {
    status_key(status, shard_of(webhook_id))
}

/// The index key of `status`'s shard `shard`.
pub fn status_key(status: Status, shard: u32) -> String {
    format!("{}#{shard:02}", status.as_str())
}

/// The partition key of a webhook's item: `WEBHOOK#<id>`.
pub fn webhook_pk(webhook_id: &str) -> String {
    format!("WEBHOOK#{webhook_id}")
}

/// A webhook as stored. Generic over how the record is held so the one layout both reads an
/// owned record back (`WebhookItem`) and writes a borrowed one (`WebhookItem<&WebhookRecord>`)
/// without copying its body first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookItem<R = WebhookRecord> {
    /// `WEBHOOK#<id>`.
    pub pk: String,
    /// `WEBHOOK`.
    pub sk: String,
    /// The record.
    #[serde(flatten)]
    pub record: R,
    /// [`STATUS_INDEX`]'s key: the status and the webhook's shard.
    #[serde(default)]
    pub status_shard: String,
    /// DynamoDB TTL, once processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl<R: std::borrow::Borrow<WebhookRecord>> WebhookItem<R> {
    /// The item of `record`.
    pub fn new(record: R, expires_at: Option<i64>) -> Self {
        let r = record.borrow();
        WebhookItem {
            pk: webhook_pk(&r.webhook_id),
            sk: "WEBHOOK".into(),
            status_shard: status_shard(&r.webhook_id, r.status),
            record,
            expires_at,
        }
    }
}

/// A payment object's state as stored.
#[derive(Clone, Debug, Serialize)]
pub struct StateItem<'a> {
    /// `PAYMENT#<provider>#<object id>`.
    pub pk: String,
    /// `STATE`.
    pub sk: &'static str,
    /// The state.
    #[serde(flatten)]
    pub state: &'a PaymentState,
}

impl<'a> StateItem<'a> {
    /// The item of `state`.
    pub fn new(state: &'a PaymentState) -> Self {
        StateItem {
            pk: format!("PAYMENT#{}#{}", state.provider, state.object_id),
            sk: "STATE",
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_comes_from_the_ids_first_byte() {
        assert_eq!(status_shard("07ab", Status::Received), "RECEIVED#07");
        assert_eq!(
            status_shard("ff00", Status::Enqueued),
            "ENQUEUED#31",
            "255 % 32"
        );
        assert_eq!(
            status_shard("20ff", Status::Processed),
            "PROCESSED#00",
            "32 % 32"
        );
        // Two writes per webhook per key at the highest rate a spec may ask, 10,000/s: 625 a
        // second per shard, under a partition's 1,000.
        assert_eq!(2 * 10_000 / STATUS_SHARDS, 625);
    }
}
