//! Steering policies against the built-in regions and real country coordinates.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use regionless_geo::{
    country_by_str, rank, Candidate, Continent, Country, CountryCode, GeoMap, HealthConfig,
    OriginHealth, Policy, Region, RegionCatalog,
};

fn regions() -> RegionCatalog {
    RegionCatalog::builtin()
}

fn c(code: &str) -> Option<&'static Country> {
    Some(country_by_str(code).unwrap())
}

fn healthy() -> OriginHealth {
    OriginHealth::new(HealthConfig::default())
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

/// An origin pool description: (region, weight, backup).
struct Pool<'a> {
    specs: Vec<(&'a Region, u32, bool)>,
    health: Vec<OriginHealth>,
}

impl<'a> Pool<'a> {
    fn new(specs: Vec<(&'a Region, u32, bool)>) -> Self {
        let health = specs.iter().map(|_| healthy()).collect();
        Pool { specs, health }
    }

    fn candidates(&self) -> Vec<Candidate<'_>> {
        self.specs
            .iter()
            .zip(&self.health)
            .map(|(&(region, weight, backup), health)| Candidate {
                region,
                weight,
                backup,
                health,
                distance_km: None,
            })
            .collect()
    }

    fn rank(&self, policy: &Policy, client: Option<&Country>, default: &Region) -> Vec<usize> {
        let order = rank(
            policy,
            client,
            default,
            &self.candidates(),
            Instant::now(),
            &mut rng(),
        );
        assert_is_permutation(&order, self.specs.len());
        order
    }

    fn first_region(&self, policy: &Policy, client: Option<&Country>, default: &Region) -> String {
        let order = self.rank(policy, client, default);
        self.specs[order[0]].0.name.clone()
    }
}

fn assert_is_permutation(order: &[usize], n: usize) {
    let mut seen = order.to_vec();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..n).collect::<Vec<_>>(),
        "every candidate exactly once"
    );
}

fn cn_override() -> GeoMap {
    GeoMap {
        countries: HashMap::from([(CountryCode::parse("CN").unwrap(), "us-west".to_owned())]),
        continents: HashMap::from([
            (Continent::EU, "eu-central".to_owned()),
            (Continent::AS, "eu-central".to_owned()),
            (Continent::NA, "us-west".to_owned()),
        ]),
    }
}

#[test]
fn proximity_frankfurt_and_hillsboro() {
    let cat = regions();
    let (fra, hil) = (cat.get("eu-central").unwrap(), cat.get("us-west").unwrap());
    let pool = Pool::new(vec![(fra, 1, false), (hil, 1, false)]);
    let p = Policy::Proximity;
    assert_eq!(pool.first_region(&p, c("JP"), fra), "us-west");
    assert_eq!(pool.first_region(&p, c("US"), fra), "us-west");
    assert_eq!(pool.first_region(&p, c("DE"), hil), "eu-central");
    assert_eq!(pool.first_region(&p, c("RU"), hil), "eu-central");
    // São Paulo is ~1000 km nearer Frankfurt than Hillsboro.
    assert_eq!(pool.first_region(&p, c("BR"), hil), "eu-central");
    assert_eq!(pool.first_region(&p, c("IN"), hil), "eu-central");
    // Unknown client: measured from the default region.
    assert_eq!(pool.first_region(&p, None, fra), "eu-central");
    assert_eq!(pool.first_region(&p, None, hil), "us-west");
}

#[test]
fn proximity_orders_all_regions_by_distance() {
    let cat = regions();
    let names = [
        "eu-central",
        "ap-northeast",
        "us-east",
        "ap-southeast-2",
        "sa-east",
    ];
    let pool = Pool::new(
        names
            .iter()
            .map(|n| (cat.get(n).unwrap(), 1, false))
            .collect(),
    );
    let order = pool.rank(&Policy::Proximity, c("GB"), cat.get("us-east").unwrap());
    let got: Vec<&str> = order.iter().map(|&i| names[i]).collect();
    assert_eq!(
        got,
        [
            "eu-central",
            "us-east",
            "sa-east",
            "ap-northeast",
            "ap-southeast-2"
        ]
    );
}

