//! Starting and stopping a demo planet in this process: the demo's throwaway certificates,
//! one sample app per origin region (plain HTTP for the edges, HTTPS for direct clients), one
//! relay per edge→origin pair emulating that backbone link, one real edge node per edge
//! region (plain HTTP and HTTPS listeners).

use super::edge_config::{edge_toml, origin_name, OriginRoute, SiteTlsFiles};
use super::layout::SITE_HOST;
use super::map::{EdgeInfo, OriginInfo, PlanetAddrs, PlanetMap};
use super::report::PurgeSummary;
use super::tls::DemoTls;
use super::DemoError;
use crate::app::AppHandle;
use crate::wan::{Relay, RelayHandle};
use crate::world::World;
use regionless_edge::{Config, Node};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

/// A running demo planet. Dropping it stops the apps and relays; call
/// [`Planet::shutdown`] to also stop the edge nodes gracefully.
pub struct Planet {
    map: PlanetMap,
    apps: Vec<AppHandle>,
    relays: Vec<RelayHandle>,
    nodes: Vec<Node>,
    tls: DemoTls,
}

impl std::fmt::Debug for Planet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planet")
            .field("addrs", self.map.addrs())
            .finish_non_exhaustive()
    }
}

impl Planet {
    /// Makes the demo's certificates, then starts `world`'s origins, backbone relays and
    /// edge nodes on loopback (free ports). `label` names the world in errors (a file path,
    /// or "built-in world"). Fails when the world has no demo layout or anything cannot
    /// start.
    pub async fn start(world: World, label: &str) -> Result<Planet, DemoError> {
        let layout = world
            .demo()
            .cloned()
            .ok_or_else(|| DemoError::NoLayout(label.to_owned()))?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let tls = DemoTls::generate(SITE_HOST)?;
        let utf8 = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| DemoError::Tls(format!("{} is not valid UTF-8", p.display())))
        };
        let (cert_file, key_file) = (utf8(tls.cert_file())?, utf8(tls.key_file())?);

        let mut apps = Vec::new();
        for region in &layout.origins {
            let name = origin_name(region);
            let failed = |source| DemoError::Start {
                what: format!("origin {name} in {region}"),
                source,
            };
            let mut app = AppHandle::start(&name, region, loopback)
                .await
                .map_err(failed)?;
            app.serve_tls(loopback, tls.acceptor())
                .await
                .map_err(failed)?;
            apps.push(app);
        }
        let origins: Vec<OriginInfo> = apps
            .iter()
            .map(|a| OriginInfo {
                name: a.name().to_owned(),
                region: a.region().to_owned(),
                addr: a.addr(),
                tls_addr: a.tls_addr(),
            })
            .collect();
        let admin_token = format!("demo-{:032x}", rand::random::<u128>());
        // A map without edges yet: enough to compute backbone links.
        let map = PlanetMap::new(
            world,
            PlanetAddrs {
                site_host: SITE_HOST.to_owned(),
                admin_token: admin_token.clone(),
                edges: Vec::new(),
                origins: origins.clone(),
                ca_pem: Some(tls.ca_pem().to_owned()),
            },
            label,
        )?;

        // One edge's config: its origin routes, and the relays to the other edges' admin APIs
        // that purges are forwarded through (none at first start).
        let toml_for = |region: &str, routes: &[OriginRoute], peers: &[SocketAddr]| {
            edge_toml(
                region,
                map.world(),
                &layout,
                SITE_HOST,
                routes,
                &admin_token,
                Some(SiteTlsFiles {
                    cert: &cert_file,
                    key: &key_file,
                }),
                peers,
            )
        };
        let mut relays = Vec::new();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut tomls = Vec::new();
        for region in &layout.edges {
            let mut routes = Vec::new();
            for origin in &origins {
                let link = map.backbone_link(region, &origin.region)?;
                let relay = Relay::new(origin.addr, link)
                    .start()
                    .await
                    .map_err(|source| DemoError::Start {
                        what: format!("backbone link {region} -> {}", origin.region),
                        source,
                    })?;
                routes.push(OriginRoute {
                    name: origin.name.clone(),
                    region: origin.region.clone(),
                    via: relay.local_addr(),
                });
                relays.push(relay);
            }
            let toml = toml_for(region, &routes, &[]);
            let config =
                Config::from_toml(&toml, Path::new(".")).map_err(|e| DemoError::EdgeConfig {
                    region: region.clone(),
                    message: e.to_string(),
                })?;
            let node = Node::start(config, None)
                .await
                .map_err(|e| DemoError::EdgeStart {
                    region: region.clone(),
                    message: e.to_string(),
                })?;
            let http = node
                .http_addrs()
                .first()
                .copied()
                .ok_or_else(|| DemoError::EdgeStart {
                    region: region.clone(),
                    message: "no HTTP listener".to_owned(),
                })?;
            let https = node.https_addrs().first().copied();
            if https.is_none() {
                return Err(DemoError::EdgeStart {
                    region: region.clone(),
                    message: "no HTTPS listener".to_owned(),
                });
            }
            edges.push(EdgeInfo {
                region: region.clone(),
                http,
                https,
                admin: node.admin_addr(),
            });
            nodes.push(node);
            tomls.push((region.clone(), routes));
        }
        // Purges: every edge forwards to every other edge's admin API through an emulated
        // backbone link, so purge propagation is measured over the planet's distances.
        for (i, (region, routes)) in tomls.iter().enumerate() {
            let mut peers = Vec::new();
            for (j, other) in edges.iter().enumerate() {
                let Some(admin) = other.admin.filter(|_| i != j) else {
                    continue;
                };
                let link = map.backbone_link(region, &other.region)?;
                let relay =
                    Relay::new(admin, link)
                        .start()
                        .await
                        .map_err(|source| DemoError::Start {
                            what: format!("admin link {region} -> {}", other.region),
                            source,
                        })?;
                peers.push(relay.local_addr());
                relays.push(relay);
            }
            let toml = toml_for(region, routes, &peers);
            let config =
                Config::from_toml(&toml, Path::new(".")).map_err(|e| DemoError::EdgeConfig {
                    region: region.clone(),
                    message: e.to_string(),
                })?;
            nodes[i]
                .control()
                .apply(config)
                .map_err(|e| DemoError::EdgeConfig {
                    region: region.clone(),
                    message: e.join("; "),
                })?;
        }
        Ok(Planet {
            map: map.with_edges(edges),
            apps,
            relays,
            nodes,
            tls,
        })
    }

    /// The demo CA's certificate file (PEM), for clients such as `curl --cacert`. It is
    /// removed when the planet stops.
    pub fn ca_file(&self) -> &Path {
        self.tls.ca_file()
    }

    /// The world and the nodes' addresses.
    pub fn map(&self) -> &PlanetMap {
        &self.map
    }

    /// The sample apps (origins), in layout order.
    pub fn apps(&self) -> &[AppHandle] {
        &self.apps
    }

    /// Purges by tag `rounds` times, each time from the next edge in turn, and measures how
    /// long each purge took to be applied on every other edge (forwarded over the emulated
    /// backbone, as `[cache] peers`). Times are from issue to apply, on one clock.
    pub async fn measure_purges(&self, rounds: usize) -> Result<PurgeSummary, DemoError> {
        let mut samples = Vec::new();
        let mut incomplete = 0usize;
        for round in 0..rounds {
            let issuer = &self.nodes[round % self.nodes.len()];
            let target = regionless_cache::purge::PurgeTarget::tag(&format!("demo-{round}"))
                .map_err(|e| DemoError::Tls(e.to_string()))?;
            let issued = regionless_edge::admin_cache::issue_purge(issuer.control(), target, false)
                .await
                .map_err(|e| DemoError::EdgeConfig {
                    region: "purge".into(),
                    message: e,
                })?;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            for node in &self.nodes {
                if std::ptr::eq(node, issuer) {
                    continue;
                }
                let Some(cache) = node.control().state.cache.as_ref() else {
                    continue;
                };
                loop {
                    if let Some(took) = cache.purge_latency(issued) {
                        samples.push(took.as_secs_f64() * 1000.0);
                        break;
                    }
                    if tokio::time::Instant::now() > deadline {
                        incomplete += 1;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
        samples.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).copied().unwrap_or(f64::NAN)
        };
        Ok(PurgeSummary {
            purges: rounds,
            deliveries: samples.len(),
            missed: incomplete,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            max_ms: samples.last().copied().unwrap_or(f64::NAN),
        })
    }

    /// Stops the edge nodes (graceful, bounded by their 2 s grace), then relays and apps.
    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
        for relay in self.relays {
            relay.shutdown().await;
        }
        for app in self.apps {
            app.shutdown().await;
        }
        // Dropping `self.tls` removes the certificate directory.
    }
}
