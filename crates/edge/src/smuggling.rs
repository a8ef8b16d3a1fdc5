//! A per-connection guard against request smuggling through `Content-Length` +
//! `Transfer-Encoding`.
//!
//! Why it exists: a request carrying both headers is the classic smuggling shape (a front
//! proxy and a back server disagree on where the body ends). The issue asks for 400 and a
//! closed connection. hyper, however, resolves the conflict itself before our service runs:
//! it drops the `Content-Length` header, reads the body as chunked and closes afterwards, so
//! the request path ([`crate::proxy`]) can never see both headers and cannot refuse it.
//!
//! So this module watches the bytes hyper reads from an HTTP/1 connection. [`GuardedIo`]
//! wraps the client stream (plain TCP or TLS) and hands every read to a [`FramingTracker`],
//! which follows HTTP/1 message framing exactly as hyper does: request heads are parsed with
//! `httparse` (the parser hyper uses, with the same default settings), `Content-Length`
//! bodies are skipped by count, chunked bodies are followed through chunk-size lines, data,
//! CRLF and trailers. Body bytes are never copied; only a head that arrives split across
//! reads is kept until it is complete. For every request head it records, in order, a
//! [`Verdict`] in the [`Verdicts`] shared with the connection's `ConnInfo`; the service
//! claims one verdict per HTTP/1 request and answers an ambiguous one with 400 and
//! `Connection: close`.
//!
//! The tracker never fails a connection itself. It stops following (and records why) when
//! it meets something it cannot follow: a protocol switch (`Upgrade`, `CONNECT`: what comes
//! next may not be HTTP), the HTTP/2 preface, or a head or body hyper would reject anyway.
//! Requests the service sees after that get [`Verdict::Unknown`] and are answered with
//! `Connection: close`, so an unfollowed connection never carries another request.
//!
//! HTTP/2 has no such ambiguity (frames carry their own lengths), so HTTPS connections that
//! negotiate h2 by ALPN are not wrapped; on plain connections the h2c preface stops the
//! tracker on the first read.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// What the tracker learned about one request head, claimed by the service in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Framed unambiguously.
    Clean,
    /// Carried both `Content-Length` and `Transfer-Encoding`: answer 400 and close.
    Ambiguous,
    /// Framed unambiguously, but asks for a protocol switch; nothing after it is followed,
    /// so unless the switch happens the connection must close after the answer.
    LastTracked,
    /// The tracker was not following the connection when this request arrived.
    Unknown,
}

// How the tracker stopped, stored in `Verdicts::end`.
const END_TRACKING: u8 = 0;
const END_AMBIGUOUS: u8 = 1;
const END_LAST_TRACKED: u8 = 2;
const END_STOPPED: u8 = 3;

/// Verdicts shared between a connection's tracker (which records them as heads arrive) and
/// its service (which claims one per request).
///
/// Every verdict but the last is [`Verdict::Clean`] (the others stop the tracker), so a
/// count of clean heads followed by one terminal value is the whole queue: no allocation,
/// no lock.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Clean heads seen by the tracker and not yet claimed by the service.
    clean: AtomicUsize,
    /// What comes after the clean ones once the tracker stops.
    end: AtomicU8,
}

impl Verdicts {
    /// The verdict for the next request of the connection. HTTP/1 serves one request at a
    /// time and the tracker sees a head before hyper can parse it, so verdicts and requests
    /// pair up in order.
    pub fn claim(&self) -> Verdict {
        if self
            .clean
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Verdict::Clean;
        }
        // A terminal verdict belongs to exactly one request; later ones are unknown.
        match self.end.swap(END_STOPPED, Ordering::AcqRel) {
            END_AMBIGUOUS => Verdict::Ambiguous,
            END_LAST_TRACKED => Verdict::LastTracked,
            END_TRACKING => {
                // Should not happen (hyper parsed a head the tracker has not seen); keep
                // tracking but treat this request as unfollowed.
                self.end.store(END_TRACKING, Ordering::Release);
                Verdict::Unknown
            }
            _ => Verdict::Unknown,
        }
    }

    fn push_clean(&self) {
        self.clean.fetch_add(1, Ordering::AcqRel);
    }

    fn stop(&self, end: u8) {
        self.end.store(end, Ordering::Release);
    }
}

/// What a head says about the body that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The facts about one request head the tracker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadFacts {
    /// Bytes the head took, leading empty lines included.
    len: usize,
    /// `None` when hyper would reject the head's framing (and close the connection).
    framing: Option<Framing>,
    /// Both `Content-Length` and `Transfer-Encoding` were present.
    ambiguous: bool,
    /// `CONNECT`, or an `Upgrade` header on HTTP/1.1 (hyper treats both as a switch).
    switches: bool,
}

