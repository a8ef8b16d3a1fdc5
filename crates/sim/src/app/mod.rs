//! The sample origin app of the demo: a small JSON API (`/api/products`, GET/POST/PUT) and a
//! set of static images with cache headers (`/images/…`), served by hyper on a loopback
//! address, HTTP/1.1 and HTTP/2 (h2c) on the same port, and optionally over HTTPS on a second
//! port ([`AppHandle::serve_tls`]; HTTP/2 by ALPN).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/` | JSON index: this origin's name and region, the endpoints |
//! | GET | `/healthz` | `ok` |
//! | GET | `/api/products` | every product (`Cache-Control: no-store`) |
//! | POST | `/api/products` | creates one from `{"name", "price_cents", "stock"}`: 201 + `Location` |
//! | GET, PUT | `/api/products/{id}` | one product; PUT creates (201) or replaces (200) |
//! | GET | `/images/logo.svg`, `/images/hero.svg`, `/images/products/{1..=12}.svg` | SVG with `Cache-Control: public, max-age=86400` and a strong `ETag`; `If-None-Match` → 304 |
//!
//! Every response carries `x-app-origin: name@region`, so a reply says which origin made it
//! even without an edge in front.

mod images;
mod products;

pub use images::IMAGE_MAX_AGE_SECS;
pub use products::{Catalog, Product, ProductInput, SEED_PRODUCTS};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Largest request body the API reads (a product is a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The app's state, shared by every connection.
#[derive(Debug)]
struct App {
    label: HeaderValue,
    name: String,
    region: String,
    catalog: Catalog,
    images: BTreeMap<String, images::Image>,
}

/// A running sample app. Dropping it (or [`AppHandle::shutdown`]) stops accepting and closes
/// every connection.
#[derive(Debug)]
pub struct AppHandle {
    addr: SocketAddr,
    app: Arc<App>,
    task: JoinHandle<()>,
    /// The HTTPS listener, once [`AppHandle::serve_tls`] started one.
    tls: Option<(SocketAddr, JoinHandle<()>)>,
}

impl AppHandle {
    /// Binds `listen` (port 0 for a free port) and serves the app there as origin `name` in
    /// `region` (both only reported, in `x-app-origin` and the index).
    pub async fn start(name: &str, region: &str, listen: SocketAddr) -> io::Result<AppHandle> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let label = HeaderValue::from_str(&format!("{name}@{region}"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let app = Arc::new(App {
            label,
            name: name.to_owned(),
            region: region.to_owned(),
            catalog: Catalog::seeded(),
            images: images::generate(SEED_PRODUCTS),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&app), None));
        Ok(AppHandle {
            addr,
            app,
            task,
            tls: None,
        })
    }

    /// Also serves the app over HTTPS on `listen` (port 0 for a free port), with `acceptor`'s
    /// certificate; HTTP/1.1 or HTTP/2 by ALPN. Returns the bound address. A second call
    /// replaces the first listener.
    pub async fn serve_tls(
        &mut self,
        listen: SocketAddr,
        acceptor: TlsAcceptor,
    ) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&self.app), Some(acceptor)));
        if let Some((_, old)) = self.tls.replace((addr, task)) {
            old.abort();
        }
        Ok(addr)
    }

    /// Where the app listens (plain HTTP: HTTP/1.1 and h2c).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the app listens for HTTPS, if [`AppHandle::serve_tls`] was called.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(addr, _)| *addr)
    }

    /// The origin name given at start.
    pub fn name(&self) -> &str {
        &self.app.name
    }

    /// The region given at start.
    pub fn region(&self) -> &str {
        &self.app.region
    }

    /// This origin's catalog (to inspect what writes reached it).
    pub fn catalog(&self) -> &Catalog {
        &self.app.catalog
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        drop(self);
    }
}

impl Drop for AppHandle {
    fn drop(&mut self) {
        // Aborting an accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
        if let Some((_, task)) = &self.tls {
            task.abort();
        }
    }
}

