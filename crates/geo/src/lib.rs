//! Geography for the edge: the ISO 3166 country table, the region catalog, where a client is,
//! which origin region should serve it (steering) and how healthy each origin is.
//!
//! Owns: in-memory tables and the pure decisions made from them.
//! Must never: do I/O on the request path other than reading in-memory tables (the GeoIP file
//! is loaded and reloaded off the request path).
//!
//! Module map:
//! - [`country`] (+ `countries_data`): continents, country codes, the 250-row country table,
//!   country headers from trusted upstreams;
//! - [`region`]: regions and the catalog with the built-in cloud regions;
//! - [`client`]: the client IP behind trusted proxies (`X-Forwarded-For`);
//! - [`geoip`]: IP → country from a reloadable `.mmdb` file;
//! - [`steer`]: steering policies and the attempt order;
//! - [`health`] (+ [`latency`]): passive/active origin health, busy periods, TTFB EWMA and p95;
//! - [`distance`]: great-circle distance.
#![forbid(unsafe_code)]
// In tests a panic is the failure report; outside them the workspace lint stands.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
mod countries_data;
pub mod country;
pub mod distance;
pub mod geoip;
pub mod health;
pub mod latency;
pub mod region;
pub mod steer;

pub use client::{client_ip, TrustedProxies};
pub use country::{
    countries, country, country_by_str, country_from_header, country_index, Continent, Country,
    CountryCode, ParseCodeError,
};
pub use distance::great_circle_km;
pub use geoip::{GeoError, GeoIp, GeoIpInfo};
pub use health::{HealthConfig, HealthSnapshot, HealthState, OriginHealth};
pub use region::{Region, RegionCatalog};
pub use steer::{client_point, rank, Candidate, GeoMap, Policy};
