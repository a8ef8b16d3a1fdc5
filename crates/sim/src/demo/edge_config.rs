//! The generated config of one demo edge node: the region it runs in, the demo site with a
//! geo policy, and every origin reached through its emulated backbone link.

use super::layout::DemoLayout;
use crate::place::PlaceKind;
use crate::world::World;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// The country header the emulated front sets and every demo edge trusts from loopback.
pub const COUNTRY_HEADER: &str = "CF-IPCountry";

/// An origin as one edge sees it: its name and region, and the address of the relay that
/// carries this edge's connections to it.
#[derive(Debug, Clone)]
pub struct OriginRoute {
    /// Origin name (`x-origin: name@region`).
    pub name: String,
    /// Origin region.
    pub region: String,
    /// The relay's listener.
    pub via: SocketAddr,
}

/// The demo site's certificate and key files (PEM), as paths in the config.
#[derive(Debug, Clone, Copy)]
pub struct SiteTlsFiles<'a> {
    /// `[sites.tls] cert`.
    pub cert: &'a str,
    /// `[sites.tls] key`.
    pub key: &'a str,
}

/// A TOML string literal (quotes and escapes as TOML needs them).
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The config of the edge node in `region`. Listeners on free loopback ports (plain HTTP,
/// and HTTPS with the site's certificate when `tls` is given), one serving thread, access log off (the demo
/// would drown in it), loopback trusted for `CF-IPCountry`, every world region declared under
/// `[[regions]]` (so custom worlds work and coordinates match the world's). Origins are
/// reached over plain HTTP: that leg stays inside the provider's network.
#[allow(clippy::too_many_arguments)] // each is one independent part of the generated file
pub fn edge_toml(
    region: &str,
    world: &World,
    layout: &DemoLayout,
    site_host: &str,
    origins: &[OriginRoute],
    admin_token: &str,
    tls: Option<SiteTlsFiles<'_>>,
    purge_peers: &[std::net::SocketAddr],
) -> String {
    let mut t = String::new();
    // Writing to a String cannot fail; `let _` keeps that from needing an unwrap.
    let _ = write!(
        t,
        r#"[node]
region = {region}
listen = ["127.0.0.1:0"]{tls_listen}
admin_listen = "127.0.0.1:0"
admin_token = {token}
access_log = "off"
shutdown_grace = "2s"
# Every region's node runs in this one process: one serving thread each is plenty.
workers = 1

[client_location]
trusted_proxies = ["127.0.0.1/32"]
country_header = {header}

# One node per region, all in this process: tier 1 (memory) is each edge's cache. Purges
# are forwarded to the other edges through emulated backbone links.
[cache]
regional = "off"
memory = "64MiB"
peers = [{peers}]
"#,
        region = q(region),
        tls_listen = if tls.is_some() {
            "\ntls_listen = [\"127.0.0.1:0\"]"
        } else {
            ""
        },
        token = q(admin_token),
        header = q(COUNTRY_HEADER),
        peers = purge_peers
            .iter()
            .map(|a| q(&format!("http://{a}/")))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let catalog = regionless_geo::RegionCatalog::builtin();
    for place in world.places_of(PlaceKind::Region) {
        let city = catalog
            .get(place.name())
            .map_or(place.name(), |r| r.city.as_str());
        let _ = write!(
            t,
            "\n[[regions]]\nname = {}\ncity = {}\nlatitude = {}\nlongitude = {}\n",
            q(place.name()),
            q(city),
            place.lat(),
            place.lon()
        );
    }
    let _ = write!(
        t,
        "\n[[sites]]\nname = \"shop\"\nhosts = [{host}]\ndefault_region = {default}\npolicy = \"geo\"\n{tls}\n[sites.geo]\ncountries = {{ {geo} }}\n",
        host = q(site_host),
        tls = tls.map_or_else(String::new, |f| format!(
            "tls = {{ cert = {}, key = {} }}\n",
            q(f.cert),
            q(f.key)
        )),
        default = q(layout.direct_origin()),
        geo = layout
            .geo
            .iter()
            .map(|(country, region)| format!("{country} = {}", q(region)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for o in origins {
        let _ = write!(
            t,
            "\n[[sites.origins]]\nname = {}\nurl = {}\nregion = {}\nprotocol = \"http1\"\n",
            q(&o.name),
            q(&format!("http://{}", o.via)),
            q(&o.region)
        );
    }
    t
}

/// The name of the origin in `region`: its city for a built-in region (`frankfurt-1`), else
/// `{region}-app`. Kept to ASCII letters, digits and `-` so it is a valid header value.
pub fn origin_name(region: &str) -> String {
    let city = regionless_geo::RegionCatalog::builtin()
        .get(region)
        .map(|r| r.city.to_ascii_lowercase().replace(' ', "-"))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'));
    match city {
        Some(c) => format!("{c}-1"),
        None => format!("{region}-app"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_names() {
        assert_eq!(origin_name("eu-central"), "frankfurt-1");
        assert_eq!(origin_name("us-west"), "hillsboro-1");
        // São Paulo is not ASCII: fall back to the region.
        assert_eq!(origin_name("sa-east"), "sa-east-app");
        assert_eq!(origin_name("mars-1"), "mars-1-app");
    }
}
