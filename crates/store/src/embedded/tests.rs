//! Failure injection below redb: a storage backend whose fsync fails on demand. Lives inside
//! the crate because it needs a redb type, which the public API must never expose.

use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

use super::*;

/// A file backend whose `sync_data` fails while `fail` is set (as after an EIO from the disk).
#[derive(Debug)]
struct FlakyFsync {
    file: FileBackend,
    fail: Arc<AtomicBool>,
}

impl StorageBackend for FlakyFsync {
    fn len(&self) -> Result<u64, io::Error> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.file.write(offset, data)
    }
    fn close(&self) -> Result<(), io::Error> {
        self.file.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
}

async fn open_flaky(dir: &std::path::Path) -> (EmbeddedStore, Arc<AtomicBool>) {
    let config = EmbeddedConfig::new(dir.join("store.redb"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&config.path)
        .unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let backend = FlakyFsync {
        file: FileBackend::new(file).unwrap(),
        fail: fail.clone(),
    };
    let db = redb::Builder::new().create_with_backend(backend).unwrap();
    (EmbeddedStore::start(db, config).await.unwrap(), fail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_is_never_acknowledged_nor_retried_into_success() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fail) = open_flaky(dir.path()).await;
    store.put(b"before", Bytes::from("1"), None).await.unwrap();
    store.append("log", Bytes::from("a")).await.unwrap();

    fail.store(true, Ordering::SeqCst);
    let error = store
        .put(b"during", Bytes::from("2"), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    let error = store.append("log", Bytes::from("b")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");

    // The disk "recovers", but a later fsync succeeding would prove nothing about the pages
    // the failed one may have dropped: the store stays failed, for writes and reads alike.
    fail.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        let error = store
            .put(b"after", Bytes::from("3"), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    }
    assert_eq!(
        store.get(b"before").await.unwrap_err().kind(),
        ErrorKind::Failed
    );
    assert_eq!(
        store
            .cache_put(b"c", Bytes::from("x"), Duration::from_secs(1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Failed
    );
    // Close releases the file even in this state.
    let _ = store.close().await;

    // Reopening (a restart) recovers: what was acknowledged is there, what never got an
    // answer but an error may or may not be, what was refused is not.
    let reopened = EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("store.redb")))
        .await
        .unwrap();
    assert_eq!(
        reopened.get(b"before").await.unwrap().unwrap().value,
        Bytes::from("1")
    );
    assert_eq!(reopened.get(b"after").await.unwrap(), None);
    assert_eq!(
        reopened.read_log("log", 1, 10).await.unwrap()[0].payload,
        Bytes::from("a")
    );
    reopened
        .put(b"again", Bytes::from("4"), None)
        .await
        .unwrap();
    reopened.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_writes_do_not_wait_for_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fail) = open_flaky(dir.path()).await;
    // With fsync failing, a cache-only commit still succeeds: it never syncs (by design, a
    // cache may lose recent entries on a crash)…
    fail.store(true, Ordering::SeqCst);
    store
        .cache_put(b"c", Bytes::from("x"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.cache_get(b"c").await.unwrap(), Some(Bytes::from("x")));
    // …while a record write, which must be durable, fails.
    assert_eq!(
        store
            .put(b"k", Bytes::from("v"), None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Failed
    );
    let _ = store.close().await;
}
