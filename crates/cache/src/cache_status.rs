//! The `Cache-Status` response header (RFC 9211) and the `x-cache` summary.

use std::fmt::{self, Write as _};

use http::HeaderValue;

use crate::directives::is_tchar;

/// Why the request went forward to the next hop (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The method is not cacheable.
    Method,
    /// No stored response for the URI.
    UriMiss,
    /// Stored responses for the URI, none matching `Vary`.
    VaryMiss,
    /// A miss the cache cannot attribute more precisely.
    Miss,
    /// The request's directives (e.g. `no-cache`) made the cache go forward.
    Request,
    /// The stored response was stale and needed validation.
    Stale,
    /// Only part of the response was stored.
    Partial,
}

impl Forward {
    /// The RFC 9211 token.
    pub fn as_str(self) -> &'static str {
        match self {
            Forward::Bypass => "bypass",
            Forward::Method => "method",
            Forward::UriMiss => "uri-miss",
            Forward::VaryMiss => "vary-miss",
            Forward::Miss => "miss",
            Forward::Request => "request",
            Forward::Stale => "stale",
            Forward::Partial => "partial",
        }
    }
}

/// One cache's member of `Cache-Status` (RFC 9211 §2): the cache's name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    /// The cache's identifier, e.g. `regionless` or a tier name (§2).
    pub cache: String,
    /// Served from cache without going forward (`hit`, §2.1).
    pub hit: bool,
    /// Why it went forward (`fwd`, §2.2). Ignored when `hit` is set.
    pub fwd: Option<Forward>,
    /// The status the next hop answered with (`fwd-status`, §2.3).
    pub fwd_status: Option<u16>,
    /// Remaining freshness in seconds, negative when stale (`ttl`, §2.4).
    pub ttl: Option<i64>,
    /// The response was stored (`stored`, §2.5).
    pub stored: bool,
    /// The request was collapsed with another (`collapsed`, §2.6).
    pub collapsed: bool,
    /// Implementation-specific detail (`detail`, §2.8), e.g. why a response was not stored.
    pub detail: Option<String>,
}

impl CacheStatus {
    /// A hit from `cache` with `ttl` seconds of freshness left (§2.1, §2.4).
    pub fn hit(cache: &str, ttl: i64) -> CacheStatus {
        CacheStatus {
            hit: true,
            ttl: Some(ttl),
            ..CacheStatus::empty(cache)
        }
    }

    /// The header value of a plain hit — what [`Self::hit`] with `collapsed` and a `detail`
    /// token would print — built without the formatting machinery: this runs on every cache
    /// hit. `cache` and `detail` must be Structured Fields tokens.
    pub fn hit_value(cache: &str, ttl: i64, collapsed: bool, detail: &str) -> HeaderValue {
        let ttl = ttl.clamp(-SF_INTEGER_MAX, SF_INTEGER_MAX);
        let mut out = String::with_capacity(cache.len() + detail.len() + 48);
        out.push_str(cache);
        out.push_str("; hit; ttl=");
        out.push_str(&ttl.to_string());
        if collapsed {
            out.push_str("; collapsed");
        }
        out.push_str("; detail=");
        out.push_str(detail);
        HeaderValue::from_maybe_shared(bytes::Bytes::from(out))
            .unwrap_or_else(|_| HeaderValue::from_static("regionless; hit"))
    }

    /// A forwarded request (§2.2).
    pub fn forward(cache: &str, fwd: Forward) -> CacheStatus {
        CacheStatus {
            fwd: Some(fwd),
            ..CacheStatus::empty(cache)
        }
    }

