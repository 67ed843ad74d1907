//! In-memory backends: the same semantics as the AWS ones (conditional writes included), for
//! tests and `wh dev`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use super::{AuditSink, BackendError, Bus, Notifier, Queue, Secrets, Store};
use crate::audit::Image;
use crate::items::{StateItem, WebhookItem, webhook_pk};
use crate::model::AuditRecord;
use crate::model::{NormalisedEvent, PaymentState, QueueMessage, Status, WebhookRecord};
use crate::secret::SecretValue;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the whole dev server down with a poisoned lock.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A record of what was written, keeping the newest `cap` entries and counting all of them:
/// `wh dev` bounds its memory with it on long runs; tests keep everything (the default).
#[derive(Debug)]
struct Kept<T> {
    items: VecDeque<T>,
    total: usize,
    cap: usize,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept::bounded(usize::MAX)
    }
}

impl<T> Kept<T> {
    fn bounded(cap: usize) -> Self {
        Kept {
            items: VecDeque::new(),
            total: 0,
            cap,
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.total += 1;
    }
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

/// Where a table with a stream sends each write, as DynamoDB Streams does with the
/// `NEW_AND_OLD_IMAGES` view: the item's key and its images before and after (`None` where the
/// item did not exist). A write that leaves the item as it was sends nothing.
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// The item `pk` changed from `old` to `new`.
    fn changed(&self, pk: String, old: Option<Image>, new: Option<Image>);
}

/// A stored webhook and its TTL (set once processed).
type Entry = (WebhookRecord, Option<i64>);

/// The webhook table in memory. A tree, not a hash map: it holds every webhook of a long run,
/// and a hash map's table of whole entries, doubled at each resize with both copies alive,
/// peaked at 466 MiB in a 60 s one-core run where the tree peaked at 368 MiB (with more
/// webhooks), for no measurable speed (docs/testing.md, "Benchmarks").
#[derive(Debug)]
pub struct MemoryStore {
    webhooks: Mutex<BTreeMap<String, Entry>>,
    states: Mutex<BTreeMap<(String, String), PaymentState>>,
    /// Processed webhooks whose body and headers are still kept, oldest first.
    with_body: Mutex<VecDeque<String>>,
    body_cap: usize,
    feed: Option<Box<dyn ChangeFeed>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::bounded(usize::MAX)
    }
}

/// An item as the stream shows it. (`to_attribute_value`'s map as it is: `to_item` would
/// build it again as serde_dynamo's `Item`, hashing every key a second time.)
fn image(item: impl serde::Serialize) -> Result<Image, String> {
    match serde_dynamo::to_attribute_value(item) {
        Ok(serde_dynamo::AttributeValue::M(attributes)) => Ok(attributes),
        Ok(other) => Err(format!("an item serialized as {other:?}, not as a map")),
        Err(e) => Err(e.to_string()),
    }
}

/// A webhook's item as the stream shows it.
fn webhook_image((record, ttl): &Entry) -> Result<Image, String> {
    image(WebhookItem::new(record, *ttl))
}

/// A payment object's item as the stream shows it.
fn state_image(state: &PaymentState) -> Result<Image, String> {
    image(StateItem::new(state))
}

impl MemoryStore {
    /// A table that keeps the body and headers of only the `cap` most recently processed
    /// webhooks: older processed ones keep their id, status and times (what the soak's
    /// accounting and the operations read), not their payload.
    pub fn bounded(cap: usize) -> Self {
        MemoryStore {
            webhooks: Mutex::default(),
            states: Mutex::default(),
            with_body: Mutex::default(),
            body_cap: cap,
            feed: None,
        }
    }

    /// The table with a stream: every write's change goes to `feed`. The images are made from
    /// the record in hand under the write's own lock, so no other write comes between an old
    /// image, its write and the new image. (Dropping a payload to bound memory is not a write
    /// and sends nothing.)
    pub fn with_feed(mut self, feed: impl ChangeFeed + 'static) -> Self {
        self.feed = Some(Box::new(feed));
        self
    }

