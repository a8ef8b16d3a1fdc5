//! Regions (named places with coordinates) and the catalog that holds them.
//!
//! The catalog starts from the built-in cloud regions of DESIGN.md; configuration can add
//! regions or override a built-in one by name.

use serde::{Deserialize, Serialize};

use crate::distance::great_circle_km;

/// A named place where edge nodes and origins live, e.g. `eu-central` ≈ Frankfurt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Unique name within a catalog, e.g. `"us-west"`.
    pub name: String,
    /// Human-readable city, for display only (may be empty).
    #[serde(default)]
    pub city: String,
    /// Latitude in degrees, −90..=90.
    pub lat: f64,
    /// Longitude in degrees, −180..=180.
    pub lon: f64,
}

impl Region {
    /// Builds a region from its parts; does not validate (see [`Region::coordinates_valid`]).
    pub fn new(name: impl Into<String>, city: impl Into<String>, lat: f64, lon: f64) -> Region {
        Region {
            name: name.into(),
            city: city.into(),
            lat,
            lon,
        }
    }

    /// True when latitude and longitude are finite and within their ranges.
    pub fn coordinates_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }

    /// Great-circle distance in km from this region to a point given in degrees.
    pub fn distance_km(&self, lat: f64, lon: f64) -> f64 {
        great_circle_km(self.lat, self.lon, lat, lon)
    }

    /// [`Region::distance_km`] to every country's point, in [`crate::countries`] order
    /// (index with [`crate::country_index`]): computed once per origin when a config loads,
    /// so ranking a pool costs no trigonometry per request.
    pub fn km_by_country(&self) -> Box<[f64]> {
        crate::countries()
            .iter()
            .map(|c| self.distance_km(c.lat, c.lon))
            .collect()
    }
}

// (name, city, lat, lon) exactly as listed in DESIGN.md.
const BUILTIN: [(&str, &str, f64, f64); 15] = [
    ("us-west", "Hillsboro", 45.5, -123.0),
    ("us-central", "Dallas", 32.8, -96.8),
    ("us-east", "Ashburn", 39.0, -77.5),
    ("ca-central", "Montreal", 45.5, -73.6),
    ("sa-east", "São Paulo", -23.5, -46.6),
    ("eu-west", "Dublin", 53.3, -6.3),
    ("eu-central", "Frankfurt", 50.1, 8.7),
    ("eu-north", "Stockholm", 59.3, 18.1),
    ("me-central", "Dubai", 25.2, 55.3),
    ("af-south", "Johannesburg", -26.2, 28.0),
    ("ap-south", "Mumbai", 19.1, 72.9),
    ("ap-southeast", "Singapore", 1.35, 103.8),
    ("ap-east", "Hong Kong", 22.3, 114.2),
    ("ap-northeast", "Tokyo", 35.7, 139.7),
    ("ap-southeast-2", "Sydney", -33.9, 151.2),
];

/// A set of regions keyed by name, in insertion order.
///
/// Small by nature (tens of entries), so lookups scan a vector; that is faster than hashing
/// at this size and keeps iteration order stable for display.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegionCatalog {
    regions: Vec<Region>,
}

impl RegionCatalog {
    /// A catalog holding exactly the 15 built-in regions of DESIGN.md.
    pub fn builtin() -> Self {
        RegionCatalog {
            regions: BUILTIN
                .iter()
                .map(|&(name, city, lat, lon)| Region::new(name, city, lat, lon))
                .collect(),
        }
    }

    /// Adds `region`, or replaces the existing region with the same name in place (keeping its
    /// position). Returns the region it replaced, if any.
    pub fn insert(&mut self, region: Region) -> Option<Region> {
        match self.regions.iter_mut().find(|r| r.name == region.name) {
            Some(slot) => Some(std::mem::replace(slot, region)),
            None => {
                self.regions.push(region);
                None
            }
        }
    }

