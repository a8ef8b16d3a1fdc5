//! Invalidation by unsafe methods (RFC 9111 §4.4).

use http::header::{HeaderMap, CONTENT_LOCATION, LOCATION};
use http::{Method, StatusCode, Uri};

use crate::key::normalize_host;

/// Safe methods (RFC 9110 §9.2.1); every other method, known or not, is unsafe.
pub fn is_safe_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The same-origin URIs (as path-and-query) whose stored responses must be invalidated after a
/// response to `method` (RFC 9111 §4.4): when the method is unsafe and the status is 2xx or 3xx,
/// the target URI, plus the URIs in `Location` and `Content-Location` when they have the same
/// origin (scheme and host) as the target — other origins are never invalidated, so a response
/// cannot be used to wipe another site's entries. Relative references are resolved against the
/// target's path (without dot-segment removal: such a reference is skipped).
pub fn invalidated_uris(
    method: &Method,
    status: StatusCode,
    scheme: &str,
    host: &str,
    target: &str,
    response_headers: &HeaderMap,
) -> Vec<String> {
    if is_safe_method(method) || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let mut uris = vec![target.to_string()];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(value) = response_headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(uri) = same_origin_path(value.trim(), scheme, host, target) {
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    uris
}

/// Resolves a `Location`/`Content-Location` reference to a path-and-query when it is on the
/// target's origin.
fn same_origin_path(reference: &str, scheme: &str, host: &str, target: &str) -> Option<String> {
    if reference
        .split(['?', '#'])
        .next()?
        .split('/')
        .any(|s| s == "." || s == "..")
    {
        return None;
    }
    let reference = reference.split('#').next()?;
    if reference.starts_with('/') && !reference.starts_with("//") {
        return Some(reference.to_string());
    }
    // a network-path reference (`//host/path`) takes the target's scheme (RFC 3986 §5.2.2)
    let absolute = match reference.strip_prefix("//") {
        Some(_) => format!("{scheme}:{reference}"),
        None => reference.to_string(),
    };
    let uri: Uri = absolute.parse().ok()?;
    if let (Some(ref_scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        let ref_scheme = ref_scheme.to_ascii_lowercase();
        let scheme = scheme.to_ascii_lowercase();
        let same = ref_scheme == scheme
            && normalize_host(&ref_scheme, authority.as_str()) == normalize_host(&scheme, host);
        let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
        return same.then(|| path.to_string());
    }
    if reference.contains(':') || reference.is_empty() {
        return None; // another scheme (mailto:, …) or nothing
    }
    let target_path = target.split('?').next().unwrap_or_default();
    let base = target_path.rfind('/').map_or("/", |i| &target_path[..=i]);
    Some(format!("{base}{reference}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;

    fn inv(method: Method, status: u16, resp: &[(&str, &str)]) -> Vec<String> {
        invalidated_uris(
            &method,
            StatusCode::from_u16(status).unwrap(),
            "https",
            "example.com",
            "/items/7?x=1",
            &h(resp),
        )
    }

    #[test]
    fn safe_methods_and_errors_invalidate_nothing() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(inv(m, 200, &[]).is_empty());
        }
        for s in [100, 400, 404, 500, 503] {
            assert!(inv(Method::POST, s, &[]).is_empty(), "{s}");
        }
    }

    #[test]
    fn unsafe_success_invalidates_the_target() {
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(inv(m, 200, &[]), ["/items/7?x=1"]);
        }
        let custom = Method::from_bytes(b"PURGEME").unwrap();
        assert_eq!(inv(custom, 204, &[]), ["/items/7?x=1"]);
        assert_eq!(inv(Method::POST, 303, &[]), ["/items/7?x=1"]);
    }

    #[test]
    fn location_and_content_location_on_the_same_origin() {
        assert_eq!(
            inv(
                Method::POST,
                201,
                &[
                    ("location", "/items/8"),
                    ("content-location", "https://EXAMPLE.com:443/items/8/v?a")
                ]
            ),
            ["/items/7?x=1", "/items/8", "/items/8/v?a"]
        );
        assert_eq!(
            inv(Method::PUT, 200, &[("content-location", "8#frag")]),
            ["/items/7?x=1", "/items/8"]
        );
        assert_eq!(
            inv(Method::PUT, 200, &[("location", "https://example.com")]),
            ["/items/7?x=1", "/"]
        );
        assert_eq!(
            inv(Method::PUT, 200, &[("location", "//example.com/y")]),
            ["/items/7?x=1", "/y"]
        );
        // duplicates are listed once
        assert_eq!(
            inv(Method::PUT, 200, &[("location", "/items/7?x=1")]),
            ["/items/7?x=1"]
        );
    }

    #[test]
    fn other_origins_are_never_invalidated() {
        for loc in [
            "https://other.example/items/8",
            "http://example.com/items/8",
            "https://example.com:8443/items/8",
            "//other.example/items/8",
            "//example.com:8443/x",
            "mailto:a@example.com",
            "/items/../admin",
            "./x",
            "",
        ] {
            assert_eq!(
                inv(Method::POST, 201, &[("location", loc)]),
                ["/items/7?x=1"],
                "{loc:?}"
            );
        }
    }
}
