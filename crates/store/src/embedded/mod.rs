//! The embedded store: one redb file on the node's disk.
//!
//! Durability: record writes, log appends and trims are committed with
//! `redb::Durability::Immediate` (redb's commit protocol with fsync) before the caller is
//! answered; a failed commit is returned as [`ErrorKind::Failed`] and the store then refuses
//! every later operation (see `writer::WriterHealth`). Cache writes are committed without
//! fsync; the periodic sweep's durable commit flushes them.
//!
//! Concurrency: reads run on tokio's blocking pool, each in its own redb read transaction (a
//! consistent snapshot, never blocked by the writer); writes go to the single writer thread,
//! which group-commits whatever is queued.
//!
//! TTL: expired records and cache entries are invisible to every read and condition at once
//! (lazy expiry) and removed from the file by a sweep every `sweep_interval`.
//!
//! Cache budget: the cache area's accounted bytes (key + value + a fixed per-entry overhead)
//! never exceed `cache_budget_bytes`: a put evicts the oldest-written entries first (FIFO by
//! write time; reads do not reorder, because making every tier-2 hit a disk write would cost
//! more than the better hit ratio of LRU gains). The file itself can be larger than the budget
//! by B-tree overhead and free pages, which redb reuses but does not give back to the OS.
//!
//! Pub/sub is in-process only: messages reach subscribers of this store in this process.

mod tables;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use self::tables::*;
use self::writer::{Pending, WriteInput, WriteOutput, WriterHealth};
use crate::error::{ErrorKind, Result, StoreError};
use crate::pubsub::{Hub, Subscription};
use crate::types::{
    check_key, check_limit, check_name, check_value, ttl_millis, Backend, CachePut, CacheUsage,
    Durability, LogEntry, LogInfo, Record, ScanPage, StoreInfo, Transaction, TransactionOutcome,
    MAX_READ_ITEMS,
};
use crate::Store;

/// Settings of an [`EmbeddedStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// The database file (created with its parent directories if missing). One store per file:
    /// a second open of the same file fails until the first is closed.
    pub path: PathBuf,
    /// The most bytes the cache area may hold (key + value + 64 bytes per entry). Default
    /// 256 MiB.
    pub cache_budget_bytes: u64,
    /// How often expired records and cache entries are removed from the file. Default 1 s.
    pub sweep_interval: Duration,
    /// Memory redb may use to cache file pages. Default 32 MiB.
    pub page_cache_bytes: usize,
    /// Messages a subscriber may fall behind before it misses some (and gets a
    /// [`Notification::Gap`](crate::Notification::Gap)). Default 1024.
    pub subscription_capacity: usize,
}

impl EmbeddedConfig {
    /// Defaults for a store in the file `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EmbeddedConfig {
            path: path.into(),
            cache_budget_bytes: 256 * 1024 * 1024,
            sweep_interval: Duration::from_secs(1),
            page_cache_bytes: 32 * 1024 * 1024,
            subscription_capacity: 1024,
        }
    }
}

/// The embedded [`Store`]: a redb file, a writer thread, a sweep task and an in-process
/// pub/sub hub. Cheap to clone (all clones are the same store).
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EmbeddedConfig,
    // `None` once closed. Readers clone the Arc for the duration of one read.
    db: RwLock<Option<Arc<Database>>>,
    writer: Mutex<Option<mpsc::Sender<Pending>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    health: Arc<WriterHealth>,
    hub: Hub,
}

/// Operations queued for the writer before senders wait; enough to fill several batches.
const WRITE_QUEUE: usize = 4096;

