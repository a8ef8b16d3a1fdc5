//! The request path, one function per phase, in the order DESIGN.md gives:
//! admit → site → locate → rules → route → steer → proxy (attempts with failover and
//! hedging) → respond. Every early exit is a [`Reject`] with a status and a short reason.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::future::{Either, FutureExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use regionless_geo::{Candidate, Country};

use crate::body::{
    self, BodyFault, BodySlot, ClientBody, Fault, GuardedBody, OriginBody, ResponseBody,
    UpstreamBody,
};
use crate::cache_path::Decision;
use crate::config::UpstreamHeaders;
use crate::headers::names;
use crate::headers::{
    append_list, append_value, is_idempotent, only_chunked, present, remove_present,
    strip_hop_by_hop, wants_upgrade, OriginFields,
};
use crate::observe::{Finished, ObservedBody, OriginLines, RequestLog};
use crate::origin_h1::{AsLines, DirectOrigin, WrittenRequest};
use crate::runtime::{OriginRuntime, Runtime, SiteRuntime};
use crate::smuggling::Verdict;
use crate::state::{ConnInfo, NodeState};

/// Bodies up to this size are buffered for retry-eligible requests so they can be replayed.
const REPLAY_BUFFER_LIMIT: u64 = 64 * 1024;

/// A request answered by the node itself, with the reason in the body.
#[derive(Debug)]
pub struct Reject {
    pub status: StatusCode,
    pub reason: String,
    /// Close the connection after answering (smuggling shapes, broken bodies).
    pub close: bool,
}

impl Reject {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Reject {
            status,
            reason: reason.into(),
            close: false,
        }
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// Where the client is, as far as the node can tell.
#[derive(Debug, Clone, Copy)]
pub struct ClientPlace {
    pub ip: IpAddr,
    pub country: Option<&'static Country>,
    /// The peer is a trusted proxy (its forwarding headers are believed).
    pub via_trusted_proxy: bool,
}

/// The service function: never fails, every problem becomes a response.
///
/// Not an `async fn` (nor are `run_phases` and `proxy`): an `async fn` keeps each argument
/// twice in its state, the argument and its rebinding, and copies it from one to the other
/// when first polled; a request is ~260 bytes. The `async move` block uses its captures in
/// place.
#[allow(clippy::manual_async_fn)] // arguments used in place, see above
pub fn handle(
    state: Arc<NodeState>,
    conn: Arc<ConnInfo>,
    req: Request<ClientBody>,
) -> impl Future<Output = Result<Response<ObservedBody>, Infallible>> {
    async move {
        let started = Instant::now();
        let rt = state.runtime();
        // Claimed first and for every HTTP/1 request, so verdicts and requests stay paired.
        let verdict = match &conn.framing {
            Some(verdicts) if req.version() < Version::HTTP_2 => verdicts.claim(),
            _ => Verdict::Clean,
        };
        // Written straight into its box: `Box::new` of a built record copied its ~430 bytes.
        let mut report = Box::write(
            Box::new_uninit(),
            Finished {
                log: RequestLog::new(&state, &conn, &req, started),
                state,
                rt,
            },
        );
        let Finished { state, rt, log } = &mut *report;
        let response = match run_phases(state, rt, &conn, req, verdict, log).await {
            Ok(r) => r,
            Err(reject) => reject_response(log, reject),
        };
        let mut response = report.finish(response);
        // The smuggling guard no longer follows this connection (a protocol switch that did not
        // happen, or framing it could not follow): end it rather than serve unchecked requests.
        if matches!(verdict, Verdict::LastTracked | Verdict::Unknown)
            && response.status() != StatusCode::SWITCHING_PROTOCOLS
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(response)
    }
}

#[allow(clippy::manual_async_fn)] // arguments used in place, see `handle`
fn run_phases<'a>(
    state: &'a Arc<NodeState>,
    rt: &'a Arc<Runtime>,
    conn: &'a ConnInfo,
    mut req: Request<ClientBody>,
    verdict: Verdict,
    log: &'a mut RequestLog,
) -> impl Future<Output = Result<Response<ResponseBody>, Reject>> + 'a {
    async move {
        admit(rt, &req, verdict)?;
        let (site_index, host) = site(rt, &req)?;
        // Read as text once: every view of it as `&str` checks it again.
        let host_name: &str = &host;
        let site = &rt.sites[site_index];
        log.site = Some(site_index);
        let place = locate(state, rt, conn, &req);
        log.client_ip = Some(place.ip);
        log.country = place.country.map(|c| c.code);
        if let Some(redirect) = rules(site, conn, &req, host_name) {
            return Ok(redirect);
        }
        let route_index = site
            .cfg
            .routes
            .iter()
            .position(|r| r.matches(req.method(), req.uri().path()));
        let route = route_index.map(|i| &site.cfg.routes[i]);
        let pool = route.map_or(crate::config::DEFAULT_POOL, |r| r.pool.as_str());
        let retryable_route = route.is_some_and(|r| r.retryable);
        let request_id = request_id(rt, &place, req.headers());
        log.request_id = request_id.clone();

        // reads: tier 1 → tier 2 → coalesced origin fetch
        let country = place.country.map(|c| c.code.as_str());
        let post_body = if crate::cache_path::caches_post(state.cache.as_ref(), site, route, &req) {
            Some(read_small_body(rt, &mut req).await?)
        } else {
            None
        };
        let plan = crate::cache_path::plan(
            state.cache.as_ref(),
            site,
            route,
            &req,
            post_body.as_ref(),
            host_name,
            conn.tls,
            country,
            &rt.config.node.region,
        );
        let mut cache_forward = None;
        if let Some(plan) = plan {
            match crate::cache_path::lookup(plan, &req).await {
                Decision::Serve(response) => return Ok(response),
                Decision::ServeAndRefresh(response, ticket) => {
                    let refresh = Refresh {
                        state: state.clone(),
                        rt: rt.clone(),
                        site_index,
                        route_index,
                        conn: conn.clone(),
                        place,
                        host,
                        request_id,
                    };
                    refresh.spawn(ticket, req);
                    return Ok(response);
                }
                Decision::Forward(forward) => cache_forward = Some(forward),
            }
        }

        let order = steer(site, pool, place.country, log.started);
        let upgrade = req.version() == Version::HTTP_11 && wants_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        // A POST answered through the cache (a cached query route) changes nothing.
        let unsafe_target = (!regionless_cache::invalidation::is_safe_method(req.method())
            && cache_forward.is_none())
        .then(|| (req.method().clone(), req.uri().clone()));
        let mut forwarded = ForwardedRequest::prepare(
            rt,
            conn,
            &place,
            req,
            &host,
            &request_id,
            upgrade,
            retryable_route,
        )?;
        forwarded.read_body().await?;
        // Only the cache phase reads an answer's fields (to store it, or to find what an unsafe
        // method invalidates); without it they may stay the origin's lines.
        forwarded.fields_as_lines =
            cache_forward.is_none() && (unsafe_target.is_none() || state.cache.is_none());
        if let Some(forward) = &cache_forward {
            forward.adjust_upstream(&mut forwarded.headers);
            match post_body {
                // The body the key was built from (already read, so `prepare` saw none).
                Some(body) => forwarded.body = RequestBody::Buffered(body),
                None => {
                    // A GET body (a "fat GET") is not part of the key, so it must not shape a
                    // response that is stored for everyone.
                    forwarded.body = RequestBody::Empty;
                    forwarded.headers.remove(header::CONTENT_LENGTH);
                    forwarded.headers.remove(header::TRANSFER_ENCODING);
                }
            }
        }
        if let Some(flags) = &site.flags_header {
            forwarded
                .headers
                .insert(names::X_FEATURE_FLAGS, flags.clone());
        }
        let (mut response, origin) = match proxy(
            state,
            &rt.config.upstream_headers,
            site,
            &order,
            &mut forwarded,
            log,
        )
        .await
        {
            Ok(answer) => answer,
            Err(reject) => {
                // stale-if-error: every origin failed, a stored response may still be served.
                if let Some(stale) = cache_forward.as_ref().and_then(|f| f.on_failure()) {
                    log.error = Some(reject.reason);
                    return Ok(stale);
                }
                return Err(reject);
            }
        };
        if let (Some(client_upgrade), true) = (
            client_upgrade,
            response.status() == StatusCode::SWITCHING_PROTOCOLS,
        ) {
            // Upgrades always go through hyper's client (see `attempt`), whose response can
            // hand over its connection.
            let (parts, body) = (*response).into_parts();
            response = Box::new(match body {
                OriginBody::Pooled(incoming) => {
                    let mut upgraded = Response::from_parts(parts, incoming);
                    tunnel(
                        client_upgrade,
                        &mut upgraded,
                        state.close_connections.clone(),
                    );
                    upgraded.map(OriginBody::Pooled)
                }
                direct => Response::from_parts(parts, direct),
            });
        }
        let mut response = respond(rt, site, origin, response, log);
        if let (Some((method, uri)), Some(cache)) = (unsafe_target, &state.cache) {
            // Both tiers before the response leaves: a client that sends a GET after its POST
            // must not be served the old entry from tier 2 (nor tier 1 refilled from it),
            // whichever node or thread takes that GET.
            let keys = invalidated_keys(site, &method, &uri, host_name, conn.tls, &response);
            for key in keys {
                cache.invalidate(&key).await;
            }
        }
        Ok(match cache_forward {
            Some(forward) => forward.complete(response),
            None => {
                let reason = bypass_reason(state, site, route);
                match (
                    &mut log.origin_lines,
                    crate::cache_path::fixed_bypass_labels(reason),
                ) {
                    // Fields kept as lines never include a `Cache-Status` or `Surrogate-Control`
                    // (`origin_h1` reads such heads into a map), so the fixed labels apply and go
                    // out with the lines: the response's map stays empty.
                    (Some(lines), Some(labels)) => lines.labels = Some(labels),
                    _ => crate::cache_path::label_bypass(&mut response, reason),
                }
                response
            }
        })
    }
}

