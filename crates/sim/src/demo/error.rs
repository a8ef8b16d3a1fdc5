//! Why a demo or a probe of the demo world could not run.

use crate::error::{UnknownPlace, WorldError};
use crate::probe::ProbeError;
use std::io;
use std::path::PathBuf;

/// A failure to start or measure the demo world. Messages name what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The world file could not be read or is invalid.
    #[error(transparent)]
    World(#[from] WorldError),
    /// The world has no `[demo]` section, so nothing says where origins and edges run.
    #[error("{0}: no [demo] section; add one naming the origin regions, e.g. [demo] origins = [\"eu-central\"]")]
    NoLayout(String),
    /// The world has no client places to measure from.
    #[error("{0}: no client places (kind = \"client\") to measure from")]
    NoClients(String),
    /// A place lookup failed (a bug: layouts are checked against the world).
    #[error(transparent)]
    UnknownPlace(#[from] UnknownPlace),
    /// A listener, relay or app could not start.
    #[error("cannot start {what}: {source}")]
    Start {
        /// What was starting, e.g. `relay us-east -> eu-central`.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The demo's certificates could not be made or written.
    #[error("cannot set up the demo's TLS certificates: {0}")]
    Tls(String),
    /// The generated edge config was refused (a bug in the demo; the text says which field).
    #[error("generated config for the edge in {region} is invalid: {message}")]
    EdgeConfig {
        /// The edge's region.
        region: String,
        /// The edge crate's messages.
        message: String,
    },
    /// An edge node failed to start.
    #[error("cannot start the edge node in {region}: {message}")]
    EdgeStart {
        /// The edge's region.
        region: String,
        /// The edge crate's message.
        message: String,
    },
    /// A measurement failed (connect, HTTP).
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The state file of a running demo could not be written or read.
    #[error("demo state file {}: {message}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
