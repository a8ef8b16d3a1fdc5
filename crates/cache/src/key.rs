//! Cache keys: the primary key of a request (scheme, host, path, query, config version), the
//! secondary key from `Vary` (RFC 9111 §4.1), and the UUIDv5 key of a canonical request for
//! cacheable POST.

use std::fmt;

use http::header::{HeaderMap, ACCEPT_ENCODING, VARY};
use http::Method;
use uuid::Uuid;

use crate::directives::split_list;

/// Which query parameters take part in the key (per route).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueryParams {
    /// Every parameter (the default).
    #[default]
    All,
    /// Only the named parameters.
    Include(Vec<String>),
    /// Every parameter except the named ones (e.g. `utm_source`).
    Exclude(Vec<String>),
}

/// Per-route key rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    /// Sort the query parameters; off by default because some origins care about order.
    pub sort_query: bool,
    /// Which parameters are kept.
    pub query: QueryParams,
}

/// A primary cache key. Its text is stable across releases of this crate for equal inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// A key from text a [`CacheKey`] once produced (as stored beside a cached response).
    pub fn from_text(text: &str) -> CacheKey {
        CacheKey(text.to_string())
    }

    /// The same key with per-route extras (chosen headers, cookies, client country or region)
    /// folded in after the URL, so two requests differing in them never share an entry.
    /// Extras are `name=value` pairs; the caller orders them stably.
    pub fn with_extras(mut self, extras: &[(String, String)]) -> CacheKey {
        for (name, value) in extras {
            self.0.push('\u{1e}');
            self.0.push_str(name);
            self.0.push('=');
            self.0.push_str(value);
        }
        self
    }

    /// The key's text, by value.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The config version the key was built with.
    pub fn config_version(&self) -> &str {
        self.split().0
    }

    /// The key without its config version: `scheme://host/path?query` (or `scheme://host#uuid`
    /// for body-keyed requests). Purges match on this, across config versions.
    pub fn url(&self) -> &str {
        let url = self.split().1;
        url.split_once('\u{1e}').map_or(url, |(u, _)| u)
    }

    /// Splits `<len>:<version>|<url>`; every `CacheKey` is built in that shape by this module.
    fn split(&self) -> (&str, &str) {
        let parsed = self.0.split_once(':').and_then(|(len, rest)| {
            let len: usize = len.parse().ok()?;
            let version = rest.get(..len)?;
            let url = rest.get(len..)?.strip_prefix('|')?;
            Some((version, url))
        });
        parsed.unwrap_or(("", &self.0))
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The primary key: `<len>:<config_version>|<scheme>://<host><path>[?<query>]`, with scheme and
/// host lowercased, the scheme's default port dropped, percent-encoding normalised
/// ([`normalize_percent_encoding`]), an empty path as `/`, and the query filtered and
/// optionally sorted per `rules`. The config version is length-prefixed so no version text can
/// collide with another version's URL.
pub fn primary_key(
    scheme: &str,
    host: &str,
    path_and_query: &str,
    config_version: &str,
    rules: &KeyRules,
) -> CacheKey {
    // Built in one buffer: this runs for every cached request, so the common case (no
    // escapes, no query rules) appends slices instead of allocating per part.
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut key = String::with_capacity(
        config_version.len() + scheme.len() + host.len() + path_and_query.len() + 16,
    );
    // `itoa`, not `write!`: formatting machinery was ~280 instructions of every cache hit.
    key.push_str(itoa::Buffer::new().format(config_version.len()));
    key.push(':');
    key.push_str(config_version);
    key.push('|');
    let scheme_start = key.len();
    key.push_str(scheme);
    key[scheme_start..].make_ascii_lowercase();
    let scheme_end = key.len();
    key.push_str("://");
    let host_start = key.len();
    key.push_str(host);
    key[host_start..].make_ascii_lowercase();
    let default_port = match &key[scheme_start..scheme_end] {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port {
        if key[host_start..].ends_with(port) {
            key.truncate(key.len() - port.len());
        }
    }
    if path.is_empty() {
        key.push('/');
    } else if path.contains('%') {
        key.push_str(&normalize_percent_encoding(path));
    } else {
        key.push_str(path);
    }
    if let Some(q) = query {
        let plain = !q.contains('%')
            && !rules.sort_query
            && rules.query == QueryParams::All
            && !q.split('&').any(str::is_empty);
        if plain {
            if !q.is_empty() {
                key.push('?');
                key.push_str(q);
            }
        } else {
            let q = normalize_query(q, rules);
            if !q.is_empty() {
                key.push('?');
                key.push_str(&q);
            }
        }
    }
    CacheKey(key)
}

/// Lowercases the host and drops the scheme's default port (`:80` for http, `:443` for https),
/// since `Example.com:443` and `example.com` name the same resource (RFC 3986 §6.2.3).
pub fn normalize_host(scheme: &str, host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let default_port = match scheme {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    match default_port.and_then(|port| host.strip_suffix(port)) {
        Some(bare) => bare.to_string(),
        None => host,
    }
}

/// Percent-encoding normalisation (RFC 3986 §6.2.2.1–2): escapes of unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) are decoded, other escapes get uppercase hex; malformed escapes are
/// left as they are.
pub fn normalize_percent_encoding(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| {
                Some((
                    hex_value(*bytes.get(i + 1)?)?,
                    hex_value(*bytes.get(i + 2)?)?,
                ))
            })
            .flatten();
        match escaped {
            Some((hi, lo)) => {
                let byte = hi << 4 | lo;
                if is_unreserved(byte) {
                    out.push(byte);
                } else {
                    out.extend_from_slice(&[b'%', HEX[usize::from(hi)], HEX[usize::from(lo)]]);
                }
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// The query part of the key: parameters (split on `&`, empty ones dropped) normalised,
/// filtered by name per the rules, then sorted when the route asks for it.
pub fn normalize_query(query: &str, rules: &KeyRules) -> String {
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(normalize_percent_encoding)
        .filter(|p| keeps_param(&rules.query, param_name(p)))
        .collect();
    if rules.sort_query {
        params.sort_unstable();
    }
    params.join("&")
}

fn param_name(param: &str) -> &str {
    param.split_once('=').map_or(param, |(name, _)| name)
}

fn keeps_param(filter: &QueryParams, name: &str) -> bool {
    let listed = |names: &[String]| names.iter().any(|n| normalize_percent_encoding(n) == name);
    match filter {
        QueryParams::All => true,
        QueryParams::Include(names) => listed(names),
        QueryParams::Exclude(names) => !listed(names),
    }
}

/// The content codings the edge stores variants for, the client's preference reduced to one
/// (so `Vary: Accept-Encoding` yields at most three variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encoding {
    /// Brotli.
    Br,
    /// Gzip (`x-gzip` is an alias, RFC 9110 §8.4.1.3).
    Gzip,
    /// No coding.
    Identity,
}

impl Encoding {
    /// The coding's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
            Encoding::Identity => "identity",
        }
    }
}

/// Reduces `Accept-Encoding` (RFC 9110 §12.5.3) to one of br, gzip, identity: the acceptable
/// coding with the highest weight, br before gzip on ties; a coding not listed takes the
/// weight of `*`, or is unacceptable without it; `q=0` means not acceptable. Identity when the
/// field is absent or neither br nor gzip is acceptable. Members with a malformed weight are
/// ignored.
pub fn normalize_accept_encoding(headers: &HeaderMap) -> Encoding {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for value in headers.get_all(ACCEPT_ENCODING) {
        for member in split_list(&String::from_utf8_lossy(value.as_bytes())) {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let Some(weight) = parse_weight(parts) else {
                continue;
            };
            let slot = match coding.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "*" => &mut star,
                _ => continue,
            };
            slot.get_or_insert(weight);
        }
    }
    let br = br.or(star).unwrap_or(0);
    let gzip = gzip.or(star).unwrap_or(0);
    match (br, gzip) {
        (0, 0) => Encoding::Identity,
        (b, g) if b >= g => Encoding::Br,
        _ => Encoding::Gzip,
    }
}

/// The weight (RFC 9110 §12.4.2) in thousandths from a member's parameters: 1000 without `q`,
/// `None` when `q` is malformed (`qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`).
fn parse_weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (int, frac) = value.split_once('.').unwrap_or((value, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
        return match int {
            "0" => Some(thousandths),
            "1" if thousandths == 0 => Some(1000),
            _ => None,
        };
    }
    Some(1000)
}

/// The field names listed in a stored response's `Vary` (RFC 9111 §4.1), lowercased, sorted,
/// without duplicates. `None` for `Vary: *`, which never matches.
pub fn vary_field_names(response_headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for value in response_headers.get_all(VARY) {
        for member in split_list(&String::from_utf8_lossy(value.as_bytes())) {
            if member == "*" {
                return None;
            }
            names.push(member.to_ascii_lowercase());
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// The secondary key (RFC 9111 §4.1): for each `Vary` field name, the request's value with
/// field lines combined and whitespace around commas normalised, `Accept-Encoding` reduced by
/// [`normalize_accept_encoding`]. A header absent from the request is recorded as absent,
/// which is distinct from present-and-empty. Two requests select the same stored response
/// exactly when their secondary keys are equal.
pub fn secondary_key(vary_names: &[String], request_headers: &HeaderMap) -> String {
    let mut key = String::new();
    for name in vary_names {
        if !key.is_empty() {
            key.push('\n');
        }
        key.push_str(name);
        if let Some(value) = selecting_value(name, request_headers) {
            key.push('=');
            key.push_str(&value);
        }
    }
    key
}

fn selecting_value(name: &str, request_headers: &HeaderMap) -> Option<String> {
    if name == ACCEPT_ENCODING.as_str() {
        return Some(
            normalize_accept_encoding(request_headers)
                .as_str()
                .to_string(),
        );
    }
    let mut values = request_headers.get_all(name).iter().peekable();
    values.peek()?;
    let members: Vec<String> = values
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
        })
        .collect();
    Some(members.join(","))
}

/// The namespace of request UUIDs. Fixed forever: changing it would re-key every POST entry.
pub const REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_8d3b_4c5a_9e7f_1b2d_3c4e_5f60);

/// A request reduced to what a cacheable POST (or GraphQL-style GET) is keyed on.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// Path and optional query, as received.
    pub path_and_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The header names the route keys on (case-insensitive).
    pub key_headers: &'a [String],
    /// A digest of the request body computed by the caller (e.g. SHA-256).
    pub body_hash: &'a [u8],
}

