//! The WAN emulator over real loopback sockets. Timing assertions here are limited to the
//! ones the issue allows (median delay within ±10 % or ±2 ms, the bandwidth cap roughly
//! holding) plus lower bounds, which follow from causality and cannot flake.
#![allow(clippy::unwrap_used)]

use regionless_sim::wan::{Link, LinkSpec, Relay};
use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::time::{timeout, Instant};

/// Serialises the timing-sensitive and CPU-heavy tests so they do not skew each other.
static HEAVY: Mutex<()> = Mutex::const_new(());

/// Guards against hangs only; never reached when the relay works.
const HANG: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An upstream that echoes every byte back and half-closes when the client does.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                s.set_nodelay(true).unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Request/response round trips of `size` bytes on one connection; returns each RTT.
async fn round_trips(stream: &mut TcpStream, n: usize, size: usize) -> Vec<Duration> {
    let msg = vec![7u8; size];
    let mut back = vec![0u8; size];
    let mut rtts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        stream.write_all(&msg).await.unwrap();
        stream.read_exact(&mut back).await.unwrap();
        rtts.push(t.elapsed());
    }
    rtts
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn delay_holds(one_way: Duration) {
    let _heavy = HEAVY.lock().await;
    let relay = Relay::new(
        echo_server().await,
        Link::symmetric(LinkSpec::delay(one_way)),
    )
    .start()
    .await
    .unwrap();
    let mut stream = relay.connect().await.unwrap();
    let rtts = timeout(HANG, round_trips(&mut stream, 21, 64))
        .await
        .unwrap();
    let configured = 2 * one_way;
    let got = median(rtts.clone());
    let tolerance = (configured / 10).max(ms(2));
    let error = got.max(configured) - got.min(configured);
    eprintln!("one-way {one_way:?}: median RTT {got:?} for {configured:?} configured");
    assert!(
        error <= tolerance,
        "median {got:?} vs configured {configured:?} (±{tolerance:?}); samples {rtts:?}"
    );
    assert_eq!(
        relay.stats().connections_accepted,
        1,
        "one kept-alive connection"
    );
}