/// Reads a request body whose length is known and small (a cached POST route keys on it),
/// within the body read timeout.
async fn read_small_body(rt: &Runtime, req: &mut Request<ClientBody>) -> Result<Bytes, Reject> {
    let limit = crate::cache_path::POST_BODY_LIMIT as usize;
    let read = http_body_util::Limited::new(req.body_mut(), limit).collect();
    match tokio::time::timeout(rt.config.limits.body_read_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(Reject::new(StatusCode::BAD_REQUEST, "malformed request body").closing()),
        Err(_) => Err(Reject::new(
            StatusCode::REQUEST_TIMEOUT,
            "request body arrived too slowly",
        )
        .closing()),
    }
}

fn bypass_reason(
    state: &NodeState,
    site: &SiteRuntime,
    route: Option<&crate::config::RouteConfig>,
) -> regionless_cache::cache_status::Forward {
    use regionless_cache::cache_status::Forward;
    let route_bypass = route.is_some_and(|r| r.cache.mode == crate::config::CacheMode::Bypass);
    if state.cache.is_none() || !site.cfg.cache.enabled || route_bypass {
        Forward::Bypass
    } else {
        Forward::Method
    }
}

/// RFC 9111 §4.4: the cache keys a successful unsafe request invalidates: those of its target
/// URI and of same-origin `Location`/`Content-Location`.
fn invalidated_keys(
    site: &SiteRuntime,
    method: &Method,
    uri: &Uri,
    host: &str,
    tls: bool,
    response: &Response<ResponseBody>,
) -> Vec<String> {
    let scheme = if tls { "https" } else { "http" };
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uris = regionless_cache::invalidation::invalidated_uris(
        method,
        response.status(),
        scheme,
        host,
        target,
        response.headers(),
    );
    uris.iter()
        .map(|pq| {
            let path = pq.split('?').next().unwrap_or(pq);
            let rules = site
                .cfg
                .routes
                .iter()
                .find(|r| r.matches(&Method::GET, path))
                .map_or(&site.cfg.default_route_cache, |r| &r.cache);
            regionless_cache::key::primary_key(scheme, host, pq, &site.config_version, &rules.key)
                .as_str()
                .to_string()
        })
        .collect()
}

