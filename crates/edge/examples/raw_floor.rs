//! The floor under the node's architecture: what a tokio proxy with the node's shape costs
//! per request when it does nothing but move bytes. One thread per core, each with its own
//! current-thread runtime and `SO_REUSEPORT` listener (as `serving.rs`), a per-thread LIFO pool
//! of keep-alive origin connections (as `origin_h1::pool`), and per request the same four
//! system calls as the node: read the client's request, write it unchanged to the origin, read
//! the origin's answer (head + `Content-Length` body), write it unchanged to the client.
//!
//! No routing, no header hygiene, no added fields, no deadlines, no logging: it is not an HTTP
//! proxy (chunked answers, request bodies and pipelining are not handled) but a measuring
//! stick. Its CPU per request beside the node's and nginx's (`bench/proxy_vs_nginx.py --floor`)
//! splits the node's cost into what the runtime and the kernel take and what the request path
//! adds (BENCHMARKS.md).
//!
//! `cargo build --release -p regionless-edge --example raw_floor`, then
//! `target/release/examples/raw_floor 127.0.0.1:18087 127.0.0.1:18081` listens on the first
//! address and forwards to the origin at the second.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

thread_local! {
    /// This thread's idle origin connections, most recently used last.
    static POOL: RefCell<Vec<TcpStream>> = const { RefCell::new(Vec::new()) };
}

/// The length of the head in `buf` (through its empty line), once it has all arrived.
fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The head's `Content-Length`, 0 without one.
fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            name.eq_ignore_ascii_case(b"content-length")
                .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok())?
        })
        .next()
        .unwrap_or(0)
}

/// Reads into `buf[*filled..]`; false when the peer closed.
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    filled: &mut usize,
) -> io::Result<bool> {
    if *filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
    let n = stream.read(&mut buf[*filled..]).await?;
    *filled += n;
    Ok(n > 0)
}

async fn serve(mut client: TcpStream, origin: SocketAddr) -> io::Result<()> {
    let mut request = vec![0u8; 8192];
    let mut answer = vec![0u8; 8192];
    loop {
        let mut filled = 0;
        while head_len(&request[..filled]).is_none() {
            if !read_some(&mut client, &mut request, &mut filled).await? {
                return Ok(());
            }
        }
        let pooled = POOL.with_borrow_mut(Vec::pop);
        let mut upstream = match pooled {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(origin).await?;
                conn.set_nodelay(true)?;
                conn
            }
        };
        upstream.write_all(&request[..filled]).await?;
        let mut got = 0;
        let (head, whole) = loop {
            if let Some(head) = head_len(&answer[..got]) {
                let whole = head + content_length(&answer[..head]);
                if got >= whole {
                    break (head, whole);
                }
            }
            if !read_some(&mut upstream, &mut answer, &mut got).await? {
                return Ok(());
            }
        };
        // An origin that said it closes (the request asked it to) is not reused.
        if !answer[..head]
            .windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"connection: close"))
        {
            POOL.with_borrow_mut(|pool| pool.push(upstream));
        }
        client.write_all(&answer[..whole]).await?;
    }
}

/// Prints `what` failed and why, and ends the process: the floor is useless half started.
fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("raw_floor: {what}: {error}");
    std::process::exit(2);
}

/// The address argument `given` (or `default`), or the process ends saying what is wrong.
fn address(given: Option<String>, default: &str, what: &str) -> SocketAddr {
    let text = given.unwrap_or_else(|| default.into());
    text.parse()
        .unwrap_or_else(|e| fail(&format!("{what} `{text}`"), e))
}

/// This thread's listener on `listen`, sharing the port with the other threads.
fn listener(listen: SocketAddr) -> io::Result<TcpListener> {
    let socket = match listen {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseport(true)?;
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = address(args.next(), "127.0.0.1:18087", "listen address");
    let origin = address(args.next(), "127.0.0.1:18081", "origin address");
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| fail("runtime", e));
                runtime.block_on(async move {
                    let listener = listener(listen)
                        .unwrap_or_else(|e| fail(&format!("listen on {listen}"), e));
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = client.set_nodelay(true);
                        tokio::spawn(async move {
                            let _ = serve(client, origin).await;
                        });
                    }
                });
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
}
