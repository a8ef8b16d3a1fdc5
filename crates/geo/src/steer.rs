//! Steering: which origins a request tries, in which order.
//!
//! [`rank`] turns a policy, the client's country and the origin pool into an attempt order.
//! It is a pure function of its inputs (plus the caller's random generator, for weighted
//! shuffles), runs on every request of a multi-origin site, and allocates only the order it
//! returns (up to 8 origins).
//!
//! The order is built from, most significant first:
//! 1. availability: origins that are ejected or busy go after all available ones, keeping
//!    their relative order, so when everything is down we still try in a sensible order;
//! 2. tier: primaries before backups (each tier ranked by the same policy);
//! 3. drained: weight-0 origins after every weighted origin of their tier ("last resort");
//! 4. the policy's order (region target and distance, latency, or the given order);
//! 5. within one region, a weighted random order (Efraimidis–Spirakis); weight-0 origins
//!    keep their given order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Instant;

use rand::Rng;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::country::{Continent, Country, CountryCode};
use crate::health::OriginHealth;
use crate::region::Region;

/// How a site orders its origins.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// Country → region map (with continent fallback); the mapped region's origins first,
    /// then the rest by distance. Countries with no mapping are ranked by proximity.
    Geo(GeoMap),
    /// Regions by great-circle distance from the client.
    Proximity,
    /// Origins by EWMA time to first byte; proximity until every primary has
    /// `warmup_samples` samples.
    Latency {
        /// Samples each available, weighted primary needs before latency ranking applies.
        warmup_samples: u32,
    },
    /// The pool's configured order.
    Failover,
}

/// Explicit routing for the geo policy. Region names are not checked here; a name with no
/// origins in the pool simply puts nobody first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoMap {
    /// Country → region, e.g. `CN = "us-west"`. Wins over the continent map.
    #[serde(default)]
    pub countries: HashMap<CountryCode, String>,
    /// Continent → region, the fallback for countries not listed above.
    #[serde(default)]
    pub continents: HashMap<Continent, String>,
}

impl GeoMap {
    /// The region mapped for `country`: its own entry, else its continent's, else `None`.
    pub fn region_for(&self, country: &Country) -> Option<&str> {
        self.countries
            .get(&country.code)
            .or_else(|| self.continents.get(&country.continent))
            .map(String::as_str)
    }

    /// True when the map routes nothing.
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.continents.is_empty()
    }
}

/// One origin as steering sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The region the origin lives in.
    pub region: &'a Region,
    /// Relative share of traffic within its region; 0 means "only as a last resort".
    pub weight: u32,
    /// Backups are tried only after every primary.
    pub backup: bool,
    /// Live health and latency.
    pub health: &'a OriginHealth,
    /// The distance from [`client_point`] to `region`, when the caller has it at hand (from
    /// [`Region::km_by_country`], or the default region's distance); computed here otherwise.
    pub distance_km: Option<f64>,
}

/// Where distances are measured from: the client country's point, or the default region's
/// coordinates when the country is unknown.
pub fn client_point(client: Option<&Country>, default_region: &Region) -> (f64, f64) {
    match client {
        Some(c) => (c.lat, c.lon),
        None => (default_region.lat, default_region.lon),
    }
}