/// Where in the chunked body the tracker is (hyper's `ChunkedState`, minus the buffering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting the first hex digit of a chunk size.
    Start,
    Size(u64),
    SizeLws(u64),
    Ext(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk's size line: an empty line ends the body, anything else starts
    /// a trailer field.
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Fixed(u64),
    Chunked(Chunk),
    Off,
}

/// Largest number of header fields parsed on the stack; more falls back to the heap.
const STACK_HEADERS: usize = 128;

/// Follows HTTP/1 request framing over the bytes of one connection.
#[derive(Debug)]
pub struct FramingTracker {
    state: State,
    /// An incomplete head carried over to the next read (empty otherwise).
    partial: Vec<u8>,
    /// A head longer than this is not followed (hyper answers 431 before that).
    max_head: usize,
    max_headers: usize,
    verdicts: Arc<Verdicts>,
}

impl FramingTracker {
    /// A tracker for a new connection. `max_head` and `max_headers` are hyper's limits for
    /// the same connection.
    pub fn new(max_head: usize, max_headers: usize, verdicts: Arc<Verdicts>) -> Self {
        FramingTracker {
            state: State::Head,
            partial: Vec::new(),
            max_head,
            max_headers,
            verdicts,
        }
    }

    /// False once the tracker has stopped following the connection.
    pub fn is_tracking(&self) -> bool {
        self.state != State::Off
    }

    fn stop(&mut self, end: u8) {
        self.state = State::Off;
        self.partial = Vec::new();
        self.verdicts.stop(end);
    }

