//! Idle keep-alive connections to one origin, kept per serving thread: a connection goes
//! back to the shard of the thread that used it and is taken from there again, so its socket
//! stays registered with the reactor of the thread that drives it (see [`crate::serving`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    since: Instant,
}

impl Idle {
    /// Young enough and not closed by the origin: worth sending a request on.
    fn usable(&self, now: Instant, idle_timeout: Duration) -> bool {
        now.duration_since(self.since) < idle_timeout && self.conn.looks_alive()
    }
}

/// Idle connections, per shard most recently used last (it is taken first: its socket is
/// warmest and least likely to have been closed by the origin's own idle timeout).
pub struct ConnPool {
    /// Indexed by [`crate::serving::current`] modulo their number.
    shards: Box<[Mutex<VecDeque<Idle>>]>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl ConnPool {
    /// A pool of `shards` shards (at least one), each keeping at most `max_idle` connections
    /// for at most `idle_timeout` each.
    pub fn new(shards: usize, max_idle: usize, idle_timeout: Duration) -> Self {
        ConnPool {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            max_idle,
            idle_timeout,
        }
    }

    /// The calling thread's shard.
    fn shard(&self) -> &Mutex<VecDeque<Idle>> {
        &self.shards[crate::serving::current() % self.shards.len()]
    }

    /// An idle connection of the calling thread's shard that still looks usable, if there is
    /// one. Closed and expired ones met on the way are dropped.
    pub fn take(&self) -> Option<Conn> {
        let now = Instant::now();
        let shard = self.shard();
        loop {
            let idle = shard.lock().unwrap_or_else(|p| p.into_inner()).pop_back()?;
            if idle.usable(now, self.idle_timeout) {
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
            since: Instant::now(),
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
        let now = Instant::now();
        for shard in &self.shards {
            let gone: VecDeque<Idle> = {
                let mut idle = shard.lock().unwrap_or_else(|p| p.into_inner());
                let (keep, gone) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|i| i.usable(now, self.idle_timeout));
                *idle = keep;
                gone
            };
            // The sockets close outside the lock.
            drop(gone);
        }
    }

    /// Starts a task that reaps `pool` every `every` until the pool is dropped. Without a
    /// tokio runtime (a config built outside one) there is no reaper; `take` still skips dead
    /// and expired connections.
    pub fn spawn_reaper(pool: &std::sync::Arc<ConnPool>, every: Duration) {
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
