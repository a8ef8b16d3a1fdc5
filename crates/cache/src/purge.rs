//! Purge targets (by URL, prefix, tag, whole site), their validation, and which stored entries
//! they match; cache tags from `Cache-Tag` / `Surrogate-Key` response headers.

use std::fmt;

use http::header::HeaderMap;
use http::Uri;

use crate::key::{normalize_host, normalize_percent_encoding, CacheKey};

/// The longest tag kept or accepted, in bytes.
pub const MAX_TAG_LEN: usize = 1024;
/// The most tags kept per response; later ones are dropped.
pub const MAX_TAGS: usize = 256;

/// What a purge removes (or marks stale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    /// One URL, normalised like a primary key: `scheme://host/path?query`.
    Url(String),
    /// Every URL starting with this normalised prefix (`scheme://host/path…`).
    Prefix(String),
    /// Every entry whose response carried this tag.
    Tag(String),
    /// Every entry of a host (lowercased, default port dropped).
    Site(String),
}

/// Why a purge target was refused (the admin API answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeError {
    /// Not an absolute `http`/`https` URL with a host.
    NotAbsoluteHttpUrl,
    /// A tag or host that is empty.
    Empty,
    /// A tag containing whitespace, a comma or a control character.
    InvalidTag,
    /// A tag longer than [`MAX_TAG_LEN`] bytes.
    TooLong,
    /// A host with characters a host cannot have.
    InvalidHost,
}

impl fmt::Display for PurgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PurgeError::NotAbsoluteHttpUrl => "expected an absolute http(s) URL with a host",
            PurgeError::Empty => "empty",
            PurgeError::InvalidTag => {
                "a tag cannot contain whitespace, commas or control characters"
            }
            PurgeError::TooLong => "tag longer than 1024 bytes",
            PurgeError::InvalidHost => "invalid host",
        })
    }
}

impl std::error::Error for PurgeError {}

impl PurgeTarget {
    /// A URL purge; the URL is normalised as keys are (scheme and host lowercased, default
    /// port dropped, percent-encoding normalised, empty path as `/`). Query filtering rules of
    /// the route are the caller's to apply first.
    pub fn url(url: &str) -> Result<PurgeTarget, PurgeError> {
        normalized_url(url).map(PurgeTarget::Url)
    }

    /// A prefix purge, normalised like [`Self::url`].
    pub fn prefix(prefix: &str) -> Result<PurgeTarget, PurgeError> {
        normalized_url(prefix).map(PurgeTarget::Prefix)
    }

    /// A tag purge: 1 to [`MAX_TAG_LEN`] bytes of visible ASCII or UTF-8, no commas, no
    /// whitespace.
    pub fn tag(tag: &str) -> Result<PurgeTarget, PurgeError> {
        validate_tag(tag).map(|()| PurgeTarget::Tag(tag.to_string()))
    }

    /// A whole-site purge of one host.
    pub fn site(host: &str) -> Result<PurgeTarget, PurgeError> {
        if host.is_empty() {
            return Err(PurgeError::Empty);
        }
        let ok = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
        if !ok {
            return Err(PurgeError::InvalidHost);
        }
        Ok(PurgeTarget::Site(host.to_ascii_lowercase()))
    }

    /// Whether an entry stored under `key`, whose response carried `tags`, is purged. Keys of
    /// every config version match. Body-keyed entries (`scheme://host#uuid`) match only site and
    /// tag purges.
    pub fn matches(&self, key: &CacheKey, tags: &[String]) -> bool {
        let url = key.url();
        match self {
            PurgeTarget::Url(target) => url == target,
            PurgeTarget::Prefix(prefix) => !url.contains('#') && url.starts_with(prefix.as_str()),
            PurgeTarget::Tag(tag) => tags.iter().any(|t| t == tag),
            PurgeTarget::Site(host) => key_host(url) == host,
        }
    }
}

fn normalized_url(text: &str) -> Result<String, PurgeError> {
    let uri: Uri = text
        .trim()
        .parse()
        .map_err(|_| PurgeError::NotAbsoluteHttpUrl)?;
    let scheme = uri
        .scheme_str()
        .map(str::to_ascii_lowercase)
        .filter(|s| s == "http" || s == "https")
        .ok_or(PurgeError::NotAbsoluteHttpUrl)?;
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
        .ok_or(PurgeError::NotAbsoluteHttpUrl)?;
    let host = normalize_host(&scheme, authority.as_str());
    let path = normalize_percent_encoding(uri.path());
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let query = uri
        .query()
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{}", normalize_percent_encoding(q)))
        .unwrap_or_default();
    Ok(format!("{scheme}://{host}{path}{query}"))
}

fn key_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '#', '?']).unwrap_or(rest.len());
    &rest[..end]
}

fn validate_tag(tag: &str) -> Result<(), PurgeError> {
    if tag.is_empty() {
        return Err(PurgeError::Empty);
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(PurgeError::TooLong);
    }
    if tag
        .chars()
        .any(|c| c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err(PurgeError::InvalidTag);
    }
    Ok(())
}

