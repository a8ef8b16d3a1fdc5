//! The config file exactly as written (TOML → serde). Everything is optional or a string here;
//! `validate` turns it into typed settings and reports every problem with its path.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: Option<RawNode>,
    pub limits: Option<RawLimits>,
    pub client_location: Option<RawClientLocation>,
    pub upstream_headers: Option<RawUpstreamHeaders>,
    pub retry_budget: Option<RawRetryBudget>,
    pub cache: Option<RawCache>,
    #[serde(default)]
    pub regions: Vec<RawRegion>,
    #[serde(default)]
    pub sites: Vec<RawSite>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub region: Option<String>,
    pub listen: Option<Vec<String>>,
    pub tls_listen: Option<Vec<String>>,
    pub admin_listen: Option<String>,
    pub admin_token: Option<String>,
    pub admin_token_env: Option<String>,
    pub access_log: Option<String>,
    pub shutdown_grace: Option<String>,
    pub workers: Option<usize>,
    pub adaptive_threads: Option<bool>,
    pub trust_request_id: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_header_bytes: Option<String>,
    pub max_headers: Option<usize>,
    pub max_uri_bytes: Option<String>,
    pub max_body_bytes: Option<String>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientLocation {
    pub trusted_proxies: Option<Vec<String>>,
    pub country_header: Option<String>,
    pub geoip_database: Option<String>,
    pub geoip_reload_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamHeaders {
    pub original_host: Option<String>,
    pub client_country: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetryBudget {
    pub percent: Option<f64>,
    pub min_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub name: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    pub name: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub default_region: Option<String>,
    pub policy: Option<String>,
    pub latency_warmup_samples: Option<u32>,
    pub https_redirect: Option<bool>,
    pub tls: Option<RawSiteTls>,
    pub geo: Option<RawGeo>,
    pub timeouts: Option<RawTimeouts>,
    pub retries: Option<RawRetries>,
    pub health: Option<RawHealth>,
    pub cache: Option<RawSiteCache>,
    /// Feature flags sent to origins; part of the site's config version.
    #[serde(default)]
    pub flags: BTreeMap<String, String>,
    #[serde(default)]
    pub origins: Vec<RawOrigin>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSiteTls {
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeo {
    #[serde(default)]
    pub countries: BTreeMap<String, String>,
    #[serde(default)]
    pub continents: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub connect: Option<String>,
    pub first_byte: Option<String>,
    pub request: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub attempts: Option<u32>,
    pub statuses: Option<Vec<u16>>,
    pub hedge: Option<bool>,
    pub hedge_min_delay: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub eject_after_failures: Option<u32>,
    pub eject_cooldown: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrigin {
    pub name: Option<String>,
    pub url: Option<String>,
    pub region: Option<String>,
    pub weight: Option<u32>,
    pub backup: Option<bool>,
    pub pool: Option<String>,
    pub protocol: Option<String>,
    pub tls_verify: Option<bool>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub methods: Option<Vec<String>>,
    pub path: Option<String>,
    pub pool: Option<String>,
    pub retryable: Option<bool>,
    /// "on" (default) or "bypass".
    pub cache: Option<String>,
    pub cache_ttl: Option<String>,
    pub micro_cache: Option<String>,
    pub cache_key_query: Option<Vec<String>>,
    pub cache_key_query_exclude: Option<Vec<String>>,
    pub cache_key_sort_query: Option<bool>,
    pub cache_key_headers: Option<Vec<String>>,
    pub cache_key_cookies: Option<Vec<String>>,
    pub cache_key_country: Option<bool>,
    pub cache_key_region: Option<bool>,
    pub cache_post: Option<bool>,
    pub cache_authorized: Option<bool>,
    pub cache_set_cookie: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub memory: Option<String>,
    pub max_object_size: Option<String>,
    pub lock_timeout: Option<String>,
    pub regional: Option<String>,
    pub path: Option<String>,
    pub disk: Option<String>,
    pub revalidate_keep: Option<String>,
    pub max_keep: Option<String>,
    pub peers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSiteCache {
    pub enabled: Option<bool>,
    pub grace: Option<String>,
    pub heuristic_percent: Option<u32>,
    pub heuristic_max: Option<String>,
    pub client_directives: Option<bool>,
}
