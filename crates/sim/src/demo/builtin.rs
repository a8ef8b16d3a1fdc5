//! The built-in demo world: `worlds/planet.toml`, embedded so `regionless demo` needs no file.

use crate::error::WorldError;
use crate::world::World;
use std::path::Path;

/// The text of the built-in world file.
pub const BUILTIN_WORLD_TOML: &str = include_str!("../../worlds/planet.toml");

/// How the built-in world is named in messages and reports.
pub const BUILTIN_WORLD_LABEL: &str = "built-in world";

/// The built-in world: origins in eu-central and us-west, edges in nine regions, clients in
/// 18 countries on every inhabited continent, the fitted latency model.
pub fn builtin_world() -> Result<World, WorldError> {
    // No relative paths in the built-in file, so the base directory is never used.
    World::from_toml_str(BUILTIN_WORLD_TOML, BUILTIN_WORLD_LABEL, Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::place::PlaceKind;

    #[test]
    fn builtin_world_matches_the_issue() {
        let w = builtin_world().unwrap();
        let layout = w.demo().unwrap();
        assert_eq!(layout.origins, ["eu-central", "us-west"]);
        for r in [
            "us-west",
            "us-east",
            "eu-central",
            "ap-northeast",
            "ap-southeast",
            "sa-east",
        ] {
            assert!(layout.edges.iter().any(|e| e == r), "{r}");
        }
        assert_eq!(layout.geo.get("CN").map(String::as_str), Some("us-west"));
        let clients: Vec<_> = w.places_of(PlaceKind::Client).collect();
        assert!(clients.len() >= 12);
        // Every inhabited continent, and coordinates from geo's country table.
        let mut continents = std::collections::BTreeSet::new();
        for c in &clients {
            let row = regionless_geo::country_by_str(c.country()).unwrap();
            continents.insert(row.continent.code());
            assert_eq!((c.lat(), c.lon()), (row.lat, row.lon), "{}", c.name());
        }
        assert_eq!(continents.len(), 6, "{continents:?}");
        let frankfurt = w.place("eu-central").unwrap();
        assert_eq!((frankfurt.lat(), frankfurt.lon()), (50.1, 8.7));
    }
}
