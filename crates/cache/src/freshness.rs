//! Freshness (RFC 9111 §4.2) and stale serving (RFC 5861) of a stored response.
//!
//! All times are passed in by the caller; nothing here reads a clock. HTTP dates have
//! one-second resolution, so ages and lifetimes are whole seconds.

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, AGE, DATE, EXPIRES, LAST_MODIFIED};
use http::StatusCode;

use crate::directives::{
    parse_delta_seconds, response_directives, Delta, DirectiveSource, Directives,
};

/// Site/route settings for freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshnessPolicy {
    /// Heuristic freshness as a percentage of `Date` − `Last-Modified` (RFC 9111 §4.2.2
    /// suggests 10 %).
    pub heuristic_percent: u32,
    /// Upper bound of a heuristic lifetime.
    pub heuristic_max: Duration,
}

impl Default for FreshnessPolicy {
    fn default() -> Self {
        FreshnessPolicy {
            heuristic_percent: 10,
            heuristic_max: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where a freshness lifetime came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeSource {
    /// `s-maxage` (§5.2.2.10).
    SMaxAge,
    /// `max-age` (§5.2.2.1).
    MaxAge,
    /// `Expires` − `Date` (§5.3).
    Expires,
    /// Heuristic (§4.2.2).
    Heuristic,
    /// The governing directive was invalid: stale (§4.2.1).
    Invalid,
    /// No explicit or heuristic freshness: stale.
    None,
}

/// A freshness lifetime in seconds and its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Seconds the response is fresh for, counted from its generation.
    pub seconds: u64,
    /// Which rule produced it.
    pub source: LifetimeSource,
}

/// The times at which the cache sent the request and received the response (§4.2.3
/// `request_time` and `response_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// When the request that produced the stored response was sent.
    pub request_time: SystemTime,
    /// When that response was received.
    pub response_time: SystemTime,
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
pub fn is_heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The first value of a header parsed as an HTTP-date (RFC 9110 §5.6.7); `None` if absent
/// or unparseable.
fn header_date(headers: &HeaderMap, name: http::HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

fn secs_between(later: SystemTime, earlier: SystemTime) -> u64 {
    later.duration_since(earlier).map_or(0, |d| d.as_secs())
}

/// `date_value` (§4.2.3): the `Date` header, or the response time when it is absent or
/// invalid (RFC 9110 §6.6.1: a recipient may use its receipt time).
pub fn date_value(headers: &HeaderMap, response_time: SystemTime) -> SystemTime {
    header_date(headers, DATE).unwrap_or(response_time)
}

/// Freshness lifetime (RFC 9111 §4.2.1), first match wins: `s-maxage` (shared cache), then
/// `max-age`, then `Expires` − `Date`, then the heuristic (§4.2.2). With `CDN-Cache-Control`
/// in force, `Expires` is ignored (RFC 9213 §2.1). An invalid governing directive makes the
/// response stale (lifetime 0).
pub fn freshness_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    response_time: SystemTime,
    policy: &FreshnessPolicy,
) -> Lifetime {
    let (d, source) = response_directives(headers);
    if let Some(delta) = d.s_maxage {
        return from_delta(delta, LifetimeSource::SMaxAge);
    }
    if let Some(delta) = d.max_age {
        return from_delta(delta, LifetimeSource::MaxAge);
    }
    if source == DirectiveSource::CacheControl {
        if let Some(lifetime) = expires_lifetime(headers, response_time) {
            return lifetime;
        }
    }
    if is_heuristically_cacheable(status) || d.public {
        if let Some(lifetime) = heuristic_lifetime(headers, response_time, policy) {
            return lifetime;
        }
    }
    Lifetime {
        seconds: 0,
        source: LifetimeSource::None,
    }
}

fn from_delta(delta: Delta, source: LifetimeSource) -> Lifetime {
    match delta {
        Delta::Seconds(seconds) => Lifetime { seconds, source },
        Delta::Invalid => Lifetime {
            seconds: 0,
            source: LifetimeSource::Invalid,
        },
    }
}

/// `Expires` − `Date` (§5.3, §4.2.1). `None` when there is no `Expires`. An invalid date,
/// notably `0`, means "already expired" (§5.3); an `Expires` before `Date` gives 0. With several
/// `Expires` lines the first is used (§4.2.1).
pub fn expires_lifetime(headers: &HeaderMap, response_time: SystemTime) -> Option<Lifetime> {
    headers.get(EXPIRES)?;
    let seconds = match header_date(headers, EXPIRES) {
        Some(expires) => secs_between(expires, date_value(headers, response_time)),
        None => 0,
    };
    Some(Lifetime {
        seconds,
        source: LifetimeSource::Expires,
    })
}

/// Heuristic freshness (§4.2.2): a percentage of `Date` − `Last-Modified`, capped by the policy.
/// `None` without a valid `Last-Modified`.
pub fn heuristic_lifetime(
    headers: &HeaderMap,
    response_time: SystemTime,
    policy: &FreshnessPolicy,
) -> Option<Lifetime> {
    let last_modified = header_date(headers, LAST_MODIFIED)?;
    let age_of_content = secs_between(date_value(headers, response_time), last_modified);
    let seconds = (age_of_content.saturating_mul(u64::from(policy.heuristic_percent)) / 100)
        .min(policy.heuristic_max.as_secs());
    Some(Lifetime {
        seconds,
        source: LifetimeSource::Heuristic,
    })
}

/// `age_value` (§4.2.3, §5.1): the `Age` header in seconds, 0 when absent. `Age` is a single
/// non-negative integer; anything else (a list, several field lines, a sign, a fraction,
/// parameters) is invalid and yields `None`: such a response is treated as stale, the safe
/// reading of an age the cache cannot know (the behaviour http-cache-tests checks).
pub fn age_value(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(AGE).iter();
    let Some(value) = values.next() else {
        return Some(0);
    };
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match parse_delta_seconds(text) {
        Delta::Seconds(n) => Some(n),
        Delta::Invalid => None,
    }
}

/// `current_age` (§4.2.3):
/// `apparent_age = max(0, response_time − date_value)`,
/// `corrected_age_value = age_value + (response_time − request_time)`,
/// `corrected_initial_age = max(apparent_age, corrected_age_value)`,
/// `current_age = corrected_initial_age + (now − response_time)`.
/// A `Date` in the future gives an apparent age of 0; a clock earlier than `response_time`
/// gives a resident time of 0.
pub fn current_age(headers: &HeaderMap, exchange: &Exchange, now: SystemTime) -> u64 {
    let resident_time = secs_between(now, exchange.response_time);
    corrected_initial_age(headers, exchange).saturating_add(resident_time)
}

/// `corrected_initial_age` (§4.2.3): the age when the response arrived; `current_age` adds the
/// time it has been stored since. Depends only on the stored headers and exchange times, so a
/// cache can compute it once per stored response.
pub fn corrected_initial_age(headers: &HeaderMap, exchange: &Exchange) -> u64 {
    let apparent_age = secs_between(
        exchange.response_time,
        date_value(headers, exchange.response_time),
    );
    let response_delay = secs_between(exchange.response_time, exchange.request_time);
    // An invalid `Age` makes the response as old as it can be: stale, never fresh.
    let corrected_age_value = age_value(headers)
        .unwrap_or(u64::MAX / 4)
        .saturating_add(response_delay);
    apparent_age.max(corrected_age_value)
}

/// Seconds from `earlier` to `later`, 0 when `later` is not after `earlier`.
pub fn seconds_since(later: SystemTime, earlier: SystemTime) -> u64 {
    secs_between(later, earlier)
}

/// What the cache may do with a stored response right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it without contacting the origin (§4.2).
    Fresh,
    /// Stale but inside `stale-while-revalidate`: serve it and refresh in the background
    /// (RFC 5861 §3).
    StaleWhileRevalidate,
    /// Must be validated with the origin before use (stale, or `no-cache`).
    Revalidate,
}

/// The freshness of one stored response at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// The freshness lifetime.
    pub lifetime: Lifetime,
    /// `current_age` in seconds.
    pub age: u64,
    /// `no-cache` on the response: validate before every use, even when fresh (§5.2.2.4).
    pub no_cache: bool,
    /// Never serve stale: `must-revalidate` (§5.2.2.2), or for this shared cache
    /// `proxy-revalidate` (§5.2.2.8) or `s-maxage` (§5.2.2.10).
    pub must_revalidate: bool,
    /// `stale-while-revalidate` window in seconds (RFC 5861 §3); 0 when absent or invalid.
    pub stale_while_revalidate: u64,
    /// `stale-if-error` window in seconds (RFC 5861 §4); 0 when absent or invalid.
    pub stale_if_error: u64,
}

