//! Bad input from clients, over raw TCP: malformed heads, limits, unknown hosts, forward-proxy
//! requests, request-smuggling shapes, slow clients, and garbage. Every case gets a clear
//! status (or a closed connection) and never reaches an origin it should not.
#![allow(clippy::unwrap_used)]
mod common;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMITS: &str = r#"
[limits]
max_header_bytes = "8KiB"
max_uri_bytes = "1KiB"
max_body_bytes = "1KiB"
header_read_timeout = "500ms"
body_read_timeout = "500ms"
"#;

/// Long enough for any answer on a loaded machine; cases return as soon as the node closes.
const WAIT: Duration = Duration::from_secs(5);

async fn setup() -> (Origin, regionless_edge::Node) {
    let origin = Origin::start("fra").await;
    let site = format!("[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nname = \"fra\"\nurl = \"{}\"\nregion = \"eu-central\"\n", origin.url());
    let node = start_node(&node_toml("eu-central", LIMITS, &site)).await;
    (origin, node)
}

fn addr(node: &regionless_edge::Node) -> SocketAddr {
    node.http_addrs()[0]
}

/// The status codes of every response in `text`, in order.
fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn status(text: &str) -> u16 {
    statuses(text).first().copied().unwrap_or(0)
}

#[tokio::test]
async fn malformed_request_lines_and_headers_get_400() {
    let (origin, node) = setup().await;
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: shop.test\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: shop.test\r\n\r\n",
        b"GET  HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        b"G\x01T / HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost shop.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.test\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-Folded: a\r\n  b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.test\r\n: empty-name\r\n\r\n",
    ];
    for case in cases {
        let (text, closed) = raw(addr(&node), case, WAIT).await;
        assert_eq!(
            status(&text),
            400,
            "{:?} → {text}",
            String::from_utf8_lossy(case)
        );
        assert!(closed, "{:?}", String::from_utf8_lossy(case));
    }
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn a_second_host_header_gets_400() {
    let (origin, node) = setup().await;
    let (text, closed) = raw(
        addr(&node),
        b"GET / HTTP/1.1\r\nHost: shop.test\r\nHost: evil.test\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 400, "{text}");
    assert!(closed);
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn headers_too_large_get_431() {
    let (origin, node) = setup().await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let (text, closed) = raw(addr(&node), big.as_bytes(), WAIT).await;
    assert_eq!(status(&text), 431, "{text}");
    assert!(closed);
    // Too many fields is the same answer.
    let mut many = String::from("GET / HTTP/1.1\r\nHost: shop.test\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (text, _) = raw(addr(&node), many.as_bytes(), WAIT).await;
    assert_eq!(status(&text), 431, "{text}");
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn uri_too_long_gets_414() {
    let (origin, node) = setup().await;
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        "a".repeat(2000)
    );
    let (text, _) = raw(addr(&node), long.as_bytes(), WAIT).await;
    assert_eq!(status(&text), 414, "{text}");
    assert!(text.contains("longer than 1024 bytes"), "{text}");
    // Just under the limit is fine.
    let ok = format!(
        "GET /{} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        "a".repeat(1000)
    );
    let (text, _) = raw(addr(&node), ok.as_bytes(), WAIT).await;
    assert_eq!(status(&text), 200, "{text}");
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn body_over_the_limit_gets_413_by_content_length_and_chunked() {
    let (origin, node) = setup().await;
    // Declared too large: refused before anything is read or forwarded.
    let (text, closed) = raw(
        addr(&node),
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5000\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 413, "{text}");
    assert!(closed);
    assert_eq!(origin.hits(), 0);
    // Chunked: found out while streaming.
    let mut req =
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n".to_vec();
    req.extend_from_slice(&[b'x'; 0x800]);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let (text, closed) = raw(addr(&node), &req, WAIT).await;
    assert_eq!(status(&text), 413, "{text}");
    assert!(closed);
    // Exactly at the limit passes.
    let mut req =
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&[b'x'; 1024]);
    let (text, _) = raw(addr(&node), &req, WAIT).await;
    assert_eq!(status(&text), 200, "{text}");
    assert!(text.contains("\"body_len\":1024"), "{text}");
}

#[tokio::test]
async fn unknown_host_gets_421_and_is_never_forwarded() {
    let (origin, node) = setup().await;
    for req in [
        &b"GET / HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: shop.test.evil.test\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ] {
        let (text, _) = raw(addr(&node), req, WAIT).await;
        assert_eq!(status(&text), 421, "{text}");
        assert!(
            text.contains("unknown host") && text.contains("no site on this node answers for it"),
            "{text}"
        );
    }
    let r = get(&node, "evil.test", "/", &[]).await;
    assert_eq!(r.status, 421);
    assert_eq!(
        r.text(),
        "unknown host `evil.test`: no site on this node answers for it\n"
    );
    // No Host at all on HTTP/1.1.
    let (text, _) = raw(
        addr(&node),
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 400, "{text}");
    assert_eq!(origin.hits(), 0);
    // Host matching is case-insensitive and ignores the port and a trailing dot.
    let (text, _) = raw(
        addr(&node),
        b"GET / HTTP/1.1\r\nHost: SHOP.test.:8080\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 200, "{text}");
}

#[tokio::test]
async fn absolute_form_targets_and_connect_are_refused_and_never_forwarded() {
    let (origin, node) = setup().await;
    for req in [
        &b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"[..],
        b"GET http://evil.example/ HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        b"GET http://shop.test/ HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
        b"GET https://evil.example:443/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    ] {
        let (text, closed) = raw(addr(&node), req, WAIT).await;
        assert_eq!(status(&text), 400, "{text}");
        assert!(text.contains("not an open proxy"), "{text}");
        assert!(closed);
    }
    // CONNECT: refused, and the connection ends (what follows could be a tunnel).
    let (text, closed) = raw(
        addr(&node),
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 405, "{text}");
    assert!(text.contains("not a forward proxy"), "{text}");
    assert!(closed, "CONNECT must not leave the connection open");
    let (text, closed) = raw(
        addr(&node),
        b"CONNECT shop.test:80 HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status(&text), 405, "{text}");
    assert!(closed);
    assert_eq!(origin.hits(), 0);
}

/// Sends `req` and expects 400 and a closed connection, with nothing reaching the origin.
async fn refused(node: &regionless_edge::Node, origin: &Origin, req: &[u8]) {
    let before = origin.hits();
    let (text, closed) = raw(addr(node), req, WAIT).await;
    let shown = String::from_utf8_lossy(req);
    assert_eq!(statuses(&text), [400], "{shown:?} → {text}");
    assert!(closed, "{shown:?}: connection left open");
    assert_eq!(origin.hits(), before, "{shown:?} reached the origin");
}

#[tokio::test]
async fn content_length_with_transfer_encoding_gets_400_and_close_in_either_order() {
    let (origin, node) = setup().await;
    // The second, smuggled request must never be answered or forwarded.
    let smuggled = "GET /admin HTTP/1.1\r\nHost: shop.test\r\n\r\n";
    for head in [
        "POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: shop.test\r\ncontent-length: 0\r\ntransfer-encoding: CHUNKED\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        // Tab as the whitespace before the value: valid, so still both headers.
        "POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\t\r\n\r\n",
    ] {
        let req = format!("{head}0\r\n\r\n{smuggled}");
        refused(&node, &origin, req.as_bytes()).await;
    }
    // After a clean request on the same connection: the first is served, the second refused.
    let before = origin.hits();
    let req = format!("GET /first HTTP/1.1\r\nHost: shop.test\r\n\r\nPOST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}");
    let (text, closed) = raw(addr(&node), req.as_bytes(), WAIT).await;
    assert_eq!(statuses(&text), [200, 400], "{text}");
    assert!(
        text.contains("Content-Length together with Transfer-Encoding"),
        "{text}"
    );
    assert!(closed);
    assert_eq!(origin.hits(), before + 1);
}

#[tokio::test]
async fn differing_duplicate_content_lengths_get_400_and_close() {
    let (origin, node) = setup().await;
    refused(&node, &origin, b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").await;
    refused(
        &node,
        &origin,
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5, 6\r\n\r\nhello!",
    )
    .await;
    refused(
        &node,
        &origin,
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: -5\r\n\r\nhello",
    )
    .await;
    refused(
        &node,
        &origin,
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: +5\r\n\r\nhello",
    )
    .await;
    refused(
        &node,
        &origin,
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 0x5\r\n\r\nhello",
    )
    .await;
    refused(&node, &origin, b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 99999999999999999999999\r\n\r\nhello").await;
    // Equal duplicates are one length, not an ambiguity.
    let (text, _) = raw(addr(&node), b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", WAIT).await;
    assert_eq!(status(&text), 200, "{text}");
}

#[tokio::test]
async fn obfuscated_transfer_encoding_gets_400_and_close() {
    let (origin, node) = setup().await;
    for te in [
        &b"Transfer-Encoding: xchunked\r\n"[..],
        b"Transfer-Encoding: chunked, identity\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        b"Transfer-Encoding : chunked\r\n",
        b"Transfer-Encoding\t: chunked\r\n",
        b" Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding:\x0bchunked\r\n",
        b"Transfer-Encoding: chunked\x0b\r\n",
        b"Transfer-Encoding: \x0cchunked\r\n",
        b"Transfer-Encoding: chunked\rX: y\r\n",
        b"Transfer_Encoding: chunked\r\nTransfer-Encoding: x\r\n",
    ] {
        let mut req = b"POST / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n".to_vec();
        req.extend_from_slice(te);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        refused(&node, &origin, &req).await;
        // Without a Content-Length beside it, the same header is still refused.
        let mut req = b"POST / HTTP/1.1\r\nHost: shop.test\r\n".to_vec();
        req.extend_from_slice(te);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        refused(&node, &origin, &req).await;
    }
    // HTTP/1.0 has no chunked encoding.
    refused(
        &node,
        &origin,
        b"POST / HTTP/1.0\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
}

#[tokio::test]
async fn bad_chunk_sizes_get_400_and_close() {
    let (_origin, node) = setup().await;
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        b"10000000000000000\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5 x\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
    ] {
        let mut req =
            b"POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        req.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: shop.test\r\n\r\n");
        let (text, closed) = raw(addr(&node), &req, WAIT).await;
        let shown = String::from_utf8_lossy(body);
        // The head was fine, so the origin may have seen its start; the body never completes
        // and the client gets 400 and a closed connection, never a second answer.
        assert_eq!(statuses(&text), [400], "{shown:?} → {text}");
        assert!(closed, "{shown:?}");
    }
    // A well-formed chunked body with extensions and trailers is fine.
    let req = b"POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let (text, _) = raw(addr(&node), req, WAIT).await;
    assert_eq!(status(&text), 200, "{text}");
    assert!(text.contains("\"body_len\":11"), "{text}");
}

#[tokio::test]
async fn slowloris_head_is_cut_off_by_the_header_read_timeout() {
    let (origin, node) = setup().await;
    let mut s = tokio::net::TcpStream::connect(addr(&node)).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = s.split();
    let trickle = async {
        // One byte every 50 ms, forever (the head never ends) until the node hangs up.
        let head = b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-Slow: ";
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut out = Vec::new();
    tokio::select! {
        _ = trickle => {}
        r = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)) => {
            assert!(r.is_ok(), "a slowloris client was never cut off");
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "cut off after {took:?} with a 500ms header timeout"
    );
    assert!(!String::from_utf8_lossy(&out).contains(" 200 "));
    assert_eq!(origin.hits(), 0);
    // An idle connection that never sends anything is closed the same way.
    let (text, closed) = raw(addr(&node), b"", WAIT).await;
    assert!(closed && text.is_empty(), "{text}");
}

#[tokio::test]
async fn slow_body_is_cut_off_by_the_body_read_timeout() {
    let (_origin, node) = setup().await;
    let mut s = tokio::net::TcpStream::connect(addr(&node)).await.unwrap();
    let started = Instant::now();
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    // …and then nothing more.
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "a stalled body was never cut off");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status(&text), 408, "{text}");
    assert!(text.contains("too slowly"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Chunked, stalled between chunks.
    let mut s = tokio::net::TcpStream::connect(addr(&node)).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").await.unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "a stalled chunked body was never cut off");
    assert_eq!(status(&String::from_utf8_lossy(&out)), 408);
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// One mutated or truncated request, or plain noise.
fn garbage(rng: &mut impl Rng) -> Vec<u8> {
    const SEEDS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        b"POST /p?q=1 HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        b"OPTIONS * HTTP/1.1\r\nHost: shop.test\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
    ];
    let mut req = SEEDS[rng.gen_range(0..SEEDS.len())].to_vec();
    match rng.gen_range(0..6) {
        0 => req.truncate(rng.gen_range(0..req.len())),
        1 => {
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(0..req.len());
                req[i] = rng.gen();
            }
        }
        2 => {
            let i = rng.gen_range(0..=req.len());
            let noise: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
            req.splice(i..i, noise);
        }
        3 => {
            let i = rng.gen_range(0..req.len());
            let j = rng.gen_range(i..=req.len());
            req.drain(i..j);
        }
        4 => {
            // A pipeline of two, possibly broken at the seam.
            let other = SEEDS[rng.gen_range(0..SEEDS.len())];
            req.extend_from_slice(&other[..rng.gen_range(0..=other.len())]);
        }
        _ => req = (0..rng.gen_range(0..512)).map(|_| rng.gen()).collect(),
    }
    req
}

/// Sends `bytes`, half-closes, and reads whatever comes back until the node closes.
async fn throw(addr: SocketAddr, bytes: Vec<u8>) {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    // The node may hang up mid-write on a bad head: that is an answer too.
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
    let mut sink = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut sink)).await;
    assert!(
        r.is_ok(),
        "the node kept a connection open after EOF: {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

#[tokio::test]
async fn garbage_never_panics_and_the_node_keeps_serving() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let (_origin, node) = setup().await;
    let seed = 0x5eed_u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let inputs: Vec<Vec<u8>> = (0..400).map(|_| garbage(&mut rng)).collect();
    for batch in inputs.chunks(25) {
        let tasks: Vec<_> = batch
            .iter()
            .cloned()
            .map(|b| tokio::spawn(throw(addr(&node), b)))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a panic happened while serving garbage (seed {seed:#x})"
    );
    let r = get(&node, "shop.test", "/after-garbage", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/after-garbage");
}

#[tokio::test]
async fn pipelined_clean_requests_are_all_served_on_one_kept_alive_connection() {
    let (origin, node) = setup().await;
    // Every framing the guard follows, back to back in one write; bodies contain text that
    // looks like request heads, which must be skipped as body bytes.
    let fake = "GET /fake HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut pipeline = String::new();
    for i in 0..3 {
        pipeline.push_str(&format!("GET /get/{i} HTTP/1.1\r\nHost: shop.test\r\n\r\n"));
    }
    pipeline.push_str(&format!(
        "POST /cl HTTP/1.1\r\nHost: shop.test\r\nContent-Length: {}\r\n\r\n{fake}",
        fake.len()
    ));
    pipeline.push_str(&format!("POST /chunked HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext\r\n{fake}\r\n0\r\nX-T: 1\r\n\r\n", fake.len()));
    pipeline.push_str("\r\nHEAD /head HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    // The client ends the connection itself: only the last answer may say close.
    pipeline.push_str("GET /last HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n");
    let (text, closed) = raw(addr(&node), pipeline.as_bytes(), WAIT).await;
    assert_eq!(statuses(&text), [200; 7], "{text}");
    assert!(closed);
    let lower = text.to_ascii_lowercase();
    assert_eq!(lower.matches("connection: close").count(), 1, "{text}");
    assert!(
        lower.rfind("connection: close") > lower.rfind("http/1.1 200"),
        "{text}"
    );
    assert_eq!(origin.hits(), 7);
    assert!(
        text.contains(&format!("\"body_len\":{}", fake.len())),
        "{text}"
    );
    assert!(
        !text.contains("/fake"),
        "a body was read as a request: {text}"
    );
}
