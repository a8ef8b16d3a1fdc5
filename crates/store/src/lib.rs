//! Durable and shared state for Regionless behind one interface, [`Store`], with two
//! implementations: [`EmbeddedStore`] (a redb file on the node's disk, the default) and
//! [`RedisStore`] (a Redis or Valkey server shared by the nodes of a region, or the home store
//! of the KV).
//!
//! Owns: records (byte keys and values with optional TTL, per-record revisions, conditional
//! all-or-nothing transactions, prefix scans), append-only logs with sequence numbers, pub/sub
//! channels and a byte-bounded cache area. The cache's tier 2, its region-wide coalescing lock
//! and purge events, the KV (revisions, `If-Match`, batches, change feed) and write-behind
//! (durable queue, dead letters) are built on these.
//!
//! Must never:
//! - leak backend types: no `redb::` or `redis::` type appears in this API; errors are
//!   [`StoreError`] with an [`ErrorKind`] that is the same for both backends;
//! - acknowledge a write before it is durable: a record write or log append returns `Ok` only
//!   after the commit is on disk (embedded: redb commit with fsync; Redis: as durable as the
//!   server's `appendfsync`, reported by [`Store::info`]). A failed commit or fsync is returned
//!   as [`ErrorKind::Failed`] and never retried into success. The cache area is the one
//!   exception by design: it is a cache, so its writes are not fsynced.
//!
//! Both implementations pass the same conformance suite (`tests/conformance.rs`). The
//! `testing` feature adds [`testing`] helpers (a throwaway `redis-server`, an embedded store in
//! a temp dir) so other crates can run their own suites on both.
//!
//! Module map:
//! - [`types`]: the values the interface takes and returns, and the shared limits;
//! - [`error`]: [`StoreError`] and [`ErrorKind`];
//! - [`pubsub`]: [`Subscription`] and the in-process fan-out both backends use;
//! - `embedded/`: redb tables, the single writer thread (group commit), TTL sweep, cache budget;
//! - `redis_store/`: Lua scripts, the key layout, the dedicated subscriber connection.
#![forbid(unsafe_code)]
// Every public item documents its contract (the brief of this crate is its API).
#![warn(missing_docs)]
// In tests a panic is the failure report; outside them the workspace lint stands.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

mod embedded;
pub mod error;
pub mod pubsub;
mod redis_store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use error::{ErrorKind, Result, StoreError};
pub use pubsub::{GapReason, Notification, Subscription};
pub use redis_store::{RedisConfig, RedisStore};
pub use types::{
    Backend, CachePut, CacheUsage, Committed, Condition, ConditionFailed, Durability, LogEntry,
    LogInfo, Record, Revision, ScanPage, StoreInfo, Transaction, TransactionOutcome, Write,
};

/// A store shared by the parts of a node.
pub type SharedStore = Arc<dyn Store>;

