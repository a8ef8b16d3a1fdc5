//! HTTP caching semantics and cache keys for the edge: the pure, I/O-free core of the edge
//! cache.
//!
//! Owns: parsing `Cache-Control` and `CDN-Cache-Control` (RFC 9111 §5.2, RFC 9213), freshness
//! lifetime, age and stale windows (RFC 9111 §4.2, RFC 5861), whether a response may be stored
//! by this shared cache (RFC 9111 §3 plus the project's `Authorization`/`Set-Cookie` rule),
//! primary and secondary (`Vary`) cache keys folding in the site's config version, the
//! `Cache-Status` (RFC 9211) and `x-cache` header values, validation and 304 handling
//! (RFC 9111 §4.3), invalidation by unsafe methods (§4.4), ranges served from a stored full
//! response (RFC 9110 §14), and purge targets and tags.
//!
//! Also owns the cache's storage ([`tiers`]): tier 1 in memory (moka, bounded in bytes), tier 2
//! in the region's store, request coalescing, and purges carried on the store's pub/sub.
//!
//! Must never: talk to Redis or disk directly (tier 2, locks and purge events go through the
//! store crate's [`regionless_store::Store`] interface); the semantic modules do no I/O at all
//! — no clocks (callers pass the times), no sockets — so they are tested as pure functions.
//!
//! Module map:
//! - [`directives`]: `Cache-Control` / `CDN-Cache-Control` parsing into [`directives::Directives`];
//! - [`freshness`]: freshness lifetime, current age, fresh/stale verdicts and stale windows;
//! - [`storable`]: may a response be stored, with a reason when not;
//! - [`key`]: primary keys (config version folded in), `Vary` secondary keys with
//!   `Accept-Encoding` normalised, UUIDv5 keys of canonical requests;
//! - [`cache_status`]: `Cache-Status` (RFC 9211) members and `x-cache` values;
//! - [`validation`]: stored header fields, revalidation requests, freshening from a 304,
//!   answering clients' conditional requests from cache;
//! - [`invalidation`]: which same-origin URIs an unsafe method's response invalidates;
//! - [`range`]: `Range`/`If-Range` answered from a stored full response;
//! - [`purge`]: purge targets (URL, prefix, tag, site), validation and matching; response tags;
//! - [`tiers`]: the storage — memory tier, regional tier, coalescing, purges as bans.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// In tests a panic is the failure report; outside them the workspace lint stands.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cache_status;
pub mod directives;
pub mod freshness;
pub mod invalidation;
pub mod key;
pub mod purge;
pub mod range;
pub mod storable;
pub mod tiers;
pub mod validation;

#[cfg(test)]
mod test_support;
