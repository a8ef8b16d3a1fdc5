//! The node's own HTTP/1.1 loop for plain connections, over raw TCP: pipelining, keep-alive and
//! `Connection: close`, HEAD framing, hand-over to hyper in the middle of a connection, and
//! the head read timeout on idle connections.
#![allow(clippy::unwrap_used)]
mod common;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for any answer on a loaded machine; cases return as soon as the node closes.
const WAIT: Duration = Duration::from_secs(5);

async fn setup(limits: &str) -> (Origin, regionless_edge::Node) {
    let origin = Origin::start("fra").await;
    let site = format!("[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nname = \"fra\"\nurl = \"{}\"\nregion = \"eu-central\"\n", origin.url());
    let node = start_node(&node_toml("eu-central", limits, &site)).await;
    (origin, node)
}

/// Splits a stream of responses whose bodies are JSON objects from the test origin into
/// (status line, head, body) triples.
fn responses(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("HTTP/1.1 ") {
        rest = &rest[start..];
        let head_end = rest.find("\r\n\r\n").unwrap() + 4;
        let head = rest[..head_end].to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        let body = rest[head_end..head_end + len].to_string();
        out.push((head.lines().next().unwrap().to_string(), head, body));
        rest = &rest[head_end + len..];
    }
    out
}

/// Sends one GET on `s` and checks that a 200 comes back (the answer fits one read).
async fn get_ok(s: &mut tokio::net::TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 16384];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
}

fn json_field(body: &str, field: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body).unwrap()[field].clone()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_close_ends_the_connection() {
    let (origin, node) = setup("").await;
    let requests = "GET /a HTTP/1.1\r\nHost: shop.test\r\n\r\n\
                    GET /b?x=1 HTTP/1.1\r\nHost: shop.test\r\n\r\n\
                    GET /c HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n";
    let (text, closed) = raw(node.http_addrs()[0], requests.as_bytes(), WAIT).await;
    assert!(closed, "the connection stays open after Connection: close");
    let got = responses(&text);
    assert_eq!(got.len(), 3, "{text}");
    let paths: Vec<_> = got.iter().map(|(_, _, b)| json_field(b, "path")).collect();
    assert_eq!(paths, ["/a", "/b?x=1", "/c"]);
    for (status, head, _) in &got {
        assert_eq!(status, "http/1.1 200 ok");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(head.contains("\r\nx-served-by: eu-central\r\n"), "{head}");
    }
    assert!(got[2].1.contains("\r\nconnection: close\r\n"));
    assert!(!got[0].1.contains("\r\nconnection: close\r\n"));
    assert_eq!(origin.hits(), 3);
}

#[tokio::test]
async fn a_request_with_a_body_goes_to_hyper_and_the_connection_keeps_working() {
    let (_origin, node) = setup("").await;
    let requests = "GET /one HTTP/1.1\r\nHost: shop.test\r\n\r\n\
                    POST /two HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nhello\
                    GET /three HTTP/1.1\r\nHost: shop.test\r\n\r\n\
                    GET /four HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n";
    let (text, closed) = raw(node.http_addrs()[0], requests.as_bytes(), WAIT).await;
    assert!(closed);
    let got = responses(&text);
    let seen: Vec<_> = got
        .iter()
        .map(|(s, _, b)| {
            (
                s.clone(),
                json_field(b, "method"),
                json_field(b, "path"),
                json_field(b, "body_len"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "http/1.1 200 ok".into(),
                "GET".into(),
                "/one".into(),
                0.into()
            ),
            (
                "http/1.1 200 ok".into(),
                "POST".into(),
                "/two".into(),
                5.into()
            ),
            (
                "http/1.1 200 ok".into(),
                "GET".into(),
                "/three".into(),
                0.into()
            ),
            (
                "http/1.1 200 ok".into(),
                "GET".into(),
                "/four".into(),
                0.into()
            ),
        ]
    );
}

#[tokio::test]
async fn a_head_answer_keeps_its_length_and_sends_no_body() {
    let (_origin, node) = setup("").await;
    let requests = "HEAD /h HTTP/1.1\r\nHost: shop.test\r\n\r\n\
                    GET /g HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n";
    let (text, closed) = raw(node.http_addrs()[0], requests.as_bytes(), WAIT).await;
    assert!(closed);
    // The HEAD answer's head is followed directly by the GET answer.
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    assert!(
        text[..head_end]
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: "),
        "{text}"
    );
    assert!(
        text[head_end..].starts_with("HTTP/1.1 200 OK\r\n"),
        "{text}"
    );
    let get = &responses(&text[head_end..])[0];
    assert_eq!(json_field(&get.2, "path"), "/g");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_head_read_timeout_and_a_busy_one_is_not() {
    let (_origin, node) = setup("[limits]\nheader_read_timeout = \"400ms\"\n").await;
    let mut s = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    // Requests keep arriving for longer than the timeout: each one restarts it.
    for _ in 0..4 {
        get_ok(&mut s, "/").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Then silence: the node closes the connection once the timeout has passed.
    let idle_since = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the idle connection was not closed");
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(150),
        "closed too early: {idle:?}"
    );

    // A head that never completes is cut off the same way.
    let started = Instant::now();
    let (text, closed) = raw(node.http_addrs()[0], b"GET / HTTP/1.1\r\nHost: sh", WAIT).await;
    assert!(closed && text.is_empty(), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(350));
}

/// An origin that reads one request per connection and then answers only `reply` (maybe
/// nothing), reporting each connection's request and, later, its closing by the node.
struct SilentOrigin {
    url: String,
    events: tokio::sync::mpsc::UnboundedReceiver<&'static str>,
}

impl SilentOrigin {
    async fn start(reply: &'static [u8]) -> SilentOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tx.send("request");
                    let _ = s.write_all(reply).await;
                    // Whatever comes next, the end of the connection is what we wait for.
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                    let _ = tx.send("closed");
                });
            }
        });
        SilentOrigin { url, events }
    }

    async fn next(&mut self) -> &'static str {
        tokio::time::timeout(Duration::from_secs(3), self.events.recv())
            .await
            .expect("nothing happened at the origin within 3 s")
            .unwrap()
    }
}