/// Durable and shared state: records, logs, pub/sub and a cache area.
///
/// Every method is safe to call concurrently from many tasks. Keys are arbitrary non-empty
/// bytes (at most [`types::MAX_KEY_LEN`]); callers namespace them by prefix (`kv/…`,
/// `lock/…`). Records, logs, channels and the cache area are separate spaces: a cache key
/// never collides with a record key.
///
/// Errors: [`ErrorKind::Unavailable`] when the backend cannot be reached (Redis down or slow;
/// every Redis call is bounded by its configured timeout, never a hang), [`ErrorKind::Failed`]
/// when a write could not be made durable, [`ErrorKind::InvalidArgument`] for requests outside
/// the limits in [`types`].
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which implementation this is.
    fn backend(&self) -> Backend;

    /// Describes the store: durability of acknowledged writes, cache usage, risky settings.
    /// On Redis this talks to the server, so it doubles as a health check.
    async fn info(&self) -> Result<StoreInfo>;

    // ----- records -----

    /// The live record under `key`, `None` if there is none or it has expired.
    async fn get(&self, key: &[u8]) -> Result<Option<Record>>;

    /// The live records under `keys`, in the same order (`None` where absent), read from one
    /// consistent snapshot. At most [`types::MAX_READ_ITEMS`] keys.
    async fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Record>>>;

    /// Up to `limit` live records whose key starts with `prefix` (every record for an empty
    /// prefix), in ascending byte order of key, starting after `start_after` when given. See
    /// [`ScanPage::resume_after`] to continue. Each page is read from one snapshot; pages are
    /// not a snapshot of each other.
    async fn scan_prefix(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ScanPage>;

    /// Checks `txn`'s conditions and applies its writes, atomically: either every write is
    /// applied and durable, or none is. See [`Transaction`].
    async fn transact(&self, txn: Transaction) -> Result<TransactionOutcome>;

    /// Stores `value` under `key` (replacing any record and its TTL) and returns the new
    /// revision. With `ttl` the record expires that long after the commit.
    async fn put(&self, key: &[u8], value: Bytes, ttl: Option<Duration>) -> Result<Revision> {
        let txn = Transaction::new().put(Bytes::copy_from_slice(key), value, ttl);
        match self.transact(txn).await? {
            TransactionOutcome::Committed(Committed {
                revision: Some(revision),
                ..
            }) => Ok(revision),
            other => Err(unexpected_outcome("put", &other)),
        }
    }

    /// Stores `value` under `key` only if no live record is there (Redis `SET NX PX`): the
    /// building block of region-wide locks. Returns the new revision, or `None` if the key was
    /// taken. Release a lock with a [`Transaction`] requiring [`Condition::ValueEquals`] your
    /// token, so you never delete someone else's lock after yours expired.
    async fn put_if_absent(
        &self,
        key: &[u8],
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<Option<Revision>> {
        let key = Bytes::copy_from_slice(key);
        let txn = Transaction::new()
            .require(Condition::absent(key.clone()))
            .put(key, value, ttl);
        match self.transact(txn).await? {
            TransactionOutcome::Committed(Committed {
                revision: Some(revision),
                ..
            }) => Ok(Some(revision)),
            TransactionOutcome::ConditionFailed(_) => Ok(None),
            other => Err(unexpected_outcome("put_if_absent", &other)),
        }
    }

    /// Removes the record under `key`; true if there was a live one. Deleting nothing does not
    /// consume a revision.
    async fn delete(&self, key: &[u8]) -> Result<bool> {
        let key = Bytes::copy_from_slice(key);
        let txn = Transaction::new()
            .require(Condition::exists(key.clone()))
            .delete(key);
        Ok(self.transact(txn).await?.is_committed())
    }

    // ----- logs -----

    /// Appends `payload` to the log `log` (created on first use) and returns its sequence
    /// number. When this returns `Ok`, the entry is durable.
    async fn append(&self, log: &str, payload: Bytes) -> Result<u64> {
        let txn = Transaction::new().append(log, payload);
        match self.transact(txn).await? {
            TransactionOutcome::Committed(Committed { appended, .. }) if appended.len() == 1 => {
                Ok(appended[0])
            }
            other => Err(unexpected_outcome("append", &other)),
        }
    }

    /// Up to `limit` entries of `log` with sequence numbers `>= from_seq`, in order. Empty if
    /// there are none (or the log does not exist).
    async fn read_log(&self, log: &str, from_seq: u64, limit: usize) -> Result<Vec<LogEntry>>;

    /// Removes every entry of `log` with sequence number `<= through_seq`; returns how many
    /// were removed. Sequence numbers are not reused afterwards.
    async fn trim_log(&self, log: &str, through_seq: u64) -> Result<u64>;

    /// The first and last sequence numbers and the length of `log` (all zero/`None` for a log
    /// never appended to).
    async fn log_info(&self, log: &str) -> Result<LogInfo>;

    // ----- pub/sub -----

    /// Publishes `message` to every current subscriber of `channel`, in this process
    /// (embedded) or on every node connected to the same Redis. Not stored: nobody
    /// subscribed, nobody receives it.
    async fn publish(&self, channel: &str, message: Bytes) -> Result<()>;

    /// Subscribes to `channel`. When this returns, every message published afterwards is
    /// delivered (or reported missing through [`Notification::Gap`]).
    async fn subscribe(&self, channel: &str) -> Result<Subscription>;

    // ----- cache area -----

    /// The cache entry under `key`, `None` if absent, expired or evicted.
    async fn cache_get(&self, key: &[u8]) -> Result<Option<Bytes>>;

    /// Stores a cache entry that expires after `ttl` (a TTL is required: on Redis it is what
    /// makes the entry evictable under `volatile-*` policies). Not fsynced: after a crash the
    /// cache may have lost recent entries, never gained wrong ones. The embedded store keeps
    /// the area within its byte budget by evicting the oldest-written entries first.
    async fn cache_put(&self, key: &[u8], value: Bytes, ttl: Duration) -> Result<CachePut>;

    /// Removes the cache entry under `key`; true if there was one.
    async fn cache_delete(&self, key: &[u8]) -> Result<bool>;

    // ----- lifecycle -----

    /// Stops background tasks, finishes queued writes and releases the file or connections.
    /// Every later call fails with [`ErrorKind::Closed`]; subscriptions end. The embedded file
    /// can be opened again once this returns.
    async fn close(&self) -> Result<()>;
}

fn unexpected_outcome(op: &'static str, outcome: &TransactionOutcome) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        op,
        format!("the backend answered with an impossible outcome: {outcome:?}"),
    )
}

/// Which store a node opens, as its configuration says.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// A redb file on the node's disk.
    Embedded(EmbeddedConfig),
    /// A Redis or Valkey server.
    Redis(RedisConfig),
}

/// Opens the configured store. The embedded store is ready when this returns; the Redis store
/// connects lazily, so a Redis that is down at start-up shows up as
/// [`ErrorKind::Unavailable`] on the first calls rather than here.
pub async fn open(config: StoreConfig) -> Result<SharedStore> {
    Ok(match config {
        StoreConfig::Embedded(config) => Arc::new(EmbeddedStore::open(config).await?),
        StoreConfig::Redis(config) => Arc::new(RedisStore::open(config).await?),
    })
}
