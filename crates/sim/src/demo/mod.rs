//! `regionless demo`: a simulated planet in one process, and the measurement that shows how
//! much nearer each country gets.
//!
//! - [`DemoLayout`] (from a world file's `[demo]` section, [`builtin_world`] by default): which
//!   regions run origins and edge nodes.
//! - [`DemoTls`]: a throwaway CA and the site's certificate, made at start, so clients reach
//!   the edges over HTTPS as they would a real edge ([`DemoTlsClient`] trusts that CA).
//! - [`Planet`]: starts the sample app per origin region ([`crate::app`]; plain HTTP for the
//!   edges, HTTPS for direct clients), one relay per edge→origin pair emulating that backbone
//!   link, one real `regionless_edge::Node` per edge region with a generated config
//!   ([`edge_config`]: HTTP and HTTPS listeners, the site's `[sites.tls]`).
//! - [`PlanetMap`]: the world plus the nodes' addresses; builds each client's emulated link
//!   (anycast to the nearest edge by the world's RTT, or straight to an origin), over HTTP or
//!   HTTPS ([`Scheme`]); [`ClientLink::open`] times the TCP and TLS handshakes apart.
//! - [`run_demo`]: measures every client place both ways and returns a [`DemoReport`].
//! - [`DemoState`]: what a running demo publishes for `regionless probe --demo`.
//!
//! The edges learn a client's country from `CF-IPCountry`, which they trust from loopback;
//! the probe sets it, standing in for the CDN front of a real deployment.

mod builtin;
pub mod edge_config;
mod error;
pub mod layout;
mod map;
mod planet;
mod progress;
mod report;
pub(crate) mod run;
mod state;
mod tls;
mod warm;

pub use builtin::{builtin_world, BUILTIN_WORLD_LABEL, BUILTIN_WORLD_TOML};
pub use error::DemoError;
pub use layout::{DemoLayout, DEFAULT_COLOCATED_RTT_MS, SITE_HOST};
pub use map::{
    ClientLink, EdgeInfo, Entrance, Hop, Opened, OriginInfo, PlanetAddrs, PlanetMap, Scheme,
};
pub use planet::Planet;
pub use progress::{NoProgress, Progress};
pub use report::{DemoReport, DemoRow, PurgeSummary};
pub use run::{
    run_demo, start_vantages, DemoOptions, Vantage, DEFAULT_REPETITIONS, DEMO_PATH, ROUTE_STAGGER,
};
pub use state::{default_state_path, DemoState};
pub use tls::{DemoTls, DemoTlsClient, Negotiated, TLS_HANDSHAKE_TIMEOUT};
pub use warm::warm_edges;