/// Longest the app waits for a client's TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_loop(listener: TcpListener, app: Arc<App>, tls: Option<TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small responses must not wait for Nagle; errors only cost latency.
                    let _ = stream.set_nodelay(true);
                    let app = Arc::clone(&app);
                    let tls = tls.clone();
                    connections.spawn(async move {
                        match tls {
                            None => serve(stream, app).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    acceptor.accept(stream),
                                )
                                .await
                                {
                                    Ok(Ok(stream)) => serve(stream, app).await,
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, "sample app TLS handshake failed");
                                    }
                                    Err(_) => {
                                        tracing::debug!("sample app TLS handshake timed out");
                                    }
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning on the error.
                    tracing::warn!(error = %e, "sample app accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection (plain or TLS): HTTP/1.1, or HTTP/2 by preface (h2c) or ALPN.
async fn serve<S>(io: S, app: Arc<App>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(answer(&app, req).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(error = %e, "sample app connection ended with an error");
    }
}

type Reply = Response<Full<Bytes>>;

async fn answer(app: &App, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut reply = match (req.method(), segments.as_slice()) {
        (&Method::GET | &Method::HEAD, [""]) => index(app),
        (&Method::GET | &Method::HEAD, ["healthz"]) => text(StatusCode::OK, "ok"),
        (&Method::GET | &Method::HEAD, ["api", "products"]) => {
            json(StatusCode::OK, &app.catalog.list())
        }
        (&Method::POST, ["api", "products"]) => match read_input(req).await {
            Ok(input) => match app.catalog.create(input) {
                Ok(p) => {
                    let mut r = json(StatusCode::CREATED, &p);
                    if let Ok(v) = HeaderValue::from_str(&format!("/api/products/{}", p.id)) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    r
                }
                Err(why) => text(StatusCode::UNPROCESSABLE_ENTITY, &why),
            },
            Err(r) => r,
        },
        (_, ["api", "products"]) => not_allowed("GET, HEAD, POST"),
        (method, ["api", "products", id]) => match id.parse::<u64>() {
            Err(_) => text(StatusCode::NOT_FOUND, "no such product"),
            Ok(id) => match *method {
                Method::GET | Method::HEAD => match app.catalog.get(id) {
                    Some(p) => json(StatusCode::OK, &p),
                    None => text(StatusCode::NOT_FOUND, "no such product"),
                },
                Method::PUT => match read_input(req).await {
                    Ok(input) => match app.catalog.put(id, input) {
                        Ok((p, true)) => json(StatusCode::CREATED, &p),
                        Ok((p, false)) => json(StatusCode::OK, &p),
                        Err(why) => text(StatusCode::UNPROCESSABLE_ENTITY, &why),
                    },
                    Err(r) => r,
                },
                _ => not_allowed("GET, HEAD, PUT"),
            },
        },
        (&Method::GET | &Method::HEAD, ["images", ..]) => {
            image(app, &path["/images/".len()..], &req)
        }
        (_, ["images", ..]) => not_allowed("GET, HEAD"),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    reply
        .headers_mut()
        .insert("x-app-origin", app.label.clone());
    reply
}

fn index(app: &App) -> Reply {
    let body = serde_json::json!({
        "app": "regionless sample app",
        "origin": app.name,
        "region": app.region,
        "endpoints": [
            "GET /api/products", "POST /api/products",
            "GET /api/products/{id}", "PUT /api/products/{id}",
            "GET /images/logo.svg", "GET /images/hero.svg", "GET /images/products/{id}.svg",
        ],
    });
    json(StatusCode::OK, &body)
}

fn image(app: &App, name: &str, req: &Request<Incoming>) -> Reply {
    let Some(img) = app.images.get(name) else {
        return text(StatusCode::NOT_FOUND, "no such image");
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| images::none_match(v, &img.etag));
    let (status, body) = if matches {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, img.body.clone())
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={IMAGE_MAX_AGE_SECS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&img.etag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// Reads and parses a JSON product body, or the error reply (413, 400).
async fn read_input(req: Request<Incoming>) -> Result<ProductInput, Reply> {
    let body = Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                text(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
            } else {
                text(StatusCode::BAD_REQUEST, "cannot read body")
            }
        })?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|e| text(StatusCode::BAD_REQUEST, &format!("bad product JSON: {e}")))
}

fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Reply {
    // Serialising plain structs and maps cannot fail; an empty body would be the only loss.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Dynamic data: no cache may keep it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, message: &str) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}
