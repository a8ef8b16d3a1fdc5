//! A simulated planet for Regionless, so latency effects can be shown and measured on one
//! machine without root or kernel traffic shaping.
//!
//! Owns:
//! - the **world model** ([`World`]): named places (regions and client vantage points) with
//!   coordinates, the RTT between any two of them from a distance model ([`LatencyModel`],
//!   fitted to measured data) or from a measured matrix ([`RttMatrix`]), and world files
//!   (TOML, [`World::load`]);
//! - the **WAN emulator** ([`wan`]): a user-space TCP relay on loopback that delays, jitters,
//!   loses (as delay) and rate-limits each direction as a link between two places would;
//! - the **sample app** ([`app`]): the origin of the demo, a JSON API and cacheable images;
//! - the **demo** ([`demo`]): the built-in world, a planet of real edge nodes and origins
//!   behind emulated links in one process, and the measurement behind `regionless demo`;
//! - the **probe** ([`probe`]): DNS/connect/TLS/TTFB/total from emulated vantage points in a
//!   demo world, or from this machine for a real URL (`regionless probe`).
//!
//! Must never: be needed by a production node. Nothing outside `regionless demo`, `regionless
//! probe` and tests may depend on this crate, and it must never send traffic anywhere other
//! than the addresses its caller gives it (loopback in the demo).
#![forbid(unsafe_code)]
// Tests may unwrap: a panic there is a failed test, not a crashed node.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod compare;
pub mod demo;
pub mod error;
pub mod matrix;
pub mod measured;
pub mod model;
pub mod place;
pub mod probe;
pub mod table;
pub mod wan;
pub mod world;
mod world_file;

pub use compare::{AccuracySummary, Comparison, ComparisonRow};
pub use error::{DuplicatePlace, Location, Problem, UnknownPlace, WorldError};
pub use matrix::RttMatrix;
pub use model::LatencyModel;
pub use place::{Place, PlaceKind};
pub use world::{RttEstimate, RttSource, World};
