//! The processor: queue batches -> normalised events on the bus, payment state, alerts.
//!
//! Failures are reported per message, so one bad message never re-runs its neighbours; on its
//! last allowed attempt a failing webhook is marked FAILED, and the queue moves it to the DLQ.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::backends::{Bus, Notifier, Store};
use crate::model::{PaymentState, QueueMessage, Status};
use crate::normalise::{Family, normalise, state_of};

/// The processor's behaviour, baked into the generated crate.
#[derive(Clone, Debug, Default)]
pub struct ProcessorConfig {
    /// Each provider's payload family.
    pub families: BTreeMap<String, Family>,
    /// Event types also published to the alert topic.
    pub critical_events: Vec<String>,
    /// How long a processed webhook stays in the table (DynamoDB TTL).
    pub processed_ttl_secs: i64,
    /// Receives before the queue moves a message to the DLQ.
    pub max_receive_count: u32,
}

/// One received queue message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The queue's message id (reported back on failure).
    pub message_id: String,
    /// The body: a [`QueueMessage`].
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// The processor with its backends.
pub struct Processor<S, B, N> {
    config: ProcessorConfig,
    store: S,
    bus: B,
    notifier: N,
}

impl<S: Store, B: Bus, N: Notifier> Processor<S, B, N> {
    /// A processor over the given backends.
    pub fn new(config: ProcessorConfig, store: S, bus: B, notifier: N) -> Self {
        Processor {
            config,
            store,
            bus,
            notifier,
        }
    }

    /// The backends, for inspection.
    pub fn backends(&self) -> (&S, &B, &N) {
        (&self.store, &self.bus, &self.notifier)
    }

    /// Processes a batch; returns the ids of the messages that failed (`batchItemFailures`).
    pub async fn handle_batch(&self, messages: &[Message], now: OffsetDateTime) -> Vec<String> {
        let mut failed = Vec::new();
        for message in messages {
            if let Err(error) = self.handle_one(message, now).await {
                failed.push(message.message_id.clone());
                let last = message.receive_count >= self.config.max_receive_count;
                tracing::error!(message_id = %message.message_id, receive_count = message.receive_count, last_attempt = last, %error, "processing failed");
                if let Ok(q) = serde_json::from_str::<QueueMessage>(&message.body)
                    && let Err(e) = self
                        .store
                        .record_failure(&q.webhook_id, message.receive_count, &error, last)
                        .await
                {
                    tracing::error!(webhook_id = %q.webhook_id, error = %e, "could not record the failure");
                }
            }
        }
        failed
    }

    async fn handle_one(&self, message: &Message, now: OffsetDateTime) -> Result<(), String> {
        let q: QueueMessage =
            serde_json::from_str(&message.body).map_err(|e| format!("not a queue message: {e}"))?;
        let record = self
            .store
            .get(&q.webhook_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("webhook {} is not stored", q.webhook_id))?;
        if record.status == Status::Processed {
            tracing::info!(webhook_id = %q.webhook_id, "already processed; skipped");
            return Ok(());
        }
        let family = self
            .config
            .families
            .get(&record.provider)
            .copied()
            .unwrap_or(Family::Generic);
        let event = normalise(family, &record).map_err(|e| e.to_string())?;
        let slim = event.slimmed_for_bus();
        if let Some(s) = &slim {
            tracing::warn!(webhook_id = %q.webhook_id, bytes = s.data_omitted, "event over EventBridge's entry limit: published without its data");
        }
        self.bus
            .publish(slim.as_ref().unwrap_or(&event))
            .await
            .map_err(|e| format!("publish: {e}"))?;

        if let (Some(object_id), Some((state, rank))) = (
            &event.object_id,
            state_of(family, &event.event_type, &event.data),
        ) {
            let advanced = self
                .store
                .advance_state(&PaymentState {
                    provider: record.provider.clone(),
                    object_id: object_id.clone(),
                    state: state.to_owned(),
                    rank,
                    event_id: record.event_id.clone(),
                })
                .await
                .map_err(|e| format!("payment state: {e}"))?;
            if !advanced {
                tracing::info!(webhook_id = %q.webhook_id, object_id, state, "older than the stored state; state kept");
            }
        }
        if self.config.critical_events.contains(&event.event_type) {
            let subject = format!("{}: {}", record.provider, event.event_type);
            let body = serde_json::to_string_pretty(&serde_json::json!({
                "webhookId": event.webhook_id,
                "provider": event.provider,
                "eventType": event.event_type,
                "objectId": event.object_id,
                "amount": event.amount,
                "currency": event.currency,
            }))
            .unwrap_or_default();
            self.notifier
                .notify(&subject, &body)
                .await
                .map_err(|e| format!("alert: {e}"))?;
        }
        let expires_at = now
            .unix_timestamp()
            .saturating_add(self.config.processed_ttl_secs);
        self.store
            .mark_processed(&q.webhook_id, message.receive_count, expires_at)
            .await
            .map_err(|e| format!("mark processed: {e}"))?;
        tracing::info!(webhook_id = %q.webhook_id, event_type = %event.event_type, "processed");
        Ok(())
    }
}
