//! Serving threads: client connections are served by a fixed set of OS threads, each running
//! its own single-threaded tokio runtime that accepts from every listener and runs the
//! connections it accepted to their end — thread per core, the shape of nginx's worker
//! processes, instead of one work-stealing runtime for everything.
//!
//! Why: on a request path this short, sharing is the cost. With tokio's multi-threaded
//! scheduler, two workers handing tasks, wake-ups and pooled origin sockets to each other
//! spent ~3 µs more CPU per pass-through request (user and kernel) than two threads that
//! never do (BENCHMARKS.md, session 6). Each thread here keeps its own origin connections
//! ([`crate::origin_h1`]'s pool is sharded by [`current`]), so a connection is only ever
//! driven by the reactor of the thread using it.
//!
//! Owns: the threads, their runtimes and the listener copies they accept from. Must never:
//! run the node's background work (health checks, reloads, the admin API, cache events stay
//! on the caller's runtime), or outlive the node (dropping [`ServingThreads`] stops them).
//!
//! Balance: every thread has its own listening socket per address (`SO_REUSEPORT`, as nginx's
//! `listen … reuseport`), and the kernel spreads new connections over them by a hash of the
//! addresses. One shared socket was tried first: whichever thread woke first took a whole
//! burst of new connections (all 32 of a benchmark's, in one run) and the other idled.

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::server::accept_loop;
use crate::state::NodeState;

thread_local! {
    /// 1 + the index of the serving thread this is; 0 on any other thread.
    static SERVING_THREAD: Cell<usize> = const { Cell::new(0) };
}

/// Which serving thread the caller runs on: 1..=N on serving thread 0..N-1, 0 elsewhere
/// (the caller's runtime, tests, background tasks). Per-thread state is indexed by it.
pub fn current() -> usize {
    SERVING_THREAD.get()
}

/// The number of serving threads when the config does not say: one per CPU core.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// One listening address: a socket per serving thread, all bound to it with `SO_REUSEPORT`,
/// and for HTTPS its TLS acceptor.
pub struct Listener {
    pub sockets: Vec<std::net::TcpListener>,
    pub tls: Option<TlsAcceptor>,
}

/// What every connection needs, shared by all threads.
pub struct Shared {
    pub state: Arc<NodeState>,
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    pub graceful: Arc<GracefulShutdown>,
    /// Cancelled when the node stops accepting.
    pub stop_accepting: CancellationToken,
    pub limits: Limits,
}

/// The running serving threads. Dropping this stops them: their runtimes end, and with them
/// every connection still open on them.
pub struct ServingThreads {
    stop: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ServingThreads {
    /// Starts one thread per socket of each listener (every listener has as many), thread `i`
    /// accepting from socket `i` of each. The receivers returned complete once every thread's
    /// accept loops have ended (after `shared.stop_accepting` fires), one per thread.
    pub fn start(
        count: usize,
        listeners: Vec<Listener>,
        shared: &Shared,
    ) -> io::Result<(ServingThreads, Vec<oneshot::Receiver<()>>)> {
        let stop = CancellationToken::new();
        let mut accepting = Vec::new();
        // On an error below, dropping this stops the threads already started.
        let mut started = ServingThreads {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        let mut per_thread: Vec<Vec<(std::net::TcpListener, Option<TlsAcceptor>)>> =
            (0..count).map(|_| Vec::new()).collect();
        for listener in listeners {
            if listener.sockets.len() != count {
                return Err(io::Error::other(
                    "a listener has no socket for every thread",
                ));
            }
            for (mine, socket) in per_thread.iter_mut().zip(listener.sockets) {
                mine.push((socket, listener.tls.clone()));
            }
        }
        for (index, listeners) in per_thread.into_iter().enumerate() {
            // Everything fallible happens here, so a failure is reported by `start`.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (done, accepted_all) = oneshot::channel();
            let work = Work {
                listeners,
                state: shared.state.clone(),
                builder: shared.builder.clone(),
                graceful: shared.graceful.clone(),
                stop_accepting: shared.stop_accepting.clone(),
                limits: shared.limits.clone(),
                stop: stop.clone(),
                done,
            };
            let thread = std::thread::Builder::new()
                .name(format!("regionless-serve-{index}"))
                .spawn(move || {
                    SERVING_THREAD.set(index + 1);
                    runtime.block_on(work.run());
                })?;
            started.threads.push(thread);
            accepting.push(accepted_all);
        }
        Ok((started, accepting))
    }

    /// Stops the threads (see the type's docs) and waits for them to end, without blocking
    /// the caller's runtime.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

impl Drop for ServingThreads {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One thread's share: its sockets of the listeners and what it needs to serve them.
struct Work {
    listeners: Vec<(std::net::TcpListener, Option<TlsAcceptor>)>,
    state: Arc<NodeState>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    stop_accepting: CancellationToken,
    limits: Limits,
    stop: CancellationToken,
    done: oneshot::Sender<()>,
}

impl Work {
    async fn run(self) {
        let Work {
            listeners,
            state,
            builder,
            graceful,
            stop_accepting,
            limits,
            stop,
            done,
        } = self;
        let mut loops = Vec::new();
        for (socket, tls) in listeners {
            // Registers the socket with this thread's reactor (it is non-blocking: the node
            // bound it through tokio).
            let listener = match tokio::net::TcpListener::from_std(socket) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "serving thread cannot use a listener");
                    continue;
                }
            };
            loops.push(tokio::spawn(accept_loop(
                listener,
                tls,
                state.clone(),
                builder.clone(),
                graceful.clone(),
                stop_accepting.clone(),
                limits.clone(),
            )));
        }
        // `Node::shutdown` takes the graceful-shutdown handle back once the accept loops are
        // done: only they (and the connections' watchers) may hold it then.
        drop(graceful);
        for l in loops {
            let _ = l.await;
        }
        let _ = done.send(());
        // Connections accepted here keep running on this runtime until the node stops.
        stop.cancelled().await;
    }
}
