//! A cache in front of a [`Secrets`] backend: Secrets Manager is read once per TTL per provider
//! and instance, not once per request.
//!
//! When a new value takes effect, the promises `wh secrets` and the README make:
//! - **A new secret at once.** A delivery whose signature fails against the cached value makes
//!   the receiver [`refresh`](Secrets::refresh) the value and verify again, at most once per
//!   [`CacheTimes::min_refresh`] per provider and instance; so the provider's first delivery
//!   signed with a new secret is accepted, not refused for up to a TTL.
//! - **An old secret within the TTL.** Signatures made with a replaced (leaked) secret verify
//!   against a warm instance's cached value until its TTL runs out ([`CacheTimes::ttl`], 60 s
//!   in the Lambda); instances started after the change never see it.
//! - **A Secrets Manager outage is not an outage.** When a refresh fails, the last value read
//!   is served for up to [`CacheTimes::max_stale`] past its TTL, the refresh retried at most once
//!   per `min_refresh`; after that the error is the answer (a retryable 503).
//!
//! Only usable values are cached: one not filled yet (so the first delivery after `wh secrets
//! put` is accepted) or malformed (so the fix is read at once) is read again on every delivery.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{BackendError, Secrets};
use crate::secret::SecretValue;

/// The cache's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTimes {
    /// How long a value read is served without reading again.
    pub ttl: Duration,
    /// The shortest time between two reads of one provider's value for a refresh (after a
    /// failed verification, or after a failed read).
    pub min_refresh: Duration,
    /// How long past its TTL the last value read is served while reads fail.
    pub max_stale: Duration,
}

/// How long the receiver serves a signing secret it read without reading it again: the longest
/// a replaced (leaked) secret is still accepted by a warm receiver.
pub const SECRET_TTL: Duration = Duration::from_secs(60);

/// The receiver's secret cache in the Lambda: a minute's TTL; a refresh after a failed
/// verification (a provider signing with a new secret) or a failed read at most every 5 s per
/// provider and instance (so a flood of bad signatures reads Secrets Manager at most 0.2 times
/// a second per instance); the last value read served for 10 minutes past its TTL while Secrets
/// Manager errors, after which deliveries are answered 503.
pub const SECRET_CACHE: CacheTimes = CacheTimes {
    ttl: SECRET_TTL,
    min_refresh: Duration::from_secs(5),
    max_stale: Duration::from_secs(600),
};

/// One provider's cached value.
#[derive(Debug)]
struct Entry {
    value: SecretValue,
    /// When `value` was read.
    read_at: Instant,
    /// When it was last read, or a read was last tried.
    tried_at: Instant,
}

