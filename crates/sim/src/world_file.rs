//! Reading world files (TOML); the format is documented on [`World::load`]. Errors carry
//! spans (`toml::Spanned`) down to each value so semantic errors point at a line and column
//! just as syntax errors do.

use crate::demo::layout::{DemoLayout, LayoutField, DEFAULT_COLOCATED_RTT_MS};
use crate::error::{Location, Problem, WorldError};
use crate::matrix::RttMatrix;
use crate::model::{LatencyModel, DEFAULT_INFLATION, DEFAULT_LAST_MILE_MS, FIBRE_KM_PER_MS};
use crate::place::{Place, PlaceKind};
use crate::wan::{LinkSpec, MAX_DELAY};
use crate::world::World;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorld {
    model: Option<RawModel>,
    link: Option<RawLink>,
    #[serde(default, rename = "place")]
    places: Vec<RawPlace>,
    demo: Option<Spanned<RawDemo>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDemo {
    origins: Spanned<Vec<Spanned<String>>>,
    edges: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    geo: BTreeMap<String, Spanned<String>>,
    colocated_rtt_ms: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    fibre_km_per_ms: Option<Spanned<f64>>,
    inflation: Option<Spanned<f64>>,
    last_mile_ms: Option<Spanned<f64>>,
    rtt_matrix: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    jitter_ms: Option<Spanned<f64>>,
    loss: Option<Spanned<f64>>,
    bandwidth_mbit: Option<Spanned<f64>>,
    slow_start: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlace {
    name: Spanned<String>,
    kind: PlaceKind,
    country: Spanned<String>,
    lat: Option<Spanned<f64>>,
    lon: Option<Spanned<f64>>,
}

/// Positions in one source text.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, span: Range<usize>) -> Location {
        Location::at_offset(self.file, self.text, span.start)
    }

    fn invalid<T>(&self, span: Range<usize>, problem: Problem) -> Result<T, WorldError> {
        Err(WorldError::Invalid {
            at: self.at(span),
            problem,
        })
    }
}

impl World {
    /// Reads a world file, as given to `regionless demo --world FILE`:
    ///
    /// ```toml
    /// [model]                      # optional; defaults are the fitted ones
    /// fibre_km_per_ms = 200.0
    /// inflation = 1.63
    /// last_mile_ms = 9.5
    /// rtt_matrix = "rtt-ms.csv"    # optional, relative to this file; overrides the model
    ///
    /// [link]                       # optional; applied to every emulated link
    /// jitter_ms = 1.0
    /// loss = 0.001                 # per segment, 0 <= loss < 1
    /// bandwidth_mbit = 100.0       # omit for no cap
    /// slow_start = true
    ///
    /// [[place]]                    # repeated; names unique
    /// name = "eu-central"
    /// kind = "region"              # or "client"
    /// country = "DE"
    /// lat = 50.1                   # lat and lon: both or neither; without them a region
    /// lon = 8.7                    # takes geo's built-in region coordinates and a client
    ///                              # its country's population centre
    ///
    /// [demo]                       # needed by `regionless demo` and `probe` in this world
    /// origins = ["eu-central", "us-west"]  # regions running the sample app; the first is
    ///                                      # the single origin of the "direct" column
    /// edges = ["eu-central", "us-west"]    # regions running an edge node (default: all)
    /// geo = { CN = "us-west" }     # the site's country overrides; others: nearest origin
    /// colocated_rtt_ms = 1.0       # edge <-> origin RTT within one region
    /// ```
    /// Unknown keys are errors (a typo must not silently fall back to a default). Every error
    /// names `file:line:column` of the offending value; RTT matrix errors name the CSV line.
    pub fn load(path: &Path) -> Result<World, WorldError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorldError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        World::from_toml_str(&text, &path.display().to_string(), base)
    }

    /// Parses world-file text. `file` labels errors; `base_dir` resolves a relative
    /// `rtt_matrix`. Errors name `file:line:column` of the offending value (the CSV line for
    /// matrix rows).
    pub fn from_toml_str(text: &str, file: &str, base_dir: &Path) -> Result<World, WorldError> {
        let src = Source { file, text };
        let raw: RawWorld = toml::from_str(text).map_err(|e| WorldError::Syntax {
            at: src.at(e.span().unwrap_or(0..0)),
            message: e.message().trim_end().to_owned(),
        })?;

        let (model, matrix_path) = build_model(&src, raw.model)?;
        let mut world = World::new(model);
        if let Some(link) = raw.link {
            world = world.with_link_template(build_link(&src, link)?);
        }

        let mut first_line: HashMap<String, usize> = HashMap::new();
        for p in raw.places {
            let (lat, lon) = coordinates(&src, &p)?;
            let place = Place::new(p.name.get_ref(), p.kind, p.country.get_ref(), lat, lon)
                .or_else(|problem| {
                    let span = match problem {
                        Problem::EmptyName => Some(p.name.span()),
                        Problem::BadCountry(_) => Some(p.country.span()),
                        Problem::LatitudeOutOfRange(_) => p.lat.as_ref().map(Spanned::span),
                        _ => p.lon.as_ref().map(Spanned::span),
                    }
                    .unwrap_or_else(|| p.name.span());
                    src.invalid(span, problem)
                })?;
            let line = src.at(p.name.span()).line;
            if let Some(&first) = first_line.get(place.name()) {
                let problem = Problem::DuplicatePlace {
                    name: place.name().to_owned(),
                    first_line: first,
                };
                return src.invalid(p.name.span(), problem);
            }
            first_line.insert(place.name().to_owned(), line);
            // Cannot fail: uniqueness was just checked, with a better message.
            let _ = world.add(place);
        }

        if let Some(rel) = matrix_path {
            let path = base_dir.join(rel.get_ref());
            let csv = std::fs::read_to_string(&path).or_else(|e| {
                let problem = Problem::MatrixUnreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                };
                src.invalid(rel.span(), problem)
            })?;
            let matrix = RttMatrix::from_csv_str(&csv, &path.display().to_string())?;
            world = world.with_matrix(matrix)?;
        }
        if let Some(demo) = raw.demo {
            world = build_demo(&src, world, demo)?;
        }
        Ok(world)
    }
}

