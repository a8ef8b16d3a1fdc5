//! The running form of a config: host lookup table, sites with their origins, each origin's
//! health and pooled client. Rebuilt on reload; origin health survives reloads for origins
//! that keep their site, name and URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fnv::FnvHashMap;
use http::HeaderValue;
use regionless_geo::{GeoMap, OriginHealth, Policy, Region, TrustedProxies};

use crate::config::{Config, OriginConfig, PolicySetting, SiteConfig};
use crate::metrics::{Metrics, OriginMetrics, SiteMetrics};
use crate::upstream::{ClientKey, OriginClient, UpstreamClients, UpstreamError};

/// One origin as the request path sees it.
pub struct OriginRuntime {
    pub cfg: OriginConfig,
    pub region: Region,
    pub health: Arc<OriginHealth>,
    pub client: OriginClient,
    /// The in-task HTTP/1.1 client, for plain-HTTP origins.
    pub direct: Option<Arc<crate::origin_h1::DirectOrigin>>,
    /// `name@region`, the value of `x-origin`.
    pub label: HeaderValue,
    /// The Host header sent to this origin.
    pub host_header: HeaderValue,
    pub metrics: OriginMetrics,
    /// Distance from `region` to every country, in `regionless_geo::countries()` order, and
    /// to the site's default region (where a client of unknown country is placed): steering
    /// reads these instead of computing great-circle distances per request.
    pub km_by_country: Box<[f64]>,
    pub km_from_default_region: f64,
}

/// One site as the request path sees it.
pub struct SiteRuntime {
    pub cfg: SiteConfig,
    pub policy: Policy,
    pub default_region: Region,
    pub origins: Vec<OriginRuntime>,
    /// Pool name → indices into `origins`, in config order.
    pub pools: FnvHashMap<String, Vec<usize>>,
    pub metrics: SiteMetrics,
    /// A hash of the settings that change responses (origins and pools, routes with their
    /// cache and key rules, feature flags), folded into every cache key: changing them needs
    /// no purge. Timeouts, retries, health and logging are left out.
    pub config_version: String,
    /// `x-feature-flags` sent to origins (`name=value, …`), when the site has flags.
    pub flags_header: Option<HeaderValue>,
}

/// The config version of a site (see [`SiteRuntime::config_version`]).
pub fn config_version(site: &SiteConfig) -> String {
    let origins: Vec<(&str, &str, &str, &str)> = site
        .origins
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.url.as_str(),
                o.pool.as_str(),
                o.region.as_str(),
            )
        })
        .collect();
    let text = format!(
        "{origins:?}|{:?}|{:?}|{:?}",
        site.routes, site.flags, site.https_redirect
    );
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, text.as_bytes());
    id.simple().to_string()[..12].to_string()
}

fn flags_header(site: &SiteConfig) -> Option<HeaderValue> {
    if site.flags.is_empty() {
        return None;
    }
    let text: Vec<String> = site.flags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    HeaderValue::from_str(&text.join(", ")).ok()
}

/// Everything the request path reads, swapped atomically on reload.
pub struct Runtime {
    pub config: Config,
    pub sites: Vec<SiteRuntime>,
    /// Looked up on every request. FNV rather than the standard SipHash: several times
    /// cheaper on short names, and the keys come from the config, so a client cannot grow
    /// collisions into the table.
    exact_hosts: FnvHashMap<String, usize>,
    /// (`.example.com`, site) sorted longest suffix first.
    wildcard_hosts: Vec<(String, usize)>,
    pub trusted: TrustedProxies,
    pub region: Region,
    /// `x-served-by` value.
    pub served_by: HeaderValue,
    /// `Via` entry this node adds.
    pub via: HeaderValue,
}

/// Health records keyed by (site, origin name, URL), kept across reloads.
pub type HealthRegistry = Mutex<HashMap<(String, String, String), Arc<OriginHealth>>>;

/// Errors turning a valid config into a running one (files that vanished, bad CA files).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("sites[{site}].origins[{origin}]: {source}")]
    Client {
        site: usize,
        origin: usize,
        source: UpstreamError,
    },
}

