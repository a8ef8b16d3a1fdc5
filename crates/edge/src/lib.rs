//! The edge node: accepts client connections, runs every request through the phases
//! admit → site → locate → rules → route → cache → steer → proxy → respond, and serves the
//! admin API.
//!
//! Owns: the HTTP server, config loading and validation, the cache phase of the request path
//! (`cache_path`: keys, lookups, storing while streaming, stale serving; the tiers themselves
//! live in `regionless-cache`), proxying with failover and hedging, TLS termination, health
//! checking tasks, the admin listener (including cache purges), metrics and the access log.
//! Must never: block the request path on background work, or forward a request whose Host is
//! not a configured site (the node is not an open proxy).
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod admin_cache;
pub mod body;
pub mod cache_metrics;
pub mod cache_path;
pub mod client_h1;
pub mod config;
pub mod deadline;
pub mod headers;
pub mod health_check;
mod io_delegate;
pub mod metrics;
pub mod node;
pub mod observe;
pub mod on_wake;
pub mod origin_h1;
pub mod packing;
pub mod per_thread;
pub mod proxy;
pub mod raw_fields;
pub mod retry_budget;
pub mod runtime;
pub mod server;
pub mod serving;
pub mod smuggling;
pub mod state;
pub mod tls;
pub mod upstream;

pub use config::{Config, ConfigError, ConfigErrors};
pub use node::{Node, NodeControl, StartError};
