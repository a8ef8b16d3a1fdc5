//! Places of a simulated world: where edges/origins (regions) and users (clients) are.

use crate::error::Problem;
use serde::Deserialize;

/// What a place stands for in the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceKind {
    /// A data-centre location that can host edge nodes and origins.
    Region,
    /// A vantage point where users (and the probe) sit.
    Client,
}

impl PlaceKind {
    /// The lowercase name used in world files.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaceKind::Region => "region",
            PlaceKind::Client => "client",
        }
    }
}

/// A named point on the globe. Invariants (checked by [`Place::new`]): the name is non-empty and
/// trimmed, the country is two uppercase ASCII letters, latitude is in −90..=90 and longitude in
/// −180..=180.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    name: String,
    kind: PlaceKind,
    country: String,
    lat: f64,
    lon: f64,
}

impl Place {
    /// Validates and builds a place. The country code is upper-cased; any other problem is an
    /// error naming the first bad value (checked in the order name, country, latitude,
    /// longitude).
    pub fn new(
        name: &str,
        kind: PlaceKind,
        country: &str,
        lat: f64,
        lon: f64,
    ) -> Result<Place, Problem> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Problem::EmptyName);
        }
        let country = check_country(country)?;
        check_lat(lat)?;
        check_lon(lon)?;
        Ok(Place {
            name: name.to_owned(),
            kind,
            country,
            lat,
            lon,
        })
    }

    /// The unique name of the place within its world.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Region or client.
    pub fn kind(&self) -> PlaceKind {
        self.kind
    }

    /// ISO 3166-1 alpha-2 code, uppercase.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// Latitude in degrees, north positive.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, east positive.
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle distance to `other` in km.
    pub fn distance_km(&self, other: &Place) -> f64 {
        regionless_geo::great_circle_km(self.lat, self.lon, other.lat, other.lon)
    }
}

/// Two ASCII letters, returned uppercase. Whether the code is assigned is geo's business; this
/// only catches typos such as a city or a three-letter code.
pub(crate) fn check_country(country: &str) -> Result<String, Problem> {
    let c = country.trim();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c.to_ascii_uppercase())
    } else {
        Err(Problem::BadCountry(country.to_owned()))
    }
}

pub(crate) fn check_lat(lat: f64) -> Result<(), Problem> {
    if lat.is_finite() && (-90.0..=90.0).contains(&lat) {
        Ok(())
    } else {
        Err(Problem::LatitudeOutOfRange(lat))
    }
}

pub(crate) fn check_lon(lon: f64) -> Result<(), Problem> {
    if lon.is_finite() && (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(Problem::LongitudeOutOfRange(lon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_normalises_and_validates() {
        let p = Place::new(" Tokyo ", PlaceKind::Client, "jp", 35.7, 139.7).unwrap();
        assert_eq!((p.name(), p.country()), ("Tokyo", "JP"));
        assert_eq!(
            Place::new("x", PlaceKind::Client, "JPN", 0.0, 0.0),
            Err(Problem::BadCountry("JPN".into()))
        );
        assert_eq!(
            Place::new("x", PlaceKind::Client, "JP", 90.5, 0.0),
            Err(Problem::LatitudeOutOfRange(90.5))
        );
        assert!(matches!(
            Place::new("x", PlaceKind::Client, "JP", 0.0, f64::NAN),
            Err(Problem::LongitudeOutOfRange(_))
        ));
        assert_eq!(
            Place::new("  ", PlaceKind::Region, "DE", 0.0, 0.0),
            Err(Problem::EmptyName)
        );
    }
}
