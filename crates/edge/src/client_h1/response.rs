//! Writing a response: the head in hyper's shape (lower-case names, `date` added, framing
//! chosen from the body the way hyper chooses it), the body by length or chunked.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::headers::{
    has_token, parse_decimal, push_decimal, push_header_line, status_has_no_body,
};
use crate::observe::ObservedBody;

/// Body data up to this size is copied behind the head so head and body leave in one write;
/// larger frames are written from where they are.
const COALESCE: usize = 16 * 1024;

/// How the body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes (no body at all is `Length(0)`).
    Length(u64),
    Chunked,
}

/// What a response's head says about the request it answers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Exchange {
    pub head_request: bool,
    /// The connection closes after this response (the client asked, or the node drains).
    pub close: bool,
    /// The client accepts trailer fields; those the response's `Trailer` header announces
    /// are sent after a chunked body, as hyper does.
    pub trailers: bool,
}

/// Writes `response` to the client. Returns whether the connection can carry another
/// request: false when either side asked to close, or the body failed or did not match its
/// declared length (the client cannot tell where the next response would start).
///
/// While the body makes it wait, the client is watched (`read` takes what it sends): one that
/// hangs up ends the response (`ConnectionAborted`).
pub(super) async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    read: &mut BytesMut,
    out: &mut Vec<u8>,
    response: Response<ObservedBody>,
    exchange: Exchange,
) -> io::Result<bool> {
    let (parts, body) = response.into_parts();
    let mut body = std::pin::pin!(body);
    let status = parts.status;
    let mut close = exchange.close;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");

    // RFC 9112 §6.3 and hyper's server: no body after HEAD, 1xx, 204 or 304.
    let bodiless_status = status_has_no_body(status);
    let sends_body = !exchange.head_request && !bodiless_status;
    let body_ends_now = body.is_end_stream();
    let mut framing = None;
    let mut wrote_date = false;
    let mut wrote_connection = false;
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            if framing.is_some() {
                continue;
            }
            // A length header on an empty body is only kept for HEAD (it describes the GET);
            // otherwise the body's own length below wins, as in hyper.
            if body_ends_now && !exchange.head_request {
                continue;
            }
            let Some(len) = parse_decimal(value.as_bytes()) else {
                continue;
            };
            framing = Some(Framing::Length(len));
        } else if name == header::TRANSFER_ENCODING {
            // The framing is this writer's to choose.
            continue;
        } else if name == header::DATE {
            wrote_date = true;
        } else if name == header::CONNECTION {
            wrote_connection = true;
            close |= has_token(value.as_bytes(), b"close");
        }
        push_header_line(out, name, value);
    }
    wrote_date |= body.write_node_headers(out);
    let framing = match framing {
        Some(f) => f,
        None => {
            let exact = if body_ends_now {
                Some(0)
            } else {
                body.size_hint().exact()
            };
            match exact {
                Some(len) => {
                    // As hyper: no length on answers that cannot have a body, nor on an
                    // empty HEAD answer (a length there would describe the GET's body).
                    if !(bodiless_status || exchange.head_request && len == 0) {
                        out.extend_from_slice(b"content-length: ");
                        push_decimal(out, len);
                        out.extend_from_slice(b"\r\n");
                    }
                    Framing::Length(len)
                }
                None if sends_body => {
                    out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                    Framing::Chunked
                }
                None => Framing::Length(0),
            }
        }
    };
    if !wrote_date {
        out.extend_from_slice(b"date: ");
        with_date(|d| out.extend_from_slice(d));
        out.extend_from_slice(b"\r\n");
    }
    if close && !wrote_connection {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");

    if !sends_body {
        flush(stream, out).await?;
        return Ok(!close);
    }
    let announced = (framing == Framing::Chunked && exchange.trailers)
        .then(|| announced_trailers(&parts.headers));
    let complete = write_body(stream, read, out, body.as_mut(), framing, announced).await?;
    Ok(complete && !close)
}

/// What polling the body gave, without waiting when there is output to flush first.
enum Next {
    Data(Bytes),
    Trailers(HeaderMap),
    End,
    Failed,
    /// Nothing yet; buffered output should go out before waiting.
    NotYet,
    /// The client closed its connection while the body was awaited.
    HungUp,
}

async fn next<S: AsyncRead + Unpin>(
    body: &mut Pin<&mut ObservedBody>,
    stream: &mut S,
    read: &mut BytesMut,
    flush_first: bool,
) -> Next {
    std::future::poll_fn(|cx| match body.as_mut().poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(data) => Poll::Ready(Next::Data(data)),
            Err(frame) => Poll::Ready(match frame.into_trailers() {
                Ok(trailers) => Next::Trailers(trailers),
                Err(_) => Next::End,
            }),
        },
        Poll::Ready(Some(Err(_))) => Poll::Ready(Next::Failed),
        Poll::Ready(None) => Poll::Ready(Next::End),
        Poll::Pending if flush_first => Poll::Ready(Next::NotYet),
        Poll::Pending => match super::poll_hangup(stream, read, cx) {
            Poll::Ready(()) => Poll::Ready(Next::HungUp),
            Poll::Pending => Poll::Pending,
        },
    })
    .await
}