impl Freshness {
    /// Evaluates a stored response (its status, its headers as stored, and the exchange times)
    /// at `now`.
    pub fn evaluate(
        status: StatusCode,
        headers: &HeaderMap,
        exchange: &Exchange,
        now: SystemTime,
        policy: &FreshnessPolicy,
    ) -> Freshness {
        let (d, _) = response_directives(headers);
        Freshness {
            lifetime: freshness_lifetime(status, headers, exchange.response_time, policy),
            age: current_age(headers, exchange, now),
            no_cache: d.no_cache,
            must_revalidate: d.must_revalidate || d.proxy_revalidate || d.s_maxage.is_some(),
            stale_while_revalidate: d.stale_while_revalidate.map_or(0, Delta::seconds_or_zero),
            stale_if_error: d.stale_if_error.map_or(0, Delta::seconds_or_zero),
        }
    }

    /// Fresh when `lifetime > age` (§4.2) and not `no-cache`.
    pub fn is_fresh(&self) -> bool {
        !self.no_cache && self.lifetime.seconds > self.age
    }

    /// Remaining freshness in seconds, negative once stale (for `Cache-Status` `ttl`,
    /// RFC 9211 §2.5).
    pub fn ttl(&self) -> i64 {
        let lifetime = i64::try_from(self.lifetime.seconds).unwrap_or(i64::MAX);
        let age = i64::try_from(self.age).unwrap_or(i64::MAX);
        lifetime.saturating_sub(age)
    }

