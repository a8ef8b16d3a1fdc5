//! Tier 1: the node's memory, bounded in bytes, TinyLFU admission and eviction (moka), every
//! entry dropped once nothing may be served from it any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::entry::Slot;
use super::stats::CacheStats;
use crate::purge::PurgeTarget;

#[derive(Clone)]
struct MemEntry {
    slot: Slot,
    keep: Duration,
}

struct KeepFor;

impl Expiry<String, MemEntry> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &MemEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.keep)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &MemEntry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.keep)
    }
}

/// The memory tier.
pub struct MemoryTier {
    cache: Cache<String, MemEntry>,
}

impl MemoryTier {
    /// A tier holding at most `budget_bytes` (weights approximate the memory each entry holds).
    pub fn new(budget_bytes: u64, stats: Arc<CacheStats>) -> Self {
        let cache = Cache::builder()
            .max_capacity(budget_bytes)
            .weigher(|key: &String, value: &MemEntry| {
                u32::try_from(value.slot.weight(key.len())).unwrap_or(u32::MAX)
            })
            .expire_after(KeepFor)
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    stats.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        MemoryTier { cache }
    }

    /// The entry under `key`.
    pub fn get(&self, key: &str) -> Option<Slot> {
        self.cache.get(key).map(|e| e.slot)
    }

    /// Stores `slot` under `key` for at most `keep`.
    pub fn insert(&self, key: String, slot: Slot, keep: Duration) {
        if keep.is_zero() {
            return;
        }
        self.cache.insert(key, MemEntry { slot, keep });
    }

    /// Drops the entry under `key`.
    pub fn remove(&self, key: &str) {
        self.cache.invalidate(key);
    }

    /// Drops, in the background, every response a hard purge issued at `at` removes, so purged
    /// bytes are given back without waiting for eviction. Lookups check purges themselves, so
    /// correctness never depends on this having run.
    pub fn drop_matching(&self, target: PurgeTarget, at: SystemTime) {
        let _ = self
            .cache
            .invalidate_entries_if(move |_key, entry| match &entry.slot {
                Slot::Response(r) => {
                    r.stored_at <= at
                        && target.matches(&crate::key::CacheKey::from_text(&r.key), &r.tags)
                }
                Slot::Variants(_) => false,
            });
    }

    /// Entries and weighted bytes held now (approximate until pending work is applied).
    pub fn usage(&self) -> (u64, u64) {
        (self.cache.entry_count(), self.cache.weighted_size())
    }

    /// Applies pending bookkeeping (tests and metrics want exact counts).
    pub fn sync(&self) {
        self.cache.run_pending_tasks();
    }
}