/// A stale-while-revalidate refresh, run after the client got its stale answer and not
/// cancelled when that request ends.
struct Refresh {
    state: Arc<NodeState>,
    rt: Arc<Runtime>,
    site_index: usize,
    route_index: Option<usize>,
    conn: ConnInfo,
    place: ClientPlace,
    host: SiteHost,
    request_id: HeaderValue,
}

impl Refresh {
    fn spawn(self, ticket: crate::cache_path::RefreshTicket, req: Request<ClientBody>) {
        let Some(cache) = self.state.cache.clone() else {
            return;
        };
        tokio::spawn(async move {
            let site = &self.rt.sites[self.site_index];
            let route = self.route_index.map(|i| &site.cfg.routes[i]);
            let route_cache = route.map_or(&site.cfg.default_route_cache, |r| &r.cache);
            let pool = route.map_or(crate::config::DEFAULT_POOL, |r| r.pool.as_str());
            let key = ticket.key().to_string();
            let plan = crate::cache_path::Plan {
                cache,
                key,
                route: route_cache,
                site,
            };
            let forward = crate::cache_path::Forward::refresh(plan, ticket, req.headers().clone());
            let mut log = RequestLog::new(&self.state, &self.conn, &req, Instant::now());
            let order = steer(site, pool, self.place.country, Instant::now());
            let Ok(mut forwarded) = ForwardedRequest::prepare(
                &self.rt,
                &self.conn,
                &self.place,
                req,
                &self.host,
                &self.request_id,
                false,
                false,
            ) else {
                return;
            };
            if forwarded.read_body().await.is_err() {
                return;
            }
            forwarded.method = Method::GET;
            forward.adjust_upstream(&mut forwarded.headers);
            if let Some(flags) = &site.flags_header {
                forwarded
                    .headers
                    .insert(names::X_FEATURE_FLAGS, flags.clone());
            }
            if let Ok((response, origin)) = proxy(
                &self.state,
                &self.rt.config.upstream_headers,
                site,
                &order,
                &mut forwarded,
                &mut log,
            )
            .await
            {
                let response = respond(&self.rt, site, origin, response, &mut log);
                // Reading the body to its end is what stores it.
                let _ = forward.complete(response).into_body().collect().await;
            }
        });
    }
}

/// Accept-time checks that need no site: message framing, URI size, request-target form,
/// method, body size.
fn admit(rt: &Runtime, req: &Request<ClientBody>, verdict: Verdict) -> Result<(), Reject> {
    // hyper hides this shape from us (it drops Content-Length); the connection's smuggling
    // guard saw the raw head.
    if verdict == Verdict::Ambiguous {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            "Content-Length together with Transfer-Encoding",
        )
        .closing());
    }
    let limits = &rt.config.limits;
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(Reject::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "request target is longer than {} bytes",
                limits.max_uri_bytes
            ),
        ));
    }
    if req.method() == Method::CONNECT {
        return Err(Reject::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not supported: this node is a reverse proxy, not a forward proxy",
        ));
    }
    if req.version() < Version::HTTP_2 && req.uri().scheme().is_some() {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            "absolute-form request targets are refused: this node is not an open proxy",
        ));
    }
    let headers = req.headers();
    if headers.get_all(header::HOST).iter().count() > 1 {
        return Err(Reject::new(StatusCode::BAD_REQUEST, "more than one Host header").closing());
    }
    if let Some(len) = req.body().size_hint().exact() {
        if len > limits.max_body_bytes {
            return Err(Reject::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body is larger than {} bytes",
                    limits.max_body_bytes
                ),
            )
            .closing());
        }
    }
    Ok(())
}

/// The client's host as sites are matched on it: without port or trailing dot, in lower
/// case. Kept as a header value, because it is also what the origin gets as the original
/// host: usually it is the client's own `Host` value, shared rather than copied (a `String`
/// and a header value made from it were two allocations per request).
#[derive(Debug, Clone)]
struct SiteHost(HeaderValue);

impl SiteHost {
    /// The header value the origin gets as the original host.
    fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::ops::Deref for SiteHost {
    type Target = str;

    /// Checks the bytes again on every call (they are always ASCII): take it once.
    fn deref(&self) -> &str {
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }
}

/// Host → site. Unknown hosts are never forwarded anywhere.
fn site(rt: &Runtime, req: &Request<ClientBody>) -> Result<(usize, SiteHost), Reject> {
    let value = req.headers().get(header::HOST);
    let raw =
        match value {
            Some(h) => h.to_str().map_err(|_| {
                Reject::new(StatusCode::BAD_REQUEST, "Host header is not valid ASCII")
            })?,
            None => req.uri().authority().map(|a| a.as_str()).ok_or_else(|| {
                Reject::new(StatusCode::BAD_REQUEST, "request has no Host header")
            })?,
        };
    let trimmed = strip_port(raw).trim_end_matches('.');
    let lowered;
    let upper = trimmed.bytes().any(|b| b.is_ascii_uppercase());
    let name = if upper {
        lowered = trimmed.to_ascii_lowercase();
        lowered.as_str()
    } else {
        trimmed
    };
    let Some(index) = rt.site_index(name) else {
        return Err(Reject::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "unknown host `{}`: no site on this node answers for it",
                truncate(name, 100)
            ),
        ));
    };
    let value = match value {
        Some(value) if !upper && trimmed.len() == raw.len() => value.clone(),
        _ => HeaderValue::from_str(name)
            .map_err(|_| Reject::new(StatusCode::BAD_REQUEST, "invalid host"))?,
    };
    Ok((index, SiteHost(value)))
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Where the client is: the trusted country header from a trusted proxy, else GeoIP, else
/// unknown (the site's default region then applies).
fn locate(
    state: &NodeState,
    rt: &Runtime,
    conn: &ConnInfo,
    req: &Request<ClientBody>,
) -> ClientPlace {
    let peer = conn.peer.ip();
    let trusted = rt.trusted.contains(peer);
    let ip = if trusted {
        let xff = req
            .headers()
            .get_all(names::X_FORWARDED_FOR)
            .iter()
            .map(|v| v.as_bytes());
        regionless_geo::client_ip(peer, xff, &rt.trusted)
    } else {
        peer
    };
    let from_header = if trusted {
        rt.config
            .client_location
            .country_header
            .as_ref()
            .and_then(|h| req.headers().get(h))
            .and_then(|v| regionless_geo::country_from_header(v.as_bytes()))
    } else {
        None
    };
    let country = from_header.or_else(|| {
        let db = state.geoip.load();
        db.as_ref()
            .and_then(|g| g.lookup(ip))
            .and_then(regionless_geo::country)
    });
    ClientPlace {
        ip,
        country,
        via_trusted_proxy: trusted,
    }
}

