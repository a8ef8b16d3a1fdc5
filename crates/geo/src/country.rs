//! Countries: ISO 3166-1 alpha-2 codes, continents and the built-in country table.
//!
//! The table itself lives in `countries_data.rs` (see its header for where the data comes
//! from). Everything here is an in-memory lookup; nothing does I/O.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::countries_data::COUNTRIES;

/// A continent, with the two-letter codes used by GeoNames and MaxMind.
///
/// Serialises as its two-letter code (`"EU"`); deserialises from it case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Continent {
    /// Africa.
    AF,
    /// Antarctica (also the sub-Antarctic islands: BV, GS, HM, TF).
    AN,
    /// Asia (including the Middle East, the Caucasus and Turkey).
    AS,
    /// Europe (including Russia and Cyprus).
    EU,
    /// North America (including Central America and the Caribbean).
    NA,
    /// Oceania.
    OC,
    /// South America.
    SA,
}

impl Continent {
    /// Every continent, in code order.
    pub const ALL: [Continent; 7] = [
        Continent::AF,
        Continent::AN,
        Continent::AS,
        Continent::EU,
        Continent::NA,
        Continent::OC,
        Continent::SA,
    ];

    /// The upper-case two-letter code, e.g. `"EU"`.
    pub fn code(self) -> &'static str {
        match self {
            Continent::AF => "AF",
            Continent::AN => "AN",
            Continent::AS => "AS",
            Continent::EU => "EU",
            Continent::NA => "NA",
            Continent::OC => "OC",
            Continent::SA => "SA",
        }
    }

    /// The English name, e.g. `"Europe"`.
    pub fn name(self) -> &'static str {
        match self {
            Continent::AF => "Africa",
            Continent::AN => "Antarctica",
            Continent::AS => "Asia",
            Continent::EU => "Europe",
            Continent::NA => "North America",
            Continent::OC => "Oceania",
            Continent::SA => "South America",
        }
    }

    /// Parses a two-letter continent code, ignoring ASCII case; anything else is `None`.
    pub fn parse(s: &str) -> Option<Continent> {
        let b = s.as_bytes();
        if b.len() != 2 {
            return None;
        }
        let up = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
        Continent::ALL
            .into_iter()
            .find(|c| c.code().as_bytes() == up)
    }
}

impl fmt::Display for Continent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The error for a string that is not a valid continent or country code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} code {value:?}: expected {expected}")]
pub struct ParseCodeError {
    kind: &'static str,
    value: String,
    expected: &'static str,
}

impl FromStr for Continent {
    type Err = ParseCodeError;

    /// Same rules as [`Continent::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Continent::parse(s).ok_or_else(|| ParseCodeError {
            kind: "continent",
            value: s.to_owned(),
            expected: "one of AF AN AS EU NA OC SA",
        })
    }
}

impl Serialize for Continent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Continent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CodeVisitor::<Continent>(PhantomData))
    }
}

/// An ISO 3166-1 alpha-2 country code: always two upper-case ASCII letters.
///
/// Being well-formed does not mean the code is assigned (`ZZ` parses); use [`country`] to
/// find out. Serialises as its two-letter string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses exactly two ASCII letters in either case (`"de"` → `DE`); anything else is `None`.
    pub fn parse(s: &str) -> Option<CountryCode> {
        CountryCode::from_bytes(s.as_bytes())
    }

    /// Like [`CountryCode::parse`] but from raw bytes (e.g. a header value), no trimming.
    pub fn from_bytes(b: &[u8]) -> Option<CountryCode> {
        match b {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => None,
        }
    }

    /// For the static table only: the caller guarantees two upper-case ASCII letters (a test
    /// checks every table entry), which is what keeps [`CountryCode::as_str`] infallible.
    pub(crate) const fn from_table(code: [u8; 2]) -> CountryCode {
        CountryCode(code)
    }

    /// The two upper-case letters, e.g. `"JP"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction, so this never takes the fallback.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = ParseCodeError;

    /// Same rules as [`CountryCode::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s).ok_or_else(|| ParseCodeError {
            kind: "country",
            value: s.to_owned(),
            expected: "two ASCII letters (ISO 3166-1 alpha-2)",
        })
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CodeVisitor::<CountryCode>(PhantomData))
    }
}

// One visitor for both code types, so map keys (TOML tables such as `[geo.countries]`) and
// plain values go through the same case-insensitive parser.
trait Code: Sized {
    const EXPECTING: &'static str;
    fn parse_code(s: &str) -> Option<Self>;
}

impl Code for Continent {
    const EXPECTING: &'static str = "a continent code (AF AN AS EU NA OC SA)";
    fn parse_code(s: &str) -> Option<Self> {
        Continent::parse(s)
    }
}

impl Code for CountryCode {
    const EXPECTING: &'static str = "a two-letter ISO 3166-1 country code";
    fn parse_code(s: &str) -> Option<Self> {
        CountryCode::parse(s)
    }
}

struct CodeVisitor<T>(PhantomData<T>);

impl<T: Code> Visitor<'_> for CodeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_code(v).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// One row of the built-in country table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code (`XK` for Kosovo, which is user-assigned but universal).
    pub code: CountryCode,
    /// Short English name.
    pub name: &'static str,
    /// Continent by the GeoNames convention (see `countries_data.rs`).
    pub continent: Continent,
    /// Latitude in degrees of a point where most of the people live.
    pub lat: f64,
    /// Longitude in degrees of the same point.
    pub lon: f64,
}

