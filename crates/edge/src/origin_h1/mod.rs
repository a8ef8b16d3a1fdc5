//! Plain-HTTP/1.1 exchanges with origins, run inside the request's own task.
//!
//! Why not hyper-util's pooled client for these: it runs every origin connection as a task
//! of its own and hands each request to it through a channel, so one pass-through request
//! costs two extra task wake-ups, a channel round trip and a pool checkout future; profiles
//! put that at a third of the node's user time per small request. Here the request's task
//! takes an idle connection, writes the head (and a small body) in one write, parses the
//! response head with `httparse` and reads the body as the client consumes it, returning the
//! connection to the pool when the body ends — the shape of nginx's and Pingora's upstream
//! code.
//!
//! Owns: origin connection pooling and HTTP/1.1 framing for `http://` origins, for requests
//! whose body is empty or already buffered. Never: TLS, HTTP/2, protocol upgrades or
//! streamed uploads (those stay on hyper-util's client, see [`crate::upstream`]); never
//! retries a request that is not idempotent.

mod chunked;
mod head;
mod pool;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::body::BoxError;
use crate::raw_fields::RawFields;
use chunked::{ChunkedDecoder, Decoded};
pub use head::AsLines;
use head::{parse_response_head, write_request_head, Framing};
use pool::Conn;
pub use pool::ConnPool;

/// The largest response head accepted from an origin.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read for a response head, and for bodies of unknown
/// length.
const READ_CHUNK: usize = 16 * 1024;
/// The most asked of the socket per read for a body of known length: a 64 KiB response
/// then takes one read and goes to the client as one frame.
const MAX_READ: usize = 256 * 1024;
/// Request bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 16 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    #[error("origin closed the connection before answering")]
    Closed,
    #[error("invalid response from origin: {0}")]
    InvalidResponse(&'static str),
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("origin closed the connection in the middle of the body")]
    Truncated,
}