/// Edge rules that answer without an origin. Today: HTTP → HTTPS redirect per site.
fn rules(
    site: &SiteRuntime,
    conn: &ConnInfo,
    req: &Request<ClientBody>,
    host: &str,
) -> Option<Response<ResponseBody>> {
    if site.cfg.https_redirect && !conn.tls {
        let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let location = format!("https://{host}{pq}");
        let mut r = Response::new(body::full(format!("moved to {location}\n")));
        *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return Some(r);
    }
    None
}

/// The origins of `pool`, in attempt order for this client.
fn steer<'s>(
    site: &'s SiteRuntime,
    pool: &str,
    country: Option<&'static Country>,
    now: Instant,
) -> Cow<'s, [usize]> {
    let Some(members) = site.pools.get(pool) else {
        return Cow::Borrowed(&[]);
    };
    // One origin (the common "one server, one region" site): nothing to rank.
    if members.len() == 1 {
        return Cow::Borrowed(members);
    }
    // On the stack up to 8 origins, and the ranked order turned into pool indices in place:
    // one allocation per request of a multi-origin site rather than four.
    // Distances computed when the config loaded: to the client's country, or for a client
    // of unknown country to the site's default region (where ranking places it).
    let country_index = country.and_then(|c| regionless_geo::country_index(c.code));
    let candidates: smallvec::SmallVec<[Candidate<'_>; 8]> = members
        .iter()
        .map(|&i| {
            let o = &site.origins[i];
            Candidate {
                region: &o.region,
                weight: o.cfg.weight,
                backup: o.cfg.backup,
                health: &o.health,
                distance_km: match country {
                    None => Some(o.km_from_default_region),
                    Some(_) => country_index.and_then(|c| o.km_by_country.get(c).copied()),
                },
            }
        })
        .collect();
    let ranked = regionless_geo::rank(
        &site.policy,
        country,
        &site.default_region,
        &candidates,
        now,
        &mut rand::thread_rng(),
    );
    let mut order = ranked;
    for k in &mut order {
        *k = members[*k];
    }
    Cow::Owned(order)
}

/// The request's id as a header value (sent upstream and to the client, logged), built once.
fn request_id(rt: &Runtime, place: &ClientPlace, headers: &HeaderMap) -> HeaderValue {
    let name = &rt.config.upstream_headers.request_id;
    if place.via_trusted_proxy && rt.config.node.trust_request_id {
        if let Some(v) = headers.get(name) {
            if v.to_str().is_ok() && !v.is_empty() && v.len() <= 200 {
                return v.clone();
            }
        }
    }
    crate::observe::new_request_id()
}

/// The request's body, in the form that decides whether it can be replayed.
enum RequestBody {
    Empty,
    Buffered(Bytes),
    /// Small enough to buffer for replays, not read yet: [`ForwardedRequest::read_body`]
    /// turns it into `Buffered` before any attempt.
    ToBuffer(GuardedBody, Arc<BodyFault>),
    /// Read from the client as the origin takes it; the fault records why reading stopped.
    Streamed(BodySlot, Arc<BodyFault>),
}

/// Everything needed to send the request to any origin.
struct ForwardedRequest {
    method: Method,
    path_and_query: http::uri::PathAndQuery,
    /// The client's headers, cleaned of hop-by-hop fields and of every copy of the fields in
    /// `fields`.
    headers: HeaderMap,
    /// What the node adds; taken by the last attempt that can happen. Boxed: the request
    /// and its attempts' futures are moved by value several times per request.
    fields: Option<Box<OriginFields>>,
    body: RequestBody,
    /// Any failure may be retried (idempotent method or a retryable route).
    replay_safe: bool,
    /// A protocol upgrade (WebSocket): hyper's client carries it, never `origin_h1`.
    upgrade: bool,
    /// Nothing on the request path reads the answer's fields: plain HTTP/1.1 origins may hand
    /// them over as the origin's lines (see [`crate::raw_fields`]), which `respond` moves to
    /// the request's record for the writer.
    fields_as_lines: bool,
}

