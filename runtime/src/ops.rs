//! Recovery operations over the backends, shared by `wh reenqueue`/`wh replay` against a
//! deployed stack (AWS backends) and `wh dev` (in-memory backends): one implementation of
//! what "stuck" and "replay" mean.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::backends::{BackendError, Bus, Queue, Store};
use crate::model::{QueueMessage, Status, WebhookRecord};
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

/// How long after its first enqueue a webhook's message may still exist: the longer of the
/// processing queue's and the DLQ's retention. For standard queues "the expiration of a message
/// is always based on its original enqueue timestamp. When a message is moved to a dead-letter
/// queue, the enqueue timestamp is unchanged"
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html>).
pub fn message_lifetime(queue_secs: u64, dlq_secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(queue_secs.max(dlq_secs))
}

/// What [`reenqueue`] looks for (RFC 3339 bounds, compared as the index compares them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// RECEIVED before this: stored, never enqueued (the enqueue failed and the provider
    /// stopped retrying).
    pub received_before: String,
    /// ENQUEUED or FAILED, last sent to the queue (`enqueued_at`, else `received_at` for a
    /// webhook stored before that field) before this: no message of theirs is left in the queue
    /// or the DLQ ([`message_lifetime`]). ENQUEUED: its receives went to the DLQ without the
    /// processor running (throttled), and the DLQ's retention ran out; FAILED: it failed every
    /// attempt and its DLQ message expired before anyone redrove it. `None` leaves them to the
    /// queues and `wh redrive`.
    pub sent_before: Option<String>,
    /// The time recorded as their new `enqueued_at`.
    pub now: String,
}

