//! Request heads out and response heads in: serialising an origin request and parsing the
//! origin's status line and headers (with `httparse`), including how the body is framed.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Version};

use super::ExchangeError;
use crate::headers::{
    has_token, is_hop_by_hop, only_chunked, parse_decimal, push_decimal, push_header_line,
    status_has_no_body, RecentNames,
};
use crate::raw_fields::RawFields;

thread_local! {
    /// Response field names as this thread's origins last spelled them.
    static RESPONSE_NAMES: RefCell<RecentNames> = const { RefCell::new(RecentNames::new()) };
}

/// Headers accepted in one response head or trailer section (hyper's default is 100).
const MAX_HEADERS: usize = 128;

/// How a response body is delimited on the wire (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: HEAD, 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Read until the origin closes; the connection cannot be reused.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    /// The fields passed on, unless they are in `lines` (then this map is empty).
    pub headers: HeaderMap,
    /// The fields passed on as the origin's own lines, when they were asked for that way and
    /// the answer allows it (see [`parse_response_head`]).
    /// Boxed: the head and the response it becomes are moved several times per request.
    pub lines: Option<Box<RawFields>>,
    pub framing: Framing,
    /// The connection may carry another request after this response's body.
    pub keep_alive: bool,
}

/// Writes the request line, the lines `added` writes, then `headers`. Any
/// `Content-Length`/`Transfer-Encoding` among `headers` is skipped: the framing written is a
/// `Content-Length` of `body_length` (left out for an empty body on methods without payload
/// semantics). Header values cannot hold CR or LF (`HeaderValue` refuses them), so nothing
/// can be injected here.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    added: impl FnOnce(&mut Vec<u8>),
    headers: &HeaderMap,
    body_length: u64,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    added(out);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        push_header_line(out, name, value);
    }
    // Like hyper: an empty body is announced only where the method defines a payload.
    let announce = body_length > 0
        || !matches!(
            *method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
        );
    if announce {
        out.extend_from_slice(b"content-length: ");
        push_decimal(out, body_length);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Asks for a response's fields as the origin's own lines ([`RawFields`]) instead of a map.
/// Lines the node replaces with its own are left out: `request_id` (the configured request
/// id field) and the fixed names the node sets on every answer (`X-Cache`, `X-Origin`,
/// `X-Served-By`).
#[derive(Debug, Clone, Copy)]
pub struct AsLines<'a> {
    pub request_id: &'a HeaderName,
}

/// Parses a response head from the start of `buf`. Returns the head and its length in
/// bytes, or None when `buf` does not hold a whole head yet. With `as_lines`, the fields of
/// a 2xx/3xx answer to anything but HEAD, with no transfer coding and none of the fields the
/// cache labels rewrite, come as [`ResponseHead::lines`]; the same fields are passed on
/// either way, except `Content-Length`, which the lines leave to the body's known length.
pub fn parse_response_head(
    buf: &Bytes,
    method: &Method,
    as_lines: Option<AsLines<'_>>,
) -> Result<Option<(ResponseHead, usize)>, ExchangeError> {
    // Uninitialised slots: filling 128 empty headers (4 KiB) per response showed up in
    // pass-through profiles.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ExchangeError::InvalidResponse("too many response headers"))
        }
        Err(_) => return Err(ExchangeError::InvalidResponse("malformed response head")),
    };
    let code = parsed
        .code
        .ok_or(ExchangeError::InvalidResponse("missing status"))?;
    let status = StatusCode::from_u16(code)
        .map_err(|_| ExchangeError::InvalidResponse("invalid status code"))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let no_body = *method == Method::HEAD || status_has_no_body(status);
    let fields = &*parsed.headers;
    let connection = ConnectionFields::scan(fields);
    // Lines only where nothing downstream reads the fields: a HEAD answer's length describes
    // another response, chunked bodies may announce trailers, and 1xx/4xx/5xx answers are
    // read by failover (`Retry-After`).
    let lines = match as_lines {
        Some(wanted)
            if (200..400).contains(&code)
                && *method != Method::HEAD
                && !connection.transfer_encoding =>
        {
            field_lines(buf, fields, len, &connection, no_body, wanted)?
        }
        _ => None,
    };
    let (headers, length, lines) = match lines {
        Some((lines, length)) => (HeaderMap::new(), length, Some(lines)),
        None => {
            let (headers, length) = field_map(buf, fields, &connection, no_body)?;
            (headers, length, None)
        }
    };
    // RFC 9112 §6.3: how the body is delimited.
    let framing = if no_body {
        Framing::Empty
    } else if connection.transfer_encoding {
        // Only `chunked` is decoded here; a body with any other transfer coding would reach
        // the client still coded but without the field that says so. nginx refuses these
        // too.
        if !connection.only_chunked {
            return Err(ExchangeError::InvalidResponse(
                "unsupported Transfer-Encoding",
            ));
        }
        Framing::Chunked
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    // RFC 9112 §6.1: Transfer-Encoding beside Content-Length, or in an HTTP/1.0 message, is
    // faulty framing; the connection is closed after this message.
    let faulty =
        connection.transfer_encoding && (version == Version::HTTP_10 || connection.content_length);
    let keep_alive = !connection.close
        && !faulty
        && (version == Version::HTTP_11 || connection.keep_alive)
        && framing != Framing::UntilClose;
    Ok(Some((
        ResponseHead {
            status,
            headers,
            lines,
            framing,
            keep_alive,
        },
        len,
    )))
}

