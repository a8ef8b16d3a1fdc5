//! What every connection and request of one node shares.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use regionless_geo::GeoIp;
use tokio_util::sync::CancellationToken;

use crate::access_log::AccessLog;
use crate::metrics::Metrics;
use crate::retry_budget::RetryBudget;
use crate::runtime::{HealthRegistry, Runtime};
use crate::upstream::UpstreamClients;

/// Shared by every task of a node.
pub struct NodeState {
    pub runtime: ArcSwap<Runtime>,
    pub geoip: ArcSwapOption<GeoIp>,
    pub clients: UpstreamClients,
    pub health_registry: HealthRegistry,
    pub metrics: Metrics,
    pub budget: ArcSwap<RetryBudget>,
    pub access_log: AccessLog,
    pub shutting_down: AtomicBool,
    /// Cancelled when shutdown's grace period is over: ends every client connection and
    /// WebSocket tunnel still open, so a stopped node holds nothing (several nodes can share
    /// one process, as in `regionless demo`).
    pub close_connections: CancellationToken,
    /// The edge cache (tier 1 + tier 2), when `[cache]` is enabled. Built at start; its tier
    /// settings take effect on restart (site and route cache rules reload like the rest).
    pub cache: Option<Arc<regionless_cache::tiers::EdgeCache>>,
    /// The store behind tier 2, closed at shutdown.
    pub cache_store: Option<regionless_store::SharedStore>,
    /// Where `reload` reads the config from; None for configs built in memory.
    pub config_path: Option<PathBuf>,
}

/// What the request path knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The peer's IP address as a header value (for `X-Forwarded-For`), formatted once per
    /// connection rather than once per request.
    pub peer_ip: http::HeaderValue,
    pub tls: bool,
    /// Framing verdicts of an HTTP/1 connection's request heads (see [`crate::smuggling`]);
    /// None on HTTP/2 connections.
    pub framing: Option<Arc<crate::smuggling::Verdicts>>,
}

impl ConnInfo {
    /// What the request path knows about a new connection from `peer`.
    pub fn new(
        peer: SocketAddr,
        tls: bool,
        framing: Option<Arc<crate::smuggling::Verdicts>>,
    ) -> Self {
        let peer_ip = http::HeaderValue::try_from(peer.ip().to_string())
            .unwrap_or_else(|_| http::HeaderValue::from_static("unknown"));
        ConnInfo {
            peer,
            peer_ip,
            tls,
            framing,
        }
    }
}

impl NodeState {
    /// The runtime in force now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }
}