impl ForwardedRequest {
    /// Not an `async fn`: it awaits nothing (a body to buffer is read by
    /// [`ForwardedRequest::read_body`]), and an `async fn` would hold the ~260-byte request
    /// twice in its state and copy it there and back.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        rt: &Runtime,
        conn: &ConnInfo,
        place: &ClientPlace,
        req: Request<ClientBody>,
        host: &SiteHost,
        request_id: &HeaderValue,
        upgrade: bool,
        retryable_route: bool,
    ) -> Result<ForwardedRequest, Reject> {
        let (parts, incoming) = req.into_parts();
        let mut headers = parts.headers;
        let settings = &rt.config;
        strip_hop_by_hop(&mut headers, upgrade);
        if upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        // Headers the node sets or trusts: never take the client's copy. The first five go
        // whoever sent them; a trusted proxy's forwarding headers are extended rather than
        // replaced; a client's `Via` is extended.
        let upstream = &settings.upstream_headers;
        let (forwarded_for, forwarded_proto) = (names::X_FORWARDED_FOR, names::X_FORWARDED_PROTO);
        let watched = [
            upstream.original_host.as_ref(),
            upstream.client_country.as_ref(),
            Some(&upstream.request_id),
            settings.client_location.country_header.as_ref(),
            Some(&header::HOST),
            Some(&forwarded_for),
            Some(&forwarded_proto),
            Some(&header::VIA),
        ];
        // Positions in `watched` of the names the node extends rather than always removes.
        const FORWARDED_FOR: usize = 5;
        const FORWARDED_PROTO: usize = 6;
        const VIA: usize = 7;
        let found = present(&headers, &watched);
        let has = |i: usize| found & (1 << i) != 0;
        let trusted = place.via_trusted_proxy;
        let removed = if trusted { FORWARDED_FOR } else { VIA };
        remove_present(&mut headers, &watched[..removed], found);
        let forwarded_for = if trusted && has(FORWARDED_FOR) {
            let peer = conn.peer_ip.to_str().unwrap_or("unknown");
            append_list(&mut headers, names::X_FORWARDED_FOR, peer);
            None
        } else {
            Some(conn.peer_ip.clone())
        };
        let via = if has(VIA) {
            append_value(&mut headers, header::VIA, &rt.via);
            None
        } else {
            Some(rt.via.clone())
        };
        let fields = Box::new(OriginFields {
            forwarded_for,
            forwarded_proto: (!(trusted && has(FORWARDED_PROTO))).then(|| proto_value(conn.tls)),
            via,
            original_host: upstream
                .original_host
                .as_ref()
                .map(|_| host.header_value().clone()),
            // Codes come from the built-in table (two ASCII letters), never from the client.
            country: upstream
                .client_country
                .as_ref()
                .map(|_| HeaderValue::from_static(place.country.map_or("XX", |c| c.code.as_str()))),
            request_id: request_id.clone(),
        });

        let idempotent = is_idempotent(&parts.method);
        let replay_safe = (idempotent || retryable_route) && !upgrade;
        let limits = &settings.limits;
        let body = if incoming.is_end_stream() {
            RequestBody::Empty
        } else {
            let fault = Arc::new(BodyFault::default());
            let exact = incoming.size_hint().exact();
            let guarded = GuardedBody::new(
                incoming,
                limits.max_body_bytes,
                limits.body_read_timeout,
                fault.clone(),
            );
            match exact {
                Some(len) if replay_safe && len <= REPLAY_BUFFER_LIMIT => {
                    RequestBody::ToBuffer(guarded, fault)
                }
                _ => RequestBody::Streamed(BodySlot::new(guarded), fault),
            }
        };
        Ok(ForwardedRequest {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            headers,
            fields: Some(fields),
            body,
            replay_safe,
            upgrade,
            fields_as_lines: false,
        })
    }

    /// Reads a body that is to be buffered (small, of known length, replayable), so every
    /// attempt can send it.
    async fn read_body(&mut self) -> Result<(), Reject> {
        if !matches!(self.body, RequestBody::ToBuffer(..)) {
            return Ok(());
        }
        if let RequestBody::ToBuffer(guarded, fault) =
            std::mem::replace(&mut self.body, RequestBody::Empty)
        {
            let bytes = body::collect(guarded)
                .await
                .map_err(|_| body_fault_reject(fault.get()))?;
            self.body = RequestBody::Buffered(bytes);
        }
        Ok(())
    }

    /// Why reading the client's streamed body stopped, if it did.
    fn body_fault(&self) -> Fault {
        match &self.body {
            RequestBody::Streamed(_, fault) => fault.get(),
            RequestBody::Empty | RequestBody::Buffered(_) | RequestBody::ToBuffer(..) => {
                Fault::None
            }
        }
    }

    /// A body for the next attempt through hyper's client, or None when the streamed body
    /// was already read.
    fn body_for_attempt(&self) -> Option<UpstreamBody> {
        match &self.body {
            RequestBody::Empty => Some(body::empty()),
            RequestBody::Buffered(b) => Some(
                http_body_util::Full::new(b.clone())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            ),
            RequestBody::Streamed(slot, _) => slot.lend().map(|b| b.boxed_unsync()),
            // `read_body` runs before any attempt.
            RequestBody::ToBuffer(..) => None,
        }
    }

    /// The request for one attempt at `origin`, or None when none can be made (the streamed
    /// body was already read by an earlier attempt).
    ///
    /// A plain-HTTP/1.1 origin with the body in memory gets the request written out from
    /// the prepared parts, which stay here for any later attempt. Otherwise the request goes
    /// through hyper's client as an owned `Request`: on the `last` attempt that can happen
    /// the prepared headers are moved into it rather than copied.
    fn request_for<'s>(
        &mut self,
        origin: &'s OriginRuntime,
        upstream: &UpstreamHeaders,
        last: bool,
    ) -> Result<Option<AttemptRequest<'s>>, Reject> {
        // `launch` stops at the last attempt, so the fields are always still here.
        let no_attempt_left = || {
            Reject::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no attempt is left for this request",
            )
        };
        if let (Some(direct), false) = (&origin.direct, self.upgrade) {
            let payload = match &self.body {
                RequestBody::Empty => Some(Bytes::new()),
                RequestBody::Buffered(b) => Some(b.clone()),
                RequestBody::Streamed(..) | RequestBody::ToBuffer(..) => None,
            };
            if let Some(payload) = payload {
                let fields = self.fields.as_deref().ok_or_else(no_attempt_left)?;
                let add =
                    |out: &mut Vec<u8>| fields.write_lines(out, upstream, &origin.host_header);
                let written = WrittenRequest::new(
                    &self.method,
                    self.path_and_query.as_str(),
                    add,
                    &self.headers,
                    payload,
                );
                return Ok(Some(AttemptRequest::Direct(direct, written)));
            }
        }
        let Some(body) = self.body_for_attempt() else {
            return Ok(None);
        };
        let uri = Uri::builder()
            .scheme(origin.cfg.scheme.clone())
            .authority(origin.cfg.authority.clone())
            .path_and_query(self.path_and_query.clone())
            .build()
            .map_err(|e| {
                Reject::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot build the origin request: {e}"),
                )
            })?;
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = match origin.cfg.protocol {
            crate::config::OriginProtocol::Http2 => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
        let (headers, fields) = if last {
            (std::mem::take(&mut self.headers), self.fields.take())
        } else {
            (self.headers.clone(), self.fields.clone())
        };
        let fields = fields.ok_or_else(no_attempt_left)?;
        *req.headers_mut() = headers;
        if let RequestBody::Streamed(_, fault) = &self.body {
            req.extensions_mut().insert(Upload(fault.clone()));
        }
        Ok(Some(AttemptRequest::Pooled(Box::new((req, fields)))))
    }
}