    /// Seconds since the response became stale (0 while fresh).
    pub fn staleness(&self) -> u64 {
        self.age.saturating_sub(self.lifetime.seconds)
    }

    /// Serving stale is forbidden by `no-cache`, `must-revalidate`, `proxy-revalidate` or
    /// `s-maxage` (§4.2.4: a cache must not serve stale when a directive prohibits it; these
    /// override RFC 5861's permissions).
    fn stale_forbidden(&self) -> bool {
        self.no_cache || self.must_revalidate
    }

    /// May serve while refreshing in the background: stale, within `stale-while-revalidate`
    /// seconds of becoming stale (RFC 5861 §3), and not forbidden.
    pub fn may_serve_while_revalidating(&self) -> bool {
        !self.is_fresh()
            && !self.stale_forbidden()
            && self.staleness() < self.stale_while_revalidate
    }

    /// May serve when the origin fails (error, 5xx): within `stale-if-error` seconds of
    /// becoming stale (RFC 5861 §4) plus the site's `grace`, and not forbidden. A fresh response
    /// is always servable.
    pub fn may_serve_on_error(&self, grace: Duration) -> bool {
        if self.is_fresh() {
            return true;
        }
        !self.stale_forbidden()
            && self.staleness() < self.stale_if_error.saturating_add(grace.as_secs())
    }