impl EmbeddedStore {
    /// Opens (or creates) the store in `config.path`, recovering to the last durable commit
    /// if the previous process died, and starts its writer thread and sweep task (so it must
    /// be called within a tokio runtime).
    pub async fn open(config: EmbeddedConfig) -> Result<Self> {
        validate_config(&config)?;
        let path = config.path.clone();
        let page_cache = config.page_cache_bytes;
        let db = blocking("open", move || {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::new(
                        ErrorKind::Failed,
                        "open",
                        format!("cannot create directory {}", parent.display()),
                    )
                    .with_source(e)
                })?;
            }
            let db = redb::Builder::new()
                .set_cache_size(page_cache)
                .create(&path)
                .map_err(|e| {
                    let error = redb_error("open", e);
                    StoreError::new(
                        error.kind(),
                        "open",
                        format!("{}: {}", path.display(), error.detail()),
                    )
                })?;
            Ok(db)
        })
        .await?;
        Self::start(db, config).await
    }

    /// Opens a store over an already opened redb database (tests inject faulty storage this
    /// way).
    async fn start(db: Database, config: EmbeddedConfig) -> Result<Self> {
        let db = Arc::new(db);
        let init_db = db.clone();
        blocking("open", move || init_tables(&init_db)).await?;

        let (sender, queue) = mpsc::channel(WRITE_QUEUE);
        let health = Arc::new(WriterHealth::default());
        let writer_thread = {
            let db = db.clone();
            let health = health.clone();
            let budget = config.cache_budget_bytes;
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || writer::run(db, queue, health, budget))
                .map_err(|e| {
                    StoreError::new(ErrorKind::Failed, "open", "cannot start the writer thread")
                        .with_source(e)
                })?
        };
        let inner = Arc::new(Inner {
            hub: Hub::new(config.subscription_capacity),
            config,
            db: RwLock::new(Some(db)),
            writer: Mutex::new(Some(sender)),
            writer_thread: Mutex::new(Some(writer_thread)),
            sweeper: Mutex::new(None),
            health,
        });
        let sweeper = tokio::spawn(sweep_loop(
            Arc::downgrade(&inner),
            inner.config.sweep_interval,
        ));
        *lock(&inner.sweeper) = Some(sweeper);
        Ok(EmbeddedStore { inner })
    }

    /// The path of the database file.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.config.path
    }

    /// Removes expired records and cache entries now, as the periodic sweep does; returns how
    /// many records and cache entries it removed.
    pub async fn sweep_now(&self) -> Result<(u64, u64)> {
        match self.inner.submit("sweep", WriteInput::Sweep).await? {
            WriteOutput::Sweep(report) => Ok((report.records, report.cache_entries)),
            other => Err(wrong_output("sweep", &other)),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        op: &'static str,
        read: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.inner.health.check(op)?;
        let db = self.inner.database(op)?;
        blocking(op, move || read(&db)).await
    }

    async fn cache_usage(&self) -> Result<CacheUsage> {
        let budget = self.inner.config.cache_budget_bytes;
        self.read("info", move |db| {
            let txn = db.begin_read().map_err(|e| redb_error("info", e))?;
            let meta = txn.open_table(META).map_err(|e| redb_error("info", e))?;
            let get = |name: &str| -> Result<u64> {
                Ok(meta
                    .get(name)
                    .map_err(|e| redb_error("info", e))?
                    .map(|g| g.value())
                    .unwrap_or(0))
            };
            Ok(CacheUsage {
                bytes: get(META_CACHE_BYTES)?,
                entries: get(META_CACHE_ENTRIES)?,
                budget,
            })
        })
        .await
    }
}

impl Inner {
    fn database(&self, op: &'static str) -> Result<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| StoreError::closed(op))
    }

    async fn submit(&self, op: &'static str, input: WriteInput) -> Result<WriteOutput> {
        self.health.check(op)?;
        let sender = lock(&self.writer)
            .clone()
            .ok_or_else(|| StoreError::closed(op))?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending { input, reply })
            .await
            .map_err(|_| StoreError::closed(op))?;
        answer.await.map_err(|_| {
            StoreError::new(
                ErrorKind::Failed,
                op,
                "the writer thread stopped before answering (the write may or may not be committed)",
            )
        })?
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every value behind these mutexes is a handle that stays valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn validate_config(config: &EmbeddedConfig) -> Result<()> {
    if config.cache_budget_bytes == 0 {
        return Err(StoreError::invalid(
            "open",
            "cache_budget_bytes must be > 0",
        ));
    }
    if config.sweep_interval.is_zero() {
        return Err(StoreError::invalid("open", "sweep_interval must be > 0"));
    }
    Ok(())
}

/// Runs blocking redb work on tokio's blocking pool. A panic there (redb may panic on a file
/// corrupted outside it) becomes [`ErrorKind::Corrupt`] instead of taking the node down.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(StoreError::new(
            ErrorKind::Corrupt,
            op,
            "the embedded database panicked (a corrupted file?)",
        )),
        Err(_) => Err(StoreError::closed(op)),
    }
}

