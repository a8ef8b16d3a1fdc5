//! The cache phase of the request path: key → lookup (tier 1 → tier 2) → serve a hit, serve
//! stale and refresh in the background, or go forward (coalesced) and store what comes back.
//!
//! `proxy.rs` calls, in order: [`plan`] (is the request a cache candidate, and its key),
//! [`lookup`] (answer from cache, or a [`Forward`] describing the origin fetch),
//! [`Forward::adjust_upstream`] (validators in, client conditionals out), then either
//! [`Forward::complete`] with the origin's response or [`Forward::on_failure`] when every
//! origin failed (stale-if-error).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::body::ClientBody;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use regionless_cache::cache_status::{CacheStatus, Forward as FwdReason, XCache};
use regionless_cache::directives::Directives;
use regionless_cache::freshness::Verdict;
use regionless_cache::key::{primary_key, secondary_key, vary_field_names};
use regionless_cache::range::{
    answer_range, content_range, unsatisfied_content_range, RangeAnswer,
};
use regionless_cache::storable::{storability, RequestParts, ResponseParts};
use regionless_cache::tiers::coalesce::{LeadGuard, Turn};
use regionless_cache::tiers::entry::StoredResponse;
use regionless_cache::tiers::stats::CacheStats;
use regionless_cache::tiers::{keep_for, EdgeCache, Found, Lookup};
use regionless_cache::validation::{
    answers_not_modified, conditional_request_headers, freshen_headers, headers_to_store,
    not_modified_headers,
};

use crate::body::{self, BoxError, ResponseBody};
use crate::config::{CacheMode, RouteCache};
use crate::headers::names;
use crate::runtime::SiteRuntime;

/// A request the cache handles, with its primary key.
pub struct Plan<'a> {
    pub cache: Arc<EdgeCache>,
    pub key: String,
    pub route: &'a RouteCache,
    pub site: &'a SiteRuntime,
}

/// Whether a POST to this route is cached (keyed on its body), so the caller reads the body
/// (at most [`POST_BODY_LIMIT`] bytes, length known up front) before planning.
pub fn caches_post(
    cache: Option<&Arc<EdgeCache>>,
    site: &SiteRuntime,
    route: Option<&crate::config::RouteConfig>,
    req: &Request<ClientBody>,
) -> bool {
    cache.is_some()
        && site.cfg.cache.enabled
        && *req.method() == Method::POST
        && route.is_some_and(|r| r.cache.storage.allow_post && r.cache.mode == CacheMode::On)
        && req
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n <= POST_BODY_LIMIT)
}

/// The largest POST body a cached POST route keys on; larger ones go to the origin uncached.
pub const POST_BODY_LIMIT: u64 = 64 * 1024;

/// Decides whether the cache takes part in this request: the node and site have it on, the
/// route does not bypass it, and the method is GET or HEAD — or POST on a route with
/// `cache_post`, when `post_body` holds the request body (the key is then a UUIDv5 of the
/// canonical request: method, path, sorted query, the route's key headers, body hash).
#[allow(clippy::too_many_arguments)]
pub fn plan<'a>(
    cache: Option<&Arc<EdgeCache>>,
    site: &'a SiteRuntime,
    route: Option<&'a crate::config::RouteConfig>,
    req: &Request<ClientBody>,
    post_body: Option<&Bytes>,
    host: &str,
    tls: bool,
    country: Option<&str>,
    region: &str,
) -> Option<Plan<'a>> {
    let cache = cache?;
    if !site.cfg.cache.enabled {
        return None;
    }
    let route_cache = route.map_or(&site.cfg.default_route_cache, |r| &r.cache);
    if route_cache.mode == CacheMode::Bypass {
        return None;
    }
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let scheme = if tls { "https" } else { "http" };
    let mut key = match (req.method(), post_body) {
        (&Method::GET | &Method::HEAD, _) => {
            primary_key(scheme, host, pq, &site.config_version, &route_cache.key)
        }
        (&Method::POST, Some(body)) if route_cache.storage.allow_post => {
            let key_headers: Vec<String> = route_cache
                .key_headers
                .iter()
                .map(|h| h.as_str().to_string())
                .collect();
            let body_hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, body);
            let canonical = regionless_cache::key::CanonicalRequest {
                method: req.method(),
                path_and_query: pq,
                headers: req.headers(),
                key_headers: &key_headers,
                body_hash: body_hash.as_bytes(),
            };
            regionless_cache::key::request_key(scheme, host, &canonical, &site.config_version)
        }
        _ => return None,
    };
    let extras = key_extras(route_cache, req.headers(), country, region);
    if !extras.is_empty() {
        key = key.with_extras(&extras);
    }
    Some(Plan {
        cache: cache.clone(),
        key: key.into_string(),
        route: route_cache,
        site,
    })
}

