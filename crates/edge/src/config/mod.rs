//! The node's TOML configuration: parsing, validation with field paths, typed settings.
//!
//! `check-config` and reload use the same code, so a config that `check-config` accepts is a
//! config the node will run, and a reload is refused with the same messages.

mod model;
mod raw;
pub mod units;
mod validate;
mod validate_cache;

use std::fmt;
use std::path::Path;

pub use model::*;

/// One problem in a config file, located by the path of the field (`sites[0].origins[1].url`)
/// or, for syntax errors, by line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one config; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths inside it (certificates, GeoIP
    /// database, log file) are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: path.display().to_string(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, base)
    }

    /// Parses and validates TOML text; `base_dir` resolves relative paths.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            let at = match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {col}")
                }
                None => "config".to_string(),
            };
            ConfigErrors(vec![ConfigError {
                path: at,
                // toml spreads some messages over lines; check-config prints one per line.
                message: e
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(": "),
            }])
        })?;
        validate::validate(raw, base_dir)
    }

    /// A one-line summary for `check-config`.
    pub fn summary(&self) -> String {
        let origins: usize = self.sites.iter().map(|s| s.origins.len()).sum();
        let regions: std::collections::BTreeSet<&str> = self
            .sites
            .iter()
            .flat_map(|s| s.origins.iter().map(|o| o.region.as_str()))
            .collect();
        format!(
            "ok: node in {}, {} site(s), {} origin(s) in {} region(s), {} listener(s)",
            self.node.region,
            self.sites.len(),
            origins,
            regions.len(),
            self.node.listen.len() + self.node.tls_listen.len()
        )
    }
}
