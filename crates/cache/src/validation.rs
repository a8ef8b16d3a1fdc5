//! Validation: what is stored of a response's header fields (RFC 9111 §3.1), the conditional
//! request a cache sends to revalidate (§4.3.1), freshening a stored response from a 304
//! (§4.3.4, §3.2), and answering clients' conditional requests from cache (§4.3.2).

use http::header::{
    HeaderMap, HeaderName, CONNECTION, DATE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    SET_COOKIE,
};
use http::{HeaderValue, Method};

use crate::directives::split_list;

/// Hop-by-hop and proxy-specific fields that are never stored (RFC 9111 §3.1, RFC 9110
/// §7.6.1), besides the fields `Connection` names.
/// Fields a 304 never changes in the stored response: they describe the stored content itself
/// (its length, coding, digest, range) or identify it (`ETag`), so taking them from a 304
/// would make the stored headers lie about the stored body (RFC 9111 §3.2 names
/// `Content-Length`; http-cache-tests requires the rest).
const NOT_UPDATED_BY_304: &[&str] = &[
    "content-length",
    "content-encoding",
    "content-md5",
    "content-range",
    "etag",
];

const NEVER_STORED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authentication-info",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The names listed in `Connection` (RFC 9110 §7.6.1), lowercased.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| {
            split_list(&String::from_utf8_lossy(v.as_bytes()))
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether a field of a response with these headers is excluded from storage (RFC 9111 §3.1):
/// hop-by-hop fields, fields named in `Connection`, and proxy-specific fields.
pub fn is_excluded_from_storage(name: &HeaderName, listed_in_connection: &[String]) -> bool {
    NEVER_STORED.contains(&name.as_str()) || listed_in_connection.iter().any(|n| n == name.as_str())
}

/// The header fields to store for a response (RFC 9111 §3.1): all received fields except
/// those [`is_excluded_from_storage`] names.
pub fn headers_to_store(response_headers: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(response_headers);
    let mut out = HeaderMap::with_capacity(response_headers.len());
    for (name, value) in response_headers {
        if !is_excluded_from_storage(name, &listed) {
            out.append(name.clone(), compact(value));
        }
    }
    out
}

