//! Client-facing listeners: accept loops for HTTP and HTTPS, per-connection HTTP/1.1 and
//! HTTP/2 serving with limits and timeouts, and graceful draining on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::proxy::handle;
use crate::state::{ConnInfo, NodeState};

/// Builds the connection server with the node's limits.
pub fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Hyper answers 431 when a request head does not fit its read buffer.
        .max_buf_size(limits.max_header_bytes.max(8192))
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

/// Accepts connections until `stop` fires; every connection is watched by `graceful` so
/// shutdown can wait for in-flight requests.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<NodeState>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    stop: CancellationToken,
    handshake_timeout: Duration,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(TokioIo::new(stream), peer, false, state, &builder, watcher).await,
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    serve(
                        TokioIo::new(tls_stream),
                        peer,
                        true,
                        state,
                        &builder,
                        watcher,
                    )
                    .await
                }
            }
        });
    }
}

async fn serve<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    tls: bool,
    state: Arc<NodeState>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(ConnInfo { peer, tls });
    let service = service_fn(move |req| handle(state.clone(), conn.clone(), req));
    let connection = builder.serve_connection_with_upgrades(io, service);
    let watched = watcher.watch(connection.into_owned());
    if let Err(e) = watched.await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}