    /// The verdict for a request, honouring its `Cache-Control` (RFC 9111 §5.2.1): `no-cache`
    /// forces validation; `max-age=n` refuses a response older than `n` seconds; `min-fresh=n`
    /// refuses one with less than `n` seconds of freshness left; `max-stale[=n]` accepts a
    /// stale response (within `n` seconds of staleness) unless the response forbids serving
    /// stale. Invalid request arguments are ignored. Sites may choose not to call this and use
    /// [`Self::verdict`] instead (many CDNs ignore client cache directives to protect origins).
    pub fn verdict_for_request(&self, request: &Directives) -> Verdict {
        if request.no_cache {
            return Verdict::Revalidate;
        }
        if let Some(Delta::Seconds(max_age)) = request.max_age {
            if self.age > max_age {
                return Verdict::Revalidate;
            }
        }
        if let Some(Delta::Seconds(min_fresh)) = request.min_fresh {
            if self.ttl() < i64::try_from(min_fresh).unwrap_or(i64::MAX) {
                return Verdict::Revalidate;
            }
        }
        let stale_accepted = match request.max_stale {
            Some(None) => true,
            Some(Some(Delta::Seconds(n))) => self.staleness() <= n,
            Some(Some(Delta::Invalid)) | None => false,
        };
        if !self.is_fresh() && stale_accepted && !self.stale_forbidden() {
            return Verdict::Fresh;
        }
        self.verdict()
    }

    /// The verdict for a normal (non-error) lookup.
    pub fn verdict(&self) -> Verdict {
        if self.is_fresh() {
            Verdict::Fresh
        } else if self.may_serve_while_revalidating() {
            Verdict::StaleWhileRevalidate
        } else {
            Verdict::Revalidate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(at(secs))
    }

    fn headers(pairs: &[(&str, String)]) -> HeaderMap {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h(&borrowed)
    }

    fn lifetime(status: u16, hm: &HeaderMap) -> Lifetime {
        freshness_lifetime(
            StatusCode::from_u16(status).unwrap(),
            hm,
            at(T0),
            &FreshnessPolicy::default(),
        )
    }

    fn exchange() -> Exchange {
        Exchange {
            request_time: at(T0),
            response_time: at(T0),
        }
    }

    fn evaluate(hm: &HeaderMap, now: u64) -> Freshness {
        Freshness::evaluate(
            StatusCode::OK,
            hm,
            &exchange(),
            at(now),
            &FreshnessPolicy::default(),
        )
    }

    #[test]
    fn s_maxage_beats_max_age_beats_expires() {
        let exp = date(T0 + 1000);
        let d = date(T0);
        let hm = headers(&[
            ("cache-control", "max-age=100, s-maxage=50".into()),
            ("expires", exp.clone()),
            ("date", d.clone()),
        ]);
        assert_eq!(
            lifetime(200, &hm),
            Lifetime {
                seconds: 50,
                source: LifetimeSource::SMaxAge
            }
        );
        let hm = headers(&[
            ("cache-control", "max-age=100".into()),
            ("expires", exp.clone()),
            ("date", d.clone()),
        ]);
        assert_eq!(lifetime(200, &hm).seconds, 100);
        assert_eq!(lifetime(200, &hm).source, LifetimeSource::MaxAge);
        let hm = headers(&[("expires", exp), ("date", d)]);
        assert_eq!(
            lifetime(200, &hm),
            Lifetime {
                seconds: 1000,
                source: LifetimeSource::Expires
            }
        );
    }

    #[test]
    fn invalid_governing_directive_means_stale() {
        let hm = h(&[("cache-control", "max-age=abc")]);
        assert_eq!(lifetime(200, &hm).source, LifetimeSource::Invalid);
        assert!(!evaluate(&hm, T0).is_fresh());
        let hm = h(&[("cache-control", "s-maxage=-1, max-age=100")]);
        assert_eq!(lifetime(200, &hm).seconds, 0);
        // max-age=0 is valid and immediately stale
        let hm = h(&[("cache-control", "max-age=0")]);
        assert_eq!(lifetime(200, &hm).source, LifetimeSource::MaxAge);
        assert!(!evaluate(&hm, T0).is_fresh());
    }

    #[test]
    fn expires_edge_cases() {
        // "0" and other invalid dates mean already expired (§5.3)
        for bad in ["0", "-1", "yesterday"] {
            let hm = h(&[("expires", bad)]);
            assert_eq!(lifetime(200, &hm).seconds, 0, "{bad}");
            assert_eq!(lifetime(200, &hm).source, LifetimeSource::Expires);
        }
        // Expires before Date
        let hm = headers(&[("expires", date(T0 - 10)), ("date", date(T0))]);
        assert_eq!(lifetime(200, &hm).seconds, 0);
        // without Date, the response time stands in
        let hm = headers(&[("expires", date(T0 + 30))]);
        assert_eq!(lifetime(200, &hm).seconds, 30);
        // Expires counts from Date, not from the receipt time
        let hm = headers(&[("expires", date(T0 + 30)), ("date", date(T0 - 20))]);
        assert_eq!(lifetime(200, &hm).seconds, 50);
        // the first of two Expires lines is used
        let hm = headers(&[("expires", date(T0 + 30)), ("expires", date(T0 + 900))]);
        assert_eq!(lifetime(200, &hm).seconds, 30);
        // all three HTTP-date formats (RFC 9110 §5.6.7 example dates)
        for fmt in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            let hm = h(&[("expires", fmt), ("date", "Sun, 06 Nov 1994 08:48:37 GMT")]);
            assert_eq!(lifetime(200, &hm).seconds, 60, "{fmt}");
        }
    }

