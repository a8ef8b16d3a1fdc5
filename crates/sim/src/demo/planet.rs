//! Starting and stopping a demo planet in this process: one sample app per origin region,
//! one relay per edge→origin pair emulating that backbone link, one real edge node per edge
//! region.

use super::edge_config::{edge_toml, origin_name, OriginRoute};
use super::layout::SITE_HOST;
use super::map::{EdgeInfo, OriginInfo, PlanetAddrs, PlanetMap};
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
}

impl std::fmt::Debug for Planet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planet")
            .field("addrs", self.map.addrs())
            .finish_non_exhaustive()
    }
}

impl Planet {
    /// Starts `world`'s origins, backbone relays and edge nodes on loopback (free ports).
    /// `label` names the world in errors (a file path, or "built-in world"). Fails when the
    /// world has no demo layout or anything cannot start.
    pub async fn start(world: World, label: &str) -> Result<Planet, DemoError> {
        let layout = world
            .demo()
            .cloned()
            .ok_or_else(|| DemoError::NoLayout(label.to_owned()))?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));

        let mut apps = Vec::new();
        for region in &layout.origins {
            let name = origin_name(region);
            let app = AppHandle::start(&name, region, loopback)
                .await
                .map_err(|source| DemoError::Start {
                    what: format!("origin {name} in {region}"),
                    source,
                })?;
            apps.push(app);
        }
        let origins: Vec<OriginInfo> = apps
            .iter()
            .map(|a| OriginInfo {
                name: a.name().to_owned(),
                region: a.region().to_owned(),
                addr: a.addr(),
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
            },
            label,
        )?;

        let mut relays = Vec::new();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
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
            let toml = edge_toml(
                region,
                map.world(),
                &layout,
                SITE_HOST,
                &routes,
                &admin_token,
            );
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
            edges.push(EdgeInfo {
                region: region.clone(),
                http,
                admin: node.admin_addr(),
            });
            nodes.push(node);
        }
        Ok(Planet {
            map: map.with_edges(edges),
            apps,
            relays,
            nodes,
        })
    }

    /// The world and the nodes' addresses.
    pub fn map(&self) -> &PlanetMap {
        &self.map
    }

    /// The sample apps (origins), in layout order.
    pub fn apps(&self) -> &[AppHandle] {
        &self.apps
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
    }
}