async fn node_for_silent(origin: &SilentOrigin) -> regionless_edge::Node {
    let site = format!("[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\ntimeouts = {{ first_byte = \"30s\", request = \"60s\" }}\n[[sites.origins]]\nname = \"slow\"\nurl = \"{}\"\nregion = \"eu-central\"\n", origin.url);
    start_node(&node_toml("eu-central", "", &site)).await
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_its_origin_request_while_waiting_for_the_answer() {
    let mut origin = SilentOrigin::start(b"").await;
    let node = node_for_silent(&origin).await;
    let mut client = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    client
        .write_all(b"GET /long-poll HTTP/1.1\r\nHost: shop.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(origin.next().await, "request");
    drop(client);
    // Without watching the client, the node would wait out the 30 s first-byte deadline.
    assert_eq!(origin.next().await, "closed");
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_ends_the_origin_stream() {
    let mut origin = SilentOrigin::start(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello\n\r\n",
    )
    .await;
    let node = node_for_silent(&origin).await;
    let mut client = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    client
        .write_all(b"GET /events HTTP/1.1\r\nHost: shop.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(origin.next().await, "request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("hello") {
        let n = tokio::time::timeout(WAIT, client.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
    drop(client);
    assert_eq!(origin.next().await, "closed");
}

#[tokio::test]
async fn a_request_whose_head_is_arriving_when_shutdown_starts_is_still_answered() {
    let (_origin, node) = setup("").await;
    let mut s = tokio::net::TcpStream::connect(node.http_addrs()[0])
        .await
        .unwrap();
    get_ok(&mut s, "/first").await;
    // Half a head of a request with a body (which goes to hyper), then shutdown.
    s.write_all(b"POST /second HTTP/1.1\r\nHost: shop.test\r\nContent-Le")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(node.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"ngth: 5\r\n\r\nhello").await.unwrap();
    let mut text = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut text))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    let got = responses(&text);
    assert_eq!(got.len(), 1, "{text}");
    assert_eq!(got[0].0, "http/1.1 200 ok");
    assert_eq!(json_field(&got[0].2, "body_len"), 5);
    assert!(
        got[0].1.contains("\r\nconnection: close\r\n"),
        "{}",
        got[0].1
    );
    assert!(
        tokio::time::timeout(WAIT, shutdown).await.unwrap().unwrap(),
        "shutdown gave up"
    );
}

#[tokio::test]
async fn an_http1_connection_cannot_turn_into_http2_midway() {
    let (_origin, node) = setup("").await;
    let requests = b"GET /a HTTP/1.1\r\nHost: shop.test\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let (text, closed) = raw(node.http_addrs()[0], requests, WAIT).await;
    assert!(closed, "{text}");
    // One answer, then the connection ends: no HTTP/2 frames follow (hyper closes an
    // HTTP/1 connection that sends the HTTP/2 preface).
    let got = responses(&text);
    assert_eq!(got.len(), 1, "{text}");
    let first_len = text.find("\r\n\r\n").unwrap() + 4 + got[0].2.len();
    assert_eq!(text.len(), first_len, "bytes after the answer: {text:?}");
}
