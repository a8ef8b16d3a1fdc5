//! Measures the WAN emulator's own overhead: latency added beyond the configured delay, at a
//! steady request rate over kept-alive connections, plus what a new connection costs.
//!
//! ```text
//! cargo run --release -p regionless-sim --example wan_overhead -- [--rate 1000] [--secs 5] [--one-way-ms 10]
//! ```
//! Prints median, p90, p99 and max of (measured RTT − configured RTT) for 64-byte echoes,
//! next to the same figures for a direct connection (what loopback and the echo server cost
//! without the relay). Loopback only.
#![allow(clippy::unwrap_used)]

use regionless_sim::wan::{Link, LinkSpec, Relay};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const MESSAGE: usize = 64;

struct Args {
    rate: u64,
    secs: u64,
    one_way_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        rate: 1000,
        secs: 5,
        one_way_ms: 10,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--rate", Some(v)) => a.rate = v,
            ("--secs", Some(v)) => a.secs = v,
            ("--one-way-ms", Some(v)) => a.one_way_ms = v,
            _ => {
                eprintln!("usage: wan_overhead [--rate N/s] [--secs N] [--one-way-ms N]");
                std::process::exit(2);
            }
        }
    }
    a
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                s.set_nodelay(true).unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn echo(stream: &mut TcpStream) -> Duration {
    let msg = [7u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    let t = Instant::now();
    stream.write_all(&msg).await.unwrap();
    stream.read_exact(&mut back).await.unwrap();
    t.elapsed()
}

/// Sends `rate` requests per second for `secs`, spread over enough connections that each
/// has at most one outstanding; returns every RTT.
async fn load(addr: SocketAddr, link: &Link, rate: u64, secs: u64) -> Vec<Duration> {
    let period = Duration::from_secs(1) / rate as u32;
    // Enough connections that a request is done before its connection's next turn.
    let conns = ((link.rtt().as_secs_f64() * 2.0 + 0.01) * rate as f64).ceil() as u64 + 1;
    let total = rate * secs;
    let start = Instant::now() + link.rtt() * 2 + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let link = link.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = link.connect(addr).await.unwrap();
            echo(&mut s).await; // warm: the first request on a connection is not steady state
            let mut rtts = Vec::new();
            let mut i = c;
            while i < total {
                tokio::time::sleep_until(start + period * i as u32).await;
                rtts.push(echo(&mut s).await);
                i += conns;
            }
            rtts
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn report(label: &str, mut extra_us: Vec<f64>) {
    extra_us.sort_by(f64::total_cmp);
    let q = |p: f64| extra_us[((extra_us.len() - 1) as f64 * p).round() as usize];
    println!(
        "{label:<28} n={:<6} median {:>7.0} µs   p90 {:>7.0} µs   p99 {:>7.0} µs   max {:>7.0} µs",
        extra_us.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

#[tokio::main]
async fn main() {
    let a = args();
    let upstream = echo_server().await;
    let one_way = Duration::from_millis(a.one_way_ms);
    let link = Link::symmetric(LinkSpec::delay(one_way));
    let relay = Relay::new(upstream, link.clone()).start().await.unwrap();
    println!(
        "rate {}/s for {} s, one-way {} ms (RTT {} ms), {MESSAGE}-byte echoes, {} worker threads",
        a.rate,
        a.secs,
        a.one_way_ms,
        link.rtt().as_millis(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let direct = load(upstream, &Link::default(), a.rate, a.secs).await;
    report(
        "direct (no relay), RTT",
        direct.iter().map(|d| d.as_secs_f64() * 1e6).collect(),
    );
    let relayed = load(relay.local_addr(), &link, a.rate, a.secs).await;
    let rtt_us = link.rtt().as_secs_f64() * 1e6;
    report(
        "relay, RTT − configured",
        relayed
            .iter()
            .map(|d| d.as_secs_f64() * 1e6 - rtt_us)
            .collect(),
    );

    // Handshake: a plain client's first response vs the same connection reused.
    let mut first = Vec::new();
    let mut reused = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let mut s = TcpStream::connect(relay.local_addr()).await.unwrap();
        s.set_nodelay(true).unwrap();
        echo(&mut s).await;
        first.push(t.elapsed().as_secs_f64() * 1e3);
        reused.push(echo(&mut s).await.as_secs_f64() * 1e3);
    }
    first.sort_by(f64::total_cmp);
    reused.sort_by(f64::total_cmp);
    println!(
        "plain client, new connection: connect+first response median {:.1} ms; reused {:.1} ms \
         (configured RTT {} ms)",
        first[first.len() / 2],
        reused[reused.len() / 2],
        link.rtt().as_millis()
    );
    let stats = relay.stats();
    println!(
        "relay: {} connections, {} B forward, {} B backward",
        stats.connections_accepted, stats.bytes_forward, stats.bytes_backward
    );
    relay.shutdown().await;
}