#[test]
fn geo_policy_with_override() {
    let cat = regions();
    let (fra, hil) = (cat.get("eu-central").unwrap(), cat.get("us-west").unwrap());
    let pool = Pool::new(vec![(fra, 1, false), (hil, 1, false)]);
    let p = Policy::Geo(cn_override());
    assert_eq!(pool.first_region(&p, c("DE"), hil), "eu-central");
    assert_eq!(pool.first_region(&p, c("US"), fra), "us-west");
    // JP is in AS, which this map sends to eu-central even though us-west is nearer.
    assert_eq!(pool.first_region(&p, c("JP"), hil), "eu-central");
    // The country override beats the continent entry.
    assert_eq!(pool.first_region(&p, c("CN"), fra), "us-west");
    // Unknown country: the default region is the target.
    assert_eq!(pool.first_region(&p, None, fra), "eu-central");
    assert_eq!(pool.first_region(&p, None, hil), "us-west");
    // Unmapped continent (SA, OC): falls back to proximity.
    assert_eq!(pool.first_region(&p, c("BR"), hil), "eu-central");
    assert_eq!(pool.first_region(&p, c("AU"), fra), "us-west");
}

#[test]
fn geo_target_first_then_distance_from_client() {
    let cat = regions();
    let names = ["us-west", "ap-northeast", "eu-central", "ap-east"];
    let pool = Pool::new(
        names
            .iter()
            .map(|n| (cat.get(n).unwrap(), 1, false))
            .collect(),
    );
    let order = pool.rank(
        &Policy::Geo(cn_override()),
        c("CN"),
        cat.get("eu-central").unwrap(),
    );
    let got: Vec<&str> = order.iter().map(|&i| names[i]).collect();
    assert_eq!(got, ["us-west", "ap-east", "ap-northeast", "eu-central"]);
}

#[test]
fn geo_target_without_origins_falls_through_to_distance() {
    let cat = regions();
    let names = ["eu-central", "ap-northeast"];
    let pool = Pool::new(
        names
            .iter()
            .map(|n| (cat.get(n).unwrap(), 1, false))
            .collect(),
    );
    // CN → us-west, but no origin lives there: nearest first.
    let order = pool.rank(
        &Policy::Geo(cn_override()),
        c("CN"),
        cat.get("eu-central").unwrap(),
    );
    assert_eq!(names[order[0]], "ap-northeast");
}

#[test]
fn failover_keeps_the_given_order() {
    let cat = regions();
    let names = ["us-west", "eu-central", "ap-east"];
    let pool = Pool::new(
        names
            .iter()
            .map(|n| (cat.get(n).unwrap(), 1, false))
            .collect(),
    );
    let order = pool.rank(&Policy::Failover, c("DE"), cat.get("eu-central").unwrap());
    assert_eq!(order, [0, 1, 2]);
}

#[test]
fn backups_come_after_every_primary() {
    let cat = regions();
    let (fra, hil, tok) = (
        cat.get("eu-central").unwrap(),
        cat.get("us-west").unwrap(),
        cat.get("ap-northeast").unwrap(),
    );
    // The backup is in the client's own region; it still goes last among available ones.
    let pool = Pool::new(vec![
        (fra, 1, true),
        (hil, 1, false),
        (tok, 1, false),
        (fra, 1, true),
    ]);
    for p in [
        Policy::Proximity,
        Policy::Geo(cn_override()),
        Policy::Failover,
    ] {
        let order = pool.rank(&p, c("DE"), fra);
        let (head, tail) = order.split_at(2);
        assert!(head.iter().all(|&i| !pool.specs[i].2), "{p:?}: {order:?}");
        assert!(tail.iter().all(|&i| pool.specs[i].2), "{p:?}: {order:?}");
    }
    // Backups are ranked by the same policy among themselves.
    let pool = Pool::new(vec![(hil, 1, true), (fra, 1, true), (tok, 1, false)]);
    assert_eq!(pool.rank(&Policy::Proximity, c("FR"), fra), [2, 1, 0]);
    assert_eq!(pool.rank(&Policy::Failover, c("FR"), fra), [2, 0, 1]);
}

#[test]
fn unavailable_origins_go_last_in_their_relative_order() {
    let cat = regions();
    let (fra, hil, tok) = (
        cat.get("eu-central").unwrap(),
        cat.get("us-west").unwrap(),
        cat.get("ap-northeast").unwrap(),
    );
    let pool = Pool::new(vec![
        (fra, 1, false),
        (hil, 1, false),
        (tok, 1, false),
        (fra, 1, true),
    ]);
    // Eject the nearest (Frankfurt) and make the backup busy.
    for _ in 0..5 {
        pool.health[0].record_failure();
    }
    pool.health[3].mark_busy(Instant::now() + Duration::from_secs(60));
    let order = pool.rank(&Policy::Proximity, c("DE"), fra);
    // Available: us-west, ap-northeast (by distance from DE). Then unavailable in the order
    // the policy would have used: eu-central primary, then the backup.
    assert_eq!(order, [1, 2, 0, 3]);
    // Everything down: still a full, sensible order rather than nothing.
    for h in &pool.health[1..3] {
        for _ in 0..5 {
            h.record_failure();
        }
    }
    assert_eq!(pool.rank(&Policy::Proximity, c("DE"), fra), [0, 1, 2, 3]);
}

