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
//! addresses; the thread that accepts a connection then hands it to the thread serving the
//! fewest connections when that is not itself (as HAProxy and Envoy's exact balance do), so
//! keep-alive connections end up evenly spread. Without that, 32 benchmark connections split
//! 40/60. One shared socket was tried
//! first: whichever thread woke first took a whole burst of new connections.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::server::{spawn_connection, ConnContext};

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

/// A connection accepted by one thread for another to serve.
struct Handoff {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    counted: Counted,
}

/// Open connections per serving thread, and each thread's inbox for handed-over ones.
struct Balance {
    open: Arc<[AtomicUsize]>,
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
}

impl Balance {
    /// The thread that should serve a connection `me` just accepted — `me` unless another
    /// serves fewer connections — with the connection counted there.
    fn place(&self, me: usize) -> (usize, Counted) {
        let mine = self.open[me].load(Ordering::Relaxed);
        let (mut target, mut least) = (me, mine);
        for (i, open) in self.open.iter().enumerate() {
            let n = open.load(Ordering::Relaxed);
            if n < least {
                (target, least) = (i, n);
            }
        }
        (target, self.count(target))
    }

    fn count(&self, thread: usize) -> Counted {
        self.open[thread].fetch_add(1, Ordering::Relaxed);
        Counted {
            open: self.open.clone(),
            thread,
        }
    }
}

/// One open connection in its thread's count, until dropped.
struct Counted {
    open: Arc<[AtomicUsize]>,
    thread: usize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open[self.thread].fetch_sub(1, Ordering::Relaxed);
    }
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
    /// accept loops have ended (after `ctx.stop` fires), one per thread.
    pub fn start(
        count: usize,
        listeners: Vec<Listener>,
        ctx: &ConnContext,
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
        let (inboxes, mut receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::unbounded_channel()).unzip();
        let balance = Arc::new(Balance {
            open: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            inboxes,
        });
        for (index, listeners) in per_thread.into_iter().enumerate() {
            let inbox = receivers.remove(0);
            let (done, accepted_all) = oneshot::channel();
            let work = Work {
                index,
                listeners,
                inbox,
                balance: balance.clone(),
                ctx: ctx.clone(),
                stop: stop.clone(),
                done,
            };
            // The runtime is built on its thread (a runtime must not be dropped on an async
            // caller's thread, as a failed spawn would), which reports back whether it could.
            let (built, ready) = std::sync::mpsc::sync_channel(1);
            let thread = std::thread::Builder::new()
                .name(format!("regionless-serve-{index}"))
                .spawn(move || {
                    SERVING_THREAD.set(index + 1);
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match runtime {
                        Ok(runtime) => {
                            let _ = built.send(Ok(()));
                            runtime.block_on(work.run());
                        }
                        Err(e) => {
                            let _ = built.send(Err(e));
                        }
                    }
                })?;
            started.threads.push(thread);
            // A brief wait while the node starts: building a runtime takes microseconds.
            ready
                .recv()
                .map_err(|_| io::Error::other("a serving thread ended while starting"))??;
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

/// One thread's share: its sockets of the listeners, its inbox, and what it needs to serve.
struct Work {
    index: usize,
    listeners: Vec<(std::net::TcpListener, Option<TlsAcceptor>)>,
    inbox: mpsc::UnboundedReceiver<Handoff>,
    balance: Arc<Balance>,
    ctx: ConnContext,
    stop: CancellationToken,
    done: oneshot::Sender<()>,
}

impl Work {
    async fn run(self) {
        let Work {
            index,
            listeners,
            inbox,
            balance,
            ctx,
            stop,
            done,
        } = self;
        let mut loops = Vec::new();
        for (socket, tls) in listeners {
            // Registers the socket with this thread's reactor (it is non-blocking: the node
            // bound it through tokio).
            let listener = match TcpListener::from_std(socket) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "serving thread cannot use a listener");
                    continue;
                }
            };
            loops.push(tokio::spawn(accept_loop(
                index,
                listener,
                tls,
                balance.clone(),
                ctx.clone(),
            )));
        }
        loops.push(tokio::spawn(adopt_loop(inbox, ctx)));
        drop(balance);
        let serve = async move {
            // `Node::shutdown` takes the graceful-shutdown handle back once these loops are
            // done: only connections' watchers may hold it then.
            for l in loops {
                let _ = l.await;
            }
            let _ = done.send(());
            // Connections accepted here keep running on this runtime until the node stops.
            std::future::pending::<()>().await;
        };
        // Stopping ends `block_on` whatever the loops are doing (a node dropped without
        // `shutdown` never stops accepting): the runtime then drops every task and socket.
        tokio::select! {
            () = stop.cancelled() => {}
            () = serve => {}
        }
    }
}