impl CanonicalRequest<'_> {
    /// The canonical text: method, normalised path, sorted normalised query, the chosen headers
    /// as sorted `name:value` lines (absent ones omitted), and the body hash in hex — one per
    /// line.
    pub fn canonical_text(&self) -> String {
        let (path, query) = match self.path_and_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (self.path_and_query, ""),
        };
        let sorted = KeyRules {
            sort_query: true,
            query: QueryParams::All,
        };
        let mut names: Vec<String> = self
            .key_headers
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        names.sort_unstable();
        names.dedup();
        let headers: Vec<String> = names
            .iter()
            .filter_map(|n| selecting_value(n, self.headers).map(|v| format!("{n}:{v}")))
            .collect();
        let body: String = self.body_hash.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.method.as_str().to_ascii_uppercase(),
            normalize_percent_encoding(path),
            normalize_query(query, &sorted),
            headers.join("\n"),
            body
        )
    }

    /// The UUIDv5 of [`Self::canonical_text`] in [`REQUEST_NAMESPACE`].
    pub fn uuid(&self) -> Uuid {
        Uuid::new_v5(&REQUEST_NAMESPACE, self.canonical_text().as_bytes())
    }
}

/// The primary key of a body-keyed request: like [`primary_key`] but the path and query are
/// replaced by the request's UUID, so the key still folds in the config version and host.
pub fn request_key(
    scheme: &str,
    host: &str,
    request: &CanonicalRequest<'_>,
    config_version: &str,
) -> CacheKey {
    let scheme = scheme.to_ascii_lowercase();
    let host = normalize_host(&scheme, host);
    CacheKey(format!(
        "{}:{config_version}|{scheme}://{host}#{}",
        config_version.len(),
        request.uuid()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::h;

    fn key(url: &str, rules: &KeyRules) -> String {
        primary_key("https", "example.com", url, "cv1", rules).to_string()
    }

    #[test]
    fn percent_encoding_is_normalised() {
        // RFC 3986 §6.2.2 examples
        assert_eq!(normalize_percent_encoding("%7Euser"), "~user");
        assert_eq!(normalize_percent_encoding("%7euser"), "~user");
        assert_eq!(normalize_percent_encoding("a%2fb"), "a%2Fb");
        assert_eq!(normalize_percent_encoding("%41%62%2d%5F%2E"), "Ab-_.");
        assert_eq!(normalize_percent_encoding("%20%e2%82%ac"), "%20%E2%82%AC");
        // malformed escapes stay as they are
        assert_eq!(normalize_percent_encoding("100%"), "100%");
        assert_eq!(normalize_percent_encoding("%zz%4"), "%zz%4");
        assert_eq!(normalize_percent_encoding("%%41"), "%A");
    }

    #[test]
    fn primary_key_shape_and_normalisation() {
        let r = KeyRules::default();
        assert_eq!(key("/a?b=1", &r), "3:cv1|https://example.com/a?b=1");
        assert_eq!(key("", &r), "3:cv1|https://example.com/");
        assert_eq!(key("/?", &r), "3:cv1|https://example.com/");
        assert_eq!(key("/%7Ea?x=%7e&&y", &r), key("/~a?x=~&y", &r));
        assert_eq!(
            primary_key("HTTPS", "Example.COM:443", "/", "cv1", &r),
            primary_key("https", "example.com", "/", "cv1", &r)
        );
        assert_eq!(
            primary_key("http", "example.com:80", "/", "v", &r).as_str(),
            "1:v|http://example.com/"
        );
        assert_eq!(
            primary_key("http", "example.com:8080", "/", "v", &r).as_str(),
            "1:v|http://example.com:8080/"
        );
        assert_ne!(
            primary_key("http", "example.com", "/", "v", &r),
            primary_key("https", "example.com", "/", "v", &r)
        );
        // path case is significant
        assert_ne!(key("/A", &r), key("/a", &r));
    }

    #[test]
    fn config_version_is_always_folded_in() {
        let r = KeyRules::default();
        let a = primary_key("https", "example.com", "/x", "v1", &r);
        let b = primary_key("https", "example.com", "/x", "v2", &r);
        assert_ne!(a, b);
        // length prefix: a version containing the separator cannot forge another key
        let c = primary_key("https", "x|https://example.com/x", "/", "v1", &r);
        assert_ne!(c, a);
        assert!(c.as_str().starts_with("2:v1|"));
    }

    #[test]
    fn key_parts() {
        let r = KeyRules::default();
        let k = primary_key("https", "example.com", "/x?y", "v|1:2", &r);
        assert_eq!(k.config_version(), "v|1:2");
        assert_eq!(k.url(), "https://example.com/x?y");
        let e = primary_key("https", "example.com", "/", "", &r);
        assert_eq!(e.config_version(), "");
        assert_eq!(e.url(), "https://example.com/");
        let uni = primary_key("https", "example.com", "/", "vé", &r);
        assert_eq!(uni.config_version(), "vé");
    }

    #[test]
    fn query_order_is_kept_unless_sorting() {
        let keep = KeyRules::default();
        assert_ne!(key("/?b=2&a=1", &keep), key("/?a=1&b=2", &keep));
        let sort = KeyRules {
            sort_query: true,
            ..KeyRules::default()
        };
        assert_eq!(key("/?b=2&a=1", &sort), key("/?a=1&b=2", &sort));
        assert_eq!(
            key("/?b=2&a=1&a=0", &sort),
            "3:cv1|https://example.com/?a=0&a=1&b=2"
        );
        // sorting happens after normalisation
        assert_eq!(key("/?%62=1&a=2", &sort), key("/?a=2&b=1", &sort));
    }

    #[test]
    fn query_params_include_exclude() {
        let exclude = KeyRules {
            sort_query: false,
            query: QueryParams::Exclude(vec!["utm_source".into(), "fbclid".into()]),
        };
        assert_eq!(
            key("/p?id=7&utm_source=x&fbclid=y&utm_source", &exclude),
            "3:cv1|https://example.com/p?id=7"
        );
        assert_eq!(
            key("/p?utm_source=x", &exclude),
            "3:cv1|https://example.com/p"
        );
        let include = KeyRules {
            sort_query: false,
            query: QueryParams::Include(vec!["id".into(), "page".into()]),
        };
        assert_eq!(
            key("/p?x=1&page=2&id=7&y", &include),
            "3:cv1|https://example.com/p?page=2&id=7"
        );
        // names compare after normalisation
        assert_eq!(
            key("/p?%69d=7", &include),
            "3:cv1|https://example.com/p?id=7"
        );
        // a name is not a prefix match
        assert_eq!(key("/p?idx=7", &include), "3:cv1|https://example.com/p");
    }

    #[test]
    fn accept_encoding_normalisation() {
        let ae = |v: &str| normalize_accept_encoding(&h(&[("accept-encoding", v)]));
        assert_eq!(
            normalize_accept_encoding(&HeaderMap::new()),
            Encoding::Identity
        );
        assert_eq!(ae("gzip, deflate, br"), Encoding::Br);
        assert_eq!(ae("gzip, deflate"), Encoding::Gzip);
        assert_eq!(ae("x-gzip"), Encoding::Gzip);
        assert_eq!(ae("deflate"), Encoding::Identity);
        assert_eq!(ae(""), Encoding::Identity);
        assert_eq!(ae("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(ae("br;q=0, gzip;q=0"), Encoding::Identity);
        assert_eq!(ae("BR;Q=1.0, GZIP;q=1"), Encoding::Br);
        assert_eq!(ae("*"), Encoding::Br);
        assert_eq!(ae("*;q=0.5, gzip"), Encoding::Gzip);
        assert_eq!(ae("*, br;q=0"), Encoding::Gzip);
        assert_eq!(ae("identity;q=1, *;q=0"), Encoding::Identity);
        // malformed weights drop the member
        assert_eq!(ae("br;q=2, gzip"), Encoding::Gzip);
        assert_eq!(ae("br;q=0.1234, gzip;q=0.001"), Encoding::Gzip);
        assert_eq!(ae("br;q=abc"), Encoding::Identity);
        // several field lines
        let two = h(&[
            ("accept-encoding", "gzip;q=0.5"),
            ("accept-encoding", "br;q=0.7"),
        ]);
        assert_eq!(normalize_accept_encoding(&two), Encoding::Br);
        // RFC 9110 §12.5.3 examples
        assert_eq!(ae("compress, gzip"), Encoding::Gzip);
        assert_eq!(ae("compress;q=0.5, gzip;q=1.0"), Encoding::Gzip);
        assert_eq!(ae("gzip;q=1.0, identity; q=0.5, *;q=0"), Encoding::Gzip);
    }

    #[test]
    fn vary_names() {
        assert_eq!(vary_field_names(&HeaderMap::new()), Some(vec![]));
        assert_eq!(
            vary_field_names(&h(&[
                ("vary", "Accept-Encoding, accept"),
                ("vary", "ACCEPT")
            ])),
            Some(vec!["accept".to_string(), "accept-encoding".to_string()])
        );
        assert_eq!(vary_field_names(&h(&[("vary", "accept, *")])), None);
    }

    #[test]
    fn secondary_key_matching() {
        let names = vec!["accept-encoding".to_string(), "accept-language".to_string()];
        let a = secondary_key(
            &names,
            &h(&[
                ("accept-encoding", "gzip, deflate, br"),
                ("accept-language", "en"),
            ]),
        );
        let b = secondary_key(
            &names,
            &h(&[
                ("accept-encoding", "br;q=1, gzip;q=0.9"),
                ("Accept-Language", "en"),
            ]),
        );
        assert_eq!(a, b);
        assert_eq!(a, "accept-encoding=br\naccept-language=en");
        let c = secondary_key(
            &names,
            &h(&[("accept-encoding", "br"), ("accept-language", "fr")]),
        );
        assert_ne!(a, c);
        // absent differs from empty; absent Accept-Encoding normalises to identity
        let absent = secondary_key(&names, &HeaderMap::new());
        let empty = secondary_key(&names, &h(&[("accept-language", "")]));
        assert_eq!(absent, "accept-encoding=identity\naccept-language");
        assert_ne!(absent, empty);
        // field lines combine; whitespace around commas is normalised (RFC 9111 §4.1)
        let names = vec!["accept".to_string()];
        let one = secondary_key(&names, &h(&[("accept", "text/html,  image/webp")]));
        let two = secondary_key(
            &names,
            &h(&[("accept", "text/html"), ("accept", " image/webp ")]),
        );
        assert_eq!(one, two);
        assert_eq!(secondary_key(&[], &h(&[("accept", "x")])), "");
        // a Vary member that is not a valid field name can only be absent from requests
        let odd = vec!["bad name".to_string(), "x(y)".to_string()];
        assert_eq!(
            secondary_key(&odd, &h(&[("accept", "x")])),
            "bad name\nx(y)"
        );
    }

    #[test]
    fn request_uuid_is_canonical() {
        let headers = h(&[("content-type", "application/json"), ("x-tenant", "a")]);
        let names = vec!["X-Tenant".to_string(), "content-type".to_string()];
        let req = CanonicalRequest {
            method: &Method::POST,
            path_and_query: "/graphql?b=2&a=%7e",
            headers: &headers,
            key_headers: &names,
            body_hash: &[0xab, 0x01],
        };
        assert_eq!(
            req.canonical_text(),
            "POST\n/graphql\na=~&b=2\ncontent-type:application/json\nx-tenant:a\nab01"
        );
        let uuid = req.uuid();
        assert_eq!(uuid.get_version_num(), 5);
        // equal canonical requests → equal UUIDs, whatever the query order or header case
        let names2 = vec!["content-type".to_string(), "x-tenant".to_string()];
        let same = CanonicalRequest {
            path_and_query: "/graphql?a=~&b=2",
            key_headers: &names2,
            ..req
        };
        assert_eq!(same.uuid(), uuid);
        // the body hash, a keyed header value, or the method changes it
        assert_ne!(
            CanonicalRequest {
                body_hash: &[0xab, 0x02],
                ..req
            }
            .uuid(),
            uuid
        );
        let other = h(&[("content-type", "application/json"), ("x-tenant", "b")]);
        assert_ne!(
            CanonicalRequest {
                headers: &other,
                ..req
            }
            .uuid(),
            uuid
        );
        assert_ne!(
            CanonicalRequest {
                method: &Method::GET,
                ..req
            }
            .uuid(),
            uuid
        );
        // unkeyed headers do not
        let extra = h(&[
            ("content-type", "application/json"),
            ("x-tenant", "a"),
            ("x-forwarded-host", "evil"),
        ]);
        assert_eq!(
            CanonicalRequest {
                headers: &extra,
                ..req
            }
            .uuid(),
            uuid
        );
        // stable across releases
        assert_eq!(
            uuid,
            Uuid::new_v5(&REQUEST_NAMESPACE, req.canonical_text().as_bytes())
        );
    }

    #[test]
    fn request_key_folds_in_version_and_host() {
        let headers = HeaderMap::new();
        let req = CanonicalRequest {
            method: &Method::POST,
            path_and_query: "/q",
            headers: &headers,
            key_headers: &[],
            body_hash: &[1],
        };
        let a = request_key("https", "Example.com", &req, "v1");
        assert_eq!(
            a.as_str(),
            format!("2:v1|https://example.com#{}", req.uuid())
        );
        assert_ne!(a, request_key("https", "example.com", &req, "v2"));
        assert_ne!(a, request_key("https", "example.org", &req, "v1"));
    }
}