    /// Takes the next bytes the server read from the client.
    pub fn observe(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            data = match self.state {
                State::Off => return,
                State::Head => self.head(data),
                State::Fixed(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Fixed(left)
                    };
                    &data[take..]
                }
                State::Chunked(c) => self.chunked(c, data),
            };
        }
    }

    /// Consumes a head (or part of one) from `data`; returns what follows it.
    fn head<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let carried = self.partial.len();
        let parsed = if carried == 0 {
            parse_head(data, self.max_headers)
        } else {
            let room = self.max_head.saturating_sub(carried).min(data.len());
            self.partial.extend_from_slice(&data[..room]);
            // A head can only end at a line feed: skip the parse while none arrived.
            if !data[..room].contains(&b'\n') {
                Ok(None)
            } else {
                parse_head(&self.partial, self.max_headers)
            }
        };
        match parsed {
            Err(()) => {
                self.stop(END_STOPPED);
                &[]
            }
            Ok(None) => {
                if carried == 0 {
                    if data.len() >= self.max_head {
                        self.stop(END_STOPPED);
                        return &[];
                    }
                    self.partial.extend_from_slice(data);
                } else if self.partial.len() >= self.max_head {
                    self.stop(END_STOPPED);
                }
                &[]
            }
            Ok(Some(facts)) => {
                self.partial.clear();
                // `partial` never holds a complete head, so the head ends inside `data`.
                let rest = data
                    .get(facts.len.saturating_sub(carried)..)
                    .unwrap_or_default();
                if facts.ambiguous {
                    self.stop(END_AMBIGUOUS);
                    return &[];
                }
                let Some(framing) = facts.framing else {
                    // hyper refuses this head and closes the connection.
                    self.stop(END_STOPPED);
                    return &[];
                };
                if facts.switches {
                    self.stop(END_LAST_TRACKED);
                    return &[];
                }
                self.verdicts.push_clean();
                self.state = match framing {
                    Framing::None | Framing::Length(0) => State::Head,
                    Framing::Length(n) => State::Fixed(n),
                    Framing::Chunked => State::Chunked(Chunk::Start),
                };
                rest
            }
        }
    }

    /// Follows a chunked body through `data`; returns what follows the body, if it ended.
    fn chunked<'d>(&mut self, mut c: Chunk, data: &'d [u8]) -> &'d [u8] {
        let mut i = 0;
        while i < data.len() {
            if let Chunk::Data(left) = c {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                i += take;
                let left = left - take as u64;
                c = if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left)
                };
                continue;
            }
            let b = data[i];
            i += 1;
            let next = match (c, b) {
                (Chunk::Start, _) => hex(b).map(|d| Chunk::Size(u64::from(d))),
                (Chunk::Size(n), b'\t' | b' ') => Some(Chunk::SizeLws(n)),
                (Chunk::Size(n) | Chunk::SizeLws(n), b';') => Some(Chunk::Ext(n)),
                (Chunk::Size(n) | Chunk::SizeLws(n) | Chunk::Ext(n), b'\r') => {
                    Some(Chunk::SizeLf(n))
                }
                (Chunk::Size(n), _) => hex(b)
                    .and_then(|d| n.checked_mul(16)?.checked_add(u64::from(d)))
                    .map(Chunk::Size),
                (Chunk::SizeLws(n), b'\t' | b' ') => Some(Chunk::SizeLws(n)),
                (Chunk::Ext(_), b'\n') => None,
                (Chunk::Ext(n), _) => Some(Chunk::Ext(n)),
                (Chunk::SizeLf(0), b'\n') => Some(Chunk::EndCr),
                (Chunk::SizeLf(n), b'\n') => Some(Chunk::Data(n)),
                (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
                (Chunk::DataLf, b'\n') => Some(Chunk::Start),
                (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
                (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
                (Chunk::EndCr | Chunk::Trailer, _) => Some(Chunk::Trailer),
                (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
                (Chunk::EndLf, b'\n') => {
                    self.state = State::Head;
                    return &data[i..];
                }
                _ => None,
            };
            match next {
                Some(n) => c = n,
                None => {
                    // hyper fails the body here and the connection ends with it.
                    self.stop(END_STOPPED);
                    return &[];
                }
            }
        }
        self.state = State::Chunked(c);
        &[]
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a request head like hyper does. `Ok(None)`: incomplete; `Err`: hyper would not
/// accept it either.
fn parse_head(buf: &[u8], max_headers: usize) -> Result<Option<HeadFacts>, ()> {
    if max_headers <= STACK_HEADERS {
        let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        parse_with(buf, &mut headers[..max_headers])
    } else {
        let mut headers = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); max_headers];
        parse_with(buf, &mut headers)
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<HeadFacts>, ()> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let http11 = req.version == Some(1);
    let mut switches = req.method == Some("CONNECT");
    let mut content_length: Option<Option<u64>> = None;
    let mut te: Option<bool> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = digits(h.value);
            content_length = Some(match content_length {
                None => value,
                // Differing copies (or an unparsable one) make the length unknowable.
                Some(prev) if prev == value => prev,
                Some(_) => None,
            });
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // The last encoding of the last Transfer-Encoding field decides, as in hyper.
            te = Some(last_is_chunked(h.value));
        } else if name.eq_ignore_ascii_case(b"upgrade") && http11 {
            switches = true;
        }
    }
    let framing = match (te, content_length) {
        (Some(_), _) if !http11 => None,
        (Some(true), _) => Some(Framing::Chunked),
        (Some(false), _) => None,
        (None, Some(Some(n))) => Some(Framing::Length(n)),
        (None, Some(None)) => None,
        (None, None) => Some(Framing::None),
    };
    Ok(Some(HeadFacts {
        len,
        framing,
        ambiguous: te.is_some() && content_length.is_some(),
        switches,
    }))
}

/// A `Content-Length` value as hyper reads it: ASCII digits only, no sign, no list.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

fn last_is_chunked(v: &[u8]) -> bool {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

pin_project_lite::pin_project! {
    /// A client stream whose reads are shown to a [`FramingTracker`] on their way to hyper.
    /// Writes pass straight through.
    pub struct GuardedIo<S> {
        #[pin]
        inner: S,
        tracker: FramingTracker,
    }
}

impl<S> GuardedIo<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, tracker: FramingTracker) -> Self {
        GuardedIo { inner, tracker }
    }
}

