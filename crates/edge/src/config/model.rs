//! Validated, typed settings. Everything the node reads at run time comes from here; nothing
//! in this module does I/O.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method, StatusCode};
use ipnet::IpNet;
use regionless_geo::{Continent, CountryCode, HealthConfig, RegionCatalog};
use std::collections::HashMap;

/// A complete, validated node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub node: NodeSettings,
    pub limits: Limits,
    pub client_location: ClientLocationSettings,
    pub upstream_headers: UpstreamHeaders,
    pub retry_budget: RetryBudgetSettings,
    pub cache: CacheSettings,
    /// Built-in regions plus the file's `[[regions]]`.
    pub regions: RegionCatalog,
    pub sites: Vec<SiteConfig>,
}

/// Where this node is and what it listens on.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub region: String,
    pub listen: Vec<SocketAddr>,
    pub tls_listen: Vec<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub access_log: AccessLogTarget,
    pub shutdown_grace: Duration,
    /// Serving threads, each with its own single-threaded tokio runtime (see
    /// [`crate::serving`]); None means one per CPU core. Read at start only: a reload keeps
    /// the running count.
    pub workers: Option<usize>,
    /// Use only as many serving threads as the load needs, spreading to more when those in
    /// use are saturated and the machine has an idle core (see [`crate::packing`]); false
    /// spreads connections over every thread from the start. Read at start only.
    pub adaptive_threads: bool,
    /// Keep an `X-Request-Id` that arrives from a trusted proxy instead of generating one.
    pub trust_request_id: bool,
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    File(PathBuf),
}

/// Protection against oversized and slow clients.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    pub max_body_bytes: u64,
    /// Time allowed to receive a whole request head, idle keep-alive wait included.
    pub header_read_timeout: Duration,
    /// Longest pause allowed between two pieces of a request body.
    pub body_read_timeout: Duration,
}

/// How the node finds the client's address and country.
#[derive(Debug, Clone)]
pub struct ClientLocationSettings {
    pub trusted_proxies: Vec<IpNet>,
    /// Header carrying the country, honoured only from trusted proxies.
    pub country_header: Option<HeaderName>,
    pub geoip_database: Option<PathBuf>,
    pub geoip_reload_interval: Duration,
}

/// Headers the node sends to origins as authoritative (and strips from clients).
#[derive(Debug, Clone)]
pub struct UpstreamHeaders {
    pub original_host: Option<HeaderName>,
    pub client_country: Option<HeaderName>,
    pub request_id: HeaderName,
    /// The same names rendered as the start of a header line; built from them by
    /// [`UpstreamHeaders::new`], the only constructor (nothing changes the names after it).
    pub prefixes: UpstreamPrefixes,
}

/// [`UpstreamHeaders`]' names as `name: `, rendered once per config: the request path
/// writes each on every request ([`crate::headers::push_prefixed`]).
#[derive(Debug, Clone)]
pub struct UpstreamPrefixes {
    pub original_host: Option<Box<[u8]>>,
    pub client_country: Option<Box<[u8]>>,
    pub request_id: Box<[u8]>,
}

impl UpstreamHeaders {
    /// The fields under these names, with their rendered prefixes.
    pub fn new(
        original_host: Option<HeaderName>,
        client_country: Option<HeaderName>,
        request_id: HeaderName,
    ) -> Self {
        let prefix = |name: &HeaderName| crate::headers::line_prefix(name);
        UpstreamHeaders {
            prefixes: UpstreamPrefixes {
                original_host: original_host.as_ref().map(prefix),
                client_country: client_country.as_ref().map(prefix),
                request_id: prefix(&request_id),
            },
            original_host,
            client_country,
            request_id,
        }
    }
}

/// Node-wide cap on retries and hedges.
#[derive(Debug, Clone)]
pub struct RetryBudgetSettings {
    /// Retries + hedges allowed as a percentage of requests (over a 10 s window).
    pub percent: f64,
    /// A floor so a quiet node can still fail over.
    pub min_per_second: f64,
}

/// Which steering policy a site uses.
#[derive(Debug, Clone)]
pub enum PolicySetting {
    Geo {
        countries: HashMap<CountryCode, String>,
        continents: HashMap<Continent, String>,
    },
    Proximity,
    Latency {
        warmup_samples: u32,
    },
    Failover,
}

