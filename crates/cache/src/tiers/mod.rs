//! The edge cache's storage: tier 1 in memory, tier 2 in the region's store, request
//! coalescing (node-wide, and region-wide when tier 2 is shared), and purges as bans carried
//! on the store's pub/sub.
//!
//! Lookups go tier 1 → tier 2 (a tier-2 hit is copied into tier 1); stores fill tier 1 at once
//! and tier 2 in the background, so the request path never waits for the region's store to
//! acknowledge a write.

pub mod bans;
pub mod coalesce;
pub mod entry;
pub mod memory;
pub mod regional;
pub mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use regionless_store::{Notification, SharedStore, StoreError};

use crate::freshness::FreshnessPolicy;
use crate::key::secondary_key;
use crate::purge::PurgeTarget;
use bans::{Ban, BanList, BanMessage, BanVerdict};
use coalesce::{Coalescer, Turn};
use entry::{Slot, StoredResponse, VariantIndex};
use memory::MemoryTier;
use regional::RegionalTier;
use stats::CacheStats;

/// The pub/sub channel purges travel on.
pub const PURGE_CHANNEL: &str = "cache-purge";
/// Record-key prefix of stored bans (so nodes that start later, or restart, still apply them).
pub const BAN_RECORD_PREFIX: &str = "cache-ban:";

/// Sizes and times of the tiers.
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// Tier-1 budget in bytes.
    pub memory_bytes: u64,
    /// Largest body stored; larger responses stream through uncached.
    pub max_object_bytes: u64,
    /// How long a request waits for another's origin fetch before going uncached.
    pub lock_timeout: Duration,
    /// How long an entry that can be revalidated is kept after it stopped being servable.
    pub revalidate_keep: Duration,
    /// The longest any entry is kept (and so how long purges are remembered).
    pub max_keep: Duration,
}

impl Default for TierConfig {
    fn default() -> Self {
        TierConfig {
            memory_bytes: 256 * 1024 * 1024,
            max_object_bytes: 8 * 1024 * 1024,
            lock_timeout: Duration::from_secs(5),
            revalidate_keep: Duration::from_secs(3600),
            max_keep: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The node's memory.
    Memory,
    /// The region's store.
    Regional,
}

impl Tier {
    /// Its name in `Cache-Status` details and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Regional => "regional",
        }
    }
}

/// A stored response found for a request.
#[derive(Debug, Clone)]
pub struct Found {
    /// The response.
    pub response: Arc<StoredResponse>,
    /// Where it was found.
    pub tier: Tier,
    /// A soft purge applies: treat it as stale.
    pub soft_purged: bool,
}

/// The result of a lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A stored response selected by the request.
    Found(Found),
    /// Nothing stored for the URI.
    UriMiss,
    /// Responses stored for the URI, none for this request's `Vary` values.
    VaryMiss,
}

/// The node's edge cache.
pub struct EdgeCache {
    memory: MemoryTier,
    regional: Option<RegionalTier>,
    bans: BanList,
    coalescer: Arc<Coalescer>,
    /// Counters for metrics.
    pub stats: Arc<CacheStats>,
    config: TierConfig,
    purge_observer: Option<Box<dyn Fn(Duration) + Send + Sync>>,
    /// Keys whose last origin response could not be stored (Varnish's hit-for-miss): requests
    /// for them skip coalescing, so uncacheable URLs are never serialised behind each other.
    uncacheable: moka::sync::Cache<String, ()>,
    /// The latest purges applied here (id, time from issue to apply), newest last.
    applied: std::sync::Mutex<std::collections::VecDeque<(u64, Duration)>>,
}

/// How many applied purges [`EdgeCache::purge_latency`] remembers.
const APPLIED_KEPT: usize = 1024;

/// How long a key stays marked uncacheable after a response that could not be stored.
pub const UNCACHEABLE_MARK: Duration = Duration::from_secs(30);

impl std::fmt::Debug for EdgeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeCache")
            .field("config", &self.config)
            .field("regional", &self.regional.is_some())
            .finish_non_exhaustive()
    }
}

/// The key a response selected by `secondary` is stored under.
pub fn variant_key(primary: &str, secondary: &str) -> String {
    format!("{primary}\u{1f}{secondary}")
}

