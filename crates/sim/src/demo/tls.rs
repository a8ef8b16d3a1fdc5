//! HTTPS in the demo, as at a real edge: a throwaway certificate authority made at start, a
//! certificate for the demo site signed by it, written to a private temporary directory for
//! the edge nodes' `[sites.tls]` (and served by the origins' own TLS listeners for the direct
//! column), and a client that trusts only that authority.
//!
//! Both ends use rustls with the *ring* provider and the same ECDSA P-256 certificate, so the
//! edge and the direct origin pay the same cryptography; the client offers TLS 1.3 and 1.2
//! (both servers pick 1.3), sends the site's name as SNI, offers ALPN `http/1.1` only (the
//! probe sends one request at a time per connection, so HTTP/2 would change nothing it
//! measures, and the handshake costs the same round trip either way) and never resumes a
//! session: every handshake is the full one a first visit pays.

use super::DemoError;
use crate::probe::ProbeError;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Longest a client waits for a TLS handshake in the demo (a stuck handshake fails the
/// measurement instead of hanging it).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The demo's certificates: a throwaway CA, and the site's certificate and key on disk (in a
/// private temporary directory, removed when this is dropped).
pub struct DemoTls {
    dir: tempfile::TempDir,
    ca_pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
    ca_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for DemoTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoTls")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> DemoError {
    DemoError::Tls(format!("{what}: {e}"))
}

impl DemoTls {
    /// Makes a CA and a certificate for `site_host` signed by it (ECDSA P-256), and writes
    /// `ca.pem`, `<site_host>.crt` and `<site_host>.key` to a new temporary directory (mode
    /// 0700 on Unix). The CA's key is never written anywhere and is dropped here.
    pub fn generate(site_host: &str) -> Result<DemoTls, DemoError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_err("CA parameters", e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Regionless demo CA (throwaway)");
        let ca_key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
        let ca = ca_params
            .self_signed(&ca_key)
            .map_err(|e| tls_err("CA certificate", e))?;

        let mut leaf_params = CertificateParams::new(vec![site_host.to_owned()])
            .map_err(|e| tls_err("site certificate parameters", e))?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, site_host);
        let leaf_key = KeyPair::generate().map_err(|e| tls_err("site key", e))?;
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .map_err(|e| tls_err("site certificate", e))?;

        let dir = tempfile::Builder::new()
            .prefix("regionless-demo-tls-")
            .tempdir()
            .map_err(|e| tls_err("temporary directory", e))?;
        let ca_pem = ca.pem();
        let write = |name: &str, text: &str| -> Result<PathBuf, DemoError> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map_err(|e| tls_err(&path.display().to_string(), e))?;
            Ok(path)
        };
        let ca_file = write("ca.pem", &ca_pem)?;
        let cert_file = write(&format!("{site_host}.crt"), &leaf.pem())?;
        let key_file = write(&format!("{site_host}.key"), &leaf_key.serialize_pem())?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("TLS server", e))?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .map_err(|e| tls_err("TLS server", e))?;
        // As the edge offers them (regionless_edge::tls::server_config).
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(DemoTls {
            dir,
            ca_pem,
            cert_file,
            key_file,
            ca_file,
            server: Arc::new(server),
        })
    }

    /// The CA certificate (PEM), to trust in a client.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate's file (e.g. for `curl --cacert`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The site's certificate file (PEM), for `[sites.tls] cert`.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The site's private key file (PEM, PKCS#8), for `[sites.tls] key`.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// A TLS acceptor serving the site's certificate (the origins' HTTPS listeners).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.server))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The demo's TLS client: trusts only the demo CA, sends `server_name` as SNI, offers ALPN
/// `http/1.1`, never resumes.
#[derive(Clone)]
pub struct DemoTlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for DemoTlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoTlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// What a finished handshake negotiated, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// e.g. `TLS 1.3`.
    pub version: String,
    /// e.g. `http/1.1`; `None` when the server chose no protocol.
    pub alpn: Option<String>,
}

impl DemoTlsClient {
    /// A client trusting the CA in `ca_pem` (PEM), for the site `server_name`.
    pub fn new(ca_pem: &str, server_name: &str) -> Result<DemoTlsClient, ProbeError> {
        let err = |message: String| ProbeError::Tls {
            host: server_name.to_owned(),
            message,
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| err(format!("demo CA: {e}")))?;
            roots.add(cert).map_err(|e| err(format!("demo CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(err("no demo CA certificate to trust".to_owned()));
        }
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        let server_name =
            ServerName::try_from(server_name.to_owned()).map_err(|e| err(e.to_string()))?;
        Ok(DemoTlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake on `stream` (already connected), timed from the ClientHello until
    /// the client has sent its Finished, i.e. until it may send a request.
    pub async fn handshake(
        &self,
        stream: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, Duration, Negotiated), ProbeError> {
        let host = self.server_name.to_str().into_owned();
        let started = Instant::now();
        let tls = tokio::time::timeout(
            TLS_HANDSHAKE_TIMEOUT,
            self.connector.connect(self.server_name.clone(), stream),
        )
        .await
        .map_err(|_| ProbeError::Tls {
            host: host.clone(),
            message: format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
        })?
        .map_err(|e| ProbeError::Tls {
            host,
            message: e.to_string(),
        })?;
        let elapsed = started.elapsed();
        let session = tls.get_ref().1;
        let version = session.protocol_version().map_or_else(
            || "TLS".to_owned(),
            |v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_owned(),
                rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_owned(),
                other => format!("{other:?}"),
            },
        );
        let alpn = session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        Ok((tls, elapsed, Negotiated { version, alpn }))
    }
}
