//! In-memory backends: the same semantics as the AWS ones (conditional writes included), for
//! tests and `wh dev`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{AuditSink, BackendError, Bus, Notifier, Queue, Secrets, Store};
use crate::audit::AuditRecord;
use crate::model::{NormalisedEvent, PaymentState, QueueMessage, Status, WebhookRecord};
use crate::secret::SecretValue;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the whole dev server down with a poisoned lock.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl crate::ops::Index for MemoryStore {
    async fn find(
        &self,
        status: Status,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, BackendError> {
        let mut found: Vec<(String, String)> = lock(&self.webhooks)
            .values()
            .filter(|(r, _)| r.status == status && (from..=to).contains(&r.received_at.as_str()))
            .map(|(r, _)| (r.received_at.clone(), r.webhook_id.clone()))
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }
}

/// The webhook table in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    webhooks: Mutex<BTreeMap<String, (WebhookRecord, Option<i64>)>>,
    states: Mutex<BTreeMap<(String, String), PaymentState>>,
}

impl MemoryStore {
    /// Every stored webhook, in id order.
    pub fn webhooks(&self) -> Vec<WebhookRecord> {
        lock(&self.webhooks)
            .values()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// A payment object's latest state.
    pub fn state(&self, provider: &str, object_id: &str) -> Option<PaymentState> {
        lock(&self.states)
            .get(&(provider.to_owned(), object_id.to_owned()))
            .cloned()
    }
}

impl Store for MemoryStore {
    async fn insert_new(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<WebhookRecord>, BackendError> {
        let mut map = lock(&self.webhooks);
        if let Some((existing, _)) = map.get(&record.webhook_id) {
            return Ok(Some(existing.clone()));
        }
        map.insert(record.webhook_id.clone(), (record.clone(), None));
        Ok(None)
    }

    async fn get(&self, webhook_id: &str) -> Result<Option<WebhookRecord>, BackendError> {
        Ok(lock(&self.webhooks).get(webhook_id).map(|(r, _)| r.clone()))
    }

    async fn mark_enqueued(&self, webhook_id: &str) -> Result<(), BackendError> {
        let mut map = lock(&self.webhooks);
        let (record, _) = map
            .get_mut(webhook_id)
            .ok_or_else(|| BackendError::NotFound(webhook_id.into()))?;
        if record.status == Status::Received {
            record.status = Status::Enqueued;
        }
        Ok(())
    }

    async fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> Result<bool, BackendError> {
        let mut map = lock(&self.webhooks);
        let (record, ttl) = map
            .get_mut(webhook_id)
            .ok_or_else(|| BackendError::NotFound(webhook_id.into()))?;
        if record.status == Status::Processed {
            return Ok(false);
        }
        record.status = Status::Processed;
        record.attempts = attempts;
        record.last_error = None;
        *ttl = Some(expires_at);
        Ok(true)
    }

    async fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> Result<(), BackendError> {
        let mut map = lock(&self.webhooks);
        let (record, _) = map
            .get_mut(webhook_id)
            .ok_or_else(|| BackendError::NotFound(webhook_id.into()))?;
        if record.status == Status::Processed {
            return Ok(());
        }
        record.attempts = attempts;
        record.last_error = Some(error.to_owned());
        if last_attempt {
            record.status = Status::Failed;
        }
        Ok(())
    }

    async fn advance_state(&self, state: &PaymentState) -> Result<bool, BackendError> {
        let mut map = lock(&self.states);
        let key = (state.provider.clone(), state.object_id.clone());
        match map.get(&key) {
            Some(current) if current.rank >= state.rank => Ok(false),
            _ => {
                map.insert(key, state.clone());
                Ok(true)
            }
        }
    }
}

/// A queue that keeps what was sent (the dev server drains it).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<QueueMessage>>,
}

impl MemoryQueue {
    /// Takes every message sent so far.
    pub fn drain(&self) -> Vec<QueueMessage> {
        std::mem::take(&mut *lock(&self.sent))
    }
}

impl Queue for MemoryQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        lock(&self.sent).push(message.clone());
        Ok(())
    }
}

/// A bus that records what was published.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<NormalisedEvent>>,
}

impl MemoryBus {
    /// Everything published so far.
    pub fn events(&self) -> Vec<NormalisedEvent> {
        lock(&self.events).clone()
    }
}

impl Bus for MemoryBus {
    async fn publish(&self, event: &NormalisedEvent) -> Result<(), BackendError> {
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// An alert topic that records what was published.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    alerts: Mutex<Vec<(String, String)>>,
}

impl MemoryNotifier {
    /// Every alert so far, as (subject, message).
    pub fn alerts(&self) -> Vec<(String, String)> {
        lock(&self.alerts).clone()
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), BackendError> {
        lock(&self.alerts).push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}

/// An audit table in memory.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryAudit {
    /// Every audit record so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        lock(&self.records).clone()
    }
}

impl AuditSink for MemoryAudit {
    async fn write(&self, record: &AuditRecord) -> Result<(), BackendError> {
        lock(&self.records).push(record.clone());
        Ok(())
    }
}

/// Signing secrets by provider.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    values: Mutex<BTreeMap<String, SecretValue>>,
}

impl MemorySecrets {
    /// Sets a provider's secret value.
    pub fn set(&self, provider: &str, value: SecretValue) {
        lock(&self.values).insert(provider.to_owned(), value);
    }

    /// Every provider's value, by provider.
    pub fn all(&self) -> BTreeMap<String, SecretValue> {
        lock(&self.values).clone()
    }
}

impl Secrets for MemorySecrets {
    async fn get(&self, provider: &str) -> Result<SecretValue, BackendError> {
        lock(&self.values)
            .get(provider)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(format!("secret of {provider}")))
    }
}
