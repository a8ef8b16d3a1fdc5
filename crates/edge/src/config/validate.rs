//! Raw → typed config. Collects every problem, each with the path of the bad field
//! (`sites[0].origins[1].url: not a URL`), instead of stopping at the first.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Method, StatusCode};
use ipnet::IpNet;
use regionless_geo::{Continent, CountryCode, HealthConfig, Region, RegionCatalog};

use super::model::*;
use super::raw::*;
use super::units::{parse_duration, parse_size};
use super::{ConfigError, ConfigErrors};

/// The most serving threads a node starts (far beyond any core count it is meant for; a typo
/// like `workers = 10000` should not start ten thousand runtimes).
const MAX_WORKERS: usize = 1024;

/// Accumulates problems while building the typed config.
pub(super) struct Problems(Vec<ConfigError>);

impl Problems {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(
        &mut self,
        path: &str,
        value: Option<&String>,
        default: Duration,
    ) -> Duration {
        match value.map(|v| parse_duration(v)) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.add(path, e);
                default
            }
        }
    }

    pub(super) fn size(&mut self, path: &str, value: Option<&String>, default: u64) -> u64 {
        match value.map(|v| parse_size(v)) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.add(path, e);
                default
            }
        }
    }

    pub(super) fn header_name(
        &mut self,
        path: &str,
        value: Option<&String>,
        default: Option<&str>,
    ) -> Option<HeaderName> {
        let text = value.map(String::as_str).or(default)?;
        if text.is_empty() {
            return None;
        }
        match HeaderName::from_bytes(text.as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                self.add(path, format!("`{text}` is not a valid header name"));
                None
            }
        }
    }

    fn socket_addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.add(
                    path,
                    format!("`{text}` is not an address:port (e.g. \"0.0.0.0:8080\")"),
                );
                None
            }
        }
    }
}

