//! Progress reporting for long measurements, so the CLI can draw a bar without the library
//! knowing about terminals.

/// Receives progress of a measurement: the total number of steps once, then advances.
pub trait Progress: Send + Sync {
    /// The measurement will take `total` steps.
    fn start(&self, total: u64);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: u64) {}
    fn advance(&self, _steps: u64) {}
}
