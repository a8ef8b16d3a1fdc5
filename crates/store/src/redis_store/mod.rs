//! The Redis store: a Redis or Valkey server (standalone, or the primary behind Sentinel; not
//! Cluster, since a transaction touches keys in many slots). Only commands Valkey shares with
//! Redis 7.0 are used.
//!
//! Key layout, under the configured prefix `P`:
//! - `P r:<key>`: a record, a hash `{v: value, r: revision}`; TTL as the key's own expiry;
//! - `P idx`: every record key (zset, score 0, so ZRANGEBYLEX gives byte order for scans);
//! - `P ttl`: record keys with a TTL, scored by expiry ms (the sweep drops expired keys from
//!   `P idx` through it);
//! - `P rev`: the revision counter;
//! - `P c:<key>`: a cache entry, a plain string with a TTL (`SET PX`);
//! - `P l:<log>`: a log, a stream whose entry ids are `0-<seq>`; `P ls:<log>` its counter;
//! - channel `P ps:<channel>`: pub/sub.
//!
//! Durability is the server's: an acknowledged write survives a Redis crash only with
//! `appendonly yes` + `appendfsync always`. [`Store::info`] reports what the server runs with.
//!
//! Memory: set `maxmemory` and `maxmemory-policy volatile-lru` (or `volatile-lfu`). Cache
//! entries always carry a TTL, so they are what gets evicted; records without TTL and logs never
//! are. An `allkeys-*` policy could evict records and logs (data loss); `noeviction` makes cache
//! writes fail once memory is full. [`Store::info`] warns about both.
//!
//! Reachability: every call is bounded by `operation_timeout`; a server that is down, refuses,
//! drops the connection or does not answer in time is [`ErrorKind::Unavailable`]. The
//! connection is opened lazily and re-opened after a failure, so the store recovers by itself
//! when the server comes back.

mod scripts;
mod subscriber;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::sync::{mpsc, oneshot, watch};

use self::subscriber::Command;
use crate::error::{ErrorKind, Result, StoreError};
use crate::pubsub::{Hub, Subscription};
use crate::types::{
    check_key, check_limit, check_name, check_value, ttl_millis, Backend, CachePut, Committed,
    Condition, ConditionFailed, Durability, LogEntry, LogInfo, Record, Revision, ScanPage,
    StoreInfo, Transaction, TransactionOutcome, Write, MAX_READ_ITEMS,
};
use crate::Store;

/// Settings of a [`RedisStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prepended to every key and channel, so several stores (regions, tests) can share one
    /// server. Default `regionless:`.
    pub key_prefix: String,
    /// The longest a connection attempt may take. Default 1 s.
    pub connect_timeout: Duration,
    /// The longest any call may take, connecting included; beyond it the call fails with
    /// [`ErrorKind::Unavailable`]. Default 1 s.
    pub operation_timeout: Duration,
    /// How often expired record keys are dropped from the scan index. Default 1 s.
    pub sweep_interval: Duration,
    /// How often the pub/sub connection is pinged, to notice a dead connection that was not
    /// closed. Default 5 s.
    pub ping_interval: Duration,
    /// Messages a subscriber may fall behind before it misses some. Default 1024.
    pub subscription_capacity: usize,
}

impl RedisConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            key_prefix: "regionless:".into(),
            connect_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(1),
            ping_interval: Duration::from_secs(5),
            subscription_capacity: 1024,
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password; it must not end up in logs.
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("sweep_interval", &self.sweep_interval)
            .field("ping_interval", &self.ping_interval)
            .field("subscription_capacity", &self.subscription_capacity)
            .finish()
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_owned(),
    }
}

/// The Redis [`Store`]. Cheap to clone (all clones share connections and tasks).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RedisConfig,
    connection: ConnectionManager,
    keys: Keys,
    scripts: Scripts,
    hub: Arc<Hub>,
    subscriber: mpsc::UnboundedSender<Command>,
    shutdown: watch::Sender<bool>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stops the subscriber task even while subscriptions (which hold its command sender)
        // are still alive.
        let _ = self.shutdown.send(true);
    }
}

