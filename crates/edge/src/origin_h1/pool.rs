//! Idle keep-alive connections to one origin, kept per serving thread: a connection goes
//! back to the shard of the thread that used it and is taken from there again, so its socket
//! stays registered with the reactor of the thread that drives it (see [`crate::serving`]).
//!
//! Idle age is counted in ticks of the pool's reaper, not read from the clock: taking and
//! returning a connection happen on every proxied request, and the reaper's interval is a
//! small fraction of the idle timeout, so a connection is closed between `idle_timeout -
//! 2 × reap_every` and `idle_timeout` after it went idle (50–60 s with the node's
//! settings), never later.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;

/// One origin connection with what was read from it and not yet consumed.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: BytesMut,
}

impl Conn {
    /// Wraps a freshly connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// False when the origin has closed the connection (or sent bytes nobody asked for)
    /// while it sat idle. It reads the readiness the reactor already recorded, so it costs no
    /// system call: tokio clears read readiness after a short read, and every response ends
    /// with one, so a set flag means a FIN or stray bytes arrived since.
    fn looks_alive(&self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(self.stream.poll_read_ready(&mut cx), Poll::Pending)
    }
}

struct Idle {
    conn: Conn,
    /// The pool's tick count when the connection went idle.
    since: u64,
}

/// Idle connections, per shard most recently used last (it is taken first: its socket is
/// warmest and least likely to have been closed by the origin's own idle timeout).
pub struct ConnPool {
    /// Indexed by [`crate::serving::current`] modulo their number.
    shards: Box<[Mutex<VecDeque<Idle>>]>,
    max_idle: usize,
    /// Reaper ticks so far.
    ticks: AtomicU64,
    /// How often the reaper ticks.
    reap_every: Duration,
    /// Ticks after which an idle connection is too old (see the module docs).
    max_age: u64,
}

impl ConnPool {
    /// A pool of `shards` shards (at least one), each keeping at most `max_idle` connections
    /// for at most `idle_timeout` each, aged by a reaper every `reap_every` (a small fraction
    /// of `idle_timeout`; with `reap_every` > `idle_timeout` nothing is ever reused).
    pub fn new(
        shards: usize,
        max_idle: usize,
        idle_timeout: Duration,
        reap_every: Duration,
    ) -> Self {
        let per_tick = reap_every.as_nanos().max(1);
        let whole_ticks = u64::try_from(idle_timeout.as_nanos() / per_tick).unwrap_or(u64::MAX);
        ConnPool {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            max_idle,
            ticks: AtomicU64::new(0),
            reap_every,
            // Idle since tick t, at tick n a connection has been idle less than n - t + 1
            // intervals: it stays usable while that bound is within the timeout.
            max_age: whole_ticks.saturating_sub(1),
        }
    }

    /// Young enough and not closed by the origin: worth sending a request on.
    fn usable(&self, idle: &Idle, now: u64) -> bool {
        now.saturating_sub(idle.since) < self.max_age && idle.conn.looks_alive()
    }

    /// The calling thread's shard.
    fn shard(&self) -> &Mutex<VecDeque<Idle>> {
        &self.shards[crate::serving::current() % self.shards.len()]
    }

    /// An idle connection of the calling thread's shard that still looks usable, if there is
    /// one. Closed and expired ones met on the way are dropped.
    pub fn take(&self) -> Option<Conn> {
        let now = self.ticks.load(Ordering::Relaxed);
        let shard = self.shard();
        loop {
            let idle = shard.lock().unwrap_or_else(|p| p.into_inner()).pop_back()?;
            if self.usable(&idle, now) {
                return Some(idle.conn);
            }
        }
    }

    /// Returns a connection whose last response was read to its end to the calling thread's
    /// shard. A full shard closes it;
    /// expired connections are the reaper's to close (and `take` skips them).
    pub fn put(&self, conn: Conn) {
        let idle = Idle {
            conn,
            since: self.ticks.load(Ordering::Relaxed),
        };
        let mut pool = self.shard().lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.max_idle {
            pool.push_back(idle);
        } else {
            // The socket closes outside the lock.
            drop(pool);
            drop(idle);
        }
    }

    /// Closes idle connections that are past the idle timeout or that the origin has closed,
    /// so a pool whose traffic stopped does not hold sockets (in CLOSE_WAIT) forever.
    pub fn reap(&self) {
        let now = self.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        for shard in &self.shards {
            let gone: VecDeque<Idle> = {
                let mut idle = shard.lock().unwrap_or_else(|p| p.into_inner());
                let (keep, gone) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|i| self.usable(i, now));
                *idle = keep;
                gone
            };
            // The sockets close outside the lock.
            drop(gone);
        }
    }

    /// Starts a task that reaps `pool` every `reap_every` until the pool is dropped. Without
    /// a tokio runtime (a config built outside one) there is no reaper: connections do not
    /// age, and `take` still skips those the origin closed.
    pub fn spawn_reaper(pool: &std::sync::Arc<ConnPool>) {
        let every = pool.reap_every;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = std::sync::Arc::downgrade(pool);
        handle.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(pool) => pool.reap(),
                    None => return,
                }
            }
        });
    }

    /// Idle connections now held, in all shards.
    pub fn idle_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connected pair: the pool's end, and the peer's end to close.
    async fn pair(listener: &TcpListener) -> (Conn, TcpStream) {
        let addr = listener.local_addr().expect("bound");
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let ours = ours.expect("connects");
        let (theirs, _) = theirs.expect("accepts");
        (Conn::new(ours), theirs)
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_within_the_timeout_counted_in_reaper_ticks() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let pool = ConnPool::new(1, 8, Duration::from_secs(60), Duration::from_secs(5));
        let (conn, _peer) = pair(&listener).await;
        pool.put(conn);
        // 60 s in 5 s ticks: still usable 10 ticks later (idle < 55 s)…
        for _ in 0..10 {
            pool.reap();
        }
        assert_eq!(pool.idle_count(), 1);
        let conn = pool.take().expect("young enough");
        pool.put(conn);
        for _ in 0..10 {
            pool.reap();
        }
        assert_eq!(pool.idle_count(), 1, "the age restarts when it is put back");
        // …and gone at the 11th (idle may be up to 60 s by then).
        pool.reap();
        assert_eq!(pool.idle_count(), 0);
        assert!(pool.take().is_none());
    }

    #[tokio::test]
    async fn take_skips_connections_the_origin_closed_and_expired_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let pool = ConnPool::new(1, 8, Duration::from_secs(60), Duration::from_secs(5));
        let (closed, peer) = pair(&listener).await;
        let (alive, _peer) = pair(&listener).await;
        pool.put(alive);
        pool.put(closed);
        drop(peer);
        // The reactor must see the FIN before `looks_alive` can.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let taken = pool.take().expect("the live one");
        assert!(taken.looks_alive());
        assert_eq!(
            pool.idle_count(),
            0,
            "the closed one was dropped on the way"
        );
        pool.put(taken);
        let old = ConnPool::new(1, 8, Duration::from_secs(1), Duration::from_secs(5));
        let (conn, _peer) = pair(&listener).await;
        old.put(conn);
        assert!(
            old.take().is_none(),
            "a reaper slower than the timeout never reuses"
        );
    }

    #[tokio::test]
    async fn a_full_shard_closes_what_it_cannot_keep() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let pool = ConnPool::new(1, 2, Duration::from_secs(60), Duration::from_secs(5));
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (conn, peer) = pair(&listener).await;
            pool.put(conn);
            peers.push(peer);
        }
        assert_eq!(pool.idle_count(), 2);
    }
}
