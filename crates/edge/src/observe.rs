//! What happens around every response: the node's own response headers, the access-log line
//! and the request metrics, emitted when the response body is finished or abandoned.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use crate::body::ClientBody;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use rand::RngCore;
use regionless_geo::CountryCode;

use crate::access_log::AccessRecord;
use crate::body::{BoxError, IdleTimer, OriginBody, ResponseBody};
use crate::headers::{append_value, names, push_decimal, push_prefixed, remove_all};
use crate::metrics::{RequestLabels, SiteLabels};
use crate::raw_fields::RawFields;
use crate::runtime::Runtime;
use crate::state::{ConnInfo, NodeState};

/// Facts gathered along the request path, reported once the response ends.
pub struct RequestLog {
    /// The access log was on when the request started: only then are path and origin kept.
    detailed: bool,
    pub started: Instant,
    /// Empty until the request path sets it (then it is the value sent on and returned).
    pub request_id: HeaderValue,
    pub client_ip: Option<IpAddr>,
    pub country: Option<CountryCode>,
    /// Index into the runtime's sites once the site is known.
    pub site: Option<usize>,
    method: Method,
    path: String,
    version: Version,
    pub origin: Option<String>,
    pub attempts: u32,
    pub origin_ttfb: Option<Duration>,
    pub error: Option<String>,
    status: StatusCode,
    head_sent: Duration,
    /// The answer's fields when they stayed the origin's lines: written with the node's own.
    pub origin_lines: Option<OriginLines>,
}

/// An origin answer's fields kept as the origin's lines ([`crate::raw_fields`]), with the
/// node's fields that go with them: `X-Origin`, and the cache labels when they are fixed. Its
/// response's map holds none of these, nor the node's `Via`:
/// [`ObservedBody::write_node_headers`] writes them, and
/// [`ObservedBody::insert_node_headers`] adds them for hyper.
#[derive(Debug)]
pub struct OriginLines {
    pub fields: Box<RawFields>,
    pub origin: HeaderValue,
    /// `Cache-Status` and `x-cache` (see [`crate::cache_path::fixed_bypass_labels`]).
    pub labels: Option<crate::cache_path::FixedLabels>,
}

impl RequestLog {
    /// Starts the record for `req`.
    pub fn new(
        state: &NodeState,
        conn: &ConnInfo,
        req: &Request<ClientBody>,
        started: Instant,
    ) -> Self {
        let path = req.uri().path();
        let detailed = state.access_log.enabled();
        RequestLog {
            detailed,
            started,
            request_id: HeaderValue::from_static(""),
            client_ip: Some(conn.peer.ip()),
            country: None,
            site: None,
            method: req.method().clone(),
            path: if detailed {
                path.chars().take(512).collect()
            } else {
                String::new()
            },
            version: req.version(),
            origin: None,
            attempts: 0,
            origin_ttfb: None,
            error: None,
            status: StatusCode::OK,
            head_sent: Duration::ZERO,
            origin_lines: None,
        }
    }

    /// Records the origin that answered (kept only when the access log is on).
    pub fn set_origin(&mut self, name: &str) {
        if self.detailed {
            self.origin = Some(name.to_string());
        }
    }
}

/// A request's record with what reporting it needs: the node, and the runtime (sites,
/// metrics) the request ran on. Boxed when the request starts and handed to the response
/// body as that box: the record is ~430 bytes, and moving it into a box at the end cost three
/// copies of it per request.
pub struct Finished {
    pub state: Arc<NodeState>,
    pub rt: Arc<Runtime>,
    pub log: RequestLog,
}

impl Finished {
    /// Wraps the body so the access-log line and metrics are emitted when it ends, and so
    /// the headers the node adds to every response (`x-served-by`, the request id,
    /// `server-timing`) go out with the head: the serving loop renders them
    /// ([`ObservedBody::write_node_headers`] on HTTP/1, [`ObservedBody::insert_node_headers`]
    /// for hyper's connections). Copies of those two names the response already carries
    /// (an origin echoing the request id) are removed here, so the node's own are the only
    /// ones. Takes the request's own references to the node and its runtime: cloning these
    /// shared `Arc`s per request costs cache-line traffic between threads.
    pub fn finish(mut self: Box<Self>, response: Response<ResponseBody>) -> Response<ObservedBody> {
        let (mut parts, body) = response.into_parts();
        let log = &mut self.log;
        log.head_sent = log.started.elapsed();
        log.status = parts.status;
        if log.request_id.is_empty() {
            log.request_id = new_request_id();
        }
        remove_all(
            &mut parts.headers,
            &[
                Some(&names::X_SERVED_BY),
                Some(&self.rt.config.upstream_headers.request_id),
            ],
        );
        Response::from_parts(
            parts,
            ObservedBody {
                inner: body,
                bytes: 0,
                log: Some(self),
            },
        )
    }
}