impl<S: AsyncRead> AsyncRead for GuardedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.inner.poll_read(cx, buf))?;
        if this.tracker.is_tracking() {
            this.tracker.observe(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

crate::io_delegate::delegate_async_write!(GuardedIo);

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> (FramingTracker, Arc<Verdicts>) {
        let v = Arc::new(Verdicts::default());
        (FramingTracker::new(8192, 100, v.clone()), v)
    }

    /// Feeds `input` whole, then byte by byte and in 7-byte pieces, and checks the verdicts
    /// and the final tracking state agree every way.
    fn verdicts_of(input: &[u8], claims: usize) -> (Vec<Verdict>, bool) {
        let mut results = Vec::new();
        for piece in [input.len().max(1), 1, 7] {
            let (mut t, v) = tracker();
            for part in input.chunks(piece) {
                t.observe(part);
            }
            let got: Vec<Verdict> = (0..claims).map(|_| v.claim()).collect();
            results.push((got, t.is_tracking()));
        }
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "split reads disagree: {results:?}"
        );
        results.remove(0)
    }

    #[test]
    fn pipelined_requests_with_every_body_kind_are_clean() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n\
GET /z HTTP/1.1\r\nHost: a\r\n\r\n";
        let (v, tracking) = verdicts_of(input, 5);
        assert_eq!(
            v,
            [
                Verdict::Clean,
                Verdict::Clean,
                Verdict::Clean,
                Verdict::Clean,
                Verdict::Unknown
            ]
        );
        assert!(tracking);
    }

    #[test]
    fn body_bytes_that_look_like_a_head_are_skipped() {
        // A body that contains a CL+TE request must not be mistaken for one.
        let body = b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut input = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let (v, tracking) = verdicts_of(&input, 2);
        assert_eq!(v, [Verdict::Clean, Verdict::Clean]);
        assert!(tracking);
    }

    #[test]
    fn content_length_with_transfer_encoding_is_ambiguous_in_either_order() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:\tchunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n",
        ] {
            let (v, tracking) = verdicts_of(head, 2);
            assert_eq!(v, [Verdict::Ambiguous, Verdict::Unknown], "{}", String::from_utf8_lossy(head));
            assert!(!tracking);
        }
        // After clean requests, the ambiguous one gets its verdict in order.
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            verdicts_of(input, 3).0,
            [Verdict::Clean, Verdict::Ambiguous, Verdict::Unknown]
        );
    }

    #[test]
    fn heads_hyper_rejects_stop_tracking_without_a_verdict() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            b"GARBAGE\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let (v, tracking) = verdicts_of(head, 1);
            assert_eq!(v, [Verdict::Unknown], "{}", String::from_utf8_lossy(head));
            assert!(!tracking, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn equal_duplicate_content_lengths_are_followed() {
        let input = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            verdicts_of(input, 2),
            (vec![Verdict::Clean, Verdict::Clean], true)
        );
    }

    #[test]
    fn bad_chunk_framing_stops_tracking() {
        for body in [
            &b"zz\r\n"[..],
            b"-1\r\n",
            b"1ffffffffffffffff\r\n",
            b"5\r\nhelloX",
            b"5\nhello\r\n",
            b"1;a\nb\r\n",
            b"\r\n",
        ] {
            let mut input =
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            let (v, tracking) = verdicts_of(&input, 2);
            assert_eq!(
                v,
                [Verdict::Clean, Verdict::Unknown],
                "{}",
                String::from_utf8_lossy(body)
            );
            assert!(!tracking);
        }
    }

    #[test]
    fn upgrade_and_connect_are_the_last_requests_followed() {
        for head in [
            &b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"[..],
            b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let mut input = head.to_vec();
            // Tunnel bytes that must not be read as a request.
            input.extend_from_slice(
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            assert_eq!(
                verdicts_of(&input, 2),
                (vec![Verdict::LastTracked, Verdict::Unknown], false)
            );
        }
        // HTTP/1.0 cannot switch protocols: an Upgrade header there changes nothing.
        let input =
            b"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            verdicts_of(input, 2),
            (vec![Verdict::Clean, Verdict::Clean], true)
        );
    }

    #[test]
    fn leading_empty_lines_and_split_heads_are_followed() {
        let input = b"\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            verdicts_of(input, 2),
            (vec![Verdict::Clean, Verdict::Clean], true)
        );
    }

    #[test]
    fn oversized_heads_stop_tracking() {
        let v = Arc::new(Verdicts::default());
        let mut t = FramingTracker::new(64, 100, v.clone());
        t.observe(b"GET / HTTP/1.1\r\nHost: a\r\n");
        assert!(t.is_tracking());
        t.observe(&[b'x'; 64]);
        assert!(!t.is_tracking());
        assert_eq!(v.claim(), Verdict::Unknown);
    }

    #[test]
    fn large_bodies_are_skipped_by_count() {
        let (mut t, v) = tracker();
        t.observe(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
        let block = [b'G'; 4096];
        let mut sent = 0;
        while sent < 1_000_000 {
            let n = block.len().min(1_000_000 - sent);
            t.observe(&block[..n]);
            sent += n;
        }
        t.observe(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            [v.claim(), v.claim(), v.claim()],
            [Verdict::Clean, Verdict::Clean, Verdict::Unknown]
        );
        assert!(t.is_tracking());
    }

    #[test]
    fn many_headers_fall_back_to_the_heap() {
        let v = Arc::new(Verdicts::default());
        let mut t = FramingTracker::new(1 << 20, 500, v.clone());
        let mut head = b"POST / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..300 {
            head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        t.observe(&head);
        assert_eq!(v.claim(), Verdict::Ambiguous);
    }
}
