//! Recovery operations over the backends, shared by `wh reenqueue`/`wh replay` against a
//! deployed stack (AWS backends) and `wh dev` (in-memory backends): one implementation of
//! what "stuck" and "replay" mean.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::backends::{BackendError, Bus, Queue, Store};
use crate::model::{QueueMessage, Status};
use crate::normalise::{Family, normalise};

/// Webhooks by status and receipt time: the table's sparse `status-shard-index`
/// (`<STATUS>#<shard>`, received_at; [`crate::items::STATUS_INDEX`]), all shards merged.
pub trait Index: Send + Sync {
    /// Ids of webhooks in `status` received in `[from, to]` (RFC 3339 strings, compared as the
    /// index compares them), oldest first.
    fn find(
        &self,
        status: Status,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send;
}

impl<T: Index + ?Sized> Index for std::sync::Arc<T> {
    fn find(
        &self,
        status: Status,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send {
        (**self).find(status, from, to)
    }
}

/// The earliest time the index can hold: the lower bound of an open range.
pub const BEGINNING: &str = "0000";

/// The receipt time (RFC 3339) before which a webhook is older than `older_than` at `now`; the
/// start of the index when that reaches before the calendar (nothing is that old).
pub fn cutoff(now: time::OffsetDateTime, older_than: std::time::Duration) -> String {
    time::Duration::try_from(older_than)
        .ok()
        .and_then(|d| now.checked_sub(d))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| BEGINNING.to_owned())
}

/// What an operation found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Webhooks it matched.
    pub found: Vec<String>,
    /// How many it acted on (0 on a dry run).
    pub done: usize,
    /// Matched ones it left alone, with why (changed state meanwhile, other provider).
    pub skipped: Vec<(String, String)>,
}

/// Enqueues webhooks stored but never enqueued: RECEIVED since before `cutoff` (the enqueue
/// failed and the provider stopped retrying). Each is sent to the processing queue, then marked
/// ENQUEUED only if still RECEIVED; ENQUEUED and FAILED ones are never touched (the queue and
/// the DLQ redrive own them). Running it twice does no harm: the second run finds none, and a
/// message sent twice is processed once (the processor skips a PROCESSED webhook).
pub async fn reenqueue<I: Index, S: Store, Q: Queue>(
    index: &I,
    store: &S,
    queue: &Q,
    cutoff: &str,
    dry_run: bool,
) -> Result<Report, BackendError> {
    let mut report = Report {
        found: index.find(Status::Received, BEGINNING, cutoff).await?,
        ..Report::default()
    };
    if dry_run {
        return Ok(report);
    }
    for id in &report.found {
        let Some(record) = store.get(id).await? else {
            report.skipped.push((id.clone(), "no longer stored".into()));
            continue;
        };
        if record.status != Status::Received {
            report
                .skipped
                .push((id.clone(), format!("now {}", record.status)));
            continue;
        }
        queue
            .send(&QueueMessage {
                webhook_id: record.webhook_id.clone(),
                timestamp: record.received_at.clone(),
                provider: record.provider.clone(),
            })
            .await?;
        store.mark_enqueued(id).await?;
        report.done += 1;
    }
    Ok(report)
}