struct Scripts {
    transact: Script,
    get_many: Script,
    scan: Script,
    sweep: Script,
    log_info: Script,
}

/// Most expired members one sweep call removes from the scan index.
const SWEEP_LIMIT: usize = 1000;
/// Expired index members a scan page skips before returning early (as the embedded store).
const SCAN_SKIP_BUDGET: usize = 1000;

impl RedisStore {
    /// Sets up the store for the server in `config.url` without waiting for it: the
    /// connection is made by the first call, so a server that is down now is reported as
    /// [`ErrorKind::Unavailable`] by calls, not here. Fails only for an invalid URL or
    /// settings. Must be called within a tokio runtime (it starts the sweep and subscriber
    /// tasks).
    pub async fn open(config: RedisConfig) -> Result<Self> {
        if config.operation_timeout.is_zero()
            || config.connect_timeout.is_zero()
            || config.sweep_interval.is_zero()
            || config.ping_interval.is_zero()
        {
            return Err(StoreError::invalid(
                "open",
                "Redis timeouts and intervals must be > 0",
            ));
        }
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            StoreError::invalid(
                "open",
                format!("invalid Redis URL {}: {e}", redact_url(&config.url)),
            )
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.operation_timeout))
            // One attempt per reconnect: callers are bounded by operation_timeout anyway, and
            // the next call starts a new attempt.
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| redis_error("open", e))?;

        let hub = Arc::new(Hub::new(config.subscription_capacity));
        let (subscriber, commands) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let keys = Keys {
            prefix: config.key_prefix.clone().into_bytes(),
        };
        tokio::spawn(subscriber::run(
            subscriber::Settings {
                client,
                channel_prefix: format!("{}ps:", config.key_prefix),
                connect_timeout: config.connect_timeout,
                operation_timeout: config.operation_timeout,
                ping_interval: config.ping_interval,
            },
            hub.clone(),
            commands,
            shutdown_rx.clone(),
        ));
        let inner = Arc::new(Inner {
            connection,
            keys,
            scripts: Scripts {
                transact: Script::new(scripts::TRANSACT),
                get_many: Script::new(scripts::GET_MANY),
                scan: Script::new(scripts::SCAN),
                sweep: Script::new(scripts::SWEEP),
                log_info: Script::new(scripts::LOG_INFO),
            },
            hub,
            subscriber,
            shutdown,
            closed: AtomicBool::new(false),
            config,
        });
        tokio::spawn(sweep_loop(Arc::downgrade(&inner), shutdown_rx));
        Ok(RedisStore { inner })
    }

    /// Drops expired record keys from the scan index now, as the periodic sweep does; returns
    /// how many it dropped. (Redis removes the records themselves on expiry.)
    pub async fn sweep_now(&self) -> Result<u64> {
        self.inner.sweep().await
    }
}

impl Inner {
    /// Runs one Redis call with the operation timeout, mapping every failure.
    async fn call<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::closed(op));
        }
        match tokio::time::timeout(self.config.operation_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(redis_error(op, error)),
            Err(_) => Err(StoreError::new(
                ErrorKind::Unavailable,
                op,
                format!(
                    "redis: no answer within {:?}",
                    self.config.operation_timeout
                ),
            )),
        }
    }

    async fn command(&self, op: &'static str, cmd: &redis::Cmd) -> Result<Value> {
        let mut connection = self.connection.clone();
        self.call(op, cmd.query_async::<Value>(&mut connection))
            .await
    }

    async fn sweep(&self) -> Result<u64> {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.sweep.prepare_invoke();
        invocation
            .key(self.keys.index())
            .key(self.keys.ttl_index())
            .arg(self.keys.record_prefix())
            .arg(SWEEP_LIMIT);
        let removed = self
            .call("sweep", invocation.invoke_async::<Value>(&mut connection))
            .await?;
        uint(&removed).ok_or_else(|| unexpected("sweep", &removed))
    }
}