impl EdgeCache {
    /// A cache with tier 2 in `regional` (`shared` when other nodes use the same store), or
    /// memory only. `purge_observer` is told how long each purge took to arrive.
    pub fn new(
        config: TierConfig,
        regional: Option<(SharedStore, bool)>,
        purge_observer: Option<Box<dyn Fn(Duration) + Send + Sync>>,
    ) -> Arc<EdgeCache> {
        let stats = Arc::new(CacheStats::default());
        Arc::new(EdgeCache {
            memory: MemoryTier::new(config.memory_bytes, stats.clone()),
            regional: regional.map(|(s, shared)| RegionalTier::new(s, shared, stats.clone())),
            bans: BanList::new(config.max_keep),
            coalescer: Arc::new(Coalescer::default()),
            stats,
            config,
            purge_observer,
            uncacheable: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(UNCACHEABLE_MARK)
                .build(),
            applied: Default::default(),
        })
    }

    /// The tier settings.
    pub fn config(&self) -> &TierConfig {
        &self.config
    }

    /// Tier-1 entries and bytes.
    pub fn memory_usage(&self) -> (u64, u64) {
        self.memory.sync();
        self.memory.usage()
    }

    /// Whether tier 2 is shared with other nodes (coalescing is then region-wide).
    pub fn regional_is_shared(&self) -> bool {
        self.regional.as_ref().is_some_and(RegionalTier::is_shared)
    }

    async fn slot(&self, key: &str) -> Option<(Slot, Tier)> {
        if let Some(slot) = self.memory.get(key) {
            return Some((slot, Tier::Memory));
        }
        let regional = self.regional.as_ref()?;
        let slot = regional.get(key).await?;
        // Copied up so the next request is a memory hit; kept for the time the slot has left
        // in tier 2 at most, which we do not know: an entry is rechecked for freshness and
        // purges on every use, so the memory copy only needs a bound, the longest keep.
        self.memory
            .insert(key.to_string(), slot.clone(), self.memory_keep(&slot));
        Some((slot, Tier::Regional))
    }

    fn memory_keep(&self, slot: &Slot) -> Duration {
        match slot {
            Slot::Response(r) => keep_for(
                r,
                SystemTime::now(),
                &FreshnessPolicy::default(),
                Duration::ZERO,
                &self.config,
            ),
            Slot::Variants(_) => self.config.max_keep,
        }
    }

    /// Looks up the response stored for `key` that `request_headers` select (RFC 9111 §4.1).
    /// Hard-purged entries are misses (and removed); soft-purged ones come back marked.
    pub async fn lookup(&self, key: &str, request_headers: &HeaderMap) -> Lookup {
        let found = match self.slot(key).await {
            None => None,
            Some((Slot::Response(r), tier)) => Some((r, tier, key.to_string())),
            Some((Slot::Variants(index), _)) => {
                let vkey = variant_key(key, &secondary_key(&index.vary, request_headers));
                match self.slot(&vkey).await {
                    Some((Slot::Response(r), tier)) => Some((r, tier, vkey)),
                    _ => {
                        CacheStats::bump(&self.stats.misses);
                        return Lookup::VaryMiss;
                    }
                }
            }
        };
        let Some((response, tier, stored_key)) = found else {
            CacheStats::bump(&self.stats.misses);
            return Lookup::UriMiss;
        };
        let soft_purged = match self.bans.verdict(&response) {
            BanVerdict::Clear => false,
            BanVerdict::Stale => true,
            BanVerdict::Gone => {
                self.memory.remove(&stored_key);
                CacheStats::bump(&self.stats.misses);
                return Lookup::UriMiss;
            }
        };
        CacheStats::bump(match tier {
            Tier::Memory => &self.stats.hits_memory,
            Tier::Regional => &self.stats.hits_regional,
        });
        Lookup::Found(Found {
            response,
            tier,
            soft_purged,
        })
    }

    /// Stores `response` (which has no `Vary`) under `key`, kept for `keep`. Tier 1 is filled
    /// now, tier 2 in the background.
    pub fn store(self: &Arc<Self>, key: &str, response: StoredResponse, keep: Duration) {
        self.uncacheable.invalidate(key);
        let keep = keep.min(self.config.max_keep);
        if keep.is_zero() {
            return;
        }
        self.count_store(&response);
        self.write(vec![(
            key.to_string(),
            Slot::Response(Arc::new(response)),
            keep,
        )]);
    }

