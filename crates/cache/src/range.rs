//! Range requests served from a stored full response (RFC 9110 §14, `If-Range` §13.1.5).

use http::header::{HeaderMap, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use http::Method;

/// The most ranges honoured in one request; more are answered with the full response, which
/// RFC 9110 §14.2 permits (it guards against many tiny or overlapping ranges).
pub const MAX_RANGES: usize = 16;

/// How to answer a request from a stored full representation of `length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole representation (no `Range`, not GET, ignored or failed `If-Range`).
    Full,
    /// 206 with these inclusive byte ranges, in request order.
    Partial(Vec<(u64, u64)>),
    /// 416 with `Content-Range: bytes */<length>` (§15.5.17).
    Unsatisfiable,
}

/// Decides the answer to `Range` (RFC 9110 §14.2): only for GET; a `Range` with another unit or
/// invalid syntax is ignored (full response); `If-Range` that does not match the stored
/// response gives the full response (§13.1.5); ranges that start beyond the content are
/// dropped, and if none is left the range is unsatisfiable; more than [`MAX_RANGES`] ranges, or
/// overlapping ones, give the full response.
pub fn answer_range(
    method: &Method,
    request: &HeaderMap,
    stored: &HeaderMap,
    length: u64,
) -> RangeAnswer {
    if *method != Method::GET {
        return RangeAnswer::Full;
    }
    let Some(spec) = request.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeAnswer::Full;
    };
    if !if_range_matches(request, stored) {
        return RangeAnswer::Full;
    }
    let Some(specs) = parse_byte_ranges(spec) else {
        return RangeAnswer::Full;
    };
    if specs.len() > MAX_RANGES {
        return RangeAnswer::Full;
    }
    let ranges: Vec<(u64, u64)> = specs.iter().filter_map(|s| s.resolve(length)).collect();
    if ranges.is_empty() {
        return RangeAnswer::Unsatisfiable;
    }
    if overlapping(&ranges) {
        return RangeAnswer::Full;
    }
    RangeAnswer::Partial(ranges)
}

/// A byte-range-spec before knowing the length (RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last` or `first-` (`last` = `None`).
    From(u64, Option<u64>),
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive range within a representation of `length` bytes, or `None` when
    /// unsatisfiable (§14.1.2: first-pos beyond the end, or a zero suffix).
    pub fn resolve(self, length: u64) -> Option<(u64, u64)> {
        let last_byte = length.checked_sub(1)?;
        match self {
            ByteRange::From(first, last) if first <= last_byte => {
                Some((first, last.map_or(last_byte, |l| l.min(last_byte))))
            }
            ByteRange::From(..) => None,
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => Some((length.saturating_sub(n), last_byte)),
        }
    }
}

/// Parses `bytes=<range-set>` (RFC 9110 §14.1.2; the unit is case-insensitive). `None` for
/// another unit or invalid syntax (including `last < first`), which means "ignore `Range`".
pub fn parse_byte_ranges(value: &str) -> Option<Vec<ByteRange>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut ranges = Vec::new();
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (first, last) = spec.split_once('-')?;
        let range = match (first.trim(), last.trim()) {
            ("", suffix) => ByteRange::Suffix(parse_digits(suffix)?),
            (first, "") => ByteRange::From(parse_digits(first)?, None),
            (first, last) => {
                let (first, last) = (parse_digits(first)?, parse_digits(last)?);
                if last < first {
                    return None;
                }
                ByteRange::From(first, Some(last))
            }
        };
        ranges.push(range);
    }
    (!ranges.is_empty()).then_some(ranges)
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn overlapping(ranges: &[(u64, u64)]) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[1].0 <= w[0].1)
}

/// `If-Range` (RFC 9110 §13.1.5): absent → true; an entity-tag matches the stored `ETag` by
/// strong comparison (weak tags never match); a date matches a stored `Last-Modified` that is
/// exactly equal. Anything else → false (send the full response).
pub fn if_range_matches(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let Some(condition) = request.get(IF_RANGE) else {
        return true;
    };
    let Ok(condition) = condition.to_str().map(str::trim) else {
        return false;
    };
    if condition.starts_with('"') {
        return stored
            .get(ETAG)
            .and_then(|e| e.to_str().ok())
            .is_some_and(|etag| etag.trim() == condition);
    }
    if condition.starts_with("W/") {
        return false;
    }
    let stored_date = stored
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok());
    match (httpdate::parse_http_date(condition).ok(), stored_date) {
        (Some(asked), Some(modified)) => asked == modified,
        _ => false,
    }
}

