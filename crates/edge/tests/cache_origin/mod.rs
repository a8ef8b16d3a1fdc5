//! An origin whose answers the test scripts per path (status, headers, body, delay), which
//! answers `If-None-Match` with 304 and records what it received.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One path's scripted answer.
#[derive(Clone, Debug, Default)]
pub struct Script {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    echo: Vec<String>,
    delay: Duration,
}

impl Script {
    /// 200 with this `Cache-Control` (none when empty).
    pub fn ok(cache_control: &str) -> Script {
        let mut s = Script {
            status: 200,
            body: "ok".into(),
            ..Default::default()
        };
        if !cache_control.is_empty() {
            s.headers
                .push(("cache-control".into(), cache_control.into()));
        }
        s
    }
    pub fn header(mut self, name: &str, value: &str) -> Script {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: &str) -> Script {
        self.body = body.into();
        self
    }
    /// The body is the request's value of `name` (empty when absent).
    pub fn echo_header(mut self, name: &str) -> Script {
        self.echo = vec![name.into()];
        self
    }
    pub fn also_echo(mut self, name: &str) -> Script {
        self.echo.push(name.into());
        self
    }
    pub fn delay(mut self, d: Duration) -> Script {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct Seen {
    hits: HashMap<String, usize>,
    last_headers: HashMap<String, http::HeaderMap>,
    last_body: HashMap<String, String>,
}

#[derive(Default)]
struct Shared {
    scripts: Mutex<HashMap<String, Script>>,
    seen: Mutex<Seen>,
    not_modified: AtomicUsize,
    arrivals: tokio::sync::Notify,
}

pub struct ScriptedOrigin {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl ScriptedOrigin {
    pub async fn start() -> ScriptedOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (s, c) = (shared.clone(), conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(req, s.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                c.lock().unwrap().push(conn.abort_handle());
            }
        });
        ScriptedOrigin {
            addr,
            shared,
            task,
            conns,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn script(&self, path: &str, script: Script) {
        self.shared
            .scripts
            .lock()
            .unwrap()
            .insert(path.into(), script);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn not_modified(&self) -> usize {
        self.shared.not_modified.load(Ordering::SeqCst)
    }

    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let seen = self.shared.seen.lock().unwrap();
        seen.last_headers
            .get(path)?
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    pub fn last_body(&self, path: &str) -> String {
        let seen = self.shared.seen.lock().unwrap();
        seen.last_body.get(path).cloned().unwrap_or_default()
    }

    /// Waits until `path` has been requested `n` times (panics after 10 s).
    pub async fn wait_for(&self, path: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.hits(path) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: {} of {n} requests",
                self.hits(path)
            );
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.shared.arrivals.notified())
                    .await;
        }
    }

    /// Stops accepting and drops every open connection.
    pub fn kill(&self) {
        self.task.abort();
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let script = shared.scripts.lock().unwrap().get(&path).cloned();
    {
        let mut seen = shared.seen.lock().unwrap();
        *seen.hits.entry(path.clone()).or_default() += 1;
        seen.last_headers
            .insert(path.clone(), parts.headers.clone());
        seen.last_body
            .insert(path.clone(), String::from_utf8_lossy(&body).into_owned());
    }
    shared.arrivals.notify_waiters();
    let Some(script) = script else {
        return Ok(Response::builder()
            .status(404)
            .body(Full::new(Bytes::from("no script")))
            .unwrap());
    };
    if !script.delay.is_zero() {
        tokio::time::sleep(script.delay).await;
    }
    let etag = script
        .headers
        .iter()
        .find(|(n, _)| n == "etag")
        .map(|(_, v)| v.clone());
    let inm = parts
        .headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok());
    if let (Some(etag), Some(inm)) = (&etag, inm) {
        if inm.split(',').any(|t| t.trim() == etag) {
            shared.not_modified.fetch_add(1, Ordering::SeqCst);
            let mut b = Response::builder().status(304);
            for (n, v) in &script.headers {
                if n == "etag" || n == "cache-control" {
                    b = b.header(n, v);
                }
            }
            return Ok(b.body(Full::new(Bytes::new())).unwrap());
        }
    }
    let body = if script.echo.is_empty() {
        script.body.clone()
    } else {
        script
            .echo
            .iter()
            .map(|n| {
                parts
                    .headers
                    .get(n.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    let mut b = Response::builder().status(script.status).header(
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    for (n, v) in &script.headers {
        b = b.header(n, v);
    }
    Ok(b.body(Full::new(Bytes::from(body))).unwrap())
}
