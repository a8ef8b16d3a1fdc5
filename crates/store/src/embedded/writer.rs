//! The embedded store's single writer thread.
//!
//! redb allows one write transaction at a time and every durable commit costs an fsync, so all
//! writes go through one thread that takes whatever is queued (up to [`MAX_BATCH`] operations),
//! applies it in ONE write transaction and commits once: group commit. Each operation sees the
//! effects of the ones before it, exactly as if they had run one by one, and every caller is
//! answered only after the commit returned. If the commit fails, every caller in the batch gets
//! the error and the store refuses all later work (see [`WriterHealth`]).
//!
//! A batch of cache-only operations commits with `Durability::None` (no fsync: the cache may
//! lose recent entries on a crash, which is what a cache is allowed to do); the periodic sweep
//! commits durably and so also flushes those.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::tables::*;
use crate::error::{ErrorKind, Result, StoreError};
use crate::types::{
    ttl_millis, CachePut, Committed, Condition, ConditionFailed, Revision, Transaction,
    TransactionOutcome, Write,
};

/// Most operations applied in one write transaction. Bounds the latency a caller can be stuck
/// behind others' work and the memory of one transaction.
const MAX_BATCH: usize = 256;

/// Most expired records (and, separately, cache entries) one sweep removes, so a sweep after a
/// long downtime does not hold the writer for long; the next sweep continues.
const SWEEP_LIMIT: usize = 10_000;

/// Set once, by the first failed write transaction; from then on every operation fails.
///
/// After a failed fsync the kernel may already have dropped the dirty pages, so a later fsync
/// that succeeds would not mean the earlier data is on disk: the only safe recovery is to
/// reopen the file (redb then rolls back to the last durable commit).
#[derive(Debug, Default)]
pub(super) struct WriterHealth {
    failure: OnceLock<String>,
}

impl WriterHealth {
    /// `Err` once a write has failed.
    pub(super) fn check(&self, op: &'static str) -> Result<()> {
        match self.refusal(op) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    fn refusal(&self, op: &'static str) -> Option<StoreError> {
        self.failure.get().map(|why| {
            StoreError::new(
                ErrorKind::Failed,
                op,
                format!(
                    "the embedded store stopped after a failed write ({why}); restart to reopen it"
                ),
            )
        })
    }

    fn fail(&self, why: String) {
        let _ = self.failure.set(why);
    }
}

/// What a caller asks the writer to do.
#[derive(Debug)]
pub(super) enum WriteInput {
    Transact(Transaction),
    TrimLog {
        log: String,
        through: u64,
    },
    CachePut {
        key: Bytes,
        value: Bytes,
        ttl_ms: u64,
    },
    CacheDelete {
        key: Bytes,
    },
    Sweep,
}

impl WriteInput {
    fn op_name(&self) -> &'static str {
        match self {
            WriteInput::Transact(_) => "transact",
            WriteInput::TrimLog { .. } => "trim_log",
            WriteInput::CachePut { .. } => "cache_put",
            WriteInput::CacheDelete { .. } => "cache_delete",
            WriteInput::Sweep => "sweep",
        }
    }

    fn cache_only(&self) -> bool {
        matches!(
            self,
            WriteInput::CachePut { .. } | WriteInput::CacheDelete { .. }
        )
    }
}

/// What the writer answers.
#[derive(Debug)]
pub(super) enum WriteOutput {
    Transact(TransactionOutcome),
    TrimLog(u64),
    CachePut(CachePut),
    CacheDelete(bool),
    Sweep(SweepReport),
}

/// How much one sweep removed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SweepReport {
    pub(super) records: u64,
    pub(super) cache_entries: u64,
}

pub(super) struct Pending {
    pub(super) input: WriteInput,
    pub(super) reply: oneshot::Sender<Result<WriteOutput>>,
}

/// The writer thread's body: runs until every sender is dropped (the store is closed or
/// dropped), finishing what was queued.
pub(super) fn run(
    db: Arc<Database>,
    mut queue: mpsc::Receiver<Pending>,
    health: Arc<WriterHealth>,
    cache_budget: u64,
) {
    // True while a non-durable (cache-only) commit has not yet been followed by a durable one.
    let mut unsynced = false;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        process(&db, &mut batch, &health, cache_budget, &mut unsynced);
    }
}

