//! The in-task HTTP/1.1 origin client (`origin_h1`) against a raw TCP origin that answers
//! exactly the bytes each test scripts: connection reuse, origins closing idle connections,
//! framing (length, chunked with trailers, close-delimited), 1xx, and malformed answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the origin does with one request.
#[derive(Clone)]
enum Action {
    Reply(Vec<u8>),
    /// Reply, then close the connection after this long (an origin's keep-alive timeout).
    ReplyThenClose(Vec<u8>, Duration),
    /// Close without answering (the origin timed the idle connection out just as the
    /// request arrived).
    Drop,
}

type Script = dyn Fn(usize, usize, &str) -> Action + Send + Sync;

/// A raw origin: `script(connection number, request number on it, request text)` decides
/// each answer. Records
/// every request it read, with the connection it came on.
struct RawOrigin {
    url: String,
    seen: Arc<Mutex<Vec<(usize, String)>>>,
}

impl RawOrigin {
    async fn start(
        script: impl Fn(usize, usize, &str) -> Action + Send + Sync + 'static,
    ) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let s = seen.clone();
        tokio::spawn(async move {
            let mut conn_no = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let (script, seen, this) = (script.clone(), s.clone(), conn_no);
                conn_no += 1;
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut nth = 0;
                    loop {
                        let Some(request) = read_request(&mut stream, &mut buf).await else {
                            return;
                        };
                        seen.lock().unwrap().push((this, request.clone()));
                        let action = script(this, nth, &request);
                        nth += 1;
                        match action {
                            Action::Reply(bytes) => {
                                if stream.write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                            Action::ReplyThenClose(bytes, after) => {
                                let _ = stream.write_all(&bytes).await;
                                tokio::time::sleep(after).await;
                                return;
                            }
                            Action::Drop => return,
                        }
                    }
                });
            }
        });
        RawOrigin { url, seen }
    }

    fn connections(&self) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|(c, _)| c + 1).max().unwrap_or(0)
    }

    fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }
}

/// Reads one request (head and Content-Length body) as text; None at EOF.
async fn read_request(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let all: Vec<u8> = buf.drain(..end + 4 + length).collect();
                return Some(String::from_utf8_lossy(&all).into_owned());
            }
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A node with one serving thread: these tests count origin connections, and every serving
/// thread keeps its own idle ones (a client connection landing on another thread would take
/// a second origin connection).
async fn node_for(origin: &RawOrigin) -> regionless_edge::Node {
    start_node(&node_toml(
        "eu-central",
        "workers = 1",
        &shop_site(
            "[sites.cache]\nenabled = false\n[sites.retries]\nattempts = 1\n",
            &[("raw", &origin.url, "eu-central")],
        ),
    ))
    .await
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let origin = RawOrigin::start(|_, _, _| Action::Reply(ok("hello"))).await;
    let node = node_for(&origin).await;
    for _ in 0..20 {
        let r = get(&node, "shop.test", "/a?b=c", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "hello");
    }
    assert_eq!(
        origin.connections(),
        1,
        "one connection carried every request"
    );
    let first = &origin.requests()[0];
    assert!(first.starts_with("GET /a?b=c HTTP/1.1\r\n"), "{first}");
    assert!(first.contains("\r\nhost: 127.0.0.1:"), "{first}");
    assert!(!first.contains("content-length"), "{first}");
}

