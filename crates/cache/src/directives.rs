//! Cache directives: `Cache-Control` (RFC 9111 §5.2) and `CDN-Cache-Control` (RFC 9213).
//!
//! Both parse into the same [`Directives`]; [`response_directives`] picks the one this shared
//! cache obeys for a response.

use http::header::{HeaderMap, CACHE_CONTROL};

/// The `CDN-Cache-Control` header name (RFC 9213 §2).
pub const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// The largest delta-seconds value a cache must keep; larger values are clamped to it
/// (RFC 9111 §1.2.2).
pub const DELTA_SECONDS_MAX: u64 = 1 << 31;

/// A delta-seconds argument (RFC 9111 §1.2.2) as found in a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// A valid, non-negative number of seconds (clamped to [`DELTA_SECONDS_MAX`]).
    Seconds(u64),
    /// Missing, negative or non-numeric: RFC 9111 §4.2.1 encourages treating a response whose
    /// freshness information is invalid as stale.
    Invalid,
}

impl Delta {
    /// The seconds when valid, `0` when invalid (invalid freshness → stale, RFC 9111 §4.2.1).
    pub fn seconds_or_zero(self) -> u64 {
        match self {
            Delta::Seconds(s) => s,
            Delta::Invalid => 0,
        }
    }
}

/// Parses delta-seconds (RFC 9111 §1.2.2): 1*DIGIT; values beyond 2^31 are clamped to 2^31.
/// Anything else (empty, signs, spaces inside, decimals) is [`Delta::Invalid`].
pub fn parse_delta_seconds(s: &str) -> Delta {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Delta::Invalid;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = (v * 10 + u64::from(b - b'0')).min(DELTA_SECONDS_MAX);
    }
    Delta::Seconds(v)
}

