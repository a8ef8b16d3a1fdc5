//! Validation of the cache settings: `[cache]`, `[sites.cache]` and the route `cache_*` fields.

use std::path::PathBuf;
use std::time::Duration;

use regionless_cache::freshness::FreshnessPolicy;
use regionless_cache::key::{KeyRules, QueryParams};
use regionless_cache::storable::RouteStorage;

use super::model::*;
use super::raw::*;
use super::validate::Problems;

const MIB: u64 = 1024 * 1024;

/// `[cache]`.
pub(super) fn node_cache(
    p: &mut Problems,
    raw: Option<RawCache>,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> CacheSettings {
    let c = raw.unwrap_or_default();
    let path = resolve(c.path.as_deref().unwrap_or("regionless-data/cache.redb"));
    let regional = match c.regional.as_deref() {
        None | Some("embedded") => RegionalTierSetting::Embedded(path),
        Some("off") => RegionalTierSetting::Off,
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            if url::Url::parse(url).is_err() {
                p.add(
                    "cache.regional",
                    format!("`{url}` is not a valid Redis URL"),
                );
            }
            RegionalTierSetting::Redis(url.to_string())
        }
        Some(other) => {
            p.add(
                "cache.regional",
                format!("`{other}`: expected \"embedded\", \"off\" or a redis://host:port URL"),
            );
            RegionalTierSetting::Off
        }
    };
    let memory_bytes = p.size("cache.memory", c.memory.as_ref(), 256 * MIB);
    let max_object_bytes = p.size("cache.max_object_size", c.max_object_size.as_ref(), 8 * MIB);
    if max_object_bytes > memory_bytes / 4 {
        p.add(
            "cache.max_object_size",
            "must be at most a quarter of cache.memory (one object must not flush the tier)",
        );
    }
    let mut peers = Vec::new();
    for (i, peer) in c.peers.iter().flatten().enumerate() {
        match url::Url::parse(peer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => peers.push(u),
            _ => p.add(
                format!("cache.peers[{i}]"),
                format!("`{peer}` is not an http(s) URL of a node's admin listener"),
            ),
        }
    }
    CacheSettings {
        enabled: c.enabled.unwrap_or(true),
        memory_bytes,
        max_object_bytes,
        lock_timeout: p.duration(
            "cache.lock_timeout",
            c.lock_timeout.as_ref(),
            Duration::from_secs(5),
        ),
        regional,
        disk_bytes: p.size("cache.disk", c.disk.as_ref(), 1024 * MIB),
        revalidate_keep: p.duration(
            "cache.revalidate_keep",
            c.revalidate_keep.as_ref(),
            Duration::from_secs(3600),
        ),
        max_keep: p.duration(
            "cache.max_keep",
            c.max_keep.as_ref(),
            Duration::from_secs(7 * 24 * 3600),
        ),
        peers,
    }
}

/// `[sites.cache]`.
pub(super) fn site_cache(p: &mut Problems, at: &str, raw: Option<&RawSiteCache>) -> SiteCache {
    let default = RawSiteCache::default();
    let c = raw.unwrap_or(&default);
    let defaults = FreshnessPolicy::default();
    let heuristic_percent = c.heuristic_percent.unwrap_or(defaults.heuristic_percent);
    if heuristic_percent > 100 {
        p.add(
            format!("{at}.cache.heuristic_percent"),
            "must be between 0 and 100",
        );
    }
    SiteCache {
        enabled: c.enabled.unwrap_or(true),
        grace: p.duration(
            &format!("{at}.cache.grace"),
            c.grace.as_ref(),
            Duration::ZERO,
        ),
        freshness: FreshnessPolicy {
            heuristic_percent,
            heuristic_max: p.duration(
                &format!("{at}.cache.heuristic_max"),
                c.heuristic_max.as_ref(),
                defaults.heuristic_max,
            ),
        },
        client_directives: c.client_directives.unwrap_or(true),
    }
}

/// The `cache*` fields of one route.
pub(super) fn route_cache(p: &mut Problems, at: &str, rt: &RawRoute) -> RouteCache {
    let mode = match rt.cache.as_deref() {
        None | Some("on") => CacheMode::On,
        Some("bypass") | Some("off") => CacheMode::Bypass,
        Some(other) => {
            p.add(
                format!("{at}.cache"),
                format!("`{other}`: expected \"on\" or \"bypass\""),
            );
            CacheMode::On
        }
    };
    let optional = |p: &mut Problems, field: &str, v: Option<&String>| {
        v.map(|v| p.duration(&format!("{at}.{field}"), Some(v), Duration::ZERO))
    };
    let ttl = optional(p, "cache_ttl", rt.cache_ttl.as_ref());
    let micro = optional(p, "micro_cache", rt.micro_cache.as_ref());
    if let Some(m) = micro {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&m) {
            p.add(format!("{at}.micro_cache"), "must be between 1s and 60s");
        }
    }
    if ttl.is_some() && micro.is_some() {
        p.add(
            format!("{at}.micro_cache"),
            "give either cache_ttl or micro_cache, not both",
        );
    }
    let query = match (&rt.cache_key_query, &rt.cache_key_query_exclude) {
        (Some(_), Some(_)) => {
            p.add(
                format!("{at}.cache_key_query_exclude"),
                "give either cache_key_query or cache_key_query_exclude, not both",
            );
            QueryParams::All
        }
        (Some(include), None) => QueryParams::Include(include.clone()),
        (None, Some(exclude)) => QueryParams::Exclude(exclude.clone()),
        (None, None) => QueryParams::All,
    };
    let key_headers = rt
        .cache_key_headers
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, h)| p.header_name(&format!("{at}.cache_key_headers[{i}]"), Some(h), None))
        .collect();
    RouteCache {
        mode,
        ttl,
        micro,
        key: KeyRules {
            sort_query: rt.cache_key_sort_query.unwrap_or(false),
            query,
        },
        key_headers,
        key_cookies: rt.cache_key_cookies.clone().unwrap_or_default(),
        key_country: rt.cache_key_country.unwrap_or(false),
        key_region: rt.cache_key_region.unwrap_or(false),
        storage: RouteStorage {
            allow_post: rt.cache_post.unwrap_or(false),
            allow_authorization: rt.cache_authorized.unwrap_or(false),
            allow_set_cookie: rt.cache_set_cookie.unwrap_or(false),
        },
    }
}