    fn empty(cache: &str) -> CacheStatus {
        CacheStatus {
            cache: cache.to_string(),
            hit: false,
            fwd: None,
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// The member as a header value (printable ASCII by construction).
    pub fn header_value(&self) -> HeaderValue {
        // `from_maybe_shared` takes the string's buffer as it is (no second copy).
        HeaderValue::from_maybe_shared(bytes::Bytes::from(self.to_string()))
            .unwrap_or_else(|_| HeaderValue::from_static("regionless"))
    }

    /// Appends this cache's member after the members of the caches before it (RFC 9211 §2: the
    /// list is ordered from the origin towards the client).
    pub fn appended_to(&self, upstream: Option<&HeaderValue>) -> HeaderValue {
        let ours = self.to_string();
        let combined = match upstream.and_then(|v| v.to_str().ok()).map(str::trim) {
            Some(up) if !up.is_empty() => format!("{up}, {ours}"),
            _ => ours,
        };
        HeaderValue::try_from(combined).unwrap_or_else(|_| self.header_value())
    }
}

impl fmt::Display for CacheStatus {
    /// Serialises as a Structured Fields item (RFC 8941 §4.1) with parameters in the order of
    /// RFC 9211 §2.1–2.8: `regionless; fwd=uri-miss; fwd-status=200; stored`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_token_or_string(f, &self.cache)?;
        if self.hit {
            f.write_str("; hit")?;
        } else if let Some(fwd) = self.fwd {
            write!(f, "; fwd={}", fwd.as_str())?;
        }
        if let Some(status) = self.fwd_status {
            write!(f, "; fwd-status={status}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, "; ttl={}", ttl.clamp(-SF_INTEGER_MAX, SF_INTEGER_MAX))?;
        }
        if self.stored {
            f.write_str("; stored")?;
        }
        if self.collapsed {
            f.write_str("; collapsed")?;
        }
        if let Some(detail) = &self.detail {
            f.write_str("; detail=")?;
            write_token_or_string(f, detail)?;
        }
        Ok(())
    }
}

/// The Structured Fields integer range (RFC 8941 §3.3.1).
const SF_INTEGER_MAX: i64 = 999_999_999_999_999;

/// A Structured Fields token when the text is one (RFC 8941 §3.3.4), otherwise a string
/// (§3.3.3) with `"` and `\` escaped and bytes outside printable ASCII replaced by `?`.
fn write_token_or_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if is_sf_token(text) {
        return f.write_str(text);
    }
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            ' '..='~' => f.write_char(c)?,
            _ => f.write_char('?')?,
        }
    }
    f.write_char('"')
}

fn is_sf_token(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*')
        && bytes.all(|b| is_tchar(b) || b == b':' || b == b'/')
}

/// The `x-cache` summary header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XCache {
    /// Served fresh from cache.
    Hit,
    /// Fetched from the origin.
    Miss,
    /// Served stale (while revalidating, or on origin error).
    Stale,
    /// A stored response was validated with the origin (304) and served.
    Revalidated,
    /// The cache was not used for this request.
    Bypass,
}