/// A place's coordinates as written, or the built-in ones when both are omitted.
fn coordinates(src: &Source<'_>, p: &RawPlace) -> Result<(f64, f64), WorldError> {
    match (&p.lat, &p.lon) {
        (Some(lat), Some(lon)) => Ok((*lat.get_ref(), *lon.get_ref())),
        (Some(one), None) | (None, Some(one)) => src.invalid(one.span(), Problem::HalfCoordinates),
        (None, None) => {
            let name = p.name.get_ref().trim();
            let builtin = match p.kind {
                PlaceKind::Region => regionless_geo::RegionCatalog::builtin()
                    .get(name)
                    .map(|r| (r.lat, r.lon))
                    .ok_or_else(|| format!("region `{name}` (not a built-in region)")),
                PlaceKind::Client => regionless_geo::country_by_str(p.country.get_ref().trim())
                    .map(|c| (c.lat, c.lon))
                    .ok_or_else(|| format!("`{name}` (country not in geo's table)")),
            };
            builtin.or_else(|what| src.invalid(p.name.span(), Problem::NoBuiltinCoordinates(what)))
        }
    }
}

fn build_demo(src: &Source<'_>, world: World, raw: Spanned<RawDemo>) -> Result<World, WorldError> {
    let section = raw.span();
    let raw = raw.into_inner();
    let names = |list: &[Spanned<String>]| -> Vec<String> {
        list.iter().map(|s| s.get_ref().trim().to_owned()).collect()
    };
    let edges = match &raw.edges {
        Some(e) => names(e.get_ref()),
        None => world
            .places_of(PlaceKind::Region)
            .map(|p| p.name().to_owned())
            .collect(),
    };
    let layout = DemoLayout {
        origins: names(raw.origins.get_ref()),
        edges,
        geo: raw
            .geo
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_uppercase(), v.get_ref().trim().to_owned()))
            .collect(),
        colocated_rtt_ms: raw
            .colocated_rtt_ms
            .as_ref()
            .map_or(DEFAULT_COLOCATED_RTT_MS, |c| *c.get_ref()),
    };
    let Err((field, problem)) = layout.check(&world) else {
        return world.with_demo(layout).or_else(|p| src.invalid(section, p));
    };
    let list_span = |list: &Spanned<Vec<Spanned<String>>>, i: Option<usize>| {
        i.and_then(|i| list.get_ref().get(i))
            .map_or_else(|| list.span(), Spanned::span)
    };
    let span = match field {
        LayoutField::Origins(i) => list_span(&raw.origins, i),
        LayoutField::Edges(i) => raw
            .edges
            .as_ref()
            .map_or(section.clone(), |e| list_span(e, i)),
        LayoutField::Geo(country) => raw
            .geo
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(&country))
            .map_or(section.clone(), |(_, v)| v.span()),
        LayoutField::Colocated => raw
            .colocated_rtt_ms
            .as_ref()
            .map_or(section.clone(), Spanned::span),
    };
    src.invalid(span, problem)
}