async fn sweep_loop(inner: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let interval = match inner.upgrade() {
        Some(inner) => inner.config.sweep_interval,
        None => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match inner.sweep().await {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Closed => return,
            // Unreachable Redis is reported by the calls that need it; the sweep just retries.
            Err(error) if error.is_unavailable() => {}
            Err(error) => tracing::warn!(%error, "redis store sweep failed"),
        }
    }
}

/// The key layout (see the module documentation).
struct Keys {
    prefix: Vec<u8>,
}

impl Keys {
    fn join(&self, tag: &[u8], name: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + tag.len() + name.len());
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(tag);
        key.extend_from_slice(name);
        key
    }
    fn record(&self, key: &[u8]) -> Vec<u8> {
        self.join(b"r:", key)
    }
    fn record_prefix(&self) -> Vec<u8> {
        self.join(b"r:", b"")
    }
    fn index(&self) -> Vec<u8> {
        self.join(b"idx", b"")
    }
    fn ttl_index(&self) -> Vec<u8> {
        self.join(b"ttl", b"")
    }
    fn revision(&self) -> Vec<u8> {
        self.join(b"rev", b"")
    }
    fn cache(&self, key: &[u8]) -> Vec<u8> {
        self.join(b"c:", key)
    }
    fn log(&self, name: &str) -> Vec<u8> {
        self.join(b"l:", name.as_bytes())
    }
    fn log_seq(&self, name: &str) -> Vec<u8> {
        self.join(b"ls:", name.as_bytes())
    }
    fn channel(&self, name: &str) -> Vec<u8> {
        self.join(b"ps:", name.as_bytes())
    }
}

/// Maps a redis error to a [`StoreError`] of the right kind.
pub(super) fn redis_error(op: &'static str, error: redis::RedisError) -> StoreError {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    let code = error.code().unwrap_or("");
    let kind = if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            K::Server(S::BusyLoading | S::MasterDown | S::ReadOnly | S::TryAgain)
        )
        // A long-running script or a server still starting: not reachable for us right now.
        || code == "BUSY"
    {
        ErrorKind::Unavailable
    } else if code == "WRONGTYPE" {
        ErrorKind::Corrupt
    } else if matches!(error.kind(), K::InvalidClientConfig) {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Backend
    };
    let detail = if code == "OOM" {
        "redis is out of memory (maxmemory reached and nothing evictable; see maxmemory-policy)"
            .to_owned()
    } else {
        format!("redis: {error}")
    };
    StoreError::new(kind, op, detail).with_source(error)
}

fn unexpected(op: &'static str, value: &Value) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        op,
        format!("redis answered with an unexpected reply: {value:?}"),
    )
}

/// The items of an array reply, without copying it.
fn expect_array(op: &'static str, value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(unexpected(op, &other)),
    }
}

/// A reply whose shape is wrong; its content is not quoted (values can be large).
fn bad_reply(op: &'static str) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        op,
        "redis answered with a reply of an unexpected shape",
    )
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn uint(value: &Value) -> Option<u64> {
    int(value).and_then(|n| u64::try_from(n).ok())
}

fn bytes_of(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(bytes) => Some(Bytes::from(bytes)),
        Value::SimpleString(s) => Some(Bytes::from(s.into_bytes())),
        Value::Okay => Some(Bytes::from_static(b"OK")),
        _ => None,
    }
}

fn array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// A record from its `v` and `r` fields; `Nil` value = no record.
fn record(op: &'static str, value: Value, revision: Value) -> Result<Option<Record>> {
    if matches!(value, Value::Nil) {
        return Ok(None);
    }
    let Some(revision) = uint(&revision) else {
        return Err(StoreError::new(
            ErrorKind::Corrupt,
            op,
            format!("a record without a valid revision field: {revision:?}"),
        ));
    };
    let value = bytes_of(value).ok_or_else(|| {
        StoreError::new(
            ErrorKind::Corrupt,
            op,
            "a record value that is not a string",
        )
    })?;
    Ok(Some(Record {
        value,
        revision: Revision::new(revision),
    }))
}

