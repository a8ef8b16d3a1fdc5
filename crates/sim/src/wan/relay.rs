//! The relay: a listener whose every accepted connection is carried to one upstream address
//! through an emulated [`Link`].

use super::pipe::{self, Counters, READ_CHUNK};
use super::precise_timer;
use super::schedule::Scheduler;
use super::spec::Link;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Default cap on queued bytes per direction of each connection: a few MB, enough for a
/// 300 ms × 100 Mbit/s bandwidth-delay product, small enough that a stalled receiver cannot
/// grow the relay's memory without bound.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4 << 20;

/// How to start a relay (a builder; nothing happens until [`Relay::start`]).
#[derive(Debug, Clone)]
pub struct Relay {
    listen: SocketAddr,
    upstream: SocketAddr,
    link: Link,
    max_in_flight: usize,
    upstream_source: Option<IpAddr>,
    seed: Option<u64>,
}

impl Relay {
    /// A relay to `upstream` through `link` (forward = towards upstream), listening on
    /// 127.0.0.1 on a free port, with [`DEFAULT_MAX_IN_FLIGHT`] and random jitter/loss.
    pub fn new(upstream: SocketAddr, link: Link) -> Relay {
        Relay {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            upstream,
            link,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            upstream_source: None,
            seed: None,
        }
    }

    /// Listen on `addr` instead (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Relay {
        self.listen = addr;
        self
    }

    /// Cap queued bytes per direction of each connection at `bytes` (at least 64 KiB). This is
    /// also the largest congestion window the emulated sender reaches.
    pub fn max_in_flight(mut self, bytes: usize) -> Relay {
        self.max_in_flight = bytes.max(READ_CHUNK);
        self
    }

    /// Connect upstream from this local address (port chosen by the OS), e.g. a loopback
    /// address a demo GeoIP file maps to the clients' country; by default the OS chooses.
    pub fn upstream_source(mut self, ip: IpAddr) -> Relay {
        self.upstream_source = Some(ip);
        self
    }

    /// Make jitter and loss reproducible: connection `n` (counting accepts from 0) of this
    /// relay draws from a generator seeded by `seed` and `n`.
    pub fn seed(mut self, seed: u64) -> Relay {
        self.seed = Some(seed);
        self
    }

    /// Validates the link, binds the listener and starts accepting on the current tokio
    /// runtime. Errors: `InvalidInput` for an invalid link, or the bind error. Connections are
    /// served until the handle is shut down or dropped.
    pub async fn start(self) -> io::Result<RelayHandle> {
        self.link.validate()?;
        let listener = TcpListener::bind(self.listen).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let link = self.link.clone();
        let task = tokio::spawn(accept_loop(listener, Arc::new(self), Arc::clone(&shared)));
        Ok(RelayHandle {
            local_addr,
            link,
            shared,
            task: Some(task),
        })
    }
}

#[derive(Debug, Default)]
struct Shared {
    accepted: AtomicU64,
    open: AtomicU64,
    forward: Arc<Counters>,
    backward: Arc<Counters>,
}

/// A point-in-time view of a relay's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Connections accepted since start (each one paid an emulated handshake).
    pub connections_accepted: u64,
    /// Connections still open.
    pub connections_open: u64,
    /// Bytes delivered upstream.
    pub bytes_forward: u64,
    /// Bytes delivered back to clients.
    pub bytes_backward: u64,
    /// Bytes read but not yet delivered, both directions, all connections.
    pub bytes_in_flight: u64,
}

/// A running relay. Dropping it (or [`RelayHandle::shutdown`]) stops accepting and closes
/// every connection it carries, without waiting for in-flight bytes.
#[derive(Debug)]
pub struct RelayHandle {
    local_addr: SocketAddr,
    link: Link,
    shared: Arc<Shared>,
    /// `None` only after `shutdown` took it.
    task: Option<JoinHandle<()>>,
}

impl RelayHandle {
    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The emulated link.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Counters since start.
    pub fn stats(&self) -> RelayStats {
        let s = &self.shared;
        RelayStats {
            connections_accepted: s.accepted.load(Ordering::Relaxed),
            connections_open: s.open.load(Ordering::Relaxed),
            bytes_forward: s.forward.delivered.load(Ordering::Relaxed),
            bytes_backward: s.backward.delivered.load(Ordering::Relaxed),
            bytes_in_flight: s.forward.in_flight.load(Ordering::Relaxed)
                + s.backward.in_flight.load(Ordering::Relaxed),
        }
    }

    /// Connects through this relay with the emulated dialer ([`Link::connect`]): returns after
    /// one emulated handshake.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        self.link.connect(self.local_addr).await
    }

    /// Stops the relay and waits until its accept loop has ended; connections are closed.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Only `Cancelled` can come back; what matters is that the loop is gone.
            let _ = task.await;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection task.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, relay: Arc<Relay>, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let seed = match relay.seed {
                        Some(s) => s ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        None => rand::random(),
                    };
                    n += 1;
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let open = OpenGuard::new(Arc::clone(&shared));
                    let relay = Arc::clone(&relay);
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        let _open = open;
                        if let Err(e) = carry(stream, &relay, &shared, seed).await {
                            tracing::debug!(error = %e, "emulated connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning on the error.
                    tracing::warn!(error = %e, "relay accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Counts a connection as open for as long as it lives, whatever way it ends.
struct OpenGuard(Arc<Shared>);

impl OpenGuard {
    fn new(shared: Arc<Shared>) -> OpenGuard {
        shared.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(shared)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Carries one accepted connection. Timeline (t0 = accept): the client may send at once, but
/// its bytes leave no earlier than t0 + RTT (the emulated handshake) and reach upstream one
/// forward delay later, which is also when the upstream connection is opened, so the server
/// sees the connection when a real one would have completed its handshake.
async fn carry(client: TcpStream, relay: &Relay, shared: &Shared, seed: u64) -> io::Result<()> {
    let accepted = Instant::now();
    client.set_nodelay(true)?;
    let link = &relay.link;
    let established = accepted + link.rtt();
    let forward = Scheduler::new(
        link.forward.clone(),
        link.backward.one_way,
        established,
        relay.max_in_flight,
        seed,
    );
    let backward = Scheduler::new(
        link.backward.clone(),
        link.forward.one_way,
        accepted,
        relay.max_in_flight,
        seed.rotate_left(32),
    );
    let (f_pump, f_delivery) =
        pipe::direction(forward, relay.max_in_flight, Arc::clone(&shared.forward));
    let (b_pump, b_delivery) =
        pipe::direction(backward, relay.max_in_flight, Arc::clone(&shared.backward));
    let (client_read, client_write) = client.into_split();

    let upstream_side = async {
        precise_timer::sleep_until(established + link.forward.one_way).await;
        let upstream = match dial(relay.upstream, relay.upstream_source).await {
            Ok(s) => s,
            Err(e) => {
                // The refusal reaches the client one backward delay later.
                precise_timer::sleep_until(Instant::now() + link.backward.one_way).await;
                return Err(e);
            }
        };
        upstream.set_nodelay(true)?;
        let (up_read, up_write) = upstream.into_split();
        tokio::try_join!(
            f_delivery.run(up_write),
            b_pump.run(up_read),
            b_delivery.run(client_write),
        )
        .map(|_| ())
    };
    // try_join: the first error (a reset or a failed write) drops everything, closing both
    // sockets; normal ends (FIN both ways) let all parts finish.
    tokio::try_join!(f_pump.run(client_read), upstream_side).map(|_| ())
}

async fn dial(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = match ip {
                IpAddr::V4(_) => TcpSocket::new_v4()?,
                IpAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
}
