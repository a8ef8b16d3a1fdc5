//! Test harness: real origins and edge nodes on 127.0.0.1, and a plain HTTP client.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use regionless_edge::{Config, Node};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How a test origin answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Ok,
    Status(u16, Option<u64>),
    Stall(Duration),
}

/// A real HTTP origin on 127.0.0.1 that reports what it received as JSON.
pub struct Origin {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub mode: Arc<Mutex<Mode>>,
    /// The hit count, for tests that wait until requests have arrived.
    arrivals: Arc<tokio::sync::watch::Sender<usize>>,
    task: JoinHandle<()>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Duplicates of the listener's and every connection's socket, so `kill` can close them
    /// at once: an aborted task drops its sockets only when the runtime next polls it, and a
    /// node that sent a request in between would see a reset rather than a refusal.
    sockets: Arc<Mutex<Vec<socket2::Socket>>>,
}

/// A second handle on `socket`, for shutting it down from outside its task.
fn duplicate(socket: &impl std::os::fd::AsFd) -> socket2::Socket {
    socket2::Socket::from(socket.as_fd().try_clone_to_owned().unwrap())
}

impl Origin {
    pub async fn start(name: &str) -> Origin {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(name: &str, addr: SocketAddr) -> Origin {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let arrivals = Arc::new(tokio::sync::watch::Sender::new(0));
        let (h, m, n, a) = (
            hits.clone(),
            mode.clone(),
            name.to_string(),
            arrivals.clone(),
        );
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let sockets = Arc::new(Mutex::new(vec![duplicate(&listener)]));
        let (c, s) = (conns.clone(), sockets.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                s.lock().unwrap().push(duplicate(&stream));
                let (h, m, n, a) = (h.clone(), m.clone(), n.clone(), a.clone());
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        origin_answer(req, n.clone(), h.clone(), m.clone(), a.clone())
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
                c.lock().unwrap().push(conn.abort_handle());
            }
        });
        Origin {
            name: name.to_string(),
            addr,
            hits,
            mode,
            arrivals,
            task,
            conns,
            sockets,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived (panics after 10 s).
    pub async fn wait_for_hits(&self, n: usize) {
        let mut rx = self.arrivals.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|h| *h >= n))
            .await
            .unwrap_or_else(|_| panic!("{} saw {} of {n} requests", self.name, self.hits()))
            .unwrap();
    }

    /// Like `kill -9`: stops accepting and closes every open connection before it returns
    /// (new connections are refused from then on).
    pub fn kill(&self) {
        for socket in self.sockets.lock().unwrap().drain(..) {
            // Shutting down a listening socket stops it listening (Linux); errors mean the
            // socket is already closed.
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        self.task.abort();
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

async fn origin_answer(
    req: Request<Incoming>,
    name: String,
    hits: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    arrivals: Arc<tokio::sync::watch::Sender<usize>>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>>, Infallible> {
    if req.uri().path() == "/healthz" {
        let m = mode.lock().unwrap().clone();
        let status = match m {
            Mode::Ok => 200,
            _ => 503,
        };
        return Ok(Response::builder()
            .status(status)
            .body(boxed(Bytes::from("health")))
            .unwrap());
    }
    let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
    arrivals.send_modify(|h| *h = (*h).max(n));
    let m = mode.lock().unwrap().clone();
    match m {
        Mode::Ok => {}
        Mode::Status(code, retry_after) => {
            let mut b = Response::builder().status(code);
            if let Some(s) = retry_after {
                b = b.header("retry-after", s.to_string());
            }
            return Ok(b
                .body(boxed(Bytes::from(format!("{name} says {code}"))))
                .unwrap());
        }
        Mode::Stall(d) => tokio::time::sleep(d).await,
    }
    let headers: BTreeMap<String, Vec<String>> = req
        .headers()
        .keys()
        .map(|k| {
            (
                k.as_str().to_string(),
                req.headers()
                    .get_all(k)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect(),
            )
        })
        .collect();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let version = format!("{:?}", req.version());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "origin": name, "method": method, "path": path, "version": version,
        "headers": headers, "body_len": body.len(),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("connection", "x-secret")
        .header("x-secret", "hop-by-hop")
        .body(boxed(Bytes::from(json.to_string())))
        .unwrap())
}

pub fn boxed(b: Bytes) -> http_body_util::combinators::BoxBody<Bytes, hyper::Error> {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// A node config around `sites_toml`, listening on free ports, admin token `test-token-0123456789`.
pub fn node_toml(region: &str, extra: &str, sites_toml: &str) -> String {
    format!(
        r#"
[node]
region = "{region}"
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
admin_token = "test-token-0123456789"
access_log = "off"
shutdown_grace = "5s"
{extra}
{sites_toml}
"#
    )
}

/// The `shop` site (host `shop.test`, default region eu-central) with `extra` site settings and
/// these origins, each `(name, url, region)`.
pub fn shop_site(extra: &str, origins: &[(&str, &str, &str)]) -> String {
    let mut toml = format!(
        "\n[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\ndefault_region = \"eu-central\"\n{extra}\n"
    );
    for (name, url, region) in origins {
        toml.push_str(&format!(
            "\n[[sites.origins]]\nname = \"{name}\"\nurl = \"{url}\"\nregion = \"{region}\"\n"
        ));
    }
    toml
}

/// Two-origin site: eu-central + us-west, geo policy with the CN override.
pub fn two_region_site(eu: &Origin, us: &Origin, policy_extra: &str) -> String {
    shop_site(
        policy_extra,
        &[
            (&eu.name, &eu.url(), "eu-central"),
            (&us.name, &us.url(), "us-west"),
        ],
    )
}

pub async fn start_node(toml: &str) -> Node {
    // Tests that do not configure the cache get tier 1 only: the default embedded tier 2 is a
    // file, which parallel tests must not share.
    let with_cache;
    let toml = if toml.contains("[cache]") {
        toml
    } else {
        with_cache = format!("{toml}\n[cache]\nregional = \"off\"\n");
        &with_cache
    };
    let config = Config::from_toml(toml, std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
    Node::start(config, None).await.unwrap()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub fn origin(&self) -> String {
        self.json()["origin"].as_str().unwrap_or("").to_string()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client()
        .request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(node: &Node, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(node.http_addrs()[0], "GET", host, path, headers, "").await
}

/// Sends raw bytes and reads until the server closes or `wait` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

pub async fn admin_get(node: &Node, path: &str, token: Option<&str>) -> Reply {
    let addr = node.admin_addr().unwrap();
    let mut headers = vec![];
    let bearer;
    if let Some(t) = token {
        bearer = format!("Bearer {t}");
        headers.push(("authorization", bearer.as_str()));
    }
    send(addr, "GET", "admin", path, &headers, "").await
}

pub const TOKEN: &str = "test-token-0123456789";

/// An HTTP/2 sender over a connection with prior knowledge (no TLS, no upgrade).
pub type H2Sender<B> = hyper::client::conn::http2::SendRequest<B>;

/// An HTTP/2 connection with prior knowledge (no TLS, no upgrade) to `addr`.
pub async fn h2c<B>(addr: SocketAddr) -> H2Sender<B>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}