/// The sequence number in a stream entry id `0-<seq>`.
fn seq_of_id(id: &[u8]) -> Option<u64> {
    std::str::from_utf8(id)
        .ok()?
        .strip_prefix("0-")?
        .parse()
        .ok()
}

/// The lexicographic range `[prefix`..`(successor)` for ZRANGEBYLEX, starting after
/// `start_after` when it is inside the prefix.
fn lex_range(prefix: &[u8], start_after: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let min = match start_after {
        Some(after) if after >= prefix => [b"(".as_slice(), after].concat(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => [b"[".as_slice(), prefix].concat(),
    };
    // The smallest byte string greater than every string with this prefix: drop trailing
    // 0xff bytes, then increment the last one. None exists for "" or all-0xff prefixes.
    let mut successor = prefix.to_vec();
    while successor.last() == Some(&0xff) {
        successor.pop();
    }
    let max = match successor.last_mut() {
        Some(last) => {
            *last += 1;
            [b"(".as_slice(), &successor].concat()
        }
        None => b"+".to_vec(),
    };
    (min, max)
}

fn parse_config_reply(value: Value) -> Vec<(String, String)> {
    let text = |v: Value| bytes_of(v).map(|b| String::from_utf8_lossy(&b).into_owned());
    match value {
        Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        Value::Array(items) => {
            let mut items = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                if let (Some(k), Some(v)) = (text(k), text(v)) {
                    pairs.push((k, v));
                }
            }
            pairs
        }
        _ => Vec::new(),
    }
}

#[async_trait]
impl Store for RedisStore {
    fn backend(&self) -> Backend {
        Backend::Redis
    }

