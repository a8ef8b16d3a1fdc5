//! Behaviour only the Redis store has: the server going away and coming back, several nodes
//! sharing one server, key prefixes, what `info` reports, and eviction under `maxmemory`.
//! Every test runs its own `redis-server` (see `testing::RedisServer`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regionless_store::testing::RedisServer;
use regionless_store::{
    Durability, ErrorKind, GapReason, Notification, RedisStore, Store, StoreError, Transaction,
};
use tokio::time::timeout;

/// An unreachable server must be reported within the operation timeout (500 ms in tests);
/// this leaves room for a loaded machine but still catches a hang.
const BOUND: Duration = Duration::from_secs(3);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let result = timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {BOUND:?} (a hang)"));
    assert!(started.elapsed() < BOUND, "{what}");
    result
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    match result {
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Unavailable, "{what}: {error}");
            assert!(error.is_unavailable());
        }
        Ok(value) => panic!("{what}: succeeded with the server down: {value:?}"),
    }
}

/// Retries `op` until it succeeds (the store reconnects by itself) or 10 s pass.
async fn eventually<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(error) if Instant::now() > deadline => panic!("{what}: still failing: {error}"),
            Err(error) => assert!(error.is_unavailable(), "{what}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_distinct_error_never_a_hang() {
    let mut server = RedisServer::start();
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    store.put(b"k", b("v"), None).await.unwrap();
    store.append("log", b("a")).await.unwrap();
    let mut subscription = store.subscribe("events").await.unwrap();

    // Writers busy when the server dies: every one of them gets Unavailable, none panics or
    // hangs.
    let store = Arc::new(store);
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut ok = 0;
            loop {
                let result = timeout(BOUND, store.put(format!("w{w}").as_bytes(), b("x"), None))
                    .await
                    .expect("a put hung after the server died");
                match result {
                    Ok(_) => ok += 1,
                    Err(error) => {
                        assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
                        return ok;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    for writer in writers {
        timeout(Duration::from_secs(10), writer)
            .await
            .expect("writer hung")
            .unwrap();
    }

    // Every kind of call, with the server down.
    assert_unavailable("get", within("get", store.get(b"k")).await);
    assert_unavailable(
        "get_many",
        within("get_many", store.get_many(&[b"k"])).await,
    );
    assert_unavailable("put", within("put", store.put(b"k", b("2"), None)).await);
    assert_unavailable(
        "put_if_absent",
        within("put_if_absent", store.put_if_absent(b"lock", b("t"), None)).await,
    );
    assert_unavailable("delete", within("delete", store.delete(b"k")).await);
    assert_unavailable(
        "transact",
        within(
            "transact",
            store.transact(Transaction::new().put(b("a"), b("b"), None)),
        )
        .await,
    );
    assert_unavailable(
        "scan_prefix",
        within("scan_prefix", store.scan_prefix(b"", None, 10)).await,
    );
    assert_unavailable(
        "append",
        within("append", store.append("log", b("b"))).await,
    );
    assert_unavailable(
        "read_log",
        within("read_log", store.read_log("log", 1, 10)).await,
    );
    assert_unavailable(
        "trim_log",
        within("trim_log", store.trim_log("log", 1)).await,
    );
    assert_unavailable("log_info", within("log_info", store.log_info("log")).await);
    assert_unavailable(
        "publish",
        within("publish", store.publish("events", b("x"))).await,
    );
    assert_unavailable(
        "subscribe",
        within("subscribe", store.subscribe("other")).await,
    );
    assert_unavailable(
        "cache_get",
        within("cache_get", store.cache_get(b"c")).await,
    );
    assert_unavailable(
        "cache_put",
        within(
            "cache_put",
            store.cache_put(b"c", b("x"), Duration::from_secs(1)),
        )
        .await,
    );
    assert_unavailable(
        "cache_delete",
        within("cache_delete", store.cache_delete(b"c")).await,
    );
    assert_unavailable("info", within("info", store.info()).await);

    // The server comes back (empty: it had no persistence): the store reconnects by itself,
    // and the subscription, resubscribed, reports the gap before new messages.
    server.restart();
    eventually("put after restart", || store.put(b"k", b("3"), None)).await;
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b("3"));
    let gap = timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("no gap reported after the reconnect");
    assert_eq!(gap, Some(Notification::Gap(GapReason::Reconnected)));
    store.publish("events", b("after")).await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), subscription.recv())
            .await
            .unwrap(),
        Some(Notification::Message(b("after")))
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_times_out_and_is_picked_up_again() {
    let server = RedisServer::start();
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    store.put(b"k", b("v"), None).await.unwrap();
    let mut subscription = store.subscribe("events").await.unwrap();

    // Connections stay open but nothing answers: only the timeouts can tell.
    server.freeze();
    let started = Instant::now();
    assert_unavailable("get", within("get", store.get(b"k")).await);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered too early?"
    );
    assert_unavailable("put", within("put", store.put(b"k", b("2"), None)).await);
    assert_unavailable(
        "cache_get",
        within("cache_get", store.cache_get(b"c")).await,
    );
    // Long enough for the subscriber's ping (every 500 ms in tests) to give up on its
    // connection.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    server.thaw();
    let record = eventually("get after thaw", || store.get(b"k")).await;
    assert!(record.is_some());
    let gap = timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("no gap reported after the connection was replaced");
    assert_eq!(gap, Some(Notification::Gap(GapReason::Reconnected)));
    eventually("publish", || store.publish("events", b("after"))).await;
    assert_eq!(
        timeout(Duration::from_secs(5), subscription.recv())
            .await
            .unwrap(),
        Some(Notification::Message(b("after")))
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_while_the_server_is_down_works_once_it_is_up() {
    let mut server = RedisServer::start();
    server.kill();
    // Opening does not need the server…
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    assert_unavailable("get", within("get", store.get(b"k")).await);
    assert_unavailable("subscribe", within("subscribe", store.subscribe("c")).await);
    // …and the first calls after it starts succeed.
    server.restart();
    eventually("put", || store.put(b"k", b("v"), None)).await;
    let mut subscription = eventually("subscribe", || store.subscribe("c")).await;
    store.publish("c", b("m")).await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), subscription.recv())
            .await
            .unwrap(),
        Some(Notification::Message(b("m")))
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_a_server_share_records_locks_logs_and_channels() {
    let server = RedisServer::start();
    let node_a = RedisStore::open(server.config("region:")).await.unwrap();
    let node_b = RedisStore::open(server.config("region:")).await.unwrap();

    let mut purge_at_a = node_a.subscribe("purge").await.unwrap();
    let mut purge_at_b = node_b.subscribe("purge").await.unwrap();
    node_b.publish("purge", b("tag:x")).await.unwrap();
    for subscription in [&mut purge_at_a, &mut purge_at_b] {
        assert_eq!(
            timeout(Duration::from_secs(5), subscription.recv())
                .await
                .unwrap(),
            Some(Notification::Message(b("tag:x")))
        );
    }

    // A region-wide lock: one node gets it.
    let ttl = Some(Duration::from_secs(5));
    assert!(node_a
        .put_if_absent(b"lock/k", b("a"), ttl)
        .await
        .unwrap()
        .is_some());
    assert!(node_b
        .put_if_absent(b"lock/k", b("b"), ttl)
        .await
        .unwrap()
        .is_none());

    node_a.append("queue", b("1")).await.unwrap();
    assert_eq!(node_b.append("queue", b("2")).await.unwrap(), 2);
    node_a
        .cache_put(b"obj", b("body"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(node_b.cache_get(b"obj").await.unwrap(), Some(b("body")));
    node_a.close().await.unwrap();
    node_b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_stores_apart() {
    let server = RedisServer::start();
    let eu = RedisStore::open(server.config("eu:")).await.unwrap();
    let us = RedisStore::open(server.config("us:")).await.unwrap();
    eu.put(b"k", b("eu"), None).await.unwrap();
    eu.append("log", b("x")).await.unwrap();
    eu.cache_put(b"c", b("eu"), Duration::from_secs(60))
        .await
        .unwrap();
    let mut us_channel = us.subscribe("purge").await.unwrap();
    eu.publish("purge", b("eu only")).await.unwrap();

    assert_eq!(us.get(b"k").await.unwrap(), None);
    assert_eq!(us.log_info("log").await.unwrap().last_seq, 0);
    assert_eq!(us.cache_get(b"c").await.unwrap(), None);
    assert!(us
        .scan_prefix(b"", None, 10)
        .await
        .unwrap()
        .entries
        .is_empty());
    assert!(
        timeout(Duration::from_millis(300), us_channel.recv())
            .await
            .is_err(),
        "a message for another prefix was delivered"
    );
    eu.close().await.unwrap();
    us.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_reports_durability_and_risky_memory_settings() {
    // The test default: no persistence, no maxmemory.
    let server = RedisServer::start();
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    let info = store.info().await.unwrap();
    assert!(
        matches!(&info.durability, Durability::NotSynced(why) if why.contains("appendonly no")),
        "{info:?}"
    );
    assert!(info.warnings.iter().any(|w| w.contains("maxmemory is 0")));
    assert_eq!(info.cache, None);
    store.close().await.unwrap();

    // What production should run.
    let server = RedisServer::start_with_args(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "volatile-lru",
    ]);
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    let info = store.info().await.unwrap();
    assert_eq!(info.durability, Durability::Synced);
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    store.close().await.unwrap();

    // A policy that could evict records and logs.
    let server = RedisServer::start_with_args(&[
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
    ]);
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    let info = store.info().await.unwrap();
    assert!(matches!(info.durability, Durability::NotSynced(_)));
    assert!(
        info.warnings.iter().any(|w| w.contains("allkeys-lru")),
        "{:?}",
        info.warnings
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_maxmemory_cache_entries_are_evicted_and_records_and_logs_kept() {
    let server =
        RedisServer::start_with_args(&["--maxmemory", "8mb", "--maxmemory-policy", "volatile-lru"]);
    let store = RedisStore::open(server.config("t:")).await.unwrap();
    let record = Bytes::from(vec![1u8; 10_000]);
    for i in 0..50 {
        store
            .put(format!("r{i}").as_bytes(), record.clone(), None)
            .await
            .unwrap();
        store.append("queue", record.clone()).await.unwrap();
    }
    // 25 MiB of cache entries through an 8 MiB server: no error, older entries evicted.
    let entry = Bytes::from(vec![2u8; 64 * 1024]);
    for i in 0..400 {
        store
            .cache_put(
                format!("c{i}").as_bytes(),
                entry.clone(),
                Duration::from_secs(600),
            )
            .await
            .unwrap();
    }
    let mut cached = 0;
    for i in 0..400 {
        if store
            .cache_get(format!("c{i}").as_bytes())
            .await
            .unwrap()
            .is_some()
        {
            cached += 1;
        }
    }
    assert!(cached < 400, "nothing was evicted");
    assert!(cached > 0, "everything was evicted");
    for i in 0..50 {
        assert_eq!(
            store
                .get(format!("r{i}").as_bytes())
                .await
                .unwrap()
                .unwrap()
                .value,
            record,
            "record r{i} was evicted"
        );
    }
    assert_eq!(store.log_info("queue").await.unwrap().len, 50);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_drops_expired_keys_from_the_scan_index() {
    let server = RedisServer::start();
    let mut config = server.config("t:");
    config.sweep_interval = Duration::from_secs(3600); // the test sweeps by hand
    let store = RedisStore::open(config).await.unwrap();
    for i in 0..5 {
        store
            .put(
                format!("s{i}").as_bytes(),
                b("x"),
                Some(Duration::from_millis(500)),
            )
            .await
            .unwrap();
    }
    store.put(b"s-kept", b("x"), None).await.unwrap();
    // Re-put with a longer TTL: its first expiry must not drop it from the index.
    store
        .put(b"s0", b("y"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(store.sweep_now().await.unwrap(), 0, "nothing due yet");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.sweep_now().await.unwrap(), 4);
    assert_eq!(store.sweep_now().await.unwrap(), 0);
    let page = store.scan_prefix(b"s", None, 10).await.unwrap();
    let keys: Vec<_> = page.entries.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![b("s-kept"), b("s0")]);
    store.close().await.unwrap();
}
