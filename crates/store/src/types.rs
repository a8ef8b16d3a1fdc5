//! The values the [`Store`](crate::Store) interface takes and returns, and the limits both
//! backends enforce identically (so a caller never sees one accept what the other refuses).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Result, StoreError};

/// Longest record or cache key, in bytes. Long enough for a cache key built from a URL with a
/// long query string plus the keyed headers; short enough to keep index pages small.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// Largest record value, cache value or log payload, in bytes. Both backends accept it (Redis
/// caps a string at 512 MiB, redb a value at 3 GiB); objects beyond this belong elsewhere.
pub const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// Longest log or pub/sub channel name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Most conditions plus writes in one [`Transaction`] (a KV bulk write of 10 000 pairs fits).
pub const MAX_TRANSACTION_ITEMS: usize = 10_000;

/// Most items one bounded read ([`Store::scan_prefix`](crate::Store::scan_prefix),
/// [`Store::read_log`](crate::Store::read_log), [`Store::get_many`](crate::Store::get_many))
/// may ask for, so a single call never ties up a backend.
pub const MAX_READ_ITEMS: usize = 10_000;

/// A record's revision: a store-wide counter, increased by every committed transaction that
/// puts or deletes a record, and stamped on every record that transaction wrote.
///
/// Because the counter is store-wide and never goes back, a key that is deleted and created
/// again gets a larger revision than before: an `If-Match` on the old revision can never match
/// the new record (no ABA). Revisions start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(u64);

impl Revision {
    /// A revision from its number (for example parsed from an `If-Match` header).
    pub const fn new(value: u64) -> Self {
        Revision(value)
    }

    /// The revision's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored record: its value and the revision of the transaction that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The value, exactly as written.
    pub value: Bytes,
    /// The revision of the write that produced this value.
    pub revision: Revision,
}

/// A condition checked, atomically with the writes, by [`Store::transact`](crate::Store::transact).
/// Expired records count as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The key holds no record (create-only, `If-None-Match: *`, taking a lock).
    Absent {
        /// The record key.
        key: Bytes,
    },
    /// The key holds a record, whatever its value.
    Exists {
        /// The record key.
        key: Bytes,
    },
    /// The key holds a record whose revision is exactly `revision` (`If-Match`).
    RevisionIs {
        /// The record key.
        key: Bytes,
        /// The revision the record must have.
        revision: Revision,
    },
    /// The key holds a record whose value is byte-for-byte `value` (releasing or extending a
    /// lock only if we still own it).
    ValueEquals {
        /// The record key.
        key: Bytes,
        /// The value the record must hold.
        value: Bytes,
    },
}

impl Condition {
    /// [`Condition::Absent`] for `key`.
    pub fn absent(key: impl Into<Bytes>) -> Self {
        Condition::Absent { key: key.into() }
    }

    /// [`Condition::Exists`] for `key`.
    pub fn exists(key: impl Into<Bytes>) -> Self {
        Condition::Exists { key: key.into() }
    }

    /// [`Condition::RevisionIs`] for `key` and `revision`.
    pub fn revision_is(key: impl Into<Bytes>, revision: Revision) -> Self {
        Condition::RevisionIs {
            key: key.into(),
            revision,
        }
    }

    /// [`Condition::ValueEquals`] for `key` and `value`.
    pub fn value_equals(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Condition::ValueEquals {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The record key this condition looks at.
    pub fn key(&self) -> &Bytes {
        match self {
            Condition::Absent { key }
            | Condition::Exists { key }
            | Condition::RevisionIs { key, .. }
            | Condition::ValueEquals { key, .. } => key,
        }
    }
}

/// A write applied by [`Store::transact`](crate::Store::transact) when every condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Store `value` under `key`, replacing any record (and its TTL). With a TTL the record
    /// disappears that long after the commit; without one it stays until deleted.
    Put {
        /// The record key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// How long the record lives; `None` for no expiry.
        ttl: Option<Duration>,
    },
    /// Remove the record under `key` (nothing happens if there is none).
    Delete {
        /// The record key.
        key: Bytes,
    },
    /// Append `payload` to the log `log`; the commit reports its sequence number.
    Append {
        /// The log's name.
        log: String,
        /// The entry's bytes.
        payload: Bytes,
    },
}

/// An all-or-nothing batch: every condition is checked against the state before any write,
/// and either all writes are applied (in order, later writes to a key win) or none is.
///
/// Writes to records and appends to logs commit together, so a KV write and its change-feed
/// entry, or a queued write-behind request and its pending-overlay record, can never be
/// separated by a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    conditions: Vec<Condition>,
    writes: Vec<Write>,
}