impl Drop for ForwardedRequest {
    /// The client's fields go; the map's memory stays on this thread for the next request.
    fn drop(&mut self) {
        crate::headers::recycle_map(std::mem::take(&mut self.headers));
    }
}

/// One attempt's request.
enum AttemptRequest<'s> {
    /// For a plain-HTTP/1.1 origin's client ([`crate::origin_h1`]), written out with the
    /// node's fields.
    Direct(&'s DirectOrigin, WrittenRequest),
    /// For hyper's client, with the fields the node adds to it when it is sent. Boxed: the
    /// attempt's request is moved a few times, and this one is three times the size of the
    /// other.
    Pooled(Box<(Request<UpstreamBody>, Box<OriginFields>)>),
}

/// Marks an origin request whose body is streamed from the client, so its attempt can start
/// the first-byte deadline when the upload is complete rather than when it begins.
#[derive(Clone)]
struct Upload(Arc<BodyFault>);

fn proto_value(tls: bool) -> HeaderValue {
    HeaderValue::from_static(if tls { "https" } else { "http" })
}

fn body_fault_reject(fault: Fault) -> Reject {
    match fault {
        Fault::TooLarge => Reject::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body is larger than the limit",
        )
        .closing(),
        Fault::TimedOut => Reject::new(
            StatusCode::REQUEST_TIMEOUT,
            "request body arrived too slowly",
        )
        .closing(),
        Fault::Malformed | Fault::None => {
            Reject::new(StatusCode::BAD_REQUEST, "malformed request body").closing()
        }
    }
}

/// How one attempt ended. Responses are boxed: a `Response` is ~250 bytes, and from the
/// attempt through `proxy` to `respond` it was moved (copied) several times per request;
/// boxed once, 24,060 → 23,684 user-space instructions per pass-through request
/// (`bench/instructions.py --connections 1`); boxed where [`send`] gets it rather than here,
/// 22,004 → 21,859.
enum Outcome {
    /// A response to pass on.
    Answer(Box<Response<OriginBody>>, Duration),
    /// A response whose status counts as a failure; kept in case nothing better arrives.
    BadStatus(Box<Response<OriginBody>>, Duration),
    ConnectFailed(String),
    TimedOut,
    Failed(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Answer(..) => "ok",
            Outcome::BadStatus(..) => "status",
            Outcome::ConnectFailed(_) => "connect_error",
            Outcome::TimedOut => "timeout",
            Outcome::Failed(_) => "error",
        }
    }
}

/// One attempt at one origin, bounded by its first-byte deadline and the request's.
#[allow(clippy::manual_async_fn)] // arguments used in place, see `handle`
fn attempt<'a>(
    upstream: &'a UpstreamHeaders,
    site: &'a SiteRuntime,
    origin_index: usize,
    mut req: AttemptRequest<'a>,
    deadline: Instant,
    as_lines: bool,
) -> impl Future<Output = (usize, Outcome)> + 'a {
    async move {
        let origin = &site.origins[origin_index];
        let upload = match &mut req {
            AttemptRequest::Pooled(pooled) => pooled.0.extensions_mut().remove::<Upload>(),
            AttemptRequest::Direct(..) => None,
        };
        let as_lines = as_lines.then_some(AsLines {
            request_id: &upstream.request_id,
        });
        let response = send(origin, req, upstream, as_lines);
        tokio::pin!(response);
        // The first-byte deadline measures the origin, not the client's upload: with a streamed
        // body it starts once the body has been handed over (until then the body's idle timeout
        // guards against a slow client, and the request deadline bounds the whole exchange).
        let mut started = Instant::now();
        let early = match &upload {
            None => None,
            Some(Upload(body)) => tokio::select! {
                r = &mut response => Some(Some(r)),
                () = body.sent() => {
                    started = Instant::now();
                    None
                }
                () = tokio::time::sleep_until(deadline.into()) => Some(None),
            },
        };
        let result = match early {
            Some(answered) => answered,
            None => {
                let budget = deadline
                    .saturating_duration_since(started)
                    .min(site.cfg.timeouts.first_byte);
                crate::deadline::within(started + budget, &mut response).await
            }
        };
        let outcome = match result {
            None => Outcome::TimedOut,
            Some(Err(e)) if e.is_connect() => Outcome::ConnectFailed(error_chain(&e)),
            Some(Err(e)) => Outcome::Failed(error_chain(&e)),
            Some(Ok(resp)) => {
                let ttfb = started.elapsed();
                let status = resp.status();
                let retry_after = retry_after(resp.headers());
                if let (Some(wait), true) = (
                    retry_after,
                    status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE,
                ) {
                    origin.health.mark_busy(std::time::Instant::now() + wait);
                }
                let failed_status = site.cfg.retries.statuses.contains(&status)
                    || (status == StatusCode::TOO_MANY_REQUESTS && retry_after.is_some());
                if failed_status {
                    Outcome::BadStatus(resp, ttfb)
                } else {
                    Outcome::Answer(resp, ttfb)
                }
            }
        };
        match &outcome {
            Outcome::Answer(_, ttfb) => origin.health.record_success(*ttfb),
            Outcome::BadStatus(..)
            | Outcome::ConnectFailed(_)
            | Outcome::TimedOut
            | Outcome::Failed(_) => origin.health.record_failure(),
        }
        (origin_index, outcome)
    }
}

