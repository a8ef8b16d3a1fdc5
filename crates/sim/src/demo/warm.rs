//! Warming the edges' origin pools before measuring, so TTFB through an edge is measured on
//! connections that are open end to end (client→edge and edge→origin), as the issue asks.

use super::edge_config::COUNTRY_HEADER;
use super::map::PlanetMap;
use super::DemoError;
use crate::probe::exchange::HttpConn;
use crate::probe::ProbeError;
use futures_util::future::try_join_all;
use tokio::net::TcpStream;

/// Sends, at the same moment, one request per `(edge region, country)` pair straight to that
/// edge's plain-HTTP listener (loopback, no client link). An edge's pool to an origin then holds as many open
/// connections as requests that went there at once, which is the most that the later
/// measurement (each client one request at a time) can need, so no measured request ever
/// waits for a new edge→origin connection and its emulated handshake. The edges' plain-HTTP
/// listeners are enough for this: a node's origin pools serve its HTTP and HTTPS listeners
/// alike.
pub async fn warm_edges(
    map: &PlanetMap,
    path: &str,
    visits: &[(String, String)],
) -> Result<(), DemoError> {
    let host = map.addrs().site_host.as_str();
    try_join_all(visits.iter().map(|(region, country)| async move {
        let addr = map.edge(region).map(|e| e.http).ok_or_else(|| {
            DemoError::UnknownPlace(crate::error::UnknownPlace(format!("edge in {region}")))
        })?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ProbeError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let mut conn = HttpConn::handshake(stream).await?;
        conn.get(host, path, &[(COUNTRY_HEADER, country.as_str())])
            .await?;
        Ok::<(), DemoError>(())
    }))
    .await?;
    Ok(())
}
