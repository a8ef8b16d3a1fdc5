//! Prometheus metrics of the node (text exposition at the admin listener's `/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::per_thread::{LatencyHistogram, ShardedCounter};

/// Labels of client-facing request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub site: String,
    pub edge_region: String,
    pub status: u16,
}

/// Labels naming one origin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OriginLabels {
    pub site: String,
    pub origin: String,
    pub region: String,
}

/// Labels of origin attempts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub site: String,
    pub origin: String,
    pub outcome: &'static str,
}

/// Labels carrying only the site.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabels {
    pub site: String,
}

/// Labels of config reloads.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

/// Every metric the node exports. Those written on every request are sharded per thread
/// (`per_thread`); the rest are `prometheus_client`'s own.
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, ShardedCounter>,
    pub request_duration: Family<SiteLabels, LatencyHistogram>,
    pub origin_ttfb: Family<OriginLabels, LatencyHistogram>,
    pub attempts: Family<AttemptLabels, ShardedCounter>,
    pub failovers: Family<SiteLabels, ShardedCounter>,
    pub hedges: Family<SiteLabels, ShardedCounter>,
    pub retry_budget_exhausted: Counter,
    pub origin_available: Family<OriginLabels, Gauge>,
    pub response_bytes: Family<SiteLabels, ShardedCounter>,
    pub reloads: Family<ResultLabels, Counter>,
    pub access_log_dropped: Counter,
    pub geoip_reloads: Family<ResultLabels, Counter>,
    pub serving_threads_in_use: Gauge,
    pub connections_moved: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("regionless");
        let requests = Family::<RequestLabels, ShardedCounter>::default();
        registry.register(
            "requests",
            "Client requests answered, by site, edge region and status",
            requests.clone(),
        );
        let request_duration = Family::<SiteLabels, LatencyHistogram>::default();
        registry.register(
            "request_duration_seconds",
            "Time from request to response head",
            request_duration.clone(),
        );
        let origin_ttfb = Family::<OriginLabels, LatencyHistogram>::default();
        registry.register(
            "origin_ttfb_seconds",
            "Origin time to first byte per successful attempt",
            origin_ttfb.clone(),
        );
        let attempts = Family::<AttemptLabels, ShardedCounter>::default();
        registry.register(
            "origin_attempts",
            "Attempts sent to origins, by outcome",
            attempts.clone(),
        );
        let failovers = Family::<SiteLabels, ShardedCounter>::default();
        registry.register(
            "failovers",
            "Attempts that went to a further origin after a failure",
            failovers.clone(),
        );
        let hedges = Family::<SiteLabels, ShardedCounter>::default();
        registry.register(
            "hedges",
            "Hedged attempts sent after the p95 without a first byte",
            hedges.clone(),
        );
        let retry_budget_exhausted = Counter::default();
        registry.register(
            "retry_budget_exhausted",
            "Retries or hedges refused by the node-wide budget",
            retry_budget_exhausted.clone(),
        );
        let origin_available = Family::<OriginLabels, Gauge>::default();
        registry.register(
            "origin_available",
            "1 when the origin takes traffic, 0 when ejected or busy",
            origin_available.clone(),
        );
        let response_bytes = Family::<SiteLabels, ShardedCounter>::default();
        registry.register(
            "response_body_bytes",
            "Response body bytes sent to clients",
            response_bytes.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads, by result",
            reloads.clone(),
        );
        let access_log_dropped = Counter::default();
        registry.register(
            "access_log_dropped",
            "Access-log lines dropped because the writer fell behind",
            access_log_dropped.clone(),
        );
        let geoip_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "geoip_reloads",
            "GeoIP database reloads, by result",
            geoip_reloads.clone(),
        );
        let serving_threads_in_use = Gauge::default();
        registry.register(
            "serving_threads_in_use",
            "Serving threads taking connections (node.adaptive_threads uses as many as the load needs)",
            serving_threads_in_use.clone(),
        );
        let connections_moved = Counter::default();
        registry.register(
            "connections_moved",
            "Client connections moved to another serving thread between two requests",
            connections_moved.clone(),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            origin_ttfb,
            attempts,
            failovers,
            hedges,
            retry_budget_exhausted,
            origin_available,
            response_bytes,
            reloads,
            access_log_dropped,
            geoip_reloads,
            serving_threads_in_use,
            connections_moved,
        }
    }
}

impl Metrics {
    /// Renders the Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A site's metric handles, resolved once per config so the request path does no label
/// allocation or family lookup for the common cases.
pub struct SiteMetrics {
    pub duration: LatencyHistogram,
    pub bytes: ShardedCounter,
    pub failovers: ShardedCounter,
    pub hedges: ShardedCounter,
    requests: Family<RequestLabels, ShardedCounter>,
    /// Counters by status code, created on first use.
    by_status: Box<[std::sync::OnceLock<ShardedCounter>]>,
    site: String,
    edge_region: String,
}

impl SiteMetrics {
    /// Counts one answered request with `status` on this site (`requests_total`). Borrows
    /// the cached handle: cloning it would write the shared reference count per request.
    pub fn count_request(&self, status: u16) {
        let make = || {
            self.requests
                .get_or_create(&RequestLabels {
                    site: self.site.clone(),
                    edge_region: self.edge_region.clone(),
                    status,
                })
                .clone()
        };
        match self.by_status.get(usize::from(status)) {
            Some(slot) => slot.get_or_init(make).inc(),
            None => make().inc(),
        }
    }
}

/// An origin's metric handles, resolved once per config.
pub struct OriginMetrics {
    pub ttfb: LatencyHistogram,
    pub attempts_ok: ShardedCounter,
}

impl Metrics {
    /// Handles for one site served by a node in `edge_region`.
    pub fn site_metrics(&self, site: &str, edge_region: &str) -> SiteMetrics {
        let labels = SiteLabels {
            site: site.to_string(),
        };
        SiteMetrics {
            duration: self.request_duration.get_or_create(&labels).clone(),
            bytes: self.response_bytes.get_or_create(&labels).clone(),
            failovers: self.failovers.get_or_create(&labels).clone(),
            hedges: self.hedges.get_or_create(&labels).clone(),
            requests: self.requests.clone(),
            by_status: (0..600).map(|_| std::sync::OnceLock::new()).collect(),
            site: site.to_string(),
            edge_region: edge_region.to_string(),
        }
    }

    /// Handles for one origin of `site`.
    pub fn origin_metrics(&self, site: &str, origin: &str, region: &str) -> OriginMetrics {
        OriginMetrics {
            ttfb: self
                .origin_ttfb
                .get_or_create(&OriginLabels {
                    site: site.to_string(),
                    origin: origin.to_string(),
                    region: region.to_string(),
                })
                .clone(),
            attempts_ok: self
                .attempts
                .get_or_create(&AttemptLabels {
                    site: site.to_string(),
                    origin: origin.to_string(),
                    outcome: "ok",
                })
                .clone(),
        }
    }
}