/// The attempt order: indices into `candidates`, each exactly once.
///
/// See the module docs for the layering. Policy specifics:
/// - `Proximity`: regions by distance from [`client_point`], ties by region name.
/// - `Geo`: the target region is the country's mapping, else its continent's; an unknown
///   client targets `default_region`. The target's origins come first, then the others by
///   distance from the client point. A known country with no mapping ranks by proximity.
/// - `Latency`: by EWMA time to first byte, origins without one last. While any primary that
///   is available and weighted has fewer than `warmup_samples` samples, the whole ranking is
///   `Proximity` (ejected and drained origins get no traffic to warm up with, so they do not
///   hold the switch back).
/// - `Failover`: the given order.
pub fn rank(
    policy: &Policy,
    client: Option<&Country>,
    default_region: &Region,
    candidates: &[Candidate<'_>],
    now: Instant,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let (lat, lon) = client_point(client, default_region);
    let mode = match policy {
        Policy::Geo(map) => Mode::Distance {
            target: match client {
                Some(country) => map.region_for(country),
                None => Some(default_region.name.as_str()),
            },
        },
        Policy::Proximity => Mode::Distance { target: None },
        Policy::Latency { warmup_samples } => {
            let warming = candidates.iter().any(|c| {
                !c.backup
                    && c.weight > 0
                    && c.health.is_available(now)
                    && c.health.samples() < u64::from(*warmup_samples)
            });
            if warming {
                Mode::Distance { target: None }
            } else {
                Mode::Latency
            }
        }
        Policy::Failover => Mode::Given,
    };

    // Inline up to 8 origins: this runs on every request of a multi-origin site.
    let mut keys: SmallVec<[Key<'_>; 8]> = candidates
        .iter()
        .enumerate()
        .map(|(idx, c)| {
            let (off_target, policy_key, region) = match mode {
                Mode::Distance { target } => (
                    target != Some(c.region.name.as_str()),
                    c.distance_km
                        .unwrap_or_else(|| c.region.distance_km(lat, lon)),
                    c.region.name.as_str(),
                ),
                Mode::Latency => (
                    false,
                    c.health
                        .ewma_ttfb()
                        .map_or(f64::INFINITY, |d| d.as_secs_f64()),
                    "",
                ),
                Mode::Given => (false, idx as f64, ""),
            };
            // Weight-0 origins keep their given order; weighted ones get their random key
            // below, and only if they share a place with another origin.
            let within = if c.weight == 0 { idx as f64 } else { 0.0 };
            Key {
                unavailable: !c.health.is_available(now),
                backup: c.backup,
                drained: c.weight == 0,
                off_target,
                policy_key,
                region,
                within,
                weight: c.weight,
                idx,
            }
        })
        .collect();
    keys.sort_by(Key::cmp);
    // The weighted shuffle only orders origins that tie on everything before it (several
    // origins in one region); most pools have none, and skip the random draws.
    if keys.windows(2).any(|w| Key::same_place(&w[0], &w[1])) {
        for k in keys.iter_mut().filter(|k| k.weight > 0) {
            // An exponential variate with rate `weight`: sorting these ascending is the
            // Efraimidis–Spirakis weighted shuffle (u^(1/w) descending), in log space.
            let u: f64 = rng.gen();
            k.within = -(1.0 - u).ln() / f64::from(k.weight);
        }
        keys.sort_by(Key::cmp);
    }
    keys.into_iter().map(|k| k.idx).collect()
}

#[derive(Clone, Copy)]
enum Mode<'m> {
    Distance { target: Option<&'m str> },
    Latency,
    Given,
}

struct Key<'r> {
    unavailable: bool,
    backup: bool,
    drained: bool,
    off_target: bool,
    policy_key: f64,
    region: &'r str,
    within: f64,
    weight: u32,
    idx: usize,
}

impl Key<'_> {
    /// Equal in everything the order is decided by before the weighted shuffle.
    fn place(a: &Self, b: &Self) -> Ordering {
        a.unavailable
            .cmp(&b.unavailable)
            .then(a.backup.cmp(&b.backup))
            .then(a.drained.cmp(&b.drained))
            .then(a.off_target.cmp(&b.off_target))
            .then(a.policy_key.total_cmp(&b.policy_key))
            .then_with(|| a.region.cmp(b.region))
    }

    fn same_place(a: &Self, b: &Self) -> bool {
        Key::place(a, b) == Ordering::Equal
    }

    fn cmp(a: &Self, b: &Self) -> Ordering {
        Key::place(a, b)
            .then(a.within.total_cmp(&b.within))
            .then(a.idx.cmp(&b.idx))
    }
}
