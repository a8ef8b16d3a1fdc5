//! The floor under the edge node's request path: a bare hyper 1 HTTP/1 server in front of a
//! hyper-util pooled client, with none of Regionless's logic (no headers, steering, metrics,
//! guard). Comparing its CPU per request with the node's and nginx's tells how much of the
//! gap to nginx is the HTTP stack and how much is ours (see BENCHMARKS.md).
//!
//! `cargo run --release -p regionless-edge --example hyper_floor -- 127.0.0.1:18086 127.0.0.1:18081`
//! listens on the first address and forwards every request to the origin at the second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18086".into());
    let origin = Arc::new(args.next().unwrap_or_else(|| "127.0.0.1:18081".into()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Arc<Client<HttpConnector, Body>> =
            Arc::new(Client::builder(TokioExecutor::new()).build(http));
        let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (client, origin) = (client.clone(), origin.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, origin) = (client.clone(), origin.clone());
                    async move {
                        let (mut parts, _) = req.into_parts();
                        parts.uri = format!("http://{origin}{}", parts.uri.path())
                            .parse()
                            .unwrap();
                        let empty = Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync();
                        let resp = client
                            .request(hyper::Request::from_parts(parts, empty))
                            .await
                            .unwrap();
                        Ok::<_, hyper::Error>(resp.map(|b| b.boxed_unsync()))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}
