//! Serving threads: every thread's socket serves (the kernel spreads connections over them),
//! shutdown closes all of them, and an address something already listens on is refused even
//! though the node's own sockets share their port.
#![allow(clippy::unwrap_used)]
mod common;
use std::time::Duration;

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