/// The cache directives this crate acts on, from either header.
///
/// Argument directives keep their first occurrence (RFC 9111 §4.2.1 allows "the first
/// occurrence should be used"); flag directives are set by any occurrence. Qualified `private`
/// and `no-cache` (with field names) are treated as unqualified, the conservative reading the
/// RFC allows a shared cache (§5.2.2.4, §5.2.2.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `max-age` (§5.2.1.1 request, §5.2.2.1 response).
    pub max_age: Option<Delta>,
    /// `s-maxage` (§5.2.2.10).
    pub s_maxage: Option<Delta>,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<Delta>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<Delta>,
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-cache` (§5.2.1.4, §5.2.2.4).
    pub no_cache: bool,
    /// `private` (§5.2.2.7).
    pub private: bool,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `only-if-cached` (§5.2.1.7).
    pub only_if_cached: bool,
    /// `min-fresh` (§5.2.1.3), a request directive.
    pub min_fresh: Option<Delta>,
    /// `max-stale` (§5.2.1.2), a request directive: `Some(None)` without an argument (any
    /// staleness), `Some(Some(delta))` with one.
    pub max_stale: Option<Option<Delta>>,
}

impl Directives {
    /// Parses every `Cache-Control` field line in `headers` (RFC 9111 §5.2: a list; several
    /// lines are one comma-separated list). Directive names are case-insensitive; arguments may
    /// be tokens or quoted strings (§5.2: recipients accept both forms).
    pub fn from_cache_control(headers: &HeaderMap) -> Directives {
        let mut d = Directives::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let text = String::from_utf8_lossy(value.as_bytes());
            for item in split_list(&text) {
                let (name, arg) = split_directive(item);
                d.apply(&name.to_ascii_lowercase(), arg.as_deref().map(Arg::Text));
            }
        }
        d
    }

    /// Parses `CDN-Cache-Control` (RFC 9213 §2.1): a Structured Fields dictionary (RFC 8941).
    /// Returns `None` when the field is absent, empty or fails to parse — RFC 9213 §2.1 says such
    /// a field is ignored.
    pub fn from_cdn_cache_control(headers: &HeaderMap) -> Option<Directives> {
        let mut joined = String::new();
        for value in headers.get_all(CDN_CACHE_CONTROL) {
            let text = value.to_str().ok()?;
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(text);
        }
        let members = sf::parse_dictionary(&joined)?;
        if members.is_empty() {
            return None;
        }
        let mut d = Directives::default();
        for (key, item) in &members {
            d.apply(key, Some(Arg::Sf(item)));
        }
        Some(d)
    }

    fn apply(&mut self, name: &str, arg: Option<Arg<'_>>) {
        let flag = arg.as_ref().is_none_or(Arg::is_true);
        match name {
            "max-age" => keep_first(&mut self.max_age, arg),
            "s-maxage" => keep_first(&mut self.s_maxage, arg),
            "stale-while-revalidate" => keep_first(&mut self.stale_while_revalidate, arg),
            "stale-if-error" => keep_first(&mut self.stale_if_error, arg),
            "no-store" => self.no_store |= flag,
            "no-cache" => self.no_cache |= flag,
            "private" => self.private |= flag,
            "public" => self.public |= flag,
            "must-revalidate" => self.must_revalidate |= flag,
            "proxy-revalidate" => self.proxy_revalidate |= flag,
            "must-understand" => self.must_understand |= flag,
            "only-if-cached" => self.only_if_cached |= flag,
            "min-fresh" => keep_first(&mut self.min_fresh, arg),
            "max-stale" if self.max_stale.is_none() => {
                self.max_stale = Some(arg.map(|a| a.delta()));
            }
            _ => {} // unknown extensions are ignored (§5.2.3)
        }
    }
}

/// A directive argument: Cache-Control text, or a Structured Fields item.
enum Arg<'a> {
    Text(&'a str),
    Sf(&'a sf::Item),
}

impl Arg<'_> {
    /// For flag directives: Cache-Control flags with an argument (qualified forms) count as
    /// set; in a Structured Fields dictionary only `?1` (or a bare key) sets a flag and `?0`
    /// clears it (RFC 8941 §3.2); other item types are treated as set, conservatively.
    fn is_true(&self) -> bool {
        !matches!(self, Arg::Sf(sf::Item::Boolean(false)))
    }

    fn delta(&self) -> Delta {
        match self {
            Arg::Text(t) => parse_delta_seconds(t),
            Arg::Sf(sf::Item::Integer(n)) if *n >= 0 => {
                Delta::Seconds((*n as u64).min(DELTA_SECONDS_MAX))
            }
            Arg::Sf(_) => Delta::Invalid,
        }
    }
}

fn keep_first(slot: &mut Option<Delta>, arg: Option<Arg<'_>>) {
    if slot.is_none() {
        *slot = Some(arg.map_or(Delta::Invalid, |a| a.delta()));
    }
}

/// Which header the directives of a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveSource {
    /// `CDN-Cache-Control` was present and valid: `Cache-Control` and `Expires` are ignored.
    CdnCacheControl,
    /// `Surrogate-Control` (W3C Edge Architecture 1.0) addressed to every surrogate or to this
    /// one: `Cache-Control` and `Expires` are ignored, as with `CDN-Cache-Control`.
    SurrogateControl,
    /// Plain `Cache-Control` (possibly absent: then all defaults).
    CacheControl,
}

/// The name this cache answers to in `Surrogate-Control` targets; sent upstream in
/// `Surrogate-Capability: regionless="Surrogate/1.0"`.
pub const SURROGATE_NAME: &str = "regionless";

/// `Surrogate-Control` directives that apply to this cache: those without a target, and those
/// whose `;target` is [`SURROGATE_NAME`]. Understood: `max-age=N[+M]` (the `+M` stale part is
/// ignored), `no-store`. `None` when the header is absent or names only other surrogates.
pub fn surrogate_directives(headers: &HeaderMap) -> Option<Directives> {
    let mut d = Directives::default();
    let mut any = false;
    for value in headers.get_all("surrogate-control") {
        let text = String::from_utf8_lossy(value.as_bytes());
        for item in split_list(&text) {
            let (directive, target) = match item.split_once(';') {
                Some((d, t)) => (d.trim(), Some(t.trim())),
                None => (item, None),
            };
            if target.is_some_and(|t| !t.eq_ignore_ascii_case(SURROGATE_NAME)) {
                continue;
            }
            let (name, arg) = split_directive(directive);
            match name.to_ascii_lowercase().as_str() {
                "max-age" => {
                    let arg = arg.unwrap_or_default();
                    let seconds = arg.split('+').next().unwrap_or_default();
                    d.max_age = Some(parse_delta_seconds(seconds));
                    any = true;
                }
                "no-store" => {
                    d.no_store = true;
                    any = true;
                }
                _ => {}
            }
        }
    }
    any.then_some(d)
}

/// The directives this shared cache obeys for a response (RFC 9213 §2.1): a present, valid,
/// non-empty `CDN-Cache-Control` wins and `Cache-Control` and `Expires` are then ignored; then
/// `Surrogate-Control` addressed to us (same effect); otherwise `Cache-Control`.
pub fn response_directives(headers: &HeaderMap) -> (Directives, DirectiveSource) {
    if let Some(d) = Directives::from_cdn_cache_control(headers) {
        return (d, DirectiveSource::CdnCacheControl);
    }
    if let Some(d) = surrogate_directives(headers) {
        return (d, DirectiveSource::SurrogateControl);
    }
    (
        Directives::from_cache_control(headers),
        DirectiveSource::CacheControl,
    )
}

/// Splits a comma-separated list (RFC 9110 §5.6.1), not splitting inside quoted strings, and
/// drops empty elements.
pub(crate) fn split_list(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut in_quote, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            ',' if !in_quote => {
                items.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(text[start..].trim());
    items.retain(|s| !s.is_empty());
    items
}

/// Splits `name[=arg]`, unquoting a quoted-string argument (RFC 9110 §5.6.4).
fn split_directive(item: &str) -> (&str, Option<String>) {
    match item.split_once('=') {
        None => (item.trim(), None),
        Some((name, arg)) => (name.trim(), Some(unquote(arg.trim()))),
    }
}

fn unquote(arg: &str) -> String {
    let Some(inner) = arg
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return arg.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A minimal Structured Fields (RFC 8941) dictionary parser: enough for `CDN-Cache-Control`.
mod sf {
    /// A bare item; parameters are parsed for validity and dropped.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Item {
        Integer(i64),
        Boolean(bool),
        /// Tokens, strings, decimals, byte sequences: valid but meaningless to us.
        Other,
    }

    /// RFC 8941 §4.2.2. `None` on any parse error.
    pub fn parse_dictionary(input: &str) -> Option<Vec<(String, Item)>> {
        let mut p = Parser {
            s: input.as_bytes(),
            i: 0,
        };
        p.skip_sp();
        let mut out = Vec::new();
        while !p.done() {
            let key = p.key()?;
            let item = if p.eat(b'=') {
                p.bare_item()?
            } else {
                Item::Boolean(true)
            };
            p.parameters()?;
            out.push((key, item));
            p.skip_ows();
            if p.done() {
                break;
            }
            if !p.eat(b',') {
                return None;
            }
            p.skip_ows();
            if p.done() {
                return None; // trailing comma
            }
        }
        Some(out)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn done(&self) -> bool {
            self.i >= self.s.len()
        }
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, b: u8) -> bool {
            let hit = self.peek() == Some(b);
            self.i += usize::from(hit);
            hit
        }
        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
        }
        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }
        fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &str {
            let start = self.i;
            while self.peek().is_some_and(&f) {
                self.i += 1;
            }
            std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default()
        }
        fn key(&mut self) -> Option<String> {
            let first = self.peek()?;
            if !(first.is_ascii_lowercase() || first == b'*') {
                return None;
            }
            let key = self.take_while(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b)
            });
            Some(key.to_string())
        }
        fn parameters(&mut self) -> Option<()> {
            while self.eat(b';') {
                self.skip_sp();
                self.key()?;
                if self.eat(b'=') {
                    self.bare_item()?;
                }
            }
            Some(())
        }
        fn bare_item(&mut self) -> Option<Item> {
            match self.peek()? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string(),
                b'?' => self.boolean(),
                b':' => self.byte_sequence(),
                b if b.is_ascii_alphabetic() || b == b'*' => {
                    self.take_while(|b| is_tchar(b) || b == b':' || b == b'/');
                    Some(Item::Other)
                }
                _ => None,
            }
        }
        fn number(&mut self) -> Option<Item> {
            let negative = self.eat(b'-');
            let int = self.take_while(|b| b.is_ascii_digit()).to_string();
            if int.is_empty() {
                return None;
            }
            if self.eat(b'.') {
                let frac = self.take_while(|b| b.is_ascii_digit());
                return (int.len() <= 12 && (1..=3).contains(&frac.len())).then_some(Item::Other);
            }
            if int.len() > 15 {
                return None;
            }
            let n: i64 = int.parse().ok()?;
            Some(Item::Integer(if negative { -n } else { n }))
        }
        fn string(&mut self) -> Option<Item> {
            self.i += 1;
            loop {
                match self.peek()? {
                    b'\\' => {
                        self.i += 1;
                        if !matches!(self.peek()?, b'"' | b'\\') {
                            return None;
                        }
                    }
                    b'"' => {
                        self.i += 1;
                        return Some(Item::Other);
                    }
                    0x20..=0x7e => {}
                    _ => return None,
                }
                self.i += 1;
            }
        }
        fn boolean(&mut self) -> Option<Item> {
            self.i += 1;
            match self.peek()? {
                b'1' => {
                    self.i += 1;
                    Some(Item::Boolean(true))
                }
                b'0' => {
                    self.i += 1;
                    Some(Item::Boolean(false))
                }
                _ => None,
            }
        }
        fn byte_sequence(&mut self) -> Option<Item> {
            self.i += 1;
            self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
            self.eat(b':').then_some(Item::Other)
        }
    }

    use super::is_tchar;
}

/// RFC 9110 §5.6.2 `tchar`: the bytes a token may contain.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod surrogate_tests {
    use super::*;
    use crate::test_support::h;

    #[test]
    fn surrogate_control_for_us_or_everyone_overrides_cache_control() {
        let (d, src) = response_directives(&h(&[
            ("cache-control", "no-store"),
            ("surrogate-control", "max-age=10000;regionless"),
        ]));
        assert_eq!(src, DirectiveSource::SurrogateControl);
        assert_eq!(d.max_age, Some(Delta::Seconds(10000)));
        assert!(!d.no_store);
        let (d, _) = response_directives(&h(&[("surrogate-control", "no-store")]));
        assert!(d.no_store);
        let (_, src) = response_directives(&h(&[
            ("cache-control", "max-age=5"),
            ("surrogate-control", "max-age=100;other-cdn"),
        ]));
        assert_eq!(
            src,
            DirectiveSource::CacheControl,
            "other targets are ignored"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn cc(v: &str) -> Directives {
        Directives::from_cache_control(&headers(&[("cache-control", v)]))
    }

    #[test]
    fn delta_seconds_parsing_follows_1_2_2() {
        assert_eq!(parse_delta_seconds("0"), Delta::Seconds(0));
        assert_eq!(parse_delta_seconds("3600"), Delta::Seconds(3600));
        assert_eq!(parse_delta_seconds("007"), Delta::Seconds(7));
        assert_eq!(
            parse_delta_seconds("99999999999999999999999"),
            Delta::Seconds(DELTA_SECONDS_MAX)
        );
        assert_eq!(parse_delta_seconds("2147483649"), Delta::Seconds(1 << 31));
        for bad in ["", "-1", "+1", "1.5", "1 0", "abc", "0x10", "1e3"] {
            assert_eq!(parse_delta_seconds(bad), Delta::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn names_are_case_insensitive_and_flags_parse() {
        let d = cc("Public, NO-STORE, No-Cache, PRIVATE, must-revalidate, Proxy-Revalidate, must-understand, only-if-cached");
        assert!(d.public && d.no_store && d.no_cache && d.private);
        assert!(d.must_revalidate && d.proxy_revalidate && d.must_understand && d.only_if_cached);
        assert_eq!(cc("MAX-AGE=5").max_age, Some(Delta::Seconds(5)));
        assert_eq!(cc("S-MaxAge=6").s_maxage, Some(Delta::Seconds(6)));
    }

    #[test]
    fn multiple_field_lines_form_one_list() {
        let h = headers(&[
            ("cache-control", "public"),
            ("cache-control", "max-age=60, stale-while-revalidate=30"),
            ("cache-control", "stale-if-error=600"),
        ]);
        let d = Directives::from_cache_control(&h);
        assert!(d.public);
        assert_eq!(d.max_age, Some(Delta::Seconds(60)));
        assert_eq!(d.stale_while_revalidate, Some(Delta::Seconds(30)));
        assert_eq!(d.stale_if_error, Some(Delta::Seconds(600)));
    }

    #[test]
    fn quoted_arguments_are_accepted() {
        assert_eq!(cc("max-age=\"3600\"").max_age, Some(Delta::Seconds(3600)));
        assert_eq!(cc("max-age=\"36\\00\"").max_age, Some(Delta::Seconds(3600)));
        assert_eq!(cc("max-age=\"abc\"").max_age, Some(Delta::Invalid));
        // a comma inside a quoted string does not split the list
        let d = cc("private=\"set-cookie, x-foo\", max-age=10");
        assert!(d.private);
        assert_eq!(d.max_age, Some(Delta::Seconds(10)));
        let d = cc("no-cache=\"Set-Cookie\"");
        assert!(d.no_cache, "qualified no-cache is treated as unqualified");
    }

    #[test]
    fn invalid_and_duplicate_arguments() {
        assert_eq!(cc("max-age").max_age, Some(Delta::Invalid));
        assert_eq!(cc("max-age=").max_age, Some(Delta::Invalid));
        assert_eq!(cc("max-age=-1").max_age, Some(Delta::Invalid));
        assert_eq!(cc("max-age=1.5").max_age, Some(Delta::Invalid));
        assert_eq!(cc("max-age = 20").max_age, Some(Delta::Seconds(20)));
        // first occurrence wins (§4.2.1), also across lines, and also when the first is invalid
        assert_eq!(
            cc("max-age=10, max-age=1000").max_age,
            Some(Delta::Seconds(10))
        );
        assert_eq!(
            cc("max-age=abc, max-age=1000").max_age,
            Some(Delta::Invalid)
        );
        let h = headers(&[
            ("cache-control", "max-age=3"),
            ("cache-control", "max-age=9"),
        ]);
        assert_eq!(
            Directives::from_cache_control(&h).max_age,
            Some(Delta::Seconds(3))
        );
    }

    #[test]
    fn request_directives() {
        let d = cc("max-stale, min-fresh=5, only-if-cached");
        assert_eq!(d.max_stale, Some(None));
        assert_eq!(d.min_fresh, Some(Delta::Seconds(5)));
        assert!(d.only_if_cached);
        assert_eq!(cc("max-stale=30").max_stale, Some(Some(Delta::Seconds(30))));
        assert_eq!(cc("max-stale=x").max_stale, Some(Some(Delta::Invalid)));
        assert_eq!(cc("min-fresh").min_fresh, Some(Delta::Invalid));
        assert_eq!(cc("no-cache").max_stale, None);
        assert_eq!(
            cc("max-stale=5, max-stale").max_stale,
            Some(Some(Delta::Seconds(5)))
        );
    }

    #[test]
    fn empty_elements_and_unknown_extensions_are_ignored() {
        let d = cc(" , ,max-age=5,, foo=bar, community=\"UCI\" ,");
        assert_eq!(d.max_age, Some(Delta::Seconds(5)));
        assert_eq!(cc(""), Directives::default());
    }

    #[test]
    fn cdn_cache_control_is_a_structured_dictionary() {
        let h = headers(&[("cdn-cache-control", "max-age=60, stale-if-error=10, public")]);
        let d = Directives::from_cdn_cache_control(&h).unwrap();
        assert_eq!(d.max_age, Some(Delta::Seconds(60)));
        assert_eq!(d.stale_if_error, Some(Delta::Seconds(10)));
        assert!(d.public);
        let h = headers(&[("cdn-cache-control", "no-store;foo=1, private=?0")]);
        let d = Directives::from_cdn_cache_control(&h).unwrap();
        assert!(d.no_store && !d.private);
        let h = headers(&[
            ("cdn-cache-control", "max-age=60"),
            ("cdn-cache-control", "must-revalidate"),
        ]);
        assert!(
            Directives::from_cdn_cache_control(&h)
                .unwrap()
                .must_revalidate
        );
    }

    #[test]
    fn invalid_or_empty_cdn_cache_control_is_ignored() {
        for bad in [
            "Max-Age=60", // keys are lowercase in Structured Fields
            "max-age=60,",
            "max-age=\"60",
            "max-age=60 max-age=3",
            "max-age=@",
            "max-age=1234567890123456",
        ] {
            let h = headers(&[("cdn-cache-control", bad)]);
            assert_eq!(Directives::from_cdn_cache_control(&h), None, "{bad:?}");
        }
        assert_eq!(Directives::from_cdn_cache_control(&HeaderMap::new()), None);
        let h = headers(&[("cdn-cache-control", "")]);
        assert_eq!(Directives::from_cdn_cache_control(&h), None);
        // valid dictionary, but a string max-age is not an integer: invalid → stale
        let h = headers(&[("cdn-cache-control", "max-age=\"60\"")]);
        let d = Directives::from_cdn_cache_control(&h).unwrap();
        assert_eq!(d.max_age, Some(Delta::Invalid));
        let h = headers(&[("cdn-cache-control", "max-age=-5")]);
        let d = Directives::from_cdn_cache_control(&h).unwrap();
        assert_eq!(d.max_age, Some(Delta::Invalid));
    }

    #[test]
    fn cdn_cache_control_takes_precedence() {
        let h = headers(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=30"),
        ]);
        let (d, src) = response_directives(&h);
        assert_eq!(src, DirectiveSource::CdnCacheControl);
        assert!(!d.no_store);
        assert_eq!(d.max_age, Some(Delta::Seconds(30)));
        let h = headers(&[("cache-control", "max-age=5"), ("cdn-cache-control", "Bad")]);
        let (d, src) = response_directives(&h);
        assert_eq!(src, DirectiveSource::CacheControl);
        assert_eq!(d.max_age, Some(Delta::Seconds(5)));
    }
}
