//! Deadlines for the request path that cost no timer registration: one tokio timer per
//! serving thread (the sweeper) watches every deadline of that thread.
//!
//! Why not a `tokio::time::Sleep` per origin attempt: registering one takes the timer
//! driver's lock and a wheel insert, dropping it another lock and a removal (about 700
//! instructions per pass-through request in profiles), and whenever the new deadline is the
//! driver's earliest tokio wakes its own thread through an eventfd write, a system call on
//! about one request in seven. Nearly every attempt is answered long before its deadline, so
//! here a deadline is an entry in a thread-local table, and the sweeper's single timer is
//! re-armed only when it fires (or when the table goes from empty to in use).
//!
//! Owns: the table and the sweeper. Never: wakes anything before its deadline, or later than
//! the tokio timer would (the sweeper sleeps until the earliest deadline in the table).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// One registered deadline.
struct Entry {
    at: Instant,
    waker: Waker,
    /// Set by the sweeper when `at` has passed: the owner learns it from here rather than
    /// reading the clock on every poll.
    fired: bool,
}

/// This thread's deadlines, with the sweeper that wakes them.
#[derive(Default)]
struct Table {
    /// Slots of a small slab: `free` lists the empty ones.
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    live: usize,
    /// The instant the sweeper's timer is set for, if it is set.
    armed: Option<Instant>,
    /// The sweeper, to be woken when a deadline earlier than `armed` arrives.
    sweeper: Option<Waker>,
}

impl Table {
    fn insert(&mut self, entry: Entry) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = Some(entry);
                slot
            }
            None => {
                self.entries.push(Some(entry));
                self.entries.len() - 1
            }
        }
    }

    /// Takes the entry out; the caller drops it once the table is no longer borrowed (a
    /// waker's drop may release a task).
    fn remove(&mut self, slot: usize) -> Option<Entry> {
        let taken = self.entries.get_mut(slot).and_then(Option::take)?;
        self.live -= 1;
        self.free.push(slot);
        Some(taken)
    }

    /// Asks the sweeper to re-arm when `at` is earlier than what its timer is set for.
    fn notice(&mut self, at: Instant) {
        if self.armed.is_none_or(|armed| at < armed) {
            if let Some(sweeper) = &self.sweeper {
                sweeper.wake_by_ref();
            }
        }
    }

    /// Wakes every entry due at `now` (they stay registered: their owners see the deadline
    /// has passed and drop them) and returns the earliest deadline still ahead.
    fn sweep(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for entry in self.entries.iter_mut().flatten() {
            if entry.at <= now {
                entry.fired = true;
                entry.waker.wake_by_ref();
            } else if next.is_none_or(|n| entry.at < n) {
                next = Some(entry.at);
            }
        }
        next
    }
}

