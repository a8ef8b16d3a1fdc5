//! The map of a running demo planet: the world plus the addresses of its origins and edge
//! nodes. Everything a client needs to reach them through emulated links, whether the planet
//! runs in this process or in a `regionless demo` elsewhere on the machine.

use super::layout::DemoLayout;
use super::tls::{DemoTlsClient, Negotiated};
use super::DemoError;
use crate::probe::exchange::HttpConn;
use crate::probe::ProbeError;
use crate::wan::{Link, LinkSpec, Relay, RelayHandle};
use crate::world::{RttEstimate, RttSource, World};
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How a client talks to a node: plain HTTP, or HTTPS (TLS through the same emulated link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP (the nodes' `listen` ports).
    Http,
    /// HTTPS: the edges' `tls_listen` ports and the origins' TLS listeners.
    #[default]
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An edge node of the planet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeInfo {
    /// The region it runs in.
    pub region: String,
    /// Its plain-HTTP listener (loopback).
    pub http: SocketAddr,
    /// Its HTTPS listener (loopback), with the demo site's certificate.
    #[serde(default)]
    pub https: Option<SocketAddr>,
    /// Its admin listener (`/metrics`, `/healthz`, `/admin/v1/…`).
    pub admin: Option<SocketAddr>,
}

/// An origin (sample app) of the planet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginInfo {
    /// The name edges report in `x-origin` (`name@region`).
    pub name: String,
    /// The region it runs in.
    pub region: String,
    /// Where the app listens (loopback; no emulated link in front).
    pub addr: SocketAddr,
    /// Where it listens for HTTPS (the demo site's certificate), for clients that reach it
    /// directly; edges use plain HTTP, inside the provider's network.
    #[serde(default)]
    pub tls_addr: Option<SocketAddr>,
}

/// The addresses of a running planet, as saved in a running demo's state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanetAddrs {
    /// The site's host name (sent as `Host`).
    pub site_host: String,
    /// Bearer token of every edge's admin API.
    pub admin_token: String,
    /// Edge nodes, in layout order.
    pub edges: Vec<EdgeInfo>,
    /// Origins, in layout order (the first is the direct column's origin).
    pub origins: Vec<OriginInfo>,
    /// The demo's throwaway CA certificate (PEM): what a client must trust for HTTPS.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// Where a client's request enters the planet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entrance {
    /// The edge nearest the client by the world's RTT: anycast, as a CDN's shared address.
    Anycast,
    /// The edge in this region, wherever the client is.
    Edge(String),
    /// The origin in this region, with no edge in between.
    Origin(String),
}

/// The far end of a client's link: which node, where, and the RTT to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The region of the node reached.
    pub region: String,
    /// Its listener for `scheme`.
    pub addr: SocketAddr,
    /// Plain HTTP or HTTPS.
    pub scheme: Scheme,
    /// True for an edge node, false for an origin.
    pub edge: bool,
    /// RTT from the client to it.
    pub rtt: RttEstimate,
}

/// A world with a demo layout, and the addresses of its running nodes.
#[derive(Debug, Clone)]
pub struct PlanetMap {
    world: Arc<World>,
    layout: DemoLayout,
    addrs: PlanetAddrs,
    tls: Option<DemoTlsClient>,
}

impl PlanetMap {
    /// Pairs a world with the addresses of its nodes. `label` names the world in errors.
    /// Fails when the world has no demo layout, or `addrs.ca_pem` is not a certificate.
    pub fn new(world: World, addrs: PlanetAddrs, label: &str) -> Result<PlanetMap, DemoError> {
        let layout = world
            .demo()
            .cloned()
            .ok_or_else(|| DemoError::NoLayout(label.to_owned()))?;
        let tls = match &addrs.ca_pem {
            Some(pem) => Some(DemoTlsClient::new(pem, &addrs.site_host)?),
            None => None,
        };
        Ok(PlanetMap {
            world: Arc::new(world),
            layout,
            addrs,
            tls,
        })
    }