fn key_extras(
    route: &RouteCache,
    headers: &HeaderMap,
    country: Option<&str>,
    region: &str,
) -> Vec<(String, String)> {
    let mut extras = Vec::new();
    for name in &route.key_headers {
        let value: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
            .collect();
        extras.push((format!("h:{name}"), value.join(",")));
    }
    if !route.key_cookies.is_empty() {
        let cookies: Vec<(String, String)> = headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(';')
                    .filter_map(|c| {
                        let (n, v) = c.split_once('=')?;
                        Some((n.trim().to_string(), v.trim().to_string()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in &route.key_cookies {
            let value = cookies
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str());
            extras.push((format!("c:{name}"), value.to_string()));
        }
    }
    if route.key_country {
        extras.push(("country".into(), country.unwrap_or("XX").to_string()));
    }
    if route.key_region {
        extras.push(("region".into(), region.to_string()));
    }
    extras
}

/// What the cache phase decided.
pub enum Decision<'a> {
    /// Answered from cache.
    Serve(Response<ResponseBody>),
    /// Answered stale from cache; the caller starts a background refresh with the ticket.
    ServeAndRefresh(Response<ResponseBody>, RefreshTicket),
    /// Go to the origin.
    Forward(Forward<'a>),
}

/// The right to refresh a stale entry in the background (one refresh per key at a time).
pub struct RefreshTicket {
    stored: Found,
    guard: LeadGuard,
}

impl RefreshTicket {
    /// The primary key being refreshed.
    pub fn key(&self) -> &str {
        primary_of(&self.stored.response.key)
    }
}

/// An origin fetch on behalf of the cache.
pub struct Forward<'a> {
    plan: Plan<'a>,
    /// The stored response being revalidated or kept for stale-if-error.
    stored: Option<Found>,
    reason: FwdReason,
    collapsed: bool,
    lead: Option<LeadGuard>,
    region_token: Option<Bytes>,
    method: Method,
    request_headers: HeaderMap,
    request_time: SystemTime,
    /// The request carries `Range`: forwarded as-is, never stored.
    ranged: bool,
    /// It waited `lock_timeout` for another request's fetch in vain: it goes to the origin
    /// itself and what it gets is not stored (nginx's `proxy_cache_lock_timeout`), so a slow
    /// origin cannot turn every waiter into a store.
    pass_only: bool,
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// Looks the request up and decides: serve, serve stale and refresh, or go forward.
pub async fn lookup<'a>(plan: Plan<'a>, req: &Request<ClientBody>) -> Decision<'a> {
    let headers = req.headers();
    let method = req.method().clone();
    let site_cache = &plan.site.cfg.cache;
    let request_directives = if site_cache.client_directives {
        Directives::from_cache_control(headers)
    } else {
        Directives::default()
    };
    let mut waited = false;
    let mut lock_timed_out = false;
    let mut collapsed = false;
    loop {
        let found = plan.cache.lookup(&plan.key, headers).await;
        let reason = match &found {
            Lookup::Found(_) => FwdReason::Stale,
            Lookup::UriMiss => FwdReason::UriMiss,
            Lookup::VaryMiss => FwdReason::VaryMiss,
        };
        let stored = match found {
            Lookup::Found(f) => Some(f),
            _ => None,
        };
        if let Some(found) = &stored {
            let f = found.response.freshness(now(), &site_cache.freshness);
            // A soft purge makes the entry stale now: served while revalidating only where
            // `stale-while-revalidate` allows, otherwise revalidated first.
            let verdict = if found.soft_purged {
                let stale_allowed = !f.no_cache && !f.must_revalidate;
                if stale_allowed
                    && (f.may_serve_while_revalidating()
                        || (f.is_fresh() && f.stale_while_revalidate > 0))
                {
                    Verdict::StaleWhileRevalidate
                } else {
                    Verdict::Revalidate
                }
            } else {
                f.verdict_for_request(&request_directives)
            };
            match verdict {
                Verdict::Fresh => {
                    let status =
                        CacheStatus::hit_value(CACHE_NAME, f.ttl(), collapsed, found.tier.as_str());
                    let response = from_stored(
                        &plan,
                        &found.response,
                        &method,
                        headers,
                        XCache::Hit,
                        status,
                    );
                    return Decision::Serve(response);
                }
                Verdict::StaleWhileRevalidate => {
                    CacheStats::bump(&plan.cache.stats.stale_served);
                    let status = CacheStatus {
                        fwd: Some(FwdReason::Stale),
                        detail: Some(format!("{}-stale-while-revalidate", found.tier.as_str())),
                        ..CacheStatus::hit(CACHE_NAME, f.ttl())
                    };
                    let response = from_stored(
                        &plan,
                        &found.response,
                        &method,
                        headers,
                        XCache::Stale,
                        status.header_value(),
                    );
                    // One refresh at a time per key: if another request leads, it refreshes.
                    if let Turn::Lead(guard) = plan.cache.coalesce(&plan.key) {
                        let ticket = RefreshTicket {
                            stored: found.clone(),
                            guard,
                        };
                        return Decision::ServeAndRefresh(response, ticket);
                    }
                    return Decision::Serve(response);
                }
                Verdict::Revalidate => {}
            }
        }
        let ranged = headers.contains_key(header::RANGE);
        let reason = if request_directives.no_cache && stored.is_some() {
            FwdReason::Request
        } else {
            reason
        };
        // HEAD and Range requests are never stored, and uncacheable URLs would only queue
        // requests behind each other: nobody waits for those.
        if method == Method::HEAD || ranged || waited || plan.cache.is_uncacheable(&plan.key) {
            return Decision::Forward(Forward {
                stored,
                reason,
                collapsed,
                lead: None,
                region_token: None,
                method,
                request_headers: headers.clone(),
                request_time: now(),
                ranged,
                pass_only: lock_timed_out,
                plan,
            });
        }
        match plan.cache.coalesce(&plan.key) {
            Turn::Wait(waiter) => {
                CacheStats::bump(&plan.cache.stats.coalesced_waits);
                let timeout = plan.cache.config().lock_timeout;
                if tokio::time::timeout(timeout, waiter.done()).await.is_err() {
                    CacheStats::bump(&plan.cache.stats.coalesce_timeouts);
                    lock_timed_out = true;
                }
                waited = true;
                collapsed = true;
                continue;
            }
            Turn::Lead(guard) => {
                let region_token = match plan.cache.region_lock(&plan.key).await {
                    Some(token) => token,
                    None => {
                        // Another node of the region is fetching: wait for its copy in tier 2.
                        CacheStats::bump(&plan.cache.stats.coalesced_waits);
                        let deadline = Instant::now() + plan.cache.config().lock_timeout;
                        let _ = plan
                            .cache
                            .wait_for_region(&plan.key, headers, deadline)
                            .await;
                        if Instant::now() >= deadline {
                            CacheStats::bump(&plan.cache.stats.coalesce_timeouts);
                            lock_timed_out = true;
                        }
                        drop(guard);
                        waited = true;
                        collapsed = true;
                        continue;
                    }
                };
                return Decision::Forward(Forward {
                    stored,
                    reason,
                    collapsed,
                    lead: Some(guard),
                    region_token,
                    method,
                    request_headers: headers.clone(),
                    request_time: now(),
                    ranged,
                    pass_only: false,
                    plan,
                });
            }
        }
    }
}

/// This cache's name in `Cache-Status`; the tier that answered is in `detail`.
pub const CACHE_NAME: &str = "regionless";

/// A response built from a stored one: `Age`, `x-cache`, `Cache-Status`; a 304 when the
/// client's conditional matches; a 206/416 for `Range`; no body for HEAD.
fn from_stored(
    plan: &Plan<'_>,
    stored: &StoredResponse,
    method: &Method,
    request: &HeaderMap,
    x_cache: XCache,
    status: HeaderValue,
) -> Response<ResponseBody> {
    let age = stored.freshness(now(), &plan.site.cfg.cache.freshness).age;
    let mut response = if answers_not_modified(method, request, &stored.headers) {
        let mut r = Response::new(body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = not_modified_headers(&stored.headers);
        r
    } else {
        let length = stored.body.len() as u64;
        let ranged = stored.status == StatusCode::OK && request.contains_key(header::RANGE);
        let answer = if ranged {
            answer_range(method, request, &stored.headers, length)
        } else {
            RangeAnswer::Full
        };
        let mut headers = stored.headers.clone();
        let (code, bytes) = match answer {
            RangeAnswer::Partial(ranges) if ranges.len() == 1 => {
                let (start, end) = ranges[0];
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&content_range((start, end), length)),
                );
                (
                    StatusCode::PARTIAL_CONTENT,
                    stored.body.slice(start as usize..=end as usize),
                )
            }
            RangeAnswer::Unsatisfiable => {
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&unsatisfied_content_range(length)),
                );
                (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new())
            }
            // Several ranges would need multipart/byteranges; the whole body is a valid answer.
            RangeAnswer::Partial(_) | RangeAnswer::Full => (stored.status, stored.body.clone()),
        };
        let length_known = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            == Some(bytes.len());
        if !length_known {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
        let body = if *method == Method::HEAD {
            body::empty()
        } else {
            plan.cache
                .stats
                .served_bytes
                .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            body::full(bytes)
        };
        let mut r = Response::new(body);
        *r.status_mut() = code;
        *r.headers_mut() = headers;
        r
    };
    let h = response.headers_mut();
    // Surrogate-Control is addressed to surrogates like us, never passed to clients.
    h.remove(names::SURROGATE_CONTROL);
    h.insert(header::AGE, HeaderValue::from(age));
    h.insert(names::X_CACHE, x_cache.header_value());
    h.insert(names::CACHE_STATUS, status);
    response
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Headers some origin frameworks trust to rewrite the host, URL or method, which are not part
/// of the cache key: a response to a request carrying them would be stored for everyone (cache
/// poisoning), so they never reach the origin on requests the cache handles.
const UNKEYED_OVERRIDES: [HeaderName; 10] = [
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Our `Surrogate-Capability` (the name matches `directives::SURROGATE_NAME`).
const SURROGATE_CAPABILITY: &str = "regionless=\"Surrogate/1.0\"";

/// Client conditionals removed from a fetch that fills the cache: the cache needs the full
/// response and answers the client's conditional itself.
const CLIENT_CONDITIONALS: [header::HeaderName; 2] =
    [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE];

impl<'a> Forward<'a> {
    /// The background refresh of a stale entry (stale-while-revalidate, soft purge): a GET
    /// with the stored response's validators, stored when it comes back.
    pub fn refresh(plan: Plan<'a>, ticket: RefreshTicket, request_headers: HeaderMap) -> Self {
        Forward {
            plan,
            stored: Some(ticket.stored),
            reason: FwdReason::Stale,
            collapsed: false,
            lead: Some(ticket.guard),
            region_token: None,
            method: Method::GET,
            request_headers,
            request_time: now(),
            ranged: false,
            pass_only: false,
        }
    }

    /// Adjusts the origin request: a fetch that may fill the cache asks for the full response
    /// (the client's `If-None-Match`/`If-Modified-Since` are answered here), and carries the
    /// stored response's validators when revalidating.
    pub fn adjust_upstream(&self, headers: &mut HeaderMap) {
        for name in &UNKEYED_OVERRIDES {
            headers.remove(name);
        }
        // Edge Architecture 1.0: tells the origin which `Surrogate-Control` target is us.
        headers.insert(
            names::SURROGATE_CAPABILITY,
            HeaderValue::from_static(SURROGATE_CAPABILITY),
        );
        if self.ranged || self.method != Method::GET {
            return;
        }
        headers.remove(header::IF_RANGE);
        for name in &CLIENT_CONDITIONALS {
            headers.remove(name);
        }
        if let Some(found) = &self.stored {
            for (name, value) in &conditional_request_headers(&found.response.headers) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }

    /// Every origin failed (or timed out): serve the stored response if stale-if-error (plus
    /// the site's grace) allows, else `None` and the caller reports the failure.
    pub fn on_failure(&self) -> Option<Response<ResponseBody>> {
        let found = self.stored.as_ref()?;
        let f = found
            .response
            .freshness(now(), &self.plan.site.cfg.cache.freshness);
        if !f.may_serve_on_error(self.plan.site.cfg.cache.grace) {
            return None;
        }
        CacheStats::bump(&self.plan.cache.stats.stale_served);
        let status = CacheStatus {
            fwd: Some(self.reason),
            detail: Some(format!("{}-stale-if-error", found.tier.as_str())),
            ..CacheStatus::hit(CACHE_NAME, f.ttl())
        };
        Some(from_stored(
            &self.plan,
            &found.response,
            &self.method,
            &self.request_headers,
            XCache::Stale,
            status.header_value(),
        ))
    }

    /// The origin answered (after `respond` prepared the client's response): serve stale on a
    /// 5xx when allowed, freshen and serve the stored response on a matching 304, store a
    /// storable response while streaming it to the client, and label the response.
    pub fn complete(self, response: Response<ResponseBody>) -> Response<ResponseBody> {
        let status = response.status();
        if status.is_server_error() {
            if let Some(stale) = self.on_failure() {
                return stale;
            }
        }
        // Client conditionals never reach the origin on this path (see `adjust_upstream`), so a
        // 304 answers the validators of the one stored response we sent: it selects that
        // response (RFC 9111 §4.3.4) even if it names another ETag, which is not taken over.
        if status == StatusCode::NOT_MODIFIED && !self.ranged && self.method == Method::GET {
            if let Some(found) = self.stored.clone() {
                return self.freshened(&found, response.headers());
            }
        }
        self.store_or_pass(response)
    }

    /// RFC 9111 §4.3.4: update the stored response's headers from the 304 and serve it.
    fn freshened(self, found: &Found, not_modified: &HeaderMap) -> Response<ResponseBody> {
        let mut updated = (*found.response).clone();
        updated.facts = Default::default();
        freshen_headers(
            &mut updated.headers,
            not_modified,
            self.plan.route.storage.allow_set_cookie,
        );
        updated.request_time = self.request_time;
        updated.response_time = now();
        updated.stored_at = now();
        let f = updated.freshness(now(), &self.plan.site.cfg.cache.freshness);
        let status = CacheStatus {
            fwd_status: Some(304),
            ttl: Some(f.ttl()),
            collapsed: self.collapsed,
            stored: true,
            ..CacheStatus::forward(CACHE_NAME, self.reason)
        };
        let response = from_stored(
            &self.plan,
            &updated,
            &self.method,
            &self.request_headers,
            XCache::Revalidated,
            status.header_value(),
        );
        self.into_owned(updated.status, updated.headers.clone())
            .save(updated);
        response
    }

    fn into_owned(mut self, status: StatusCode, headers: HeaderMap) -> OwnedStore {
        OwnedStore {
            status,
            headers,
            cache: self.plan.cache.clone(),
            key: std::mem::take(&mut self.plan.key),
            request_headers: std::mem::take(&mut self.request_headers),
            request_time: self.request_time,
            lifetime_override: self.plan.route.micro.or(self.plan.route.ttl),
            freshness: self.plan.site.cfg.cache.freshness,
            grace: self.plan.site.cfg.cache.grace,
            lead: self.lead.take(),
            region_token: self.region_token.take(),
        }
    }

    fn store_or_pass(self, mut response: Response<ResponseBody>) -> Response<ResponseBody> {
        let route = self.plan.route;
        let cacheable_method =
            self.method == Method::GET || (self.method == Method::POST && route.storage.allow_post);
        let verdict = if self.pass_only {
            Err("lock-timeout")
        } else if self.ranged || !cacheable_method {
            Err(if self.ranged { "range" } else { "method" })
        } else {
            let check = storability(
                RequestParts {
                    method: &self.method,
                    headers: &self.request_headers,
                },
                ResponseParts {
                    status: response.status(),
                    headers: response.headers(),
                },
                &route.storage,
            )
            .map_err(|n| n.detail());
            // Micro-caching and TTL overrides store what has no freshness information.
            let overridden = route.micro.is_some() || route.ttl.is_some();
            match check {
                Err("no-freshness") if overridden => Ok(()),
                // Storable in principle, but fresh for no time, never servable stale and
                // without validators: storing it would serve nobody, and leading a fill for
                // it would queue every concurrent request for this URL behind this one.
                Ok(())
                    if !overridden
                        && !worth_keeping(&self.plan, response.headers(), response.status()) =>
                {
                    Err("no-freshness")
                }
                other => other,
            }
        };
        let too_large = response
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n > self.plan.cache.config().max_object_bytes);
        let mut status = CacheStatus {
            fwd_status: Some(response.status().as_u16()),
            collapsed: self.collapsed,
            ..CacheStatus::forward(CACHE_NAME, self.reason)
        };
        match verdict {
            Ok(()) if too_large => {
                CacheStats::bump(&self.plan.cache.stats.too_large);
                status.detail = Some("too-large".into());
                label(&mut response, XCache::Miss, &status);
                self.into_owned(StatusCode::OK, HeaderMap::new()).release();
                response
            }
            Ok(()) => {
                status.stored = true;
                let stored_headers = headers_to_store(response.headers());
                label(&mut response, XCache::Miss, &status);
                let client_has_it =
                    answers_not_modified(&self.method, &self.request_headers, &stored_headers);
                let limit = self.plan.cache.config().max_object_bytes;
                let (parts, body) = response.into_parts();
                let owned = self.into_owned(parts.status, stored_headers);
                let fill = FillBody {
                    inner: body,
                    buffer: BytesMut::new(),
                    limit,
                    pending: Some(Box::new(owned)),
                };
                if client_has_it {
                    // The client already has it: answer 304 and finish filling in the background.
                    let mut drain = fill;
                    tokio::spawn(async move { while let Some(Ok(_)) = drain.frame().await {} });
                    let mut r = Response::new(body::empty());
                    *r.status_mut() = StatusCode::NOT_MODIFIED;
                    *r.headers_mut() = not_modified_headers(&parts.headers);
                    return r;
                }
                Response::from_parts(parts, fill.boxed_unsync())
            }
            Err(detail) => {
                status.detail = Some(detail.to_string());
                if !self.ranged && cacheable_method && !self.pass_only {
                    self.plan.cache.mark_uncacheable(&self.plan.key);
                }
                label(&mut response, XCache::Miss, &status);
                self.into_owned(StatusCode::OK, HeaderMap::new()).release();
                response
            }
        }
    }
}

/// Whether a storable response would ever be served from the cache: fresh for some time, or
/// servable stale (`stale-while-revalidate`, `stale-if-error`, the site's grace), or
/// revalidatable (an `ETag` or `Last-Modified`).
fn worth_keeping(plan: &Plan<'_>, headers: &HeaderMap, status: StatusCode) -> bool {
    let policy = &plan.site.cfg.cache.freshness;
    let lifetime = regionless_cache::freshness::freshness_lifetime(status, headers, now(), policy);
    if lifetime.seconds > 0 || !plan.site.cfg.cache.grace.is_zero() {
        return true;
    }
    if headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED) {
        return true;
    }
    let (d, _) = regionless_cache::directives::response_directives(headers);
    let window =
        |w: Option<regionless_cache::directives::Delta>| w.map_or(0, |d| d.seconds_or_zero());
    window(d.stale_while_revalidate) > 0 || window(d.stale_if_error) > 0
}