fn init_tables(db: &Database) -> Result<()> {
    let txn = db.begin_write().map_err(|e| redb_error("open", e))?;
    {
        txn.open_table(RECORDS).map_err(|x| redb_error("open", x))?;
        txn.open_table(RECORD_EXPIRY)
            .map_err(|x| redb_error("open", x))?;
        txn.open_table(CACHE).map_err(|x| redb_error("open", x))?;
        txn.open_table(CACHE_ORDER)
            .map_err(|x| redb_error("open", x))?;
        txn.open_table(CACHE_EXPIRY)
            .map_err(|x| redb_error("open", x))?;
        txn.open_table(LOGS).map_err(|x| redb_error("open", x))?;
        txn.open_table(LOG_HEADS)
            .map_err(|x| redb_error("open", x))?;
        let mut meta = txn.open_table(META).map_err(|x| redb_error("open", x))?;
        let format = meta
            .get(META_FORMAT)
            .map_err(|x| redb_error("open", x))?
            .map(|g| g.value());
        match format {
            None => {
                meta.insert(META_FORMAT, FORMAT)
                    .map_err(|x| redb_error("open", x))?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::new(
                    ErrorKind::Corrupt,
                    "open",
                    format!("the file has store format {other}; this build reads format {FORMAT}"),
                ))
            }
        }
    }
    txn.commit().map_err(|e| redb_error("open", e))
}

async fn sweep_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match inner.submit("sweep", WriteInput::Sweep).await {
            Ok(WriteOutput::Sweep(report)) => {
                if report.records > 0 || report.cache_entries > 0 {
                    tracing::debug!(
                        records = report.records,
                        cache_entries = report.cache_entries,
                        "swept expired entries"
                    );
                }
            }
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Closed => return,
            Err(error) => tracing::warn!(%error, "store sweep failed"),
        }
    }
}

fn wrong_output(op: &'static str, output: &WriteOutput) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        op,
        format!("the writer answered with {output:?}"),
    )
}