/// Builds the typed config; relative file paths are resolved against `base_dir`.
pub fn validate(raw: RawConfig, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut p = Problems(Vec::new());
    let resolve = |s: &str| -> PathBuf {
        let path = PathBuf::from(s);
        if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        }
    };

    let mut regions = RegionCatalog::builtin();
    for (i, r) in raw.regions.iter().enumerate() {
        let at = format!("regions[{i}]");
        let Some(name) = r.name.clone().filter(|n| !n.is_empty()) else {
            p.add(format!("{at}.name"), "missing");
            continue;
        };
        let lat = r.latitude.unwrap_or(f64::NAN);
        let lon = r.longitude.unwrap_or(f64::NAN);
        if !(-90.0..=90.0).contains(&lat) {
            p.add(
                format!("{at}.latitude"),
                "missing or not between -90 and 90",
            );
        }
        if !(-180.0..=180.0).contains(&lon) {
            p.add(
                format!("{at}.longitude"),
                "missing or not between -180 and 180",
            );
        }
        regions.insert(Region {
            city: r.city.clone().unwrap_or_else(|| name.clone()),
            name,
            lat,
            lon,
        });
    }
    let region_ok = |p: &mut Problems, path: &str, name: &str| {
        if regions.get(name).is_none() {
            p.add(path, format!("unknown region `{name}` (add it under [[regions]] or use a built-in one such as eu-central)"));
        }
    };

    // [node]
    let n = raw.node.unwrap_or_default();
    let region = n.region.clone().unwrap_or_default();
    if region.is_empty() {
        p.add(
            "node.region",
            "missing: the region this node runs in, e.g. \"eu-central\"",
        );
    } else {
        region_ok(&mut p, "node.region", &region);
    }
    let listen: Vec<SocketAddr> = n
        .listen
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, a)| p.socket_addr(&format!("node.listen[{i}]"), a))
        .collect();
    let tls_listen: Vec<SocketAddr> = n
        .tls_listen
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, a)| p.socket_addr(&format!("node.tls_listen[{i}]"), a))
        .collect();
    if n.listen.as_ref().is_none_or(Vec::is_empty)
        && n.tls_listen.as_ref().is_none_or(Vec::is_empty)
    {
        p.add(
            "node.listen",
            "no listener: give at least one address in `listen` or `tls_listen`",
        );
    }
    let admin_listen = match n.admin_listen.as_deref() {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        Some("off") | Some("") => None,
        Some(a) => p.socket_addr("node.admin_listen", a),
    };
    let admin_token = match (&n.admin_token, &n.admin_token_env) {
        (Some(_), Some(_)) => {
            p.add(
                "node.admin_token",
                "give either admin_token or admin_token_env, not both",
            );
            None
        }
        (Some(t), None) if t.len() < 16 => {
            p.add("node.admin_token", "too short: use at least 16 characters");
            None
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(var)) => match std::env::var(var) {
            Ok(t) if t.len() >= 16 => Some(t),
            Ok(_) => {
                p.add(
                    "node.admin_token_env",
                    format!("${var} is shorter than 16 characters"),
                );
                None
            }
            Err(_) => {
                p.add(
                    "node.admin_token_env",
                    format!("environment variable ${var} is not set"),
                );
                None
            }
        },
        (None, None) => None,
    };
    let access_log = match n.access_log.as_deref() {
        None | Some("stdout") => AccessLogTarget::Stdout,
        Some("off") | Some("") => AccessLogTarget::Off,
        Some(path) => AccessLogTarget::File(resolve(path)),
    };
    let node = NodeSettings {
        region: region.clone(),
        listen,
        tls_listen: tls_listen.clone(),
        admin_listen,
        admin_token,
        access_log,
        shutdown_grace: p.duration(
            "node.shutdown_grace",
            n.shutdown_grace.as_ref(),
            Duration::from_secs(30),
        ),
        workers: match n.workers {
            Some(w) if !(1..=MAX_WORKERS).contains(&w) => {
                p.add(
                    "node.workers",
                    format!(
                        "must be between 1 and {MAX_WORKERS} (leave it out for one per CPU core)"
                    ),
                );
                None
            }
            w => w,
        },
        adaptive_threads: n.adaptive_threads.unwrap_or(true),
        trust_request_id: n.trust_request_id.unwrap_or(true),
    };

    // [limits]
    let l = raw.limits.unwrap_or_default();
    let limits = Limits {
        max_header_bytes: p.size(
            "limits.max_header_bytes",
            l.max_header_bytes.as_ref(),
            32 * 1024,
        ) as usize,
        max_headers: l.max_headers.unwrap_or(100),
        max_uri_bytes: p.size("limits.max_uri_bytes", l.max_uri_bytes.as_ref(), 8 * 1024) as usize,
        max_body_bytes: p.size(
            "limits.max_body_bytes",
            l.max_body_bytes.as_ref(),
            2 * 1024 * 1024 * 1024,
        ),
        header_read_timeout: p.duration(
            "limits.header_read_timeout",
            l.header_read_timeout.as_ref(),
            Duration::from_secs(10),
        ),
        body_read_timeout: p.duration(
            "limits.body_read_timeout",
            l.body_read_timeout.as_ref(),
            Duration::from_secs(30),
        ),
    };
    // hyper's HTTP/1 read buffer, which bounds the head, cannot be smaller than 8 KiB: a
    // lower setting would be silently ignored.
    if limits.max_header_bytes < 8192 {
        p.add("limits.max_header_bytes", "must be at least 8KiB");
    }
    if limits.max_headers == 0 {
        p.add("limits.max_headers", "must be at least 1");
    }

    // [client_location]
    let c = raw.client_location.unwrap_or_default();
    let mut trusted_proxies = Vec::new();
    for (i, cidr) in c.trusted_proxies.iter().flatten().enumerate() {
        let parsed = cidr
            .parse::<IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => p.add(
                format!("client_location.trusted_proxies[{i}]"),
                format!("`{cidr}` is not an IP network (e.g. \"10.0.0.0/8\")"),
            ),
        }
    }
    let client_location = ClientLocationSettings {
        trusted_proxies,
        country_header: p.header_name(
            "client_location.country_header",
            c.country_header.as_ref(),
            Some("cf-ipcountry"),
        ),
        geoip_database: c.geoip_database.as_deref().map(resolve),
        geoip_reload_interval: p.duration(
            "client_location.geoip_reload_interval",
            c.geoip_reload_interval.as_ref(),
            Duration::from_secs(60),
        ),
    };
    if let Some(db) = &client_location.geoip_database {
        if !db.is_file() {
            p.add(
                "client_location.geoip_database",
                format!("{} does not exist or is not a file", db.display()),
            );
        }
    }

    // [upstream_headers]
    let u = raw.upstream_headers.unwrap_or_default();
    let upstream_headers = UpstreamHeaders::new(
        p.header_name(
            "upstream_headers.original_host",
            u.original_host.as_ref(),
            Some("x-original-host"),
        ),
        p.header_name(
            "upstream_headers.client_country",
            u.client_country.as_ref(),
            Some("country-code"),
        ),
        p.header_name(
            "upstream_headers.request_id",
            u.request_id.as_ref(),
            Some("x-request-id"),
        )
        .unwrap_or(HeaderName::from_static("x-request-id")),
    );

    // [retry_budget]
    let b = raw.retry_budget.unwrap_or_default();
    let retry_budget = RetryBudgetSettings {
        percent: b.percent.unwrap_or(10.0),
        min_per_second: b.min_per_second.unwrap_or(10.0),
    };
    if !(0.0..=100.0).contains(&retry_budget.percent) {
        p.add("retry_budget.percent", "must be between 0 and 100");
    }
    if !(0.0..=1e6).contains(&retry_budget.min_per_second) {
        p.add(
            "retry_budget.min_per_second",
            "must be between 0 and 1000000",
        );
    }

    let cache = super::validate_cache::node_cache(&mut p, raw.cache, &resolve);

    // [[sites]]
    let mut sites = Vec::new();
    let mut seen_hosts: HashMap<String, usize> = HashMap::new();
    let mut seen_names = HashSet::new();
    if raw.sites.is_empty() {
        p.add(
            "sites",
            "no site configured: add at least one [[sites]] with hosts and origins",
        );
    }
    for (si, s) in raw.sites.into_iter().enumerate() {
        let at = format!("sites[{si}]");
        let name = s.name.clone().unwrap_or_else(|| format!("site{si}"));
        if !seen_names.insert(name.clone()) {
            p.add(
                format!("{at}.name"),
                format!("duplicate site name `{name}`"),
            );
        }
        if s.hosts.is_empty() {
            p.add(
                format!("{at}.hosts"),
                "missing: list the hostnames this site answers for",
            );
        }
        let mut hosts = Vec::new();
        for (hi, h) in s.hosts.iter().enumerate() {
            let host = h.trim().to_ascii_lowercase();
            let bare = host.strip_prefix("*.").unwrap_or(&host);
            let valid = !bare.is_empty()
                && bare.len() <= 253
                && bare
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
                && !bare.contains('*');
            if !valid {
                p.add(
                    format!("{at}.hosts[{hi}]"),
                    format!(
                        "`{h}` is not a hostname (e.g. \"shop.example.com\" or \"*.example.com\")"
                    ),
                );
                continue;
            }
            if let Some(other) = seen_hosts.insert(host.clone(), si) {
                p.add(
                    format!("{at}.hosts[{hi}]"),
                    format!("`{host}` is already served by sites[{other}]"),
                );
            }
            hosts.push(host);
        }
        let default_region = s.default_region.clone().unwrap_or_else(|| region.clone());
        if s.default_region.is_some() {
            region_ok(&mut p, &format!("{at}.default_region"), &default_region);
        }

        let policy = match s.policy.as_deref().unwrap_or("geo") {
            "geo" => {
                let g = s.geo.unwrap_or_default();
                let mut countries = HashMap::new();
                for (cc, r) in &g.countries {
                    let path = format!("{at}.geo.countries.{cc}");
                    match CountryCode::parse(cc).filter(|c| regionless_geo::country(*c).is_some()) {
                        Some(code) => {
                            region_ok(&mut p, &path, r);
                            countries.insert(code, r.clone());
                        }
                        None => p.add(
                            path,
                            format!("`{cc}` is not an ISO 3166-1 alpha-2 country code"),
                        ),
                    }
                }
                let mut continents = HashMap::new();
                for (cont, r) in &g.continents {
                    let path = format!("{at}.geo.continents.{cont}");
                    match Continent::parse(cont) {
                        Some(code) => {
                            region_ok(&mut p, &path, r);
                            continents.insert(code, r.clone());
                        }
                        None => p.add(
                            path,
                            format!("`{cont}` is not a continent code (AF AN AS EU NA OC SA)"),
                        ),
                    }
                }
                PolicySetting::Geo {
                    countries,
                    continents,
                }
            }
            "proximity" => PolicySetting::Proximity,
            "latency" => PolicySetting::Latency {
                warmup_samples: s.latency_warmup_samples.unwrap_or(20),
            },
            "failover" => PolicySetting::Failover,
            other => {
                p.add(
                    format!("{at}.policy"),
                    format!("`{other}` is not a policy (geo, proximity, latency, failover)"),
                );
                PolicySetting::Proximity
            }
        };

        let tls = match s.tls {
            None => None,
            Some(t) => match (t.cert, t.key) {
                (Some(cert), Some(key)) => {
                    let tls = SiteTls {
                        cert: resolve(&cert),
                        key: resolve(&key),
                    };
                    for (field, path) in [("cert", &tls.cert), ("key", &tls.key)] {
                        if !path.is_file() {
                            p.add(
                                format!("{at}.tls.{field}"),
                                format!("{} does not exist or is not a file", path.display()),
                            );
                        }
                    }
                    Some(tls)
                }
                _ => {
                    p.add(
                        format!("{at}.tls"),
                        "needs both `cert` and `key` (PEM files)",
                    );
                    None
                }
            },
        };
        if tls.is_some() && tls_listen.is_empty() {
            p.add(
                format!("{at}.tls"),
                "a certificate is configured but node.tls_listen is empty",
            );
        }
        let https_redirect = s.https_redirect.unwrap_or(false);
        if https_redirect && tls_listen.is_empty() {
            p.add(
                format!("{at}.https_redirect"),
                "needs an HTTPS listener in node.tls_listen",
            );
        }

        let t = s.timeouts.unwrap_or_default();
        let timeouts = Timeouts {
            connect: p.duration(
                &format!("{at}.timeouts.connect"),
                t.connect.as_ref(),
                Duration::from_secs(2),
            ),
            first_byte: p.duration(
                &format!("{at}.timeouts.first_byte"),
                t.first_byte.as_ref(),
                Duration::from_millis(2500),
            ),
            request: p.duration(
                &format!("{at}.timeouts.request"),
                t.request.as_ref(),
                Duration::from_secs(60),
            ),
        };
        if timeouts.connect.is_zero() || timeouts.first_byte.is_zero() || timeouts.request.is_zero()
        {
            p.add(
                format!("{at}.timeouts"),
                "timeouts must be greater than zero",
            );
        }

        let r = s.retries.unwrap_or_default();
        let mut statuses = Vec::new();
        for (i, code) in r
            .statuses
            .clone()
            .unwrap_or_else(|| vec![502, 503, 504])
            .into_iter()
            .enumerate()
        {
            match StatusCode::from_u16(code) {
                Ok(sc) if code >= 400 => statuses.push(sc),
                _ => p.add(
                    format!("{at}.retries.statuses[{i}]"),
                    format!("{code} is not an error status (400-599)"),
                ),
            }
        }
        let retries = Retries {
            attempts: r.attempts.unwrap_or(3),
            statuses,
            hedge: r.hedge.unwrap_or(false),
            hedge_min_delay: p.duration(
                &format!("{at}.retries.hedge_min_delay"),
                r.hedge_min_delay.as_ref(),
                Duration::from_millis(20),
            ),
        };
        if !(1..=10).contains(&retries.attempts) {
            p.add(format!("{at}.retries.attempts"), "must be between 1 and 10");
        }

        let h = s.health.unwrap_or_default();
        let health_check = h.path.as_ref().map(|path| {
            if !path.starts_with('/') {
                p.add(format!("{at}.health.path"), "must start with `/`");
            }
            HealthCheck {
                path: path.clone(),
                interval: p.duration(
                    &format!("{at}.health.interval"),
                    h.interval.as_ref(),
                    Duration::from_secs(5),
                ),
                timeout: p.duration(
                    &format!("{at}.health.timeout"),
                    h.timeout.as_ref(),
                    Duration::from_secs(2),
                ),
            }
        });
        let defaults = HealthConfig::default();
        let health = HealthConfig {
            healthy_threshold: h
                .healthy_threshold
                .unwrap_or(defaults.healthy_threshold)
                .max(1),
            unhealthy_threshold: h
                .unhealthy_threshold
                .unwrap_or(defaults.unhealthy_threshold)
                .max(1),
            eject_after_failures: h
                .eject_after_failures
                .unwrap_or(defaults.eject_after_failures)
                .max(1),
            eject_cooldown: p.duration(
                &format!("{at}.health.eject_cooldown"),
                h.eject_cooldown.as_ref(),
                defaults.eject_cooldown,
            ),
            active_checks: health_check.is_some(),
        };

        let mut origins = Vec::new();
        let mut origin_names = HashSet::new();
        if s.origins.is_empty() {
            p.add(
                format!("{at}.origins"),
                "missing: a site needs at least one origin",
            );
        }
        for (oi, o) in s.origins.iter().enumerate() {
            let oat = format!("{at}.origins[{oi}]");
            if let Some(origin) = validate_origin(&mut p, &oat, o, &resolve) {
                region_ok(&mut p, &format!("{oat}.region"), &origin.region);
                if !origin_names.insert(origin.name.clone()) {
                    p.add(
                        format!("{oat}.name"),
                        format!("duplicate origin name `{}` in this site", origin.name),
                    );
                }
                origins.push(origin);
            }
        }
        let pools: HashSet<&str> = origins.iter().map(|o| o.pool.as_str()).collect();
        if !origins.is_empty() && !pools.contains(DEFAULT_POOL) {
            p.add(format!("{at}.origins"), "no origin in the default pool: requests that match no route would have nowhere to go");
        }

        let mut routes = Vec::new();
        for (ri, rt) in s.routes.iter().enumerate() {
            let rat = format!("{at}.routes[{ri}]");
            let path = match rt.path.as_deref() {
                Some(path) if path.starts_with('/') => match path.strip_suffix('*') {
                    Some(prefix) if !prefix.contains('*') => {
                        PathPattern::Prefix(prefix.to_string())
                    }
                    None if !path.contains('*') => PathPattern::Exact(path.to_string()),
                    _ => {
                        p.add(
                            format!("{rat}.path"),
                            "`*` is only allowed at the end (\"/api/*\")",
                        );
                        continue;
                    }
                },
                Some(_) => {
                    p.add(format!("{rat}.path"), "must start with `/`");
                    continue;
                }
                None => {
                    p.add(format!("{rat}.path"), "missing (e.g. \"/api/*\")");
                    continue;
                }
            };
            let methods = rt.methods.as_ref().map(|ms| {
                ms.iter()
                    .enumerate()
                    .filter_map(|(mi, m)| {
                        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                            Ok(method) => Some(method),
                            Err(_) => {
                                p.add(
                                    format!("{rat}.methods[{mi}]"),
                                    format!("`{m}` is not an HTTP method"),
                                );
                                None
                            }
                        }
                    })
                    .collect()
            });
            let pool = rt.pool.clone().unwrap_or_else(|| DEFAULT_POOL.to_string());
            if !pools.contains(pool.as_str()) {
                p.add(
                    format!("{rat}.pool"),
                    format!("no origin has pool = \"{pool}\""),
                );
            }
            let cache = super::validate_cache::route_cache(&mut p, &rat, rt);
            routes.push(RouteConfig {
                methods,
                path,
                pool,
                retryable: rt.retryable.unwrap_or(false),
                cache,
            });
        }

        sites.push(SiteConfig {
            name,
            hosts,
            default_region,
            policy,
            https_redirect,
            tls,
            timeouts,
            retries,
            health_check,
            health,
            origins,
            routes,
            cache: super::validate_cache::site_cache(&mut p, &at, s.cache.as_ref()),
            flags: s.flags.clone(),
            default_route_cache: RouteCache::default(),
        });
    }

    if p.0.is_empty() {
        Ok(Config {
            node,
            limits,
            client_location,
            upstream_headers,
            retry_budget,
            cache,
            regions,
            sites,
        })
    } else {
        Err(ConfigErrors(p.0))
    }
}