/// A copy of `value` that owns its bytes. Values parsed by hyper share the connection's read
/// buffer; storing such a value would pin that whole buffer (kilobytes) for as long as the
/// entry lives, which once made a cached 1 KiB object cost 13 KiB of memory.
fn compact(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

/// Validators for revalidating a stored response (RFC 9111 §4.3.1): `If-None-Match` with the
/// stored `ETag`, `If-Modified-Since` with the stored `Last-Modified`. Empty when the stored
/// response has neither (then the cache can only refetch).
pub fn conditional_request_headers(stored: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Some(etag) = stored.get(ETAG) {
        out.insert(IF_NONE_MATCH, etag.clone());
    }
    if let Some(last_modified) = stored.get(LAST_MODIFIED) {
        out.insert(IF_MODIFIED_SINCE, last_modified.clone());
    }
    out
}

/// Does a 304 refer to this stored response (RFC 9111 §4.3.4)? With an `ETag` in the 304, the
/// stored response must carry the same entity-tag (same strength); else with a `Last-Modified`
/// in the 304, the same date; with neither, the (single) stored response is selected.
pub fn not_modified_selects(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let same = |name: HeaderName| {
        not_modified.get(&name).map(|v| {
            stored
                .get(&name)
                .is_some_and(|s| s.as_bytes().trim_ascii() == v.as_bytes().trim_ascii())
        })
    };
    same(ETAG).or_else(|| same(LAST_MODIFIED)).unwrap_or(true)
}

/// Freshens a stored response's header fields from a 304 (RFC 9111 §4.3.4, §3.2): every field
/// in the 304 replaces the stored field of the same name, except fields excluded from storage
/// and `Content-Length` (a 304 has no content; its `Content-Length`, if any, is not the stored
/// content's). `Set-Cookie` is only taken when `allow_set_cookie` (the route's permission):
/// the project never stores a cookie-setting response otherwise.
pub fn freshen_headers(stored: &mut HeaderMap, not_modified: &HeaderMap, allow_set_cookie: bool) {
    let listed = connection_listed(not_modified);
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in not_modified {
        if is_excluded_from_storage(name, &listed)
            || NOT_UPDATED_BY_304.contains(&name.as_str())
            || (name == SET_COOKIE && !allow_set_cookie)
        {
            continue;
        }
        if !replaced.contains(&name) {
            stored.remove(name);
            replaced.push(name);
        }
        stored.append(name.clone(), compact(value));
    }
}

/// An entity-tag (RFC 9110 §8.8.3) split into weakness and opaque tag.
fn split_etag(tag: &str) -> (bool, &str) {
    let tag = tag.trim();
    match tag.strip_prefix("W/") {
        Some(opaque) => (true, opaque),
        None => (false, tag),
    }
}

/// Weak comparison (RFC 9110 §8.8.3.2): the opaque tags are equal, either may be weak.
pub fn weak_match(a: &str, b: &str) -> bool {
    split_etag(a).1 == split_etag(b).1
}

/// Whether a client's conditional GET/HEAD can be answered `304 Not Modified` from the stored
/// response (RFC 9111 §4.3.2, RFC 9110 §13.2.2): `If-None-Match` takes precedence and matches
/// with weak comparison (`*` matches any stored response); otherwise `If-Modified-Since` is
/// compared with the stored `Last-Modified`, or `Date` when that is absent. Other methods, or no
/// usable condition, give `false` (serve the full response).
pub fn answers_not_modified(method: &Method, request: &HeaderMap, stored: &HeaderMap) -> bool {
    if *method != Method::GET && *method != Method::HEAD {
        return false;
    }
    if request.contains_key(IF_NONE_MATCH) {
        return if_none_match_matches(request, stored);
    }
    not_modified_since(request, stored)
}

fn if_none_match_matches(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let stored_etag = stored
        .get(ETAG)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    request.get_all(IF_NONE_MATCH).iter().any(|v| {
        split_list(&String::from_utf8_lossy(v.as_bytes()))
            .into_iter()
            .any(|tag| tag == "*" || stored_etag.as_deref().is_some_and(|s| weak_match(tag, s)))
    })
}

fn not_modified_since(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let date = |headers: &HeaderMap, name: HeaderName| {
        let value: &HeaderValue = headers.get(name)?;
        httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
    };
    let Some(since) = date(request, IF_MODIFIED_SINCE) else {
        return false; // absent or invalid: ignored (RFC 9110 §13.1.3)
    };
    match date(stored, LAST_MODIFIED).or_else(|| date(stored, DATE)) {
        Some(modified) => modified <= since,
        None => false,
    }
}

/// The stored fields a `304` answering a client must carry (RFC 9110 §15.4.5): those of
/// `Content-Location`, `Date`, `ETag`, `Vary`, `Cache-Control` and `Expires`, plus `Last-Modified`
/// for validators.
pub fn not_modified_headers(stored: &HeaderMap) -> HeaderMap {
    const KEPT: &[&str] = &[
        "cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "last-modified",
        "vary",
    ];
    let mut out = HeaderMap::new();
    for (name, value) in stored {
        if KEPT.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;
    use http::header::TRANSFER_ENCODING;

    #[test]
    fn connection_listed_and_hop_by_hop_fields_are_not_stored() {
        let resp = h(&[
            ("connection", "X-Secret, close"),
            ("connection", "x-other"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authenticate", "Basic"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=1"),
            ("x-kept", "3"),
            ("x-kept", "4"),
        ]);
        let stored = headers_to_store(&resp);
        let names: Vec<&str> = stored.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "set-cookie", "x-kept"]);
        assert_eq!(stored.get_all("x-kept").iter().count(), 2);
    }

    #[test]
    fn conditional_request_uses_stored_validators() {
        let stored = h(&[
            ("etag", "\"abc\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let c = conditional_request_headers(&stored);
        assert_eq!(c.get(IF_NONE_MATCH).unwrap(), "\"abc\"");
        assert_eq!(
            c.get(IF_MODIFIED_SINCE).unwrap(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert!(conditional_request_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn which_stored_response_a_304_selects() {
        let stored = h(&[
            ("etag", "\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(not_modified_selects(&stored, &h(&[("etag", "\"v1\"")])));
        assert!(!not_modified_selects(&stored, &h(&[("etag", "\"v2\"")])));
        assert!(!not_modified_selects(&stored, &h(&[("etag", "W/\"v1\"")])));
        assert!(!not_modified_selects(
            &HeaderMap::new(),
            &h(&[("etag", "\"v1\"")])
        ));
        assert!(not_modified_selects(
            &stored,
            &h(&[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")])
        ));
        assert!(!not_modified_selects(
            &stored,
            &h(&[("last-modified", "Mon, 07 Nov 1994 08:49:37 GMT")])
        ));
        assert!(not_modified_selects(&stored, &h(&[("date", "x")])));
    }

    #[test]
    fn a_304_freshens_stored_headers() {
        let mut stored = h(&[
            ("content-length", "1000"),
            ("cache-control", "max-age=10"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("etag", "\"v1\""),
            ("x-untouched", "1"),
        ]);
        let not_modified = h(&[
            ("content-length", "0"),
            ("cache-control", "max-age=3600"),
            ("x-multi", "c"),
            ("x-multi", "d"),
            ("x-new", "n"),
            ("connection", "x-hop"),
            ("x-hop", "h"),
            ("transfer-encoding", "chunked"),
        ]);
        freshen_headers(&mut stored, &not_modified, false);
        assert_eq!(stored.get(http::header::CONTENT_LENGTH).unwrap(), "1000");
        assert_eq!(stored.get("cache-control").unwrap(), "max-age=3600");
        let multi: Vec<_> = stored.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["c", "d"]);
        assert_eq!(stored.get("x-new").unwrap(), "n");
        assert_eq!(stored.get("x-untouched").unwrap(), "1");
        assert_eq!(stored.get(ETAG).unwrap(), "\"v1\"");
        assert!(!stored.contains_key("x-hop"));
        assert!(!stored.contains_key("connection"));
        assert!(!stored.contains_key(TRANSFER_ENCODING));
    }

    #[test]
    fn a_304_adds_set_cookie_only_when_the_route_allows() {
        let not_modified = h(&[("set-cookie", "s=1"), ("etag", "\"v1\"")]);
        let mut stored = h(&[("etag", "\"v1\"")]);
        freshen_headers(&mut stored, &not_modified, false);
        assert!(!stored.contains_key(SET_COOKIE));
        freshen_headers(&mut stored, &not_modified, true);
        assert_eq!(stored.get(SET_COOKIE).unwrap(), "s=1");
    }

    #[test]
    fn weak_comparison_examples() {
        // RFC 9110 §8.8.3.2 table
        assert!(!weak_match("W/\"1\"", "W/\"2\""));
        assert!(weak_match("W/\"1\"", "W/\"1\""));
        assert!(weak_match("W/\"1\"", "\"1\""));
        assert!(weak_match("\"1\"", "\"1\""));
    }

    #[test]
    fn client_if_none_match() {
        let stored = h(&[
            ("etag", "W/\"xyzzy\""),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let ask =
            |inm: &str| answers_not_modified(&Method::GET, &h(&[("if-none-match", inm)]), &stored);
        assert!(ask("\"xyzzy\""));
        assert!(ask("W/\"xyzzy\""));
        assert!(ask("\"r2d2xxxx\", \"c3piozzzz\", W/\"xyzzy\""));
        assert!(ask("*"));
        assert!(!ask("\"other\""));
        assert!(!ask("\"xyz, zy\""));
        // If-None-Match takes precedence over If-Modified-Since
        let both = h(&[
            ("if-none-match", "\"other\""),
            ("if-modified-since", "Mon, 07 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(!answers_not_modified(&Method::GET, &both, &stored));
        // only GET and HEAD
        let r = h(&[("if-none-match", "*")]);
        assert!(answers_not_modified(&Method::HEAD, &r, &stored));
        assert!(!answers_not_modified(&Method::POST, &r, &stored));
        // no stored ETag: only * matches
        let bare = HeaderMap::new();
        assert!(answers_not_modified(&Method::GET, &r, &bare));
        assert!(!answers_not_modified(
            &Method::GET,
            &h(&[("if-none-match", "\"a\"")]),
            &bare
        ));
    }

    #[test]
    fn client_if_modified_since() {
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        let stored = h(&[
            ("last-modified", lm),
            ("date", "Tue, 08 Nov 1994 08:49:37 GMT"),
        ]);
        let ask = |ims: &str, stored: &HeaderMap| {
            answers_not_modified(&Method::GET, &h(&[("if-modified-since", ims)]), stored)
        };
        assert!(ask(lm, &stored));
        assert!(ask("Mon, 07 Nov 1994 08:49:37 GMT", &stored));
        assert!(!ask("Sat, 05 Nov 1994 08:49:37 GMT", &stored));
        assert!(!ask("not a date", &stored));
        // without Last-Modified, Date stands in
        let dated = h(&[("date", "Tue, 08 Nov 1994 08:49:37 GMT")]);
        assert!(!ask("Mon, 07 Nov 1994 08:49:37 GMT", &dated));
        assert!(ask("Wed, 09 Nov 1994 08:49:37 GMT", &dated));
        assert!(!ask(lm, &HeaderMap::new()));
        assert!(!answers_not_modified(
            &Method::GET,
            &HeaderMap::new(),
            &stored
        ));
    }

    #[test]
    fn not_modified_keeps_the_listed_fields() {
        let stored = h(&[
            ("content-type", "text/html"),
            ("content-length", "10"),
            ("etag", "\"a\""),
            ("cache-control", "max-age=5"),
            ("vary", "accept-encoding"),
            ("date", "Tue, 08 Nov 1994 08:49:37 GMT"),
        ]);
        let out = not_modified_headers(&stored);
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["cache-control", "date", "etag", "vary"]);
    }
}