    /// Sends a change to the feed, unless the images are equal.
    fn send(
        feed: &dyn ChangeFeed,
        pk: String,
        old: Option<Result<Image, String>>,
        new: Option<Result<Image, String>>,
    ) {
        match (old.transpose(), new.transpose()) {
            (Ok(old), Ok(new)) if old != new => feed.changed(pk, old, new),
            (Ok(_), Ok(_)) => {}
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(%pk, error = %e, "a change's image could not be made; not sent to the stream");
            }
        }
    }

    /// Applies `write` to a stored webhook and sends the change to the feed, if any.
    fn update<R>(
        &self,
        webhook_id: &str,
        write: impl FnOnce(&mut WebhookRecord, &mut Option<i64>) -> R,
    ) -> Result<R, BackendError> {
        let mut map = lock(&self.webhooks);
        let entry = map
            .get_mut(webhook_id)
            .ok_or_else(|| BackendError::NotFound(webhook_id.into()))?;
        let old = self.feed.as_ref().map(|_| webhook_image(entry));
        let result = write(&mut entry.0, &mut entry.1);
        if let Some(feed) = &self.feed {
            Self::send(
                feed.as_ref(),
                webhook_pk(webhook_id),
                old,
                Some(webhook_image(entry)),
            );
        }
        Ok(result)
    }

    /// Each webhook's status, `None` where the table has no such webhook.
    pub fn statuses(&self, ids: &[String]) -> Vec<Option<Status>> {
        let map = lock(&self.webhooks);
        ids.iter()
            .map(|id| map.get(id).map(|(r, _)| r.status))
            .collect()
    }

    /// How many webhooks are in each status.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        let mut out = BTreeMap::new();
        for (r, _) in lock(&self.webhooks).values() {
            *out.entry(r.status).or_default() += 1;
        }
        out
    }

    /// Deletes a webhook (the `wh dev` fault that loses acknowledged webhooks: the item is
    /// gone as if never written, so the stream is not told).
    pub fn remove(&self, webhook_id: &str) -> bool {
        lock(&self.webhooks).remove(webhook_id).is_some()
    }

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

    /// Drops the payload of processed webhooks beyond the newest `body_cap`, `webhook_id` the
    /// newest.
    fn keep_payload_of(&self, webhook_id: &str) {
        if self.body_cap == usize::MAX {
            return;
        }
        let mut kept = lock(&self.with_body);
        kept.push_back(webhook_id.to_owned());
        if kept.len() <= self.body_cap {
            return;
        }
        let mut map = lock(&self.webhooks);
        while kept.len() > self.body_cap {
            if let Some(old) = kept.pop_front()
                && let Some((r, _)) = map.get_mut(&old)
            {
                r.body = String::new();
                r.headers.clear();
                r.trace_header = None;
            }
        }
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
        let entry = (record.clone(), None);
        if let Some(feed) = &self.feed {
            Self::send(
                feed.as_ref(),
                webhook_pk(&record.webhook_id),
                None,
                Some(webhook_image(&entry)),
            );
        }
        map.insert(record.webhook_id.clone(), entry);
        Ok(None)
    }

    async fn get(&self, webhook_id: &str) -> Result<Option<WebhookRecord>, BackendError> {
        Ok(lock(&self.webhooks).get(webhook_id).map(|(r, _)| r.clone()))
    }

    async fn mark_enqueued(&self, webhook_id: &str, at: &str) -> Result<(), BackendError> {
        self.update(webhook_id, |record, _| {
            if matches!(record.status, Status::Received | Status::Enqueued) {
                record.status = Status::Enqueued;
                record.enqueued_at = Some(at.to_owned());
            }
        })
    }

    async fn reopen_failed(&self, webhook_id: &str) -> Result<bool, BackendError> {
        self.update(webhook_id, |record, _| {
            if record.status != Status::Failed {
                return false;
            }
            record.status = Status::Received;
            record.attempts = 0;
            record.last_error = None;
            true
        })
    }

    async fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> Result<bool, BackendError> {
        let done = self.update(webhook_id, |record, ttl| {
            if record.status == Status::Processed {
                return false;
            }
            record.status = Status::Processed;
            record.attempts = attempts;
            record.last_error = None;
            *ttl = Some(expires_at);
            true
        })?;
        if done {
            self.keep_payload_of(webhook_id);
        }
        Ok(done)
    }

    async fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> Result<(), BackendError> {
        self.update(webhook_id, |record, _| {
            if record.status == Status::Processed {
                return;
            }
            record.attempts = attempts;
            record.last_error = Some(error.to_owned());
            if last_attempt {
                record.status = Status::Failed;
            }
        })
    }

    async fn advance_state(&self, state: &PaymentState) -> Result<bool, BackendError> {
        let mut map = lock(&self.states);
        let key = (state.provider.clone(), state.object_id.clone());
        let current = map.get(&key);
        if current.is_some_and(|c| c.rank >= state.rank) {
            return Ok(false);
        }
        if let Some(feed) = &self.feed {
            let old = current.map(state_image);
            Self::send(
                feed.as_ref(),
                StateItem::new(state).pk,
                old,
                Some(state_image(state)),
            );
        }
        map.insert(key, state.clone());
        Ok(true)
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
    events: Mutex<Kept<NormalisedEvent>>,
}

