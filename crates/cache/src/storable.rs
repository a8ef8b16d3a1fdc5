//! May this shared cache store a response (RFC 9111 §3), with the project's stricter rules.

use http::header::{HeaderMap, AUTHORIZATION, EXPIRES, SET_COOKIE, VARY};
use http::{Method, StatusCode};

use crate::directives::{response_directives, split_list, DirectiveSource, Directives};
use crate::freshness::is_heuristically_cacheable;

/// Per-route permissions that relax the defaults. All `false` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteStorage {
    /// POST responses may be stored, keyed by a hash of the request body (see the key module).
    pub allow_post: bool,
    /// Responses to requests carrying `Authorization` may be stored (still only when RFC 9111
    /// §3.5 allows it).
    pub allow_authorization: bool,
    /// Responses carrying `Set-Cookie` may be stored.
    pub allow_set_cookie: bool,
}

/// Why a response was not stored; [`NotStorable::detail`] names it for `Cache-Status`
/// `detail` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// The request method is not cacheable here (§3: GET, HEAD; POST only on allowed routes).
    Method,
    /// The status is not final, or is one this cache does not store (206, 304) (§3).
    Status,
    /// `no-store` in the request (§5.2.1.5).
    RequestNoStore,
    /// `no-store` in the response (§5.2.2.5).
    ResponseNoStore,
    /// `private` in the response (§5.2.2.7): not for a shared cache.
    Private,
    /// The request carried `Authorization` and the route does not allow it (project rule).
    Authorization,
    /// The request carried `Authorization` and the response lacks `public`, `s-maxage` and
    /// `must-revalidate` (§3.5).
    AuthorizationNotPermitted,
    /// The response carries `Set-Cookie` and the route does not allow it (project rule).
    SetCookie,
    /// `Vary: *` can never match a later request (§4.1).
    VaryStar,
    /// `must-understand` on a status code this cache does not understand (§5.2.2.3).
    MustUnderstand,
    /// No explicit freshness, not `public`, and a status that is not heuristically cacheable
    /// (§3, last condition).
    NoFreshnessInformation,
}

impl NotStorable {
    /// A short token for `Cache-Status; detail=` and logs.
    pub fn detail(self) -> &'static str {
        match self {
            NotStorable::Method => "method",
            NotStorable::Status => "status",
            NotStorable::RequestNoStore => "request-no-store",
            NotStorable::ResponseNoStore => "no-store",
            NotStorable::Private => "private",
            NotStorable::Authorization => "authorization",
            NotStorable::AuthorizationNotPermitted => "authorization-not-public",
            NotStorable::SetCookie => "set-cookie",
            NotStorable::VaryStar => "vary-star",
            NotStorable::MustUnderstand => "must-understand",
            NotStorable::NoFreshnessInformation => "no-freshness",
        }
    }
}

/// The request side of the exchange, as seen by [`storability`].
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// The response side of the exchange.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    /// The final status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
}

/// Decides whether a shared cache may store `response` to `request` (RFC 9111 §3), checking in
/// order: method, status, `no-store` (request, then response; `must-understand` with an
/// understood status overrides the response's `no-store`, §5.2.2.3), `private`,
/// `Authorization` (project rule, then §3.5), `Set-Cookie` (project rule), `Vary: *`, and
/// finally that some freshness information exists.
pub fn storability(
    request: RequestParts<'_>,
    response: ResponseParts<'_>,
    route: &RouteStorage,
) -> Result<(), NotStorable> {
    let (resp, source) = response_directives(response.headers);
    check_method(request.method, route)?;
    check_status(response.status)?;
    check_no_store(request.headers, &resp, response.status)?;
    if resp.private {
        return Err(NotStorable::Private);
    }
    check_authorization(request.headers, &resp, route)?;
    if response.headers.contains_key(SET_COOKIE) && !route.allow_set_cookie {
        return Err(NotStorable::SetCookie);
    }
    if has_vary_star(response.headers) {
        return Err(NotStorable::VaryStar);
    }
    check_freshness_information(response, &resp, source)
}

/// §3: the method must be cacheable: GET and HEAD; POST only when the route keys on the body.
fn check_method(method: &Method, route: &RouteStorage) -> Result<(), NotStorable> {
    let ok = *method == Method::GET
        || *method == Method::HEAD
        || (*method == Method::POST && route.allow_post);
    ok.then_some(()).ok_or(NotStorable::Method)
}

/// Status codes whose semantics this cache implements, for `must-understand` (§5.2.2.3).
/// Without `must-understand`, any final status but 206 and 304 may be stored (§3): 206 needs
/// range combination and 304 updates a stored response rather than being stored (§4.3.4).
pub fn is_understood_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203
            | 204
            | 300
            | 301
            | 302
            | 303
            | 307
            | 308
            | 400
            | 403
            | 404
            | 405
            | 410
            | 414
            | 421
            | 451
            | 500
            | 501
            | 502
            | 503
            | 504
    )
}