fn validate_origin(
    p: &mut Problems,
    at: &str,
    o: &RawOrigin,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<OriginConfig> {
    let Some(text) = o.url.as_deref() else {
        p.add(
            format!("{at}.url"),
            "missing (e.g. \"http://10.0.0.5:8080\")",
        );
        return None;
    };
    let url = match url::Url::parse(text) {
        Ok(u) => u,
        Err(_) => {
            p.add(format!("{at}.url"), "not a URL");
            return None;
        }
    };
    let scheme = match url.scheme() {
        "http" => http::uri::Scheme::HTTP,
        "https" => http::uri::Scheme::HTTPS,
        other => {
            p.add(
                format!("{at}.url"),
                format!("scheme `{other}` is not supported (use http or https)"),
            );
            return None;
        }
    };
    let Some(host) = url.host_str() else {
        p.add(format!("{at}.url"), "has no host");
        return None;
    };
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        p.add(
            format!("{at}.url"),
            "must be scheme://host[:port] only, without path, query or credentials",
        );
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let authority_text = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let authority = match authority_text.parse::<http::uri::Authority>() {
        Ok(a) => a,
        Err(_) => {
            p.add(format!("{at}.url"), "has an invalid host");
            return None;
        }
    };
    let Some(region) = o.region.clone() else {
        p.add(
            format!("{at}.region"),
            "missing: the region this origin runs in",
        );
        return None;
    };
    let protocol = match o.protocol.as_deref().unwrap_or("auto") {
        "auto" => OriginProtocol::Auto,
        "http1" => OriginProtocol::Http1,
        "http2" | "h2" | "h2c" => OriginProtocol::Http2,
        other => {
            p.add(
                format!("{at}.protocol"),
                format!("`{other}` is not a protocol (auto, http1, http2)"),
            );
            OriginProtocol::Auto
        }
    };
    let ca_file = o.ca_file.as_deref().map(resolve);
    if let Some(ca) = &ca_file {
        if !ca.is_file() {
            p.add(
                format!("{at}.ca_file"),
                format!("{} does not exist or is not a file", ca.display()),
            );
        }
    }
    let weight = o.weight.unwrap_or(1);
    if weight > 10_000 {
        p.add(format!("{at}.weight"), "must be between 0 and 10000");
    }
    Some(OriginConfig {
        name: o.name.clone().unwrap_or_else(|| format!("{host}:{port}")),
        scheme,
        authority,
        url,
        region,
        weight,
        backup: o.backup.unwrap_or(false),
        pool: o.pool.clone().unwrap_or_else(|| DEFAULT_POOL.to_string()),
        protocol,
        tls_verify: o.tls_verify.unwrap_or(true),
        ca_file,
    })
}