impl ExchangeError {
    /// The connection was never established, so the request cannot have reached the origin.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            ExchangeError::Connect(_) | ExchangeError::ConnectTimeout
        )
    }

    /// A reused connection failed before any byte of a response: the origin closed it while
    /// it was idle, so an idempotent request may go again on a fresh one.
    fn is_stale_connection(&self) -> bool {
        match self {
            ExchangeError::Closed => true,
            ExchangeError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// One `http://` origin reached through this module: where it is and its idle connections.
pub struct DirectOrigin {
    host: String,
    port: u16,
    connect_timeout: Duration,
    pool: Arc<ConnPool>,
}

impl DirectOrigin {
    /// An origin at `authority` (host and optional port; 80 when absent).
    pub fn new(
        authority: &http::uri::Authority,
        connect_timeout: Duration,
        pool: Arc<ConnPool>,
    ) -> Self {
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        DirectOrigin {
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(80),
            connect_timeout,
            pool,
        }
    }

    /// Sends `req` and returns the response once its head has arrived. With `as_lines`, the
    /// response's fields may come as lines in its body ([`DirectBody::take_lines`]) instead of
    /// in its map (see [`parse_response_head`]).
    ///
    /// Not an `async fn`: that would keep `req` twice in its state (the argument and its
    /// rebinding) and copy it between them; the `async move` block uses it in place.
    #[allow(clippy::manual_async_fn)] // arguments used in place, see above
    pub fn send<'a>(
        &'a self,
        req: WrittenRequest,
        as_lines: Option<AsLines<'a>>,
    ) -> impl std::future::Future<Output = Result<Response<DirectBody>, ExchangeError>> + 'a {
        async move {
            let idempotent = crate::headers::is_idempotent(&req.method);
            loop {
                let (mut conn, reused) = match self.pool.take() {
                    Some(conn) => (conn, true),
                    // Boxed: connecting is the rare case (a pooled connection is the usual
                    // one), and its ~400-byte future would otherwise widen every request's.
                    None => (Box::pin(self.connect()).await?, false),
                };
                match exchange(&mut conn, &req.head, &req.rest, &req.method, as_lines).await {
                    Ok((head, leftover)) => {
                        let mut body = DirectBody::new(
                            conn,
                            leftover,
                            head.framing,
                            head.keep_alive,
                            self.pool.clone(),
                        );
                        body.lines = head.lines;
                        let mut response = Response::new(body);
                        *response.status_mut() = head.status;
                        *response.headers_mut() = head.headers;
                        return Ok(response);
                    }
                    // The origin closed an idle connection just as it was taken: go again on
                    // another (or a new) one, as nginx and hyper do.
                    Err(e) if reused && idempotent && e.is_stale_connection() => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    async fn connect(&self) -> Result<Conn, ExchangeError> {
        let connect = async {
            let mut last = None;
            for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
                match TcpStream::connect(addr).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address")
            }))
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| ExchangeError::ConnectTimeout)?
            .map_err(ExchangeError::Connect)?;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Ok(Conn::new(stream))
    }

    /// Idle connections held for this origin.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }
}

/// A request for a [`DirectOrigin`], written out before it is sent: its head (and a body of
/// up to [`INLINE_BODY`] bytes, so both go in one write) and any larger body.
///
/// Written when the attempt is launched, from borrowed parts: the caller's headers are
/// neither cloned nor moved into a `Request` per attempt, and the attempt's future carries
/// these bytes instead of a request (about a third of the size) through its states.
pub struct WrittenRequest {
    head: Vec<u8>,
    rest: Bytes,
    method: Method,
}

impl WrittenRequest {
    /// `method target HTTP/1.1`, then the lines `added` writes (the caller keeps them apart
    /// from `headers`), then `headers` except any framing field, then the framing for
    /// `payload` (see [`write_request_head`]) and `payload` itself.
    pub fn new(
        method: &Method,
        target: &str,
        added: impl FnOnce(&mut Vec<u8>),
        headers: &http::HeaderMap,
        payload: Bytes,
    ) -> Self {
        let inline = payload.len() <= INLINE_BODY;
        let mut head = Vec::with_capacity(512 + if inline { payload.len() } else { 0 });
        write_request_head(
            &mut head,
            method,
            target,
            added,
            headers,
            payload.len() as u64,
        );
        let rest = if inline {
            head.extend_from_slice(&payload);
            Bytes::new()
        } else {
            payload
        };
        WrittenRequest {
            head,
            rest,
            method: method.clone(),
        }
    }
}

/// Writes the request and reads until a final (non-1xx) response head has arrived. Returns
/// it with the bytes read past it.
async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    rest: &[u8],
    method: &Method,
    as_lines: Option<AsLines<'_>>,
) -> Result<(head::ResponseHead, Bytes), ExchangeError> {
    conn.stream.write_all(head).await?;
    if !rest.is_empty() {
        conn.stream.write_all(rest).await?;
    }
    let mut received_any = false;
    loop {
        if !conn.buf.is_empty() {
            // Parse from a frozen view so header values can share its memory; when the head
            // is not complete yet the view goes back to being the (unshared) read buffer.
            let bytes = conn.buf.split().freeze();
            match parse_response_head(&bytes, method, as_lines)? {
                Some((_, len)) if len > MAX_HEAD_BYTES => return Err(ExchangeError::HeadTooLarge),
                Some((head, len)) => {
                    let leftover = bytes.slice(len..);
                    if head.status.is_informational() {
                        // 100 Continue, 103 Early Hints: not for us. 101 was never asked for
                        // (upgrades do not come here).
                        if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                            return Err(ExchangeError::InvalidResponse(
                                "101 Switching Protocols without an upgrade request",
                            ));
                        }
                        conn.buf = BytesMut::from(leftover);
                        continue;
                    }
                    return Ok((head, leftover));
                }
                None => conn.buf = BytesMut::from(bytes),
            }
            if conn.buf.len() > MAX_HEAD_BYTES {
                return Err(ExchangeError::HeadTooLarge);
            }
        }
        conn.buf.reserve(READ_CHUNK);
        let n = read_buf(&mut conn.stream, &mut conn.buf).await?;
        if n == 0 {
            return Err(if received_any {
                ExchangeError::InvalidResponse("connection closed in the middle of the head")
            } else {
                ExchangeError::Closed
            });
        }
        received_any = true;
    }
}

async fn read_buf(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, buf)).await
}

enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// An origin response body read straight from its connection. Dropped before its end, it
/// closes the connection (whose next bytes would be the rest of this body).
pub struct DirectBody {
    conn: Option<Conn>,
    /// Data ready to hand out before reading the socket again.
    ready: Option<Bytes>,
    state: BodyState,
    keep_alive: bool,
    pool: Arc<ConnPool>,
    /// The response's fields, when they came as lines rather than in its map.
    lines: Option<Box<RawFields>>,
}

