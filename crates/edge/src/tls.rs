//! TLS termination: one certificate per site chosen by SNI, HTTP/2 by ALPN, PEM files
//! reloaded when they change on disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Config, SiteTls};

/// Errors loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// A loaded certificate with the file stamps it came from.
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: (Option<SystemTime>, Option<SystemTime>),
}

/// Host → certificate table behind an atomic swap; the rustls resolver reads it lock-free.
#[derive(Debug, Default)]
pub struct SniResolver {
    table: ArcSwap<SniTable>,
}

#[derive(Default)]
struct SniTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: Vec<(String, Arc<CertifiedKey>)>,
    /// Used when the client sends no SNI or an unknown name: the first site's certificate.
    fallback: Option<Arc<CertifiedKey>>,
    sources: HashMap<SiteTls, Loaded>,
}

impl std::fmt::Debug for SniTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniTable")
            .field("hosts", &self.exact.len())
            .finish()
    }
}

fn stamp(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(tls: &SiteTls) -> Result<Arc<CertifiedKey>, TlsError> {
    let err = |path: &PathBuf, message: String| TlsError::File {
        path: path.clone(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| err(&tls.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&tls.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(err(&tls.cert, "no certificate in PEM file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| err(&tls.key, e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| err(&tls.key, e.to_string()))?;
    let certified = CertifiedKey::new(certs, signing);
    // A certificate and key replaced one after the other can be read half-way (new cert, old
    // key); serving that pair would fail every handshake, so it is refused and the old pair
    // keeps serving until both files agree.
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(e) => Err(err(
            &tls.key,
            format!(
                "does not match the certificate in {}: {e}",
                tls.cert.display()
            ),
        )),
    }
}

impl SniResolver {
    /// Loads every site's certificate from `config`, reusing unchanged ones. On any error
    /// nothing changes and the error names the file.
    pub fn update(&self, config: &Config) -> Result<(), TlsError> {
        let old = self.table.load();
        let mut table = SniTable::default();
        for site in &config.sites {
            let Some(tls) = &site.tls else { continue };
            let now = (stamp(&tls.cert), stamp(&tls.key));
            let key = match old.sources.get(tls).or_else(|| table.sources.get(tls)) {
                Some(l) if l.stamp == now => l.key.clone(),
                _ => load(tls)?,
            };
            table.sources.insert(
                tls.clone(),
                Loaded {
                    key: key.clone(),
                    stamp: now,
                },
            );
            if table.fallback.is_none() {
                table.fallback = Some(key.clone());
            }
            for h in &site.hosts {
                match h.strip_prefix('*') {
                    Some(suffix) => table.wildcard.push((suffix.to_string(), key.clone())),
                    None => {
                        table.exact.insert(h.clone(), key.clone());
                    }
                }
            }
        }
        table.wildcard.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// True when any PEM file changed since it was loaded.
    pub fn changed_on_disk(&self) -> bool {
        self.table
            .load()
            .sources
            .iter()
            .any(|(tls, l)| l.stamp != (stamp(&tls.cert), stamp(&tls.key)))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let Some(name) = hello.server_name() else {
            return table.fallback.clone();
        };
        let name = name.to_ascii_lowercase();
        table
            .exact
            .get(&name)
            .cloned()
            .or_else(|| {
                table
                    .wildcard
                    .iter()
                    .find(|(suffix, _)| {
                        name.len() > suffix.len() && name.ends_with(suffix.as_str())
                    })
                    .map(|(_, k)| k.clone())
            })
            .or_else(|| table.fallback.clone())
    }
}

/// The rustls server config for HTTPS listeners: certificates by SNI, ALPN h2 then HTTP/1.1.
pub fn server_config(
    resolver: Arc<SniResolver>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