#[test]
fn weights_split_traffic_within_a_region() {
    let cat = regions();
    let fra = cat.get("eu-central").unwrap();
    let hil = cat.get("us-west").unwrap();
    let pool = Pool::new(vec![(fra, 3, false), (fra, 1, false), (hil, 10, false)]);
    let cands = pool.candidates();
    let mut rng = StdRng::seed_from_u64(42);
    let mut first = [0u32; 3];
    let n = 20_000;
    for _ in 0..n {
        let order = rank(
            &Policy::Proximity,
            c("DE"),
            fra,
            &cands,
            Instant::now(),
            &mut rng,
        );
        first[order[0]] += 1;
        assert_eq!(
            order[2], 2,
            "the other region never jumps ahead, whatever its weight"
        );
    }
    let share = f64::from(first[0]) / f64::from(n);
    assert!(
        (0.72..0.78).contains(&share),
        "weight 3 of 4 → ~75 %, got {share}"
    );
    assert_eq!(first[2], 0);
}

#[test]
fn equal_weights_are_a_fair_shuffle() {
    let cat = regions();
    let fra = cat.get("eu-central").unwrap();
    let pool = Pool::new(vec![(fra, 5, false), (fra, 5, false), (fra, 5, false)]);
    let cands = pool.candidates();
    let mut rng = StdRng::seed_from_u64(1);
    let mut first = [0u32; 3];
    for _ in 0..30_000 {
        first[rank(
            &Policy::Proximity,
            None,
            fra,
            &cands,
            Instant::now(),
            &mut rng,
        )[0]] += 1;
    }
    for f in first {
        assert!((9_000..11_000).contains(&f), "{first:?}");
    }
}

#[test]
fn weight_zero_is_a_last_resort() {
    let cat = regions();
    let (fra, hil) = (cat.get("eu-central").unwrap(), cat.get("us-west").unwrap());
    // A drained origin in the client's own region goes after weighted origins anywhere, but
    // before backups.
    let pool = Pool::new(vec![
        (fra, 0, false),
        (hil, 1, false),
        (fra, 1, true),
        (fra, 1, false),
    ]);
    let cands = pool.candidates();
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..200 {
        let order = rank(
            &Policy::Proximity,
            c("DE"),
            fra,
            &cands,
            Instant::now(),
            &mut rng,
        );
        assert_eq!(order, [3, 1, 0, 2]);
    }
    // Several drained origins keep their given order.
    let pool = Pool::new(vec![(fra, 0, false), (fra, 0, false), (fra, 0, false)]);
    assert_eq!(pool.rank(&Policy::Proximity, c("DE"), fra), [0, 1, 2]);
}

#[test]
fn latency_orders_by_ewma_after_warmup() {
    let cat = regions();
    let (fra, hil, tok) = (
        cat.get("eu-central").unwrap(),
        cat.get("us-west").unwrap(),
        cat.get("ap-northeast").unwrap(),
    );
    let pool = Pool::new(vec![(fra, 1, false), (hil, 1, false), (tok, 1, false)]);
    let policy = Policy::Latency { warmup_samples: 3 };
    let ms = Duration::from_millis;
    // Warm-up: only Frankfurt and Hillsboro have samples → proximity for everyone.
    for _ in 0..5 {
        pool.health[0].record_success(ms(300));
        pool.health[1].record_success(ms(20));
    }
    pool.health[2].record_success(ms(50));
    pool.health[2].record_success(ms(50));
    assert_eq!(
        pool.rank(&policy, c("DE"), fra),
        [0, 1, 2],
        "proximity while warming"
    );
    // The third sample completes the warm-up (a probe counts too).
    pool.health[2].record_check(true, Some(ms(50)));
    assert_eq!(pool.rank(&policy, c("DE"), fra), [1, 2, 0], "fastest first");
}

#[test]
fn latency_warmup_ignores_ejected_and_drained_primaries_and_backups() {
    let cat = regions();
    let (fra, hil) = (cat.get("eu-central").unwrap(), cat.get("us-west").unwrap());
    let pool = Pool::new(vec![
        (fra, 1, false),
        (hil, 1, false),
        (hil, 1, false), // ejected, no samples
        (hil, 0, false), // drained, no samples
        (fra, 1, true),  // backup, no samples
    ]);
    let ms = Duration::from_millis;
    pool.health[0].record_success(ms(200));
    pool.health[1].record_success(ms(10));
    for _ in 0..5 {
        pool.health[2].record_failure();
    }
    let order = pool.rank(&Policy::Latency { warmup_samples: 1 }, c("DE"), fra);
    assert_eq!(order, [1, 0, 3, 4, 2]);
}

