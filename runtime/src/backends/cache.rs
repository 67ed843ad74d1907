//! A TTL cache in front of a [`Secrets`] backend: Secrets Manager is read once per TTL per
//! provider, not once per request. A secret that is not filled yet is never cached, so the
//! first delivery after `wh secrets put` is accepted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{BackendError, Secrets};
use crate::secret::SecretValue;

/// [`Secrets`] with a per-provider TTL cache.
#[derive(Debug)]
pub struct CachedSecrets<K> {
    inner: K,
    ttl: Duration,
    entries: Mutex<BTreeMap<String, (Instant, SecretValue)>>,
}

impl<K> CachedSecrets<K> {
    /// Caches `inner`'s values for `ttl`.
    pub fn new(inner: K, ttl: Duration) -> Self {
        CachedSecrets {
            inner,
            ttl,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &K {
        &self.inner
    }
}

impl<K: Secrets> Secrets for CachedSecrets<K> {
    async fn get(&self, provider: &str) -> Result<SecretValue, BackendError> {
        let cached = {
            let entries = self
                .entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            entries
                .get(provider)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, v)| v.clone())
        };
        if let Some(value) = cached {
            return Ok(value);
        }
        let value = self.inner.get(provider).await?;
        if value.current.is_some() {
            self.entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(provider.to_owned(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}
