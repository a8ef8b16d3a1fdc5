//! Counters the tiers keep; the edge exports them as Prometheus metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters (read with [`CacheStats::snapshot`]).
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups answered by tier 1.
    pub hits_memory: AtomicU64,
    /// Lookups answered by tier 2 (and copied into tier 1).
    pub hits_regional: AtomicU64,
    /// Lookups that found nothing usable.
    pub misses: AtomicU64,
    /// Responses stored.
    pub stores: AtomicU64,
    /// Body bytes stored.
    pub stored_bytes: AtomicU64,
    /// Bytes served from the cache (bodies).
    pub served_bytes: AtomicU64,
    /// Tier-1 entries evicted for space.
    pub evictions: AtomicU64,
    /// Requests that waited for another request's origin fetch.
    pub coalesced_waits: AtomicU64,
    /// Waits that ran out of time (the request went to the origin uncached).
    pub coalesce_timeouts: AtomicU64,
    /// Stale responses served (while revalidating, or on origin error).
    pub stale_served: AtomicU64,
    /// Tier-2 operations that failed (Redis unreachable, disk error); the tier was skipped.
    pub regional_errors: AtomicU64,
    /// Purges applied on this node (issued here or received).
    pub purges: AtomicU64,
    /// Responses too large to store, streamed through.
    pub too_large: AtomicU64,
}

/// A point-in-time copy of [`CacheStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct StatsSnapshot {
    pub hits_memory: u64,
    pub hits_regional: u64,
    pub misses: u64,
    pub stores: u64,
    pub stored_bytes: u64,
    pub served_bytes: u64,
    pub evictions: u64,
    pub coalesced_waits: u64,
    pub coalesce_timeouts: u64,
    pub stale_served: u64,
    pub regional_errors: u64,
    pub purges: u64,
    pub too_large: u64,
}

impl CacheStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            hits_memory: r(&self.hits_memory),
            hits_regional: r(&self.hits_regional),
            misses: r(&self.misses),
            stores: r(&self.stores),
            stored_bytes: r(&self.stored_bytes),
            served_bytes: r(&self.served_bytes),
            evictions: r(&self.evictions),
            coalesced_waits: r(&self.coalesced_waits),
            coalesce_timeouts: r(&self.coalesce_timeouts),
            stale_served: r(&self.stale_served),
            regional_errors: r(&self.regional_errors),
            purges: r(&self.purges),
            too_large: r(&self.too_large),
        }
    }
}
