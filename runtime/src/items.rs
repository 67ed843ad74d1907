//! The webhook table's item layout, shared by the DynamoDB backend and `wh dev`'s change feed:
//! a webhook is `pk = WEBHOOK#<id>`, `sk = WEBHOOK` with the fields of [`WebhookRecord`]; a
//! payment object's state is `pk = PAYMENT#<provider>#<object id>`, `sk = STATE`.

use serde::{Deserialize, Serialize};

use crate::model::{PaymentState, WebhookRecord};

/// A webhook as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookItem {
    /// `WEBHOOK#<id>`.
    pub pk: String,
    /// `WEBHOOK`.
    pub sk: String,
    /// The record.
    #[serde(flatten)]
    pub record: WebhookRecord,
    /// DynamoDB TTL, once processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl WebhookItem {
    /// The item of `record`.
    pub fn new(record: WebhookRecord, expires_at: Option<i64>) -> Self {
        WebhookItem {
            pk: format!("WEBHOOK#{}", record.webhook_id),
            sk: "WEBHOOK".into(),
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
