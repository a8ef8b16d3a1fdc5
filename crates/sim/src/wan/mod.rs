//! The WAN emulator: a user-space TCP relay on loopback that makes a connection between two
//! processes on one machine behave roughly like one between two places on the planet.
//!
//! ```no_run
//! # async fn demo(origin: std::net::SocketAddr) -> std::io::Result<()> {
//! use regionless_sim::wan::{Link, LinkSpec, Relay};
//! use std::time::Duration;
//!
//! // 40 ms each way (an 80 ms RTT), ±2 ms jitter.
//! let spec = LinkSpec::delay(Duration::from_millis(40)).with_jitter(Duration::from_millis(2));
//! let relay = Relay::new(origin, Link::symmetric(spec)).start().await?;
//! let stream = relay.connect().await?; // returns after the emulated handshake (one RTT)
//! # drop(stream); Ok(()) }
//! ```
//! [`crate::World::link`] builds the [`Link`] for a pair of places.
//!
//! # What is emulated, per direction
//! Each direction has a virtual sender (`schedule.rs`) that stamps bytes with their arrival
//! time: they are serialised at the bandwidth cap, limited by a congestion window (slow start
//! from 10 segments, doubling per RTT, restarting after an idle RTO), delayed by the one-way
//! propagation delay ± jitter, and, with probability `loss` per segment, held back one
//! retransmission timeout. Arrival times never decrease, so jitter and loss delay the bytes
//! behind a late one instead of reordering them, as TCP's in-order delivery does.
//!
//! # Why a pipeline
//! A pump reads and stamps; a separate delivery loop writes each piece at its arrival time.
//! Bytes read at t are delivered at t + delay no matter how many are already in flight, so a
//! delayed link keeps its throughput (a stop-and-wait relay would carry one read per delay).
//! Between them sits a byte budget ([`DEFAULT_MAX_IN_FLIGHT`] per direction and connection):
//! when it is spent the pump stops reading, the kernel buffers fill and the real sender
//! blocks, so a slow receiver never makes the relay buffer without bound.
//!
//! # Close
//! EOF from one side is delivered as a half-close (FIN) to the other after the data before
//! it, one delay later; the other direction continues. A read error (reset) tears the whole
//! connection down when it would have reached the peer; a failed write tears it down at once.
//!
//! # Handshakes
//! A user-space relay cannot delay the kernel's SYN-ACK: on loopback `connect()` completes in
//! microseconds. So the relay models the handshake itself, counted from the moment it accepts
//! (t0): the connecting side's bytes do not leave before t0 + RTT (when its handshake would
//! have completed), and the upstream connection is opened at t0 + RTT + forward delay (when
//! the server would have seen the final ACK). A new connection therefore costs one extra RTT
//! before its first response compared with a reused one, for *any* client (curl, an edge's
//! connection pool); keep-alive and pooling pay off as they do over a real WAN.
//!
//! With an ordinary client that extra RTT shows up in time-to-first-byte, not in connect
//! time. A client we control uses the emulated dialer, [`Link::connect`] (or
//! [`RelayHandle::connect`]), which returns one RTT after it started, so connect time shows
//! the handshake and the following TTFB does not; because the relay counts from its own
//! accept, the handshake is not paid twice. Other ways considered: delaying `accept()` does
//! not delay the kernel's handshake; a preamble or side-channel registration between dialer
//! and relay would be exact to the microsecond but couples them for a gain smaller than the
//! timer's resolution.
//!
//! # Why not an existing crate
//! `noxious` (a Rust port of toxiproxy, 1.0.4) was the candidate. Its latency toxic awaits a
//! sleep per chunk before taking the next one, i.e. stop-and-wait: throughput over a delayed
//! link collapses to one read per delay. It also works in whole milliseconds, has no notion of
//! handshakes or slow start, and its last release (2021) pins tokio-util 0.6 and thiserror 1.
//! The relay here is a few hundred lines over tokio.
//!
//! # Precision
//! Deliveries wait on a small timer thread (`precise_timer.rs`) rather than tokio's timer,
//! whose 1 ms resolution rounds every deadline up and added about 2 ms per round trip. The
//! remaining overhead is measured by
//! `cargo run --release -p regionless-sim --example wan_overhead`.

mod pipe;
mod precise_timer;
mod relay;
mod schedule;
mod spec;

pub use relay::{Relay, RelayHandle, RelayStats, DEFAULT_MAX_IN_FLIGHT};
pub use spec::{Link, LinkSpec, INITIAL_WINDOW_SEGMENTS, MAX_DELAY, MIN_RTO, MSS};