    async fn info(&self) -> Result<StoreInfo> {
        let inner = &self.inner;
        // Reachability first, so an unreachable server is an error, not "durability unknown".
        inner.command("info", &redis::cmd("PING")).await?;
        // One parameter per CONFIG GET: several in one call needs Redis 7.
        let mut settings = Ok(Vec::new());
        for name in ["appendonly", "appendfsync", "maxmemory", "maxmemory-policy"] {
            let mut cmd = redis::cmd("CONFIG");
            cmd.arg("GET").arg(name);
            match inner.command("info", &cmd).await {
                Ok(reply) => {
                    if let Ok(found) = settings.as_mut() {
                        found.extend(parse_config_reply(reply));
                    }
                }
                Err(error) if error.is_unavailable() => return Err(error),
                // Managed services often disable CONFIG; that is not a failure of the store.
                Err(error) => settings = Err(error.detail().to_owned()),
            }
        }
        let mut warnings = Vec::new();
        let durability = match settings {
            Err(why) => Durability::Unknown(format!("cannot read the server's settings: {why}")),
            Ok(settings) => {
                let get = |name: &str| {
                    settings
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                match get("maxmemory-policy") {
                    Some(policy) if policy.starts_with("allkeys") => warnings.push(format!(
                        "maxmemory-policy {policy} can evict records and logs (data loss); use volatile-lru"
                    )),
                    Some("noeviction") => warnings.push(
                        "maxmemory-policy noeviction makes writes fail once maxmemory is reached; use volatile-lru"
                            .to_owned(),
                    ),
                    _ => {}
                }
                if get("maxmemory") == Some("0") {
                    warnings.push(
                        "maxmemory is 0: the cache area can grow until the machine runs out of memory; set maxmemory and maxmemory-policy volatile-lru"
                            .to_owned(),
                    );
                }
                match (get("appendonly"), get("appendfsync")) {
                    (Some("yes"), Some("always")) => Durability::Synced,
                    (Some("yes"), Some(fsync)) => Durability::NotSynced(format!(
                        "appendfsync {fsync}: acknowledged writes of up to the last second can be lost if the server's machine crashes"
                    )),
                    (Some("no"), _) => Durability::NotSynced(
                        "appendonly no: acknowledged writes are lost if the server stops".to_owned(),
                    ),
                    _ => Durability::Unknown(
                        "the server did not report appendonly/appendfsync".to_owned(),
                    ),
                }
            }
        };
        Ok(StoreInfo {
            backend: Backend::Redis,
            durability,
            cache: None,
            warnings,
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Record>> {
        check_key("get", key)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.inner.keys.record(key)).arg("v").arg("r");
        let reply = self.inner.command("get", &cmd).await?;
        let mut fields = expect_array("get", reply)?.into_iter();
        let (Some(value), Some(revision), None) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad_reply("get"));
        };
        record("get", value, revision)
    }

    async fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Record>>> {
        if keys.len() > MAX_READ_ITEMS {
            return Err(StoreError::invalid(
                "get_many",
                format!("{} keys; at most {MAX_READ_ITEMS}", keys.len()),
            ));
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.inner.scripts.get_many.prepare_invoke();
        for key in keys {
            check_key("get_many", key)?;
            invocation.key(self.inner.keys.record(key));
        }
        let mut connection = self.inner.connection.clone();
        let reply = self
            .inner
            .call(
                "get_many",
                invocation.invoke_async::<Value>(&mut connection),
            )
            .await?;
        let items = expect_array("get_many", reply)?;
        if items.len() != 2 * keys.len() {
            return Err(bad_reply("get_many"));
        }
        let mut items = items.into_iter();
        let mut records = Vec::with_capacity(keys.len());
        while let (Some(value), Some(revision)) = (items.next(), items.next()) {
            records.push(record("get_many", value, revision)?);
        }
        Ok(records)
    }

    async fn scan_prefix(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_limit("scan_prefix", limit)?;
        let (min, max) = lex_range(prefix, start_after);
        let mut invocation = self.inner.scripts.scan.prepare_invoke();
        invocation
            .key(self.inner.keys.index())
            .arg(self.inner.keys.record_prefix())
            .arg(min)
            .arg(max)
            .arg(limit)
            .arg(SCAN_SKIP_BUDGET);
        let mut connection = self.inner.connection.clone();
        let reply = self
            .inner
            .call(
                "scan_prefix",
                invocation.invoke_async::<Value>(&mut connection),
            )
            .await?;
        let mut items = expect_array("scan_prefix", reply)?.into_iter();
        let (Some(more), Some(resume)) = (items.next(), items.next()) else {
            return Err(bad_reply("scan_prefix"));
        };
        let mut page = ScanPage::default();
        if int(&more) == Some(1) {
            page.resume_after = bytes_of(resume);
        }
        while let (Some(key), Some(value), Some(revision)) =
            (items.next(), items.next(), items.next())
        {
            let key = bytes_of(key).ok_or_else(|| bad_reply("scan_prefix"))?;
            if let Some(record) = record("scan_prefix", value, revision)? {
                page.entries.push((key, record));
            }
        }
        Ok(page)
    }

    async fn transact(&self, txn: Transaction) -> Result<TransactionOutcome> {
        txn.validate()?;
        let keys = &self.inner.keys;
        let mut invocation = self.inner.scripts.transact.prepare_invoke();
        invocation
            .key(keys.revision())
            .key(keys.index())
            .key(keys.ttl_index())
            .arg(txn.conditions().len())
            .arg(txn.writes().len());
        for condition in txn.conditions() {
            invocation.key(keys.record(condition.key()));
            match condition {
                Condition::Absent { .. } => invocation.arg("a").arg(""),
                Condition::Exists { .. } => invocation.arg("e").arg(""),
                Condition::RevisionIs { revision, .. } => {
                    invocation.arg("r").arg(revision.get().to_string())
                }
                Condition::ValueEquals { value, .. } => invocation.arg("v").arg(value.as_ref()),
            };
        }
        for write in txn.writes() {
            match write {
                Write::Put { key, value, ttl } => {
                    let ttl_ms = match ttl {
                        Some(ttl) => ttl_millis("transact", *ttl)?,
                        None => 0,
                    };
                    invocation
                        .key(keys.record(key))
                        .arg("p")
                        .arg(key.as_ref())
                        .arg(value.as_ref())
                        .arg(ttl_ms);
                }
                Write::Delete { key } => {
                    invocation
                        .key(keys.record(key))
                        .arg("d")
                        .arg(key.as_ref())
                        .arg("")
                        .arg(0);
                }
                Write::Append { log, payload } => {
                    invocation
                        .key(keys.log(log))
                        .key(keys.log_seq(log))
                        .arg("l")
                        .arg("")
                        .arg(payload.as_ref())
                        .arg(0);
                }
            }
        }
        let mut connection = self.inner.connection.clone();
        let reply = self
            .inner
            .call(
                "transact",
                invocation.invoke_async::<Value>(&mut connection),
            )
            .await?;
        let items = expect_array("transact", reply)?;
        match items.first().and_then(int) {
            Some(0) => {
                let index = items
                    .get(1)
                    .and_then(uint)
                    .ok_or_else(|| bad_reply("transact"))?;
                Ok(TransactionOutcome::ConditionFailed(ConditionFailed {
                    index: index as usize,
                    current: items.get(2).and_then(uint).map(Revision::new),
                }))
            }
            Some(1) if items.len() >= 3 => {
                let revision = uint(&items[1]).ok_or_else(|| bad_reply("transact"))?;
                let appended = items[3..]
                    .iter()
                    .map(uint)
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| bad_reply("transact"))?;
                Ok(TransactionOutcome::Committed(Committed {
                    revision: (revision != 0).then_some(Revision::new(revision)),
                    appended,
                }))
            }
            _ => Err(bad_reply("transact")),
        }
    }

    async fn read_log(&self, log: &str, from_seq: u64, limit: usize) -> Result<Vec<LogEntry>> {
        check_name("read_log", "log", log)?;
        check_limit("read_log", limit)?;
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(self.inner.keys.log(log))
            .arg(format!("0-{from_seq}"))
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        let reply = self.inner.command("read_log", &cmd).await?;
        let entries = expect_array("read_log", reply)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            // [id, [field, value]]
            let parsed = array(entry).and_then(|mut parts| {
                let fields = array(parts.pop()?)?;
                let id = bytes_of(parts.pop()?)?;
                let payload = bytes_of(fields.into_iter().nth(1)?)?;
                Some(LogEntry {
                    seq: seq_of_id(&id)?,
                    payload,
                })
            });
            out.push(parsed.ok_or_else(|| {
                StoreError::new(
                    ErrorKind::Corrupt,
                    "read_log",
                    format!("log {log} holds an entry this store did not write"),
                )
            })?);
        }
        Ok(out)
    }