impl Transaction {
    /// An empty transaction (committing it changes nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition that must hold for the writes to be applied.
    pub fn require(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Adds a [`Write::Put`].
    pub fn put(
        mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Option<Duration>,
    ) -> Self {
        self.writes.push(Write::Put {
            key: key.into(),
            value: value.into(),
            ttl,
        });
        self
    }

    /// Adds a [`Write::Delete`].
    pub fn delete(mut self, key: impl Into<Bytes>) -> Self {
        self.writes.push(Write::Delete { key: key.into() });
        self
    }

    /// Adds a [`Write::Append`].
    pub fn append(mut self, log: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        self.writes.push(Write::Append {
            log: log.into(),
            payload: payload.into(),
        });
        self
    }

    /// The conditions, in the order they are checked.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The writes, in the order they are applied.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// True when the transaction puts or deletes at least one record (and so gets a revision).
    pub fn writes_records(&self) -> bool {
        self.writes
            .iter()
            .any(|w| matches!(w, Write::Put { .. } | Write::Delete { .. }))
    }

    /// Checks every limit; both backends call this before touching storage.
    pub(crate) fn validate(&self) -> Result<()> {
        const OP: &str = "transact";
        if self.conditions.len() + self.writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::invalid(
                OP,
                format!(
                    "{} conditions and writes; at most {MAX_TRANSACTION_ITEMS} per transaction",
                    self.conditions.len() + self.writes.len()
                ),
            ));
        }
        for condition in &self.conditions {
            check_key(OP, condition.key())?;
            if let Condition::ValueEquals { value, .. } = condition {
                check_value(OP, value)?;
            }
        }
        for write in &self.writes {
            match write {
                Write::Put { key, value, ttl } => {
                    check_key(OP, key)?;
                    check_value(OP, value)?;
                    if let Some(ttl) = ttl {
                        ttl_millis(OP, *ttl)?;
                    }
                }
                Write::Delete { key } => check_key(OP, key)?,
                Write::Append { log, payload } => {
                    check_name(OP, "log", log)?;
                    check_value(OP, payload)?;
                }
            }
        }
        Ok(())
    }
}

/// What [`Store::transact`](crate::Store::transact) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionOutcome {
    /// Every condition held and every write is applied (and durable, see the backend).
    Committed(Committed),
    /// A condition did not hold; nothing was written.
    ConditionFailed(ConditionFailed),
}

impl TransactionOutcome {
    /// True for [`TransactionOutcome::Committed`].
    pub fn is_committed(&self) -> bool {
        matches!(self, TransactionOutcome::Committed(_))
    }
}

/// The result of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The revision stamped on every record the transaction put; `None` when it wrote no record
    /// (only appends).
    pub revision: Option<Revision>,
    /// The sequence number of each [`Write::Append`], in the order of the writes.
    pub appended: Vec<u64>,
}

/// Which condition of a transaction failed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFailed {
    /// Index of the failed condition in [`Transaction::conditions`].
    pub index: usize,
    /// The revision of the record under that condition's key now, `None` if there is none (the
    /// KV puts it in its 412 answer).
    pub current: Option<Revision>,
}

/// One page of [`Store::scan_prefix`](crate::Store::scan_prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Records whose key starts with the prefix, in ascending byte order of their keys.
    pub entries: Vec<(Bytes, Record)>,
    /// `Some(key)` when the scan stopped before the end of the prefix (the page is full, or it
    /// skipped many expired records): pass it as `start_after` to continue. `None` when the
    /// prefix is exhausted. A page may be short, even empty, and still have a `resume_after`.
    pub resume_after: Option<Bytes>,
}

/// One entry of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's sequence number: 1 for a log's first append, then consecutive. Numbers are
    /// never reused, even after trimming.
    pub seq: u64,
    /// The bytes that were appended.
    pub payload: Bytes,
}

