//! Behaviour only the embedded store has: the cache byte budget, the sweep, persistence across
//! reopen, one open per file, subscriber lag. (Crash durability is in `durability.rs`.)
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use regionless_store::testing::embedded_config;
use regionless_store::{
    CachePut, Durability, EmbeddedStore, ErrorKind, GapReason, Notification, Store, Transaction,
};

const OVERHEAD: u64 = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_budget_evicts_oldest_written_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(dir.path());
    // Room for exactly 10 entries of key (6 bytes) + 1000-byte value + overhead.
    let entry = 6 + 1000 + OVERHEAD;
    config.cache_budget_bytes = 10 * entry;
    let store = EmbeddedStore::open(config).await.unwrap();
    let ttl = Duration::from_secs(600);
    let value = Bytes::from(vec![1u8; 1000]);

    let mut evicted = 0;
    for i in 0..25 {
        let key = format!("key{i:03}");
        match store
            .cache_put(key.as_bytes(), value.clone(), ttl)
            .await
            .unwrap()
        {
            CachePut::Stored { evicted: n } => evicted += n,
            CachePut::TooLarge => panic!("fits the budget"),
        }
        let usage = store.info().await.unwrap().cache.unwrap();
        assert!(usage.bytes <= usage.budget, "never over budget: {usage:?}");
    }
    assert_eq!(evicted, 15);
    let usage = store.info().await.unwrap().cache.unwrap();
    assert_eq!((usage.entries, usage.bytes), (10, 10 * entry));
    // The 15 oldest are gone, the 10 newest are there.
    for i in 0..25 {
        let present = store
            .cache_get(format!("key{i:03}").as_bytes())
            .await
            .unwrap()
            .is_some();
        assert_eq!(present, i >= 15, "key{i:03}");
    }

    // Re-writing an old entry makes it the newest: the next eviction takes key016, not it.
    assert!(matches!(
        store
            .cache_put(b"key015", value.clone(), ttl)
            .await
            .unwrap(),
        CachePut::Stored { .. }
    ));
    store
        .cache_put(b"key100", value.clone(), ttl)
        .await
        .unwrap();
    assert!(store.cache_get(b"key015").await.unwrap().is_some());

    // A larger value under the same key replaces the old one and evicts only as needed.
    let before = store.info().await.unwrap().cache.unwrap();
    store
        .cache_put(b"key100", Bytes::from(vec![2u8; 1500]), ttl)
        .await
        .unwrap();
    let after = store.info().await.unwrap().cache.unwrap();
    assert!(after.bytes <= after.budget);
    assert!(after.entries <= before.entries);

    // An entry larger than the whole budget is refused, and the old value under its key is
    // removed (never served stale).
    let huge = Bytes::from(vec![3u8; (11 * entry) as usize]);
    assert_eq!(
        store.cache_put(b"key100", huge, ttl).await.unwrap(),
        CachePut::TooLarge
    );
    assert_eq!(store.cache_get(b"key100").await.unwrap(), None);

    // Records are never evicted by cache pressure.
    store
        .put(b"record", Bytes::from(vec![9u8; 5000]), None)
        .await
        .unwrap();
    for i in 0..30 {
        store
            .cache_put(format!("more{i}").as_bytes(), value.clone(), ttl)
            .await
            .unwrap();
    }
    assert!(store.get(b"record").await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_expired_records_and_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(dir.path());
    // The test drives the sweep itself.
    config.sweep_interval = Duration::from_secs(3600);
    let store = EmbeddedStore::open(config).await.unwrap();
    // Wide enough that "nothing due yet" holds on a slow machine.
    let short = Duration::from_millis(500);
    for i in 0..5 {
        store
            .put(format!("r{i}").as_bytes(), Bytes::from("x"), Some(short))
            .await
            .unwrap();
        store
            .cache_put(format!("c{i}").as_bytes(), Bytes::from("y"), short)
            .await
            .unwrap();
    }
    store.put(b"forever", Bytes::from("z"), None).await.unwrap();
    // Overwritten with a longer TTL: its first expiry must not remove it.
    store
        .put(b"r0", Bytes::from("x2"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(store.sweep_now().await.unwrap(), (0, 0), "nothing due yet");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.sweep_now().await.unwrap(), (4, 5));
    assert_eq!(store.sweep_now().await.unwrap(), (0, 0));
    assert!(store.get(b"r0").await.unwrap().is_some());
    assert!(store.get(b"forever").await.unwrap().is_some());
    let usage = store.info().await.unwrap().cache.unwrap();
    assert_eq!((usage.entries, usage.bytes), (0, 0));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_sweep_runs_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    store
        .cache_put(b"c", Bytes::from("y"), Duration::from_millis(50))
        .await
        .unwrap();
    // embedded_config sweeps every 100 ms.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if store.info().await.unwrap().cache.unwrap().entries == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    let revision = store.put(b"k", Bytes::from("v"), None).await.unwrap();
    store.append("log", Bytes::from("a")).await.unwrap();
    store.append("log", Bytes::from("b")).await.unwrap();
    store.trim_log("log", 1).await.unwrap();
    store
        .cache_put(b"c", Bytes::from("cached"), Duration::from_secs(600))
        .await
        .unwrap();
    store.close().await.unwrap();

    let store = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    let record = store.get(b"k").await.unwrap().unwrap();
    assert_eq!(
        (record.value, record.revision),
        (Bytes::from("v"), revision)
    );
    let info = store.log_info("log").await.unwrap();
    assert_eq!((info.first_seq, info.last_seq, info.len), (Some(2), 2, 1));
    assert_eq!(store.append("log", Bytes::from("c")).await.unwrap(), 3);
    // The revision counter continues; it never restarts.
    assert!(store.put(b"k2", Bytes::from("v"), None).await.unwrap() > revision);
    // Cache entries written before a clean close are there too (close flushes them).
    assert_eq!(
        store.cache_get(b"c").await.unwrap(),
        Some(Bytes::from("cached"))
    );
    assert_eq!(store.info().await.unwrap().durability, Durability::Synced);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    let second = EmbeddedStore::open(embedded_config(dir.path())).await;
    assert!(second.is_err(), "a second open of the same file must fail");
    store.close().await.unwrap();
    // Once closed, the file can be opened again.
    let again = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(dir.path());
    std::fs::write(&config.path, vec![0x42u8; 10_000]).unwrap();
    let error = EmbeddedStore::open(config).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_told_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(dir.path());
    config.subscription_capacity = 4;
    let store = EmbeddedStore::open(config).await.unwrap();
    let mut subscription = store.subscribe("purge").await.unwrap();
    for i in 0..10 {
        store
            .publish("purge", Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        subscription.recv().await,
        Some(Notification::Gap(GapReason::Lagged { missed: 6 }))
    );
    for i in 6..10 {
        assert_eq!(
            subscription.recv().await,
            Some(Notification::Message(Bytes::from(format!("m{i}"))))
        );
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_answers_every_concurrent_writer() {
    let (store, _dir) = regionless_store::testing::temp_embedded_store().await;
    let mut tasks = Vec::new();
    for t in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let txn = Transaction::new()
                .put(format!("k{t}"), format!("{t}"), None)
                .append("feed", format!("{t}"));
            store.transact(txn).await.unwrap()
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            regionless_store::TransactionOutcome::Committed(c) => {
                revisions.push(c.revision.unwrap().get())
            }
            other => panic!("{other:?}"),
        }
    }
    // Each transaction has its own revision even when they share a commit.
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 50);
    assert_eq!(store.log_info("feed").await.unwrap().len, 50);
    store.close().await.unwrap();
}