    fn count_store(&self, response: &StoredResponse) {
        CacheStats::bump(&self.stats.stores);
        self.stats.stored_bytes.fetch_add(
            response.body.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Stores a response selected by `secondary` (the request's `Vary` values) under `key`.
    pub fn store_variant(
        self: &Arc<Self>,
        key: &str,
        vary: Vec<String>,
        secondary: &str,
        response: StoredResponse,
        keep: Duration,
    ) {
        self.uncacheable.invalidate(key);
        let keep = keep.min(self.config.max_keep);
        if keep.is_zero() {
            return;
        }
        self.count_store(&response);
        let index_keep = self.config.max_keep;
        let writes = vec![
            (
                variant_key(key, secondary),
                Slot::Response(Arc::new(response)),
                keep,
            ),
            (
                key.to_string(),
                Slot::Variants(Arc::new(VariantIndex { vary })),
                index_keep,
            ),
        ];
        self.write(writes);
    }

    fn write(self: &Arc<Self>, writes: Vec<(String, Slot, Duration)>) {
        for (k, slot, keep) in &writes {
            self.memory.insert(k.clone(), slot.clone(), *keep);
        }
        if self.regional.is_none() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(regional) = &this.regional {
                for (k, slot, keep) in writes {
                    regional.put(&k, &slot, keep).await;
                }
            }
        });
    }

    /// Removes what is stored under `key` from both tiers (RFC 9111 §4.4 invalidation); a
    /// variant index going away makes its variants unreachable.
    pub async fn invalidate(&self, key: &str) {
        self.memory.remove(key);
        if let Some(regional) = &self.regional {
            regional.delete(key).await;
        }
    }

    /// Records that the origin's last response for `key` could not be stored.
    pub fn mark_uncacheable(&self, key: &str) {
        self.uncacheable.insert(key.to_string(), ());
    }

    /// Whether `key` was recently marked uncacheable (its requests then skip coalescing).
    pub fn is_uncacheable(&self, key: &str) -> bool {
        self.uncacheable.contains_key(key)
    }

    /// Leads or waits for the node-wide fetch of `key`.
    pub fn coalesce(&self, key: &str) -> Turn {
        self.coalescer.turn(key)
    }

    /// With a shared tier 2, takes the region-wide fill lock of `key`: `Some(token)` when this
    /// node should fetch (also without a shared tier), `None` when another node is fetching.
    pub async fn region_lock(&self, key: &str) -> Option<Option<Bytes>> {
        match &self.regional {
            Some(r) if r.is_shared() => r.lock(key, self.config.lock_timeout).await.map(Some),
            _ => Some(None),
        }
    }

    /// Releases a region-wide fill lock taken by [`Self::region_lock`].
    pub async fn region_unlock(&self, key: &str, token: Bytes) {
        if let Some(r) = &self.regional {
            r.unlock(key, token).await;
        }
    }

    /// Waits (polling tier 2) until another node's fetch of `key` is stored, its lock is gone,
    /// or `deadline`; then looks up once more.
    pub async fn wait_for_region(
        &self,
        key: &str,
        request_headers: &HeaderMap,
        deadline: Instant,
    ) -> Lookup {
        let Some(regional) = &self.regional else {
            return self.lookup(key, request_headers).await;
        };
        loop {
            if let found @ Lookup::Found(_) = self.lookup(key, request_headers).await {
                return found;
            }
            if Instant::now() >= deadline || !regional.is_locked(key).await {
                return self.lookup(key, request_headers).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // ----- purges -----

    /// Applies a purge on this node; true if it was new here.
    pub fn apply(&self, ban: Ban) -> bool {
        let now = SystemTime::now();
        let (target, at, soft, id) = (ban.target.clone(), ban.at, ban.soft, ban.id);
        if !self.bans.add(ban, now) {
            return false;
        }
        CacheStats::bump(&self.stats.purges);
        let took = now.duration_since(at).unwrap_or_default();
        if let Some(observe) = &self.purge_observer {
            observe(took);
        }
        if let Ok(mut applied) = self.applied.lock() {
            if applied.len() >= APPLIED_KEPT {
                applied.pop_front();
            }
            applied.push_back((id, took));
        }
        if !soft {
            self.memory.drop_matching(target, at);
        }
        true
    }

    /// How long the purge `id` took from being issued (on any node) to being applied here;
    /// `None` if it has not arrived (or is older than the last 1024 purges).
    pub fn purge_latency(&self, id: u64) -> Option<Duration> {
        let applied = self.applied.lock().ok()?;
        applied
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, d)| *d)
    }

    /// Issues a purge: applies it here, stores it (so nodes that start later apply it too)
    /// and publishes it to every node sharing the regional store. Returns the ban for
    /// forwarding to peers.
    pub async fn purge(&self, target: PurgeTarget, soft: bool) -> Result<Ban, StoreError> {
        let ban = Ban {
            id: rand::random(),
            target,
            soft,
            at: SystemTime::now(),
        };
        self.apply(ban.clone());
        self.distribute(&ban).await?;
        Ok(ban)
    }

    /// Applies a purge received from a peer and passes it to the nodes sharing our store.
    pub async fn receive(&self, ban: Ban) -> Result<bool, StoreError> {
        if !self.apply(ban.clone()) {
            return Ok(false);
        }
        self.distribute(&ban).await?;
        Ok(true)
    }

    async fn distribute(&self, ban: &Ban) -> Result<(), StoreError> {
        let Some(regional) = &self.regional else {
            return Ok(());
        };
        let message = Bytes::from(serde_json::to_vec(&ban.to_message()).unwrap_or_default());
        let record = format!(
            "{BAN_RECORD_PREFIX}{:020}-{:016x}",
            entry::millis(ban.at),
            ban.id
        );
        regional
            .store()
            .put(
                record.as_bytes(),
                message.clone(),
                Some(self.config.max_keep),
            )
            .await?;
        regional.store().publish(PURGE_CHANNEL, message).await
    }

    /// Loads the purges stored in the regional store (at start, and after missing messages).
    pub async fn load_bans(&self) -> Result<usize, StoreError> {
        let Some(regional) = &self.regional else {
            return Ok(0);
        };
        let mut after: Option<Bytes> = None;
        let mut loaded = 0;
        loop {
            let page = regional
                .store()
                .scan_prefix(BAN_RECORD_PREFIX.as_bytes(), after.as_deref(), 1000)
                .await?;
            for (_, record) in &page.entries {
                if let Some(ban) = serde_json::from_slice::<BanMessage>(&record.value)
                    .ok()
                    .and_then(|m| Ban::from_message(&m))
                {
                    if self.bans.add(ban, SystemTime::now()) {
                        loaded += 1;
                    }
                }
            }
            match page.resume_after {
                Some(k) => after = Some(k),
                None => return Ok(loaded),
            }
        }
    }

    /// Follows purges published by other nodes sharing the regional store until the store
    /// closes. After missed messages (a lagging subscriber, a Redis reconnect) the stored bans
    /// are reloaded, so no purge is lost.
    pub fn follow_purges(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.regional.as_ref()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            let Some(regional) = &this.regional else {
                return;
            };
            let mut backoff = Duration::from_millis(100);
            loop {
                let mut sub = match regional.store().subscribe(PURGE_CHANNEL).await {
                    Ok(s) => s,
                    Err(e) if e.kind() == regionless_store::ErrorKind::Closed => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot subscribe to purges; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                backoff = Duration::from_millis(100);
                if let Err(e) = this.load_bans().await {
                    tracing::warn!(error = %e, "cannot load stored purges");
                }
                while let Some(n) = sub.recv().await {
                    match n {
                        Notification::Message(bytes) => {
                            if let Some(ban) = serde_json::from_slice::<BanMessage>(&bytes)
                                .ok()
                                .and_then(|m| Ban::from_message(&m))
                            {
                                this.apply(ban);
                            }
                        }
                        Notification::Gap(_) => {
                            if let Err(e) = this.load_bans().await {
                                tracing::warn!(error = %e, "cannot reload purges after a gap");
                            }
                        }
                    }
                }
                if regional.store().info().await.is_err() {
                    tokio::time::sleep(backoff).await;
                }
            }
        }))
    }
}

/// How long an entry is worth keeping from `now`: its remaining freshness, plus the longest
/// window it may still be served stale in (`stale-while-revalidate`, `stale-if-error` +
/// `grace`), plus `revalidate_keep` when it has validators (a stale entry with an ETag saves a
/// full fetch). Never longer than `max_keep`.
pub fn keep_for(
    response: &StoredResponse,
    now: SystemTime,
    policy: &FreshnessPolicy,
    grace: Duration,
    config: &TierConfig,
) -> Duration {
    let f = response.freshness(now, policy);
    let fresh = Duration::from_secs(u64::try_from(f.ttl().max(0)).unwrap_or(0));
    let stale = Duration::from_secs(f.stale_while_revalidate.max(f.stale_if_error)) + grace;
    let revalidate = if response.has_validators() {
        config.revalidate_keep
    } else {
        Duration::ZERO
    };
    (fresh + stale + revalidate).min(config.max_keep)
}
