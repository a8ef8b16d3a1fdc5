//! The edge node: accepts client connections, runs every request through the phases
//! site → locate → rules → steer → proxy → respond, and serves the admin API.
//!
//! Owns: the HTTP server, config loading and validation, proxying with failover and hedging,
//! TLS termination, health checking tasks, the admin listener, metrics and the access log.
//! Must never: block the request path on background work, or forward a request whose Host is
//! not a configured site (the node is not an open proxy).
#![forbid(unsafe_code)]
