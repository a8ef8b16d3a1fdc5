//! `regionless probe`: DNS, connect, TLS, TTFB and total time of a URL from several vantage
//! points, repeated, with min/median/p95 (think KeyCDN's performance test).
//!
//! - In a demo world ([`probe_emulated`]) the vantage points are the world's client places:
//!   each request goes through that client's emulated link, to the nearest edge when the URL
//!   names the demo site (`https://shop.demo/…`), or to the node whose address the URL names;
//!   `https` also times the TLS handshake through the link, `http` uses the plain listeners.
//! - Against any other URL ([`probe_real`]) it measures from this machine, and says so.
//!
//! Every repetition opens a new connection, as a first visit would; one warm-up request per
//! vantage point first (not counted) opens the edges' origin connections.

mod emulated;
pub mod exchange;
mod real;
mod report;
pub mod stats;

pub use emulated::probe_emulated;
pub use real::probe_real;
pub use report::{ProbeReport, ProbeRow};

use http::Uri;
use std::io;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL cannot be probed.
    #[error("bad URL `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Name resolution failed.
    #[error("DNS lookup of {host} failed: {source}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Name resolution returned nothing.
    #[error("{0} has no address")]
    NoAddress(String),
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where to.
        addr: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// TLS setup or handshake failed.
    #[error("TLS with {host}: {message}")]
    Tls {
        /// The server name.
        host: String,
        /// What failed.
        message: String,
    },
    /// The HTTP exchange failed (connection closed, malformed response, …).
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built from the URL.
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    /// An answer whose status makes the timing meaningless (demo only).
    #[error("{what} answered HTTP {status}")]
    Status {
        /// Who asked whom.
        what: String,
        /// The status code.
        status: u16,
    },
    /// A response that must come from the edge's cache did not.
    #[error("{what}: a cacheable image was not served from the edge cache (x-cache: {x_cache})")]
    NotCached {
        /// Who asked whom.
        what: String,
        /// The `x-cache` value received.
        x_cache: String,
    },
    /// A `--from` country with no vantage point in the world.
    #[error("no vantage point in `{country}`; this world has: {available}")]
    NoVantage {
        /// The code asked for.
        country: String,
        /// Countries that do have one.
        available: String,
    },
    /// A URL that names nothing in the demo world.
    #[error("{url} is not in the demo world: use https://{site_host}/… (through the nearest edge) or an edge or origin address the demo printed")]
    NotInWorld {
        /// The URL.
        url: String,
        /// The demo site's host.
        site_host: String,
    },
}

/// A probe target split into what the probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// True for https.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Explicit or default port.
    pub port: u16,
    /// Explicit port, if any (the demo matches listener addresses with it).
    pub explicit_port: Option<u16>,
    /// The `Host` header value (host, plus the port when explicit).
    pub authority: String,
    /// Path and query, `/` when empty.
    pub path: String,
}

impl Target {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Target, ProbeError> {
        let bad = |reason: &str| ProbeError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(bad(&format!("scheme `{other}` (use http or https)"))),
            None => return Err(bad("no scheme (use http://… or https://…)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let explicit_port = authority.port_u16();
        Ok(Target {
            url: url.to_owned(),
            tls,
            host,
            port: explicit_port.unwrap_or(if tls { 443 } else { 80 }),
            explicit_port,
            authority: authority.as_str().to_owned(),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("https://example.com/a?b=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "example.com", 443, "/a?b=1")
        );
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.port, t.explicit_port, t.path.as_str()),
            (8080, Some(8080), "/")
        );
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = Target::parse("http://[::1]:81/x").unwrap();
        assert_eq!(t.host, "::1");
        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("example.com/x").is_err());
    }
}