fn process(
    db: &Database,
    batch: &mut Vec<Pending>,
    health: &WriterHealth,
    cache_budget: u64,
    unsynced: &mut bool,
) {
    if health.failure.get().is_some() {
        for pending in batch.drain(..) {
            if let Some(refusal) = health.refusal(pending.input.op_name()) {
                let _ = pending.reply.send(Err(refusal));
            }
        }
        return;
    }
    let durable = batch.iter().any(|p| !p.input.cache_only());
    let inputs: Vec<&WriteInput> = batch.iter().map(|p| &p.input).collect();
    match apply_batch(db, &inputs, durable, cache_budget, *unsynced) {
        Ok(outputs) => {
            if durable {
                *unsynced = false;
            } else if outputs.changed {
                *unsynced = true;
            }
            for (pending, output) in batch.drain(..).zip(outputs.results) {
                // A caller that gave up waiting is not an error: its write is committed.
                let _ = pending.reply.send(Ok(output));
            }
        }
        Err(error) => {
            if matches!(error.kind(), ErrorKind::Failed | ErrorKind::Corrupt) {
                tracing::error!(error = %error, "embedded store write failed; refusing further operations");
                health.fail(error.detail().to_owned());
            }
            for pending in batch.drain(..) {
                let op = pending.input.op_name();
                let _ = pending.reply.send(Err(StoreError::new(
                    error.kind(),
                    op,
                    format!("not committed: {}", error.detail()),
                )));
            }
        }
    }
}

struct BatchOutputs {
    results: Vec<WriteOutput>,
    changed: bool,
}

fn apply_batch(
    db: &Database,
    inputs: &[&WriteInput],
    durable: bool,
    cache_budget: u64,
    unsynced: bool,
) -> Result<BatchOutputs> {
    let mut txn = db.begin_write().map_err(|e| redb_error("begin write", e))?;
    if !durable {
        txn.set_durability(redb::Durability::None)
            .map_err(|e| redb_error("set durability", e))?;
    }
    let (results, changed) = {
        let mut tables = Tables::open(&txn)?;
        let mut meta = Meta::load(&tables.meta)?;
        let now = now_ms();
        let mut results = Vec::with_capacity(inputs.len());
        let mut changed = false;
        for input in inputs {
            let (output, this_changed) = tables.apply(input, &mut meta, now, cache_budget)?;
            changed |= this_changed;
            results.push(output);
        }
        if changed {
            meta.store(&mut tables.meta)?;
        }
        (results, changed)
    };
    // A durable commit with nothing new still matters when cache-only commits are waiting
    // for one (the sweep relies on this to bound how much can be unsynced).
    if changed || (durable && unsynced) {
        txn.commit().map_err(|e| redb_error("commit", e))?;
    } else {
        txn.abort().map_err(|e| redb_error("abort", e))?;
    }
    Ok(BatchOutputs { results, changed })
}

/// The counters in the `meta` table, loaded once per batch and stored back once.
struct Meta {
    revision: u64,
    cache_bytes: u64,
    cache_entries: u64,
    cache_order: u64,
}

impl Meta {
    fn load(table: &Table<'_, &'static str, u64>) -> Result<Self> {
        let get = |name: &str| -> Result<u64> {
            Ok(table
                .get(name)
                .map_err(|e| redb_error("read meta", e))?
                .map(|g| g.value())
                .unwrap_or(0))
        };
        Ok(Meta {
            revision: get(META_REVISION)?,
            cache_bytes: get(META_CACHE_BYTES)?,
            cache_entries: get(META_CACHE_ENTRIES)?,
            cache_order: get(META_CACHE_ORDER)?,
        })
    }