/// Why an origin request failed, from either client.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Pooled(#[from] hyper_util::client::legacy::Error),
    #[error(transparent)]
    Direct(#[from] crate::origin_h1::ExchangeError),
    /// hyper's client decodes only `chunked`: a body with another transfer coding would
    /// reach the client still coded, without the field that says so (`origin_h1` refuses
    /// these heads the same way).
    #[error("invalid response from origin: unsupported Transfer-Encoding")]
    UnsupportedCoding,
}

impl SendError {
    fn is_connect(&self) -> bool {
        match self {
            SendError::Pooled(e) => e.is_connect(),
            SendError::Direct(e) => e.is_connect(),
            SendError::UnsupportedCoding => false,
        }
    }
}

/// Sends one attempt: a written-out request in the request's own task (`origin_h1`), any
/// other through hyper-util's pooled client.
///
/// Not an `async fn`: it picks the way and returns that way's future, so the direct one is
/// not nested in (and its request copied into) one more state machine per attempt.
///
/// The response is boxed as soon as it exists: on its way up to `respond` it is otherwise
/// copied (~250 bytes) out of the deadline's output, into the attempt's result and into the
/// attempt's outcome.
fn send<'a>(
    origin: &'a OriginRuntime,
    req: AttemptRequest<'a>,
    upstream: &'a UpstreamHeaders,
    as_lines: Option<AsLines<'a>>,
) -> impl std::future::Future<Output = Result<Box<Response<OriginBody>>, SendError>> + 'a {
    match req {
        AttemptRequest::Direct(direct, req) => Either::Left(direct.send(req, as_lines).map(|r| {
            r.map(|resp| Box::new(resp.map(OriginBody::Direct)))
                .map_err(SendError::Direct)
        })),
        AttemptRequest::Pooled(pooled) => Either::Right(Box::pin(async move {
            let (mut req, fields) = *pooled;
            fields.insert_into(upstream, &origin.host_header, req.headers_mut());
            let response = origin.client.request(req).await?;
            let codings = response.headers().get_all(header::TRANSFER_ENCODING);
            if codings.iter().next().is_some()
                && !only_chunked(codings.iter().map(HeaderValue::as_bytes))
            {
                return Err(SendError::UnsupportedCoding);
            }
            Ok(Box::new(response.map(OriginBody::Pooled)))
        })),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at an hour.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(v)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(Duration::from_secs(3600)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends the request to origins in steering order until one answers, within the request's
/// time budget, the per-request attempt limit and the node-wide retry budget.
#[allow(clippy::manual_async_fn)] // arguments used in place, see `handle`
fn proxy<'a, 's: 'a>(
    state: &'a NodeState,
    upstream: &'a UpstreamHeaders,
    site: &'s SiteRuntime,
    order: &'a [usize],
    fwd: &'a mut ForwardedRequest,
    log: &'a mut RequestLog,
) -> impl Future<Output = Result<(Box<Response<OriginBody>>, &'s OriginRuntime), Reject>> + 'a {
    async move {
        if order.is_empty() {
            return Err(Reject::new(
                StatusCode::BAD_GATEWAY,
                "no origin is configured for this route",
            ));
        }
        // The whole-request timeout counts from the request's arrival.
        let deadline = log.started + site.cfg.timeouts.request;
        let max_attempts = (site.cfg.retries.attempts as usize).min(order.len());
        let hedging = site.cfg.retries.hedge
            && fwd.replay_safe
            && matches!(fwd.body, RequestBody::Empty)
            && matches!(fwd.method, Method::GET | Method::HEAD);
        let as_lines = fwd.fields_as_lines;
        let mut next = 0usize;
        // Without hedging there is never more than one attempt in flight: it is awaited inline,
        // which keeps its (large) future off the heap. Hedged requests race in `inflight`,
        // created on the first hedged launch (creating one allocates).
        let mut queued: Option<(usize, AttemptRequest<'s>)> = None;
        let mut inflight = None;
        let mut fallback: Option<(Box<Response<OriginBody>>, usize, Duration)> = None;
        // Borrowed until an attempt fails: most requests never need the message.
        let mut last_error: Cow<'static, str> = Cow::Borrowed("no attempt was made");
        let mut any_timeout = false;

        let launch = |fwd: &mut ForwardedRequest,
                      next: &mut usize,
                      queued: &mut Option<(usize, AttemptRequest<'s>)>,
                      inflight: &mut Option<FuturesUnordered<_>>|
         -> Result<bool, Reject> {
            let index = order[*next];
            let last = *next + 1 >= max_attempts;
            let Some(req) = fwd.request_for(&site.origins[index], upstream, last)? else {
                return Ok(false);
            };
            *next += 1;
            if hedging {
                inflight
                    .get_or_insert_with(FuturesUnordered::new)
                    .push(attempt(upstream, site, index, req, deadline, as_lines));
            } else {
                *queued = Some((index, req));
            }
            Ok(true)
        };
        launch(fwd, &mut next, &mut queued, &mut inflight)?;
        log.attempts = 1;
        // Every request that reaches an origin earns the retry budget its share.
        state.budget.load().record_request(log.started);
        let mut hedged = false;

        loop {
            let in_flight = inflight.as_ref().map_or(0, FuturesUnordered::len);
            let hedge_at = if hedging && !hedged && in_flight == 1 && next < max_attempts {
                let first = &site.origins[order[next - 1]];
                let p95 = first
                    .health
                    .p95_ttfb()
                    .unwrap_or(site.cfg.timeouts.first_byte);
                Some(log.started + p95.max(site.cfg.retries.hedge_min_delay))
            } else {
                None
            };
            // Every attempt's own timeout is capped by the request deadline, so waiting for the
            // next outcome can never outlive the budget; only a hedge needs a second timer.
            let done = match (queued.take(), hedge_at) {
                (Some((index, req)), _) => {
                    Some(attempt(upstream, site, index, req, deadline, as_lines).await)
                }
                (None, None) => next_done(&mut inflight).await,
                (None, Some(at)) => tokio::select! {
                    biased;
                    done = next_done(&mut inflight) => done,
                    _ = tokio::time::sleep_until(at.into()) => {
                        hedged = true;
                        if state.budget.load().try_withdraw() {
                            if launch(fwd, &mut next, &mut queued, &mut inflight)? {
                                log.attempts += 1;
                                site.metrics.hedges.inc();
                            }
                        } else {
                            state.metrics.retry_budget_exhausted.inc();
                        }
                        continue;
                    }
                },
            };
            let Some((index, outcome)) = done else { break };
            let origin = &site.origins[index];
            if let Outcome::Answer(resp, ttfb) = outcome {
                origin.metrics.attempts_ok.inc();
                origin.metrics.ttfb.observe(ttfb);
                log.origin_ttfb = Some(ttfb);
                return Ok((resp, origin));
            }
            state
                .metrics
                .attempts
                .get_or_create(&crate::metrics::AttemptLabels {
                    site: site.cfg.name.clone(),
                    origin: origin.cfg.name.clone(),
                    outcome: outcome.label(),
                })
                .inc();
            let retry_ok = match outcome {
                Outcome::Answer(..) => false,
                Outcome::BadStatus(resp, ttfb) => {
                    last_error =
                        format!("origin {} answered {}", origin.cfg.name, resp.status()).into();
                    let ok = fwd.replay_safe || resp.status() == StatusCode::TOO_MANY_REQUESTS;
                    fallback = Some((resp, index, ttfb));
                    ok
                }
                Outcome::ConnectFailed(e) => {
                    last_error =
                        format!("cannot connect to origin {}: {e}", origin.cfg.name).into();
                    true
                }
                Outcome::TimedOut => {
                    any_timeout = true;
                    last_error = if Instant::now() >= deadline {
                        "no origin answered within the request's time budget".into()
                    } else {
                        format!(
                            "origin {} sent no response within the first-byte deadline",
                            origin.cfg.name
                        )
                        .into()
                    };
                    fwd.replay_safe
                }
                Outcome::Failed(e) => {
                    last_error = format!("origin {} failed: {e}", origin.cfg.name).into();
                    fwd.replay_safe
                }
            };
            if fwd.body_fault() != Fault::None {
                return Err(body_fault_reject(fwd.body_fault()));
            }
            let more = retry_ok && next < max_attempts && Instant::now() < deadline;
            if more && inflight.as_ref().is_none_or(FuturesUnordered::is_empty) {
                if state.budget.load().try_withdraw() {
                    if launch(fwd, &mut next, &mut queued, &mut inflight)? {
                        log.attempts += 1;
                        site.metrics.failovers.inc();
                        // A replaced answer is worth nothing now: the next origin decides.
                        fallback = None;
                    }
                } else {
                    state.metrics.retry_budget_exhausted.inc();
                    last_error.to_mut().push_str(" (retry budget exhausted)");
                }
            }
            if inflight.as_ref().is_none_or(FuturesUnordered::is_empty) && queued.is_none() {
                break;
            }
        }
        if let Some((resp, index, ttfb)) = fallback {
            log.origin_ttfb = Some(ttfb);
            return Ok((resp, &site.origins[index]));
        }
        if fwd.body_fault() != Fault::None {
            return Err(body_fault_reject(fwd.body_fault()));
        }
        let last_error = last_error.into_owned();
        log.error = Some(last_error.clone());
        let status = if any_timeout {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        Err(Reject::new(status, last_error))
    }
}

/// The next hedged attempt to finish, or None when none is racing.
async fn next_done<F: std::future::Future>(
    inflight: &mut Option<FuturesUnordered<F>>,
) -> Option<F::Output> {
    match inflight {
        Some(racing) => racing.next().await,
        None => None,
    }
}

/// Splices the client and origin connections after a `101 Switching Protocols`.
/// The tunnel ends when either side closes, or when the node's shutdown closes connections.
fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    response: &mut Response<Incoming>,
    close: tokio_util::sync::CancellationToken,
) {
    let origin = hyper::upgrade::on(response);
    tokio::spawn(async move {
        let splice = async {
            let (Ok(client), Ok(origin)) = (client.await, origin.await) else {
                return;
            };
            let mut client = hyper_util::rt::TokioIo::new(client);
            let mut origin = hyper_util::rt::TokioIo::new(origin);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut origin).await;
        };
        tokio::select! {
            () = splice => {}
            () = close.cancelled() => {}
        }
    });
}

/// Turns the origin's response into the client's: hop-by-hop headers out, node headers in.
fn respond(
    rt: &Runtime,
    site: &SiteRuntime,
    origin: &OriginRuntime,
    response: Box<Response<OriginBody>>,
    log: &mut RequestLog,
) -> Response<ResponseBody> {
    let (mut parts, mut incoming) = (*response).into_parts();
    // The origin's protocol version describes its connection, not the client's; hyper picks
    // the right one for the client connection from the default.
    parts.version = Version::default();
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    // `origin_h1` already consumed the connection-level fields of the heads it parses.
    if switching || matches!(incoming, OriginBody::Pooled(_)) {
        strip_hop_by_hop(&mut parts.headers, switching);
    }
    if switching {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    let lines = match &mut incoming {
        OriginBody::Direct(body) => body.take_lines(),
        OriginBody::Pooled(_) => None,
    };
    match lines {
        // The writer puts the node's `Via` and `X-Origin` after the origin's lines (an
        // origin's own `Via` entries come first either way).
        Some(fields) => {
            log.origin_lines = Some(OriginLines {
                fields,
                origin: origin.label.clone(),
                labels: None,
            });
        }
        None => {
            append_value(&mut parts.headers, header::VIA, &rt.via);
            parts.headers.insert(names::X_ORIGIN, origin.label.clone());
        }
    }
    log.set_origin(&origin.cfg.name);
    let idle = site.cfg.timeouts.request;
    let body = crate::observe::IdleTimeoutBody::new(incoming, idle).boxed_unsync();
    Response::from_parts(parts, body)
}

fn reject_response(log: &mut RequestLog, reject: Reject) -> Response<ResponseBody> {
    if log.error.is_none() {
        log.error = Some(reject.reason.clone());
    }
    let mut r = Response::new(body::full(format!("{}\n", reject.reason)));
    *r.status_mut() = reject.status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if reject.close {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}