    /// The same map with these edges (the planet learns their addresses as they start).
    pub(crate) fn with_edges(mut self, edges: Vec<EdgeInfo>) -> PlanetMap {
        self.addrs.edges = edges;
        self
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Which regions run what.
    pub fn layout(&self) -> &DemoLayout {
        &self.layout
    }

    /// The nodes' addresses.
    pub fn addrs(&self) -> &PlanetAddrs {
        &self.addrs
    }

    /// The edge node in `region`.
    pub fn edge(&self, region: &str) -> Option<&EdgeInfo> {
        self.addrs.edges.iter().find(|e| e.region == region)
    }

    /// The origin in `region`.
    pub fn origin(&self, region: &str) -> Option<&OriginInfo> {
        self.addrs.origins.iter().find(|o| o.region == region)
    }

    /// The entrance a URL authority names: the site host (any port) is anycast, an edge's or
    /// an origin's listener address for `scheme` is that node.
    pub fn entrance_for(&self, host: &str, port: Option<u16>, scheme: Scheme) -> Option<Entrance> {
        if host.eq_ignore_ascii_case(&self.addrs.site_host) {
            return Some(Entrance::Anycast);
        }
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let addr = Some(SocketAddr::new(ip, port.unwrap_or(default_port)));
        let edge_addr = |e: &EdgeInfo| match scheme {
            Scheme::Http => Some(e.http),
            Scheme::Https => e.https,
        };
        let origin_addr = |o: &OriginInfo| match scheme {
            Scheme::Http => Some(o.addr),
            Scheme::Https => o.tls_addr,
        };
        if let Some(e) = self.addrs.edges.iter().find(|e| edge_addr(e) == addr) {
            return Some(Entrance::Edge(e.region.clone()));
        }
        self.addrs
            .origins
            .iter()
            .find(|o| origin_addr(o) == addr)
            .map(|o| Entrance::Origin(o.region.clone()))
    }

    /// Where `client` (a place name) lands through `entrance`, speaking `scheme`.
    pub fn resolve(
        &self,
        client: &str,
        entrance: &Entrance,
        scheme: Scheme,
    ) -> Result<Hop, DemoError> {
        let missing = |what: &str, region: &str| {
            DemoError::UnknownPlace(crate::error::UnknownPlace(format!("{what} in {region}")))
        };
        let edge_addr = |e: &EdgeInfo| match scheme {
            Scheme::Http => Ok(e.http),
            Scheme::Https => e
                .https
                .ok_or_else(|| missing("HTTPS listener of the edge", &e.region)),
        };
        match entrance {
            Entrance::Anycast => {
                let regions = self.addrs.edges.iter().map(|e| e.region.as_str());
                let (place, rtt) = self
                    .world
                    .nearest(client, regions)?
                    .ok_or_else(|| missing("edge", "any region"))?;
                let edge = self
                    .edge(place.name())
                    .ok_or_else(|| missing("edge", place.name()))?;
                Ok(Hop {
                    region: edge.region.clone(),
                    addr: edge_addr(edge)?,
                    scheme,
                    edge: true,
                    rtt,
                })
            }
            Entrance::Edge(region) => {
                let edge = self.edge(region).ok_or_else(|| missing("edge", region))?;
                Ok(Hop {
                    region: region.clone(),
                    addr: edge_addr(edge)?,
                    scheme,
                    edge: true,
                    rtt: self.world.rtt(client, region)?,
                })
            }
            Entrance::Origin(region) => {
                let origin = self
                    .origin(region)
                    .ok_or_else(|| missing("origin", region))?;
                let addr = match scheme {
                    Scheme::Http => origin.addr,
                    Scheme::Https => origin
                        .tls_addr
                        .ok_or_else(|| missing("HTTPS listener of the origin", region))?,
                };
                Ok(Hop {
                    region: region.clone(),
                    addr,
                    scheme,
                    edge: false,
                    rtt: self.world.rtt(client, region)?,
                })
            }
        }
    }

    /// Starts an emulated link from `client` through `entrance` (a relay on loopback) to the
    /// node's listener for `scheme`. Fails for HTTPS when the map has no CA to trust.
    pub async fn link(
        &self,
        client: &str,
        entrance: &Entrance,
        scheme: Scheme,
    ) -> Result<ClientLink, DemoError> {
        let hop = self.resolve(client, entrance, scheme)?;
        let tls = match scheme {
            Scheme::Http => None,
            Scheme::Https => {
                Some(
                    self.tls.clone().ok_or_else(|| ProbeError::Tls {
                        host: self.addrs.site_host.clone(),
                        message: "this demo published no CA certificate to trust (an older demo?)"
                            .to_owned(),
                    })?,
                )
            }
        };
        let place = self.world.place(client)?;
        let link = self.world.link(client, &hop.region)?;
        let relay =
            Relay::new(hop.addr, link)
                .start()
                .await
                .map_err(|source| DemoError::Start {
                    what: format!("link {client} -> {}", hop.region),
                    source,
                })?;
        Ok(ClientLink {
            client: client.to_owned(),
            country: place.country().to_owned(),
            hop,
            relay,
            tls,
        })
    }

    /// RTT between two regions as the planet's backbone links carry it: the world's RTT, or
    /// the layout's `colocated_rtt_ms` within one region.
    pub fn backbone_rtt(&self, a: &str, b: &str) -> Result<RttEstimate, DemoError> {
        if a == b {
            return Ok(RttEstimate {
                ms: self.layout.colocated_rtt_ms,
                source: RttSource::Model,
            });
        }
        Ok(self.world.rtt(a, b)?)
    }

    /// The emulated link from an edge in `edge` to an origin in `origin`.
    pub fn backbone_link(&self, edge: &str, origin: &str) -> Result<Link, DemoError> {
        let rtt = self.backbone_rtt(edge, origin)?;
        Ok(Link::symmetric(LinkSpec {
            one_way: rtt.one_way(),
            ..self.world.link_template().clone()
        }))
    }

    /// The speed-of-light floor in ms for `client` to get content from `origin`, through the
    /// edge in `edge` if given: the fibre great-circle RTT of each leg, summed.
    pub fn floor_ms(
        &self,
        client: &str,
        edge: Option<&str>,
        origin: &str,
    ) -> Result<f64, DemoError> {
        Ok(match edge {
            Some(e) => self.world.floor_rtt_ms(client, e)? + self.world.floor_rtt_ms(e, origin)?,
            None => self.world.floor_rtt_ms(client, origin)?,
        })
    }
}

/// A client's emulated link into the planet: a relay that delays both directions by the
/// world's RTT between the client's place and the node it reaches. Dropping it closes the
/// link and every connection on it.
#[derive(Debug)]
pub struct ClientLink {
    /// The client place.
    pub client: String,
    /// The client's country (what the emulated front puts in `CF-IPCountry`).
    pub country: String,
    /// The node reached.
    pub hop: Hop,
    relay: RelayHandle,
    tls: Option<DemoTlsClient>,
}

/// A connection opened through a client link, ready for requests, and what opening it took.
#[derive(Debug)]
pub struct Opened {
    /// HTTP/1.1 over the link (over TLS for an HTTPS link).
    pub conn: HttpConn,
    /// The emulated TCP handshake.
    pub connect: Duration,
    /// The TLS handshake through the link, and what it negotiated (HTTPS only).
    pub tls: Option<(Duration, Negotiated)>,
}

impl ClientLink {
    /// Where to connect to use this link (any client, e.g. curl, gets the emulated delays;
    /// its first request on a new connection also pays the emulated handshake).
    pub fn addr(&self) -> SocketAddr {
        self.relay.local_addr()
    }

    /// The emulated dialer: connects and returns once the emulated handshake (one RTT) is
    /// done, so timing this call gives the connect time.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        self.relay.connect().await
    }

    /// Connects through the link ([`ClientLink::connect`], timed) and, for HTTPS, does the
    /// TLS handshake through it (timed separately: it crosses the emulated link, so it costs
    /// a round trip), then starts HTTP/1.1 on the connection.
    pub async fn open(&self) -> Result<Opened, DemoError> {
        let started = Instant::now();
        let stream = self.connect().await.map_err(|source| ProbeError::Connect {
            addr: format!("{} -> {}", self.client, self.hop.region),
            source,
        })?;
        let connect = started.elapsed();
        Ok(match &self.tls {
            None => Opened {
                conn: HttpConn::handshake(stream).await?,
                connect,
                tls: None,
            },
            Some(client) => {
                let (stream, took, negotiated) = client.handshake(stream).await?;
                Opened {
                    conn: HttpConn::handshake(stream).await?,
                    connect,
                    tls: Some((took, negotiated)),
                }
            }
        })
    }

    /// The link's round-trip propagation delay.
    pub fn rtt(&self) -> Duration {
        self.relay.link().rtt()
    }
}