fn read_txn(op: &'static str, db: &Database) -> Result<redb::ReadTransaction> {
    db.begin_read().map_err(|e| redb_error(op, e))
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> Backend {
        Backend::Embedded
    }

    async fn info(&self) -> Result<StoreInfo> {
        Ok(StoreInfo {
            backend: Backend::Embedded,
            durability: Durability::Synced,
            cache: Some(self.cache_usage().await?),
            warnings: Vec::new(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Record>> {
        check_key("get", key)?;
        let key = key.to_vec();
        self.read("get", move |db| {
            let txn = read_txn("get", db)?;
            let table = txn.open_table(RECORDS).map_err(|e| redb_error("get", e))?;
            read_record(&table, &key, now_ms())
        })
        .await
    }

    async fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Record>>> {
        if keys.len() > MAX_READ_ITEMS {
            return Err(StoreError::invalid(
                "get_many",
                format!("{} keys; at most {MAX_READ_ITEMS}", keys.len()),
            ));
        }
        for key in keys {
            check_key("get_many", key)?;
        }
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        self.read("get_many", move |db| {
            let txn = read_txn("get_many", db)?;
            let table = txn
                .open_table(RECORDS)
                .map_err(|e| redb_error("get_many", e))?;
            let now = now_ms();
            keys.iter()
                .map(|key| read_record(&table, key, now))
                .collect()
        })
        .await
    }

    async fn scan_prefix(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_limit("scan_prefix", limit)?;
        let prefix = prefix.to_vec();
        let start_after = start_after.map(|k| k.to_vec());
        self.read("scan_prefix", move |db| {
            scan(db, &prefix, start_after.as_deref(), limit)
        })
        .await
    }

    async fn transact(&self, txn: Transaction) -> Result<TransactionOutcome> {
        txn.validate()?;
        match self
            .inner
            .submit("transact", WriteInput::Transact(txn))
            .await?
        {
            WriteOutput::Transact(outcome) => Ok(outcome),
            other => Err(wrong_output("transact", &other)),
        }
    }

    async fn read_log(&self, log: &str, from_seq: u64, limit: usize) -> Result<Vec<LogEntry>> {
        check_name("read_log", "log", log)?;
        check_limit("read_log", limit)?;
        let log = log.to_owned();
        self.read("read_log", move |db| {
            let txn = read_txn("read_log", db)?;
            let table = txn
                .open_table(LOGS)
                .map_err(|e| redb_error("read_log", e))?;
            let mut entries = Vec::new();
            for row in table
                .range((log.as_str(), from_seq)..=(log.as_str(), u64::MAX))
                .map_err(|e| redb_error("read_log", e))?
                .take(limit)
            {
                let (key, payload) = row.map_err(|e| redb_error("read_log", e))?;
                entries.push(LogEntry {
                    seq: key.value().1,
                    payload: Bytes::copy_from_slice(payload.value()),
                });
            }
            Ok(entries)
        })
        .await
    }

    async fn trim_log(&self, log: &str, through_seq: u64) -> Result<u64> {
        check_name("trim_log", "log", log)?;
        let input = WriteInput::TrimLog {
            log: log.to_owned(),
            through: through_seq,
        };
        match self.inner.submit("trim_log", input).await? {
            WriteOutput::TrimLog(removed) => Ok(removed),
            other => Err(wrong_output("trim_log", &other)),
        }
    }

    async fn log_info(&self, log: &str) -> Result<LogInfo> {
        check_name("log_info", "log", log)?;
        let log = log.to_owned();
        self.read("log_info", move |db| {
            let txn = read_txn("log_info", db)?;
            let heads = txn
                .open_table(LOG_HEADS)
                .map_err(|x| redb_error("log_info", x))?;
            let Some((last_seq, len)) = heads
                .get(log.as_str())
                .map_err(|x| redb_error("log_info", x))?
                .map(|g| g.value())
            else {
                return Ok(LogInfo::default());
            };
            let logs = txn
                .open_table(LOGS)
                .map_err(|x| redb_error("log_info", x))?;
            let first_seq = match logs
                .range((log.as_str(), 0u64)..=(log.as_str(), u64::MAX))
                .map_err(|x| redb_error("log_info", x))?
                .next()
            {
                Some(row) => Some(row.map_err(|x| redb_error("log_info", x))?.0.value().1),
                None => None,
            };
            Ok(LogInfo {
                first_seq,
                last_seq,
                len,
            })
        })
        .await
    }

    async fn publish(&self, channel: &str, message: Bytes) -> Result<()> {
        check_name("publish", "channel", channel)?;
        check_value("publish", &message)?;
        self.inner.database("publish")?;
        self.inner.hub.dispatch(channel, message);
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        check_name("subscribe", "channel", channel)?;
        self.inner.database("subscribe")?;
        let receiver = self.inner.hub.subscribe(channel);
        Ok(Subscription::new(channel.to_owned(), receiver, None))
    }

    async fn cache_get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key("cache_get", key)?;
        let key = key.to_vec();
        self.read("cache_get", move |db| {
            let txn = read_txn("cache_get", db)?;
            let table = txn
                .open_table(CACHE)
                .map_err(|e| redb_error("cache_get", e))?;
            let Some(guard) = table
                .get(key.as_slice())
                .map_err(|e| redb_error("cache_get", e))?
            else {
                return Ok(None);
            };
            let entry = decode_cache_entry(guard.value())?;
            Ok((entry.expires_at > now_ms()).then(|| Bytes::copy_from_slice(entry.value)))
        })
        .await
    }

    async fn cache_put(&self, key: &[u8], value: Bytes, ttl: Duration) -> Result<CachePut> {
        check_key("cache_put", key)?;
        check_value("cache_put", &value)?;
        let ttl_ms = ttl_millis("cache_put", ttl)?;
        let input = WriteInput::CachePut {
            key: Bytes::copy_from_slice(key),
            value,
            ttl_ms,
        };
        match self.inner.submit("cache_put", input).await? {
            WriteOutput::CachePut(put) => Ok(put),
            other => Err(wrong_output("cache_put", &other)),
        }
    }

    async fn cache_delete(&self, key: &[u8]) -> Result<bool> {
        check_key("cache_delete", key)?;
        let input = WriteInput::CacheDelete {
            key: Bytes::copy_from_slice(key),
        };
        match self.inner.submit("cache_delete", input).await? {
            WriteOutput::CacheDelete(removed) => Ok(removed),
            other => Err(wrong_output("cache_delete", &other)),
        }
    }

    async fn close(&self) -> Result<()> {
        // No new writes; the writer finishes what is queued, then exits.
        lock(&self.inner.writer).take();
        if let Some(sweeper) = lock(&self.inner.sweeper).take() {
            sweeper.abort();
        }
        let writer_thread = lock(&self.inner.writer_thread).take();
        if let Some(thread) = writer_thread {
            blocking("close", move || {
                thread.join().map_err(|_| {
                    StoreError::new(ErrorKind::Failed, "close", "the writer thread panicked")
                })
            })
            .await?;
        }
        self.inner.hub.close();
        let db = self
            .inner
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(mut db) = db else {
            return Ok(());
        };
        // Reads in flight hold clones for a moment; wait for them so the file is really
        // released when close returns (and can be opened again).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let db = loop {
            match Arc::try_unwrap(db) {
                Ok(db) => break db,
                Err(shared) if tokio::time::Instant::now() < deadline => {
                    db = shared;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(_) => {
                    return Err(StoreError::new(
                        ErrorKind::Backend,
                        "close",
                        "reads still running after 10 s; the file stays open until they end",
                    ))
                }
            }
        };
        blocking("close", move || {
            db.close().map_err(|e| redb_error("close", e))
        })
        .await
    }
}

fn read_record(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
    now: u64,
) -> Result<Option<Record>> {
    let Some(guard) = table.get(key).map_err(|e| redb_error("get", e))? else {
        return Ok(None);
    };
    let stored = decode_record(guard.value())?;
    Ok(stored.is_live(now).then(|| stored.to_record()))
}

/// Expired records skipped beyond a page's `limit` before the scan returns early with a
/// `resume_after`, so one call's work stays bounded.
const SCAN_SKIP_BUDGET: usize = 1000;

fn scan(
    db: &Database,
    prefix: &[u8],
    start_after: Option<&[u8]>,
    limit: usize,
) -> Result<ScanPage> {
    use std::ops::Bound;
    let txn = read_txn("scan_prefix", db)?;
    let table = txn
        .open_table(RECORDS)
        .map_err(|x| redb_error("scan_prefix", x))?;
    let lower = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let now = now_ms();
    let mut page = ScanPage::default();
    let mut skipped = 0;
    for row in table
        .range::<&[u8]>((lower, Bound::Unbounded))
        .map_err(|x| redb_error("scan_prefix", x))?
    {
        let (key, value) = row.map_err(|x| redb_error("scan_prefix", x))?;
        let key = key.value();
        if !key.starts_with(prefix) {
            return Ok(page);
        }
        if page.entries.len() == limit {
            // There is at least one more key under the prefix.
            page.resume_after = page.entries.last().map(|(k, _)| k.clone());
            return Ok(page);
        }
        let stored = decode_record(value.value())?;
        if stored.is_live(now) {
            page.entries
                .push((Bytes::copy_from_slice(key), stored.to_record()));
        } else {
            skipped += 1;
            if skipped > SCAN_SKIP_BUDGET {
                page.resume_after = Some(Bytes::copy_from_slice(key));
                return Ok(page);
            }
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests;
