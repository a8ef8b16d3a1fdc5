//! Client-facing listeners: accept loops for HTTP and HTTPS, per-connection HTTP/1.1 and
//! HTTP/2 serving with limits and timeouts, and graceful draining on shutdown.
//!
//! HTTP/1.1 connections (plain, and TLS without h2 negotiated) start on the node's own loop
//! ([`crate::client_h1`]), which hands anything but bodiless HTTP/1.1 requests to hyper;
//! HTTP/2 over TLS goes to hyper directly. Connections hyper serves over
//! HTTP/1 are wrapped in a [`GuardedIo`] so request heads carrying both `Content-Length` and
//! `Transfer-Encoding` can be refused (see [`crate::smuggling`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::body::ClientBody;
use crate::client_h1::{self, Outcome, Prefixed};
use crate::config::Limits;
use crate::proxy::handle;
use crate::serving::Mover;
use crate::smuggling::{FramingTracker, GuardedIo, Verdicts};
use crate::state::{ConnInfo, NodeState};

/// The largest request head hyper accepts: its read buffer (hyper's minimum is 8 KiB).
fn max_head_bytes(limits: &Limits) -> usize {
    limits.max_header_bytes.max(8192)
}

/// Builds the connection server with the node's limits.
pub fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Hyper answers 431 when a request head does not fit its read buffer.
        .max_buf_size(max_head_bytes(limits))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

/// What serving a connection needs; every accept loop of a serving thread holds one.
#[derive(Clone)]
pub struct ConnContext {
    pub state: Arc<NodeState>,
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    /// Watches every connection, so shutdown can wait for in-flight requests.
    pub graceful: Arc<GracefulShutdown>,
    /// Fires when the node stops accepting (connections then drain).
    pub stop: CancellationToken,
    pub limits: Limits,
}

/// Serves an accepted connection on a task of the current runtime until it ends or moves to
/// another serving thread through `mover` (plain HTTP/1.1 only, between two requests),
/// holding `guard` (what counts the connection) as long. `resumed`: the connection moved
/// here after serving HTTP/1.1 requests on another thread, so it stays HTTP/1.1.
pub fn spawn_connection<G: Send + 'static>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    ctx: &ConnContext,
    guard: G,
    mover: Mover,
    resumed: bool,
) {
    let ConnContext {
        state,
        builder,
        graceful,
        stop,
        limits,
    } = ctx;
    let _ = stream.set_nodelay(true);
    let close = state.close_connections.clone();
    let connection = Connection {
        stream,
        peer,
        state: state.clone(),
        builder: builder.clone(),
        watcher: graceful.watcher(),
        stop: stop.clone(),
        h1: client_h1::Settings {
            max_head_bytes: max_head_bytes(limits),
            max_headers: limits.max_headers,
            header_read_timeout: limits.header_read_timeout,
            resumed,
        },
        handshake_timeout: limits.header_read_timeout,
    };
    tokio::spawn(connection_task(connection, tls, mover, close, guard));
}

/// What one connection's task is served with.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<NodeState>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    stop: CancellationToken,
    h1: client_h1::Settings,
    handshake_timeout: Duration,
}

/// A connection's task: serves it until it ends, moves, or the node closes connections.
///
/// The serving future is created inside `select!` rather than captured: a captured future
/// is kept in the task beside the copy `select!` polls, which made every connection's task
/// twice as large (34 KB). TLS connections are served from a box, so a plain connection's
/// task is not sized for a TLS session and hyper's HTTP/2 state (10 KB instead of 17).
async fn connection_task<G>(
    connection: Connection,
    tls: Option<TlsAcceptor>,
    mover: Mover,
    close: CancellationToken,
    guard: G,
) {
    let _guard = guard;
    // Dropping the connection future closes the socket.
    // `OnWake`: the token is not asked again on every wake-up of the connection.
    tokio::select! {
        () = serve_connection(connection, tls, mover) => {}
        () = crate::on_wake::OnWake::new(close.cancelled()) => {}
    }
}

async fn serve_connection(connection: Connection, tls: Option<TlsAcceptor>, mover: Mover) {
    let Connection {
        stream,
        peer,
        state,
        builder,
        watcher,
        stop,
        h1,
        handshake_timeout,
    } = connection;
    match tls {
        None => {
            let moving = serve_h1(
                stream,
                peer,
                false,
                state,
                &builder,
                watcher,
                h1,
                &stop,
                Some(&mover),
            )
            .await;
            if let Some((stream, target)) = moving {
                mover.hand_over(stream, peer, target);
            }
        }
        Some(acceptor) => {
            Box::pin(async move {
                let Ok(Ok(tls_stream)) =
                    tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                else {
                    return;
                };
                if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    let tls_stream = FirstByteDeadline::new(tls_stream, handshake_timeout);
                    serve(
                        TokioIo::new(tls_stream),
                        peer,
                        true,
                        None,
                        state,
                        &builder,
                        watcher,
                    )
                    .await
                } else {
                    // A TLS session cannot leave its thread: no mover.
                    let moving = serve_h1(
                        tls_stream, peer, true, state, &builder, watcher, h1, &stop, None,
                    );
                    let _ = moving.await;
                }
            })
            .await
        }
    }
}