#[tokio::test]
async fn buffered_bodies_go_out_with_their_length() {
    let origin = RawOrigin::start(|_, _, _| Action::Reply(ok("stored"))).await;
    let node = node_for(&origin).await;
    let addr = node.http_addrs()[0];
    let r = send(addr, "PUT", "shop.test", "/doc", &[], "{\"a\":1}").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(addr, "POST", "shop.test", "/empty", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = origin.requests();
    assert!(
        seen[0].contains("content-length: 7\r\n\r\n{\"a\":1}"),
        "{}",
        seen[0]
    );
    assert!(seen[1].contains("content-length: 0\r\n\r\n"), "{}", seen[1]);
}

#[tokio::test]
async fn a_connection_the_origin_closed_while_idle_is_not_used() {
    // The origin closes every connection 20 ms after answering, like a short keep-alive
    // timeout. The next request, even a POST (never retried), must go on a new connection.
    let origin =
        RawOrigin::start(|_, _, _| Action::ReplyThenClose(ok("fine"), Duration::from_millis(20)))
            .await;
    let node = node_for(&origin).await;
    let addr = node.http_addrs()[0];
    for _ in 0..3 {
        let r = send(addr, "POST", "shop.test", "/order", &[], "x=1").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(origin.connections(), 3);
}

#[tokio::test]
async fn a_stale_connection_is_retried_for_get_but_never_for_post() {
    // Connection 0 answers its first request and silently drops the second one, as an origin
    // does when its idle timeout fires as the request arrives.
    let origin = RawOrigin::start(|conn, nth, _| {
        if conn == 0 && nth == 1 {
            Action::Drop
        } else {
            Action::Reply(ok("again"))
        }
    })
    .await;
    let node = node_for(&origin).await;
    assert_eq!(
        get(&node, "shop.test", "/", &[]).await.status,
        StatusCode::OK
    );
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the GET went again on a fresh connection"
    );
    assert_eq!(r.text(), "again");
    assert_eq!(origin.connections(), 2);

    // Same situation for a POST: it may have reached the origin, so it is not sent twice.
    let origin = RawOrigin::start(|conn, nth, _| {
        if conn == 0 && nth == 1 {
            Action::Drop
        } else {
            Action::Reply(ok("posted"))
        }
    })
    .await;
    let node = node_for(&origin).await;
    let addr2 = node.http_addrs()[0];
    assert_eq!(
        send(addr2, "POST", "shop.test", "/p", &[], "a")
            .await
            .status,
        StatusCode::OK
    );
    let r = send(addr2, "POST", "shop.test", "/p", &[], "b").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert_eq!(origin.requests().len(), 2, "the POST was sent once");
}

#[tokio::test]
async fn chunked_bodies_with_trailers_and_close_delimited_bodies_pass_through() {
    let origin = RawOrigin::start(|_, _, request| {
        if request.starts_with("GET /chunked") {
            Action::Reply(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n\
                  5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-sum: 12\r\n\r\n"
                    .to_vec(),
            )
        } else {
            Action::ReplyThenClose(
                b"HTTP/1.1 200 OK\r\n\r\nuntil the origin closes".to_vec(),
                Duration::ZERO,
            )
        }
    })
    .await;
    let node = node_for(&origin).await;
    let addr = node.http_addrs()[0];
    let req = http::Request::builder()
        .uri(format!("http://{addr}/chunked"))
        .header("host", "shop.test")
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    assert_eq!(collected.to_bytes(), "hello, world");
    assert_eq!(trailers.unwrap()["x-sum"], "12");

    for _ in 0..2 {
        let r = get(&node, "shop.test", "/close", &[]).await;
        assert_eq!(r.text(), "until the origin closes");
    }
    // The chunked exchange left its connection reusable and the first close-delimited one
    // took it; that one ends with the connection, so the second needed a new one.
    assert_eq!(origin.connections(), 2);
}

#[tokio::test]
async fn informational_responses_are_skipped() {
    let origin = RawOrigin::start(|_, _, _| {
        Action::Reply(
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal"
                .to_vec(),
        )
    })
    .await;
    let node = node_for(&origin).await;
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "final");
    assert!(r.header("link").is_none());
}