/// Sets `x-cache` and appends our `Cache-Status` member after the origin's.
fn label(response: &mut Response<ResponseBody>, x_cache: XCache, status: &CacheStatus) {
    let h = response.headers_mut();
    h.remove(names::SURROGATE_CONTROL);
    let combined = status.appended_to(h.get(names::CACHE_STATUS));
    h.insert(names::CACHE_STATUS, combined);
    h.insert(names::X_CACHE, x_cache.header_value());
}

/// The `Cache-Status` and `x-cache` fields labelling a response the cache did not take part
/// in for `reason`, when they are fixed: the reason is one of the two every pass-through
/// request has, and the response carries no `Cache-Status` of its own to append to.
pub fn fixed_bypass_labels(reason: FwdReason) -> Option<FixedLabels> {
    match reason {
        FwdReason::Bypass => Some(FixedLabels {
            status: "regionless; fwd=bypass",
            lines: b"cache-status: regionless; fwd=bypass\r\nx-cache: BYPASS\r\n",
        }),
        FwdReason::Method => Some(FixedLabels {
            status: "regionless; fwd=method",
            lines: b"cache-status: regionless; fwd=method\r\nx-cache: BYPASS\r\n",
        }),
        _ => None,
    }
}

/// A fixed pair of `Cache-Status` and `x-cache: BYPASS` (see [`fixed_bypass_labels`]), as
/// fields or as the header lines an HTTP/1 writer copies in one go.
#[derive(Debug, Clone, Copy)]
pub struct FixedLabels {
    status: &'static str,
    lines: &'static [u8],
}