impl Finished {
    /// The `server-timing` value: the node's own time to the head and, after an origin
    /// answered, the origin's.
    fn push_timing(&self, out: &mut Vec<u8>) {
        let log = &self.log;
        out.extend_from_slice(b"edge;dur=");
        match log.origin_ttfb {
            Some(origin) => {
                push_tenths(out, log.head_sent.saturating_sub(origin));
                out.extend_from_slice(b", origin;dur=");
                push_tenths(out, origin);
            }
            None => push_tenths(out, log.head_sent),
        }
    }

    fn emit(&self, bytes: u64) {
        let log = &self.log;
        let site = log.site.and_then(|i| self.rt.sites.get(i));
        let site_name = site.map_or("-", |s| s.cfg.name.as_str());
        match site {
            Some(s) => {
                s.metrics.count_request(log.status.as_u16());
                s.metrics.duration.observe(log.head_sent);
                s.metrics.bytes.inc_by(bytes);
            }
            None => {
                // Requests rejected before a site was known (421, 400…): rare, so the
                // labelled lookup is fine here.
                let m = &self.state.metrics;
                m.requests
                    .get_or_create(&RequestLabels {
                        site: site_name.to_string(),
                        edge_region: self.rt.config.node.region.clone(),
                        status: log.status.as_u16(),
                    })
                    .inc();
                let labels = SiteLabels {
                    site: site_name.to_string(),
                };
                m.request_duration
                    .get_or_create(&labels)
                    .observe(log.head_sent);
                m.response_bytes.get_or_create(&labels).inc_by(bytes);
            }
        }
        let access = &self.state.access_log;
        if !access.enabled() {
            return;
        }
        let record = AccessRecord {
            ts: httpdate::fmt_http_date(std::time::SystemTime::now()),
            request_id: log.request_id.to_str().unwrap_or("-"),
            client_ip: log.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            client_country: log.country.as_ref().map(|c| c.as_str()),
            edge_region: &self.rt.config.node.region,
            site: site_name,
            method: log.method.as_str(),
            path: &log.path,
            protocol: match log.version {
                Version::HTTP_2 => "HTTP/2",
                Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            status: log.status.as_u16(),
            origin: log.origin.as_deref(),
            attempts: log.attempts,
            bytes_sent: bytes,
            ttfb_ms: ms(log.head_sent),
            duration_ms: ms(log.started.elapsed()),
            origin_ms: log.origin_ttfb.map(ms),
            error: log.error.as_deref(),
        };
        if !access.log(&record) {
            self.state.metrics.access_log_dropped.inc();
        }
    }
}

/// A random (v4) UUID in simple form. Drawn from the thread-local CSPRNG rather than
/// `Uuid::new_v4()`, which makes a `getrandom` system call per request.
pub fn new_request_id() -> HeaderValue {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut text = [0u8; uuid::fmt::Simple::LENGTH];
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .simple()
        .encode_lower(&mut text);
    // Hex digits only, so always a valid header value. `from_owner`: one allocation, and
    // the clones (upstream header, response header, log) only count references.
    HeaderValue::from_maybe_shared(Bytes::from_owner(text))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Appends a duration in milliseconds with one decimal, e.g. `12.3`. Integer digits only:
/// `format!` (and float formatting before it) showed up in pass-through and cache-hit
/// profiles.
fn push_tenths(out: &mut Vec<u8>, d: Duration) {
    // u64 arithmetic: `as_micros` is a u128, whose division is a library call.
    let micros = d
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()));
    let tenths = micros.saturating_add(50) / 100;
    push_decimal(out, tenths / 10);
    out.push(b'.');
    out.push(b'0' + (tenths % 10) as u8);
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

pin_project_lite::pin_project! {
    /// The client's response body; counts bytes and reports the request when dropped.
    pub struct ObservedBody {
        #[pin]
        inner: ResponseBody,
        bytes: u64,
        log: Option<Box<Finished>>,
    }

    impl PinnedDrop for ObservedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(log) = this.log.take() {
                log.emit(*this.bytes);
            }
        }
    }
}

