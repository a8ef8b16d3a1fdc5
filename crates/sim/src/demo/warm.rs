//! Warming the edges' origin pools before measuring, so TTFB through an edge is measured on
//! connections that are open end to end (client→edge and edge→origin), as the issue asks.

use super::edge_config::COUNTRY_HEADER;
use super::map::PlanetMap;
use super::DemoError;
use crate::probe::exchange::HttpConn;
use crate::probe::ProbeError;
use futures_util::future::try_join_all;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Sends, at the same moment, one request per `(edge address, country)` pair straight to the
/// edge (loopback, no client link). An edge's pool to an origin then holds as many open
/// connections as requests that went there at once, which is the most that the later
/// measurement (each client one request at a time) can need, so no measured request ever
/// waits for a new edge→origin connection and its emulated handshake.
pub async fn warm_edges(
    map: &PlanetMap,
    path: &str,
    visits: &[(SocketAddr, String)],
) -> Result<(), DemoError> {
    let host = map.addrs().site_host.as_str();
    try_join_all(visits.iter().map(|(addr, country)| async move {
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