fn build_model(
    src: &Source<'_>,
    raw: Option<RawModel>,
) -> Result<(LatencyModel, Option<Spanned<String>>), WorldError> {
    let Some(raw) = raw else {
        return Ok((LatencyModel::default(), None));
    };
    let value =
        |v: &Option<Spanned<f64>>, default: f64| v.as_ref().map_or(default, |s| *s.get_ref());
    let model = LatencyModel::new(
        value(&raw.fibre_km_per_ms, FIBRE_KM_PER_MS),
        value(&raw.inflation, DEFAULT_INFLATION),
        value(&raw.last_mile_ms, DEFAULT_LAST_MILE_MS),
    )
    .or_else(|problem| {
        let field = match problem {
            Problem::BadParameter {
                name: "fibre_km_per_ms",
                ..
            } => &raw.fibre_km_per_ms,
            Problem::BadParameter {
                name: "inflation", ..
            } => &raw.inflation,
            _ => &raw.last_mile_ms,
        };
        // A default cannot be invalid, so the bad value was written and has a span.
        src.invalid(field.as_ref().map_or(0..0, Spanned::span), problem)
    })?;
    Ok((model, raw.rtt_matrix))
}

fn build_link(src: &Source<'_>, raw: RawLink) -> Result<LinkSpec, WorldError> {
    let mut spec = LinkSpec::default();
    if let Some(j) = raw.jitter_ms {
        let ms = *j.get_ref();
        match Duration::try_from_secs_f64(ms / 1000.0) {
            Ok(d) if d <= MAX_DELAY => spec.jitter = d,
            _ => {
                let expected = "a number of ms from 0 to 3600000";
                return src.invalid(j.span(), bad("jitter_ms", ms, expected));
            }
        }
    }
    if let Some(l) = raw.loss {
        let p = *l.get_ref();
        if !(0.0..1.0).contains(&p) {
            return src.invalid(l.span(), bad("loss", p, "at least 0 and below 1"));
        }
        spec.loss = p;
    }
    if let Some(b) = raw.bandwidth_mbit {
        let mbit = *b.get_ref();
        let bytes_per_sec = mbit * 125_000.0;
        if !(mbit.is_finite() && bytes_per_sec >= 1.0) {
            return src.invalid(b.span(), bad("bandwidth_mbit", mbit, "a number > 0"));
        }
        spec.bandwidth_bytes_per_sec = Some(bytes_per_sec as u64);
    }
    if let Some(on) = raw.slow_start {
        spec.slow_start = on;
    }
    Ok(spec)
}