fn check_status(status: StatusCode) -> Result<(), NotStorable> {
    (status.as_u16() >= 200
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NOT_MODIFIED)
        .then_some(())
        .ok_or(NotStorable::Status)
}

/// `no-store` in the request (§5.2.1.5) or response (§5.2.2.5). A response with
/// `must-understand` (§5.2.2.3) ignores its `no-store` when the status is understood, and is
/// not stored at all otherwise.
fn check_no_store(
    request_headers: &HeaderMap,
    resp: &Directives,
    status: StatusCode,
) -> Result<(), NotStorable> {
    if Directives::from_cache_control(request_headers).no_store {
        return Err(NotStorable::RequestNoStore);
    }
    if resp.must_understand {
        return is_understood_status(status)
            .then_some(())
            .ok_or(NotStorable::MustUnderstand);
    }
    if resp.no_store {
        return Err(NotStorable::ResponseNoStore);
    }
    Ok(())
}

/// A request with `Authorization`: refused unless the route allows it (project rule); then, per
/// §3.5, only when the response has `public`, `s-maxage` or `must-revalidate`.
fn check_authorization(
    request_headers: &HeaderMap,
    resp: &Directives,
    route: &RouteStorage,
) -> Result<(), NotStorable> {
    if !request_headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    if !route.allow_authorization {
        return Err(NotStorable::Authorization);
    }
    (resp.public || resp.s_maxage.is_some() || resp.must_revalidate)
        .then_some(())
        .ok_or(NotStorable::AuthorizationNotPermitted)
}

/// `Vary` containing `*` (§4.1: "always fails to match"), in any field line or list member.
pub fn has_vary_star(headers: &HeaderMap) -> bool {
    headers
        .get_all(VARY)
        .iter()
        .any(|v| split_list(&String::from_utf8_lossy(v.as_bytes())).contains(&"*"))
}

