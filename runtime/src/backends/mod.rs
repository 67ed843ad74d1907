//! What the handlers need from the outside world, as small traits with two implementations:
//! [`memory`] (tests and `wh dev`) and AWS (the deployed functions).

#[cfg(feature = "aws")]
pub mod aws;
pub mod cache;
pub mod memory;

use std::future::Future;

use crate::model::{AuditRecord, NormalisedEvent, PaymentState, QueueMessage, WebhookRecord};
use crate::secret::SecretValue;

/// A backend call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The service could not be reached or refused the call; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// The named thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

/// The webhook table.
pub trait Store: Send + Sync {
    /// Stores `record` unless a webhook with its id exists (a conditional write, so two
    /// deliveries racing on different instances store it once); returns the existing one.
    fn insert_new(
        &self,
        record: &WebhookRecord,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, BackendError>> + Send;
    /// A stored webhook.
    fn get(
        &self,
        webhook_id: &str,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, BackendError>> + Send;
    /// RECEIVED or ENQUEUED -> ENQUEUED, sent to the queue at `at` (RFC 3339: `enqueued_at`);
    /// a PROCESSED or FAILED webhook is left as it is.
    fn mark_enqueued(
        &self,
        webhook_id: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// FAILED -> RECEIVED with its attempts reset and its last error cleared, for a
    /// redelivery of a webhook that failed every attempt; returns whether it was FAILED.
    fn reopen_failed(
        &self,
        webhook_id: &str,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// -> PROCESSED with a TTL, unless already processed; returns whether this call did it.
    fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Records a failed attempt; on the last allowed one the webhook becomes FAILED.
    fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Sets a payment object's state if it ranks above the stored one (a conditional write, so
    /// out-of-order events never move it backwards); returns whether it did.
    fn advance_state(
        &self,
        state: &PaymentState,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
}

/// The processing queue.
pub trait Queue: Send + Sync {
    /// Enqueues a message.
    fn send(&self, message: &QueueMessage)
    -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The event bus.
pub trait Bus: Send + Sync {
    /// Publishes a normalised event.
    fn publish(
        &self,
        event: &NormalisedEvent,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The alert topic.
pub trait Notifier: Send + Sync {
    /// Publishes an alert.
    fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The audit table.
pub trait AuditSink: Send + Sync {
    /// Persists an audit record (taken: a sink that keeps it keeps it without a copy).
    fn write(&self, record: AuditRecord) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// Where signing secrets are read.
pub trait Secrets: Send + Sync {
    /// The provider's stored secret value.
    fn get(&self, provider: &str)
    -> impl Future<Output = Result<SecretValue, BackendError>> + Send;

    /// After a signature failed against [`get`](Secrets::get)'s value: the value read anew if
    /// it may have changed since, `None` when there is nothing newer to try (a backend without
    /// a cache always answers with the stored value, so `None`).
    fn refresh(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<Option<SecretValue>, BackendError>> + Send {
        let _ = provider;
        std::future::ready(Ok(None))
    }
}

// Shared backends: `wh dev` hands one store to the receiver, the processor and its own views.
impl<T: Store + ?Sized> Store for std::sync::Arc<T> {
    fn insert_new(
        &self,
        record: &WebhookRecord,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, BackendError>> + Send {
        (**self).insert_new(record)
    }
    fn get(
        &self,
        webhook_id: &str,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, BackendError>> + Send {
        (**self).get(webhook_id)
    }
    fn mark_enqueued(
        &self,
        webhook_id: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).mark_enqueued(webhook_id, at)
    }
    fn reopen_failed(
        &self,
        webhook_id: &str,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).reopen_failed(webhook_id)
    }
    fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).mark_processed(webhook_id, attempts, expires_at)
    }
    fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).record_failure(webhook_id, attempts, error, last_attempt)
    }
    fn advance_state(
        &self,
        state: &PaymentState,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).advance_state(state)
    }
}

impl<T: Queue + ?Sized> Queue for std::sync::Arc<T> {
    fn send(
        &self,
        message: &QueueMessage,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).send(message)
    }
}

impl<T: Bus + ?Sized> Bus for std::sync::Arc<T> {
    fn publish(
        &self,
        event: &NormalisedEvent,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).publish(event)
    }
}

impl<T: Notifier + ?Sized> Notifier for std::sync::Arc<T> {
    fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).notify(subject, message)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for std::sync::Arc<T> {
    fn write(&self, record: AuditRecord) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).write(record)
    }
}

impl<T: Secrets + ?Sized> Secrets for std::sync::Arc<T> {
    fn get(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<SecretValue, BackendError>> + Send {
        (**self).get(provider)
    }

    fn refresh(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<Option<SecretValue>, BackendError>> + Send {
        (**self).refresh(provider)
    }
}
