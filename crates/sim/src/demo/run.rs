//! The demo's measurement: from every client place, over HTTPS (or plain HTTP), the TCP
//! connect and the TLS handshake through the emulated link, then TTFB straight to the single
//! origin and through Regionless (nearest edge, geo routing), each on an open, warmed
//! connection.

use super::edge_config::COUNTRY_HEADER;
use super::map::{ClientLink, Entrance, PlanetMap, Scheme};
use super::progress::Progress;
use super::report::{DemoReport, DemoRow};
use super::tls::Negotiated;
use super::warm::warm_edges;
use super::DemoError;
use crate::place::PlaceKind;
use crate::probe::exchange::Exchange;
use crate::probe::stats::median_ms;
use crate::probe::ProbeError;
use futures_util::future::try_join_all;
use std::time::Duration;
use tokio::time::Instant;

/// The path the demo measures: a dynamic API read (`Cache-Control: no-store`), so every
/// request goes to an origin.
pub const DEMO_PATH: &str = "/api/products/1";

/// The path of the cache-hit column: a static image (`Cache-Control: public, max-age=86400`),
/// fetched through the edge once to fill its cache, then measured as hits.
pub const DEMO_CACHED_PATH: &str = "/images/hero.svg";

/// Default repetitions per path and client (the table shows medians).
pub const DEFAULT_REPETITIONS: usize = 5;

/// Routes start this far apart. Every emulated client shares this machine's CPU, and a TLS
/// handshake costs about half a millisecond of it (both ends); routes with equal RTTs started
/// together would handshake at the same instants and queue behind each other, adding
/// milliseconds no real client pays. Staggered starts keep the handshakes apart; the whole
/// measurement takes 36 × 3 ms longer for the built-in world.
pub const ROUTE_STAGGER: Duration = Duration::from_millis(3);

/// The start offset of the `n`-th route.
pub(crate) fn stagger(n: usize) -> Duration {
    ROUTE_STAGGER.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Path requested on both routes.
    pub path: String,
    /// Measured requests per route and client, after one warm-up request (at least 1); also
    /// the number of new connections each route opens one after the other, whose connect and
    /// TLS times are reported as medians (the last one carries the requests). One connection
    /// would do in a quiet world, but every emulated client shares this machine: the first
    /// connections of a freshly started process pay for its heap growing (page faults, zeroed
    /// memory), and any handshake can lose a scheduler slice to other work, costs no real
    /// client pays. A median over several, like TTFB's, keeps those out of the table.
    pub repetitions: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            path: DEMO_PATH.to_owned(),
            repetitions: DEFAULT_REPETITIONS,
        }
    }
}

/// A client place's two emulated links: to its nearest edge and to the direct origin. The
/// demo keeps them open after the table so a user can try them (e.g. with curl).
#[derive(Debug)]
pub struct Vantage {
    /// Client → nearest edge (anycast).
    pub edge: ClientLink,
    /// Client → the layout's first origin, no edge.
    pub direct: ClientLink,
}

/// Starts the links of every client place of the map's world, in world order, to the nodes'
/// listeners for `scheme` (HTTPS: the edges' TLS listeners and the direct origin's own).
pub async fn start_vantages(map: &PlanetMap, scheme: Scheme) -> Result<Vec<Vantage>, DemoError> {
    let direct = Entrance::Origin(map.layout().direct_origin().to_owned());
    let mut out = Vec::new();
    for client in map.world().places_of(PlaceKind::Client) {
        out.push(Vantage {
            edge: map.link(client.name(), &Entrance::Anycast, scheme).await?,
            direct: map.link(client.name(), &direct, scheme).await?,
        });
    }
    Ok(out)
}