impl FixedLabels {
    /// The two fields.
    pub fn fields(self) -> [(HeaderName, HeaderValue); 2] {
        [
            (names::CACHE_STATUS, HeaderValue::from_static(self.status)),
            (names::X_CACHE, XCache::Bypass.header_value()),
        ]
    }

    /// The same as `name: value\r\n` lines.
    pub fn lines(self) -> &'static [u8] {
        self.lines
    }
}

/// Labels a response the cache did not take part in (`x-cache: BYPASS`). Runs on every
/// pass-through request, so the common case (no upstream `Cache-Status`) uses static values.
pub fn label_bypass(response: &mut Response<ResponseBody>, reason: FwdReason) {
    // One pass over the names instead of two hashed lookups that nearly always miss.
    let (mut upstream_status, mut surrogate) = (false, false);
    for name in response.headers().keys() {
        upstream_status |= *name == names::CACHE_STATUS;
        surrogate |= *name == names::SURROGATE_CONTROL;
    }
    match fixed_bypass_labels(reason) {
        Some(labels) if !upstream_status => {
            let h = response.headers_mut();
            if surrogate {
                h.remove(names::SURROGATE_CONTROL);
            }
            for (name, value) in labels.fields() {
                h.insert(name, value);
            }
        }
        _ => {
            let status = CacheStatus::forward(CACHE_NAME, reason);
            label(response, XCache::Bypass, &status);
        }
    }
}