/// The `Content-Range` of one part (RFC 9110 §14.4): `bytes first-last/length`.
pub fn content_range(range: (u64, u64), length: u64) -> String {
    format!("bytes {}-{}/{length}", range.0, range.1)
}

/// The `Content-Range` of a 416 (RFC 9110 §15.5.17): `bytes */length`.
pub fn unsatisfied_content_range(length: u64) -> String {
    format!("bytes */{length}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;

    fn answer(range: &str, length: u64) -> RangeAnswer {
        answer_range(
            &Method::GET,
            &h(&[("range", range)]),
            &HeaderMap::new(),
            length,
        )
    }

    #[test]
    fn rfc_9110_14_1_2_examples() {
        // with a representation of 10000 bytes
        let p = |v: &str| answer(v, 10_000);
        assert_eq!(p("bytes=0-499"), RangeAnswer::Partial(vec![(0, 499)]));
        assert_eq!(p("bytes=500-999"), RangeAnswer::Partial(vec![(500, 999)]));
        assert_eq!(p("bytes=-500"), RangeAnswer::Partial(vec![(9500, 9999)]));
        assert_eq!(p("bytes=9500-"), RangeAnswer::Partial(vec![(9500, 9999)]));
        assert_eq!(
            p("bytes=0-0,-1"),
            RangeAnswer::Partial(vec![(0, 0), (9999, 9999)])
        );
        assert_eq!(
            p("bytes= 0-999, 4500-5499, -1000"),
            RangeAnswer::Partial(vec![(0, 999), (4500, 5499), (9000, 9999)])
        );
        assert_eq!(
            p("bytes=500-600,601-999"),
            RangeAnswer::Partial(vec![(500, 600), (601, 999)])
        );
        assert_eq!(p("bytes=500-700,601-999"), RangeAnswer::Full);
    }

    #[test]
    fn clamping_and_unsatisfiable() {
        assert_eq!(
            answer("bytes=0-99999", 10),
            RangeAnswer::Partial(vec![(0, 9)])
        );
        assert_eq!(answer("bytes=-100", 10), RangeAnswer::Partial(vec![(0, 9)]));
        assert_eq!(answer("bytes=10-", 10), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=-0", 10), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=0-", 0), RangeAnswer::Unsatisfiable);
        assert_eq!(
            answer("bytes=20-30, 5-6", 10),
            RangeAnswer::Partial(vec![(5, 6)])
        );
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
        assert_eq!(content_range((0, 499), 1234), "bytes 0-499/1234");
    }

    #[test]
    fn invalid_or_foreign_ranges_are_ignored() {
        for bad in [
            "items=0-5",
            "bytes",
            "bytes=",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(answer(bad, 100), RangeAnswer::Full, "{bad:?}");
        }
        assert_eq!(answer("BYTES=0-1", 100), RangeAnswer::Partial(vec![(0, 1)]));
        let many = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect::<Vec<_>>();
        assert_eq!(
            answer(&format!("bytes={}", many.join(",")), 1000),
            RangeAnswer::Full
        );
        // only GET
        let r = h(&[("range", "bytes=0-1")]);
        assert_eq!(
            answer_range(&Method::HEAD, &r, &HeaderMap::new(), 10),
            RangeAnswer::Full
        );
        assert_eq!(
            answer_range(&Method::GET, &HeaderMap::new(), &HeaderMap::new(), 10),
            RangeAnswer::Full
        );
    }

    #[test]
    fn if_range() {
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        let stored = h(&[("etag", "\"v1\""), ("last-modified", lm)]);
        let ask = |if_range: &str| {
            answer_range(
                &Method::GET,
                &h(&[("range", "bytes=0-1"), ("if-range", if_range)]),
                &stored,
                10,
            )
        };
        let partial = RangeAnswer::Partial(vec![(0, 1)]);
        assert_eq!(ask("\"v1\""), partial);
        assert_eq!(ask("\"v2\""), RangeAnswer::Full);
        assert_eq!(ask("W/\"v1\""), RangeAnswer::Full, "weak tags never match");
        assert_eq!(ask(lm), partial);
        assert_eq!(ask("Mon, 07 Nov 1994 08:49:37 GMT"), RangeAnswer::Full);
        assert_eq!(ask("garbage"), RangeAnswer::Full);
        let weak_stored = h(&[("etag", "W/\"v1\"")]);
        assert!(!if_range_matches(
            &h(&[("if-range", "\"v1\"")]),
            &weak_stored
        ));
        assert!(if_range_matches(&HeaderMap::new(), &weak_stored));
    }
}