/// Measures every vantage point, all at once (each one request at a time per route), and
/// reports medians. `world_label` names the world in the report.
pub async fn run_demo(
    map: &PlanetMap,
    vantages: &[Vantage],
    options: &DemoOptions,
    world_label: &str,
    progress: &dyn Progress,
) -> Result<DemoReport, DemoError> {
    if vantages.is_empty() {
        return Err(DemoError::NoClients(world_label.to_owned()));
    }
    let started = Instant::now();
    let reps = options.repetitions.max(1);
    // Per route: `reps` connection setups (connect and TLS), warm-up, `reps` requests; on the
    // edge route also a fill and `reps` cache hits.
    progress.start((vantages.len() * (2 * (2 * reps + 1) + 2 * reps + 1)) as u64);
    let visits: Vec<_> = vantages
        .iter()
        .map(|v| (v.edge.hop.region.clone(), v.edge.country.clone()))
        .collect();
    warm_edges(map, &options.path, &visits).await?;

    let host = map.addrs().site_host.as_str();
    let measured = try_join_all(vantages.iter().enumerate().map(|(i, v)| async move {
        let (edge, direct) = tokio::try_join!(
            measure_route(&v.edge, stagger(2 * i), host, &options.path, reps, progress),
            measure_route(
                &v.direct,
                stagger(2 * i + 1),
                host,
                &options.path,
                reps,
                progress
            ),
        )?;
        Ok::<_, DemoError>((v, edge, direct))
    }))
    .await?;

    // Cache hits in a phase of their own: a hit is one round trip, so it is measured once the
    // other routes (some of them seconds of trans-oceanic round trips) no longer compete for
    // this machine's CPU, which every emulated client and relay shares.
    let hits = try_join_all(
        vantages
            .iter()
            .enumerate()
            .map(|(i, v)| measure_hits(&v.edge, stagger(i), host, reps, progress)),
    )
    .await?;
    let mut measured = measured;
    for ((_, edge, _), hits) in measured.iter_mut().zip(hits) {
        edge.ttfb_hit = hits;
    }

    let mut rows = Vec::new();
    let mut negotiated = None;
    for (v, edge, direct) in &measured {
        rows.push(row(map, v, edge, direct)?);
        negotiated = negotiated.or_else(|| edge.negotiated.clone());
    }
    let scheme = vantages.first().map_or(Scheme::Http, |v| v.edge.hop.scheme);
    Ok(DemoReport {
        world: world_label.to_owned(),
        site_host: host.to_owned(),
        scheme,
        tls_version: negotiated.as_ref().map(|n| n.version.clone()),
        alpn: negotiated.and_then(|n| n.alpn),
        path: options.path.clone(),
        repetitions: reps,
        direct_origin: map.layout().direct_origin().to_owned(),
        rows,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        purge: None,
    })
}

/// One route's measurements.
struct Route {
    connect: Vec<Duration>,
    /// Empty over plain HTTP.
    tls: Vec<Duration>,
    negotiated: Option<Negotiated>,
    ttfb: Vec<Duration>,
    last: Exchange,
    /// Edge routes only: TTFB of cache hits for [`DEMO_CACHED_PATH`].
    ttfb_hit: Vec<Duration>,
}

async fn measure_route(
    link: &ClientLink,
    start_after: Duration,
    host: &str,
    path: &str,
    reps: usize,
    progress: &dyn Progress,
) -> Result<Route, DemoError> {
    tokio::time::sleep(start_after).await;
    let mut connect = Vec::with_capacity(reps);
    let mut tls = Vec::with_capacity(reps);
    let mut negotiated = None;
    let mut opened = link.open().await?;
    loop {
        connect.push(opened.connect);
        if let Some((took, n)) = opened.tls.take() {
            tls.push(took);
            negotiated = Some(n);
        }
        progress.advance(1);
        if connect.len() >= reps {
            break;
        }
        // Replacing it closes the previous connection.
        opened = link.open().await?;
    }
    let mut conn = opened.conn;
    // The emulated front adds the client's country on the way to an edge; an origin reached
    // directly has no front.
    let headers: &[(&str, &str)] = if link.hop.edge {
        &[(COUNTRY_HEADER, link.country.as_str())]
    } else {
        &[]
    };
    let mut last = conn.get(host, path, headers).await?;
    check(link, &last)?;
    progress.advance(1);
    let mut ttfb = Vec::with_capacity(reps);
    for _ in 0..reps {
        last = conn.get(host, path, headers).await?;
        check(link, &last)?;
        ttfb.push(last.ttfb);
        progress.advance(1);
    }
    Ok(Route {
        connect,
        tls,
        negotiated,
        ttfb,
        last,
        ttfb_hit: Vec::new(),
    })
}

