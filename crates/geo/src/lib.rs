//! Geography for the edge: the ISO 3166 country table, the region catalog, where a client is,
//! which origin region should serve it (steering) and how healthy each origin is.
//!
//! Owns: in-memory tables and the pure decisions made from them.
//! Must never: do I/O on the request path other than reading in-memory tables (the GeoIP file
//! is loaded and reloaded off the request path).
#![forbid(unsafe_code)]

pub mod distance;

pub use distance::great_circle_km;
