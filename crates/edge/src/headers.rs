//! Header hygiene between client, node and origin: hop-by-hop removal (RFC 9110 §7.6.1),
//! forwarding headers, and removal of every client-supplied copy of a header the node sets
//! or trusts, so nobody can spoof them. Also which methods may be sent twice, and the small
//! HTTP/1 helpers both of the node's own HTTP/1 codecs (`client_h1`, `origin_h1`) use.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// RFC 9110 §9.2.2: methods whose repetition has the same effect as one request, so a
/// request that may have reached an origin can be sent again.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// How many headers the node may add to a response it forwards (`Via`, `x-origin`,
/// `Cache-Status`, `x-cache`, and for hyper's writer `x-request-id`, `x-served-by`,
/// `server-timing`): maps built from a parsed response head reserve this much room beyond
/// its fields.
pub const ADDED_HEADROOM: usize = 12;

/// The same for a client's request: the node's own fields for the origin are written
/// beside the map ([`OriginFields`]), so only rarer additions land in it (a trusted proxy's
/// extended `X-Forwarded-For`, feature flags, the cache's validators). Kept small: a map of
/// a dozen or more entries is a single allocation over 1 KiB, which takes the allocator's
/// slower path (callgrind).
pub const REQUEST_HEADROOM: usize = 4;

const HOP_COUNT: usize = 7;

/// Headers that describe one connection, never forwarded. `Connection` comes first:
/// `strip_hop_by_hop` relies on it.
const HOP_BY_HOP: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including every header named in `Connection`. `TE` is
/// dropped unless it is exactly `trailers`, which gRPC needs end to end.
/// With `keep_upgrade`, `Upgrade` survives (WebSocket hand-off); the caller re-adds
/// `Connection: upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names first, noting which of these are present: most messages carry
    // none or only `Connection: keep-alive`, and comparing names is much cheaper than a
    // hashed removal of every hop-by-hop name on every request and response.
    let mut found = [false; HOP_COUNT];
    let mut te = false;
    for name in headers.keys() {
        match HOP_BY_HOP.iter().position(|h| h == name) {
            Some(i) => found[i] = true,
            None => te |= *name == header::TE,
        }
    }
    // Headers named in `Connection`, beyond the usual `keep-alive`/`close`: checked before
    // collecting, since nearly every message names only those.
    let names_others = |t: &str| !t.eq_ignore_ascii_case("close") && !is_hop_by_hop(t);
    if found[0] && connection_tokens(headers).any(names_others) {
        let named: Vec<HeaderName> = connection_tokens(headers)
            .filter(|t| names_others(t))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(found) {
        if present && !(keep_upgrade && *name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    if te {
        if let Some(v) = headers.get(header::TE) {
            if !v.as_bytes().eq_ignore_ascii_case(b"trailers") {
                headers.remove(header::TE);
            }
        }
    }
}

/// Whether `name` (in any case) is one of the hop-by-hop fields no forwarded message keeps.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.as_str().eq_ignore_ascii_case(name))
}

/// Whether `Transfer-Encoding` values list exactly one coding, `chunked`: the only one the
/// node decodes. Any other would reach the client still coded, without the field that says
/// so. False when there are no values.
pub fn only_chunked<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut codings = values
        .into_iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    matches!(
        (codings.next(), codings.next()),
        (Some(only), None) if only.eq_ignore_ascii_case(b"chunked")
    )
}

/// Removes every header named in `names` (`None` entries, e.g. optional names from config,
/// are skipped), scanning the map's names once first: most messages carry none of them, and
/// a name comparison is much cheaper than a hashed removal.
pub fn remove_all(headers: &mut HeaderMap, names: &[Option<&HeaderName>]) {
    let found = present(headers, names);
    remove_present(headers, names, found);
}

/// Removes the names of `names` whose bit is set in `found` (as [`present`] returns it).
pub fn remove_present(headers: &mut HeaderMap, names: &[Option<&HeaderName>], found: u64) {
    for (i, name) in names.iter().enumerate() {
        if let (true, Some(name)) = (found & (1 << i) != 0, name) {
            headers.remove(*name);
        }
    }
}

