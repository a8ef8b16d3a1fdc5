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
//!
//! Packing: with `node.adaptive_threads` (the default) only threads `0..in_use` take
//! connections, starting with one; [`crate::packing`] decides from each thread's busy time
//! (as its runtime measures it) and the machine's idle CPU when to use more or
//! fewer. A plain HTTP/1.1 connection on a thread that should give connections up moves
//! itself between two requests (nothing read, nothing in flight): its socket leaves this
//! thread's reactor and goes through the target's inbox like a handed-over new connection.
//! TLS connections and connections hyper serves stay where they are until they close.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Moved between requests: it has served requests over HTTP/1.1 before.
    resumed: bool,
}

/// Open connections per serving thread, each thread's inbox for handed-over ones, and what
/// packing needs: how many threads are in use and how busy each is.
struct Balance {
    open: Arc<[AtomicUsize]>,
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
    /// Threads `0..in_use` take connections; the others give theirs up.
    in_use: AtomicUsize,
    /// Per thread in use: connections it is asked to give to a less loaded thread in use.
    shed: Box<[AtomicUsize]>,
    /// Per thread: its runtime's metrics, set by the thread once its runtime is built. Busy
    /// time is read from them (see [`Balance::busy_so_far`]).
    runtimes: Box<[std::sync::OnceLock<tokio::runtime::RuntimeMetrics>]>,
    /// Threads in use as pinned by [`ServingThreads::pin_in_use`]; 0 when not pinned.
    pinned: AtomicUsize,
    /// Whether the packing controller runs.
    packing: bool,
    /// Connections moved between threads (the node's metric).
    moved: prometheus_client::metrics::counter::Counter,
    /// Per thread: its `schedstat` file, set by the thread when it starts (where it has one).
    schedstat: Box<[std::sync::OnceLock<std::path::PathBuf>]>,
}