thread_local! {
    /// Present on threads whose runtime runs a sweeper ([`spawn_sweeper`]).
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Starts this thread's sweeper on the current (current-thread) runtime. Call it once per
/// serving thread, from that thread's runtime: the sweeper task must run on the thread whose
/// table it serves, which a current-thread runtime guarantees.
pub fn spawn_sweeper() {
    TABLE.with_borrow_mut(|t| *t = Some(Table::default()));
    tokio::spawn(sweeper());
}

async fn sweeper() {
    let mut timer = Box::pin(tokio::time::sleep_until(tokio::time::Instant::now()));
    std::future::poll_fn(move |cx| loop {
        let now = Instant::now();
        let next = TABLE.with_borrow_mut(|table| {
            let table = table.as_mut()?;
            if table
                .sweeper
                .as_ref()
                .is_none_or(|w| !w.will_wake(cx.waker()))
            {
                table.sweeper = Some(cx.waker().clone());
            }
            table.armed = if table.live == 0 {
                None
            } else {
                table.sweep(now)
            };
            table.armed
        });
        let Some(at) = next else {
            // Nothing to watch: wait until a deadline arrives (`notice` wakes the sweeper).
            return Poll::<()>::Pending;
        };
        let at = tokio::time::Instant::from_std(at);
        if timer.deadline() != at {
            timer.as_mut().reset(at);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await;
}

/// A point in time that a request waits for at most. Registered in this thread's table the
/// first time it is polled before its time, removed when dropped.
pub struct Deadline {
    at: Instant,
    slot: Option<usize>,
}

impl Deadline {
    /// A deadline at `at`.
    pub fn at(at: Instant) -> Self {
        Deadline { at, slot: None }
    }

    /// Whether this thread runs a sweeper: without one, use a tokio timer instead.
    pub fn available() -> bool {
        TABLE.with_borrow(Option::is_some)
    }

    /// Ready once the sweeper has seen the deadline pass (a deadline already past when first
    /// polled is found at the sweeper's next run, a wake-up later). Reads no clock. Must be
    /// polled from the thread it was first polled on (any task of a current-thread runtime
    /// is).
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (fired, replaced) = TABLE.with_borrow_mut(|table| {
            let Some(table) = table.as_mut() else {
                return (false, None);
            };
            match self.slot.and_then(|s| table.entries.get_mut(s)?.as_mut()) {
                Some(entry) if entry.fired => (true, None),
                Some(entry) if entry.waker.will_wake(cx.waker()) => (false, None),
                // The old waker is dropped once the table is no longer borrowed.
                Some(entry) => (
                    false,
                    Some(std::mem::replace(&mut entry.waker, cx.waker().clone())),
                ),
                None => {
                    self.slot = Some(table.insert(Entry {
                        at: self.at,
                        waker: cx.waker().clone(),
                        fired: false,
                    }));
                    table.notice(self.at);
                    (false, None)
                }
            }
        });
        drop(replaced);
        if fired {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            // `try_with`: a deadline dropped while the thread's locals are torn down.
            let taken = TABLE.try_with(|t| t.borrow_mut().as_mut().and_then(|t| t.remove(slot)));
            drop(taken);
        }
    }
}

/// Runs `future` until it finishes or `at` passes (then None): on this thread's sweeper when
/// it has one, else on a tokio timer made at the first poll.
///
/// A named future rather than an `async fn`: that one held `tokio::time::timeout_at`'s timer
/// for the fallback in its state, and its 240 bytes were copied three times per origin
/// attempt on the way into the attempt's future.
pub fn within<F: Future>(at: Instant, future: F) -> Within<F> {
    Within {
        future,
        deadline: Deadline::at(at),
        fallback: None,
    }
}

pin_project_lite::pin_project! {
    /// See [`within`].
    pub struct Within<F> {
        #[pin]
        future: F,
        deadline: Deadline,
        // Only on a thread without a sweeper (tests, another runtime): boxed, so the common
        // case carries no timer.
        fallback: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Some(out));
        }
        if this.fallback.is_none() && Deadline::available() {
            return this.deadline.poll_expired(cx).map(|()| None);
        }
        let at = this.deadline.at;
        this.fallback
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())))
            .as_mut()
            .poll(cx)
            .map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_future_that_finishes_first_wins_and_leaves_nothing_registered() {
        runtime().block_on(async {
            spawn_sweeper();
            let got = within(Instant::now() + Duration::from_secs(5), async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                7
            })
            .await;
            assert_eq!(got, Some(7));
            TABLE.with_borrow(|t| assert_eq!(t.as_ref().map(|t| t.live), Some(0)));
        });
    }

    #[test]
    fn deadlines_fire_on_time_in_any_order() {
        runtime().block_on(async {
            spawn_sweeper();
            let start = Instant::now();
            let waits = [300u64, 50, 150, 50, 1000];
            let tasks: Vec<_> = waits
                .iter()
                .map(|&ms| {
                    tokio::spawn(async move {
                        let at = Instant::now() + Duration::from_millis(ms);
                        let got = within(at, std::future::pending::<()>()).await;
                        assert!(got.is_none());
                        assert!(Instant::now() >= at, "{ms} ms fired early");
                        let late = Instant::now().duration_since(at);
                        (ms, late)
                    })
                })
                .collect();
            for task in tasks {
                let (ms, late) = task.await.expect("task");
                // Never early (the sweeper fires only what its clock says is due), and not
                // much later than a tokio timer would be on an idle runtime.
                assert!(
                    late < Duration::from_millis(100),
                    "{ms} ms fired {late:?} late"
                );
            }
            assert!(start.elapsed() >= Duration::from_millis(1000));
            TABLE.with_borrow(|t| assert_eq!(t.as_ref().map(|t| t.live), Some(0)));
        });
    }

    #[test]
    fn a_deadline_already_past_fires_at_the_sweepers_next_run() {
        runtime().block_on(async {
            spawn_sweeper();
            // The sweeper is armed for a later deadline when the past one arrives.
            let later = tokio::spawn(within(
                Instant::now() + Duration::from_secs(30),
                std::future::pending::<()>(),
            ));
            tokio::task::yield_now().await;
            let start = Instant::now();
            let got = within(
                start - Duration::from_millis(1),
                std::future::pending::<()>(),
            )
            .await;
            assert!(got.is_none());
            assert!(start.elapsed() < Duration::from_millis(100));
            later.abort();
        });
    }

    #[test]
    fn an_earlier_deadline_rearms_a_sweeper_set_for_later() {
        runtime().block_on(async {
            spawn_sweeper();
            let long = tokio::spawn(within(
                Instant::now() + Duration::from_secs(30),
                std::future::pending::<()>(),
            ));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let start = Instant::now();
            let short = within(
                Instant::now() + Duration::from_millis(50),
                std::future::pending::<()>(),
            )
            .await;
            assert!(short.is_none());
            assert!(start.elapsed() < Duration::from_secs(1));
            long.abort();
        });
    }

    #[test]
    fn without_a_sweeper_a_tokio_timer_is_used() {
        runtime().block_on(async {
            assert!(!Deadline::available());
            let got = within(
                Instant::now() + Duration::from_millis(20),
                std::future::pending::<()>(),
            )
            .await;
            assert!(got.is_none());
        });
    }
}