/// An HTTP/1.1 connection (plain, or TLS without h2): the node's own loop first, then hyper
/// for the rest of the connection if the loop hands it over. Returns the stream and the
/// thread it should move to when `mover` asked the loop to let it go.
#[allow(clippy::too_many_arguments)]
async fn serve_h1<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    state: Arc<NodeState>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    settings: client_h1::Settings,
    stop: &CancellationToken,
    mover: Option<&Mover>,
) -> Option<(S, usize)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let may_move = mover.map(|m| move || m.target());
    match client_h1::serve(stream, peer, tls, &state, settings, stop, may_move).await {
        Outcome::Done => None,
        Outcome::Move { stream, to } => Some((stream, to)),
        // hyper reads the bytes the loop has read first, so the smuggling tracker sees the
        // connection from that request on.
        Outcome::HandOff {
            stream,
            read,
            served_any,
        } => {
            let verdicts = Arc::new(Verdicts::default());
            let tracker = FramingTracker::new(
                settings.max_head_bytes,
                settings.max_headers,
                verdicts.clone(),
            );
            let io = TokioIo::new(GuardedIo::new(
                Prefixed::new(read.freeze(), stream),
                tracker,
            ));
            let draining = state.shutting_down.load(Ordering::Relaxed);
            if !served_any && !draining {
                // A fresh connection: it may still be prior-knowledge HTTP/2 (h2c).
                serve(io, peer, tls, Some(verdicts), state, builder, watcher).await;
                return None;
            }
            // A connection that was HTTP/1.1 stays so. While draining, hyper is not told to
            // shut down gracefully (it would close before reading the request that already
            // arrived); keep-alive off ends the connection after that request.
            let service = hyper_service(state, ConnInfo::new(peer, tls, Some(verdicts)));
            // hyper's own HTTP/1 connection, not the auto builder, which would still switch
            // to HTTP/2 on a preface arriving later. Shutdown waits for it through `_held`;
            // a drain that starts later ends it gracefully like every other connection.
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(TokioTimer::new())
                .header_read_timeout(settings.header_read_timeout)
                .max_buf_size(settings.max_head_bytes)
                .max_headers(settings.max_headers)
                .keep_alive(!draining);
            let mut connection =
                std::pin::pin!(http1.serve_connection(io, service).with_upgrades());
            let _held = watcher;
            let ended = if draining {
                connection.await
            } else {
                tokio::select! {
                    ended = connection.as_mut() => ended,
                    () = stop.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            None
        }
    }
}

/// The request path as a hyper service for one connection.
fn hyper_service(
    state: Arc<NodeState>,
    conn: ConnInfo,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<crate::observe::ObservedBody>,
    Error = std::convert::Infallible,
    Future = impl Future<
        Output = Result<hyper::Response<crate::observe::ObservedBody>, std::convert::Infallible>,
    > + Send,
> + Clone {
    let conn = Arc::new(conn);
    service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let answer = handle(state.clone(), conn.clone(), req.map(ClientBody::Hyper));
        async move {
            let Ok(response) = answer.await;
            let (mut parts, body) = response.into_parts();
            body.insert_node_headers(&mut parts.headers);
            Ok(hyper::Response::from_parts(parts, body))
        }
    })
}

async fn serve<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    tls: bool,
    framing: Option<Arc<Verdicts>>,
    state: Arc<NodeState>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_service(state, ConnInfo::new(peer, tls, framing));
    let connection = builder.serve_connection_with_upgrades(io, service);
    let watched = watcher.watch(connection.into_owned());
    if let Err(e) = watched.await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

pin_project_lite::pin_project! {
    /// Fails the first read if no byte arrives within `limit`; wraps HTTP/2-over-TLS
    /// connections (HTTP/1.1 ones start on the node's own loop, whose head deadline covers
    /// this).
    ///
    /// hyper's `header_read_timeout` only starts once hyper-util's auto builder has read
    /// enough bytes to tell HTTP/1 from the HTTP/2 preface, so without this a client that
    /// finishes a TLS handshake and never sends anything would hold its connection forever.
    /// After the first byte, hyper's own timers take over.
    struct FirstByteDeadline<S> {
        #[pin]
        inner: S,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<S> FirstByteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
        }
    }
}

impl<S: AsyncRead> AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        match this.inner.poll_read(cx, buf) {
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the header read timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
            ready => {
                if buf.filled().len() > before {
                    *this.deadline = None;
                }
                ready
            }
        }
    }
}

crate::io_delegate::delegate_async_write!(FirstByteDeadline);
