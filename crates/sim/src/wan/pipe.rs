//! Moving one direction's bytes: a pump that reads and timestamps them, a delivery loop that
//! writes each piece when its arrival time comes. The two run concurrently, so the delay is a
//! pipeline (bytes read at t leave at t + delay however much is in flight), and a bounded byte
//! budget between them is the backpressure.

use super::precise_timer;
use super::schedule::{Piece, Scheduler};
use bytes::{BufMut, Bytes, BytesMut};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Largest single read; also the smallest usable in-flight budget.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// What travels from pump to delivery.
enum Segment {
    /// Bytes to write at `at`; `_budget` gives their share back once written or dropped.
    Data {
        bytes: Bytes,
        at: Instant,
        _budget: Budget,
    },
    /// The sender closed (FIN) or failed (reset); propagate at `at`.
    Close { at: Instant, reset: bool },
}

/// Bytes of one piece counted against the in-flight cap and gauge until dropped, so an
/// aborted connection cannot leak either.
struct Budget {
    _permit: OwnedSemaphorePermit,
    len: u64,
    counters: Arc<Counters>,
}

impl Budget {
    fn new(permit: OwnedSemaphorePermit, counters: &Arc<Counters>) -> Budget {
        let len = permit.num_permits() as u64;
        counters.in_flight.fetch_add(len, Ordering::Relaxed);
        Budget {
            _permit: permit,
            len,
            counters: Arc::clone(counters),
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.counters
            .in_flight
            .fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// Counters shared by all directions of a relay, read by `RelayHandle::stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) in_flight: AtomicU64,
}

/// The sending half of one direction.
pub(crate) struct Pump {
    tx: mpsc::UnboundedSender<Segment>,
    budget: Arc<Semaphore>,
    scheduler: Scheduler,
    counters: Arc<Counters>,
}

/// The receiving half of one direction.
pub(crate) struct Delivery {
    rx: mpsc::UnboundedReceiver<Segment>,
    counters: Arc<Counters>,
}

/// A direction whose queued bytes never exceed `max_in_flight` (≥ [`READ_CHUNK`]).
pub(crate) fn direction(
    scheduler: Scheduler,
    max_in_flight: usize,
    counters: Arc<Counters>,
) -> (Pump, Delivery) {
    // The channel itself is unbounded; the semaphore is the bound, counted in bytes so memory
    // rather than message count is what is capped.
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(max_in_flight.max(READ_CHUNK)));
    (
        Pump {
            tx,
            budget,
            scheduler,
            counters: Arc::clone(&counters),
        },
        Delivery { rx, counters },
    )
}

impl Pump {
    /// Reads until EOF or error and queues every byte with its arrival time; the close (FIN
    /// for EOF, reset for a read error) is queued after the data. Returns early, without
    /// error, if the delivery side is gone (the connection is being torn down).
    pub(crate) async fn run<R: AsyncRead + Unpin>(mut self, mut reader: R) -> io::Result<()> {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut pieces: Vec<Piece> = Vec::new();
        loop {
            buf.reserve(READ_CHUNK);
            // `reserve` may leave more room than asked; the limit keeps every read within the
            // budget, or acquiring it below could wait forever.
            let n = match reader.read_buf(&mut (&mut buf).limit(READ_CHUNK)).await {
                Ok(0) => {
                    self.close(false);
                    return Ok(());
                }
                Ok(n) => n,
                Err(_) => {
                    self.close(true);
                    return Ok(());
                }
            };
            let mut data = buf.split().freeze();
            // Waiting here (budget exhausted) stops reading, so the kernel buffers fill and
            // the real sender slows: that is the backpressure.
            let permits = u32::try_from(n).unwrap_or(u32::MAX);
            let Ok(mut budget) = Arc::clone(&self.budget).acquire_many_owned(permits).await else {
                return Ok(());
            };
            // Stamped after the budget wait: a sender stuck behind a full window sends when
            // it opens, not when the bytes were written into its socket.
            let sent_at = Instant::now();
            pieces.clear();
            self.scheduler.schedule(n, sent_at, &mut pieces);
            for piece in &pieces {
                let bytes = data.split_to(piece.len);
                let Some(share) = budget.split(piece.len) else {
                    return Ok(());
                };
                let segment = Segment::Data {
                    bytes,
                    at: piece.arrive_at,
                    _budget: Budget::new(share, &self.counters),
                };
                if self.tx.send(segment).is_err() {
                    return Ok(());
                }
            }
        }
    }

    fn close(mut self, reset: bool) {
        let at = self.scheduler.schedule_close(Instant::now());
        // Nobody to tell if delivery is gone; the connection is closing anyway.
        let _ = self.tx.send(Segment::Close { at, reset });
    }
}

impl Delivery {
    /// Writes each piece at its arrival time; on a queued FIN shuts the writer down (half
    /// close) and returns `Ok`; on a queued reset returns `ConnectionReset` so the caller tears
    /// the whole connection down at the moment the peer would have seen it.
    pub(crate) async fn run<W: AsyncWrite + Unpin>(mut self, mut writer: W) -> io::Result<()> {
        while let Some(segment) = self.rx.recv().await {
            match segment {
                Segment::Data { bytes, at, _budget } => {
                    wait_until(at).await;
                    writer.write_all(&bytes).await?;
                    self.counters
                        .delivered
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Segment::Close { at, reset } => {
                    wait_until(at).await;
                    if reset {
                        return Err(io::ErrorKind::ConnectionReset.into());
                    }
                    // The peer may already be gone; the FIN is then moot.
                    let _ = writer.shutdown().await;
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Sleeps until `at` unless it has passed (skipping the timer's lock for the common case of
/// an unloaded link).
async fn wait_until(at: Instant) {
    if at > Instant::now() {
        precise_timer::sleep_until(at).await;
    }
}