/// The state of one log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogInfo {
    /// The lowest retained sequence number; `None` when the log holds no entry.
    pub first_seq: Option<u64>,
    /// The sequence number of the last append ever made (0 if none), retained or trimmed.
    pub last_seq: u64,
    /// How many entries the log holds now.
    pub len: u64,
}

/// What [`Store::cache_put`](crate::Store::cache_put) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePut {
    /// The entry is stored; `evicted` older entries were removed to stay within the byte budget
    /// (always 0 on Redis, where the server evicts on its own).
    Stored {
        /// Entries evicted by this put.
        evicted: u64,
    },
    /// The entry alone is larger than the cache's byte budget; it was not stored (and any older
    /// entry under the key was removed, so a stale copy is never served).
    TooLarge,
}

/// Which implementation is behind a [`Store`](crate::Store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The node's own file ([`EmbeddedStore`](crate::EmbeddedStore)).
    Embedded,
    /// A Redis or Valkey server ([`RedisStore`](crate::RedisStore)).
    Redis,
}

impl Backend {
    /// `"embedded"` or `"redis"`, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Redis => "redis",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an acknowledged record write or log append survives a crash of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write was fsynced first (the embedded store; Redis with
    /// `appendonly yes` and `appendfsync always`).
    Synced,
    /// Acknowledged writes can be lost on a crash; the text says why (for example Redis with
    /// `appendonly no`). Write-behind must not run on such a store.
    NotSynced(String),
    /// The store could not tell (for example Redis with `CONFIG` disabled); the text says why.
    Unknown(String),
}

/// Byte-budget usage of the embedded cache area.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Bytes accounted to cache entries (key + value + a fixed per-entry overhead).
    pub bytes: u64,
    /// Entries in the cache area (including expired ones not yet swept).
    pub entries: u64,
    /// The configured byte budget.
    pub budget: u64,
}

/// A description of a running store, from [`Store::info`](crate::Store::info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Which implementation this is.
    pub backend: Backend,
    /// Whether acknowledged writes survive a machine crash.
    pub durability: Durability,
    /// Usage of the cache area's byte budget; `None` on Redis (the server's `maxmemory` bounds
    /// it).
    pub cache: Option<CacheUsage>,
    /// Settings that put data at risk, one sentence each (for example a Redis
    /// `maxmemory-policy` that may evict records and logs).
    pub warnings: Vec<String>,
}

pub(crate) fn check_key(op: &'static str, key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::invalid(op, "empty key"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::invalid(
            op,
            format!("key of {} bytes; at most {MAX_KEY_LEN}", key.len()),
        ));
    }
    Ok(())
}

pub(crate) fn check_value(op: &'static str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(StoreError::invalid(
            op,
            format!("value of {} bytes; at most {MAX_VALUE_LEN}", value.len()),
        ));
    }
    Ok(())
}

pub(crate) fn check_name(op: &'static str, what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(StoreError::invalid(
            op,
            format!(
                "{what} name of {} bytes; 1 to {MAX_NAME_LEN} required",
                name.len()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_limit(op: &'static str, limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_READ_ITEMS {
        return Err(StoreError::invalid(
            op,
            format!("limit {limit}; 1 to {MAX_READ_ITEMS} required"),
        ));
    }
    Ok(())
}

/// A TTL in whole milliseconds, rounded up (a 0.3 ms TTL must not become "no TTL"); zero is
/// refused because both "expire now" and "never" would be surprising readings of it.
pub(crate) fn ttl_millis(op: &'static str, ttl: Duration) -> Result<u64> {
    if ttl.is_zero() {
        return Err(StoreError::invalid(op, "TTL of zero"));
    }
    let millis = ttl.as_nanos().div_ceil(1_000_000);
    // Ten years is far beyond any cache or lock lifetime; beyond it, arithmetic on wall-clock
    // milliseconds would start to be at risk.
    const MAX_TTL_MS: u128 = 10 * 365 * 24 * 3600 * 1000;
    if millis > MAX_TTL_MS {
        return Err(StoreError::invalid(op, "TTL longer than ten years"));
    }
    Ok(millis as u64)
}