/// The whole built-in table: all 249 ISO 3166-1 alpha-2 codes plus `XK`, sorted by code.
pub fn countries() -> &'static [Country] {
    &COUNTRIES
}

/// The table row for `code`, or `None` if the code is not assigned. Binary search; no
/// allocation.
pub fn country(code: CountryCode) -> Option<&'static Country> {
    COUNTRIES
        .binary_search_by_key(&code, |c| c.code)
        .ok()
        .map(|i| &COUNTRIES[i])
}

/// The position of `code` in [`countries`], for tables kept in the same order (such as
/// [`crate::Region::km_by_country`]); `None` if the code is not assigned.
pub fn country_index(code: CountryCode) -> Option<usize> {
    COUNTRIES.binary_search_by_key(&code, |c| c.code).ok()
}

/// The table row for a code given as text in either case; `None` if malformed or unassigned.
pub fn country_by_str(s: &str) -> Option<&'static Country> {
    CountryCode::parse(s).and_then(country)
}

/// Interprets a country header value from a trusted upstream (`CF-IPCountry`,
/// `CloudFront-Viewer-Country`, …).
///
/// Surrounding ASCII whitespace is ignored. Returns `None` for the "unknown" markers `XX`
/// and `T1` (Tor), for an empty or non-ASCII value and for any code not in the table.
pub fn country_from_header(value: &[u8]) -> Option<&'static Country> {
    let code = CountryCode::from_bytes(value.trim_ascii())?;
    if code.as_str() == "XX" {
        return None;
    }
    country(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continent_codes_round_trip_in_any_case() {
        for c in Continent::ALL {
            assert_eq!(Continent::parse(c.code()), Some(c));
            assert_eq!(Continent::parse(&c.code().to_lowercase()), Some(c));
            assert_eq!(c.code().parse::<Continent>(), Ok(c));
        }
        assert_eq!(Continent::parse("eU"), Some(Continent::EU));
        assert_eq!(Continent::parse("E"), None);
        assert_eq!(Continent::parse("EUR"), None);
        assert_eq!(Continent::parse("XX"), None);
        assert!("zz".parse::<Continent>().is_err());
    }

    #[test]
    fn country_code_parses_two_letters_only() {
        let de = CountryCode::parse("de").unwrap();
        assert_eq!(de.as_str(), "DE");
        assert_eq!(de.to_string(), "DE");
        assert_eq!(format!("{de:?}"), "CountryCode(DE)");
        assert_eq!("Jp".parse::<CountryCode>().unwrap().as_str(), "JP");
        for bad in ["", "D", "DEU", "T1", "1T", "d ", " d", "é", "ÄÖ"] {
            assert_eq!(CountryCode::parse(bad), None, "{bad:?}");
        }
        assert!(
            CountryCode::parse("ZZ").is_some(),
            "well-formed even if unassigned"
        );
    }

    #[test]
    fn codes_order_alphabetically() {
        let a = CountryCode::parse("AD").unwrap();
        let b = CountryCode::parse("AE").unwrap();
        let z = CountryCode::parse("ZW").unwrap();
        assert!(a < b && b < z);
    }

    #[test]
    fn lookups_find_table_rows() {
        assert_eq!(country_by_str("jp").unwrap().name, "Japan");
        assert_eq!(country_by_str("XK").unwrap().continent, Continent::EU);
        assert_eq!(country_by_str("ZZ"), None);
        assert_eq!(country_by_str("XX"), None);
        assert_eq!(country_by_str("nope"), None);
        for c in countries() {
            assert_eq!(country(c.code).map(|f| f.code), Some(c.code));
        }
    }

    #[test]
    fn header_values() {
        assert_eq!(country_from_header(b"DE").unwrap().code.as_str(), "DE");
        assert_eq!(country_from_header(b"  jp\t").unwrap().code.as_str(), "JP");
        for bad in [
            &b"XX"[..],
            b"xx",
            b"T1",
            b"",
            b"   ",
            b"ZZ",
            b"D E",
            b"DEU",
            b"\xc3\x84\xc3\x96",
            b"\xff\xfe",
        ] {
            assert_eq!(country_from_header(bad), None, "{bad:?}");
        }
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Doc {
        continent: Continent,
        country: CountryCode,
        by_country: std::collections::BTreeMap<CountryCode, Continent>,
    }

    #[test]
    fn serde_uses_plain_codes() {
        let doc: Doc = serde_json::from_str(
            r#"{"continent":"eu","country":"cn","by_country":{"us":"NA","De":"eu"}}"#,
        )
        .unwrap();
        assert_eq!(doc.continent, Continent::EU);
        assert_eq!(doc.country.as_str(), "CN");
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"continent":"EU","country":"CN","by_country":{"DE":"EU","US":"NA"}}"#
        );
        assert!(serde_json::from_str::<CountryCode>(r#""USA""#).is_err());
        assert!(serde_json::from_str::<Continent>(r#""Europe""#).is_err());
        let err = serde_json::from_str::<Continent>(r#""XX""#).unwrap_err();
        assert!(err.to_string().contains("continent code"), "{err}");
    }
}