impl MemoryBus {
    /// A bus that keeps only the newest `cap` events (and counts all).
    pub fn bounded(cap: usize) -> Self {
        MemoryBus {
            events: Mutex::new(Kept::bounded(cap)),
        }
    }

    /// Everything published so far (the newest `cap` of a bounded bus).
    pub fn events(&self) -> Vec<NormalisedEvent> {
        lock(&self.events).items.iter().cloned().collect()
    }

    /// How many events were published in all.
    pub fn published(&self) -> usize {
        lock(&self.events).total
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
    alerts: Mutex<Kept<(String, String)>>,
}

impl MemoryNotifier {
    /// A topic that keeps only the newest `cap` alerts (and counts all).
    pub fn bounded(cap: usize) -> Self {
        MemoryNotifier {
            alerts: Mutex::new(Kept::bounded(cap)),
        }
    }

    /// Every alert so far, as (subject, message) (the newest `cap` of a bounded topic).
    pub fn alerts(&self) -> Vec<(String, String)> {
        lock(&self.alerts).items.iter().cloned().collect()
    }

    /// How many alerts were published in all.
    pub fn published(&self) -> usize {
        lock(&self.alerts).total
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
    records: Mutex<Kept<AuditRecord>>,
}

impl MemoryAudit {
    /// An audit table that keeps only the newest `cap` records (and counts all).
    pub fn bounded(cap: usize) -> Self {
        MemoryAudit {
            records: Mutex::new(Kept::bounded(cap)),
        }
    }

    /// Every audit record so far (the newest `cap` of a bounded table).
    pub fn records(&self) -> Vec<AuditRecord> {
        lock(&self.records).items.iter().cloned().collect()
    }

    /// How many records were written in all.
    pub fn written(&self) -> usize {
        lock(&self.records).total
    }
}

impl AuditSink for MemoryAudit {
    async fn write(&self, record: AuditRecord) -> Result<(), BackendError> {
        lock(&self.records).push(record);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> WebhookRecord {
        WebhookRecord {
            webhook_id: id.into(),
            provider: "stripe".into(),
            event_id: format!("evt_{id}"),
            received_at: "2026-11-30T00:00:00Z".into(),
            status: Status::Received,
            attempts: 0,
            last_error: None,
            body: "x".repeat(1000),
            headers: BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
            trace_header: Some("Root=1".into()),
            enqueued_at: None,
            fetched_from: None,
        }
    }

    #[tokio::test]
    async fn a_bounded_store_keeps_every_status_and_only_the_newest_payloads() {
        let store = MemoryStore::bounded(2);
        for id in ["a", "b", "c"] {
            store.insert_new(&record(id)).await.unwrap();
            store.mark_processed(id, 1, 0).await.unwrap();
        }
        store.insert_new(&record("d")).await.unwrap();
        let ids = ["a", "b", "c", "d", "e"].map(String::from);
        assert_eq!(
            store.statuses(&ids),
            [
                Some(Status::Processed),
                Some(Status::Processed),
                Some(Status::Processed),
                Some(Status::Received),
                None
            ]
        );
        let a = store.get("a").await.unwrap().unwrap();
        assert!(a.body.is_empty() && a.headers.is_empty() && a.trace_header.is_none());
        assert_eq!(store.get("b").await.unwrap().unwrap().body.len(), 1000);
        assert_eq!(
            store.get("d").await.unwrap().unwrap().body.len(),
            1000,
            "unprocessed: kept whole"
        );
        assert_eq!(store.counts()[&Status::Processed], 3);
        assert!(store.remove("d") && !store.remove("d"));
    }

    /// One change as a feed is sent it: (pk, old image, new image).
    type Sent = (String, Option<Image>, Option<Image>);

    /// A feed that keeps what it is sent.
    #[derive(Debug, Default, Clone)]
    struct Recorded(std::sync::Arc<Mutex<Vec<Sent>>>);

    impl ChangeFeed for Recorded {
        fn changed(&self, pk: String, old: Option<Image>, new: Option<Image>) {
            lock(&self.0).push((pk, old, new));
        }
    }

    fn attr<'a>(image: &'a Option<Image>, name: &str) -> Option<&'a serde_dynamo::AttributeValue> {
        image.as_ref().and_then(|i| i.get(name))
    }