/// What a [`FillBody`] needs to store the response once its body is complete. Owned, so the
/// body can outlive the request's borrows; dropping it releases the fill locks.
struct OwnedStore {
    status: StatusCode,
    headers: HeaderMap,
    cache: Arc<EdgeCache>,
    key: String,
    request_headers: HeaderMap,
    request_time: SystemTime,
    lifetime_override: Option<Duration>,
    freshness: regionless_cache::freshness::FreshnessPolicy,
    grace: Duration,
    lead: Option<LeadGuard>,
    region_token: Option<Bytes>,
}

impl OwnedStore {
    fn save(mut self, stored: StoredResponse) {
        let keep = keep_for(
            &stored,
            now(),
            &self.freshness,
            self.grace,
            self.cache.config(),
        );
        let vary = vary_field_names(&stored.headers).unwrap_or_default();
        if vary.is_empty() {
            self.cache.store(&self.key, stored, keep);
        } else {
            let secondary = secondary_key(&vary, &self.request_headers);
            self.cache
                .store_variant(&self.key, vary, &secondary, stored, keep);
        }
        self.release_locks();
    }

    fn release(mut self) {
        self.release_locks();
    }

    fn release_locks(&mut self) {
        if let Some(token) = self.region_token.take() {
            let cache = self.cache.clone();
            let key = self.key.clone();
            tokio::spawn(async move { cache.region_unlock(&key, token).await });
        }
        drop(self.lead.take());
    }