/// Which of `names` (at most 64; `None` entries never match) `headers` holds: bit `i` for
/// `names[i]`. One pass over the map's names, which is much cheaper than a hashed lookup of
/// each name when there are few of them.
pub fn present(headers: &HeaderMap, names: &[Option<&HeaderName>]) -> u64 {
    debug_assert!(names.len() <= 64, "one bit per name");
    let mut found = 0u64;
    for name in headers.keys() {
        if let Some(i) = names.iter().position(|n| *n == Some(name)) {
            found |= 1 << i;
        }
    }
    found
}

/// True when the request asks for a protocol switch (WebSocket): `Connection: upgrade` plus
/// an `Upgrade` header, on HTTP/1.1.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// The trimmed tokens of every `Connection` header line (non-ASCII lines are skipped).
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// Appends a prepared value to a list header (`Via`): a clone when the header is absent,
/// which is the common case and costs no allocation.
pub fn append_value(headers: &mut HeaderMap, name: HeaderName, value: &HeaderValue) {
    // One hashed lookup for the common case.
    let name = match headers.entry(name) {
        header::Entry::Vacant(slot) => {
            slot.insert(value.clone());
            return;
        }
        header::Entry::Occupied(present) => present.key().clone(),
    };
    if let Ok(text) = value.to_str() {
        append_list(headers, name, text);
    }
}