#[tokio::test]
async fn malformed_responses_are_502_and_never_passed_on() {
    let big_header = format!(
        "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello".to_vec(),
        ),
        ("garbage", b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()),
        ("head too large", big_header.into_bytes()),
        (
            "unasked 101",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n".to_vec(),
        ),
        (
            // Only `chunked` is decoded: the gzip coding would reach the client unannounced.
            "a transfer coding besides chunked",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let origin = RawOrigin::start(move |_, _, _| Action::Reply(bytes.clone())).await;
        let node = node_for(&origin).await;
        let r = get(&node, "shop.test", "/", &[]).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{what}: {}", r.text());
        assert!(
            r.text().contains("invalid response") || r.text().contains("larger than"),
            "{what}: {}",
            r.text()
        );
    }
    // The same coding through hyper's client (a POST body is streamed to the origin).
    let origin = RawOrigin::start(|_, _, _| {
        Action::Reply(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    let node = node_for(&origin).await;
    let r = send(node.http_addrs()[0], "POST", "shop.test", "/p", &[], "a").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert!(
        r.text().contains("unsupported Transfer-Encoding"),
        "{}",
        r.text()
    );
    assert_eq!(
        origin.requests().len(),
        1,
        "the POST reached the origin once"
    );
}

#[tokio::test]
async fn a_truncated_body_fails_the_client_response_instead_of_hanging() {
    let origin = RawOrigin::start(|_, _, _| {
        Action::ReplyThenClose(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b".to_vec(),
            Duration::ZERO,
        )
    })
    .await;
    let node = node_for(&origin).await;
    let addr = node.http_addrs()[0];
    let req = http::Request::builder()
        .uri(format!("http://{addr}/"))
        .header("host", "shop.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), async {
        let resp = client().request(req).await?;
        resp.into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(Into::into)
    })
    .await
    .expect("no hang");
    let outcome: Result<Bytes, Box<dyn std::error::Error + Send + Sync>> = outcome;
    assert!(outcome.is_err(), "a cut body must not look complete");
}

#[tokio::test]
async fn large_bodies_stream_through_intact() {
    let body: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let reply = ok(&body);
    let origin = RawOrigin::start(move |_, _, _| Action::Reply(reply.clone())).await;
    let node = node_for(&origin).await;
    for _ in 0..3 {
        let r = get(&node, "shop.test", "/big", &[]).await;
        assert_eq!(r.body.len(), body.len());
        assert!(r.body == body.as_bytes());
    }
    assert_eq!(origin.connections(), 1);
}

#[tokio::test]
async fn concurrent_requests_never_get_each_others_answers() {
    // Every answer names its request; varied sizes and framings make a connection put back
    // with unread bytes (or shared by two requests) show up as a mismatch.
    let origin = RawOrigin::start(|_, _, request| {
        let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
        let n: usize = path.trim_start_matches("/n/").parse().unwrap_or(0);
        let body = format!("{path}:{}", "x".repeat(n * 97 % 5000));
        if n.is_multiple_of(3) {
            let mut chunked = String::from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            for part in body.as_bytes().chunks(700) {
                chunked.push_str(&format!(
                    "{:x}\r\n{}\r\n",
                    part.len(),
                    String::from_utf8_lossy(part)
                ));
            }
            chunked.push_str("0\r\n\r\n");
            Action::Reply(chunked.into_bytes())
        } else {
            Action::Reply(ok(&body))
        }
    })
    .await;
    let node = node_for(&origin).await;
    let node = Arc::new(node);
    let mut tasks = Vec::new();
    for n in 0..200usize {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let r = get(&node, "shop.test", &format!("/n/{n}"), &[]).await;
            assert_eq!(r.status, StatusCode::OK);
            let expected = format!("/n/{n}:{}", "x".repeat(n * 97 % 5000));
            assert_eq!(r.text(), expected, "request {n}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(origin.requests().len(), 200);
    // What the burst opened is pooled: later requests open nothing new.
    let opened = origin.connections();
    for n in 0..20usize {
        let r = get(&node, "shop.test", &format!("/n/{n}"), &[]).await;
        assert!(r.text().starts_with(&format!("/n/{n}:")));
    }
    assert_eq!(origin.connections(), opened);
}

#[tokio::test]
async fn idle_connections_the_origin_closed_are_reaped_without_traffic() {
    let origin =
        RawOrigin::start(|_, _, _| Action::ReplyThenClose(ok("bye"), Duration::from_millis(100)))
            .await;
    let node = node_for(&origin).await;
    assert_eq!(get(&node, "shop.test", "/", &[]).await.text(), "bye");
    let idle = || async {
        admin_get(&node, "/admin/v1/origins", Some("test-token-0123456789"))
            .await
            .json()[0]["idle_connections"]
            .as_u64()
    };
    assert_eq!(idle().await, Some(1), "pooled after the response");
    // No request comes; the reaper (every 5 s) notices the origin's FIN and closes the socket.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    while idle().await != Some(0) {
        assert!(tokio::time::Instant::now() < deadline, "never reaped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
