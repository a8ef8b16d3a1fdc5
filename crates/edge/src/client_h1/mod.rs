//! The node's own HTTP/1.1 loop for client connections (plain, and TLS without h2).
//!
//! Why not hyper's server for these: for a small request most of what the node spends in
//! user space around the request path is the server machinery — hyper-util's protocol
//! sniffing, hyper's dispatcher and its per-request header-read timer, and the smuggling
//! guard ([`crate::smuggling`]) parsing every head a second time because hyper hides the
//! framing headers it resolved. This loop reads a head, parses it once with `httparse` into a
//! stack array, builds the request with values sharing the read buffer, runs the request
//! path and writes the answer's head and a small body in one write; the head deadline is a
//! single timer per connection, re-armed only when it fires early (see [`HeadDeadline`]).
//!
//! Owns: bodiless HTTP/1.1 requests in origin form (nearly every GET and HEAD) on HTTP/1.1
//! connections, keep-alive, pipelining (requests are answered in order), the head read
//! timeout, draining on shutdown. Never: guesses. The first request it does not serve itself
//! — one with a body, `Expect`, a protocol switch, HTTP/1.0, the HTTP/2 preface, anything
//! malformed or over a limit — is handed to hyper with every byte read so far
//! ([`Outcome::HandOff`]), and hyper serves the connection from then on exactly as it serves
//! every other connection (smuggling guard and 400/414/431 answers included). Request
//! smuggling needs a body, so nothing this loop serves can carry one.

mod handoff;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use handoff::Prefixed;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use http::Method;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::on_wake::OnWake;
use crate::proxy::handle;
use crate::state::{ConnInfo, NodeState};
use request::{Parsed, Span};
use response::Exchange;

/// Read buffer size; a head larger than this grows the buffer up to the head limit.
const READ_BUF: usize = 8 * 1024;

/// The limits the loop enforces itself.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A head this large without its end goes to hyper, which answers 431.
    pub max_head_bytes: usize,
    pub max_headers: usize,
    /// From the moment the loop waits for a request (idle keep-alive included) until its
    /// head has fully arrived, like hyper's `header_read_timeout`.
    pub header_read_timeout: Duration,
    /// The connection already served requests (on another serving thread, before it moved):
    /// a request handed to hyper is served as HTTP/1.1, never as a start of HTTP/2.
    pub resumed: bool,
}

/// How the loop left a connection.
#[derive(Debug)]
pub enum Outcome<S> {
    /// Closed, or to be closed: nothing more to do.
    Done,
    /// hyper takes over: `read` holds what has been read and not yet served; `served_any`
    /// says whether the loop answered requests on this connection before.
    HandOff {
        stream: S,
        read: BytesMut,
        served_any: bool,
    },
    /// Between two requests, with nothing read: the connection should continue on serving
    /// thread `to` (see [`crate::serving`]).
    Move { stream: S, to: usize },
}