    /// The region called `name` (exact, case-sensitive match).
    pub fn get(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// True when a region called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All regions: built-ins first in DESIGN.md order, then additions in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter()
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// True when the catalog holds no region.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Of the regions named in `candidates`, the one nearest to (`lat`, `lon`).
    ///
    /// Names not in the catalog are skipped; `None` when no candidate is known. Ties go to
    /// the candidate listed first, so the answer is deterministic.
    pub fn nearest<'c>(
        &self,
        lat: f64,
        lon: f64,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Option<&Region> {
        let mut best: Option<(&Region, f64)> = None;
        for region in candidates.into_iter().filter_map(|name| self.get(name)) {
            let d = region.distance_km(lat, lon);
            if best.is_none_or(|(_, bd)| d < bd) {
                best = Some((region, d));
            }
        }
        best.map(|(r, _)| r)
    }
}

impl<'a> IntoIterator for &'a RegionCatalog {
    type Item = &'a Region;
    type IntoIter = std::slice::Iter<'a, Region>;

    fn into_iter(self) -> Self::IntoIter {
        self.regions.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matches_design_md() {
        let cat = RegionCatalog::builtin();
        assert_eq!(cat.len(), 15);
        let fra = cat.get("eu-central").unwrap();
        assert_eq!(
            (fra.city.as_str(), fra.lat, fra.lon),
            ("Frankfurt", 50.1, 8.7)
        );
        let sin = cat.get("ap-southeast").unwrap();
        assert_eq!((sin.lat, sin.lon), (1.35, 103.8));
        assert_eq!(cat.get("us-west").unwrap().lon, -123.0);
        assert!(cat.iter().all(Region::coordinates_valid));
        let mut names: Vec<_> = cat.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 15, "names are unique");
    }

    #[test]
    fn insert_adds_or_overrides_by_name() {
        let mut cat = RegionCatalog::builtin();
        let old = cat.insert(Region::new("eu-central", "Frankfurt-2", 50.0, 8.6));
        assert_eq!(old.unwrap().city, "Frankfurt");
        assert_eq!(cat.len(), 15);
        assert_eq!(cat.get("eu-central").unwrap().city, "Frankfurt-2");
        assert_eq!(
            cat.iter().nth(6).unwrap().name,
            "eu-central",
            "position kept"
        );
        assert!(cat
            .insert(Region::new("home-lab", "Berlin", 52.5, 13.4))
            .is_none());
        assert_eq!(cat.len(), 16);
        assert!(cat.contains("home-lab"));
        assert_eq!((&cat).into_iter().last().unwrap().name, "home-lab");
        assert!(RegionCatalog::default().is_empty());
    }

    #[test]
    fn nearest_among_candidates() {
        let cat = RegionCatalog::builtin();
        // Tokyo client: of Frankfurt and Hillsboro, Hillsboro is nearer.
        let r = cat
            .nearest(35.68, 139.69, ["eu-central", "us-west"])
            .unwrap();
        assert_eq!(r.name, "us-west");
        // Paris client.
        let r = cat
            .nearest(48.86, 2.35, ["us-west", "eu-central", "unknown"])
            .unwrap();
        assert_eq!(r.name, "eu-central");
        assert!(cat.nearest(0.0, 0.0, ["nope"]).is_none());
        assert!(cat.nearest(0.0, 0.0, Vec::<&str>::new()).is_none());
        // Same place twice: the first listed wins.
        let mut cat2 = cat.clone();
        cat2.insert(Region::new("fra-2", "Frankfurt", 50.1, 8.7));
        let r = cat2.nearest(50.0, 8.0, ["fra-2", "eu-central"]).unwrap();
        assert_eq!(r.name, "fra-2");
    }

    #[test]
    fn validation_and_serde() {
        assert!(!Region::new("x", "", 91.0, 0.0).coordinates_valid());
        assert!(!Region::new("x", "", 0.0, f64::NAN).coordinates_valid());
        let r: Region = serde_json::from_str(r#"{"name":"lab","lat":1.5,"lon":2.5}"#).unwrap();
        assert_eq!(r, Region::new("lab", "", 1.5, 2.5));
    }
}