/// Accepts connections on `listener` until the node stops accepting, serving each here or
/// handing it to the thread `balance` places it on.
async fn accept_loop(
    me: usize,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    balance: Arc<Balance>,
    ctx: ConnContext,
) {
    loop {
        let accepted = tokio::select! {
            _ = ctx.stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (target, counted) = balance.place(me);
        if target == me {
            spawn_connection(stream, peer, tls.clone(), &ctx, counted);
            continue;
        }
        // Taken off this thread's reactor, to be registered with the target's.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let handoff = Handoff {
            stream,
            peer,
            tls: tls.clone(),
            counted,
        };
        if let Err(mpsc::error::SendError(back)) = balance.inboxes[target].send(handoff) {
            // The target has stopped adopting (the node is stopping): serve it here.
            drop(back.counted);
            if let Ok(stream) = tokio::net::TcpStream::from_std(back.stream) {
                spawn_connection(stream, peer, back.tls, &ctx, balance.count(me));
            }
        }
    }
}

/// Serves the connections other threads hand to this one, until the node stops accepting;
/// those already handed over by then are still served.
async fn adopt_loop(mut inbox: mpsc::UnboundedReceiver<Handoff>, ctx: ConnContext) {
    loop {
        let handoff = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            h = inbox.recv() => h,
        };
        match handoff {
            Some(h) => adopt(h, &ctx),
            None => return,
        }
    }
    inbox.close();
    while let Ok(h) = inbox.try_recv() {
        adopt(h, &ctx);
    }
}

fn adopt(h: Handoff, ctx: &ConnContext) {
    match tokio::net::TcpStream::from_std(h.stream) {
        Ok(stream) => spawn_connection(stream, h.peer, h.tls, ctx, h.counted),
        Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(open: &[usize]) -> Balance {
        Balance {
            open: open.iter().map(|&n| AtomicUsize::new(n)).collect(),
            inboxes: Vec::new(),
        }
    }

    fn counts(b: &Balance) -> Vec<usize> {
        b.open.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn a_connection_goes_to_the_thread_serving_fewest_and_is_counted_there() {
        let b = balance(&[3, 1, 2]);
        let (target, counted) = b.place(0);
        assert_eq!(target, 1);
        assert_eq!(counts(&b), [3, 2, 2]);
        drop(counted);
        assert_eq!(counts(&b), [3, 1, 2]);
    }

    #[test]
    fn the_accepting_thread_keeps_a_connection_on_a_tie() {
        let b = balance(&[2, 2, 5]);
        let (target, _counted) = b.place(1);
        assert_eq!(target, 1);
        assert_eq!(counts(&b), [2, 3, 5]);
    }

    #[test]
    fn a_burst_accepted_by_one_thread_ends_up_even() {
        let b = balance(&[0, 0]);
        let held: Vec<_> = (0..32).map(|_| b.place(0).1).collect();
        assert_eq!(counts(&b), [16, 16]);
        drop(held);
        assert_eq!(counts(&b), [0, 0]);
    }
}
