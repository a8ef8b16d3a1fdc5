//! Request heads: what the loop serves itself, and what it leaves to hyper.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Uri, Version};

use crate::body::ClientBody;
use crate::headers::{has_token, RecentNames};

/// Header lines parsed in place; a head with more goes to hyper, which applies the configured
/// `limits.max_headers` (up to this many the loop applies it itself).
const MAX_FAST_HEADERS: usize = 128;

/// One header line's name and value as offsets into the head, so the request's values can
/// share the read buffer instead of being copied.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// What the buffer holds.
// Unboxed: a `Parsed` is matched as soon as it is returned, and a box was one allocation per
// request for a value moved once.
#[derive(Debug)]
pub(super) enum Parsed {
    /// A request the loop serves; its head has been taken off the buffer.
    Request(Served),
    /// The head has not fully arrived.
    Partial,
    /// A request the loop does not serve itself (a body, a protocol switch, HTTP/1.0, the
    /// HTTP/2 preface, anything malformed or over a limit): hyper takes the connection with
    /// the buffer untouched and answers it as it answers any request, errors included.
    HandOff,
}

/// A request to serve, with what its answer's framing depends on.
#[derive(Debug)]
pub(super) struct Served {
    pub req: Request<ClientBody>,
    /// The client asked to close the connection after this exchange.
    pub close: bool,
    /// The client accepts trailer fields (`TE: trailers`).
    pub trailers: bool,
}

/// Parses the head at the start of `buf`; on success takes it off `buf`. `spans` is scratch
/// space kept by the connection so parsing allocates nothing but the header map.
pub(super) fn parse(buf: &mut BytesMut, max_headers: usize, spans: &mut Vec<Span>) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FAST_HEADERS];
    let mut head = httparse::Request::new(&mut []);
    let len = match head
        .parse_with_uninit_headers(buf, &mut slots[..max_headers.min(MAX_FAST_HEADERS)])
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::HandOff,
    };
    // HTTP/1.0 keep-alive rules, absolute-form and asterisk-form targets and CONNECT are
    // rare; hyper has them right already.
    let (Some(1), Some(method), Some(path)) = (head.version, head.method, head.path) else {
        return Parsed::HandOff;
    };
    if !path.starts_with('/') || method == "CONNECT" {
        return Parsed::HandOff;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::HandOff;
    };
    let base = buf.as_ptr() as usize;
    let offsets = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let path_at = offsets(path.as_bytes());
    spans.clear();
    let mut close = false;
    let mut trailers = false;
    for h in head.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // `Content-Length: 0` is a request without a body; anything else has one.
            if h.value != b"0" {
                return Parsed::HandOff;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return Parsed::HandOff;
        } else if name.eq_ignore_ascii_case(b"te") {
            trailers |= has_token(h.value, b"trailers");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(h.value, b"upgrade") {
                return Parsed::HandOff;
            }
            close |= has_token(h.value, b"close");
        }
        spans.push(Span {
            name: offsets(name),
            value: offsets(h.value),
        });
    }
    let head = buf.split_to(len).freeze();
    match build(&head, method, path_at, spans) {
        Some(req) => Parsed::Request(Served {
            req,
            close,
            trailers,
        }),
        None => {
            // Not valid for the `http` types after all: give hyper the bytes back.
            buf.unsplit_front(head);
            Parsed::HandOff
        }
    }
}

thread_local! {
    /// Request field names as this thread's clients last spelled them.
    static REQUEST_NAMES: RefCell<RecentNames> = const { RefCell::new(RecentNames::new()) };
}

fn build(
    head: &Bytes,
    method: Method,
    (path_at, path_len): (usize, usize),
    spans: &[Span],
) -> Option<Request<ClientBody>> {
    let uri = Uri::from_maybe_shared(head.slice(path_at..path_at + path_len)).ok()?;
    // Room for the headers the node adds to the map on the way to the origin: growing a
    // `HeaderMap` rehashes every entry.
    let mut headers = crate::headers::request_map(spans.len() + crate::headers::REQUEST_HEADROOM);
    REQUEST_NAMES.with_borrow_mut(|names| {
        for (position, span) in spans.iter().enumerate() {
            let (at, len) = span.name;
            let name = names.name(position, &head[at..at + len]).ok()?;
            let (at, len) = span.value;
            let value = HeaderValue::from_maybe_shared(head.slice(at..at + len)).ok()?;
            headers.append(name, value);
        }
        Some(())
    })?;
    let mut req = Request::new(ClientBody::Empty);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Some(req)
}

/// Puts a head taken off the buffer back in front of what followed it.
trait UnsplitFront {
    fn unsplit_front(&mut self, head: Bytes);
}

impl UnsplitFront for BytesMut {
    fn unsplit_front(&mut self, head: Bytes) {
        let mut whole = BytesMut::with_capacity(head.len() + self.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(self);
        *self = whole;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(raw: &str) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(raw.as_bytes());
        let mut spans = Vec::new();
        (parse(&mut buf, 100, &mut spans), buf)
    }

    #[test]
    fn a_get_is_served_and_its_head_leaves_the_buffer() {
        let (parsed, rest) = parse_str(
            "GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nAccept: */*\r\nAccept: a\r\n\r\nGET /next",
        );
        let Parsed::Request(served) = parsed else {
            panic!("not served: {parsed:?}");
        };
        assert_eq!(served.req.method(), Method::GET);
        assert_eq!(served.req.uri(), "/a?b=1");
        assert_eq!(served.req.headers()["host"], "x.test");
        assert_eq!(served.req.headers().get_all("accept").iter().count(), 2);
        assert!(!served.close);
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn connection_close_is_noticed_among_other_tokens() {
        let (parsed, _) = parse_str("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: te, Close\r\n\r\n");
        assert!(matches!(parsed, Parsed::Request(s) if s.close));
    }

    #[test]
    fn an_incomplete_head_waits() {
        let (parsed, rest) = parse_str("GET / HTTP/1.1\r\nHost: x\r\n");
        assert!(matches!(parsed, Parsed::Partial));
        assert_eq!(rest.len(), 25);
    }

    #[test]
    fn everything_unusual_goes_to_hyper_with_the_buffer_untouched() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            "GET http://elsewhere.test/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
            "G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let (parsed, rest) = parse_str(raw);
            assert!(matches!(parsed, Parsed::HandOff), "{raw:?} gave {parsed:?}");
            assert_eq!(&rest[..], raw.as_bytes(), "{raw:?}");
        }
    }

    #[test]
    fn a_get_with_an_empty_body_length_is_served() {
        let (parsed, _) = parse_str("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(parsed, Parsed::Request(_)));
    }

    #[test]
    fn more_headers_than_the_limit_go_to_hyper() {
        let mut raw = String::from("GET / HTTP/1.1\r\n");
        for i in 0..101 {
            raw.push_str(&format!("x-h{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        let (parsed, rest) = parse_str(&raw);
        assert!(matches!(parsed, Parsed::HandOff));
        assert_eq!(rest.len(), raw.len());
    }
}