/// [`Secrets`] with a per-provider cache (see the module docs).
#[derive(Debug)]
pub struct CachedSecrets<K> {
    inner: K,
    times: CacheTimes,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl<K> CachedSecrets<K> {
    /// Caches `inner`'s values with the given times.
    pub fn new(inner: K, times: CacheTimes) -> Self {
        CachedSecrets {
            inner,
            times,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &K {
        &self.inner
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the cache holds for a provider at a given time.
enum Cached {
    /// A value within its TTL.
    Fresh(SecretValue),
    /// A value past its TTL that may still be served if a read fails; `retry`: whether a read
    /// may be tried now.
    Stale { value: SecretValue, retry: bool },
    /// Nothing servable.
    None,
}

impl<K: Secrets> CachedSecrets<K> {
    fn cached(&self, provider: &str, now: Instant) -> Cached {
        let entries = self.entries();
        let Some(e) = entries.get(provider) else {
            return Cached::None;
        };
        let age = now.saturating_duration_since(e.read_at);
        if age < self.times.ttl {
            Cached::Fresh(e.value.clone())
        } else if age < self.times.ttl + self.times.max_stale {
            Cached::Stale {
                value: e.value.clone(),
                retry: now.saturating_duration_since(e.tried_at) >= self.times.min_refresh,
            }
        } else {
            Cached::None
        }
    }

    /// Reads the value from the backend and caches it if usable; on a failed read, the stale
    /// value if one may still be served.
    async fn read(
        &self,
        provider: &str,
        now: Instant,
        stale: Option<SecretValue>,
    ) -> Result<SecretValue, BackendError> {
        match self.inner.get(provider).await {
            Ok(value) => {
                let mut entries = self.entries();
                if value.usable().is_ok() {
                    entries.insert(
                        provider.to_owned(),
                        Entry {
                            value: value.clone(),
                            read_at: now,
                            tried_at: now,
                        },
                    );
                } else {
                    // The stored value is the truth, even when unusable (reset, or mistyped):
                    // the old one is not served in its place.
                    entries.remove(provider);
                }
                Ok(value)
            }
            Err(e) => match stale {
                Some(value) => {
                    if let Some(entry) = self.entries().get_mut(provider) {
                        entry.tried_at = now;
                    }
                    tracing::error!(provider, error = %e, "signing secret unreadable: serving the last value read");
                    Ok(value)
                }
                None => Err(e),
            },
        }
    }

    /// [`Secrets::get`] at `now`.
    pub async fn get_at(&self, provider: &str, now: Instant) -> Result<SecretValue, BackendError> {
        match self.cached(provider, now) {
            Cached::Fresh(value)
            | Cached::Stale {
                value,
                retry: false,
            } => Ok(value),
            Cached::Stale { value, retry: true } => self.read(provider, now, Some(value)).await,
            Cached::None => self.read(provider, now, None).await,
        }
    }

    /// [`Secrets::refresh`] at `now`.
    pub async fn refresh_at(
        &self,
        provider: &str,
        now: Instant,
    ) -> Result<Option<SecretValue>, BackendError> {
        let old = {
            let entries = self.entries();
            match entries.get(provider) {
                Some(e) if now.saturating_duration_since(e.tried_at) < self.times.min_refresh => {
                    return Ok(None);
                }
                Some(e) => Some(e.value.clone()),
                None => None,
            }
        };
        let value = self.read(provider, now, old.clone()).await?;
        Ok((Some(&value) != old.as_ref()).then_some(value))
    }
}

impl<K: Secrets> Secrets for CachedSecrets<K> {
    async fn get(&self, provider: &str) -> Result<SecretValue, BackendError> {
        self.get_at(provider, Instant::now()).await
    }

    async fn refresh(&self, provider: &str) -> Result<Option<SecretValue>, BackendError> {
        self.refresh_at(provider, Instant::now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A backend whose answer the test sets, counting reads.
    #[derive(Default)]
    struct Store {
        answer: Mutex<Option<Result<SecretValue, String>>>,
        reads: AtomicU32,
    }

    impl Store {
        fn set(&self, answer: Result<SecretValue, &str>) {
            *self.answer.lock().unwrap() = Some(answer.map_err(str::to_owned));
        }
        fn reads(&self) -> u32 {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl Secrets for &Store {
        async fn get(&self, _: &str) -> Result<SecretValue, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.answer
                .lock()
                .unwrap()
                .clone()
                .expect("answer set")
                .map_err(BackendError::Unavailable)
        }
    }

    const TIMES: CacheTimes = CacheTimes {
        ttl: Duration::from_secs(60),
        min_refresh: Duration::from_secs(5),
        max_stale: Duration::from_secs(600),
    };

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[tokio::test]
    async fn a_value_is_read_once_per_ttl() {
        let store = Store::default();
        store.set(Ok(SecretValue::new("a")));
        let cache = CachedSecrets::new(&store, TIMES);
        let t0 = Instant::now();
        for s in [0, 1, 59] {
            assert_eq!(
                cache.get_at("p", secs(t0, s)).await.unwrap(),
                SecretValue::new("a")
            );
        }
        assert_eq!(store.reads(), 1);
        store.set(Ok(SecretValue::new("b")));
        assert_eq!(
            cache.get_at("p", secs(t0, 60)).await.unwrap(),
            SecretValue::new("b")
        );
        assert_eq!(store.reads(), 2);
    }

    #[tokio::test]
    async fn a_refresh_reads_the_new_value_at_most_once_per_interval() {
        let store = Store::default();
        store.set(Ok(SecretValue::new("old")));
        let cache = CachedSecrets::new(&store, TIMES);
        let t0 = Instant::now();
        cache.get_at("p", t0).await.unwrap();
        store.set(Ok(SecretValue::new("new")));
        // Within min_refresh of the read: no new read.
        assert_eq!(cache.refresh_at("p", secs(t0, 4)).await.unwrap(), None);
        assert_eq!(store.reads(), 1);
        assert_eq!(
            cache.refresh_at("p", secs(t0, 5)).await.unwrap(),
            Some(SecretValue::new("new"))
        );
        assert_eq!(
            cache.get_at("p", secs(t0, 6)).await.unwrap(),
            SecretValue::new("new")
        );
        // Unchanged: a refresh reads but reports nothing new.
        assert_eq!(cache.refresh_at("p", secs(t0, 11)).await.unwrap(), None);
        assert_eq!(store.reads(), 3);
    }

    #[tokio::test]
    async fn a_failed_read_serves_the_last_value_for_a_bounded_time() {
        let store = Store::default();
        store.set(Ok(SecretValue::new("good")));
        let cache = CachedSecrets::new(&store, TIMES);
        let t0 = Instant::now();
        cache.get_at("p", t0).await.unwrap();
        store.set(Err("throttled"));
        assert_eq!(
            cache.get_at("p", secs(t0, 61)).await.unwrap(),
            SecretValue::new("good")
        );
        assert_eq!(store.reads(), 2);
        // The next read is tried only after min_refresh.
        cache.get_at("p", secs(t0, 62)).await.unwrap();
        assert_eq!(store.reads(), 2);
        cache.get_at("p", secs(t0, 66)).await.unwrap();
        assert_eq!(store.reads(), 3);
        // Served until ttl + max_stale, then the error is the answer.
        assert!(cache.get_at("p", secs(t0, 659)).await.is_ok());
        assert!(matches!(
            cache.get_at("p", secs(t0, 660)).await,
            Err(BackendError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn unusable_values_are_not_cached_and_replace_the_cached_one() {
        let store = Store::default();
        let cache = CachedSecrets::new(&store, TIMES);
        let t0 = Instant::now();
        store.set(Ok(SecretValue::default()));
        cache.get_at("p", t0).await.unwrap();
        cache.get_at("p", t0).await.unwrap();
        assert_eq!(store.reads(), 2, "an unfilled value is read again");
        let malformed = SecretValue {
            current: Some("a".into()),
            previous: Some("b".into()),
            previous_expires_at: None,
        };
        store.set(Ok(malformed.clone()));
        cache.get_at("p", t0).await.unwrap();
        cache.get_at("p", t0).await.unwrap();
        assert_eq!(store.reads(), 4, "a malformed value is read again");
        store.set(Ok(SecretValue::new("good")));
        cache.get_at("p", t0).await.unwrap();
        store.set(Ok(malformed.clone()));
        assert_eq!(cache.get_at("p", secs(t0, 60)).await.unwrap(), malformed);
        store.set(Err("down"));
        assert!(
            cache.get_at("p", secs(t0, 61)).await.is_err(),
            "the good value was dropped when the store said otherwise"
        );
    }
}