/// Builds the map of the fields passed on, and finds the body's length.
fn field_map(
    buf: &Bytes,
    fields: &[httparse::Header<'_>],
    connection: &ConnectionFields,
    no_body: bool,
) -> Result<(HeaderMap, Option<u64>), ExchangeError> {
    RESPONSE_NAMES.with_borrow_mut(|names| {
        // Room for the headers the node adds on the way to the client: growing a `HeaderMap`
        // rehashes every entry.
        let mut headers = HeaderMap::with_capacity(fields.len() + crate::headers::ADDED_HEADROOM);
        let mut length: Option<u64> = None;
        for (position, h) in fields.iter().enumerate() {
            if !passed_on(
                field_kind(h.name),
                h,
                fields,
                connection,
                no_body,
                &mut length,
            )? {
                continue;
            }
            let name = names
                .name(position, h.name.as_bytes())
                .map_err(|_| ExchangeError::InvalidResponse("invalid header name"))?;
            // Values are views of the read buffer, as hyper does: no copy per header.
            let value = HeaderValue::from_maybe_shared(buf.slice_ref(h.value))
                .map_err(|_| ExchangeError::InvalidResponse("invalid header value"))?;
            headers.append(name, value);
        }
        Ok((headers, length))
    })
}

/// Fields kept as lines, and the body's length from `Content-Length`.
type LinesAndLength = (Box<RawFields>, Option<u64>);

/// The fields passed on as ranges of the head (`head_len` bytes of `buf`), and the body's
/// length. None when they cannot be: a line the cache labels rewrite (`Cache-Status`,
/// `Surrogate-Control`), a line not ending with CRLF, or more runs of lines than
/// [`RawFields`] holds.
fn field_lines(
    buf: &Bytes,
    fields: &[httparse::Header<'_>],
    head_len: usize,
    connection: &ConnectionFields,
    no_body: bool,
    wanted: AsLines<'_>,
) -> Result<Option<LinesAndLength>, ExchangeError> {
    let base = buf.as_ptr() as usize;
    // Where a line starts: httparse's names are views of `buf`, and every line but the first
    // starts right after the previous one's line break (obs-fold and space before the colon
    // are errors in httparse's default configuration).
    let start_of = |h: &httparse::Header<'_>| h.name.as_ptr() as usize - base;
    let mut lines = Box::new(RawFields::new(buf.slice(..head_len)));
    let mut length: Option<u64> = None;
    for (i, h) in fields.iter().enumerate() {
        let kind = field_kind(h.name);
        let kept = passed_on(kind, h, fields, connection, no_body, &mut length)?;
        match kind {
            FieldKind::Relabelled => return Ok(None),
            FieldKind::NodeOwned | FieldKind::ContentLength => continue,
            _ => {}
        }
        let request_id = wanted.request_id.as_str();
        if !kept || h.name.len() == request_id.len() && h.name.eq_ignore_ascii_case(request_id) {
            continue;
        }
        if kind == FieldKind::Date {
            lines.set_has_date();
        }
        // The line ends where the next begins, the last one before the empty line.
        let end = fields
            .get(i + 1)
            .map_or(head_len.saturating_sub(2), start_of);
        if buf.get(..end).is_none_or(|b| !b.ends_with(b"\r\n"))
            || !lines.push_line(start_of(h), end)
        {
            return Ok(None);
        }
    }
    Ok(Some((lines, length)))
}

/// Whether a field is passed on to the client, with the rules of RFC 9110 §7.6.1 and RFC 9112
/// §6.3; a `Content-Length` is checked and noted in `length` on the way.
fn passed_on(
    kind: FieldKind,
    h: &httparse::Header<'_>,
    fields: &[httparse::Header<'_>],
    connection: &ConnectionFields,
    no_body: bool,
    length: &mut Option<u64>,
) -> Result<bool, ExchangeError> {
    match kind {
        // Connection-level fields end here: they decide framing and reuse and are never
        // passed on, so the response needs no hop-by-hop pass later (see `proxy::respond`).
        FieldKind::HopByHop => return Ok(false),
        FieldKind::Te if !h.value.eq_ignore_ascii_case(b"trailers") => return Ok(false),
        FieldKind::ContentLength if !no_body => {
            // With Transfer-Encoding the length is ignored and dropped (RFC 9112 §6.3):
            // passing both on is what makes such a response dangerous downstream.
            if connection.transfer_encoding {
                return Ok(false);
            }
            for part in h.value.split(|&b| b == b',') {
                let n = parse_decimal(part.trim_ascii())
                    .ok_or(ExchangeError::InvalidResponse("invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ExchangeError::InvalidResponse("conflicting Content-Length"));
                }
                *length = Some(n);
            }
        }
        _ => {}
    }
    // A field the origin's `Connection` names is connection-level too (a length named there
    // still framed the body above).
    Ok(!(connection.names_others && connection_lists(fields, h.name)))
}

/// What a response field's name means to the node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldKind {
    /// Describes this connection only (RFC 9110 §7.6.1; `Transfer-Encoding` included).
    HopByHop,
    /// `TE`: only `TE: trailers` (gRPC) is passed on, as `headers::strip_hop_by_hop` does.
    Te,
    ContentLength,
    Date,
    /// Set by the node on every answer it passes on, replacing any origin copy (`X-Cache`,
    /// `X-Origin`, `X-Served-By`).
    NodeOwned,
    /// Combined with or removed by the node's cache labels (`Cache-Status`,
    /// `Surrogate-Control`): such heads are read through a map.
    Relabelled,
    Other,
}

fn field_kind(name: &str) -> FieldKind {
    // By length first: most fields match none of these names, and one length comparison
    // rules out all but at most two of them.
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 if is("te") => FieldKind::Te,
        4 if is("date") => FieldKind::Date,
        14 if is("content-length") => FieldKind::ContentLength,
        7 if is("x-cache") => FieldKind::NodeOwned,
        8 if is("x-origin") => FieldKind::NodeOwned,
        11 if is("x-served-by") => FieldKind::NodeOwned,
        12 if is("cache-status") => FieldKind::Relabelled,
        17 if is("surrogate-control") => FieldKind::Relabelled,
        7 | 10 | 16 | 17 | 18 | 19 if is_hop_by_hop(name) => FieldKind::HopByHop,
        _ => FieldKind::Other,
    }
}

/// The fields that decide framing and reuse, from a first pass over the head.
#[derive(Default)]
struct ConnectionFields {
    /// `Connection: close`.
    close: bool,
    /// `Connection: keep-alive` (what keeps an HTTP/1.0 connection open).
    keep_alive: bool,
    /// `Connection` names some other field, which must then not be passed on.
    names_others: bool,
    transfer_encoding: bool,
    /// The transfer codings are `chunked` and nothing else.
    only_chunked: bool,
    /// A `Content-Length` field is present.
    content_length: bool,
}

impl ConnectionFields {
    fn scan(fields: &[httparse::Header<'_>]) -> Self {
        let mut found = ConnectionFields::default();
        for h in fields {
            if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        found.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        found.keep_alive = true;
                    } else if !token.is_empty()
                        && std::str::from_utf8(token)
                            .map_or(true, |t| field_kind(t) != FieldKind::HopByHop)
                    {
                        found.names_others = true;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                found.transfer_encoding = true;
            } else if h.name.eq_ignore_ascii_case("content-length") {
                found.content_length = true;
            }
        }
        if found.transfer_encoding {
            found.only_chunked = only_chunked(
                fields
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
                    .map(|h| h.value),
            );
        }
        found
    }
}

/// Whether a `Connection` field lists `name` (only asked when it names other fields).
fn connection_lists(fields: &[httparse::Header<'_>], name: &str) -> bool {
    fields
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection") && has_token(h.value, name.as_bytes()))
}

/// Parses a trailer section (header lines ending with an empty line).
pub fn parse_trailers(section: &Bytes) -> Result<HeaderMap, ExchangeError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((_, h))) => h,
        _ => return Err(ExchangeError::InvalidResponse("malformed trailers")),
    };
    let mut trailers = HeaderMap::with_capacity(parsed.len());
    for h in parsed {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| ExchangeError::InvalidResponse("invalid trailer name"))?;
        let value = HeaderValue::from_maybe_shared(section.slice_ref(h.value))
            .map_err(|_| ExchangeError::InvalidResponse("invalid trailer value"))?;
        trailers.append(name, value);
    }
    Ok(trailers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, method: Method) -> Result<Option<(ResponseHead, usize)>, ExchangeError> {
        parse_response_head(&Bytes::copy_from_slice(raw.as_bytes()), &method, None)
    }

    #[test]
    fn field_kinds_match_the_names_in_any_case() {
        for name in [
            "Connection",
            "keep-alive",
            "Proxy-Connection",
            "proxy-authenticate",
            "Proxy-Authorization",
            "TRANSFER-ENCODING",
            "upgrade",
        ] {
            assert!(is_hop_by_hop(name), "{name}");
            assert!(field_kind(name) == FieldKind::HopByHop, "{name}");
        }
        assert!(field_kind("TE") == FieldKind::Te);
        assert!(field_kind("Content-Length") == FieldKind::ContentLength);
        for name in [
            "content-type",
            "te2",
            "upgrades",
            "x-connection",
            "",
            "dates",
            "x-caches",
        ] {
            assert!(field_kind(name) == FieldKind::Other, "{name}");
        }
        assert!(field_kind("Date") == FieldKind::Date);
        for name in ["X-Cache", "x-origin", "X-Served-By"] {
            assert!(field_kind(name) == FieldKind::NodeOwned, "{name}");
        }
        for name in ["Cache-Status", "surrogate-control"] {
            assert!(field_kind(name) == FieldKind::Relabelled, "{name}");
        }
    }

    const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

    fn as_lines(raw: &str, method: Method) -> ResponseHead {
        let wanted = AsLines {
            request_id: &REQUEST_ID,
        };
        parse_response_head(
            &Bytes::copy_from_slice(raw.as_bytes()),
            &method,
            Some(wanted),
        )
        .expect("valid")
        .expect("complete")
        .0
    }

    fn written(lines: &RawFields) -> String {
        let mut out = Vec::new();
        lines.write_to(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn passed_on_fields_can_stay_the_origins_lines() {
        let raw = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 24 Nov 2026 10:00:00 GMT\r\n\
                   Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\n\
                   X-Hop: 1\r\nETag: \"a\"\r\nX-Cache: HIT\r\nX-Request-Id: echo\r\n\
                   x-origin: spoof\r\nX-Served-By: spoof\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello";
        let h = as_lines(raw, Method::GET);
        assert!(h.headers.is_empty(), "the fields are in the lines only");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        let lines = h.lines.expect("as lines");
        assert!(lines.has_date());
        assert_eq!(
            written(&lines),
            "Server: nginx\r\nDate: Tue, 24 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\n\
             ETag: \"a\"\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        );
    }

    /// Lines and map carry the same fields, but for `Content-Length` (left to the body's
    /// length) and the names the node sets itself.
    #[test]
    fn lines_and_map_pass_on_the_same_fields() {
        for raw in [
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 301 Moved\r\nLocation: /x\r\nConnection: te\r\nTE: trailers\r\n\
             X-A: 1\r\nx-a: 2\r\nVia: 1.1 cdn\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nX-Served-By: o\r\nX-B:  spaced  \r\n\r\n",
            "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nX-Empty:\r\nx-request-id: r\r\n\r\n",
        ] {
            let map = head(raw).headers;
            let h = as_lines(raw, Method::GET);
            let lines = h.lines.unwrap_or_else(|| panic!("as lines: {raw}"));
            let mut rebuilt = HeaderMap::new();
            lines.append_to(&mut rebuilt);
            let mut expected = map.clone();
            for name in ["content-length", "x-served-by", "x-request-id"] {
                expected.remove(name);
            }
            assert_eq!(rebuilt, expected, "{raw}");
        }
    }

    #[test]
    fn heads_the_node_must_read_come_as_a_map() {
        let cases = [
            // The cache labels combine with or remove these.
            (
                "HTTP/1.1 200 OK\r\nCache-Status: cdn; hit\r\nContent-Length: 0\r\n\r\n",
                Method::GET,
            ),
            (
                "HTTP/1.1 200 OK\r\nSurrogate-Control: max-age=9\r\nContent-Length: 0\r\n\r\n",
                Method::GET,
            ),
            // Failover reads these (Retry-After); informational heads are skipped anyway.
            (
                "HTTP/1.1 503 Busy\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n",
                Method::GET,
            ),
            (
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                Method::GET,
            ),
            (
                "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                Method::GET,
            ),
            // A HEAD answer's length describes the GET's body and is kept.
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::HEAD),
            // A chunked body may announce trailers, which the writer reads from the map.
            (
                "HTTP/1.1 200 OK\r\nTrailer: x-t\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::GET,
            ),
            // Lines that do not end with CRLF are not copied as they are.
            (
                "HTTP/1.1 200 OK\nServer: bare\nContent-Length: 0\n\n",
                Method::GET,
            ),
            ("HTTP/1.1 200 OK\r\nServer: last-bare\n\r\n", Method::GET),
        ];
        for (raw, method) in cases {
            let h = as_lines(raw, method.clone());
            assert!(h.lines.is_none(), "{raw}");
            assert_eq!(
                h.headers,
                parse(raw, method)
                    .expect("valid")
                    .expect("complete")
                    .0
                    .headers,
                "{raw}"
            );
        }
        // More runs of kept lines than the set holds.
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..20 {
            raw.push_str(&format!("x-{i}: {i}\r\nConnection: keep-alive\r\n"));
        }
        raw.push_str("Content-Length: 0\r\n\r\n");
        let h = as_lines(&raw, Method::GET);
        assert!(h.lines.is_none());
        assert_eq!(h.headers.len(), 21, "twenty fields and the length");
    }

    #[test]
    fn conflicting_lengths_are_refused_as_lines_too() {
        let wanted = AsLines {
            request_id: &REQUEST_ID,
        };
        let raw = Bytes::from_static(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        );
        assert!(parse_response_head(&raw, &Method::GET, Some(wanted)).is_err());
    }

    fn head(raw: &str) -> ResponseHead {
        parse(raw, Method::GET).expect("valid").expect("complete").0
    }

    #[test]
    fn request_head_is_origin_form_with_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert("x-a", HeaderValue::from_static("1"));
        let host = HeaderValue::from_static("origin:8080");
        let via = HeaderValue::from_static("1.1 edge");
        let added = |out: &mut Vec<u8>| {
            push_header_line(out, &header::HOST, &host);
            push_header_line(out, &header::VIA, &via);
        };
        let mut out = Vec::new();
        write_request_head(&mut out, &Method::POST, "/p?q=1", added, &headers, 12);
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(
            text,
            "POST /p?q=1 HTTP/1.1\r\nhost: origin:8080\r\nvia: 1.1 edge\r\nx-a: 1\r\n\
             content-length: 12\r\n\r\n"
        );
        let none = |_: &mut Vec<u8>| {};
        let mut out = Vec::new();
        write_request_head(&mut out, &Method::GET, "/", none, &HeaderMap::new(), 0);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        write_request_head(&mut out, &Method::PUT, "/", none, &HeaderMap::new(), 0);
        assert_eq!(out, b"PUT / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 65536, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert!(parse("HTTP/1.1 200 OK\r\ncontent-len", Method::GET)
            .expect("valid so far")
            .is_none());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.headers.contains_key(header::CONTENT_LENGTH));
        // Both framings at once is faulty: answered, then the connection is not reused.
        assert!(!h.keep_alive);
        let h =
            head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        let h = head("HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
        let (h, _) = parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", Method::HEAD)
            .expect("valid")
            .expect("complete");
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn connection_level_fields_are_not_passed_on() {
        let h = head(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
             X-Hop: secret\r\nx-kept: 1\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n\
             Proxy-Authenticate: Basic\r\nProxy-Authorization: y\r\nTE: trailers\r\n\
             content-length: 2\r\n\r\n",
        );
        let names: Vec<&str> = h.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept", "te", "content-length"]);
        assert_eq!(h.framing, Framing::Length(2));
        assert!(h.keep_alive);
        // Named in `Connection`: not passed on, though the length still frames the body.
        let h = head(
            "HTTP/1.1 200 OK\r\nConnection: Content-Length, te\r\ncontent-length: 3\r\n\
             te: trailers\r\n\r\n",
        );
        assert!(h.headers.is_empty());
        assert_eq!(h.framing, Framing::Length(3));
        let h = head("HTTP/1.1 200 OK\r\nte: gzip\r\ntransfer-encoding: chunked\r\n\r\n");
        assert!(h.headers.is_empty());
        assert_eq!(h.framing, Framing::Chunked);
        // A length on a response without a body is the origin's to state, and is kept.
        let (h, _) = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 7\r\ntransfer-encoding: chunked\r\n\r\n",
            Method::HEAD,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(h.headers[header::CONTENT_LENGTH], "7");
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn connection_tokens_decide_reuse() {
        assert!(
            !head("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn bad_heads_are_errors() {
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTX/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            // Only `chunked` is decoded: other codings would reach the client unannounced.
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert!(parse(bad, Method::GET).is_err(), "{bad:?}");
        }
    }
}