    async fn trim_log(&self, log: &str, through_seq: u64) -> Result<u64> {
        check_name("trim_log", "log", log)?;
        let mut cmd = redis::cmd("XTRIM");
        cmd.arg(self.inner.keys.log(log))
            .arg("MINID")
            .arg(format!("0-{}", through_seq.saturating_add(1)));
        let reply = self.inner.command("trim_log", &cmd).await?;
        uint(&reply).ok_or_else(|| unexpected("trim_log", &reply))
    }

    async fn log_info(&self, log: &str) -> Result<LogInfo> {
        check_name("log_info", "log", log)?;
        let mut invocation = self.inner.scripts.log_info.prepare_invoke();
        invocation
            .key(self.inner.keys.log(log))
            .key(self.inner.keys.log_seq(log));
        let mut connection = self.inner.connection.clone();
        let reply = self
            .inner
            .call(
                "log_info",
                invocation.invoke_async::<Value>(&mut connection),
            )
            .await?;
        let items = expect_array("log_info", reply)?;
        if items.len() != 3 {
            return Err(bad_reply("log_info"));
        }
        let len = uint(&items[0]).ok_or_else(|| bad_reply("log_info"))?;
        let last_seq = uint(&items[1]).ok_or_else(|| bad_reply("log_info"))?;
        let first_seq = match &items[2] {
            Value::BulkString(id) if !id.is_empty() => {
                Some(seq_of_id(id).ok_or_else(|| bad_reply("log_info"))?)
            }
            _ => None,
        };
        Ok(LogInfo {
            first_seq,
            last_seq,
            len,
        })
    }

