//! WebSocket pass-through: the Upgrade reaches the origin, frames flow both ways through the
//! node, and an upgrade the origin refuses ends the client connection.
#![allow(clippy::unwrap_used)]
// tungstenite's handshake callback has to return its (large) ErrorResponse type.
#![allow(clippy::result_large_err)]
mod common;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type SeenHeaders = Arc<Mutex<Option<http::HeaderMap>>>;

/// A WebSocket origin: greets first (so the origin→client direction does not depend on an
/// echo), then echoes every text and binary message, prefixed for text.
async fn ws_origin() -> (SocketAddr, SeenHeaders) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: SeenHeaders = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let record = |req: &Request, resp: Response| {
                    *s.lock().unwrap() = Some(req.headers().clone());
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
                    return;
                };
                if ws.send(Message::text("welcome")).await.is_err() {
                    return;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    let reply = match msg {
                        Message::Text(t) => Message::text(format!("echo: {}", t.as_str())),
                        Message::Binary(b) => Message::Binary(b),
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    if ws.send(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn node_for(origin: &str) -> regionless_edge::Node {
    let site = format!("[[sites]]\nname = \"chat\"\nhosts = [\"chat.test\"]\n[[sites.origins]]\nname = \"ws\"\nurl = \"{origin}\"\nregion = \"eu-central\"\n");
    start_node(&node_toml("eu-central", "", &site)).await
}

#[tokio::test]
async fn websocket_frames_pass_both_ways_through_the_node() {
    let (origin, seen) = ws_origin().await;
    let node = node_for(&format!("http://{origin}")).await;
    let tcp = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    let request = "ws://chat.test/socket?room=1"
        .into_client_request()
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["x-origin"], "ws@eu-central");
    assert_eq!(response.headers()["x-served-by"], "eu-central");

    // Origin → client first, unprompted.
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("welcome"));
    // Client → origin → client, text and binary, small and large.
    for i in 0..20 {
        ws.send(Message::text(format!("message {i}")))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text(format!("echo: message {i}"))
        );
    }
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => assert!(b[..] == big[..], "binary frame changed on the way"),
        other => panic!("expected binary, got {other:?}"),
    }
    ws.close(None).await.unwrap();

    // The origin got a proper upgrade request, with the node's own headers.
    let headers = seen.lock().unwrap().clone().unwrap();
    assert_eq!(headers["upgrade"], "websocket");
    assert!(headers["connection"]
        .to_str()
        .unwrap()
        .eq_ignore_ascii_case("upgrade"));
    assert!(headers.contains_key("sec-websocket-key"));
    assert_eq!(headers["x-original-host"], "chat.test");
    assert_eq!(headers["host"], origin.to_string().as_str());
}

#[tokio::test]
async fn several_websockets_at_once_stay_separate() {
    let (origin, _) = ws_origin().await;
    let node = node_for(&format!("http://{origin}")).await;
    let addr = node.http_addrs()[0];
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (mut ws, _) = tokio_tungstenite::client_async("ws://chat.test/", tcp)
                    .await
                    .unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("welcome"));
                for i in 0..10 {
                    ws.send(Message::text(format!("{n}/{i}"))).await.unwrap();
                    assert_eq!(
                        ws.next().await.unwrap().unwrap(),
                        Message::text(format!("echo: {n}/{i}"))
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn an_upgrade_the_origin_refuses_is_answered_and_the_connection_closed() {
    // A plain HTTP origin answers the upgrade request with 200 and no switch.
    let plain = Origin::start("plain").await;
    let node = node_for(&plain.url()).await;
    let req = b"GET /socket HTTP/1.1\r\nHost: chat.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let (text, closed) = raw(node.http_addrs()[0], req, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        closed,
        "after a refused upgrade the node cannot follow the connection's framing, so it ends it"
    );
    assert_eq!(plain.hits(), 1);
}

#[tokio::test]
async fn open_websockets_are_closed_when_the_node_shuts_down() {
    let (origin, _) = ws_origin().await;
    let node = node_for(&format!("http://{origin}")).await;
    let tcp = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("ws://chat.test/", tcp)
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("welcome"));
    // A tunnel is not an in-flight request: shutdown does not wait for it, and closes it.
    assert!(node.shutdown().await);
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the tunnel outlived the node");
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{end:?}"
    );
}
