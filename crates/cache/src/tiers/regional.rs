//! Tier 2: the region's shared cache, in the store's cache area (the node's own redb file by
//! default, the region's Redis when configured). A failing store never fails a request: the
//! call is counted, logged, and the tier is skipped for a moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regionless_store::{Condition, SharedStore, Transaction};

use super::entry::{decode, encode, Slot};
use super::stats::CacheStats;

/// After a failed call, the tier is skipped this long (a Redis that is down costs one timeout
/// per this interval, not one per request).
const SKIP_AFTER_ERROR: Duration = Duration::from_secs(2);

/// The regional tier over a store.
pub struct RegionalTier {
    store: SharedStore,
    /// Shared with other nodes (Redis): coalescing then takes a region-wide lock.
    shared: bool,
    stats: Arc<CacheStats>,
    epoch: Instant,
    /// Milliseconds after `epoch` until which the tier is skipped (0: in use).
    skip_until_ms: AtomicU64,
}

impl RegionalTier {
    /// The tier over `store`; `shared` when other nodes of the region use the same store.
    pub fn new(store: SharedStore, shared: bool, stats: Arc<CacheStats>) -> Self {
        RegionalTier {
            store,
            shared,
            stats,
            epoch: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
        }
    }

    /// The store (for purge events and locks).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Whether other nodes share this tier.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// False while the tier is being skipped after an error.
    pub fn available(&self) -> bool {
        self.now_ms() >= self.skip_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, op: &str, e: &regionless_store::StoreError) {
        CacheStats::bump(&self.stats.regional_errors);
        let until = self.now_ms() + SKIP_AFTER_ERROR.as_millis() as u64;
        let before = self.skip_until_ms.swap(until, Ordering::Relaxed);
        if before <= self.now_ms() {
            tracing::warn!(error = %e, op, "regional cache tier unavailable; skipping it for {:?}", SKIP_AFTER_ERROR);
        }
    }

    /// The entry under `key`; `None` when absent, undecodable or the tier is unavailable.
    pub async fn get(&self, key: &str) -> Option<Slot> {
        if !self.available() {
            return None;
        }
        match self.store.cache_get(key.as_bytes()).await {
            Ok(Some(bytes)) => decode(&bytes),
            Ok(None) => None,
            Err(e) => {
                self.failed("get", &e);
                None
            }
        }
    }

    /// Stores `slot` for `ttl`.
    pub async fn put(&self, key: &str, slot: &Slot, ttl: Duration) {
        if !self.available() || ttl.is_zero() {
            return;
        }
        if let Err(e) = self
            .store
            .cache_put(key.as_bytes(), encode(slot), ttl)
            .await
        {
            self.failed("put", &e);
        }
    }

    /// Removes the entry under `key`.
    pub async fn delete(&self, key: &str) {
        if !self.available() {
            return;
        }
        if let Err(e) = self.store.cache_delete(key.as_bytes()).await {
            self.failed("delete", &e);
        }
    }

    /// Takes the region-wide fill lock of `key` for `ttl`: `Some(token)` if we hold it now,
    /// `None` if another node does. When the store cannot be reached the caller leads (a
    /// failing tier must never stop requests).
    pub async fn lock(&self, key: &str, ttl: Duration) -> Option<Bytes> {
        let token = Bytes::from(rand::random::<u64>().to_be_bytes().to_vec());
        if !self.available() {
            return Some(token);
        }
        match self
            .store
            .put_if_absent(lock_key(key).as_bytes(), token.clone(), Some(ttl))
            .await
        {
            Ok(Some(_)) => Some(token),
            Ok(None) => None,
            Err(e) => {
                self.failed("lock", &e);
                Some(token)
            }
        }
    }

    /// Whether some node holds the fill lock of `key`.
    pub async fn is_locked(&self, key: &str) -> bool {
        if !self.available() {
            return false;
        }
        match self.store.get(lock_key(key).as_bytes()).await {
            Ok(r) => r.is_some(),
            Err(e) => {
                self.failed("lock check", &e);
                false
            }
        }
    }

    /// Releases our fill lock (only if it is still ours).
    pub async fn unlock(&self, key: &str, token: Bytes) {
        if !self.available() {
            return;
        }
        let k = Bytes::from(lock_key(key));
        let txn = Transaction::new()
            .require(Condition::ValueEquals {
                key: k.clone(),
                value: token,
            })
            .delete(k);
        if let Err(e) = self.store.transact(txn).await {
            self.failed("unlock", &e);
        }
    }
}

fn lock_key(key: &str) -> String {
    format!("cache-lock:{key}")
}
