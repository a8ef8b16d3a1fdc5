//! Sub-millisecond sleeps for delivery deadlines.
//!
//! tokio's timer has 1 ms resolution and rounds every deadline up, which added about 1 ms per
//! direction (2 ms per round trip) to every emulated delay, as much as the whole tolerance for
//! a 10 ms RTT. Instead, one background thread keeps the pending deadlines in a heap and wakes
//! each task when its time comes, sleeping with `park_timeout` (a futex timeout on Linux,
//! precise to tens of microseconds). Waking costs a futex call per deadline, which is nothing
//! at emulator rates (thousands per second).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::Instant;

#[derive(Default)]
struct State {
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

struct Timer {
    state: Mutex<State>,
    thread: Thread,
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the heap consistent (every step is one
        // push/pop/insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The process-wide timer, started on first use; `None` if its thread could not be spawned,
/// in which case callers fall back to tokio's timer.
fn timer() -> Option<&'static Arc<Timer>> {
    static TIMER: OnceLock<Option<Arc<Timer>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Arc<Timer>>();
            let spawned = std::thread::Builder::new()
                .name("regionless-sim-timer".into())
                .spawn(move || {
                    tighten_timer_slack();
                    if let Ok(timer) = rx.recv() {
                        run(&timer);
                    }
                });
            let handle = spawned.ok()?;
            let timer = Arc::new(Timer {
                state: Mutex::new(State::default()),
                thread: handle.thread().clone(),
            });
            tx.send(Arc::clone(&timer)).ok()?;
            Some(timer)
        })
        .as_ref()
}

/// Asks Linux to wake this thread at its deadlines without the default 50 µs of timer slack
/// (the kernel may otherwise delay a timeout that much to coalesce wake-ups). Measured with
/// `examples/wan_overhead.rs`: with the default slack the timer thread woke a median 75 µs
/// after a deadline (26–36 µs without slack), and this change took a relayed round trip's
/// excess over its configured delay from 303–361 µs to 232–259 µs. Through procfs
/// because a thread may always set its own slack there, and std has no `prctl`. Best effort:
/// elsewhere, or without procfs, the default slack stays.
fn tighten_timer_slack() {
    // `/proc/thread-self` links to `<pid>/task/<tid>`; the per-thread file is `/proc/<tid>/…`.
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = link.file_name() else {
        return;
    };
    let path = std::path::Path::new("/proc")
        .join(tid)
        .join("timerslack_ns");
    let _ = std::fs::write(path, "1");
}

fn run(timer: &Timer) {
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        let next = {
            let mut state = timer.lock();
            while let Some(&Reverse((at, id))) = state.deadlines.peek() {
                if at > now {
                    break;
                }
                state.deadlines.pop();
                // Absent when the sleep was dropped or already completed.
                if let Some(w) = state.wakers.remove(&id) {
                    due.push(w);
                }
            }
            state.deadlines.peek().map(|&Reverse((at, _))| at)
        };
        for w in due.drain(..) {
            w.wake();
        }
        match next {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(now)),
            None => std::thread::park(),
        }
    }
}

/// Completes at `at` (within tens of microseconds), never earlier.
pub(crate) async fn sleep_until(at: tokio::time::Instant) {
    let at = at.into_std();
    match timer() {
        Some(timer) => {
            PreciseSleep {
                timer,
                at,
                id: None,
            }
            .await
        }
        None => tokio::time::sleep_until(at.into()).await,
    }
}

struct PreciseSleep {
    timer: &'static Timer,
    at: Instant,
    id: Option<u64>,
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            self.deregister();
            return Poll::Ready(());
        }
        let (at, timer) = (self.at, self.timer);
        let mut state = timer.lock();
        match self.id {
            Some(id) => {
                // Re-armed if the timer already fired for a stale waker (spurious poll).
                let fresh = state
                    .wakers
                    .get(&id)
                    .is_none_or(|w| !w.will_wake(cx.waker()));
                if fresh {
                    if !state.wakers.contains_key(&id) {
                        state.deadlines.push(Reverse((at, id)));
                    }
                    state.wakers.insert(id, cx.waker().clone());
                }
            }
            None => {
                let id = state.next_id;
                state.next_id = state.next_id.wrapping_add(1);
                let earliest = state.deadlines.peek().is_none_or(|&Reverse((t, _))| at < t);
                state.deadlines.push(Reverse((at, id)));
                state.wakers.insert(id, cx.waker().clone());
                drop(state);
                self.id = Some(id);
                // The thread sleeps until the old earliest deadline; a new earliest one
                // must cut that sleep short.
                if earliest {
                    timer.thread.unpark();
                }
            }
        }
        Poll::Pending
    }
}

impl PreciseSleep {
    fn deregister(&mut self) {
        if let Some(id) = self.id.take() {
            // The heap entry stays until its time and is then skipped.
            self.timer.lock().wakers.remove(&id);
        }
    }
}

impl Drop for PreciseSleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn never_wakes_early_and_survives_drops() {
        let start = tokio::time::Instant::now();
        let targets: Vec<_> = (1..=20u32)
            .map(|i| start + Duration::from_micros(300) * i)
            .collect();
        // A dropped sleep must not disturb the others.
        drop(Box::pin(sleep_until(start + Duration::from_millis(1))));
        for &t in &targets {
            sleep_until(t).await;
            assert!(tokio::time::Instant::now() >= t);
        }
        sleep_until(start).await; // already past: completes at once
    }
}
