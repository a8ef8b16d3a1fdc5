//! Body types on both sides of the proxy, and the guard on client request bodies.
//!
//! Client bodies are streamed, never collected (a 1 GB upload never sits in memory), except
//! small bodies of retry-eligible requests, which are buffered so a failed attempt can be
//! replayed to the next origin.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// Error type carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every response to a client carries.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// What every request to an origin carries.
pub type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// A client's request body: hyper's for the connections hyper serves, none for the
/// requests the node's own HTTP/1 loop serves ([`crate::client_h1`] takes only requests
/// without a body and hands every other to hyper).
#[derive(Debug)]
pub enum ClientBody {
    /// The request has no body.
    Empty,
    /// The body as hyper reads it from the connection.
    Hyper(Incoming),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ClientBody::Empty => Poll::Ready(None),
            ClientBody::Hyper(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Empty => true,
            ClientBody::Hyper(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Empty => SizeHint::with_exact(0),
            ClientBody::Hyper(body) => body.size_hint(),
        }
    }
}

/// A fixed response body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> UnsyncBoxBody<Bytes, BoxError> {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Why a client body stopped early; read by the proxy to answer 413/408/400 instead of 502.
/// Also tells the proxy when a streamed body has been read to its end (and so handed to the
/// origin), which is when the origin's first-byte deadline starts.
#[derive(Debug, Default)]
pub struct BodyFault {
    fault: AtomicU8,
    sent: AtomicBool,
    sent_signal: tokio::sync::Notify,
}

/// The kinds of client-body faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    TooLarge,
    TimedOut,
    Malformed,
}

impl BodyFault {
    fn set(&self, f: Fault) {
        let v = match f {
            Fault::None => 0,
            Fault::TooLarge => 1,
            Fault::TimedOut => 2,
            Fault::Malformed => 3,
        };
        self.fault.store(v, Ordering::Relaxed);
    }

    fn mark_sent(&self) {
        if !self.sent.swap(true, Ordering::AcqRel) {
            self.sent_signal.notify_waiters();
        }
    }

    /// Resolves once the whole body has been read from the client.
    pub async fn sent(&self) {
        loop {
            // Created before the check, so a notification in between is not lost.
            let signal = self.sent_signal.notified();
            if self.sent.load(Ordering::Acquire) {
                return;
            }
            signal.await;
        }
    }

    /// The fault recorded so far.
    pub fn get(&self) -> Fault {
        match self.fault.load(Ordering::Relaxed) {
            1 => Fault::TooLarge,
            2 => Fault::TimedOut,
            3 => Fault::Malformed,
            _ => Fault::None,
        }
    }
}

/// A client error with a message for the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientBodyError(&'static str);

/// An inactivity timer for a body: `touch` on every piece of data, `poll_expired` only when
/// the body is about to report Pending. A body that is ready whenever it is polled (most
/// small ones) never creates a tokio timer (creating one clones the runtime's shared handle
/// and registering it takes the timer wheel's lock, both measurable per request), nor reads
/// the clock: the idle window starts when the body first makes its reader wait after the
/// last activity.
pub struct IdleTimer {
    idle: Duration,
    /// None while nothing has been waited for since the last activity.
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    /// A timer that expires `idle` after the body first makes its reader wait.
    pub fn new(idle: Duration) -> Self {
        IdleTimer {
            idle,
            deadline: None,
            sleep: None,
        }
    }

    /// Records activity: the next wait starts a new window.
    pub fn touch(&mut self) {
        self.deadline = None;
    }

    /// Ready once `idle` has passed since the wait began (the first call after the last
    /// activity); arms the timer if needed.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let idle = self.idle;
        let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + idle);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        std::future::Future::poll(sleep.as_mut(), cx)
    }
}

pin_project_lite::pin_project! {
    /// The client's request body with a size limit and an idle timeout between chunks.
    pub struct GuardedBody {
        #[pin]
        inner: ClientBody,
        limit: u64,
        seen: u64,
        idle: IdleTimer,
        fault: Arc<BodyFault>,
    }
}

impl GuardedBody {
    /// Wraps `inner`; `fault` learns why the body ended early, if it does.
    pub fn new(inner: ClientBody, limit: u64, idle: Duration, fault: Arc<BodyFault>) -> Self {
        GuardedBody {
            inner,
            limit,
            seen: 0,
            idle: IdleTimer::new(idle),
            fault,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                    if *this.seen > *this.limit {
                        this.fault.set(Fault::TooLarge);
                        return Poll::Ready(Some(Err(Box::new(ClientBodyError(
                            "request body exceeds the size limit",
                        )))));
                    }
                }
                this.idle.touch();
                // hyper stops polling a body that says it has ended.
                if this.inner.is_end_stream() {
                    this.fault.mark_sent();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.fault.set(Fault::Malformed);
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.fault.mark_sent();
                Poll::Ready(None)
            }
            Poll::Pending => {
                ready!(this.idle.poll_expired(cx));
                this.fault.set(Fault::TimedOut);
                Poll::Ready(Some(Err(Box::new(ClientBodyError(
                    "request body read timed out",
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A streamed body that goes back to its owner if the attempt that held it never read from
/// it, so a request whose connect failed can go to the next origin with its body intact.
pub struct ReclaimableBody {
    slot: Arc<Mutex<Option<GuardedBody>>>,
    taken: Option<Pin<Box<GuardedBody>>>,
    hint: SizeHint,
}

/// Where a [`ReclaimableBody`] returns to.
#[derive(Clone)]
pub struct BodySlot {
    slot: Arc<Mutex<Option<GuardedBody>>>,
    hint: SizeHint,
}

impl BodySlot {
    /// Puts `body` in a slot.
    pub fn new(body: GuardedBody) -> Self {
        let hint = body.size_hint();
        BodySlot {
            slot: Arc::new(Mutex::new(Some(body))),
            hint,
        }
    }

    /// A body for one attempt, or None when an earlier attempt has already read from it.
    pub fn lend(&self) -> Option<ReclaimableBody> {
        let present = self.slot.lock().map(|g| g.is_some()).unwrap_or(false);
        present.then(|| ReclaimableBody {
            slot: self.slot.clone(),
            taken: None,
            hint: self.hint,
        })
    }
}

impl Body for ReclaimableBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.taken.is_none() {
            let body = self.slot.lock().ok().and_then(|mut g| g.take());
            match body {
                Some(b) => self.taken = Some(Box::pin(b)),
                None => {
                    return Poll::Ready(Some(Err(Box::new(ClientBodyError(
                        "request body already consumed",
                    )))))
                }
            }
        }
        match self.taken.as_mut() {
            Some(b) => b.as_mut().poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// Reads a whole (small) body into memory, respecting the guard's limits.
pub async fn collect(body: GuardedBody) -> Result<Bytes, BoxError> {
    Ok(body.collect().await?.to_bytes())
}

/// An origin's response body: from hyper-util's pooled client (TLS and HTTP/2 origins,
/// upgrades, streamed uploads) or read straight off the connection by
/// [`crate::origin_h1`] (plain HTTP/1.1 origins, the common case).
pub enum OriginBody {
    Pooled(Incoming),
    Direct(crate::origin_h1::DirectBody),
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OriginBody::Pooled(b) => Pin::new(b)
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError),
            OriginBody::Direct(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OriginBody::Pooled(b) => b.is_end_stream(),
            OriginBody::Direct(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OriginBody::Pooled(b) => b.size_hint(),
            OriginBody::Direct(b) => b.size_hint(),
        }
    }
}