    #[test]
    fn cdn_cache_control_ignores_cache_control_and_expires() {
        let hm = headers(&[
            ("cdn-cache-control", "no-cache".into()),
            ("cache-control", "max-age=600".into()),
            ("expires", date(T0 + 600)),
            ("last-modified", date(T0 - 100_000)),
        ]);
        // CDN-Cache-Control gives no lifetime, Expires is ignored, heuristic applies (status 200)
        let l = lifetime(200, &hm);
        assert_eq!(l.source, LifetimeSource::Heuristic);
        assert!(
            !evaluate(&hm, T0).is_fresh(),
            "no-cache from CDN-Cache-Control"
        );
        let hm = headers(&[
            ("cdn-cache-control", "max-age=5".into()),
            ("cache-control", "max-age=600".into()),
        ]);
        assert_eq!(lifetime(200, &hm).seconds, 5);
    }

    #[test]
    fn heuristic_is_ten_percent_capped_and_status_limited() {
        let hm = headers(&[("date", date(T0)), ("last-modified", date(T0 - 1000))]);
        assert_eq!(
            lifetime(200, &hm),
            Lifetime {
                seconds: 100,
                source: LifetimeSource::Heuristic
            }
        );
        assert_eq!(lifetime(404, &hm).seconds, 100);
        // 302 and 500 are not heuristically cacheable, unless public
        assert_eq!(lifetime(302, &hm).source, LifetimeSource::None);
        assert_eq!(lifetime(500, &hm).source, LifetimeSource::None);
        let public = headers(&[
            ("cache-control", "public".into()),
            ("date", date(T0)),
            ("last-modified", date(T0 - 1000)),
        ]);
        assert_eq!(lifetime(302, &public).seconds, 100);
        // cap
        let old = headers(&[
            ("date", date(T0)),
            ("last-modified", date(T0 - 100 * 86_400)),
        ]);
        assert_eq!(lifetime(200, &old).seconds, 86_400);
        let policy = FreshnessPolicy {
            heuristic_percent: 10,
            heuristic_max: Duration::from_secs(60),
        };
        assert_eq!(
            freshness_lifetime(StatusCode::OK, &hm, at(T0), &policy).seconds,
            60
        );
        // Last-Modified in the future, or missing, or invalid
        let future = headers(&[("date", date(T0)), ("last-modified", date(T0 + 50))]);
        assert_eq!(lifetime(200, &future).seconds, 0);
        assert_eq!(
            lifetime(200, &HeaderMap::new()).source,
            LifetimeSource::None
        );
        let bad = h(&[("last-modified", "garbage")]);
        assert_eq!(lifetime(200, &bad).source, LifetimeSource::None);
    }