    fn store(&self, table: &mut Table<'_, &'static str, u64>) -> Result<()> {
        for (name, value) in [
            (META_REVISION, self.revision),
            (META_CACHE_BYTES, self.cache_bytes),
            (META_CACHE_ENTRIES, self.cache_entries),
            (META_CACHE_ORDER, self.cache_order),
        ] {
            table
                .insert(name, value)
                .map_err(|e| redb_error("write meta", e))?;
        }
        Ok(())
    }
}

struct Tables<'txn> {
    records: Table<'txn, &'static [u8], &'static [u8]>,
    record_expiry: Table<'txn, (u64, &'static [u8]), ()>,
    cache: Table<'txn, &'static [u8], &'static [u8]>,
    cache_order: Table<'txn, u64, &'static [u8]>,
    cache_expiry: Table<'txn, (u64, &'static [u8]), ()>,
    logs: Table<'txn, (&'static str, u64), &'static [u8]>,
    log_heads: Table<'txn, &'static str, (u64, u64)>,
    meta: Table<'txn, &'static str, u64>,
}

const NO_KEY: &[u8] = &[];

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        let e = |e| redb_error("open table", e);
        Ok(Tables {
            records: txn.open_table(RECORDS).map_err(e)?,
            record_expiry: txn.open_table(RECORD_EXPIRY).map_err(e)?,
            cache: txn.open_table(CACHE).map_err(e)?,
            cache_order: txn.open_table(CACHE_ORDER).map_err(e)?,
            cache_expiry: txn.open_table(CACHE_EXPIRY).map_err(e)?,
            logs: txn.open_table(LOGS).map_err(e)?,
            log_heads: txn.open_table(LOG_HEADS).map_err(e)?,
            meta: txn.open_table(META).map_err(e)?,
        })
    }

    /// Applies one operation; returns its answer and whether it changed anything.
    fn apply(
        &mut self,
        input: &WriteInput,
        meta: &mut Meta,
        now: u64,
        cache_budget: u64,
    ) -> Result<(WriteOutput, bool)> {
        Ok(match input {
            WriteInput::Transact(txn) => {
                let outcome = self.transact(txn, meta, now)?;
                let changed = outcome.is_committed() && !txn.writes().is_empty();
                (WriteOutput::Transact(outcome), changed)
            }
            WriteInput::TrimLog { log, through } => {
                let removed = self.trim_log(log, *through)?;
                (WriteOutput::TrimLog(removed), removed > 0)
            }
            WriteInput::CachePut { key, value, ttl_ms } => {
                let put = self.cache_put(key, value, *ttl_ms, meta, now, cache_budget)?;
                (WriteOutput::CachePut(put), true)
            }
            WriteInput::CacheDelete { key } => {
                let removed = self.cache_remove(key, meta)?;
                (WriteOutput::CacheDelete(removed), removed)
            }
            WriteInput::Sweep => {
                let report = self.sweep(meta, now)?;
                let changed = report.records > 0 || report.cache_entries > 0;
                (WriteOutput::Sweep(report), changed)
            }
        })
    }

    /// The live record's revision under `key`, and whether its value equals `value` (when one
    /// is given).
    fn current(&self, key: &[u8], now: u64, value: Option<&[u8]>) -> Result<Option<(u64, bool)>> {
        let Some(guard) = self
            .records
            .get(key)
            .map_err(|e| redb_error("transact", e))?
        else {
            return Ok(None);
        };
        let stored = decode_record(guard.value())?;
        if !stored.is_live(now) {
            return Ok(None);
        }
        let equal = value.is_none_or(|v| v == stored.value);
        Ok(Some((stored.revision, equal)))
    }

    fn transact(
        &mut self,
        txn: &Transaction,
        meta: &mut Meta,
        now: u64,
    ) -> Result<TransactionOutcome> {
        for (index, condition) in txn.conditions().iter().enumerate() {
            let expected_value = match condition {
                Condition::ValueEquals { value, .. } => Some(value.as_ref()),
                _ => None,
            };
            let current = self.current(condition.key(), now, expected_value)?;
            let holds = match (condition, current) {
                (Condition::Absent { .. }, current) => current.is_none(),
                (Condition::Exists { .. }, current) => current.is_some(),
                (Condition::RevisionIs { revision, .. }, Some((rev, _))) => rev == revision.get(),
                (Condition::ValueEquals { .. }, Some((_, equal))) => equal,
                (_, None) => false,
            };
            if !holds {
                return Ok(TransactionOutcome::ConditionFailed(ConditionFailed {
                    index,
                    current: current.map(|(rev, _)| Revision::new(rev)),
                }));
            }
        }

        let revision = if txn.writes_records() {
            meta.revision += 1;
            Some(meta.revision)
        } else {
            None
        };
        let mut appended = Vec::new();
        for write in txn.writes() {
            match write {
                Write::Put { key, value, ttl } => {
                    let expires_at = match ttl {
                        Some(ttl) => now + ttl_millis("transact", *ttl)?,
                        None => 0,
                    };
                    // Only reached when writes_records() set a revision.
                    let revision = revision.unwrap_or(meta.revision);
                    let encoded = encode_record(revision, expires_at, value);
                    let old_expiry = match self
                        .records
                        .insert(key.as_ref(), encoded.as_slice())
                        .map_err(|e| redb_error("transact", e))?
                    {
                        Some(old) => decode_record(old.value())?.expires_at,
                        None => 0,
                    };
                    if old_expiry != 0 {
                        self.record_expiry
                            .remove((old_expiry, key.as_ref()))
                            .map_err(|e| redb_error("transact", e))?;
                    }
                    if expires_at != 0 {
                        self.record_expiry
                            .insert((expires_at, key.as_ref()), ())
                            .map_err(|e| redb_error("transact", e))?;
                    }
                }
                Write::Delete { key } => {
                    let old_expiry = match self
                        .records
                        .remove(key.as_ref())
                        .map_err(|e| redb_error("transact", e))?
                    {
                        Some(old) => decode_record(old.value())?.expires_at,
                        None => 0,
                    };
                    if old_expiry != 0 {
                        self.record_expiry
                            .remove((old_expiry, key.as_ref()))
                            .map_err(|e| redb_error("transact", e))?;
                    }
                }
                Write::Append { log, payload } => {
                    let (last, len) = self
                        .log_heads
                        .get(log.as_str())
                        .map_err(|e| redb_error("append", e))?
                        .map(|g| g.value())
                        .unwrap_or((0, 0));
                    let seq = last + 1;
                    self.logs
                        .insert((log.as_str(), seq), payload.as_ref())
                        .map_err(|e| redb_error("append", e))?;
                    self.log_heads
                        .insert(log.as_str(), (seq, len + 1))
                        .map_err(|e| redb_error("append", e))?;
                    appended.push(seq);
                }
            }
        }
        Ok(TransactionOutcome::Committed(Committed {
            revision: revision.map(Revision::new),
            appended,
        }))
    }

    fn trim_log(&mut self, log: &str, through: u64) -> Result<u64> {
        let mut removed = 0u64;
        self.logs
            .retain_in((log, 0u64)..=(log, through), |_, _| {
                removed += 1;
                false
            })
            .map_err(|e| redb_error("trim_log", e))?;
        if removed > 0 {
            let (last, len) = self
                .log_heads
                .get(log)
                .map_err(|e| redb_error("trim_log", e))?
                .map(|g| g.value())
                .unwrap_or((0, 0));
            self.log_heads
                .insert(log, (last, len.saturating_sub(removed)))
                .map_err(|e| redb_error("trim_log", e))?;
        }
        Ok(removed)
    }

    /// Removes the cache entry under `key` with its index rows; true if there was one.
    fn cache_remove(&mut self, key: &[u8], meta: &mut Meta) -> Result<bool> {
        let Some((order, expires_at, value_len)) = self
            .cache
            .remove(key)
            .map_err(|e| redb_error("cache", e))?
            .map(|old| {
                decode_cache_entry(old.value()).map(|e| (e.order, e.expires_at, e.value.len()))
            })
            .transpose()?
        else {
            return Ok(false);
        };
        self.cache_order
            .remove(order)
            .map_err(|e| redb_error("cache", e))?;
        self.cache_expiry
            .remove((expires_at, key))
            .map_err(|e| redb_error("cache", e))?;
        meta.cache_bytes = meta
            .cache_bytes
            .saturating_sub(cache_entry_cost(key.len(), value_len));
        meta.cache_entries = meta.cache_entries.saturating_sub(1);
        Ok(true)
    }

    fn cache_put(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl_ms: u64,
        meta: &mut Meta,
        now: u64,
        budget: u64,
    ) -> Result<CachePut> {
        // Remove first in every case: a value too large to keep must not leave the previous
        // (now outdated) one behind to be served.
        self.cache_remove(key, meta)?;
        let cost = cache_entry_cost(key.len(), value.len());
        if cost > budget {
            return Ok(CachePut::TooLarge);
        }
        let mut evicted = 0;
        while meta.cache_bytes + cost > budget {
            let oldest = self
                .cache_order
                .first()
                .map_err(|e| redb_error("cache evict", e))?
                .map(|(_, key)| key.value().to_vec());
            match oldest {
                Some(oldest) => {
                    self.cache_remove(&oldest, meta)?;
                    evicted += 1;
                }
                None => {
                    // Nothing left to evict yet the counter says we are over: the counter
                    // drifted (it cannot by construction, but a wrong counter must not wedge
                    // the cache). Resynchronise with the now-empty area.
                    meta.cache_bytes = 0;
                    meta.cache_entries = 0;
                    break;
                }
            }
        }
        meta.cache_order += 1;
        let order = meta.cache_order;
        let expires_at = now + ttl_ms;
        let encoded = encode_cache_entry(order, expires_at, value);
        self.cache
            .insert(key, encoded.as_slice())
            .map_err(|e| redb_error("cache_put", e))?;
        self.cache_order
            .insert(order, key)
            .map_err(|e| redb_error("cache_put", e))?;
        self.cache_expiry
            .insert((expires_at, key), ())
            .map_err(|e| redb_error("cache_put", e))?;
        meta.cache_bytes += cost;
        meta.cache_entries += 1;
        Ok(CachePut::Stored { evicted })
    }

    fn sweep(&mut self, meta: &mut Meta, now: u64) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        // Everything with an expiry time <= now sorts before (now + 1, empty key).
        let upper = (now.saturating_add(1), NO_KEY);

        let due = collect_due(&self.record_expiry, upper)?;
        for (expires_at, key) in due {
            self.record_expiry
                .remove((expires_at, key.as_slice()))
                .map_err(|e| redb_error("sweep", e))?;
            let current_expiry = self
                .records
                .get(key.as_slice())
                .map_err(|e| redb_error("sweep", e))?
                .map(|g| decode_record(g.value()).map(|r| r.expires_at))
                .transpose()?;
            // Only if the record still has this expiry: a later put replaced it otherwise.
            if current_expiry == Some(expires_at) {
                self.records
                    .remove(key.as_slice())
                    .map_err(|e| redb_error("sweep", e))?;
                report.records += 1;
            }
        }

        let due = collect_due(&self.cache_expiry, upper)?;
        for (expires_at, key) in due {
            let current_expiry = self
                .cache
                .get(key.as_slice())
                .map_err(|e| redb_error("sweep", e))?
                .map(|g| decode_cache_entry(g.value()).map(|e| e.expires_at))
                .transpose()?;
            if current_expiry == Some(expires_at) {
                self.cache_remove(&key, meta)?;
                report.cache_entries += 1;
            } else {
                self.cache_expiry
                    .remove((expires_at, key.as_slice()))
                    .map_err(|e| redb_error("sweep", e))?;
            }
        }
        Ok(report)
    }
}

fn collect_due(
    table: &Table<'_, (u64, &'static [u8]), ()>,
    upper: (u64, &[u8]),
) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut due = Vec::new();
    for row in table
        .range(..upper)
        .map_err(|e| redb_error("sweep", e))?
        .take(SWEEP_LIMIT)
    {
        let (key, _) = row.map_err(|e| redb_error("sweep", e))?;
        let (expires_at, key) = key.value();
        due.push((expires_at, key.to_vec()));
    }
    Ok(due)
}
