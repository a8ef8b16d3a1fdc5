//! The state file of a running `regionless demo`: where its nodes listen and which world it
//! runs, so `regionless probe --demo` in another shell can emulate vantage points against it.

use super::map::PlanetAddrs;
use super::DemoError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a running demo publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoState {
    /// The demo's process id (a later demo overwrites the file; the first one's exit then
    /// leaves it alone).
    pub pid: u32,
    /// The world file, absolute; `None` for the built-in world.
    pub world_file: Option<PathBuf>,
    /// The nodes' addresses.
    pub addrs: PlanetAddrs,
}

/// Where a demo writes its state: the temp directory, one file per user.
pub fn default_state_path() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_default();
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let name = if user.is_empty() {
        "regionless-demo.json".to_owned()
    } else {
        format!("regionless-demo-{user}.json")
    };
    std::env::temp_dir().join(name)
}

impl DemoState {
    /// Writes the state to `path` (through a temporary file and a rename, so a reader never
    /// sees half a file).
    pub fn write(&self, path: &Path) -> Result<(), DemoError> {
        let err = |message: String| DemoError::State {
            path: path.to_owned(),
            message,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension(format!("{}.tmp", self.pid));
        std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Reads a state file.
    pub fn read(path: &Path) -> Result<DemoState, DemoError> {
        let err = |message: String| DemoError::State {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_slice(&text).map_err(|e| err(e.to_string()))
    }

    /// Removes `path` if it still holds this process's state (a newer demo may own it).
    pub fn remove_if_mine(path: &Path, pid: u32) {
        if DemoState::read(path).is_ok_and(|s| s.pid == pid) {
            // Best effort: a leftover file is detected as stale by the probe anyway.
            let _ = std::fs::remove_file(path);
        }
    }
}