/// Appends `value` to a comma-separated list header, or sets it.
pub fn append_list(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let joined = {
        let existing: Vec<&str> = headers
            .get_all(&name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if existing.is_empty() {
            None
        } else {
            Some(format!("{}, {value}", existing.join(", ")))
        }
    };
    let text = joined.as_deref().unwrap_or(value);
    if let Ok(v) = HeaderValue::from_str(text) {
        headers.insert(name, v);
    }
}

/// The fields the node sets on every origin request beside the client's own (which have
/// been cleaned of every copy of these), `Host` aside. They stay out of the request's
/// `HeaderMap` until an attempt is sent: the plain HTTP/1.1 exchange (`origin_h1`) writes
/// them straight into its request head, where hashing each into the map first cost about a
/// thousand instructions per pass-through request; hyper's client gets them inserted
/// ([`OriginFields::insert_into`]).
#[derive(Clone, Debug)]
pub struct OriginFields {
    /// `X-Forwarded-For`, unless the map carries a trusted proxy's list, extended.
    pub forwarded_for: Option<HeaderValue>,
    /// `X-Forwarded-Proto`, unless the map carries a trusted proxy's.
    pub forwarded_proto: Option<HeaderValue>,
    /// This node's `Via` entry, unless the map carries the client's list, extended.
    pub via: Option<HeaderValue>,
    /// The client's host, under the configured `upstream_headers.original_host`.
    pub original_host: Option<HeaderValue>,
    /// The client's country, under the configured `upstream_headers.client_country`.
    pub country: Option<HeaderValue>,
    /// Under the configured `upstream_headers.request_id`.
    pub request_id: HeaderValue,
}

/// `static` rather than the `const`s in [`names`]: [`OriginFields::each`] hands out
/// references to them.
static HOST: HeaderName = header::HOST;
static FORWARDED_FOR: HeaderName = names::X_FORWARDED_FOR;
static FORWARDED_PROTO: HeaderName = names::X_FORWARDED_PROTO;
static VIA: HeaderName = header::VIA;

impl OriginFields {
    /// Every field with its name, the origin's `Host` first (RFC 9112 §3.2 asks clients to
    /// send it first): `upstream` holds the configurable names.
    pub fn each<'a>(
        &'a self,
        upstream: &'a crate::config::UpstreamHeaders,
        host: &'a HeaderValue,
    ) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
        [
            Some((&HOST, host)),
            self.forwarded_for.as_ref().map(|v| (&FORWARDED_FOR, v)),
            self.forwarded_proto.as_ref().map(|v| (&FORWARDED_PROTO, v)),
            self.via.as_ref().map(|v| (&VIA, v)),
            upstream
                .original_host
                .as_ref()
                .zip(self.original_host.as_ref()),
            upstream.client_country.as_ref().zip(self.country.as_ref()),
            Some((&upstream.request_id, &self.request_id)),
        ]
        .into_iter()
        .flatten()
    }

    /// Appends every field as a header line, in [`OriginFields::each`]'s order.
    pub fn write_lines(
        &self,
        out: &mut Vec<u8>,
        upstream: &crate::config::UpstreamHeaders,
        host: &HeaderValue,
    ) {
        push_prefixed(out, b"host: ", host);
        if let Some(v) = &self.forwarded_for {
            push_prefixed(out, b"x-forwarded-for: ", v);
        }
        if let Some(v) = &self.forwarded_proto {
            push_prefixed(out, b"x-forwarded-proto: ", v);
        }
        if let Some(v) = &self.via {
            push_prefixed(out, b"via: ", v);
        }
        let prefixes = &upstream.prefixes;
        if let (Some(prefix), Some(v)) = (&prefixes.original_host, &self.original_host) {
            push_prefixed(out, prefix, v);
        }
        if let (Some(prefix), Some(v)) = (&prefixes.client_country, &self.country) {
            push_prefixed(out, prefix, v);
        }
        push_prefixed(out, &prefixes.request_id, &self.request_id);
    }

    /// Sets every field in `headers`, replacing what is there.
    pub fn insert_into(
        &self,
        upstream: &crate::config::UpstreamHeaders,
        host: &HeaderValue,
        headers: &mut HeaderMap,
    ) {
        for (name, value) in self.each(upstream, host) {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Header names the node sets on every request or response, parsed once: inserting with a
/// `&str` name parses and hashes it on every call, which showed up in cache-hit profiles.
pub mod names {
    use http::HeaderName;

    pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
    pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
    pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
    pub const SURROGATE_CAPABILITY: HeaderName = HeaderName::from_static("surrogate-capability");
    pub const X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
    pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
    pub const X_ORIGIN: HeaderName = HeaderName::from_static("x-origin");
    pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    pub const X_FEATURE_FLAGS: HeaderName = HeaderName::from_static("x-feature-flags");
}

thread_local! {
    /// Emptied request maps of this thread, kept for the next requests' heads.
    static SPARE_MAPS: std::cell::RefCell<Vec<HeaderMap>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare maps kept per thread: one per request in progress is enough, a few more cover a burst.
const SPARE_MAPS_KEPT: usize = 16;
/// Maps with room for more fields than this, or holding more (repeated names keep their extra
/// values' memory too), are not kept: a rare large head.
const SPARE_MAP_CAPACITY: usize = 64;

/// An empty map with room for `capacity` fields: one this thread emptied before, when it has
/// one large enough, else a new one. A request's map is two allocations (its index table and
/// its entries) and two frees when it is dropped, on every request.
pub fn request_map(capacity: usize) -> HeaderMap {
    SPARE_MAPS
        .with_borrow_mut(|spare| match spare.last() {
            Some(map) if map.capacity() >= capacity => spare.pop(),
            _ => None,
        })
        .unwrap_or_else(|| HeaderMap::with_capacity(capacity))
}

/// Empties `map` (dropping its fields) and keeps its memory for [`request_map`].
pub fn recycle_map(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > SPARE_MAP_CAPACITY || map.len() > SPARE_MAP_CAPACITY
    {
        return;
    }
    map.clear();
    // `try_with`: called from `Drop`, possibly while the thread's locals are torn down.
    let _ = SPARE_MAPS.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_MAPS_KEPT {
            spare.push(map);
        }
    });
}

/// Appends `n` in decimal (without `fmt`, which is measurably slower on this path).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `name: `, the start of a header line under `name`, for [`push_prefixed`].
pub fn line_prefix(name: &HeaderName) -> Box<[u8]> {
    [name.as_str().as_bytes(), b": "]
        .concat()
        .into_boxed_slice()
}

/// Appends a header line whose start (`name: `) is already rendered: a constant prefix is
/// copied in place, a configured one in one copy with its `: ` (where
/// [`push_header_line`] copies the name and the value through two `memcpy` calls each
/// line, and writes the node's dozen fields per request that way). Values cannot hold CR
/// or LF (`HeaderValue` refuses them), and neither can a prefix made by [`line_prefix`].
// Always inlined: a constant prefix's length is then known where it is copied, so the copy
// is a few stores instead of a `memcpy` call (callgrind: 22 calls per request otherwise).
#[inline(always)]
pub fn push_prefixed(out: &mut Vec<u8>, prefix: &[u8], value: &HeaderValue) {
    let value = value.as_bytes();
    out.reserve(prefix.len() + value.len() + 2);
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends one `name: value` header line. Values cannot hold CR or LF (`HeaderValue` refuses
/// them), so nothing can be injected through this.
pub fn push_header_line(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parses a plain decimal length (`Content-Length` rules: digits only, at most 19 so it
/// cannot overflow); None for anything else, signs and whitespace included.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether a comma-separated header value lists `token` (case-insensitive, spaces trimmed).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// RFC 9112 §6.3: responses with these statuses never carry a body, whatever their headers
/// say.
pub fn status_has_no_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Header names by position in the heads recently parsed on this thread. Why not just
/// `HeaderName::from_bytes`: it lower-cases, validates and classifies every name (about
/// 150 instructions a name in pass-through profiles), while a client or an origin sends the
/// same names in the same order head after head, so one byte comparison against what stood
/// at the same position last time usually finds the parsed name. A miss costs that one
/// comparison more than no cache.
pub struct RecentNames {
    slots: [Option<RecentName>; RECENT_POSITIONS],
}

/// Positions remembered per head; later fields are parsed every time.
const RECENT_POSITIONS: usize = 32;
/// Longer names are parsed every time.
const RECENT_NAME_BYTES: usize = 32;

struct RecentName {
    raw: [u8; RECENT_NAME_BYTES],
    len: u8,
    name: HeaderName,
}

impl RecentNames {
    /// An empty table (const, for `thread_local!`).
    pub const fn new() -> Self {
        RecentNames {
            slots: [const { None }; RECENT_POSITIONS],
        }
    }

    /// The name spelled `raw` at `position` of a head: exactly what
    /// `HeaderName::from_bytes(raw)` returns.
    pub fn name(
        &mut self,
        position: usize,
        raw: &[u8],
    ) -> Result<HeaderName, http::header::InvalidHeaderName> {
        let slot = self.slots.get_mut(position);
        if let Some(Some(seen)) = slot.as_deref() {
            if seen.raw[..usize::from(seen.len)] == *raw {
                return Ok(seen.name.clone());
            }
        }
        let name = HeaderName::from_bytes(raw)?;
        if let (Some(slot), Ok(len)) = (slot, u8::try_from(raw.len())) {
            if raw.len() <= RECENT_NAME_BYTES {
                let mut copy = [0u8; RECENT_NAME_BYTES];
                copy[..raw.len()].copy_from_slice(raw);
                *slot = Some(RecentName {
                    raw: copy,
                    len,
                    name: name.clone(),
                });
            }
        }
        Ok(name)
    }
}

impl Default for RecentNames {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_fields_as_lines_are_what_each_field_renders_to() {
        let upstream = crate::config::UpstreamHeaders::new(
            Some(HeaderName::from_static("x-original-host")),
            Some(HeaderName::from_static("country-code")),
            HeaderName::from_static("x-req"),
        );
        let v = HeaderValue::from_static;
        let all = OriginFields {
            forwarded_for: Some(v("192.0.2.1")),
            forwarded_proto: Some(v("https")),
            via: Some(v("1.1 regionless-eu-central")),
            original_host: Some(v("shop.test")),
            country: Some(v("DE")),
            request_id: v("abc"),
        };
        let some = OriginFields {
            forwarded_for: None,
            forwarded_proto: None,
            via: None,
            ..all.clone()
        };
        let host = v("origin.test:8080");
        for fields in [all, some] {
            let mut expected = Vec::new();
            for (name, value) in fields.each(&upstream, &host) {
                push_header_line(&mut expected, name, value);
            }
            let mut written = Vec::new();
            fields.write_lines(&mut written, &upstream, &host);
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    #[test]
    fn a_recycled_map_comes_back_empty_with_its_room() {
        let mut map = request_map(8);
        map.insert(header::HOST, HeaderValue::from_static("a"));
        map.append(header::ACCEPT, HeaderValue::from_static("b"));
        map.append(header::ACCEPT, HeaderValue::from_static("c"));
        let room = map.capacity();
        recycle_map(map);
        let again = request_map(4);
        assert!(again.is_empty());
        assert_eq!(again.get_all(header::ACCEPT).iter().count(), 0);
        assert_eq!(again.capacity(), room);
        // Not enough room for what is asked: a new map, the spare one stays.
        recycle_map(again);
        assert!(request_map(room + 1).capacity() > room);
        assert_eq!(request_map(1).capacity(), room);
    }

    #[test]
    fn a_map_holding_many_values_is_not_kept() {
        let mut map = request_map(40);
        let room = map.capacity();
        for _ in 0..=SPARE_MAP_CAPACITY {
            map.append(header::COOKIE, HeaderValue::from_static("a=1"));
        }
        assert_eq!(
            map.capacity(),
            room,
            "one name: the index table did not grow"
        );
        recycle_map(map);
        assert!(
            request_map(1).capacity() < room,
            "a new map, not the recycled one"
        );
    }

    #[test]
    fn fixed_cache_labels_as_lines_are_their_fields() {
        use regionless_cache::cache_status::Forward as FwdReason;
        for reason in [FwdReason::Bypass, FwdReason::Method] {
            let labels = crate::cache_path::fixed_bypass_labels(reason).expect("fixed");
            let mut expected = Vec::new();
            for (name, value) in labels.fields() {
                push_header_line(&mut expected, &name, &value);
            }
            assert_eq!(labels.lines(), &expected[..]);
        }
    }

    #[test]
    fn a_prefixed_line_is_the_named_line() {
        for name in [header::VIA, names::X_ORIGIN, names::X_SERVED_BY] {
            let value = HeaderValue::from_static("v 1");
            let (mut named, mut prefixed) = (Vec::new(), Vec::new());
            push_header_line(&mut named, &name, &value);
            push_prefixed(&mut prefixed, &line_prefix(&name), &value);
            assert_eq!(named, prefixed);
        }
        // The constant prefixes the writers use.
        for (constant, name) in [
            (&b"via: "[..], header::VIA),
            (b"x-origin: ", names::X_ORIGIN),
            (b"x-served-by: ", names::X_SERVED_BY),
            (b"host: ", header::HOST),
            (b"x-forwarded-for: ", names::X_FORWARDED_FOR),
            (b"x-forwarded-proto: ", names::X_FORWARDED_PROTO),
        ] {
            assert_eq!(constant, &*line_prefix(&name));
        }
    }

    #[test]
    fn only_a_single_chunked_coding_is_decodable() {
        let te = |values: &[&'static str]| only_chunked(values.iter().map(|v| v.as_bytes()));
        assert!(te(&["chunked"]));
        assert!(te(&[" Chunked ", ""]));
        assert!(!te(&[]));
        assert!(!te(&["gzip, chunked"]));
        assert!(!te(&["chunked", "chunked"]));
        assert!(!te(&["identity"]));
        assert!(is_hop_by_hop("Keep-Alive") && is_hop_by_hop("transfer-encoding"));
        assert!(!is_hop_by_hop("te") && !is_hop_by_hop("content-length"));
    }

    #[test]
    fn recent_names_return_what_parsing_returns() {
        let mut recent = RecentNames::new();
        let heads: [&[&str]; 4] = [
            &["Content-Type", "X-Custom", "date"],
            &["Content-Type", "X-Custom", "date"],
            &["content-type", "Date", "X-Other"],
            &[
                "CONTENT-TYPE",
                "bad name",
                "a-name-much-longer-than-thirty-two-bytes",
            ],
        ];
        for head in heads {
            for (i, raw) in head.iter().enumerate() {
                let expected = HeaderName::from_bytes(raw.as_bytes());
                let got = recent.name(i, raw.as_bytes());
                match (expected, got) {
                    (Ok(e), Ok(g)) => assert_eq!(e, g, "{raw}"),
                    (Err(_), Err(_)) => {}
                    (e, g) => panic!("{raw}: parsed {e:?}, cached {g:?}"),
                }
            }
        }
        // Positions beyond the table are parsed each time.
        assert_eq!(
            recent.name(RECENT_POSITIONS + 5, b"Server").ok(),
            Some(header::SERVER)
        );
    }
}
