//! What runs where in a demo world: which regions host the sample app (origins) and edge
//! nodes, the site's geo overrides, and the RTT between an edge and an origin that share a
//! region.

use crate::error::Problem;
use crate::place::PlaceKind;
use crate::world::World;
use std::collections::BTreeMap;

/// The host name of the demo site; every edge serves it and the probe sends it.
pub const SITE_HOST: &str = "shop.demo";

/// Default RTT between an edge and an origin in the same region, in ms: two data centres of
/// one metro. The distance model's last-mile term (fitted to pings between cities) would say
/// 9.5 ms, which no same-metro hop costs.
pub const DEFAULT_COLOCATED_RTT_MS: f64 = 1.0;

/// The roles of a world's region places in the demo. Invariants (checked when a world file is
/// read): `origins` and `edges` are non-empty, hold no duplicates and name region places;
/// every `geo` key is an assigned country code and every value one of `origins`;
/// `colocated_rtt_ms` is finite and ≥ 0.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoLayout {
    /// Regions that run the sample app. The first is the "single origin" that the demo's
    /// direct column measures against (Frankfurt in the built-in world).
    pub origins: Vec<String>,
    /// Regions that run one edge node each.
    pub edges: Vec<String>,
    /// Country code (uppercase) → origin region: the site's `[sites.geo] countries`.
    /// Countries not listed go to the nearest origin.
    pub geo: BTreeMap<String, String>,
    /// RTT in ms between an edge and an origin in the same region (see
    /// [`DEFAULT_COLOCATED_RTT_MS`]).
    pub colocated_rtt_ms: f64,
}

impl DemoLayout {
    /// The region whose origin the direct column measures against.
    pub fn direct_origin(&self) -> &str {
        // Non-empty by invariant; the empty string only for a hand-built invalid layout.
        self.origins.first().map_or("", String::as_str)
    }
}

/// Which part of a layout a problem is in, so a world file can point at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayoutField {
    /// The `origins` list as a whole, or its item `n`.
    Origins(Option<usize>),
    /// The `edges` list as a whole, or its item `n`.
    Edges(Option<usize>),
    /// The geo entry for this country key.
    Geo(String),
    /// `colocated_rtt_ms`.
    Colocated,
}

impl DemoLayout {
    /// Checks the invariants against `world`; the error says which field is wrong and how.
    pub(crate) fn check(&self, world: &World) -> Result<(), (LayoutField, Problem)> {
        check_list(world, &self.origins, "origins", LayoutField::Origins)?;
        check_list(world, &self.edges, "edges", LayoutField::Edges)?;
        for (country, region) in &self.geo {
            let field = || LayoutField::Geo(country.clone());
            if regionless_geo::country_by_str(country).is_none() {
                return Err((field(), Problem::UnknownCountry(country.clone())));
            }
            if !self.origins.contains(region) {
                let problem = Problem::GeoNotAnOrigin {
                    country: country.clone(),
                    region: region.clone(),
                };
                return Err((field(), problem));
            }
        }
        let c = self.colocated_rtt_ms;
        if !(c.is_finite() && c >= 0.0) {
            let problem = Problem::BadParameter {
                name: "colocated_rtt_ms",
                value: c,
                expected: "a finite number >= 0",
            };
            return Err((LayoutField::Colocated, problem));
        }
        Ok(())
    }
}

fn check_list(
    world: &World,
    list: &[String],
    name: &'static str,
    field: fn(Option<usize>) -> LayoutField,
) -> Result<(), (LayoutField, Problem)> {
    if list.is_empty() {
        return Err((field(None), Problem::EmptyList(name)));
    }
    for (i, region) in list.iter().enumerate() {
        let is_region = world
            .place(region)
            .is_ok_and(|p| p.kind() == PlaceKind::Region);
        if !is_region {
            return Err((field(Some(i)), Problem::NotARegion(region.clone())));
        }
        if list[..i].contains(region) {
            return Err((field(Some(i)), Problem::ListedTwice(region.clone())));
        }
    }
    Ok(())
}
