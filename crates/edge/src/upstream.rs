//! Connections to origins: pooled keep-alive HTTP/1.1 and HTTP/2 clients, TLS with
//! verification on by default, one client per distinct connection setting.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;

use crate::body::UpstreamBody;
use crate::config::OriginProtocol;
use crate::origin_h1::{ConnPool, DirectOrigin};

/// The pooled client used for origin requests.
pub type OriginClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// Everything that makes two origins need different clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub protocol: OriginProtocol,
    pub tls_verify: bool,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// Errors building an origin client.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {0} holds no usable certificate")]
    CaEmpty(PathBuf),
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// A cache of clients, so origins with equal settings share one connection pool and a
/// config reload keeps warm connections.
pub struct UpstreamClients {
    clients: Mutex<HashMap<ClientKey, OriginClient>>,
    /// Idle-connection pools of plain HTTP/1.1 origins (see [`crate::origin_h1`]), by
    /// authority, kept across reloads like the clients.
    direct_pools: Mutex<HashMap<http::uri::Authority, Arc<ConnPool>>>,
    /// Shards per direct pool: one per serving thread, plus one for every other thread.
    pool_shards: usize,
}

impl Default for UpstreamClients {
    /// Clients whose direct pools have one shard (callers without serving threads).
    fn default() -> Self {
        UpstreamClients::new(0)
    }
}

/// Idle connections kept per origin and serving thread, and for how long (the same as the pooled client's).
const MAX_IDLE_PER_ORIGIN: usize = 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often idle connections of plain-HTTP origins are checked for expiry and for the
/// origin having closed them.
const REAP_EVERY: Duration = Duration::from_secs(5);

impl UpstreamClients {
    /// Clients for a node with `serving_threads` serving threads.
    pub fn new(serving_threads: usize) -> Self {
        UpstreamClients {
            clients: Mutex::default(),
            direct_pools: Mutex::default(),
            pool_shards: serving_threads + 1,
        }
    }

    /// The client for `key`, built on first use.
    pub fn get(&self, key: &ClientKey) -> Result<OriginClient, UpstreamError> {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let client = build(key)?;
        map.insert(key.clone(), client.clone());
        Ok(client)
    }

    /// The in-task HTTP/1.1 client for a plain-HTTP origin, or None when the origin needs
    /// hyper-util's client (TLS, HTTP/2).
    pub fn direct(
        &self,
        scheme: &http::uri::Scheme,
        authority: &http::uri::Authority,
        protocol: OriginProtocol,
        connect_timeout: Duration,
    ) -> Option<Arc<DirectOrigin>> {
        if *scheme != http::uri::Scheme::HTTP || protocol == OriginProtocol::Http2 {
            return None;
        }
        let pool = self
            .direct_pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(authority.clone())
            .or_insert_with(|| {
                let pool = Arc::new(ConnPool::new(
                    self.pool_shards,
                    MAX_IDLE_PER_ORIGIN,
                    IDLE_TIMEOUT,
                    REAP_EVERY,
                ));
                ConnPool::spawn_reaper(&pool);
                pool
            })
            .clone();
        Some(Arc::new(DirectOrigin::new(
            authority,
            connect_timeout,
            pool,
        )))
    }
}

fn build(key: &ClientKey) -> Result<OriginClient, UpstreamError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(key.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));

    let tls = tls_config(key)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let connector = match key.protocol {
        OriginProtocol::Http1 => builder.enable_http1().wrap_connector(http),
        OriginProtocol::Http2 => builder.enable_http2().wrap_connector(http),
        OriginProtocol::Auto => builder.enable_http1().enable_http2().wrap_connector(http),
    };
    let mut client = Client::builder(TokioExecutor::new());
    client
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_ORIGIN)
        .http1_preserve_header_case(false)
        .set_host(false);
    if key.protocol == OriginProtocol::Http2 {
        client.http2_only(true);
    }
    Ok(client.build(connector))
}

fn tls_config(key: &ClientKey) -> Result<rustls::ClientConfig, UpstreamError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if key.tls_verify {
        let mut roots = rustls::RootCertStore::empty();
        match &key.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| UpstreamError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(UpstreamError::CaEmpty(path.clone()));
                }
            }
            None => {
                // Unreadable system certificates are skipped: one bad file in
                // /etc/ssl/certs must not stop the node from reaching good origins.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    };
    // ALPN (h2 / http/1.1) is set by hyper-rustls from the enabled protocols.
    Ok(config)
}

/// `tls_verify = false`: the operator asked to trust any certificate (e.g. self-signed origins
/// on a private network). Signatures are still checked so the handshake is well-formed.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