    #[test]
    fn age_value_rules() {
        assert_eq!(age_value(&HeaderMap::new()), Some(0));
        assert_eq!(age_value(&h(&[("age", "30")])), Some(30));
        for invalid in ["30, 60", "-10", "abc", "7200.0", "7200;foo=1", ""] {
            assert_eq!(age_value(&h(&[("age", invalid)])), None, "{invalid}");
        }
        assert_eq!(age_value(&h(&[("age", "5"), ("age", "9")])), None);
    }

    #[test]
    fn current_age_follows_4_2_3() {
        // apparent age: received 10 s after Date
        let hm = headers(&[("date", date(T0))]);
        let ex = Exchange {
            request_time: at(T0 + 8),
            response_time: at(T0 + 10),
        };
        assert_eq!(current_age(&hm, &ex, at(T0 + 10)), 10);
        // corrected age value: Age 30 + response delay 2 beats apparent age 10
        let hm = headers(&[("date", date(T0)), ("age", "30".into())]);
        assert_eq!(current_age(&hm, &ex, at(T0 + 10)), 32);
        // resident time adds up
        assert_eq!(current_age(&hm, &ex, at(T0 + 110)), 132);
        // Date in the future: apparent age 0
        let hm = headers(&[("date", date(T0 + 3600))]);
        assert_eq!(current_age(&hm, &ex, at(T0 + 10)), 2);
        // now before response_time (clock step back): no negative resident time
        let hm = headers(&[("date", date(T0 + 10))]);
        assert_eq!(current_age(&hm, &ex, at(T0)), 2);
        // an invalid Age (here negative) makes the response stale rather than fresh
        let hm = headers(&[("date", date(T0 + 10)), ("age", "-100".into())]);
        assert!(current_age(&hm, &ex, at(T0 + 10)) > 1 << 60);
    }

    #[test]
    fn fresh_until_age_reaches_lifetime() {
        let hm = headers(&[("cache-control", "max-age=60".into()), ("date", date(T0))]);
        assert!(evaluate(&hm, T0 + 59).is_fresh());
        assert_eq!(evaluate(&hm, T0 + 59).ttl(), 1);
        assert!(!evaluate(&hm, T0 + 60).is_fresh());
        assert_eq!(evaluate(&hm, T0 + 70).ttl(), -10);
        assert_eq!(evaluate(&hm, T0 + 70).staleness(), 10);
        assert_eq!(evaluate(&hm, T0 + 70).verdict(), Verdict::Revalidate);
        // an Age from upstream eats into the lifetime
        let hm = headers(&[
            ("cache-control", "max-age=60".into()),
            ("date", date(T0)),
            ("age", "50".into()),
        ]);
        assert!(evaluate(&hm, T0 + 9).is_fresh());
        assert!(!evaluate(&hm, T0 + 10).is_fresh());
    }

    #[test]
    fn stale_while_revalidate_window() {
        let hm = headers(&[
            (
                "cache-control",
                "max-age=60, stale-while-revalidate=30".into(),
            ),
            ("date", date(T0)),
        ]);
        assert_eq!(evaluate(&hm, T0 + 30).verdict(), Verdict::Fresh);
        assert_eq!(
            evaluate(&hm, T0 + 60).verdict(),
            Verdict::StaleWhileRevalidate
        );
        assert_eq!(
            evaluate(&hm, T0 + 89).verdict(),
            Verdict::StaleWhileRevalidate
        );
        assert_eq!(evaluate(&hm, T0 + 90).verdict(), Verdict::Revalidate);
        let invalid = headers(&[
            (
                "cache-control",
                "max-age=60, stale-while-revalidate=x".into(),
            ),
            ("date", date(T0)),
        ]);
        assert_eq!(evaluate(&invalid, T0 + 61).verdict(), Verdict::Revalidate);
    }