    #[tokio::test]
    async fn the_stream_carries_each_write_with_its_old_and_new_images_and_nothing_else() {
        use serde_dynamo::AttributeValue as A;
        let feed = Recorded::default();
        let store = MemoryStore::default().with_feed(feed.clone());
        let s = |v: &str| Some(A::S(v.into()));
        assert!(store.insert_new(&record("a")).await.unwrap().is_none());
        assert!(store.insert_new(&record("a")).await.unwrap().is_some());
        store
            .mark_enqueued("a", "2026-11-30T00:00:01Z")
            .await
            .unwrap();
        assert!(store.mark_processed("a", 1, 1_800_000_000).await.unwrap());
        assert!(!store.mark_processed("a", 1, 1_800_000_000).await.unwrap());
        store.record_failure("a", 2, "late", false).await.unwrap();
        let state = PaymentState {
            provider: "stripe".into(),
            object_id: "pi_1".into(),
            state: "succeeded".into(),
            rank: 3,
            event_id: "evt_a".into(),
        };
        assert!(store.advance_state(&state).await.unwrap());
        assert!(!store.advance_state(&state).await.unwrap());
        assert!(matches!(
            store.mark_enqueued("nope", "t").await,
            Err(BackendError::NotFound(_))
        ));

        let sent = lock(&feed.0).clone();
        // The repeated insert (a conditional write that failed), the second mark_processed,
        // the failure recorded on a processed webhook (both leave the item as it was), the
        // state not advanced and the missing webhook send nothing.
        assert_eq!(sent.len(), 4, "{sent:#?}");
        let (pk, old, new) = &sent[0];
        assert_eq!(pk, "WEBHOOK#a");
        assert!(old.is_none());
        assert_eq!(attr(new, "status"), s("RECEIVED").as_ref());
        assert_eq!(attr(new, "pk"), s("WEBHOOK#a").as_ref());
        assert_eq!(
            attr(new, "body").map(|b| matches!(b, A::S(b) if b.len() == 1000)),
            Some(true)
        );
        let (_, old, new) = &sent[1];
        assert_eq!(attr(old, "status"), s("RECEIVED").as_ref());
        assert_eq!(attr(new, "status"), s("ENQUEUED").as_ref());
        assert_eq!(attr(new, "enqueued_at"), s("2026-11-30T00:00:01Z").as_ref());
        let (_, old, new) = &sent[2];
        assert_eq!(attr(old, "expires_at"), None);
        assert_eq!(attr(new, "status"), s("PROCESSED").as_ref());
        assert_eq!(
            attr(new, "status_shard"),
            s("PROCESSED#00").as_ref(),
            "the index key moves with the status (an id without two hex digits is shard 0)"
        );
        assert_eq!(attr(new, "expires_at"), Some(&A::N("1800000000".into())));
        let (pk, old, new) = &sent[3];
        assert_eq!(pk, "PAYMENT#stripe#pi_1");
        assert!(old.is_none());
        assert_eq!(attr(new, "state"), s("succeeded").as_ref());
    }

    #[tokio::test]
    async fn bounded_records_keep_the_newest_and_count_all() {
        let bus = MemoryNotifier::bounded(2);
        for n in 0..5 {
            bus.notify(&format!("s{n}"), "m").await.unwrap();
        }
        assert_eq!(bus.published(), 5);
        let kept: Vec<String> = bus.alerts().into_iter().map(|(s, _)| s).collect();
        assert_eq!(kept, ["s3", "s4"]);
        let unbounded = MemoryNotifier::default();
        for _ in 0..5 {
            unbounded.notify("s", "m").await.unwrap();
        }
        assert_eq!(unbounded.alerts().len(), 5);
    }
}
