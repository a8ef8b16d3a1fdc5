//! Crash durability of the embedded store: a child process writes as fast as it can and
//! prints each write once the store acknowledged it; the parent kills it with SIGKILL at an
//! arbitrary moment, reopens the file, and checks that every acknowledged write is there, and
//! that each transaction is there whole or not at all. Several rounds, each on top of the
//! previous one's file, so recovery of a killed file is exercised too.
//!
//! The child is this test binary itself, run with `CHILD_ENV` set to the database path and
//! filtered to `child_writer` (which does nothing in a normal run).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regionless_store::testing::embedded_config;
use regionless_store::{EmbeddedStore, Store, Transaction, TransactionOutcome};

const CHILD_ENV: &str = "REGIONLESS_STORE_DURABILITY_CHILD";
const WRITERS: usize = 4;

/// The child: concurrent writers, each transaction = one record + one log entry; prints
/// `ack <writer> <i> <seq> <revision>` after each acknowledged commit.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // a normal test run: nothing to do
    };
    let round: u64 = std::env::var("ROUND").unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = EmbeddedStore::open(embedded_config(std::path::Path::new(&dir)))
            .await
            .unwrap();
        let (acks, printed) = tokio::sync::mpsc::unbounded_channel::<String>();
        for writer in 0..WRITERS {
            let store = store.clone();
            let acks = acks.clone();
            tokio::spawn(async move {
                for i in 0u64.. {
                    let key = format!("r{round}/w{writer}/{i}");
                    let txn = Transaction::new()
                        .put(key.clone(), key.clone(), None)
                        .append("feed", key.clone());
                    match store.transact(txn).await.unwrap() {
                        TransactionOutcome::Committed(c) => {
                            let line = format!(
                                "ack {key} {} {}",
                                c.appended[0],
                                c.revision.unwrap().get()
                            );
                            if acks.send(line).is_err() {
                                return;
                            }
                        }
                        other => panic!("{other:?}"),
                    }
                }
            });
        }
        drop(acks);
        let mut printed = printed;
        let mut stdout = std::io::stdout();
        while let Some(line) = printed.recv().await {
            // Printed only after the commit returned: the parent counts only these.
            writeln!(stdout, "{line}").unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<String, (u64, u64)> = HashMap::new();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env("ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill after a number of acks that varies by round, so the kill lands at different
        // points of the writer's work; or after 20 s whatever happened.
        let target = 150 + 70 * round as usize;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut this_round = 0;
        while this_round < target && Instant::now() < deadline {
            if let Ok(line) = received.recv_timeout(Duration::from_millis(100)) {
                if let Some(ack) = parse_ack(&line) {
                    acked.insert(ack.0, (ack.1, ack.2));
                    this_round += 1;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Acks printed before the kill but read only now count too.
        while let Ok(line) = received.try_recv() {
            if let Some(ack) = parse_ack(&line) {
                acked.insert(ack.0, (ack.1, ack.2));
            }
        }
        assert!(
            this_round >= 20,
            "round {round}: the child wrote too little ({this_round} acks)"
        );
        verify(dir.path(), &acked);
    }
}

fn parse_ack(line: &str) -> Option<(String, u64, u64)> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    let key = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    let revision = parts.next()?.parse().ok()?;
    Some((key, seq, revision))
}

fn verify(dir: &std::path::Path, acked: &HashMap<String, (u64, u64)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EmbeddedStore::open(embedded_config(dir)).await.unwrap();
        // Every acknowledged record, with the revision it was acknowledged with.
        for (key, (_, revision)) in acked {
            let record = store
                .get(key.as_bytes())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged record {key} lost"));
            assert_eq!(record.value, Bytes::copy_from_slice(key.as_bytes()));
            assert_eq!(record.revision.get(), *revision, "{key}");
        }
        // The feed: consecutive from 1, every acknowledged entry at its sequence number, and
        // every entry (acknowledged or not) has its record: transactions are whole.
        let info = store.log_info("feed").await.unwrap();
        let mut entries = Vec::new();
        let mut from = 1;
        loop {
            let page = store.read_log("feed", from, 1000).await.unwrap();
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            entries.extend(page);
        }
        assert_eq!(entries.len() as u64, info.len);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry.seq, i as u64 + 1, "no hole in the feed");
            let key = std::str::from_utf8(&entry.payload).unwrap();
            assert!(
                store.get(key.as_bytes()).await.unwrap().is_some(),
                "feed entry {} without its record {key}",
                entry.seq
            );
        }
        let by_seq: HashMap<u64, &str> = entries
            .iter()
            .map(|e| (e.seq, std::str::from_utf8(&e.payload).unwrap()))
            .collect();
        for (key, (seq, _)) in acked {
            assert_eq!(
                by_seq.get(seq),
                Some(&key.as_str()),
                "acknowledged append {seq} lost"
            );
        }
        store.close().await.unwrap();
    });
}