/// The tags of a response: `Cache-Tag` (comma-separated) and `Surrogate-Key`
/// (space-separated), in order, without duplicates; invalid or over-long tags are dropped and
/// at most [`MAX_TAGS`] are kept. Tags compare exactly (case-sensitive).
pub fn response_tags(headers: &HeaderMap) -> Vec<String> {
    let comma = headers.get_all("cache-tag").iter().map(|v| (v, ','));
    let space = headers.get_all("surrogate-key").iter().map(|v| (v, ' '));
    let mut tags: Vec<String> = Vec::new();
    for (value, sep) in comma.chain(space) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for tag in text.split(sep).map(str::trim) {
            if tags.len() >= MAX_TAGS {
                return tags;
            }
            if validate_tag(tag).is_ok() && !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{primary_key, request_key, CanonicalRequest, KeyRules};
    use crate::test_support::h;
    use http::Method;

    fn key(host: &str, pq: &str, version: &str) -> CacheKey {
        primary_key("https", host, pq, version, &KeyRules::default())
    }

    #[test]
    fn url_purge_matches_every_config_version_after_normalisation() {
        let t = PurgeTarget::url("HTTPS://Example.com:443/%7Ea/b?x=%7e").unwrap();
        assert_eq!(t, PurgeTarget::Url("https://example.com/~a/b?x=~".into()));
        assert!(t.matches(&key("example.com", "/~a/b?x=~", "v1"), &[]));
        assert!(t.matches(&key("example.com", "/%7ea/b?x=~", "v2|x"), &[]));
        assert!(!t.matches(&key("example.com", "/~a/b", "v1"), &[]));
        assert!(!t.matches(&key("example.org", "/~a/b?x=~", "v1"), &[]));
        let root = PurgeTarget::url("https://example.com").unwrap();
        assert!(root.matches(&key("example.com", "", "v"), &[]));
    }

    #[test]
    fn prefix_purge() {
        let t = PurgeTarget::prefix("https://example.com/blog/").unwrap();
        assert!(t.matches(&key("example.com", "/blog/", "v"), &[]));
        assert!(t.matches(&key("example.com", "/blog/a?b=1", "v"), &[]));
        assert!(!t.matches(&key("example.com", "/blo", "v"), &[]));
        assert!(!t.matches(&key("example.com.evil", "/blog/", "v"), &[]));
    }

    #[test]
    fn tag_and_site_purge() {
        let tag = PurgeTarget::tag("product-7").unwrap();
        let k = key("example.com", "/p/7", "v");
        assert!(tag.matches(&k, &["a".into(), "product-7".into()]));
        assert!(!tag.matches(&k, &["Product-7".into()]));
        let site = PurgeTarget::site("Example.com").unwrap();
        assert!(site.matches(&k, &[]));
        assert!(!site.matches(&key("example.org", "/", "v"), &[]));
        assert!(!site.matches(&key("example.com:8443", "/", "v"), &[]));
        // body-keyed entries: site and tag purges only
        let headers = HeaderMap::new();
        let req = CanonicalRequest {
            method: &Method::POST,
            path_and_query: "/graphql",
            headers: &headers,
            key_headers: &[],
            body_hash: &[1],
        };
        let post = request_key("https", "example.com", &req, "v");
        assert!(site.matches(&post, &[]));
        assert!(!PurgeTarget::prefix("https://example.com/")
            .unwrap()
            .matches(&post, &[]));
    }

    #[test]
    fn malformed_targets_are_refused() {
        for bad in [
            "",
            "/relative",
            "example.com/x",
            "ftp://example.com/",
            "https://",
            "https://user@example.com/",
            "not a url",
        ] {
            assert_eq!(
                PurgeTarget::url(bad),
                Err(PurgeError::NotAbsoluteHttpUrl),
                "{bad:?}"
            );
            assert!(PurgeTarget::prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(PurgeTarget::tag(""), Err(PurgeError::Empty));
        assert_eq!(PurgeTarget::tag("a b"), Err(PurgeError::InvalidTag));
        assert_eq!(PurgeTarget::tag("a,b"), Err(PurgeError::InvalidTag));
        assert_eq!(PurgeTarget::tag("a\u{1}"), Err(PurgeError::InvalidTag));
        assert_eq!(
            PurgeTarget::tag(&"x".repeat(1025)),
            Err(PurgeError::TooLong)
        );
        assert!(PurgeTarget::tag(&"x".repeat(1024)).is_ok());
        assert_eq!(PurgeTarget::site(""), Err(PurgeError::Empty));
        assert_eq!(PurgeTarget::site("a/b"), Err(PurgeError::InvalidHost));
        assert!(PurgeTarget::site("[::1]:8080").is_ok());
        assert!(!PurgeError::InvalidTag.to_string().is_empty());
    }

    #[test]
    fn tags_from_both_headers() {
        let resp = h(&[
            ("cache-tag", "a, b,,c"),
            ("cache-tag", "a"),
            ("surrogate-key", "  d   e a"),
        ]);
        assert_eq!(response_tags(&resp), ["a", "b", "c", "d", "e"]);
        assert!(response_tags(&HeaderMap::new()).is_empty());
        let long = format!("ok, {}", "x".repeat(1025));
        assert_eq!(response_tags(&h(&[("cache-tag", &long)])), ["ok"]);
        let many: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
        let tags = response_tags(&h(&[("surrogate-key", &many.join(" "))]));
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(tags[0], "t0");
    }
}
