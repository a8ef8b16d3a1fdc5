//! HTTP/2: prior-knowledge h2c clients on the plain listener, and gRPC-style trailers from an
//! h2c origin (`protocol = "http2"`) arriving intact at an HTTP/2 client.
#![allow(clippy::unwrap_used)]
mod common;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

#[tokio::test]
async fn an_h2c_client_is_served_with_many_streams_on_one_connection() {
    let origin = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let node = start_node(&node_toml(
        "eu-central",
        "",
        &two_region_site(&origin, &us, "policy = \"failover\"\n"),
    ))
    .await;
    let sender: H2Sender<Full<Bytes>> = h2c(node.http_addrs()[0]).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut sender = sender.clone();
            tokio::spawn(async move {
                let req = Request::builder()
                    .method("POST")
                    .uri(format!("http://shop.test/stream/{i}"))
                    .body(Full::new(Bytes::from(vec![b'x'; i * 100])))
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert_eq!(
                    (resp.status(), resp.version()),
                    (StatusCode::OK, Version::HTTP_2)
                );
                assert_eq!(resp.headers()["x-origin"], "fra@eu-central");
                // The node's own headers reach HTTP/2 clients too (hyper writes these heads).
                assert_eq!(resp.headers()["x-served-by"], "eu-central");
                assert_eq!(resp.headers().get_all("x-request-id").iter().count(), 1);
                let timing = resp.headers()["server-timing"].to_str().unwrap();
                assert!(timing.starts_with("edge;dur="), "{timing}");
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(json["path"], format!("/stream/{i}"));
                assert_eq!(json["body_len"], i * 100);
                // The origin speaks HTTP/1.1 to the node whatever the client spoke.
                assert_eq!(json["version"], "HTTP/1.1");
                assert_eq!(json["headers"]["x-original-host"][0], "shop.test");
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Unknown :authority is refused on HTTP/2 too.
    let mut sender = sender.clone();
    let resp = sender
        .send_request(
            Request::builder()
                .uri("http://evil.test/")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
}

/// What the gRPC-style origin saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    version: Option<Version>,
    te: Option<HeaderValue>,
    request_trailers: Option<HeaderMap>,
    body: Bytes,
}

/// An h2c-only origin that answers like a gRPC server: a data frame, then trailers.
async fn grpc_origin() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: std::sync::Arc<std::sync::Mutex<Seen>> = Default::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        let version = req.version();
                        let te = req.headers().get("te").cloned();
                        let collected = req.into_body().collect().await.unwrap();
                        let request_trailers = collected.trailers().cloned();
                        *s.lock().unwrap() = Seen {
                            version: Some(version),
                            te,
                            request_trailers,
                            body: collected.to_bytes(),
                        };
                        let mut trailers = HeaderMap::new();
                        trailers.insert("grpc-status", HeaderValue::from_static("0"));
                        trailers.insert("grpc-message", HeaderValue::from_static("all good"));
                        let frames = vec![
                            Ok::<_, Infallible>(Frame::data(Bytes::from_static(
                                b"\x00\x00\x00\x00\x05hello",
                            ))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = StreamBody::new(futures_util::stream::iter(frames));
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/grpc")
                                .body(body)
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn grpc_trailers_from_an_h2c_origin_reach_an_http2_client() {
    let (origin, seen) = grpc_origin().await;
    let site = format!(
        "[[sites]]\nname = \"grpc\"\nhosts = [\"grpc.test\"]\n[[sites.origins]]\nname = \"api\"\nurl = \"http://{origin}\"\nregion = \"eu-central\"\nprotocol = \"http2\"\n"
    );
    let node = start_node(&node_toml("eu-central", "", &site)).await;

    // A client-streaming call: the request carries trailers too.
    let mut request_trailers = HeaderMap::new();
    request_trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"\x00\x00\x00\x00\x02hi"))),
        Ok(Frame::trailers(request_trailers)),
    ];
    let body = StreamBody::new(futures_util::stream::iter(frames));
    let mut sender = h2c(node.http_addrs()[0]).await;
    let req = Request::builder()
        .method("POST")
        .uri("http://grpc.test/helloworld.Greeter/SayHello")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .expect("the response trailers were lost");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "all good");
    assert_eq!(&collected.to_bytes()[..], b"\x00\x00\x00\x00\x05hello");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.version,
        Some(Version::HTTP_2),
        "protocol = \"http2\" speaks h2c to the origin"
    );
    assert_eq!(
        seen.te.as_ref().map(|v| v.to_str().unwrap()),
        Some("trailers")
    );
    assert_eq!(&seen.body[..], b"\x00\x00\x00\x00\x02hi");
    assert_eq!(
        seen.request_trailers
            .as_ref()
            .map(|t| t["x-checksum"].clone()),
        Some(HeaderValue::from_static("abc"))
    );
}