/// TTFB of edge cache hits for [`DEMO_CACHED_PATH`] on a new connection to the client's edge:
/// one request fills the edge's cache (or finds it filled by another client of the same edge),
/// then `2 × reps` hits (twice the other columns' samples: a hit is a single round trip, so one
/// scheduler hiccup weighs more in its median), each checked to be `x-cache: HIT`.
async fn measure_hits(
    link: &ClientLink,
    start_after: Duration,
    host: &str,
    reps: usize,
    progress: &dyn Progress,
) -> Result<Vec<Duration>, DemoError> {
    tokio::time::sleep(start_after).await;
    let mut conn = link.open().await?.conn;
    let headers: &[(&str, &str)] = &[(COUNTRY_HEADER, link.country.as_str())];
    let fill = conn.get(host, DEMO_CACHED_PATH, headers).await?;
    check(link, &fill)?;
    progress.advance(1);
    let mut ttfb = Vec::with_capacity(2 * reps);
    for _ in 0..2 * reps {
        let hit = conn.get(host, DEMO_CACHED_PATH, headers).await?;
        check(link, &hit)?;
        if hit.header("x-cache") != Some("HIT") {
            return Err(ProbeError::NotCached {
                what: format!("{} via edge {}", link.client, link.hop.region),
                x_cache: hit.header("x-cache").unwrap_or("absent").to_owned(),
            }
            .into());
        }
        ttfb.push(hit.ttfb);
        progress.advance(1);
    }
    Ok(ttfb)
}

/// A non-2xx answer makes the timing meaningless; fail with where it came from.
fn check(link: &ClientLink, e: &Exchange) -> Result<(), DemoError> {
    if e.status.is_success() {
        return Ok(());
    }
    Err(ProbeError::Status {
        what: format!(
            "{} via {} {}",
            link.client,
            if link.hop.edge { "edge" } else { "origin" },
            link.hop.region
        ),
        status: e.status.as_u16(),
    }
    .into())
}

fn row(map: &PlanetMap, v: &Vantage, edge: &Route, direct: &Route) -> Result<DemoRow, DemoError> {
    let client = v.edge.client.as_str();
    let edge_region = v.edge.hop.region.as_str();
    let origin = edge.last.header("x-origin").unwrap_or("").to_owned();
    // `x-origin` is `name@region`; fall back to the direct origin if an edge ever omits it.
    let origin_region = origin
        .rsplit_once('@')
        .map(|(_, r)| r.to_owned())
        .filter(|r| map.world().place(r).is_ok())
        .unwrap_or_else(|| map.layout().direct_origin().to_owned());
    let ms = |d: &[Duration]| median_ms(d).unwrap_or(f64::NAN);
    let to_ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    Ok(DemoRow {
        client: client.to_owned(),
        country: v.edge.country.clone(),
        edge: edge_region.to_owned(),
        served_by: edge.last.header("x-served-by").unwrap_or("").to_owned(),
        origin,
        origin_region: origin_region.clone(),
        edge_rtt_ms: v.edge.hop.rtt.ms,
        connect_ms: ms(&edge.connect),
        connect_direct_ms: ms(&direct.connect),
        tls_ms: median_ms(&edge.tls),
        tls_direct_ms: median_ms(&direct.tls),
        ttfb_direct_ms: ms(&direct.ttfb),
        ttfb_regionless_ms: ms(&edge.ttfb),
        ttfb_cache_hit_ms: median_ms(&edge.ttfb_hit),
        floor_ms: map.floor_ms(client, Some(edge_region), &origin_region)?,
        modelled_direct_ms: v.direct.hop.rtt.ms,
        modelled_regionless_ms: v.edge.hop.rtt.ms
            + map.backbone_rtt(edge_region, &origin_region)?.ms,
        connect_samples_ms: edge.connect.iter().map(to_ms).collect(),
        tls_samples_ms: edge.tls.iter().map(to_ms).collect(),
        ttfb_direct_samples_ms: direct.ttfb.iter().map(to_ms).collect(),
        ttfb_regionless_samples_ms: edge.ttfb.iter().map(to_ms).collect(),
    })
}
