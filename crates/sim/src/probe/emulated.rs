//! Probing the demo world: each vantage point is a client place, and every request goes
//! through that client's emulated link.

use super::report::{ProbeReport, ProbeRow};
use super::stats::Summary;
use super::{ProbeError, Target};
use crate::demo::edge_config::COUNTRY_HEADER;
use crate::demo::run::stagger;
use crate::demo::{warm_edges, ClientLink, DemoError, PlanetMap, Progress, Scheme};
use crate::place::{Place, PlaceKind};
use futures_util::future::try_join_all;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// Probes `target` from the client places of `countries` (every client place when empty),
/// `repetitions` requests each on new connections, after one uncounted warm-up request per
/// vantage point. The URL must name the demo site (through the nearest edge) or one of the
/// map's edge or origin addresses. An `https://` URL reaches the nodes' HTTPS listeners and
/// times each TLS handshake through the client's link (SNI and `Host` are the demo site's,
/// trusting the demo's CA); `http://` their plain listeners.
pub async fn probe_emulated(
    map: &PlanetMap,
    world_label: &str,
    target: &Target,
    countries: &[String],
    repetitions: usize,
    progress: &dyn Progress,
) -> Result<ProbeReport, DemoError> {
    let scheme = if target.tls {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let entrance = map
        .entrance_for(&target.host, target.explicit_port, scheme)
        .ok_or_else(|| ProbeError::NotInWorld {
            url: target.url.clone(),
            site_host: map.addrs().site_host.clone(),
        })?;
    let places = vantage_places(map, countries)?;
    let mut links = Vec::with_capacity(places.len());
    for p in &places {
        links.push(map.link(p.name(), &entrance, scheme).await?);
    }
    let reps = repetitions.max(1);
    progress.start((links.len() * (reps + 1)) as u64);
    let visits: Vec<_> = links
        .iter()
        .filter(|l| l.hop.edge)
        .map(|l| (l.hop.region.clone(), l.country.clone()))
        .collect();
    warm_edges(map, &target.path, &visits).await?;

    let host = map.addrs().site_host.as_str();
    let rows = try_join_all(links.iter().enumerate().map(|(i, link)| async move {
        // Apart, so vantage points' handshakes do not queue on this machine's CPU.
        tokio::time::sleep(stagger(i)).await;
        // Warm-up (not counted): opens the edge's origin connection for this country.
        once(link, host, &target.path).await?;
        progress.advance(1);
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            samples.push(once(link, host, &target.path).await?);
            progress.advance(1);
        }
        Ok::<_, DemoError>(row(link, &samples))
    }))
    .await?;
    Ok(ProbeReport {
        url: target.url.clone(),
        mode: "emulated",
        note: format!(
            "Emulated vantage points in the demo world ({world_label}): every request goes through the client's emulated link{}; a new connection per request (connect = emulated TCP handshake{}); no DNS in the demo.",
            if matches!(entrance, crate::demo::Entrance::Anycast) { " to its nearest edge" } else { "" },
            match scheme {
                Scheme::Https => "; TLS = full handshake through the same link, trusting the demo's CA",
                Scheme::Http => "; plain HTTP, so no TLS",
            }
        ),
        repetitions: reps,
        rows,
    })
}

/// The client places of `countries` in the world's order, or all of them.
fn vantage_places<'m>(
    map: &'m PlanetMap,
    countries: &[String],
) -> Result<Vec<&'m Place>, ProbeError> {
    let world = map.world();
    if countries.is_empty() {
        return Ok(world.places_of(PlaceKind::Client).collect());
    }
    let mut out = Vec::new();
    for code in countries {
        let code = code.trim();
        let found: Vec<&Place> = world
            .places_of(PlaceKind::Client)
            .filter(|p| p.country().eq_ignore_ascii_case(code))
            .collect();
        if found.is_empty() {
            let available: BTreeSet<&str> = world
                .places_of(PlaceKind::Client)
                .map(Place::country)
                .collect();
            return Err(ProbeError::NoVantage {
                country: code.to_owned(),
                available: available.into_iter().collect::<Vec<_>>().join(","),
            });
        }
        out.extend(found);
    }
    Ok(out)
}

struct Sample {
    connect: Duration,
    tls: Option<Duration>,
    ttfb: Duration,
    total: Duration,
    status: u16,
    body_bytes: u64,
    origin: Option<String>,
}

async fn once(link: &ClientLink, host: &str, path: &str) -> Result<Sample, DemoError> {
    let started = Instant::now();
    let opened = link.open().await?;
    let mut conn = opened.conn;
    let headers: &[(&str, &str)] = if link.hop.edge {
        &[(COUNTRY_HEADER, link.country.as_str())]
    } else {
        &[]
    };
    let e = conn.get(host, path, headers).await?;
    Ok(Sample {
        connect: opened.connect,
        tls: opened.tls.map(|(d, _)| d),
        ttfb: e.ttfb,
        total: started.elapsed(),
        status: e.status.as_u16(),
        body_bytes: e.body_bytes,
        origin: e.header("x-origin").map(str::to_owned),
    })
}

fn row(link: &ClientLink, samples: &[Sample]) -> ProbeRow {
    let pick = |f: fn(&Sample) -> Duration| Summary::of(&samples.iter().map(f).collect::<Vec<_>>());
    let last = samples.last();
    let reached = match (link.hop.edge, last.and_then(|s| s.origin.as_deref())) {
        (true, Some(origin)) => format!("edge {} → {origin}", link.hop.region),
        (true, None) => format!("edge {}", link.hop.region),
        (false, _) => format!("origin {}", link.hop.region),
    };
    ProbeRow {
        from: format!("{} {}", link.country, link.client),
        country: Some(link.country.clone()),
        reached,
        modelled_rtt_ms: Some(link.hop.rtt.ms),
        status: last.map_or(0, |s| s.status),
        dns: None,
        connect: pick(|s| s.connect),
        tls: Summary::of(&samples.iter().filter_map(|s| s.tls).collect::<Vec<_>>()),
        ttfb: pick(|s| s.ttfb),
        total: pick(|s| s.total),
        body_bytes: last.map_or(0, |s| s.body_bytes),
    }
}
