//! Probing a real URL from this machine: DNS, TCP connect, TLS, TTFB and total per request,
//! each request on a new connection.

use super::exchange::HttpConn;
use super::report::{ProbeReport, ProbeRow};
use super::stats::Summary;
use super::{ProbeError, Target};
use crate::demo::Progress;
use rustls_pki_types::ServerName;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// One request's phases.
struct Sample {
    dns: Option<Duration>,
    connect: Duration,
    tls: Option<Duration>,
    ttfb: Duration,
    total: Duration,
    status: u16,
    body_bytes: u64,
    peer: String,
}

/// Probes `target` `repetitions` times from this machine (no emulation: these are the real
/// network's times).
pub async fn probe_real(
    target: &Target,
    repetitions: usize,
    progress: &dyn Progress,
) -> Result<ProbeReport, ProbeError> {
    let reps = repetitions.max(1);
    let tls = if target.tls {
        Some(tls_connector(&target.host)?)
    } else {
        None
    };
    progress.start(reps as u64);
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        samples.push(once(target, tls.as_ref()).await?);
        progress.advance(1);
    }
    let pick = |f: &dyn Fn(&Sample) -> Option<Duration>| -> Option<Summary> {
        let v: Vec<Duration> = samples.iter().filter_map(f).collect();
        Summary::of(&v)
    };
    let last = samples.last();
    let row = ProbeRow {
        from: "this machine".to_owned(),
        country: None,
        reached: last.map_or_else(String::new, |s| s.peer.clone()),
        modelled_rtt_ms: None,
        status: last.map_or(0, |s| s.status),
        dns: pick(&|s| s.dns),
        connect: pick(&|s| Some(s.connect)),
        tls: pick(&|s| s.tls),
        ttfb: pick(&|s| Some(s.ttfb)),
        total: pick(&|s| Some(s.total)),
        body_bytes: last.map_or(0, |s| s.body_bytes),
    };
    Ok(ProbeReport {
        url: target.url.clone(),
        mode: "real",
        note: "A real URL: measured from this machine (vantage points are emulated only in a demo world; see --world and --demo).".to_owned(),
        repetitions: reps,
        rows: vec![row],
    })
}

async fn once(target: &Target, tls: Option<&TlsConnector>) -> Result<Sample, ProbeError> {
    let started = Instant::now();
    let (addr, dns) = match target.host.parse::<IpAddr>() {
        Ok(ip) => (std::net::SocketAddr::new(ip, target.port), None),
        Err(_) => {
            let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|source| ProbeError::Dns {
                    host: target.host.clone(),
                    source,
                })?;
            let addr = addrs
                .next()
                .ok_or_else(|| ProbeError::NoAddress(target.host.clone()))?;
            (addr, Some(started.elapsed()))
        }
    };
    let connect_start = Instant::now();
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ProbeError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    let connect = connect_start.elapsed();
    // Latency-sensitive client; a failure here only costs accuracy.
    let _ = stream.set_nodelay(true);
    let (exchange, tls_time) = match tls {
        None => {
            let mut conn = HttpConn::handshake(stream).await?;
            (conn.get(&target.authority, &target.path, &[]).await?, None)
        }
        Some(connector) => {
            let name = ServerName::try_from(target.host.clone()).map_err(|e| ProbeError::Tls {
                host: target.host.clone(),
                message: e.to_string(),
            })?;
            let tls_start = Instant::now();
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| ProbeError::Tls {
                    host: target.host.clone(),
                    message: e.to_string(),
                })?;
            let tls_time = tls_start.elapsed();
            let mut conn = HttpConn::handshake(stream).await?;
            (
                conn.get(&target.authority, &target.path, &[]).await?,
                Some(tls_time),
            )
        }
    };
    Ok(Sample {
        dns,
        connect,
        tls: tls_time,
        ttfb: exchange.ttfb,
        total: started.elapsed(),
        status: exchange.status.as_u16(),
        body_bytes: exchange.body_bytes,
        peer: addr.to_string(),
    })
}

/// A TLS client trusting the system's roots, offering only HTTP/1.1 (the probe speaks it).
fn tls_connector(host: &str) -> Result<TlsConnector, ProbeError> {
    let err = |message: String| ProbeError::Tls {
        host: host.to_owned(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A single unparsable system certificate should not stop the probe.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(err(format!(
            "no trusted root certificates found on this machine ({} errors loading them)",
            native.errors.len()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