/// Writes the body in `framing`, then for chunked bodies the trailer fields named in
/// `announced`. Returns false (after writing what fits) when the body failed, or did not
/// match its declared length: ended short or ran long (the excess is never sent).
async fn write_body<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    read: &mut BytesMut,
    out: &mut Vec<u8>,
    mut body: Pin<&mut ObservedBody>,
    framing: Framing,
    announced: Option<Vec<HeaderName>>,
) -> io::Result<bool> {
    let mut left = match framing {
        Framing::Length(len) => Some(len),
        Framing::Chunked => None,
    };
    loop {
        match (
            next(&mut body, stream, read, !out.is_empty()).await,
            left.as_mut(),
        ) {
            (Next::HungUp, _) => return Err(io::ErrorKind::ConnectionAborted.into()),
            (Next::NotYet, _) => flush(stream, out).await?,
            (Next::Data(mut data), Some(left)) => {
                let overrun = data.len() as u64 > *left;
                if overrun {
                    data.truncate(*left as usize);
                }
                *left -= data.len() as u64;
                send(stream, out, &data).await?;
                if overrun {
                    flush(stream, out).await?;
                    return Ok(false);
                }
            }
            // An empty chunk would read as the last one.
            (Next::Data(data), None) if data.is_empty() => {}
            (Next::Data(data), None) => {
                push_hex(out, data.len());
                out.extend_from_slice(b"\r\n");
                send(stream, out, &data).await?;
                out.extend_from_slice(b"\r\n");
            }
            (Next::End | Next::Trailers(_), Some(left)) => {
                let complete = *left == 0;
                flush(stream, out).await?;
                return Ok(complete);
            }
            (Next::End, None) => {
                out.extend_from_slice(b"0\r\n\r\n");
                flush(stream, out).await?;
                return Ok(true);
            }
            (Next::Trailers(trailers), None) => {
                out.extend_from_slice(b"0\r\n");
                for (name, value) in &trailers {
                    if announced.as_ref().is_some_and(|a| a.contains(name)) && may_trail(name) {
                        push_header_line(out, name, value);
                    }
                }
                out.extend_from_slice(b"\r\n");
                flush(stream, out).await?;
                return Ok(true);
            }
            // A chunked body gets no last chunk: the client sees it fail rather than end.
            (Next::Failed, _) => {
                flush(stream, out).await?;
                return Ok(false);
            }
        }
    }
}

/// Queues `data` behind `out`, or writes both at once when it is large.
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    data: &[u8],
) -> io::Result<()> {
    if out.len() + data.len() <= COALESCE {
        out.extend_from_slice(data);
        return Ok(());
    }
    let (mut head, mut rest) = (&out[..], data);
    while !head.is_empty() || !rest.is_empty() {
        let n = stream
            .write_vectored(&[IoSlice::new(head), IoSlice::new(rest)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        rest = &rest[n - from_head..];
    }
    out.clear();
    // Nothing is left queued to force a flush before the next wait, and a TLS stream may
    // still hold records of what was just written.
    stream.flush().await
}

/// Writes what is queued and flushes the stream (a TLS stream may hold records back until
/// flushed; for TCP this costs nothing).
async fn flush<S: AsyncWrite + Unpin>(stream: &mut S, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    stream.flush().await
}

/// The field names a response's `Trailer` header announces.
fn announced_trailers(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::TRAILER)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect()
}

/// RFC 9110 §6.5.1: fields that frame, route or authenticate a message never trail it.
fn may_trail(name: &HeaderName) -> bool {
    ![
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_ENCODING,
        header::CONTENT_TYPE,
        header::CONTENT_RANGE,
        header::HOST,
        header::TRAILER,
        header::TE,
        header::CACHE_CONTROL,
        header::EXPIRES,
        header::AUTHORIZATION,
        header::SET_COOKIE,
    ]
    .contains(name)
}

fn push_hex(out: &mut Vec<u8>, n: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = DIGITS[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Runs `f` with the current `Date` value, formatted at most once per second per thread
/// (as hyper caches it).
fn with_date(f: impl FnOnce(&[u8])) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        f(cached.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn chunk_sizes_are_lower_case_hex() {
        for (n, hex) in [(0, "0"), (9, "9"), (255, "ff"), (4096, "1000")] {
            let mut out = Vec::new();
            push_hex(&mut out, n);
            assert_eq!(out, hex.as_bytes());
        }
    }

    #[test]
    fn only_plain_decimal_lengths_are_believed() {
        let parse = |s: &'static str| parse_decimal(s.as_bytes());
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1024"), Some(1024));
        for bad in ["", "+1", "1 ", "0x10", "99999999999999999999", "1,1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn close_is_found_among_connection_tokens() {
        assert!(has_token(b"keep-alive, Close", b"close"));
        assert!(!has_token(b"keep-alive, closed", b"close"));
    }

    #[test]
    fn only_announced_fields_that_may_trail_are_sent() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::TRAILER,
            HeaderValue::from_static("x-sum, Content-Length"),
        );
        headers.append(header::TRAILER, HeaderValue::from_static("grpc-status"));
        let announced = announced_trailers(&headers);
        assert_eq!(announced, ["x-sum", "content-length", "grpc-status"]);
        assert!(may_trail(&announced[0]) && !may_trail(&announced[1]));
    }
}
