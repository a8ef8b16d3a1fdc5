//! TLS: certificates by SNI on one listener, HTTP/2 by ALPN, HTTP→HTTPS redirect, certificate
//! files replaced on disk, and verified TLS to https origins.
#![allow(clippy::unwrap_used)]
mod common;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::client::TlsStream;

/// A test certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate as PEM, and its DER to compare with what a client was shown.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Regionless test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn issue(&self, names: &[&str]) -> Leaf {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        roots
    }
}

fn write_leaf(dir: &Path, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS handshake with `sni`, trusting `ca`, offering `alpn`. Returns the stream and the
/// certificate the node presented.
async fn handshake(
    addr: SocketAddr,
    sni: &str,
    ca: &Ca,
    alpn: &[&[u8]],
) -> std::io::Result<(TlsStream<tokio::net::TcpStream>, CertificateDer<'static>)> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from(sni.to_string()).unwrap(), tcp)
        .await?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    Ok((tls, leaf))
}

/// One GET over an established TLS stream, HTTP/1.1 or HTTP/2 by what ALPN chose.
async fn get_over(
    tls: TlsStream<tokio::net::TcpStream>,
    host: &str,
    path: &str,
) -> (StatusCode, Version, serde_json::Value) {
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::builder()
            .uri(format!("https://{host}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.send_request(req).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.send_request(req).await.unwrap()
    };
    let (status, version) = (resp.status(), resp.version());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        version,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

struct TwoSites {
    node: regionless_edge::Node,
    ca: Ca,
    dir: tempfile::TempDir,
    leaf_a: Leaf,
    leaf_b: Leaf,
    _origins: (Origin, Origin),
}

async fn two_sites() -> TwoSites {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let leaf_a = ca.issue(&["a.test", "www.a.test"]);
    let leaf_b = ca.issue(&["b.test"]);
    let (cert_a, key_a) = write_leaf(dir.path(), "a", &leaf_a);
    let (cert_b, key_b) = write_leaf(dir.path(), "b", &leaf_b);
    let oa = Origin::start("origin-a").await;
    let ob = Origin::start("origin-b").await;
    let sites = format!(
        r#"
[[sites]]
name = "a"
hosts = ["a.test", "www.a.test"]
https_redirect = true
tls = {{ cert = "{}", key = "{}" }}
[[sites.origins]]
name = "origin-a"
url = "{}"
region = "eu-central"

[[sites]]
name = "b"
hosts = ["b.test"]
tls = {{ cert = "{}", key = "{}" }}
[[sites.origins]]
name = "origin-b"
url = "{}"
region = "eu-central"
"#,
        cert_a.display(),
        key_a.display(),
        oa.url(),
        cert_b.display(),
        key_b.display(),
        ob.url()
    );
    let node = start_node(&node_toml(
        "eu-central",
        "tls_listen = [\"127.0.0.1:0\"]",
        &sites,
    ))
    .await;
    TwoSites {
        node,
        ca,
        dir,
        leaf_a,
        leaf_b,
        _origins: (oa, ob),
    }
}

#[tokio::test]
async fn two_sites_on_one_listener_get_their_own_certificate_by_sni() {
    let t = two_sites().await;
    let addr = t.node.https_addrs()[0];
    let (tls, leaf) = handshake(addr, "a.test", &t.ca, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(leaf, t.leaf_a.der);
    let (status, version, json) = get_over(tls, "a.test", "/hello").await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
    assert_eq!(json["origin"], "origin-a");
    assert_eq!(json["headers"]["x-forwarded-proto"][0], "https");

    let (tls, leaf) = handshake(addr, "b.test", &t.ca, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(leaf, t.leaf_b.der);
    let (_, _, json) = get_over(tls, "b.test", "/").await;
    assert_eq!(json["origin"], "origin-b");

    // A second name of site a is covered by a's certificate; SNI is case-insensitive.
    let (_, leaf) = handshake(addr, "WWW.A.TEST", &t.ca, &[]).await.unwrap();
    assert_eq!(leaf, t.leaf_a.der);
}

/// Everything the node sends until it ends the TLS session cleanly.
async fn read_to_end(tls: &mut TlsStream<tokio::net::TcpStream>) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut text))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test]
async fn https_http1_keeps_alive_pipelines_and_hands_a_body_to_hyper_midway() {
    use tokio::io::AsyncWriteExt;
    let t = two_sites().await;
    let (mut tls, _) = handshake(t.node.https_addrs()[0], "b.test", &t.ca, &[b"http/1.1"])
        .await
        .unwrap();
    // Bodiless requests are served by the node's own loop, the POST by hyper after it, all on
    // one TLS connection.
    tls.write_all(
        b"GET /one HTTP/1.1\r\nHost: b.test\r\n\r\n\
          GET /two HTTP/1.1\r\nHost: b.test\r\n\r\n\
          POST /three HTTP/1.1\r\nHost: b.test\r\nContent-Length: 3\r\n\r\nabc\
          GET /four HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let text = read_to_end(&mut tls).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 4, "{text}");
    let paths: Vec<_> = ["/one", "/two", "/three", "/four"]
        .iter()
        .map(|p| text.find(&format!("\"path\":\"{p}\"")).unwrap())
        .collect();
    assert!(
        paths.windows(2).all(|w| w[0] < w[1]),
        "answered out of order: {text}"
    );
    assert!(text.contains("\"body_len\":3"), "{text}");
    assert!(text.contains("\"x-forwarded-proto\":[\"https\"]"), "{text}");

    // `Connection: close` on a request the node's loop serves ends the TLS session cleanly
    // (close_notify), so the client sees the end of the stream, not a truncation error.
    let (mut tls, _) = handshake(t.node.https_addrs()[0], "b.test", &t.ca, &[b"http/1.1"])
        .await
        .unwrap();
    tls.write_all(b"GET /last HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_end(&mut tls).await.contains("\"path\":\"/last\""));
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let t = two_sites().await;
    let addr = t.node.https_addrs()[0];
    let (tls, _) = handshake(addr, "b.test", &t.ca, &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (status, version, json) = get_over(tls, "b.test", "/h2").await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(json["origin"], "origin-b");
    assert_eq!(json["path"], "/h2");
    // Without h2 on offer, HTTP/1.1.
    let (tls, _) = handshake(addr, "b.test", &t.ca, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn plain_http_is_redirected_to_https_per_site() {
    let t = two_sites().await;
    let r = get(&t.node, "a.test", "/cart?item=1", &[]).await;
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location").unwrap(), "https://a.test/cart?item=1");
    let r = send(
        t.node.http_addrs()[0],
        "POST",
        "www.a.test:80",
        "/pay",
        &[],
        "x",
    )
    .await;
    assert_eq!(r.status, 308, "308 keeps the method and body");
    assert_eq!(r.header("location").unwrap(), "https://www.a.test/pay");
    // Site b has no redirect: plain HTTP is served.
    let r = get(&t.node, "b.test", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.origin(), "origin-b");
    // Over HTTPS, site a is served, not redirected.
    let (tls, _) = handshake(t.node.https_addrs()[0], "a.test", &t.ca, &[])
        .await
        .unwrap();
    assert_eq!(get_over(tls, "a.test", "/cart").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_picked_up() {
    let t = two_sites().await;
    let addr = t.node.https_addrs()[0];
    let renewed = t.ca.issue(&["a.test", "www.a.test"]);
    // Replace only the certificate first, the way a non-atomic renewal would: the new cert
    // does not match the old key, so the node must keep serving the old pair meanwhile.
    std::fs::write(t.dir.path().join("a.crt"), &renewed.cert_pem).unwrap();
    let until = Instant::now() + Duration::from_millis(2600);
    while Instant::now() < until {
        let (_, leaf) = handshake(addr, "a.test", &t.ca, &[])
            .await
            .expect("handshake during a half-written renewal");
        assert_eq!(
            leaf, t.leaf_a.der,
            "a certificate without its key was served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(t.dir.path().join("a.key"), &renewed.key_pem).unwrap();
    // The node polls every 2 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (tls, leaf) = handshake(addr, "a.test", &t.ca, &[])
            .await
            .expect("handshake during renewal");
        if leaf == renewed.der {
            assert_eq!(get_over(tls, "a.test", "/").await.0, StatusCode::OK);
            break;
        }
        assert_eq!(leaf, t.leaf_a.der);
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Site b was untouched.
    assert_eq!(
        handshake(addr, "b.test", &t.ca, &[]).await.unwrap().1,
        t.leaf_b.der
    );
}

/// An HTTPS origin with a certificate for 127.0.0.1 issued by `ca`.
async fn tls_origin(ca: &Ca) -> SocketAddr {
    let leaf = ca.issue(&["127.0.0.1"]);
    let key = rustls_pki_types::PrivateKeyDer::try_from(
        KeyPair::from_pem(&leaf.key_pem).unwrap().serialize_der(),
    )
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    |req: Request<hyper::body::Incoming>| async move {
                        let body = serde_json::json!({ "origin": "tls-origin", "version": format!("{:?}", req.version()) }).to_string();
                        Ok::<_, std::convert::Infallible>(http::Response::new(boxed(Bytes::from(
                            body,
                        ))))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn tls_origin_site(addr: SocketAddr, origin_extra: &str) -> String {
    format!("[[sites]]\nname = \"s\"\nhosts = [\"s.test\"]\n[[sites.origins]]\nname = \"secure\"\nurl = \"https://{addr}\"\nregion = \"eu-central\"\n{origin_extra}\n")
}

#[tokio::test]
async fn https_origins_are_verified_and_ca_file_trusts_a_private_ca() {
    let origin_ca = Ca::new();
    let addr = tls_origin(&origin_ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("origin-ca.pem");
    std::fs::write(&ca_file, origin_ca.cert.pem()).unwrap();

    // Verification is on by default: a certificate from an unknown CA is refused.
    let node = start_node(&node_toml("eu-central", "", &tls_origin_site(addr, ""))).await;
    let r = get(&node, "s.test", "/", &[]).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("certificate"), "{}", r.text());

    // With the origin's CA, it works.
    let extra = format!("ca_file = \"{}\"", ca_file.display());
    let node = start_node(&node_toml("eu-central", "", &tls_origin_site(addr, &extra))).await;
    let r = get(&node, "s.test", "/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.origin(), "tls-origin");

    // A CA that did not issue the origin's certificate does not help.
    let other = Ca::new();
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other.cert.pem()).unwrap();
    let node = start_node(&node_toml(
        "eu-central",
        "",
        &tls_origin_site(addr, &format!("ca_file = \"{}\"", wrong.display())),
    ))
    .await;
    assert_eq!(get(&node, "s.test", "/", &[]).await.status, 502);
}
