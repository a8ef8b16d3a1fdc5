//! Graceful shutdown: in-flight requests finish, new connections are refused, and the grace
//! period bounds how long the node waits.
#![allow(clippy::unwrap_used)]
mod common;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

fn site(origin: &Origin) -> String {
    format!("[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nname = \"fra\"\nurl = \"{}\"\nregion = \"eu-central\"\n", origin.url())
}

/// Waits until connecting to `addr` is refused (the listener is closed).
async fn refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the node kept accepting connections after shutdown began"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn shutdown_finishes_every_in_flight_request_and_refuses_new_connections() {
    let origin = Origin::start("fra").await;
    origin.set_mode(Mode::Stall(Duration::from_millis(500)));
    let node = start_node(&node_toml("eu-central", "", &site(&origin))).await;
    let addr = node.http_addrs()[0];
    let admin = node.admin_addr().unwrap();

    let in_flight: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(async move {
                send(
                    addr,
                    if i % 2 == 0 { "GET" } else { "POST" },
                    "shop.test",
                    &format!("/slow/{i}"),
                    &[],
                    "body",
                )
                .await
            })
        })
        .collect();
    // Every request has reached the origin (and is stalled there) before shutdown starts.
    origin.wait_for_hits(6).await;
    let shutdown = tokio::spawn(node.shutdown());

    refused(addr).await;
    // Draining is visible to load balancers while in-flight requests finish.
    let health = send(admin, "GET", "admin", "/healthz", &[], "").await;
    assert_eq!(
        (health.status.as_u16(), health.text().as_str()),
        (503, "draining\n")
    );

    for (i, t) in in_flight.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(
            r.status,
            200,
            "in-flight request {i} was lost: {}",
            r.text()
        );
        assert_eq!(r.json()["path"], format!("/slow/{i}"));
    }
    assert!(
        shutdown.await.unwrap(),
        "shutdown reported requests left unfinished"
    );
    refused(addr).await;
    assert!(
        tokio::net::TcpStream::connect(admin).await.is_err(),
        "the admin listener outlived the node"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
    let origin = Origin::start("fra").await;
    let node = start_node(&node_toml("eu-central", "", &site(&origin))).await;
    let addr = node.http_addrs()[0];
    // An idle keep-alive connection after one request.
    let (text, closed) = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        Duration::from_millis(200),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200") && !closed, "{text}");
    let started = Instant::now();
    assert!(node.shutdown().await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown waited on an idle connection for {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let origin = Origin::start("fra").await;
    origin.set_mode(Mode::Stall(Duration::from_secs(30)));
    let toml = node_toml(
        "eu-central",
        "",
        &format!("{}[sites.timeouts]\nfirst_byte = \"60s\"\n", site(&origin)),
    )
    .replace("shutdown_grace = \"5s\"", "shutdown_grace = \"300ms\"");
    let node = start_node(&toml).await;
    let addr = node.http_addrs()[0];
    let stuck = tokio::spawn(async move {
        raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n",
            Duration::from_secs(20),
        )
        .await
    });
    origin.wait_for_hits(1).await;
    let started = Instant::now();
    assert!(
        !node.shutdown().await,
        "a request stuck for 30 s cannot finish within 300 ms"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (_, closed) = stuck.await.unwrap();
    assert!(
        closed,
        "the stuck connection must be closed once the grace period is over"
    );
}
