//! The one error type every store operation returns.
//!
//! Backend errors (redb, redis) are converted here and never leave the crate with their own
//! types: callers match on [`ErrorKind`], which is the same for both backends.

use std::fmt;

/// What went wrong, independent of the backend. Callers decide on this (skip tier 2, answer
/// 503, stop the process) and use [`ErrorKind::as_str`] as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The backend cannot be reached right now: Redis refused the connection, dropped it, or
    /// did not answer within the configured timeout. Retrying later may succeed. For a write
    /// the outcome is unknown (it may or may not have been applied): re-read before retrying
    /// anything that is not idempotent.
    Unavailable,
    /// A write could not be made durable (I/O error, fsync failure, disk full). The write was
    /// NOT acknowledged. The embedded store refuses every later operation after this (a failed
    /// fsync may have dropped dirty pages, so a later success would prove nothing); restart the
    /// process to recover to the last durable commit.
    Failed,
    /// The stored data is not what this crate wrote: a corrupted or foreign file, a newer
    /// format, or Redis keys under our prefix with the wrong type.
    Corrupt,
    /// The caller asked for something the store refuses: an empty or oversized key, a zero TTL,
    /// a zero limit, an invalid URL or path.
    InvalidArgument,
    /// The store was closed with [`Store::close`](crate::Store::close).
    Closed,
    /// Anything else the backend reported (for example Redis out of memory under the
    /// `noeviction` policy, or a server-side script error).
    Backend,
}

impl ErrorKind {
    /// A short, stable, lowercase name (`unavailable`, `failed`, …) for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Failed => "failed",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Closed => "closed",
            ErrorKind::Backend => "backend",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a store operation: its [`ErrorKind`], the operation that failed, and a
/// human-readable detail (which backend, which key area, what the backend said).
///
/// The backend's own error is kept as the [`source`](std::error::Error::source) for logs; its
/// type is deliberately not part of the API.
#[derive(Debug, thiserror::Error)]
#[error("store {op}: {kind}: {detail}")]
pub struct StoreError {
    kind: ErrorKind,
    op: &'static str,
    detail: String,
    #[source]
    source: Option<BoxError>,
}

impl StoreError {
    /// An error of `kind` for operation `op` (a short name such as `"get"`), with a detail.
    pub fn new(kind: ErrorKind, op: &'static str, detail: impl Into<String>) -> Self {
        StoreError {
            kind,
            op,
            detail: detail.into(),
            source: None,
        }
    }

    /// The same error with its underlying cause attached (shown by `source()`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong; see [`ErrorKind`] for what each kind means to a caller.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True when the backend could not be reached ([`ErrorKind::Unavailable`]): the caller
    /// should degrade (skip tier 2, count a metric) rather than fail the request.
    pub fn is_unavailable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }

    /// The operation that failed (`"get"`, `"transact"`, `"append"`, …).
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// The human-readable detail, without the operation and kind prefix.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub(crate) fn invalid(op: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, op, detail)
    }

    pub(crate) fn closed(op: &'static str) -> Self {
        Self::new(ErrorKind::Closed, op, "the store was closed")
    }
}

/// `Result` with [`StoreError`] as the error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