impl ObservedBody {
    /// Appends the node's response header lines (`x-served-by`, the request id,
    /// `server-timing`) to an HTTP/1 head. Rendered rather than inserted into the
    /// response's `HeaderMap`: three hashed inserts, a buffer for the timing value and their
    /// drops cost ~900 instructions per request (callgrind: 20.1 k → 19.2 k per 1 KiB cache
    /// hit, 32.5 k → 31.6 k per pass-through request). Writes nothing
    /// once the request was reported (never the case before the body is polled).
    ///
    /// An answer whose fields stayed the origin's lines gets those first, then the node's
    /// `Via` and `X-Origin`. Returns whether a `Date` field was among the lines written.
    pub fn write_node_headers(&self, out: &mut Vec<u8>) -> bool {
        let Some(f) = &self.log else { return false };
        let mut date = false;
        if let Some(lines) = &f.log.origin_lines {
            lines.fields.write_to(out);
            date = lines.fields.has_date();
            push_prefixed(out, b"via: ", &f.rt.via);
            push_prefixed(out, b"x-origin: ", &lines.origin);
            if let Some(labels) = lines.labels {
                out.extend_from_slice(labels.lines());
            }
        }
        push_prefixed(out, b"x-served-by: ", &f.rt.served_by);
        push_prefixed(
            out,
            &f.rt.config.upstream_headers.prefixes.request_id,
            &f.log.request_id,
        );
        out.extend_from_slice(b"server-timing: ");
        f.push_timing(out);
        out.extend_from_slice(b"\r\n");
        date
    }

    /// Adds the same headers to `headers`, for responses hyper writes (HTTP/2, and HTTP/1
    /// connections handed to hyper). `server-timing` is appended: an origin's own entries
    /// stay beside the node's.
    pub fn insert_node_headers(&self, headers: &mut HeaderMap) {
        let Some(f) = &self.log else { return };
        if let Some(lines) = &f.log.origin_lines {
            lines.fields.append_to(headers);
            append_value(headers, http::header::VIA, &f.rt.via);
            headers.insert(names::X_ORIGIN, lines.origin.clone());
            for (name, value) in lines.labels.iter().flat_map(|l| l.fields()) {
                headers.insert(name, value);
            }
        }
        headers.insert(names::X_SERVED_BY, f.rt.served_by.clone());
        headers.insert(
            f.rt.config.upstream_headers.request_id.clone(),
            f.log.request_id.clone(),
        );
        let mut timing = Vec::with_capacity(48);
        f.push_timing(&mut timing);
        // A boxed slice becomes `Bytes` as is (the shrink stays within the allocator's size
        // class, in place); a `Vec` with spare capacity would take a second allocation.
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(timing.into_boxed_slice())) {
            headers.append(names::SERVER_TIMING, v);
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(d) = f.data_ref() {
                *this.bytes += d.len() as u64;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// An origin response body that fails if the origin goes quiet for longer than `idle`,
    /// so a stalled origin can never hold a client forever.
    pub struct IdleTimeoutBody {
        #[pin]
        inner: OriginBody,
        idle: IdleTimer,
    }
}

impl IdleTimeoutBody {
    /// Wraps an origin body.
    pub fn new(inner: OriginBody, idle: Duration) -> Self {
        IdleTimeoutBody {
            inner,
            idle: IdleTimer::new(idle),
        }
    }
}

/// The origin stopped sending mid-body.
#[derive(Debug, thiserror::Error)]
#[error("origin response body stalled")]
pub struct OriginStalled;

impl Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.touch();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.idle.poll_expired(cx));
                Poll::Ready(Some(Err(Box::new(OriginStalled))))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tenths(d: Duration) -> String {
        let mut out = Vec::new();
        push_tenths(&mut out, d);
        String::from_utf8(out).expect("digits and a dot")
    }

    #[test]
    fn durations_print_as_milliseconds_with_one_rounded_decimal() {
        assert_eq!(tenths(Duration::ZERO), "0.0");
        assert_eq!(tenths(Duration::from_micros(49)), "0.0");
        assert_eq!(tenths(Duration::from_micros(50)), "0.1");
        assert_eq!(tenths(Duration::from_micros(12_345)), "12.3");
        assert_eq!(tenths(Duration::from_micros(12_350)), "12.4");
        assert_eq!(tenths(Duration::from_millis(1_999_999)), "1999999.0");
        assert_eq!(
            tenths(Duration::from_secs(3) + Duration::from_nanos(999)),
            "3000.0"
        );
    }
}
