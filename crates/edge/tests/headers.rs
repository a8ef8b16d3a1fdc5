//! Header hygiene end to end: spoofed internal headers replaced by the node's, hop-by-hop
//! headers dropped in both directions, forwarding headers, and the node's response headers.
#![allow(clippy::unwrap_used)]
mod common;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

const TRUST_LOCAL: &str = "[client_location]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

/// An origin that echoes the request headers as JSON and answers with hop-by-hop headers of
/// its own, plus a Via, a Server-Timing entry, and its own `x-served-by`, `x-request-id` and
/// `x-cache`.
async fn hop_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let mut headers = serde_json::Map::new();
                    for name in req.headers().keys() {
                        let values: Vec<Value> = req
                            .headers()
                            .get_all(name)
                            .iter()
                            .map(|v| Value::from(v.to_str().unwrap_or("<bin>")))
                            .collect();
                        headers.insert(name.to_string(), Value::from(values));
                    }
                    let body =
                        serde_json::json!({ "origin": "hop", "headers": headers }).to_string();
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .header("connection", "x-secret, keep-alive")
                            .header("keep-alive", "timeout=5, max=100")
                            .header("x-secret", "hop-by-hop")
                            .header("proxy-connection", "keep-alive")
                            .header("proxy-authenticate", "Basic")
                            .header("via", "1.1 upstream-cache")
                            .header("server-timing", "db;dur=1.5")
                            .header("x-kept", "end-to-end")
                            // Names the node sets on every response: its own must win.
                            .header("x-served-by", "origin-box")
                            .header("x-request-id", "origin-echo")
                            .header("x-cache", "HIT from origin")
                            .body(boxed(Bytes::from(body)))
                            .unwrap(),
                    )
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn node_for(origin: SocketAddr, extra: &str) -> regionless_edge::Node {
    let site = format!("[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nname = \"fra\"\nurl = \"http://{origin}\"\nregion = \"eu-central\"\n");
    start_node(&node_toml("eu-central", extra, &site)).await
}

