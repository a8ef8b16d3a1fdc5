//! Serving threads: every thread's socket serves (the kernel spreads connections over them),
//! shutdown closes all of them, an address something already listens on is refused even
//! though the node's own sockets share their port, connections are packed onto the threads in
//! use, and keep-alive connections move between threads without losing a request.
#![allow(clippy::unwrap_used)]
mod common;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;
use regionless_edge::{Config, Node};

#[tokio::test]
async fn every_serving_thread_answers_and_shutdown_closes_every_socket() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let node = start_node(&node_toml("eu-central", "workers = 3", &site)).await;
    let addr = node.http_addrs()[0];

    // One connection per request: with three sockets on the port, 24 connections reach all
    // of them but with a chance of ~0.02 %; a thread that did not serve would leave its
    // share hanging.
    let replies = futures_util::future::join_all((0..24).map(|i| async move {
        tokio::time::timeout(
            Duration::from_secs(10),
            send(addr, "GET", "shop.test", &format!("/n/{i}"), &[], ""),
        )
        .await
    }))
    .await;
    for (i, r) in replies.into_iter().enumerate() {
        let r = r.unwrap_or_else(|_| panic!("request {i} got no answer"));
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.origin(), "fra");
    }
    assert_eq!(origin.hits(), 24);

    assert!(node.shutdown().await);
    for _ in 0..24 {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "a serving thread's socket still accepts after shutdown"
        );
    }
}

#[tokio::test]
async fn an_address_in_use_is_refused_at_start() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let first = start_node(&node_toml("eu-central", "", &site)).await;
    let taken = first.http_addrs()[0];
    let toml = node_toml("eu-central", "", &site).replace(
        "listen = [\"127.0.0.1:0\"]",
        &format!("listen = [\"{taken}\"]"),
    );
    let config = Config::from_toml(
        &format!("{toml}\n[cache]\nregional = \"off\"\n"),
        std::path::Path::new("."),
    )
    .unwrap();
    let Err(e) = Node::start(config, None).await else {
        panic!("a second node started on {taken}, sharing the first one's port");
    };
    assert!(
        e.to_string()
            .starts_with(&format!("cannot listen on {taken}")),
        "{e}"
    );
    // The first node still serves alone.
    assert_eq!(get(&first, "shop.test", "/", &[]).await.status, 200);
}

#[tokio::test]
async fn dropping_a_node_closes_every_serving_socket() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let node = start_node(&node_toml("eu-central", "workers = 3", &site)).await;
    let addr = node.http_addrs()[0];
    assert_eq!(get(&node, "shop.test", "/", &[]).await.status, 200);
    drop(node);
    // The threads end a moment after the drop; then no socket of the port may accept.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut refused = 0;
        for _ in 0..24 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                refused += 1;
            }
        }
        if refused == 24 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a serving thread kept accepting after its node was dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends one GET on an open keep-alive connection and returns the body of the answer (the
/// test origin's JSON, whose `path` says which request it answers).
async fn get_on(s: &mut tokio::net::TcpStream, path: &str) -> serde_json::Value {
    let request = format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        assert!(n > 0, "the node closed the connection");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = text[..end].to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if got.len() >= end + 4 + len {
            return serde_json::from_slice(&got[end + 4..end + 4 + len]).unwrap();
        }
    }
}

#[tokio::test]
async fn an_idle_node_serves_every_connection_from_one_thread() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let node = start_node(&node_toml("eu-central", "workers = 3", &site)).await;
    let addr = node.http_addrs()[0];
    // Connections accepted by any of the three sockets all end up on the one thread in use.
    let mut conns = Vec::new();
    for i in 0..12 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            get_on(&mut s, &format!("/c/{i}")).await["path"],
            format!("/c/{i}")
        );
        conns.push(s);
    }
    assert_eq!(node.serving_load(), (1, vec![12, 0, 0]));
    let metrics = admin_get(&node, "/metrics", None).await.text();
    assert!(
        metrics.contains("regionless_serving_threads_in_use 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_adaptive_threads_connections_spread_over_every_thread() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let extra = "workers = 3\nadaptive_threads = false";
    let node = start_node(&node_toml("eu-central", extra, &site)).await;
    let mut conns = Vec::new();
    for i in 0..12 {
        let mut s = tokio::net::TcpStream::connect(node.http_addrs()[0])
            .await
            .unwrap();
        get_on(&mut s, &format!("/c/{i}")).await;
        conns.push(s);
    }
    assert_eq!(node.serving_load(), (3, vec![4, 4, 4]));
}

#[tokio::test]
async fn keep_alive_connections_move_between_threads_between_requests() {
    let origin = Origin::start("fra").await;
    let site = shop_site("", &[("fra", &origin.url(), "eu-central")]);
    let node = start_node(&node_toml("eu-central", "workers = 2", &site)).await;
    let addr = node.http_addrs()[0];
    let mut conns = Vec::new();
    for i in 0..8 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        get_on(&mut s, &format!("/first/{i}")).await;
        conns.push(s);
    }
    let mut sent = 8;
    node.pin_serving_threads(Some(2));
    assert_eq!(node.serving_load(), (2, vec![8, 0]));
    // Each connection serves its next request where it is, then half of them move.
    let mut round = 0;
    while node.serving_load().1 != [4, 4] {
        round += 1;
        assert!(round <= 5, "no even spread: {:?}", node.serving_load());
        for (i, s) in conns.iter_mut().enumerate() {
            let path = format!("/r{round}/{i}");
            assert_eq!(get_on(s, &path).await["path"], path);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Back to one thread: every connection on the other one moves back, and every request
    // on a moved connection is answered.
    node.pin_serving_threads(Some(1));
    for round in 0..2 {
        for (i, s) in conns.iter_mut().enumerate() {
            let path = format!("/back{round}/{i}");
            assert_eq!(get_on(s, &path).await["path"], path);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.serving_load(), (1, vec![8, 0]));
    // A moved connection still takes a request with a body (which goes to hyper, over
    // HTTP/1.1 as before the move).
    let post = "POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nhello";
    // (the first connections to answer in the first round were the ones that moved)
    conns[0].write_all(post.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 16384];
    while !String::from_utf8_lossy(&answer).contains("body_len") {
        let n = tokio::time::timeout(Duration::from_secs(10), conns[0].read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("\"body_len\":5"), "{answer}");
    sent += 1;
    assert_eq!(origin.hits(), sent);
    // Four moved there and four back (a count read while a move is under way can ask for
    // one more).
    let metrics = admin_get(&node, "/metrics", None).await.text();
    let moved: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("regionless_connections_moved_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((8..=10).contains(&moved), "{moved} moves");
}