    fn finish(self: Box<Self>, body: Bytes) {
        let stored = StoredResponse {
            status: self.status,
            tags: regionless_cache::purge::response_tags(&self.headers),
            headers: self.headers.clone(),
            body,
            request_time: self.request_time,
            response_time: now(),
            stored_at: now(),
            lifetime_override: self.lifetime_override,
            key: primary_of(&self.key).to_string(),
            facts: Default::default(),
        };
        self.save(stored);
    }
}

impl Drop for OwnedStore {
    fn drop(&mut self) {
        self.release_locks();
    }
}

fn primary_of(key: &str) -> &str {
    key.split('\u{1f}').next().unwrap_or(key)
}

pin_project_lite::pin_project! {
    /// Streams the origin's body to the client while keeping a copy; when the body ends
    /// within the size limit the copy is stored. A body that fails, is abandoned, or grows
    /// past the limit is not stored (the waiters are released and fetch for themselves).
    struct FillBody {
        #[pin]
        inner: ResponseBody,
        buffer: BytesMut,
        limit: u64,
        pending: Option<Box<OwnedStore>>,
    }
}

impl Body for FillBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let mut this = this;
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    if this.pending.is_some() {
                        if (this.buffer.len() + data.len()) as u64 > *this.limit {
                            if let Some(p) = this.pending.take() {
                                CacheStats::bump(&p.cache.stats.too_large);
                            }
                            *this.buffer = BytesMut::new();
                        } else {
                            this.buffer.extend_from_slice(data);
                        }
                    }
                } else {
                    // Trailers are not stored: a response that needs them is passed through.
                    this.pending.take();
                }
                // hyper stops polling once the body says it has ended, so the end is
                // detected here rather than by waiting for a final `None`.
                if this.inner.is_end_stream() {
                    if let Some(p) = this.pending.take() {
                        p.finish(std::mem::take(this.buffer).freeze());
                    }
                }
            }
            Some(Err(_)) => {
                this.pending.take();
            }
            None => {
                if let Some(p) = this.pending.take() {
                    p.finish(std::mem::take(this.buffer).freeze());
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