impl XCache {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            XCache::Hit => "HIT",
            XCache::Miss => "MISS",
            XCache::Stale => "STALE",
            XCache::Revalidated => "REVALIDATED",
            XCache::Bypass => "BYPASS",
        }
    }

    /// As a header value.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_hit_value_prints_what_display_prints() {
        for (ttl, collapsed) in [(55, false), (-3, true), (i64::MAX, false)] {
            let slow = CacheStatus {
                collapsed,
                detail: Some("memory".into()),
                ..CacheStatus::hit("regionless", ttl)
            };
            assert_eq!(
                CacheStatus::hit_value("regionless", ttl, collapsed, "memory"),
                slow.header_value()
            );
        }
    }

    #[test]
    fn rfc_9211_examples() {
        // §3 examples
        let mut plain_hit = CacheStatus::hit("ExampleCache", 0);
        plain_hit.ttl = None;
        assert_eq!(plain_hit.to_string(), "ExampleCache; hit");
        let origin = HeaderValue::from_static("OriginCache; hit; ttl=1100");
        assert_eq!(
            CacheStatus::hit("CDN Company Here", 545).appended_to(Some(&origin)),
            "OriginCache; hit; ttl=1100, \"CDN Company Here\"; hit; ttl=545"
        );
        assert_eq!(
            CacheStatus::hit("ExampleCache", 376).to_string(),
            "ExampleCache; hit; ttl=376"
        );
        let mut s = CacheStatus::forward("ExampleCache", Forward::UriMiss);
        s.stored = true;
        assert_eq!(s.to_string(), "ExampleCache; fwd=uri-miss; stored");
        let mut s = CacheStatus::forward("ExampleCache", Forward::VaryMiss);
        s.stored = true;
        assert_eq!(s.to_string(), "ExampleCache; fwd=vary-miss; stored");
        let mut s = CacheStatus::forward("ExampleCache", Forward::Stale);
        s.fwd_status = Some(304);
        assert_eq!(s.to_string(), "ExampleCache; fwd=stale; fwd-status=304");
        assert_eq!(
            CacheStatus::hit("ExampleCache", -412).to_string(),
            "ExampleCache; hit; ttl=-412"
        );
        let mut s = CacheStatus::forward("ExampleCache", Forward::UriMiss);
        s.stored = true;
        s.collapsed = true;
        assert_eq!(
            s.to_string(),
            "ExampleCache; fwd=uri-miss; stored; collapsed"
        );
    }

    #[test]
    fn every_forward_token() {
        let all = [
            (Forward::Bypass, "bypass"),
            (Forward::Method, "method"),
            (Forward::UriMiss, "uri-miss"),
            (Forward::VaryMiss, "vary-miss"),
            (Forward::Miss, "miss"),
            (Forward::Request, "request"),
            (Forward::Stale, "stale"),
            (Forward::Partial, "partial"),
        ];
        for (fwd, token) in all {
            assert_eq!(
                CacheStatus::forward("regionless", fwd).to_string(),
                format!("regionless; fwd={token}")
            );
        }
    }

    #[test]
    fn detail_and_names_are_tokens_or_escaped_strings() {
        let mut s = CacheStatus::forward("regionless", Forward::Bypass);
        s.detail = Some("set-cookie".into());
        assert_eq!(s.to_string(), "regionless; fwd=bypass; detail=set-cookie");
        s.detail = Some("tier 2 \"down\" \\ é".into());
        assert_eq!(
            s.to_string(),
            r#"regionless; fwd=bypass; detail="tier 2 \"down\" \\ ?""#
        );
        assert_eq!(
            CacheStatus::hit("edge node", 1).to_string(),
            "\"edge node\"; hit; ttl=1"
        );
        assert_eq!(
            CacheStatus::hit("1abc", 1).to_string(),
            "\"1abc\"; hit; ttl=1"
        );
        assert_eq!(CacheStatus::hit("", 1).to_string(), "\"\"; hit; ttl=1");
        assert_eq!(
            CacheStatus::hit("regionless-t2/eu:a", 1).to_string(),
            "regionless-t2/eu:a; hit; ttl=1"
        );
    }

    #[test]
    fn hit_wins_over_fwd_and_ttl_is_clamped() {
        let mut s = CacheStatus::hit("regionless", i64::MIN);
        s.fwd = Some(Forward::Miss);
        assert_eq!(s.to_string(), "regionless; hit; ttl=-999999999999999");
        assert_eq!(CacheStatus::empty("c").to_string(), "c");
    }

    #[test]
    fn header_values_and_appending() {
        let ours = CacheStatus::hit("regionless", 5);
        assert_eq!(ours.header_value(), "regionless; hit; ttl=5");
        let upstream = HeaderValue::from_static("OriginCache; fwd=uri-miss");
        assert_eq!(
            ours.appended_to(Some(&upstream)),
            "OriginCache; fwd=uri-miss, regionless; hit; ttl=5"
        );
        assert_eq!(ours.appended_to(None), "regionless; hit; ttl=5");
        let blank = HeaderValue::from_static("  ");
        assert_eq!(ours.appended_to(Some(&blank)), "regionless; hit; ttl=5");
        let mut s = CacheStatus::forward("regionless", Forward::Bypass);
        s.detail = Some("ünïcode\u{7f}".into());
        assert_eq!(
            s.header_value(),
            "regionless; fwd=bypass; detail=\"?n?code?\""
        );
    }

    #[test]
    fn x_cache_values() {
        let all = [
            (XCache::Hit, "HIT"),
            (XCache::Miss, "MISS"),
            (XCache::Stale, "STALE"),
            (XCache::Revalidated, "REVALIDATED"),
            (XCache::Bypass, "BYPASS"),
        ];
        for (x, s) in all {
            assert_eq!(x.as_str(), s);
            assert_eq!(x.header_value(), s);
        }
    }
}