fn bad(name: &'static str, value: f64, expected: &'static str) -> Problem {
    Problem::BadParameter {
        name,
        value,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::RttSource;

    const GOOD: &str = r#"
[model]
inflation = 1.8
last_mile_ms = 4

[link]
jitter_ms = 2
bandwidth_mbit = 8

[[place]]
name = "eu-central"
kind = "region"
country = "de"
lat = 50.1
lon = 8.7

[[place]]
name = "Tokyo"
kind = "client"
country = "JP"
lat = 35.7
lon = 139.7
"#;

    fn parse(text: &str) -> Result<World, WorldError> {
        World::from_toml_str(text, "w.toml", Path::new("."))
    }

    /// Asserts the error's `line:column` and that its message contains `needle`.
    fn fails_at(text: &str, line: usize, column: usize, needle: &str) -> WorldError {
        let e = parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        let at = e.location().unwrap_or_else(|| panic!("no location: {e}"));
        assert_eq!((at.line, at.column), (line, Some(column)), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("w.toml:{line}:{column}: ")),
            "{e}"
        );
        assert!(e.to_string().contains(needle), "{e}");
        e
    }

    #[test]
    fn parses_a_good_file() {
        let w = parse(GOOD).unwrap();
        assert_eq!(w.places().len(), 2);
        assert_eq!(w.place("eu-central").unwrap().country(), "DE");
        assert_eq!(w.model().inflation(), 1.8);
        assert_eq!(w.model().last_mile_ms(), 4.0);
        assert_eq!(w.model().fibre_km_per_ms(), FIBRE_KM_PER_MS);
        assert_eq!(w.link_template().jitter, Duration::from_millis(2));
        assert_eq!(w.link_template().bandwidth_bytes_per_sec, Some(1_000_000));
        assert_eq!(
            w.rtt("Tokyo", "eu-central").unwrap().source,
            RttSource::Model
        );
    }

    #[test]
    fn an_empty_file_is_an_empty_world_with_default_model() {
        let w = parse("").unwrap();
        assert!(w.places().is_empty());
        assert_eq!(*w.model(), LatencyModel::default());
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        fails_at("[model]\ninflation = = 2\n", 2, 13, "");
        fails_at(
            "[[place]]\nname = \"x\"\nkind = \"regoin\"\n",
            3,
            8,
            "unknown variant",
        );
        fails_at("[model]\ninflaton = 2\n", 2, 1, "unknown field");
        fails_at("[model]\ninflation = \"high\"\n", 2, 13, "");
    }

    #[test]
    fn latitude_out_of_range_points_at_the_value() {
        let text = GOOD.replace("lat = 35.7", "lat = 135.7");
        let e = fails_at(&text, 21, 7, "latitude 135.7");
        assert_eq!(e.problem(), Some(&Problem::LatitudeOutOfRange(135.7)));
        fails_at(
            &GOOD.replace("lon = 8.7", "lon = -181"),
            15,
            7,
            "longitude -181",
        );
        fails_at(&GOOD.replace("\"JP\"", "\"JPN\""), 20, 11, "country `JPN`");
    }

    #[test]
    fn duplicate_name_points_at_the_second_and_names_the_first() {
        let text = GOOD.replace("\"Tokyo\"", "\"eu-central\"");
        fails_at(&text, 18, 8, "already defined on line 11");
    }

    #[test]
    fn bad_parameters_point_at_the_value() {
        fails_at(
            "[model]\ninflation = 0.5\n",
            2,
            13,
            "inflation = 0.5 is invalid",
        );
        fails_at("[model]\nlast_mile_ms = -1\n", 2, 16, "last_mile_ms");
        fails_at("[link]\nloss = 1.5\n", 2, 8, "loss");
        fails_at("[link]\njitter_ms = 1e300\n", 2, 13, "jitter_ms");
        fails_at("[link]\nbandwidth_mbit = 0\n", 2, 18, "bandwidth_mbit");
    }

    #[test]
    fn matrix_errors_name_the_csv_line_or_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("m.csv");
        std::fs::write(
            &csv,
            "from,to,rtt_ms\nTokyo,eu-central,230\neu-central,Tokyo,-1\n",
        )
        .unwrap();
        let world_file = dir.path().join("w.toml");
        let with_matrix = GOOD.replace("[link]", "rtt_matrix = \"m.csv\"\n\n[link]");
        std::fs::write(&world_file, &with_matrix).unwrap();
        let e = World::load(&world_file).unwrap_err();
        assert_eq!(e.problem(), Some(&Problem::NegativeRtt(-1.0)));
        assert_eq!(e.location().map(|l| l.line), Some(3), "{e}");
        assert!(e.to_string().contains("m.csv:3: "), "{e}");

        std::fs::write(
            &csv,
            "from,to,rtt_ms\nTokyo,eu-central,230\nTokyo,Paris,1\n",
        )
        .unwrap();
        let e = World::load(&world_file).unwrap_err();
        assert_eq!(e.problem(), Some(&Problem::UnknownPlace("Paris".into())));
        assert_eq!(e.location().map(|l| l.line), Some(3));

        std::fs::write(&csv, "from,to,rtt_ms\nTokyo,eu-central,230\n").unwrap();
        let w = World::load(&world_file).unwrap();
        assert_eq!(w.rtt("eu-central", "Tokyo").unwrap().ms, 230.0);

        std::fs::remove_file(&csv).unwrap();
        let e = World::load(&world_file).unwrap_err();
        assert!(
            matches!(e.problem(), Some(Problem::MatrixUnreadable { .. })),
            "{e}"
        );
        assert_eq!(
            e.location().map(|l| (l.line, l.column)),
            Some((6, Some(14)))
        );
    }

    #[test]
    fn unreadable_world_file_names_the_path() {
        let e = World::load(Path::new("/nonexistent/world.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/world.toml"), "{e}");
    }

    const WITH_DEMO: &str = r#"[demo]