impl Stuck {
    /// The bounds at `now`: RECEIVED longer than `older_than` ago, last enqueued longer than
    /// `lost_after` ago.
    pub fn at(
        now: time::OffsetDateTime,
        older_than: std::time::Duration,
        lost_after: std::time::Duration,
    ) -> Self {
        Stuck {
            received_before: cutoff(now, older_than),
            sent_before: Some(cutoff(now, lost_after)),
            now: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// Why a webhook is stuck, if it is by `stuck`'s bounds (`record` from the table).
fn stuck_because(stuck: &Stuck, record: &WebhookRecord) -> Option<&'static str> {
    let sent_at = record.enqueued_at.as_deref().unwrap_or(&record.received_at);
    let gone = stuck
        .sent_before
        .as_deref()
        .is_some_and(|before| sent_at < before);
    match record.status {
        Status::Received if record.received_at.as_str() < stuck.received_before.as_str() => {
            Some("never enqueued")
        }
        Status::Enqueued if gone => Some("enqueued, its message expired"),
        Status::Failed if gone => Some("failed, its DLQ message expired"),
        _ => None,
    }
}

/// Enqueues stuck webhooks (see [`Stuck`]): each is sent to the processing queue and marked
/// ENQUEUED at `stuck.now` (a FAILED one first reopened: RECEIVED, attempts reset), unless it
/// moved on meanwhile. Webhooks whose message may still exist are never touched: the queue and
/// `wh redrive` own them. Running it twice does no harm: the second run finds none, and a
/// message sent twice is processed once (the processor skips a PROCESSED webhook).
pub async fn reenqueue<I: Index, S: Store, Q: Queue>(
    index: &I,
    store: &S,
    queue: &Q,
    stuck: &Stuck,
    dry_run: bool,
) -> Result<Report, BackendError> {
    let mut candidates = index
        .find(Status::Received, BEGINNING, &stuck.received_before)
        .await?;
    if let Some(before) = &stuck.sent_before {
        // Sent after it was received, so sent before `before` means received before it too.
        for status in [Status::Enqueued, Status::Failed] {
            candidates.extend(index.find(status, BEGINNING, before).await?);
        }
    }
    let mut report = Report::default();
    let mut records = Vec::new();
    for id in candidates {
        match store.get(&id).await? {
            Some(r) if stuck_because(stuck, &r).is_some() => {
                report.found.push(id);
                records.push(r);
            }
            Some(_) => {}
            None => report.skipped.push((id, "no longer stored".into())),
        }
    }
    if dry_run {
        return Ok(report);
    }
    for listed in records {
        let id = &listed.webhook_id;
        // Read again: the receiver or the processor may have moved it since the listing.
        let Some(record) = store.get(id).await? else {
            report.skipped.push((id.clone(), "no longer stored".into()));
            continue;
        };
        if stuck_because(stuck, &record).is_none() {
            report
                .skipped
                .push((id.clone(), format!("now {}", record.status)));
            continue;
        }
        if record.status == Status::Failed && !store.reopen_failed(id).await? {
            report.skipped.push((id.clone(), "no longer FAILED".into()));
            continue;
        }
        queue
            .send(&QueueMessage {
                webhook_id: record.webhook_id.clone(),
                timestamp: record.received_at.clone(),
                provider: record.provider.clone(),
            })
            .await?;
        store.mark_enqueued(id, &stuck.now).await?;
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
            enqueued_at: None,
            fetched_from: None,
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

    fn bounds(sent_before: Option<&str>) -> Stuck {
        Stuck {
            received_before: "2026-11-23T10:05:00Z".into(),
            sent_before: sent_before.map(str::to_owned),
            now: "2026-11-23T10:20:00Z".into(),
        }
    }

    #[tokio::test]
    async fn only_old_received_webhooks_are_enqueued_and_only_once() {
        let store = store_with(&[
            record("old", "stripe", "2026-11-23T10:00:00Z"),
            record("new", "stripe", "2026-11-23T10:20:00Z"),
            record("queued", "stripe", "2026-11-23T09:00:00Z"),
        ])
        .await;
        store
            .mark_enqueued("queued", "2026-11-23T09:00:01Z")
            .await
            .unwrap();
        let queue = MemoryQueue::default();
        let stuck = bounds(None);

        let dry = reenqueue(&store, &store, &queue, &stuck, true)
            .await
            .unwrap();
        assert_eq!(dry.found, ["old"]);
        assert_eq!(dry.done, 0);
        assert!(queue.drain().is_empty());

        let done = reenqueue(&store, &store, &queue, &stuck, false)
            .await
            .unwrap();
        assert_eq!(done.done, 1);
        let sent = queue.drain();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].webhook_id, "old");
        let old = store.get("old").await.unwrap().unwrap();
        assert_eq!(
            (old.status, old.enqueued_at.as_deref()),
            (Status::Enqueued, Some("2026-11-23T10:20:00Z"))
        );

        let again = reenqueue(&store, &store, &queue, &stuck, false)
            .await
            .unwrap();
        assert!(again.found.is_empty() && again.done == 0);
        assert!(queue.drain().is_empty());
    }

    #[tokio::test]
    async fn enqueued_and_failed_webhooks_whose_message_expired_are_enqueued_again() {
        // A 4-day queue and a 14-day DLQ: a message lives 14 days from its first enqueue.
        assert_eq!(message_lifetime(345_600, 1_209_600).as_secs(), 1_209_600);
        let store = store_with(&[
            record("lost", "stripe", "2026-11-01T10:00:00Z"),
            record("dead", "stripe", "2026-11-01T11:00:00Z"),
            record("redriven", "stripe", "2026-11-01T12:00:00Z"),
            record("recent", "stripe", "2026-11-20T10:00:00Z"),
            record("legacy", "stripe", "2026-11-02T10:00:00Z"),
        ])
        .await;
        store
            .mark_enqueued("lost", "2026-11-01T10:00:01Z")
            .await
            .unwrap();
        store
            .mark_enqueued("dead", "2026-11-01T11:00:01Z")
            .await
            .unwrap();
        store.record_failure("dead", 5, "boom", true).await.unwrap();
        // Received long ago, enqueued again lately: its message may still be in the DLQ.
        store
            .mark_enqueued("redriven", "2026-11-20T09:00:00Z")
            .await
            .unwrap();
        store
            .record_failure("redriven", 5, "boom", true)
            .await
            .unwrap();
        store
            .mark_enqueued("recent", "2026-11-20T10:00:01Z")
            .await
            .unwrap();
        store
            .record_failure("recent", 5, "boom", true)
            .await
            .unwrap();
        // Stored before enqueued_at existed: its receipt time stands in.
        store.mark_enqueued("legacy", "x").await.unwrap();
        {
            let mut r = store.get("legacy").await.unwrap().unwrap();
            r.enqueued_at = None;
            store.remove("legacy");
            store.insert_new(&r).await.unwrap();
        }
        let queue = MemoryQueue::default();
        let stuck = bounds(Some("2026-11-09T10:20:00Z"));

        let mut dry = reenqueue(&store, &store, &queue, &stuck, true)
            .await
            .unwrap();
        dry.found.sort();
        assert_eq!(dry.found, ["dead", "legacy", "lost"]);
        assert_eq!(
            reenqueue(&store, &store, &queue, &bounds(None), true)
                .await
                .unwrap()
                .found,
            Vec::<String>::new(),
            "without a bound they are left to the queues"
        );

        let done = reenqueue(&store, &store, &queue, &stuck, false)
            .await
            .unwrap();
        assert_eq!(done.done, 3);
        let mut sent: Vec<String> = queue.drain().into_iter().map(|m| m.webhook_id).collect();
        sent.sort();
        assert_eq!(sent, ["dead", "legacy", "lost"]);
        let dead = store.get("dead").await.unwrap().unwrap();
        assert_eq!(
            (
                dead.status,
                dead.attempts,
                dead.last_error,
                dead.enqueued_at.as_deref()
            ),
            (Status::Enqueued, 0, None, Some("2026-11-23T10:20:00Z")),
            "reopened: a fresh set of attempts"
        );
        for kept in ["redriven", "recent"] {
            assert_eq!(
                store.get(kept).await.unwrap().unwrap().status,
                Status::Failed
            );
        }
        let again = reenqueue(&store, &store, &queue, &stuck, false)
            .await
            .unwrap();
        assert!(again.found.is_empty(), "{again:?}");
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