/// §3, last condition: the response has `public`, `Expires` (ignored under
/// `CDN-Cache-Control`), `max-age`, `s-maxage`, or a heuristically cacheable status.
fn check_freshness_information(
    response: ResponseParts<'_>,
    resp: &Directives,
    source: DirectiveSource,
) -> Result<(), NotStorable> {
    let has_expires =
        source == DirectiveSource::CacheControl && response.headers.contains_key(EXPIRES);
    let ok = resp.public
        || resp.max_age.is_some()
        || resp.s_maxage.is_some()
        || has_expires
        || is_heuristically_cacheable(response.status);
    ok.then_some(()).ok_or(NotStorable::NoFreshnessInformation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;

    fn check(
        method: Method,
        req: &[(&str, &str)],
        status: u16,
        resp: &[(&str, &str)],
        route: RouteStorage,
    ) -> Result<(), NotStorable> {
        let (rq, rs) = (h(req), h(resp));
        storability(
            RequestParts {
                method: &method,
                headers: &rq,
            },
            ResponseParts {
                status: StatusCode::from_u16(status).unwrap(),
                headers: &rs,
            },
            &route,
        )
    }

    fn get(req: &[(&str, &str)], status: u16, resp: &[(&str, &str)]) -> Result<(), NotStorable> {
        check(Method::GET, req, status, resp, RouteStorage::default())
    }

    const MAX_AGE: (&str, &str) = ("cache-control", "max-age=60");

    #[test]
    fn methods() {
        assert_eq!(get(&[], 200, &[MAX_AGE]), Ok(()));
        let d = RouteStorage::default();
        assert_eq!(check(Method::HEAD, &[], 200, &[MAX_AGE], d), Ok(()));
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert_eq!(check(m, &[], 200, &[MAX_AGE], d), Err(NotStorable::Method));
        }
        let post = RouteStorage {
            allow_post: true,
            ..d
        };
        assert_eq!(check(Method::POST, &[], 200, &[MAX_AGE], post), Ok(()));
        assert_eq!(
            check(Method::PUT, &[], 200, &[MAX_AGE], post),
            Err(NotStorable::Method)
        );
    }

    #[test]
    fn statuses() {
        for s in [100, 101, 206, 304] {
            assert_eq!(get(&[], s, &[MAX_AGE]), Err(NotStorable::Status), "{s}");
        }
        for s in [200, 204, 301, 302, 404, 500, 503, 599] {
            assert_eq!(get(&[], s, &[MAX_AGE]), Ok(()), "{s}");
        }
    }

    #[test]
    fn no_store_in_request_or_response() {
        assert_eq!(
            get(&[("cache-control", "no-store")], 200, &[MAX_AGE]),
            Err(NotStorable::RequestNoStore)
        );
        assert_eq!(
            get(&[], 200, &[("cache-control", "max-age=60, No-Store")]),
            Err(NotStorable::ResponseNoStore)
        );
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("cache-control", "no-store")]),
            Err(NotStorable::ResponseNoStore)
        );
        // CDN-Cache-Control rules: its no-store wins, and it lifts Cache-Control's no-store
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("cdn-cache-control", "no-store")]),
            Err(NotStorable::ResponseNoStore)
        );
        assert_eq!(
            get(
                &[],
                200,
                &[
                    ("cache-control", "no-store"),
                    ("cdn-cache-control", "max-age=5")
                ]
            ),
            Ok(())
        );
    }

    #[test]
    fn must_understand() {
        let mu = ("cache-control", "max-age=60, must-understand, no-store");
        assert_eq!(get(&[], 200, &[mu]), Ok(()));
        assert_eq!(get(&[], 299, &[mu]), Err(NotStorable::MustUnderstand));
    }

    #[test]
    fn private_is_never_stored() {
        for cc in [
            "private",
            "max-age=60, private",
            "private=\"set-cookie\", max-age=60",
        ] {
            assert_eq!(
                get(&[], 200, &[("cache-control", cc)]),
                Err(NotStorable::Private),
                "{cc}"
            );
        }
        assert_eq!(
            get(
                &[],
                200,
                &[
                    ("cache-control", "max-age=60"),
                    ("cdn-cache-control", "private")
                ]
            ),
            Err(NotStorable::Private)
        );
    }

    #[test]
    fn authorization_needs_the_route_and_3_5() {
        let auth = [("authorization", "Bearer x")];
        for cc in ["max-age=60", "public, max-age=60", "s-maxage=60"] {
            assert_eq!(
                get(&auth, 200, &[("cache-control", cc)]),
                Err(NotStorable::Authorization),
                "{cc}"
            );
        }
        let route = RouteStorage {
            allow_authorization: true,
            ..RouteStorage::default()
        };
        let with = |cc| check(Method::GET, &auth, 200, &[("cache-control", cc)], route);
        assert_eq!(
            with("max-age=60"),
            Err(NotStorable::AuthorizationNotPermitted)
        );
        assert_eq!(with("public, max-age=60"), Ok(()));
        assert_eq!(with("s-maxage=60"), Ok(()));
        assert_eq!(with("max-age=60, must-revalidate"), Ok(()));
    }

    #[test]
    fn set_cookie_needs_the_route() {
        let resp = [MAX_AGE, ("set-cookie", "a=b")];
        assert_eq!(get(&[], 200, &resp), Err(NotStorable::SetCookie));
        let route = RouteStorage {
            allow_set_cookie: true,
            ..RouteStorage::default()
        };
        assert_eq!(check(Method::GET, &[], 200, &resp, route), Ok(()));
    }

    #[test]
    fn vary_star() {
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("vary", "*")]),
            Err(NotStorable::VaryStar)
        );
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("vary", "accept-encoding, *")]),
            Err(NotStorable::VaryStar)
        );
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("vary", "accept"), ("vary", "*")]),
            Err(NotStorable::VaryStar)
        );
        assert_eq!(
            get(&[], 200, &[MAX_AGE, ("vary", "accept-encoding")]),
            Ok(())
        );
    }

    #[test]
    fn freshness_information_required_for_other_statuses() {
        assert_eq!(get(&[], 200, &[]), Ok(()), "heuristically cacheable");
        assert_eq!(get(&[], 500, &[]), Err(NotStorable::NoFreshnessInformation));
        assert_eq!(get(&[], 302, &[]), Err(NotStorable::NoFreshnessInformation));
        assert_eq!(get(&[], 302, &[("expires", "0")]), Ok(()));
        assert_eq!(get(&[], 302, &[("cache-control", "public")]), Ok(()));
        assert_eq!(get(&[], 302, &[("cache-control", "s-maxage=5")]), Ok(()));
        // Expires does not count under CDN-Cache-Control
        assert_eq!(
            get(
                &[],
                302,
                &[("expires", "0"), ("cdn-cache-control", "no-cache")]
            ),
            Err(NotStorable::NoFreshnessInformation)
        );
    }

    #[test]
    fn details_are_distinct_tokens() {
        let all = [
            NotStorable::Method,
            NotStorable::Status,
            NotStorable::RequestNoStore,
            NotStorable::ResponseNoStore,
            NotStorable::Private,
            NotStorable::Authorization,
            NotStorable::AuthorizationNotPermitted,
            NotStorable::SetCookie,
            NotStorable::VaryStar,
            NotStorable::MustUnderstand,
            NotStorable::NoFreshnessInformation,
        ];
        let mut names: Vec<_> = all.iter().map(|r| r.detail()).collect();
        assert!(names
            .iter()
            .all(|n| n.bytes().all(crate::directives::is_tchar)));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
