//! The table's change feed on loopback: the store tells the audit logger about every change,
//! with old and new images in DynamoDB's item layout, as the stream does.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use wh_runtime::audit::StreamChange;
use wh_runtime::backends::memory::MemoryStore;
use wh_runtime::backends::{BackendError, Store};
use wh_runtime::items::{StateItem, WebhookItem};
use wh_runtime::model::{PaymentState, WebhookRecord};
use wh_runtime::serde_dynamo;

/// [`MemoryStore`] with a change feed.
#[derive(Debug)]
pub struct FeedStore {
    /// The store itself, for status views.
    pub inner: Arc<MemoryStore>,
    feed: UnboundedSender<StreamChange>,
    clock: super::Clock,
}

impl FeedStore {
    /// A store sending its changes to `feed`.
    pub fn new(
        inner: Arc<MemoryStore>,
        feed: UnboundedSender<StreamChange>,
        clock: super::Clock,
    ) -> Self {
        FeedStore { inner, feed, clock }
    }

    fn emit(&self, pk: String, old: Option<serde_dynamo::Item>, new: Option<serde_dynamo::Item>) {
        if old == new {
            return;
        }
        let keys = [("pk".to_owned(), serde_dynamo::AttributeValue::S(pk.clone()))];
        let sequence = format!("{:020}", self.clock.unix_nanos());
        let change = StreamChange {
            event_id: sequence.clone(),
            sequence_number: sequence,
            event_name: match (&old, &new) {
                (None, _) => "INSERT",
                (_, None) => "REMOVE",
                _ => "MODIFY",
            }
            .into(),
            changed_at: self.clock.unix_secs(),
            keys: serde_dynamo::Item::from(std::collections::HashMap::from(keys)),
            old,
            new,
        };
        let _ = self.feed.send(change);
    }

    fn image(record: Option<WebhookRecord>) -> Option<serde_dynamo::Item> {
        record.and_then(|r| serde_dynamo::to_item(WebhookItem::new(r, None)).ok())
    }

    async fn track<T>(
        &self,
        webhook_id: &str,
        op: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let old = self.inner.get(webhook_id).await?;
        let result = op.await?;
        let new = self.inner.get(webhook_id).await?;
        self.emit(
            format!("WEBHOOK#{webhook_id}"),
            Self::image(old),
            Self::image(new),
        );
        Ok(result)
    }
}

impl Store for FeedStore {
    async fn insert_new(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<WebhookRecord>, BackendError> {
        self.track(&record.webhook_id, self.inner.insert_new(record))
            .await
    }
    async fn get(&self, webhook_id: &str) -> Result<Option<WebhookRecord>, BackendError> {
        self.inner.get(webhook_id).await
    }
    async fn mark_enqueued(&self, webhook_id: &str, at: &str) -> Result<(), BackendError> {
        self.track(webhook_id, self.inner.mark_enqueued(webhook_id, at))
            .await
    }
    async fn reopen_failed(&self, webhook_id: &str) -> Result<bool, BackendError> {
        self.track(webhook_id, self.inner.reopen_failed(webhook_id))
            .await
    }
    async fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> Result<bool, BackendError> {
        self.track(
            webhook_id,
            self.inner.mark_processed(webhook_id, attempts, expires_at),
        )
        .await
    }
    async fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> Result<(), BackendError> {
        self.track(
            webhook_id,
            self.inner
                .record_failure(webhook_id, attempts, error, last_attempt),
        )
        .await
    }
    async fn advance_state(&self, state: &PaymentState) -> Result<bool, BackendError> {
        let old = self.inner.state(&state.provider, &state.object_id);
        let advanced = self.inner.advance_state(state).await?;
        if advanced {
            let image = |s: &PaymentState| serde_dynamo::to_item(StateItem::new(s)).ok();
            self.emit(
                format!("PAYMENT#{}#{}", state.provider, state.object_id),
                old.as_ref().and_then(image),
                image(state),
            );
        }
        Ok(advanced)
    }
}