/// Publishes again the normalised events of webhooks PROCESSED and received in `[from, to]`
/// (of `provider` only, when given), for a consumer that was broken. The events are the ones
/// first published (same webhook id), so an idempotent consumer can tell a replay.
pub async fn replay<I: Index, S: Store, B: Bus>(
    index: &I,
    store: &S,
    bus: &B,
    families: &BTreeMap<String, Family>,
    (from, to): (&str, &str),
    provider: Option<&str>,
    dry_run: bool,
) -> Result<Report, BackendError> {
    let mut report = Report::default();
    let mut records = Vec::new();
    for id in index.find(Status::Processed, from, to).await? {
        match store.get(&id).await? {
            Some(r) if provider.is_none_or(|p| p == r.provider) => {
                report.found.push(id);
                records.push(r);
            }
            Some(_) => {}
            None => report.skipped.push((id, "expired from the table".into())),
        }
    }
    if dry_run {
        return Ok(report);
    }
    for record in records {
        let family = families
            .get(&record.provider)
            .copied()
            .unwrap_or(Family::Generic);
        match normalise(family, &record) {
            Ok(event) => {
                bus.publish(&event).await?;
                report.done += 1;
            }
            Err(e) => report.skipped.push((record.webhook_id, e.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::memory::{MemoryBus, MemoryQueue, MemoryStore};
    use crate::model::WebhookRecord;

    fn record(id: &str, provider: &str, at: &str) -> WebhookRecord {
        WebhookRecord {
            webhook_id: id.into(),
            provider: provider.into(),
            event_id: format!("evt_{id}"),
            received_at: at.into(),
            status: Status::Received,
            attempts: 0,
            last_error: None,
            body: format!(
                r#"{{"id":"evt_{id}","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_{id}"}}}}}}"#
            ),
            headers: BTreeMap::new(),
            trace_header: None,
        }
    }

    async fn store_with(records: &[WebhookRecord]) -> MemoryStore {
        let store = MemoryStore::default();
        for r in records {
            store.insert_new(r).await.unwrap();
        }
        store
    }

    #[test]
    fn a_cutoff_before_the_calendar_is_the_start_of_the_index() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        assert_eq!(
            cutoff(now, std::time::Duration::from_secs(60)),
            "2026-11-18T11:05:40Z"
        );
        assert_eq!(
            cutoff(now, std::time::Duration::from_secs(u64::MAX / 2)),
            BEGINNING
        );
    }

    #[tokio::test]
    async fn only_old_received_webhooks_are_enqueued_and_only_once() {
        let store = store_with(&[
            record("old", "stripe", "2026-11-23T10:00:00Z"),
            record("new", "stripe", "2026-11-23T10:20:00Z"),
            record("queued", "stripe", "2026-11-23T09:00:00Z"),
        ])
        .await;
        store.mark_enqueued("queued").await.unwrap();
        let queue = MemoryQueue::default();
        let cutoff = "2026-11-23T10:05:00Z";

        let dry = reenqueue(&store, &store, &queue, cutoff, true)
            .await
            .unwrap();
        assert_eq!(dry.found, ["old"]);
        assert_eq!(dry.done, 0);
        assert!(queue.drain().is_empty());

        let done = reenqueue(&store, &store, &queue, cutoff, false)
            .await
            .unwrap();
        assert_eq!(done.done, 1);
        let sent = queue.drain();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].webhook_id, "old");
        assert_eq!(
            store.get("old").await.unwrap().unwrap().status,
            Status::Enqueued
        );

        let again = reenqueue(&store, &store, &queue, cutoff, false)
            .await
            .unwrap();
        assert!(again.found.is_empty() && again.done == 0);
        assert!(queue.drain().is_empty());
    }

    #[tokio::test]
    async fn replay_publishes_processed_events_in_the_range_of_one_provider() {
        let store = store_with(&[
            record("a", "stripe", "2026-11-23T10:00:00Z"),
            record("b", "stripe", "2026-11-23T11:00:00Z"),
            record("c", "github", "2026-11-23T10:30:00Z"),
            record("d", "stripe", "2026-11-23T10:40:00Z"),
        ])
        .await;
        for id in ["a", "b", "c"] {
            store.mark_processed(id, 1, 0).await.unwrap();
        }
        let bus = MemoryBus::default();
        let families = BTreeMap::from([("stripe".to_owned(), Family::Stripe)]);
        let range = ("2026-11-23T09:30:00Z", "2026-11-23T10:45:00Z");
        let r = replay(
            &store,
            &store,
            &bus,
            &families,
            range,
            Some("stripe"),
            false,
        )
        .await
        .unwrap();
        // b is outside the range, c is another provider's, d was never processed.
        assert_eq!(r.found, ["a"]);
        assert_eq!(r.done, 1);
        let events = bus.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].webhook_id, "a");
        assert_eq!(events[0].event_type, "payment_intent.succeeded");
    }
}