    #[test]
    fn stale_if_error_window_and_grace() {
        let hm = headers(&[
            ("cache-control", "max-age=60, stale-if-error=100".into()),
            ("date", date(T0)),
        ]);
        let none = Duration::ZERO;
        assert!(evaluate(&hm, T0 + 10).may_serve_on_error(none));
        assert!(evaluate(&hm, T0 + 159).may_serve_on_error(none));
        assert!(!evaluate(&hm, T0 + 160).may_serve_on_error(none));
        assert!(evaluate(&hm, T0 + 160).may_serve_on_error(Duration::from_secs(30)));
        assert!(!evaluate(&hm, T0 + 61).may_serve_while_revalidating());
        let plain = headers(&[("cache-control", "max-age=60".into()), ("date", date(T0))]);
        assert!(!evaluate(&plain, T0 + 61).may_serve_on_error(none));
        assert!(evaluate(&plain, T0 + 61).may_serve_on_error(Duration::from_secs(60)));
    }

    #[test]
    fn request_directives_shape_the_verdict() {
        let hm = headers(&[("cache-control", "max-age=60".into()), ("date", date(T0))]);
        let req = |cc: &str| {
            crate::directives::Directives::from_cache_control(&h(&[("cache-control", cc)]))
        };
        let at30 = evaluate(&hm, T0 + 30);
        assert_eq!(at30.verdict_for_request(&req("")), Verdict::Fresh);
        assert_eq!(
            at30.verdict_for_request(&req("no-cache")),
            Verdict::Revalidate
        );
        assert_eq!(at30.verdict_for_request(&req("max-age=30")), Verdict::Fresh);
        assert_eq!(
            at30.verdict_for_request(&req("max-age=29")),
            Verdict::Revalidate
        );
        assert_eq!(
            at30.verdict_for_request(&req("max-age=0")),
            Verdict::Revalidate
        );
        assert_eq!(at30.verdict_for_request(&req("max-age=x")), Verdict::Fresh);
        assert_eq!(
            at30.verdict_for_request(&req("min-fresh=30")),
            Verdict::Fresh
        );
        assert_eq!(
            at30.verdict_for_request(&req("min-fresh=31")),
            Verdict::Revalidate
        );
        let at70 = evaluate(&hm, T0 + 70);
        assert_eq!(at70.verdict_for_request(&req("")), Verdict::Revalidate);
        assert_eq!(at70.verdict_for_request(&req("max-stale")), Verdict::Fresh);
        assert_eq!(
            at70.verdict_for_request(&req("max-stale=10")),
            Verdict::Fresh
        );
        assert_eq!(
            at70.verdict_for_request(&req("max-stale=9")),
            Verdict::Revalidate
        );
        assert_eq!(
            at70.verdict_for_request(&req("max-stale=x")),
            Verdict::Revalidate
        );
        let strict = headers(&[
            ("cache-control", "max-age=60, must-revalidate".into()),
            ("date", date(T0)),
        ]);
        let at70 = evaluate(&strict, T0 + 70);
        assert_eq!(
            at70.verdict_for_request(&req("max-stale")),
            Verdict::Revalidate
        );
    }

    #[test]
    fn revalidation_directives_forbid_stale() {
        for cc in [
            "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30",
            "max-age=60, proxy-revalidate, stale-while-revalidate=30, stale-if-error=30",
            "s-maxage=60, stale-while-revalidate=30, stale-if-error=30",
        ] {
            let hm = headers(&[("cache-control", cc.into()), ("date", date(T0))]);
            assert!(evaluate(&hm, T0 + 1).is_fresh(), "{cc}");
            let stale = evaluate(&hm, T0 + 61);
            assert_eq!(stale.verdict(), Verdict::Revalidate, "{cc}");
            assert!(!stale.may_serve_on_error(Duration::from_secs(3600)), "{cc}");
        }
        // no-cache: validate even while within max-age
        let hm = headers(&[
            (
                "cache-control",
                "max-age=60, no-cache, stale-while-revalidate=30".into(),
            ),
            ("date", date(T0)),
        ]);
        assert_eq!(evaluate(&hm, T0 + 1).verdict(), Verdict::Revalidate);
        assert_eq!(evaluate(&hm, T0 + 61).verdict(), Verdict::Revalidate);
    }
}