    async fn publish(&self, channel: &str, message: Bytes) -> Result<()> {
        check_name("publish", "channel", channel)?;
        check_value("publish", &message)?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.inner.keys.channel(channel))
            .arg(message.as_ref());
        self.inner.command("publish", &cmd).await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        check_name("subscribe", "channel", channel)?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::closed("subscribe"));
        }
        // Join the hub first, so a message that arrives as soon as the server confirms the
        // subscription already has a receiver.
        let receiver = self.inner.hub.subscribe(channel);
        let release = {
            let subscriber = self.inner.subscriber.clone();
            let channel = channel.to_owned();
            Box::new(move || {
                let _ = subscriber.send(Command::Release(channel));
            }) as Box<dyn FnOnce() + Send + Sync>
        };
        let subscription = Subscription::new(channel.to_owned(), receiver, Some(release));
        let (ack, confirmed) = oneshot::channel();
        self.inner
            .subscriber
            .send(Command::Subscribe {
                channel: channel.to_owned(),
                ack,
            })
            .map_err(|_| StoreError::closed("subscribe"))?;
        // The task bounds its own work by the timeouts; this bound is a second line of defence
        // (connect + subscribe each get their own timeout there).
        let bound = self.inner.config.connect_timeout + self.inner.config.operation_timeout * 2;
        match tokio::time::timeout(bound, confirmed).await {
            Ok(Ok(Ok(()))) => Ok(subscription),
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_)) => Err(StoreError::closed("subscribe")),
            Err(_) => Err(StoreError::new(
                ErrorKind::Unavailable,
                "subscribe",
                format!("redis: subscription not confirmed within {bound:?}"),
            )),
        }
    }

    async fn cache_get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key("cache_get", key)?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.inner.keys.cache(key));
        let reply = self.inner.command("cache_get", &cmd).await?;
        Ok(bytes_of(reply))
    }

    async fn cache_put(&self, key: &[u8], value: Bytes, ttl: Duration) -> Result<CachePut> {
        check_key("cache_put", key)?;
        check_value("cache_put", &value)?;
        let ttl_ms = ttl_millis("cache_put", ttl)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.inner.keys.cache(key))
            .arg(value.as_ref())
            .arg("PX")
            .arg(ttl_ms);
        self.inner.command("cache_put", &cmd).await?;
        Ok(CachePut::Stored { evicted: 0 })
    }

    async fn cache_delete(&self, key: &[u8]) -> Result<bool> {
        check_key("cache_delete", key)?;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.inner.keys.cache(key));
        let reply = self.inner.command("cache_delete", &cmd).await?;
        Ok(int(&reply).unwrap_or(0) > 0)
    }

    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.shutdown.send(true);
        self.inner.hub.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lex_range_bounds_the_prefix() {
        assert_eq!(lex_range(b"", None), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(lex_range(b"ab", None), (b"[ab".to_vec(), b"(ac".to_vec()));
        assert_eq!(
            lex_range(b"a\xff", None),
            (b"[a\xff".to_vec(), b"(b".to_vec())
        );
        assert_eq!(lex_range(b"\xff", None), (b"[\xff".to_vec(), b"+".to_vec()));
        assert_eq!(
            lex_range(b"ab", Some(b"abc")),
            (b"(abc".to_vec(), b"(ac".to_vec())
        );
        // A start before the prefix is ignored.
        assert_eq!(
            lex_range(b"ab", Some(b"aa")),
            (b"[ab".to_vec(), b"(ac".to_vec())
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:secret@host"), "redis://:***@host");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn stream_ids_map_to_sequence_numbers() {
        assert_eq!(seq_of_id(b"0-42"), Some(42));
        assert_eq!(seq_of_id(b"1700000000000-0"), None);
    }
}