impl Balance {
    fn new(threads: usize, inboxes: Vec<mpsc::UnboundedSender<Handoff>>, in_use: usize) -> Self {
        Balance {
            open: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            inboxes,
            in_use: AtomicUsize::new(in_use.clamp(1, threads.max(1))),
            shed: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            runtimes: (0..threads).map(|_| std::sync::OnceLock::new()).collect(),
            pinned: AtomicUsize::new(0),
            packing: in_use < threads,
            moved: Default::default(),
            schedstat: (0..threads).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    fn in_use(&self) -> usize {
        self.in_use
            .load(Ordering::Relaxed)
            .clamp(1, self.open.len())
    }

    /// The thread in use serving the fewest connections, `prefer` on a tie.
    fn least_loaded(&self, prefer: usize) -> usize {
        let in_use = self.in_use();
        let (mut target, mut least) = match self.open.get(prefer) {
            Some(open) if prefer < in_use => (prefer, open.load(Ordering::Relaxed)),
            _ => (0, usize::MAX),
        };
        for (i, open) in self.open[..in_use].iter().enumerate() {
            let n = open.load(Ordering::Relaxed);
            if n < least {
                (target, least) = (i, n);
            }
        }
        target
    }

    /// The thread that should serve a connection `me` just accepted — `me` unless another
    /// thread in use serves fewer connections — with the connection counted there.
    fn place(&self, me: usize) -> (usize, Counted) {
        let target = self.least_loaded(me);
        (target, self.count(target))
    }

    fn count(&self, thread: usize) -> Counted {
        self.open[thread].fetch_add(1, Ordering::Relaxed);
        Counted {
            open: self.open.clone(),
            thread,
        }
    }

    /// Where a connection of thread `me` that is between two requests should move to, if
    /// anywhere: off a thread no longer in use, or off one asked to shed connections.
    fn move_target(&self, me: usize) -> Option<usize> {
        if me < self.in_use() {
            let shed = &self.shed[me];
            shed.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .ok()?;
        }
        let target = self.least_loaded(me);
        (target != me).then_some(target)
    }

    /// Each thread's busy nanoseconds so far: the time its runtime spent running tasks, as
    /// tokio measures it anyway (two clock reads around each run of tasks), published at its
    /// last park or yield to the driver (at least every 61 tasks). Unlike the park hooks of
    /// our own this replaced (two more clock reads and two atomic writes per wake-up), it
    /// leaves out the driver's non-blocking polls between runs and the run in progress: a
    /// saturated thread reads somewhat below 1, still well above `packing`'s threshold to
    /// grow (0.8).
    fn busy_so_far(&self) -> Vec<u64> {
        self.runtimes
            .iter()
            .map(|metrics| {
                metrics.get().map_or(0, |m| {
                    u64::try_from(m.worker_total_busy_duration(0).as_nanos()).unwrap_or(u64::MAX)
                })
            })
            .collect()
    }

    /// Uses `in_use` threads from now on, and asks each of them that serves more than its
    /// share of the connections to give the surplus up.
    fn set_in_use(&self, in_use: usize) {
        let in_use = in_use.clamp(1, self.open.len());
        self.in_use.store(in_use, Ordering::Relaxed);
        let open: Vec<usize> = self
            .open
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        let share = open.iter().sum::<usize>().div_ceil(in_use);
        for (i, shed) in self.shed.iter().enumerate() {
            let surplus = if i < in_use {
                open[i].saturating_sub(share)
            } else {
                0
            };
            shed.store(surplus, Ordering::Relaxed);
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
    balance: Option<Arc<Balance>>,
}

impl ServingThreads {
    /// Starts one thread per socket of each listener (every listener has as many), thread `i`
    /// accepting from socket `i` of each. The receivers returned complete once every thread's
    /// accept loops have ended (after `ctx.stop` fires), one per thread. With `adaptive`,
    /// threads are put to use as the load needs (see the module docs), else all of them from
    /// the start. Must be called on a tokio runtime, which runs the packing controller.
    pub fn start(
        count: usize,
        adaptive: bool,
        listeners: Vec<Listener>,
        ctx: &ConnContext,
    ) -> io::Result<(ServingThreads, Vec<oneshot::Receiver<()>>)> {
        let stop = CancellationToken::new();
        let mut accepting = Vec::new();
        // On an error below, dropping this stops the threads already started.
        let mut started = ServingThreads {
            stop: stop.clone(),
            threads: Vec::new(),
            balance: None,
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
        let idle_cpu = if adaptive && count > 1 {
            crate::packing::IdleCpu::open()
        } else {
            None
        };
        let in_use = if idle_cpu.is_some() { 1 } else { count };
        let mut balance = Balance::new(count, inboxes, in_use);
        balance.moved = ctx.state.metrics.connections_moved.clone();
        let balance = Arc::new(balance);
        started.balance = Some(balance.clone());
        ctx.state.metrics.serving_threads_in_use.set(in_use as i64);
        if let Some(idle_cpu) = idle_cpu {
            tokio::spawn(pack(
                balance.clone(),
                idle_cpu,
                ctx.state.clone(),
                stop.clone(),
            ));
        }
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
                    if let Some(path) = crate::packing::RunQueueWait::own_path() {
                        let _ = work.balance.schedstat[index].set(path);
                    }
                    // Busy time comes from the runtime's own measure, not from `schedstat`:
                    // its runnable time also counts waiting for a core after each wake-up,
                    // which on shared cores reads as load. Tried in session 11 and taken
                    // back: the demo's cache-hit timing test then failed twice in full runs
                    // (the cause was not pinned down).
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match runtime {
                        Ok(runtime) => {
                            let _ = work.balance.runtimes[index].set(runtime.metrics());
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
    /// Puts exactly `in_use` threads to use (clamped to 1..=their number), moving
    /// connections off the others as they finish a request, until called with None, which
    /// returns the choice to the packing controller (or to every thread without one).
    /// For operators' experiments and tests.
    pub fn pin_in_use(&self, in_use: Option<usize>) {
        let Some(balance) = &self.balance else {
            return;
        };
        balance.pinned.store(in_use.unwrap_or(0), Ordering::Relaxed);
        match in_use {
            Some(n) => balance.set_in_use(n),
            None if !balance.packing => balance.set_in_use(balance.open.len()),
            None => {}
        }
    }

    /// Serving threads taking connections now, and the connections each one serves.
    pub fn load(&self) -> (usize, Vec<usize>) {
        let Some(balance) = &self.balance else {
            return (0, Vec::new());
        };
        let open = balance
            .open
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        (balance.in_use(), open)
    }

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
        // The request path's deadlines on this thread (see `crate::deadline`).
        crate::deadline::spawn_sweeper();
        let seat = Arc::new(Seat {
            mover: Mover { balance, me: index },
            ctx,
        });
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
            loops.push(tokio::spawn(accept_loop(listener, tls, seat.clone())));
        }
        loops.push(tokio::spawn(adopt_loop(inbox, seat)));
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

/// Samples the serving threads' load every [`crate::packing::INTERVAL`] and puts as many of
/// them to use as [`crate::packing::Packer`] decides, until `stop` fires.
async fn pack(
    balance: Arc<Balance>,
    mut idle_cpu: crate::packing::IdleCpu,
    state: Arc<crate::state::NodeState>,
    stop: CancellationToken,
) {
    let mut packer = crate::packing::Packer::new(balance.open.len());
    let interval = crate::packing::INTERVAL;
    // The first sample after a full interval (`interval` would tick at once).
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut waits = crate::packing::RunQueueWait::new(balance.open.len());
    let mut last_busy = balance.busy_so_far();
    let mut last_at = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let busy = balance.busy_so_far();
        let at = Instant::now();
        let wall = at.duration_since(last_at).as_nanos().max(1) as f64;
        let sample = crate::packing::Sample {
            busy: busy
                .iter()
                .zip(&last_busy)
                .map(|(now, before)| now.saturating_sub(*before) as f64 / wall)
                .collect(),
            idle_cores: idle_cpu.sample(),
            starved: waits.sample(
                (0..balance.in_use())
                    .filter_map(|i| Some((i, balance.schedstat[i].get()?.as_path()))),
            ),
        };
        (last_busy, last_at) = (busy, at);
        let decided = packer.update(&sample);
        let in_use = match balance.pinned.load(Ordering::Relaxed) {
            0 => decided,
            pinned => pinned.min(balance.open.len()),
        };
        if in_use != balance.in_use() {
            tracing::debug!(
                from = balance.in_use(),
                to = in_use,
                ?sample,
                "serving threads in use"
            );
            state.metrics.serving_threads_in_use.set(in_use as i64);
        }
        // Re-evaluated on every sample, so connections that closed or moved since are not
        // asked to move again.
        balance.set_in_use(in_use);
    }
}

/// A serving thread as its accept and adopt loops see it.
struct Seat {
    mover: Mover,
    ctx: ConnContext,
}

impl Seat {
    /// Gives a connection to `target`'s inbox, or serves it here when that is this thread or
    /// not possible.
    fn send(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        tls: Option<TlsAcceptor>,
        target: usize,
        counted: Counted,
    ) {
        let Mover { balance, me } = &self.mover;
        if target == *me {
            let mover = self.mover.clone();
            spawn_connection(stream, peer, tls, &self.ctx, counted, mover, false);
            return;
        }
        let Some(back) = self
            .mover
            .to_inbox(stream, peer, tls, (target, counted), false)
        else {
            return;
        };
        // The target has stopped adopting (the node is stopping): serve it here.
        drop(back.counted);
        if let Ok(stream) = tokio::net::TcpStream::from_std(back.stream) {
            let counted = balance.count(*me);
            spawn_connection(
                stream,
                peer,
                back.tls,
                &self.ctx,
                counted,
                self.mover.clone(),
                false,
            );
        }
    }
}

/// A connection's way to another serving thread; cheap to clone (one per connection). It
/// holds no [`ConnContext`]: `Node::shutdown` needs every clone of the graceful-shutdown
/// handle back once the loops have ended, while connections still run.
#[derive(Clone)]
pub struct Mover {
    balance: Arc<Balance>,
    me: usize,
}

impl Mover {
    /// Where a plain HTTP/1.1 connection that is between two requests should move to now, if
    /// anywhere (see the module docs). Two relaxed loads when the answer is no.
    pub fn target(&self) -> Option<usize> {
        self.balance.move_target(self.me)
    }

    /// Moves a connection of this thread to the `target` thread (from [`Mover::target`]).
    /// Should that thread no longer adopt connections (the node is stopping), the connection
    /// is closed: it is between two requests, so nothing is lost.
    pub fn hand_over(&self, stream: tokio::net::TcpStream, peer: SocketAddr, target: usize) {
        let counted = self.balance.count(target);
        if self
            .to_inbox(stream, peer, None, (target, counted), true)
            .is_none()
        {
            self.balance.moved.inc();
        }
    }

    /// Sends a connection to `target`'s inbox; gives it back when the inbox is closed (and
    /// drops it when it cannot leave this thread's reactor).
    fn to_inbox(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        tls: Option<TlsAcceptor>,
        (target, counted): (usize, Counted),
        resumed: bool,
    ) -> Option<Handoff> {
        // Taken off this thread's reactor, to be registered with the target's.
        let stream = stream.into_std().ok()?;
        let handoff = Handoff {
            stream,
            peer,
            resumed: tls.is_none() && resumed,
            tls,
            counted,
        };
        self.balance.inboxes[target]
            .send(handoff)
            .err()
            .map(|mpsc::error::SendError(back)| back)
    }
}

/// Accepts connections on `listener` until the node stops accepting, serving each here or
/// handing it to the thread the balance places it on.
async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, seat: Arc<Seat>) {
    let (balance, me, ctx) = (&seat.mover.balance, seat.mover.me, &seat.ctx);
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
        seat.send(stream, peer, tls.clone(), target, counted);
    }
}

/// Serves the connections other threads hand to this one, until the node stops accepting;
/// those already handed over by then are still served.
async fn adopt_loop(mut inbox: mpsc::UnboundedReceiver<Handoff>, seat: Arc<Seat>) {
    let stop = seat.ctx.stop.clone();
    loop {
        let handoff = tokio::select! {
            _ = stop.cancelled() => break,
            h = inbox.recv() => h,
        };
        match handoff {
            Some(h) => adopt(h, &seat),
            None => return,
        }
    }
    inbox.close();
    while let Ok(h) = inbox.try_recv() {
        adopt(h, &seat);
    }
}

fn adopt(h: Handoff, seat: &Seat) {
    match tokio::net::TcpStream::from_std(h.stream) {
        Ok(stream) => spawn_connection(
            stream,
            h.peer,
            h.tls,
            &seat.ctx,
            h.counted,
            seat.mover.clone(),
            h.resumed,
        ),
        Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A balance with every thread in use (packing off).
    fn balance(open: &[usize]) -> Balance {
        balance_using(open, open.len())
    }

    fn balance_using(open: &[usize], in_use: usize) -> Balance {
        let b = Balance::new(open.len(), Vec::new(), in_use);
        for (n, &o) in b.open.iter().zip(open) {
            n.store(o, Ordering::Relaxed);
        }
        b
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
    fn only_threads_in_use_take_connections() {
        let b = balance_using(&[5, 0, 0], 1);
        assert_eq!(b.place(2).0, 0);
        let b = balance_using(&[5, 0, 0], 2);
        assert_eq!(b.place(2).0, 1);
        assert_eq!(b.place(0).0, 1);
    }

    #[test]
    fn connections_leave_threads_out_of_use_and_the_surplus_of_busy_ones() {
        let b = balance_using(&[6, 0], 1);
        // In use and not asked to shed: stays.
        assert_eq!(b.move_target(0), None);
        b.set_in_use(2);
        // Thread 0 serves 6 of 6, its share is 3: three connections move, then no more.
        let moves: Vec<_> = (0..5).map(|_| b.move_target(0)).collect();
        assert_eq!(moves, [Some(1), Some(1), Some(1), None, None]);
        // Packed again: every connection of thread 1 moves, whatever its count.
        b.set_in_use(1);
        assert_eq!(b.move_target(1), Some(0));
        assert_eq!(b.move_target(1), Some(0));
        assert_eq!(b.move_target(0), None);
    }

    #[test]
    fn busy_time_is_what_each_runtime_spent_running_tasks() {
        let b = balance(&[0, 0]);
        assert_eq!(b.busy_so_far(), [0, 0]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        b.runtimes[0].set(runtime.metrics()).expect("set once");
        runtime.block_on(async {
            // Busy for 20 ms, then parked for 20 ms.
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(20) {
                std::hint::spin_loop();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let busy = b.busy_so_far();
        assert!(
            (20_000_000..35_000_000).contains(&busy[0]),
            "busy 20 ms of 40: {busy:?}"
        );
        assert_eq!(busy[1], 0);
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