/// One site: hostnames, origins, routes and the policies that apply to them.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub name: String,
    /// Lower-case hostnames without port; `*.example.com` matches any subdomain.
    pub hosts: Vec<String>,
    pub default_region: String,
    pub policy: PolicySetting,
    pub https_redirect: bool,
    pub tls: Option<SiteTls>,
    pub timeouts: Timeouts,
    pub retries: Retries,
    pub health_check: Option<HealthCheck>,
    pub health: HealthConfig,
    pub origins: Vec<OriginConfig>,
    pub routes: Vec<RouteConfig>,
    pub cache: SiteCache,
    /// Feature flags, sent to origins in `x-feature-flags`; part of the config version.
    pub flags: std::collections::BTreeMap<String, String>,
    /// Cache rules for requests that match no route.
    pub default_route_cache: RouteCache,
}

/// PEM certificate chain and private key for a site, chosen by SNI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Per-request deadlines.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub request: Duration,
}

/// Failover and hedging.
#[derive(Debug, Clone)]
pub struct Retries {
    /// At most this many attempts per request, the first included.
    pub attempts: u32,
    /// Origin statuses that count as a failed attempt.
    pub statuses: Vec<StatusCode>,
    pub hedge: bool,
    /// Never hedge earlier than this, whatever the observed p95.
    pub hedge_min_delay: Duration,
}

/// Active health checking of every origin of the site.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// How the node talks to an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginProtocol {
    /// HTTP/1.1 over plain TCP; over TLS, whatever ALPN picks (h2 or HTTP/1.1).
    Auto,
    Http1,
    /// HTTP/2 only: prior knowledge over TCP (h2c) or h2 over TLS. Needed for gRPC.
    Http2,
}

/// One origin server.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    pub name: String,
    pub url: url::Url,
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    pub region: String,
    pub weight: u32,
    pub backup: bool,
    pub pool: String,
    pub protocol: OriginProtocol,
    pub tls_verify: bool,
    pub ca_file: Option<PathBuf>,
}

/// How a route's path is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// `/api/*` is stored as the prefix `/api/`.
    Prefix(String),
}

impl PathPattern {
    /// True when `path` (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// Per-route settings; the first matching route wins.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub methods: Option<Vec<Method>>,
    pub path: PathPattern,
    pub pool: String,
    pub retryable: bool,
    pub cache: RouteCache,
}

impl RouteConfig {
    /// True when this route applies to the request.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method)) && self.path.matches(path)
    }
}

/// The pool every origin without `pool = …` belongs to.
pub const DEFAULT_POOL: &str = "default";

/// Node-wide cache settings (`[cache]`).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    /// Tier-1 budget.
    pub memory_bytes: u64,
    /// Larger bodies stream through uncached.
    pub max_object_bytes: u64,
    pub lock_timeout: Duration,
    pub regional: RegionalTierSetting,
    /// The embedded tier 2's byte budget.
    pub disk_bytes: u64,
    pub revalidate_keep: Duration,
    pub max_keep: Duration,
    /// Admin base URLs of other nodes (other regions, or other embedded nodes) purges are
    /// forwarded to.
    pub peers: Vec<url::Url>,
}

/// Where tier 2 lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionalTierSetting {
    Off,
    /// The node's own redb file.
    Embedded(PathBuf),
    /// The region's Redis, shared by its nodes.
    Redis(String),
}

/// Per-site cache settings (`[sites.cache]`).
#[derive(Debug, Clone)]
pub struct SiteCache {
    pub enabled: bool,
    /// Extra time a stale response may be served when every origin fails.
    pub grace: Duration,
    pub freshness: regionless_cache::freshness::FreshnessPolicy,
    /// Honour the client's `Cache-Control` (`no-cache`, `max-age`, `min-fresh`, `max-stale`).
    pub client_directives: bool,
}

/// Whether a route uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    On,
    Bypass,
}

/// Per-route cache rules.
#[derive(Debug, Clone)]
pub struct RouteCache {
    pub mode: CacheMode,
    /// Fixed lifetime instead of the origin's (storable responses only).
    pub ttl: Option<Duration>,
    /// Micro-caching: also store responses without freshness (or with `no-cache`), this long.
    pub micro: Option<Duration>,
    pub key: regionless_cache::key::KeyRules,
    pub key_headers: Vec<HeaderName>,
    pub key_cookies: Vec<String>,
    pub key_country: bool,
    pub key_region: bool,
    pub storage: regionless_cache::storable::RouteStorage,
}

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache {
            mode: CacheMode::On,
            ttl: None,
            micro: None,
            key: Default::default(),
            key_headers: Vec::new(),
            key_cookies: Vec::new(),
            key_country: false,
            key_region: false,
            storage: Default::default(),
        }
    }
}