/// Short links are where the ±2 ms floor bites: a 10 ms RTT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_configured_delay_5ms_one_way() {
    delay_holds(ms(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_configured_delay_20ms_one_way() {
    delay_holds(ms(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_configured_delay_80ms_one_way() {
    delay_holds(ms(80)).await;
}

/// splitmix64: a fast, deterministic byte stream.
fn fill(block: &mut [u8], state: &mut u64) {
    for word in block.chunks_exact_mut(8) {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_arrive_byte_identical() {
    const TOTAL: usize = 100 * 1024 * 1024;
    const BLOCK: usize = 1024 * 1024;
    let _heavy = HEAVY.lock().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut received = 0usize;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            hasher.write(&buf[..n]);
            received += n;
        }
        (received, hasher.finish())
    });
    // A tiny delay keeps the scheduling path in play while staying fast.
    let link = Link::symmetric(LinkSpec::delay(ms(1)));
    let relay = Relay::new(upstream, link).start().await.unwrap();
    let send = async {
        let mut s = relay.connect().await.unwrap();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let (mut block, mut state) = (vec![0u8; BLOCK], 42u64);
        for _ in 0..TOTAL / BLOCK {
            fill(&mut block, &mut state);
            hasher.write(&block);
            s.write_all(&block).await.unwrap();
        }
        s.shutdown().await.unwrap();
        hasher.finish()
    };
    let (sent, received) = timeout(Duration::from_secs(120), async { tokio::join!(send, sink) })
        .await
        .unwrap();
    let (n, got) = received.unwrap();
    assert_eq!(n, TOTAL);
    assert_eq!(got, sent, "content differs");
    assert_eq!(relay.stats().bytes_forward, TOTAL as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_cap_roughly_holds() {
    const RATE: u64 = 4_000_000;
    const TOTAL: usize = 2_000_000;
    let _heavy = HEAVY.lock().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let n = s.read(&mut buf).await.unwrap();
        let first = Instant::now();
        let mut received = n;
        loop {
            match s.read(&mut buf).await.unwrap() {
                0 => break,
                n => received += n,
            }
        }
        (received - n, first.elapsed())
    });
    let spec = LinkSpec::delay(ms(5))
        .with_bandwidth(RATE)
        .with_slow_start(false);
    let relay = Relay::new(upstream, Link::symmetric(spec))
        .start()
        .await
        .unwrap();
    let mut s = relay.connect().await.unwrap();
    s.write_all(&vec![1u8; TOTAL]).await.unwrap();
    s.shutdown().await.unwrap();
    let (bytes, took) = timeout(HANG, sink).await.unwrap().unwrap();
    let rate = bytes as f64 / took.as_secs_f64();
    let ratio = rate / RATE as f64;
    assert!(
        (0.75..=1.1).contains(&ratio),
        "{rate:.0} B/s for a {RATE} B/s cap"
    );
}

/// Many small writes over a jittery link arrive complete and in order; the half-close
/// reaches the server after the data, and the server's reply and close come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_keeps_order_and_half_close_propagates() {
    const COUNT: u32 = 300;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap(); // returns at the propagated FIN
        s.write_all(b"done").await.unwrap();
        s.shutdown().await.unwrap();
        (got, peer)
    });
    let spec = LinkSpec::delay(ms(5)).with_jitter(ms(5));
    let relay = Relay::new(upstream, Link::symmetric(spec))
        .upstream_source("127.0.0.1".parse().unwrap())
        .seed(1)
        .start()
        .await
        .unwrap();
    let mut s = relay.connect().await.unwrap();
    for i in 0..COUNT {
        s.write_all(&i.to_be_bytes()).await.unwrap();
        if i % 3 == 0 {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    s.shutdown().await.unwrap();
    let mut reply = Vec::new();
    timeout(HANG, s.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"done");
    let (got, peer) = server.await.unwrap();
    let expected: Vec<u8> = (0..COUNT).flat_map(u32::to_be_bytes).collect();
    assert!(got == expected, "bytes reordered or lost");
    assert_eq!(peer.ip().to_string(), "127.0.0.1");
}

/// A receiver that never reads: the relay stops reading too, instead of buffering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_receiver_bounds_in_flight_bytes() {
    const CAP: usize = 256 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        let _ = hold_rx.await; // keep the socket open, unread
    });
    let relay = Relay::new(upstream, Link::symmetric(LinkSpec::delay(ms(1))))
        .max_in_flight(CAP)
        .start()
        .await
        .unwrap();
    let mut s = relay.connect().await.unwrap();
    let writer = tokio::spawn(async move {
        // Far more than kernel buffers and the cap can hold together.
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            s.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    // Wait until the relay has filled its budget and stalled.
    let mut last = 0;
    for _ in 0..100 {
        tokio::time::sleep(ms(20)).await;
        let now = relay.stats().bytes_in_flight;
        if now > 0 && now == last {
            break;
        }
        last = now;
    }
    let stats = relay.stats();
    assert!(stats.bytes_in_flight <= CAP as u64, "{stats:?}");
    assert!(!writer.is_finished(), "the sender should be blocked");
    drop(hold_tx);
    relay.shutdown().await;
    let _ = timeout(HANG, writer).await;
}

/// The smallest budget (one read) still carries writes far larger than itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smallest_budget_carries_large_writes() {
    let relay = Relay::new(echo_server().await, Link::default())
        .max_in_flight(1)
        .start()
        .await
        .unwrap();
    let s = relay.connect().await.unwrap();
    let (mut r, mut w) = s.into_split();
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    timeout(HANG, r.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert!(back == expected, "echoed bytes differ");
}

/// Lower bounds only: the dialer's connect takes at least one RTT, and a plain client's
/// first response on a new connection takes at least two (handshake + request), while the
/// dialer's stream does not pay the handshake again (checked as a median elsewhere: the
/// delay tests use the dialer and include the first request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_pay_an_emulated_handshake() {
    let link = Link::symmetric(LinkSpec::delay(ms(15)));
    let relay = Relay::new(echo_server().await, link.clone())
        .start()
        .await
        .unwrap();

    let t = Instant::now();
    let mut dialed = relay.connect().await.unwrap();
    assert!(
        t.elapsed() >= link.rtt(),
        "dialer returned before the handshake"
    );
    round_trips(&mut dialed, 1, 8).await;

    let t = Instant::now();
    let mut plain = TcpStream::connect(relay.local_addr()).await.unwrap();
    let first = round_trips(&mut plain, 1, 8).await;
    assert!(t.elapsed() >= 2 * link.rtt(), "first response {first:?}");
    assert_eq!(relay.stats().connections_accepted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upstream_closes_the_client() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let relay = Relay::new(dead, Link::symmetric(LinkSpec::delay(ms(2))))
        .start()
        .await
        .unwrap();
    let mut s = relay.connect().await.unwrap();
    let _ = s.write_all(b"hello").await;
    let mut buf = [0u8; 8];
    let read = timeout(HANG, s.read(&mut buf)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_connections() {
    let relay = Relay::new(echo_server().await, Link::default())
        .start()
        .await
        .unwrap();
    let mut s = relay.connect().await.unwrap();
    round_trips(&mut s, 1, 4).await;
    assert_eq!(relay.stats().connections_open, 1);
    relay.shutdown().await;
    let mut buf = [0u8; 4];
    let read = timeout(HANG, s.read(&mut buf)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn invalid_links_are_refused_at_start() {
    let link = Link::symmetric(LinkSpec::default().with_loss(1.0));
    let err = Relay::new("127.0.0.1:9".parse().unwrap(), link)
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
