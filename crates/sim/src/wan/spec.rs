//! What an emulated link does to bytes: [`LinkSpec`] for one direction, [`Link`] for the pair,
//! and the emulated dialer.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// TCP payload per segment on a 1500-byte-MTU path with timestamps (1500 − 20 − 20 − 12).
pub const MSS: usize = 1448;

/// Initial congestion window in segments (RFC 6928, Linux default).
pub const INITIAL_WINDOW_SEGMENTS: usize = 10;

/// Linux's minimum retransmission timeout (`TCP_RTO_MIN`); with a steady RTT the RTO is about
/// RTT + this.
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// Longest one-way delay or jitter a link may have: far beyond any path on Earth, and small
/// enough that deadline arithmetic can never overflow.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// One direction of an emulated link.
///
/// Bytes that leave the sender at time `t` arrive at `t + one_way ± jitter` (uniform, clamped
/// at zero), but never before bytes sent earlier: jitter never reorders a connection's bytes, it
/// delays the bytes behind a late one instead (as TCP's in-order delivery does).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSpec {
    /// Propagation delay (half the RTT for a symmetric link).
    pub one_way: Duration,
    /// Maximum deviation from `one_way`, uniformly distributed in ±jitter.
    pub jitter: Duration,
    /// Probability, per MSS-sized segment, that it is lost. Loss is emulated as delay: the
    /// segment and everything behind it arrive one retransmission timeout later (RTT +
    /// [`MIN_RTO`]) and the congestion window restarts from the initial window. Must be in 0..1.
    pub loss: f64,
    /// Bottleneck rate: bytes are serialised at this rate before the propagation delay.
    /// `None` means unlimited; `Some(0)` is invalid.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Emulate TCP slow start: a new (or idle for longer than an RTO) connection may have only
    /// [`INITIAL_WINDOW_SEGMENTS`] × [`MSS`] bytes unacknowledged, and the window grows by the
    /// bytes acknowledged (doubling per RTT). Loopback TCP underneath ramps up instantly, so
    /// without this a large first response would cost one RTT instead of several.
    pub slow_start: bool,
}

impl Default for LinkSpec {
    /// No delay, no jitter, no loss, no rate limit, slow start on.
    fn default() -> Self {
        LinkSpec {
            one_way: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            bandwidth_bytes_per_sec: None,
            slow_start: true,
        }
    }
}

impl LinkSpec {
    /// A link with only a propagation delay (and slow start).
    pub fn delay(one_way: Duration) -> LinkSpec {
        LinkSpec {
            one_way,
            ..LinkSpec::default()
        }
    }

    /// The same link with ±`jitter`.
    pub fn with_jitter(mut self, jitter: Duration) -> LinkSpec {
        self.jitter = jitter;
        self
    }

    /// The same link with per-segment loss probability `loss` (validated at relay start).
    pub fn with_loss(mut self, loss: f64) -> LinkSpec {
        self.loss = loss;
        self
    }

    /// The same link capped at `bytes_per_sec`.
    pub fn with_bandwidth(mut self, bytes_per_sec: u64) -> LinkSpec {
        self.bandwidth_bytes_per_sec = Some(bytes_per_sec);
        self
    }

    /// The same link with slow start on or off.
    pub fn with_slow_start(mut self, on: bool) -> LinkSpec {
        self.slow_start = on;
        self
    }

    /// `Ok` when `loss` is in 0..1 (1 would never deliver), the bandwidth, if set, is > 0, and
    /// `one_way` and `jitter` are at most [`MAX_DELAY`]; otherwise an `InvalidInput` error
    /// saying which.
    pub fn validate(&self) -> io::Result<()> {
        if self.one_way > MAX_DELAY || self.jitter > MAX_DELAY {
            return Err(invalid(format!(
                "one-way delay {:?} or jitter {:?} exceeds {MAX_DELAY:?}",
                self.one_way, self.jitter
            )));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(invalid(format!("loss {} is outside 0..1", self.loss)));
        }
        if self.bandwidth_bytes_per_sec == Some(0) {
            return Err(invalid("bandwidth 0 would never deliver".to_owned()));
        }
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Both directions of an emulated path: `forward` carries what the connecting side sends,
/// `backward` what the accepting side sends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    /// Connecting side → accepting side.
    pub forward: LinkSpec,
    /// Accepting side → connecting side.
    pub backward: LinkSpec,
}

impl Link {
    /// A link with the given directions.
    pub fn new(forward: LinkSpec, backward: LinkSpec) -> Link {
        Link { forward, backward }
    }

    /// The same spec both ways.
    pub fn symmetric(spec: LinkSpec) -> Link {
        Link {
            forward: spec.clone(),
            backward: spec,
        }
    }

    /// Round-trip propagation delay (sum of the one-way delays, without jitter or loss).
    pub fn rtt(&self) -> Duration {
        self.forward.one_way + self.backward.one_way
    }

    /// The link seen from the other end.
    pub fn reversed(&self) -> Link {
        Link {
            forward: self.backward.clone(),
            backward: self.forward.clone(),
        }
    }

    /// Both directions valid (see [`LinkSpec::validate`]).
    pub fn validate(&self) -> io::Result<()> {
        self.forward.validate()?;
        self.backward.validate()
    }

    /// The emulated dialer: connects to `addr` (a relay of this link) and returns once the
    /// emulated handshake is done, i.e. one [`Link::rtt`] after the connect started, so a caller
    /// timing this call measures a realistic connect time. The relay counts the handshake from
    /// the moment it accepts, so a stream returned here can be written to at once without
    /// paying the handshake twice. Sets `TCP_NODELAY`, as latency-sensitive clients do.
    /// Fails with `InvalidInput` for an invalid link, or with the connect error.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.validate()?;
        let started = Instant::now();
        let stream = TcpStream::connect(addr).await?;
        self.finish_handshake(stream, started).await
    }

    /// Like [`Link::connect`], from a chosen local address (e.g. a loopback address that a
    /// demo GeoIP file maps to the client's country). The port is picked by the OS.
    pub async fn connect_from(&self, local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
        self.validate()?;
        let started = Instant::now();
        let socket = match local {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(local, 0))?;
        let stream = socket.connect(addr).await?;
        self.finish_handshake(stream, started).await
    }

    async fn finish_handshake(&self, stream: TcpStream, started: Instant) -> io::Result<TcpStream> {
        stream.set_nodelay(true)?;
        super::precise_timer::sleep_until(started + self.rtt()).await;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_impossible_links() {
        assert!(LinkSpec::default().validate().is_ok());
        assert!(LinkSpec::default().with_loss(1.0).validate().is_err());
        assert!(LinkSpec::default().with_loss(-0.1).validate().is_err());
        assert!(LinkSpec::default().with_bandwidth(0).validate().is_err());
        let far = LinkSpec::delay(MAX_DELAY + Duration::from_secs(1));
        assert!(far.validate().is_err());
        assert!(LinkSpec::delay(MAX_DELAY)
            .with_jitter(MAX_DELAY)
            .validate()
            .is_ok());
    }

    #[test]
    fn rtt_sums_directions_and_reverse_swaps_them() {
        let l = Link::new(
            LinkSpec::delay(Duration::from_millis(3)),
            LinkSpec::delay(Duration::from_millis(5)),
        );
        assert_eq!(l.rtt(), Duration::from_millis(8));
        assert_eq!(l.reversed().forward.one_way, Duration::from_millis(5));
    }
}