fn values(seen: &Value, name: &str) -> Vec<String> {
    seen["headers"][name]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

const SPOOFS: &[(&str, &str)] = &[
    ("x-original-host", "evil.test"),
    ("x-original-host", "evil2.test"),
    ("country-code", "US"),
    ("x-request-id", "spoofed-id"),
    ("cf-ipcountry", "US"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-for", "6.6.6.6"),
];

#[tokio::test]
async fn spoofed_internal_headers_from_an_untrusted_peer_are_replaced() {
    let origin = hop_origin().await;
    let node = node_for(origin, "").await;
    let r = get(&node, "shop.test", "/", SPOOFS).await;
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(values(&seen, "x-original-host"), ["shop.test"]);
    assert_eq!(
        values(&seen, "country-code"),
        ["XX"],
        "an untrusted peer cannot set its country"
    );
    assert!(values(&seen, "cf-ipcountry").is_empty());
    assert_eq!(values(&seen, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        values(&seen, "x-forwarded-for"),
        ["127.0.0.1"],
        "an untrusted chain is replaced by the peer"
    );
    let id = values(&seen, "x-request-id");
    assert_eq!(id.len(), 1);
    assert_ne!(id[0], "spoofed-id");
    assert!(
        id[0].len() >= 16 && id[0].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id:?}"
    );
    // The same id reaches the client.
    assert_eq!(r.header("x-request-id").unwrap(), id[0]);
    // Host is the origin's.
    assert_eq!(values(&seen, "host"), [origin.to_string()]);
}

#[tokio::test]
async fn a_trusted_peer_keeps_its_request_id_country_and_chain_but_not_the_node_headers() {
    let origin = hop_origin().await;
    let node = node_for(origin, TRUST_LOCAL).await;
    let r = get(
        &node,
        "shop.test",
        "/",
        &[
            ("x-request-id", "edge-abc-123"),
            ("cf-ipcountry", "DE"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-original-host", "evil.test"),
            ("country-code", "US"),
        ],
    )
    .await;
    let seen = r.json();
    assert_eq!(values(&seen, "x-request-id"), ["edge-abc-123"]);
    assert_eq!(r.header("x-request-id").unwrap(), "edge-abc-123");
    assert_eq!(
        values(&seen, "country-code"),
        ["DE"],
        "the node sends the country it trusted, not the client's copy"
    );
    assert_eq!(
        values(&seen, "x-original-host"),
        ["shop.test"],
        "not even a trusted proxy sets the original host"
    );
    assert_eq!(values(&seen, "x-forwarded-for"), ["203.0.113.7, 127.0.0.1"]);
    assert_eq!(
        values(&seen, "x-forwarded-proto"),
        ["https"],
        "the trusted proxy saw the client's scheme"
    );

    // Several X-Forwarded-For lines are one list.
    let r = get(
        &node,
        "shop.test",
        "/",
        &[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(
        values(&r.json(), "x-forwarded-for"),
        ["198.51.100.1, 203.0.113.7, 127.0.0.1"]
    );

    // A request id that is not a plain token is not kept, even from a trusted peer.
    let long = "a".repeat(300);
    let r = get(&node, "shop.test", "/", &[("x-request-id", long.as_str())]).await;
    let id = values(&r.json(), "x-request-id");
    assert_ne!(id[0], long);
    assert_eq!(r.header("x-request-id").unwrap(), id[0]);
}

#[tokio::test]
async fn trust_request_id_off_always_generates() {
    let origin = hop_origin().await;
    let node = node_for(origin, &format!("trust_request_id = false\n{TRUST_LOCAL}")).await;
    let r = get(&node, "shop.test", "/", &[("x-request-id", "edge-abc-123")]).await;
    let id = values(&r.json(), "x-request-id");
    assert_ne!(id[0], "edge-abc-123");
    assert_eq!(r.header("x-request-id").unwrap(), id[0]);
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded_in_either_direction() {
    let origin = hop_origin().await;
    let node = node_for(origin, "").await;
    let r = get(
        &node,
        "shop.test",
        "/",
        &[
            ("connection", "keep-alive, X-Drop-Me, x-drop-too"),
            ("x-drop-me", "1"),
            ("x-drop-too", "2"),
            ("keep-alive", "timeout=5"),
            ("te", "gzip, trailers"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-end-to-end", "kept"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = r.json();
    for gone in [
        "connection",
        "x-drop-me",
        "x-drop-too",
        "keep-alive",
        "te",
        "proxy-connection",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
    ] {
        assert!(
            values(&seen, gone).is_empty(),
            "{gone} reached the origin: {seen}"
        );
    }
    assert_eq!(values(&seen, "x-end-to-end"), ["kept"]);
    // `TE: trailers` is the one TE value that goes end to end (gRPC needs it).
    let r = get(&node, "shop.test", "/", &[("te", "trailers")]).await;
    assert_eq!(values(&r.json(), "te"), ["trailers"]);

    // The origin's hop-by-hop headers stay with its connection.
    for gone in [
        "connection",
        "keep-alive",
        "x-secret",
        "proxy-connection",
        "proxy-authenticate",
    ] {
        assert!(
            r.header(gone).is_none(),
            "{gone} reached the client: {:?}",
            r.headers
        );
    }
    assert_eq!(r.header("x-kept").unwrap(), "end-to-end");
}

#[tokio::test]
async fn via_is_added_both_ways_and_host_is_the_origins() {
    let origin = hop_origin().await;
    let node = node_for(origin, "").await;
    let r = get(&node, "shop.test", "/", &[("via", "1.1 client-proxy")]).await;
    let seen = r.json();
    assert_eq!(
        values(&seen, "via"),
        ["1.1 client-proxy, 1.1 regionless-eu-central"]
    );
    assert_eq!(
        r.header("via").unwrap(),
        "1.1 upstream-cache, 1.1 regionless-eu-central"
    );
    assert_eq!(values(&seen, "host"), [origin.to_string()]);
    assert_eq!(values(&seen, "x-original-host"), ["shop.test"]);
}

#[tokio::test]
async fn response_carries_served_by_origin_request_id_and_server_timing() {
    let origin = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let node = start_node(&node_toml(
        "eu-central",
        "",
        &two_region_site(&origin, &us, "policy = \"failover\"\n"),
    ))
    .await;
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.header("x-served-by").unwrap(), "eu-central");
    assert_eq!(r.header("x-origin").unwrap(), "fra@eu-central");
    let id = r.header("x-request-id").unwrap();
    assert_eq!(
        r.json()["headers"]["x-request-id"][0],
        id.as_str(),
        "the origin and the client see the same id"
    );
    let timing = r.header("server-timing").unwrap();
    let parts: Vec<&str> = timing.split(", ").collect();
    assert!(
        parts.len() == 2
            && parts[0].starts_with("edge;dur=")
            && parts[1].starts_with("origin;dur="),
        "{timing}"
    );
    for p in parts {
        let ms: f64 = p.split("dur=").nth(1).unwrap().parse().unwrap();
        assert!((0.0..60_000.0).contains(&ms), "{timing}");
    }
    // Ids differ per request.
    assert_ne!(
        get(&node, "shop.test", "/", &[])
            .await
            .header("x-request-id")
            .unwrap(),
        id
    );
    // Answers the node gives itself carry the node headers too, without an origin timing.
    let r = get(&node, "nowhere.test", "/", &[]).await;
    assert_eq!(r.status, 421);
    assert_eq!(r.header("x-served-by").unwrap(), "eu-central");
    assert!(r.header("x-request-id").is_some());
    assert!(r.header("x-origin").is_none());
    let timing = r.header("server-timing").unwrap();
    assert!(
        timing.starts_with("edge;dur=") && !timing.contains("origin"),
        "{timing}"
    );
    // After a failover, x-origin names the origin that answered.
    origin.kill();
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.header("x-origin").unwrap(), "hio@us-west");
}

#[tokio::test]
async fn an_origins_own_server_timing_is_kept_beside_the_nodes() {
    let origin = hop_origin().await;
    let node = node_for(origin, "").await;
    let r = get(&node, "shop.test", "/", &[]).await;
    let all: Vec<String> = r
        .headers
        .get_all("server-timing")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(all.iter().any(|v| v == "db;dur=1.5"), "{all:?}");
    assert!(all.iter().any(|v| v.starts_with("edge;dur=")), "{all:?}");
    // The origin's copies of the names the node sets are replaced, not repeated.
    let only = |name: &str| -> Vec<String> {
        r.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(only("x-served-by"), ["eu-central"]);
    let ids = only("x-request-id");
    assert!(ids.len() == 1 && ids[0] != "origin-echo", "{ids:?}");
}

/// Without the cache phase an origin's fields are copied to the client as the origin wrote
/// them (`raw_fields`): the same fields must arrive as through a map, over HTTP/1.1 (the
/// node's own loop) and HTTP/2 (hyper, which gets them as map entries).
#[tokio::test]
async fn without_the_cache_origin_fields_pass_as_lines_with_the_same_hygiene() {
    let origin = hop_origin().await;
    let site = format!(
        "[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[sites.cache]\nenabled = false\n\
         [[sites.origins]]\nname = \"fra\"\nurl = \"http://{origin}\"\nregion = \"eu-central\"\n"
    );
    let node = start_node(&node_toml("eu-central", "", &site)).await;
    let addr = node.http_addrs()[0];

    // HTTP/1.1, as bytes: one line per field, the origin's Via before the node's.
    let (text, _) = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let lines: Vec<(String, &str)> = head
        .lines()
        .skip(1)
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim())
        })
        .collect();
    let all = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .collect()
    };
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        all("via"),
        ["1.1 upstream-cache", "1.1 regionless-eu-central"]
    );
    assert_eq!(all("x-served-by"), ["eu-central"]);
    assert_eq!(all("x-origin"), ["fra@eu-central"]);
    assert_eq!(all("x-cache"), ["BYPASS"]);
    assert_eq!(all("cache-status"), ["regionless; fwd=bypass"]);
    assert_eq!(all("x-kept"), ["end-to-end"]);
    assert_eq!(all("content-type"), ["application/json"]);
    assert_eq!(all("date").len(), 1, "{head}");
    assert_eq!(all("content-length"), [body.len().to_string().as_str()]);
    let ids = all("x-request-id");
    assert!(ids.len() == 1 && ids[0] != "origin-echo", "{ids:?}");
    let timing = all("server-timing");
    assert!(timing.len() == 2 && timing[0] == "db;dur=1.5", "{timing:?}");
    for hop in [
        "keep-alive",
        "x-secret",
        "proxy-connection",
        "proxy-authenticate",
    ] {
        assert!(all(hop).is_empty(), "{hop}: {head}");
    }
    assert_eq!(all("connection"), ["close"]);

    // HTTP/2 through hyper: the same fields, with the node's Via appended to the origin's.
    let mut h2: H2Sender<http_body_util::Empty<Bytes>> = h2c(addr).await;
    let req = Request::builder()
        .uri("http://shop.test/")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = h2.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    let all = |name: &str| -> Vec<&str> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    };
    assert_eq!(
        all("via"),
        ["1.1 upstream-cache, 1.1 regionless-eu-central"]
    );
    assert_eq!(all("x-served-by"), ["eu-central"]);
    assert_eq!(all("x-origin"), ["fra@eu-central"]);
    assert_eq!(all("x-cache"), ["BYPASS"]);
    assert_eq!(all("cache-status"), ["regionless; fwd=bypass"]);
    assert_eq!(all("x-kept"), ["end-to-end"]);
    assert_eq!(all("date").len(), 1);
    let ids = all("x-request-id");
    assert!(ids.len() == 1 && ids[0] != "origin-echo", "{ids:?}");
    assert_eq!(all("server-timing").len(), 2);
    for hop in [
        "keep-alive",
        "x-secret",
        "proxy-connection",
        "proxy-authenticate",
    ] {
        assert!(all(hop).is_empty(), "{hop}");
    }
}

/// The original host the origin gets is the normalised one sites are matched on: the
/// client's own value when it already is, else without port or trailing dot, in lower case.
#[tokio::test]
async fn the_original_host_is_the_normalised_client_host() {
    let origin = hop_origin().await;
    let node = node_for(origin, "").await;
    for host in [
        "shop.test",
        "SHOP.Test",
        "shop.test:8080",
        "Shop.test.:80",
        "shop.test.",
    ] {
        let r = get(&node, host, "/", &[]).await;
        assert_eq!(r.status, 200, "{host}");
        assert_eq!(
            values(&r.json(), "x-original-host"),
            ["shop.test"],
            "{host}"
        );
    }
    let r = get(&node, "SHOP.elsewhere", "/", &[]).await;
    assert_eq!(r.status, 421);
    assert!(r.text().contains("`shop.elsewhere`"), "{}", r.text());
}