/// Serves `stream` until it closes, times out, drains on `stop`, meets a request for hyper,
/// or — asked after each response with nothing read since, and not draining — `may_move`
/// names another serving thread. Never panics on what the client sends; every error ends
/// the connection.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    tls: bool,
    state: &Arc<NodeState>,
    settings: Settings,
    stop: &CancellationToken,
    may_move: Option<impl Fn() -> Option<usize>>,
) -> Outcome<S> {
    let conn = Arc::new(ConnInfo::new(peer, tls, None));
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut out = Vec::with_capacity(1024);
    let mut spans: Vec<Span> = Vec::new();
    let mut deadline = HeadDeadline::new(settings.header_read_timeout);
    let mut stopped = std::pin::pin!(OnWake::new(stop.clone().cancelled_owned()));
    let mut served_any = settings.resumed;
    loop {
        deadline.start();
        // How much of `buf` is known not to hold the end of a head, so a head trickling in
        // byte by byte is not parsed again from the start on every read (as hyper's
        // `is_complete_fast`).
        let mut scanned = 0;
        let served = loop {
            if may_hold_head(&buf, scanned) {
                match request::parse(&mut buf, settings.max_headers, &mut spans) {
                    Parsed::Request(served) => break served,
                    Parsed::Partial => {}
                    Parsed::HandOff => {
                        return Outcome::HandOff {
                            stream,
                            read: buf,
                            served_any,
                        };
                    }
                }
            }
            scanned = buf.len();
            if buf.len() >= settings.max_head_bytes {
                // hyper answers 431.
                return Outcome::HandOff {
                    stream,
                    read: buf,
                    served_any,
                };
            }
            if draining(state) && buf.is_empty() {
                return Outcome::Done;
            }
            match read_more(&mut stream, &mut buf, &mut deadline, stopped.as_mut()).await {
                Ok(0) | Err(_) => return Outcome::Done,
                Ok(_) => {}
            }
        };
        served_any = true;
        let head_request = served.req.method() == Method::HEAD;
        // Like hyper, a client that hangs up while its request is in progress cancels it
        // (dropping the request path's future drops the origin exchange too).
        let mut handler = std::pin::pin!(handle(state.clone(), conn.clone(), served.req));
        let response = std::future::poll_fn(|cx| {
            if let Poll::Ready(answer) = handler.as_mut().poll(cx) {
                return Poll::Ready(Some(answer));
            }
            if poll_hangup(&mut stream, &mut buf, cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        let response = match response {
            Some(Ok(r)) => r,
            Some(Err(never)) => match never {},
            None => return Outcome::Done,
        };
        let exchange = Exchange {
            head_request,
            close: served.close || draining(state),
            trailers: served.trailers,
        };
        match response::write(&mut stream, &mut buf, &mut out, response, exchange).await {
            Ok(true) => {}
            Ok(false) => {
                // An orderly end: FIN, and for TLS a close_notify first, so the client can
                // tell a complete response from a cut connection.
                let _ = stream.shutdown().await;
                return Outcome::Done;
            }
            Err(_) => return Outcome::Done,
        }
        if buf.is_empty() && !draining(state) {
            if let Some(to) = may_move.as_ref().and_then(|ask| ask()) {
                return Outcome::Move { stream, to };
            }
        }
        // A burst of pipelined requests leaves the buffer grown; idle connections should not
        // hold on to that.
        if buf.is_empty() && buf.capacity() > 4 * READ_BUF {
            buf = BytesMut::with_capacity(READ_BUF);
        }
    }
}

/// Whether `buf` may hold a complete head: an empty line ends somewhere after the first
/// `scanned` bytes (looking back 3 bytes, where a `\r\n\r\n` may have started).
fn may_hold_head(buf: &[u8], scanned: usize) -> bool {
    let fresh = &buf[scanned.saturating_sub(3).min(buf.len())..];
    fresh
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\r\n" && i > 0 && fresh[i - 1] == b'\n'))
}

/// Watches for the client hanging up while the node waits on something else (the request
/// path, a response body). Ready when the client closed its connection or it failed.
/// Pipelined bytes that arrive meanwhile stay in `buf`, and once there are any the client
/// is no longer watched (as in hyper: the next request is already here).
fn poll_hangup<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if !buf.is_empty() {
        return Poll::Pending;
    }
    if buf.capacity() < 1024 {
        buf.reserve(READ_BUF);
    }
    match poll_read_buf(Pin::new(stream), cx, buf) {
        Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(()),
        Poll::Ready(Ok(_)) | Poll::Pending => Poll::Pending,
    }
}

/// The node is shutting down: finish the request in progress, then close. (The flag is set
/// just before `stop` fires; reading it costs no lock, unlike asking the token.)
fn draining(state: &NodeState) -> bool {
    state.shutting_down.load(Ordering::Relaxed)
}

/// Reads what has arrived into `buf`, waiting until something does, the head deadline
/// passes (`TimedOut`) or the node drains while no request is in progress (`Ok(0)`).
///
/// Reads go through `poll_read`, not `try_read`: after a short read tokio forgets the
/// socket's readiness, so waiting for the next request costs no `EAGAIN` system call.
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    deadline: &mut HeadDeadline,
    mut stopped: Pin<&mut OnWake<WaitForCancellationFutureOwned>>,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_BUF);
    }
    let draining = buf.is_empty();
    std::future::poll_fn(|cx| {
        if let Poll::Ready(read) = poll_read_buf(Pin::new(&mut *stream), cx, buf) {
            return Poll::Ready(read);
        }
        if deadline.poll_expired(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head read timeout",
            )));
        }
        if draining && stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(0));
        }
        Poll::Pending
    })
    .await
}

/// The head read deadline of one connection, on one timer that is only touched when it
/// fires: each request moves the deadline forward (a clock read), and a timer that fires
/// before the current deadline is re-armed for it. A per-request timer would register with
/// and leave tokio's timer wheel on every request.
struct HeadDeadline {
    limit: Duration,
    at: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl HeadDeadline {
    fn new(limit: Duration) -> Self {
        HeadDeadline {
            limit,
            at: Instant::now() + limit,
            timer: None,
        }
    }

    /// The wait for a new request head begins now.
    fn start(&mut self) {
        self.at = Instant::now() + self.limit;
    }

    /// Ready when the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        loop {
            ready!(timer.as_mut().poll(cx));
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            timer.as_mut().reset(at);
        }
    }
}