#[test]
fn latency_ties_and_missing_ewma() {
    let cat = regions();
    let fra = cat.get("eu-central").unwrap();
    let pool = Pool::new(vec![(fra, 1, false), (fra, 1, false)]);
    // warm-up 0: latency mode at once; nobody has an EWMA so the weighted shuffle decides.
    let order = pool.rank(&Policy::Latency { warmup_samples: 0 }, None, fra);
    assert_is_permutation(&order, 2);
}

#[test]
fn empty_pool_gives_empty_order() {
    let cat = regions();
    let fra = cat.get("eu-central").unwrap();
    for p in [
        Policy::Proximity,
        Policy::Failover,
        Policy::Geo(GeoMap::default()),
        Policy::Latency { warmup_samples: 5 },
    ] {
        assert!(rank(&p, None, fra, &[], Instant::now(), &mut rng()).is_empty());
    }
}

#[test]
fn geo_map_lookup_and_serde() {
    let map = cn_override();
    assert_eq!(map.region_for(c("CN").unwrap()), Some("us-west"));
    assert_eq!(map.region_for(c("JP").unwrap()), Some("eu-central"));
    assert_eq!(map.region_for(c("BR").unwrap()), None);
    assert!(GeoMap::default().is_empty());
    let parsed: GeoMap =
        serde_json::from_str(r#"{"countries":{"cn":"us-west"},"continents":{"eu":"eu-central"}}"#)
            .unwrap();
    assert_eq!(parsed.region_for(c("CN").unwrap()), Some("us-west"));
    assert_eq!(parsed.region_for(c("FR").unwrap()), Some("eu-central"));
}

/// Counts the random numbers it is asked for.
struct CountingRng {
    inner: StdRng,
    draws: usize,
}

impl rand::RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        self.draws += 1;
        self.inner.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.draws += 1;
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.draws += 1;
        self.inner.fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.draws += 1;
        self.inner.try_fill_bytes(dest)
    }
}

#[test]
fn the_weighted_shuffle_draws_only_for_origins_sharing_a_place() {
    let cat = regions();
    let (fra, hio) = (cat.get("eu-central").unwrap(), cat.get("us-west").unwrap());
    let mut counting = CountingRng {
        inner: rng(),
        draws: 0,
    };
    // One origin per region: the order is decided before any shuffle.
    let distinct = Pool::new(vec![(fra, 1, false), (hio, 1, false)]);
    let order = rank(
        &Policy::Proximity,
        c("DE"),
        fra,
        &distinct.candidates(),
        Instant::now(),
        &mut counting,
    );
    assert_eq!((order, counting.draws), (vec![0, 1], 0));
    // Two in one region: both get their weighted random key.
    let shared = Pool::new(vec![(hio, 1, false), (fra, 1, false), (fra, 3, false)]);
    let order = rank(
        &Policy::Proximity,
        c("DE"),
        fra,
        &shared.candidates(),
        Instant::now(),
        &mut counting,
    );
    assert_eq!(order[2], 0);
    assert_eq!(counting.draws, 3, "one draw per weighted origin");
}

#[test]
fn distances_computed_ahead_rank_exactly_as_computed_per_request() {
    let cat = regions();
    let names = ["eu-central", "us-west", "ap-northeast", "sa-east"];
    let tables: Vec<_> = names
        .iter()
        .map(|n| cat.get(n).unwrap().km_by_country())
        .collect();
    let pool = Pool::new(
        names
            .iter()
            .map(|n| (cat.get(n).unwrap(), 1, false))
            .collect(),
    );
    let default = cat.get("eu-central").unwrap();
    for country in regionless_geo::countries() {
        let index = regionless_geo::country_index(country.code).unwrap();
        let ahead: Vec<Candidate<'_>> = pool
            .candidates()
            .into_iter()
            .zip(&tables)
            .map(|(c, km)| Candidate {
                distance_km: Some(km[index]),
                ..c
            })
            .collect();
        let with_table = rank(
            &Policy::Proximity,
            Some(country),
            default,
            &ahead,
            Instant::now(),
            &mut rng(),
        );
        assert_eq!(
            with_table,
            pool.rank(&Policy::Proximity, Some(country), default),
            "{}",
            country.name
        );
    }
}
