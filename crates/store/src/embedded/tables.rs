//! The redb file layout, the encoding of stored values, and redb error conversion.
//!
//! Layout (format 1):
//! - `records`: key → [revision u64 BE][expires-at ms u64 BE, 0 = never][value]
//! - `record_expiry`: (expires-at ms, key) → () for every record with a TTL (the sweep's index)
//! - `cache`: key → [order u64 BE][expires-at ms u64 BE][value]
//! - `cache_order`: order → key (oldest written first: the eviction order)
//! - `cache_expiry`: (expires-at ms, key) → ()
//! - `logs`: (log name, seq) → payload
//! - `log_heads`: log name → (last seq ever appended, entries held)
//! - `meta`: name → u64 (`format`, `revision`, `cache_bytes`, `cache_entries`, `cache_order`)

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redb::TableDefinition;

use crate::error::{ErrorKind, StoreError};
use crate::types::{Record, Revision};

pub(super) const RECORDS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("records");
pub(super) const RECORD_EXPIRY: TableDefinition<'_, (u64, &[u8]), ()> =
    TableDefinition::new("record_expiry");
pub(super) const CACHE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("cache");
pub(super) const CACHE_ORDER: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("cache_order");
pub(super) const CACHE_EXPIRY: TableDefinition<'_, (u64, &[u8]), ()> =
    TableDefinition::new("cache_expiry");
pub(super) const LOGS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("logs");
pub(super) const LOG_HEADS: TableDefinition<'_, &str, (u64, u64)> =
    TableDefinition::new("log_heads");
pub(super) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The layout above. A file with another number is refused rather than misread.
pub(super) const FORMAT: u64 = 1;
pub(super) const META_FORMAT: &str = "format";
pub(super) const META_REVISION: &str = "revision";
pub(super) const META_CACHE_BYTES: &str = "cache_bytes";
pub(super) const META_CACHE_ENTRIES: &str = "cache_entries";
pub(super) const META_CACHE_ORDER: &str = "cache_order";

/// Bytes charged to each cache entry on top of its key and value: its rows in the three cache
/// tables and their B-tree slots, roughly. Keeps a budget honest for many tiny entries.
pub(super) const CACHE_ENTRY_OVERHEAD: u64 = 64;

const HEADER: usize = 16;

/// Wall-clock milliseconds since the Unix epoch; TTLs are absolute times in these units (as in
/// Redis), so they mean the same after a restart.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A stored record, decoded.
pub(super) struct StoredRecord<'a> {
    pub(super) revision: u64,
    /// 0 = never expires.
    pub(super) expires_at: u64,
    pub(super) value: &'a [u8],
}

impl StoredRecord<'_> {
    pub(super) fn is_live(&self, now: u64) -> bool {
        self.expires_at == 0 || self.expires_at > now
    }

    pub(super) fn to_record(&self) -> Record {
        Record {
            value: Bytes::copy_from_slice(self.value),
            revision: Revision::new(self.revision),
        }
    }
}

pub(super) fn encode_record(revision: u64, expires_at: u64, value: &[u8]) -> Vec<u8> {
    encode(revision, expires_at, value)
}

pub(super) fn decode_record(bytes: &[u8]) -> Result<StoredRecord<'_>, StoreError> {
    let (revision, expires_at, value) = decode(bytes, "record")?;
    Ok(StoredRecord {
        revision,
        expires_at,
        value,
    })
}

/// A stored cache entry, decoded.
pub(super) struct StoredCacheEntry<'a> {
    pub(super) order: u64,
    pub(super) expires_at: u64,
    pub(super) value: &'a [u8],
}

pub(super) fn encode_cache_entry(order: u64, expires_at: u64, value: &[u8]) -> Vec<u8> {
    encode(order, expires_at, value)
}

pub(super) fn decode_cache_entry(bytes: &[u8]) -> Result<StoredCacheEntry<'_>, StoreError> {
    let (order, expires_at, value) = decode(bytes, "cache entry")?;
    Ok(StoredCacheEntry {
        order,
        expires_at,
        value,
    })
}

pub(super) fn cache_entry_cost(key_len: usize, value_len: usize) -> u64 {
    key_len as u64 + value_len as u64 + CACHE_ENTRY_OVERHEAD
}

fn encode(a: u64, b: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.extend_from_slice(&a.to_be_bytes());
    out.extend_from_slice(&b.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn decode<'a>(bytes: &'a [u8], what: &str) -> Result<(u64, u64, &'a [u8]), StoreError> {
    let too_short = || {
        StoreError::new(
            ErrorKind::Corrupt,
            "decode",
            format!(
                "a stored {what} of {} bytes is shorter than its header",
                bytes.len()
            ),
        )
    };
    let a = bytes.get(0..8).ok_or_else(too_short)?;
    let b = bytes.get(8..16).ok_or_else(too_short)?;
    let mut a8 = [0u8; 8];
    a8.copy_from_slice(a);
    let mut b8 = [0u8; 8];
    b8.copy_from_slice(b);
    Ok((
        u64::from_be_bytes(a8),
        u64::from_be_bytes(b8),
        &bytes[HEADER..],
    ))
}

/// Converts any redb error into a [`StoreError`] of the right kind, keeping it as the source.
pub(super) fn redb_error(op: &'static str, error: impl Into<redb::Error>) -> StoreError {
    let error: redb::Error = error.into();
    let kind = match &error {
        // redb reports a file that is not a redb database this way.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => ErrorKind::Corrupt,
        redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::Backend(_) => ErrorKind::Failed,
        redb::Error::Corrupted(_)
        | redb::Error::UpgradeRequired(_)
        | redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_) => ErrorKind::Corrupt,
        redb::Error::ValueTooLarge(_) => ErrorKind::InvalidArgument,
        redb::Error::DatabaseClosed => ErrorKind::Closed,
        _ => ErrorKind::Backend,
    };
    let detail = match &error {
        redb::Error::DatabaseAlreadyOpen => {
            "the database file is already open (by another store in this process, or another process)"
                .to_owned()
        }
        other => format!("embedded database: {other}"),
    };
    StoreError::new(kind, op, detail).with_source(error)
}