impl DirectBody {
    /// The response's fields as the origin's lines, if they came that way (once): its map
    /// then holds none of them, and whoever writes the response must write these.
    pub fn take_lines(&mut self) -> Option<Box<RawFields>> {
        self.lines.take()
    }

    fn new(
        mut conn: Conn,
        leftover: Bytes,
        framing: Framing,
        keep_alive: bool,
        pool: Arc<ConnPool>,
    ) -> Self {
        // What is left to read, data already here, and what stays in the read buffer (bytes
        // past the response's end, which keep the connection out of the pool).
        let (state, ready, rest) = match framing {
            Framing::Empty => (BodyState::Done, None, leftover),
            // The common small response: all of it came with the head. The connection goes
            // back to the pool before the client has even seen the head.
            Framing::Length(len) if leftover.len() as u64 >= len => {
                let len = len as usize;
                let rest = leftover.slice(len..);
                (BodyState::Done, Some(leftover.slice(..len)), rest)
            }
            Framing::Length(len) => (
                BodyState::Length(len - leftover.len() as u64),
                Some(leftover),
                Bytes::new(),
            ),
            Framing::Chunked => (
                BodyState::Chunked(ChunkedDecoder::default()),
                None,
                leftover,
            ),
            Framing::UntilClose => (BodyState::UntilClose, Some(leftover), Bytes::new()),
        };
        if !rest.is_empty() {
            conn.buf = BytesMut::from(rest);
        }
        let mut body = DirectBody {
            conn: Some(conn),
            ready: ready.filter(|b| !b.is_empty()),
            state,
            keep_alive,
            pool,
            lines: None,
        };
        if matches!(body.state, BodyState::Done) {
            body.finish();
        }
        body
    }

    /// The body cannot go on (framing error, read error, EOF): the connection is closed.
    fn abandon(&mut self) {
        self.conn = None;
        self.state = BodyState::Done;
    }

    /// The body is complete: the connection goes back to the pool if nothing is left over
    /// (bytes after a response's end would be the origin talking out of turn).
    fn finish(&mut self) {
        self.state = BodyState::Done;
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.buf.is_empty() {
                self.pool.put(conn);
            }
        }
    }
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(data) = this.ready.take() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                BodyState::Done => return Poll::Ready(None),
                BodyState::Length(left) if !conn.buf.is_empty() => {
                    let n = (conn.buf.len() as u64).min(*left);
                    let data = conn.buf.split_to(n as usize).freeze();
                    *left -= n;
                    if *left == 0 {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                BodyState::Chunked(decoder) if !conn.buf.is_empty() => {
                    match decoder.decode(&mut conn.buf) {
                        Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(Decoded::Trailers(trailers)) => {
                            this.finish();
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(Decoded::End) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(e) => {
                            this.abandon();
                            return Poll::Ready(Some(Err(Box::new(e))));
                        }
                    }
                }
                BodyState::UntilClose if !conn.buf.is_empty() => {
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                _ => {}
            }
            // One byte more than the body's rest, so its last read is a short one: tokio
            // then clears the socket's read readiness, which is what lets the pool tell a
            // live idle connection from one the origin closed (see `Conn::looks_alive`).
            let want = match this.state {
                BodyState::Length(left) => (left as usize + 1).clamp(READ_CHUNK, MAX_READ),
                _ => 4 * READ_CHUNK,
            };
            conn.buf.reserve(want);
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut conn.stream),
                cx,
                &mut conn.buf
            ));
            match read {
                Ok(0) => {
                    let clean_end = matches!(this.state, BodyState::UntilClose);
                    this.abandon();
                    if !clean_end {
                        return Poll::Ready(Some(Err(Box::new(ExchangeError::Truncated))));
                    }
                    return Poll::Ready(None);
                }
                Ok(_) => {}
                Err(e) => {
                    this.abandon();
                    return Poll::Ready(Some(Err(Box::new(ExchangeError::Io(e)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_none() && matches!(self.state, BodyState::Done)
    }

    fn size_hint(&self) -> SizeHint {
        let ready = self.ready.as_ref().map_or(0, |b| b.len() as u64);
        match self.state {
            BodyState::Done => SizeHint::with_exact(ready),
            BodyState::Length(left) => SizeHint::with_exact(ready + left),
            BodyState::Chunked(_) | BodyState::UntilClose => {
                let mut hint = SizeHint::new();
                hint.set_lower(ready);
                hint
            }
        }
    }
}