impl Runtime {
    /// Builds the runtime, reusing health records and clients where possible.
    pub fn build(
        config: Config,
        clients: &UpstreamClients,
        registry: &HealthRegistry,
        metrics: &Metrics,
    ) -> Result<Runtime, RuntimeError> {
        let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut keep = HashMap::new();
        let mut sites = Vec::new();
        let mut exact_hosts = FnvHashMap::default();
        let mut wildcard_hosts = Vec::new();
        for (si, s) in config.sites.iter().enumerate() {
            for h in &s.hosts {
                match h.strip_prefix('*') {
                    Some(suffix) => wildcard_hosts.push((suffix.to_string(), si)),
                    None => {
                        exact_hosts.insert(h.clone(), si);
                    }
                }
            }
            let default_region = region_of(&config, &s.default_region);
            let mut origins = Vec::new();
            let mut pools: FnvHashMap<String, Vec<usize>> = FnvHashMap::default();
            for (oi, o) in s.origins.iter().enumerate() {
                let key = (s.name.clone(), o.name.clone(), o.url.to_string());
                let health = reg
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(OriginHealth::new(s.health)));
                keep.insert(key, health.clone());
                let client = clients
                    .get(&ClientKey {
                        protocol: o.protocol,
                        tls_verify: o.tls_verify,
                        ca_file: o.ca_file.clone(),
                        connect_timeout: s.timeouts.connect,
                    })
                    .map_err(|source| RuntimeError::Client {
                        site: si,
                        origin: oi,
                        source,
                    })?;
                let direct =
                    clients.direct(&o.scheme, &o.authority, o.protocol, s.timeouts.connect);
                let region = region_of(&config, &o.region);
                pools.entry(o.pool.clone()).or_default().push(oi);
                origins.push(OriginRuntime {
                    km_by_country: region.km_by_country(),
                    km_from_default_region: region
                        .distance_km(default_region.lat, default_region.lon),
                    label: header_value(&format!("{}@{}", o.name, o.region)),
                    host_header: header_value(o.authority.as_str()),
                    cfg: o.clone(),
                    region,
                    health,
                    client,
                    direct,
                    metrics: metrics.origin_metrics(&s.name, &o.name, &o.region),
                });
            }
            let policy = match &s.policy {
                PolicySetting::Geo {
                    countries,
                    continents,
                } => Policy::Geo(GeoMap {
                    countries: countries.clone(),
                    continents: continents.clone(),
                }),
                PolicySetting::Proximity => Policy::Proximity,
                PolicySetting::Latency { warmup_samples } => Policy::Latency {
                    warmup_samples: *warmup_samples,
                },
                PolicySetting::Failover => Policy::Failover,
            };
            sites.push(SiteRuntime {
                default_region,
                cfg: s.clone(),
                policy,
                origins,
                pools,
                metrics: metrics.site_metrics(&s.name, &config.node.region),
                config_version: config_version(s),
                flags_header: flags_header(s),
            });
        }
        *reg = keep;
        wildcard_hosts.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        let region = region_of(&config, &config.node.region);
        Ok(Runtime {
            trusted: TrustedProxies::new(config.client_location.trusted_proxies.clone()),
            served_by: header_value(&config.node.region),
            via: header_value(&format!("1.1 regionless-{}", config.node.region)),
            region,
            sites,
            exact_hosts,
            wildcard_hosts,
            config,
        })
    }

    /// The site answering for `host` (lower-case, no port): exact names first, then the
    /// longest matching `*.` wildcard.
    pub fn site_for_host(&self, host: &str) -> Option<&SiteRuntime> {
        self.sites.get(self.site_index(host)?)
    }

    /// Like [`Runtime::site_for_host`], as an index into `sites`.
    pub fn site_index(&self, host: &str) -> Option<usize> {
        self.exact_hosts.get(host).copied().or_else(|| {
            self.wildcard_hosts
                .iter()
                .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                .map(|(_, i)| *i)
        })
    }
}

/// Validation guarantees every region name resolves; the fallback only keeps this total.
fn region_of(config: &Config, name: &str) -> Region {
    config.regions.get(name).cloned().unwrap_or(Region {
        name: name.to_string(),
        city: name.to_string(),
        lat: 0.0,
        lon: 0.0,
    })
}

/// Config values were validated as header-safe; anything else degrades to a placeholder.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid"))
}