origins = ["eu-central"]
edges = ["eu-central", "us-west"]
geo = { CN = "eu-central" }
colocated_rtt_ms = 0.5

[[place]]
name = "eu-central"
kind = "region"
country = "DE"

[[place]]
name = "us-west"
kind = "region"
country = "US"

[[place]]
name = "Japan"
kind = "client"
country = "jp"
"#;

    #[test]
    fn omitted_coordinates_come_from_geo() {
        let w = parse(WITH_DEMO).unwrap();
        let fra = w.place("eu-central").unwrap();
        assert_eq!((fra.lat(), fra.lon()), (50.1, 8.7));
        let jp = w.place("Japan").unwrap();
        let row = regionless_geo::country_by_str("JP").unwrap();
        assert_eq!((jp.lat(), jp.lon()), (row.lat, row.lon));
        fails_at(
            &WITH_DEMO.replace("country = \"jp\"", "country = \"jp\"\nlat = 1"),
            21,
            7,
            "both lat and lon",
        );
        fails_at(
            &WITH_DEMO.replace("\"us-west\"\nkind", "\"mars\"\nkind"),
            13,
            8,
            "region `mars`",
        );
    }

    #[test]
    fn demo_section_is_read_and_checked() {
        let w = parse(WITH_DEMO).unwrap();
        let d = w.demo().unwrap();
        assert_eq!(d.origins, ["eu-central"]);
        assert_eq!(d.edges, ["eu-central", "us-west"]);
        assert_eq!(d.geo.get("CN").map(String::as_str), Some("eu-central"));
        assert_eq!(d.colocated_rtt_ms, 0.5);
        assert!(parse(GOOD).unwrap().demo().is_none());

        // Edges default to every region place; the colocated RTT to its default.
        let minimal = WITH_DEMO
            .replace("edges = [\"eu-central\", \"us-west\"]\n", "")
            .replace("colocated_rtt_ms = 0.5\n", "");
        let d = parse(&minimal).unwrap().demo().cloned().unwrap();
        assert_eq!(d.edges, ["eu-central", "us-west"]);
        assert_eq!(d.colocated_rtt_ms, crate::demo::DEFAULT_COLOCATED_RTT_MS);

        fails_at(
            &WITH_DEMO.replace(
                "edges = [\"eu-central\", \"us-west\"]",
                "edges = [\"eu-central\", \"Japan\"]",
            ),
            3,
            24,
            "`Japan` is not a region place",
        );
        fails_at(
            &WITH_DEMO.replace(
                "origins = [\"eu-central\"]",
                "origins = [\"eu-central\", \"eu-central\"]",
            ),
            2,
            26,
            "listed twice",
        );
        fails_at(
            &WITH_DEMO.replace("origins = [\"eu-central\"]", "origins = []"),
            2,
            11,
            "at least one region",
        );
        fails_at(
            &WITH_DEMO.replace("CN = \"eu-central\"", "CN = \"us-west\""),
            4,
            14,
            "no origin runs in `us-west`",
        );
        fails_at(
            &WITH_DEMO.replace("CN = ", "ZZ = "),
            4,
            14,
            "`ZZ` is not an assigned",
        );
        fails_at(&WITH_DEMO.replace("0.5", "-1"), 5, 20, "colocated_rtt_ms");
        fails_at(
            &WITH_DEMO.replace("colocated_rtt_ms", "colocated_rtt"),
            5,
            1,
            "unknown field",
        );
    }
}
