//! The virtual sender of one direction: decides when each byte arrives. Pure (no I/O, no
//! clock reads), so its rules are tested exactly, without timing.

use super::spec::{LinkSpec, INITIAL_WINDOW_SEGMENTS, MIN_RTO, MSS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// A run of bytes that arrives at the receiver at `arrive_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) len: usize,
    pub(crate) arrive_at: Instant,
}

/// Per-direction emulation state. Invariants: arrival times are non-decreasing across calls
/// (ordering), departures respect the bandwidth cap and the congestion window, and nothing
/// departs before the `hold_until` given to `new`.
pub(crate) struct Scheduler {
    spec: LinkSpec,
    /// How long the sender waits for an acknowledgement after a piece arrives (the reverse
    /// direction's propagation delay).
    ack_delay: Duration,
    rto: Duration,
    /// Largest piece, so a capped link delivers smoothly (about 1 ms of serialisation) instead
    /// of one lump per read.
    grain: usize,
    rng: StdRng,
    /// The sender's clock: it sends in order, so nothing departs before the previous piece did.
    clock: Instant,
    link_free_at: Instant,
    last_arrival: Instant,
    last_departure: Option<Instant>,
    initial_window: usize,
    max_window: usize,
    cwnd: usize,
    in_flight: usize,
    unacked: VecDeque<(Instant, usize)>,
}

impl Scheduler {
    /// `hold_until`: the earliest departure (the end of the emulated handshake for the
    /// connecting side). `max_window`: the largest congestion window (and the window when slow
    /// start is off), normally the relay's in-flight cap. `seed` fixes jitter and loss.
    pub(crate) fn new(
        spec: LinkSpec,
        reverse_one_way: Duration,
        hold_until: Instant,
        max_window: usize,
        seed: u64,
    ) -> Scheduler {
        let initial_window = (INITIAL_WINDOW_SEGMENTS * MSS).min(max_window).max(1);
        let max_window = max_window.max(initial_window);
        let grain = match spec.bandwidth_bytes_per_sec {
            Some(bps) => usize::try_from(bps / 1000).unwrap_or(usize::MAX).max(MSS),
            None => usize::MAX,
        };
        Scheduler {
            rto: spec.one_way + reverse_one_way + MIN_RTO,
            cwnd: if spec.slow_start {
                initial_window
            } else {
                max_window
            },
            spec,
            ack_delay: reverse_one_way,
            grain,
            rng: StdRng::seed_from_u64(seed),
            clock: hold_until,
            link_free_at: hold_until,
            last_arrival: hold_until,
            last_departure: None,
            initial_window,
            max_window,
            in_flight: 0,
            unacked: VecDeque::new(),
        }
    }

    /// Schedules `len` bytes handed over by the sender at `sent_at`, appending one or more
    /// pieces (in order, summing to `len`) to `out`.
    pub(crate) fn schedule(&mut self, len: usize, sent_at: Instant, out: &mut Vec<Piece>) {
        let mut now = sent_at.max(self.clock);
        self.release_acks(now);
        // RFC 5681 §4.1 / Linux tcp_slow_start_after_idle: an idle connection restarts slowly.
        if self.spec.slow_start && self.in_flight == 0 {
            if let Some(last) = self.last_departure {
                if now.saturating_duration_since(last) > self.rto {
                    self.cwnd = self.cwnd.min(self.initial_window);
                }
            }
        }
        let mut remaining = len;
        while remaining > 0 {
            self.release_acks(now);
            let window = self.cwnd.saturating_sub(self.in_flight);
            if window == 0 {
                match self.unacked.front() {
                    Some(&(ack_at, _)) => {
                        now = now.max(ack_at);
                        continue;
                    }
                    // Unreachable while cwnd ≥ 1, but never spin if it were.
                    None => self.cwnd = self.initial_window,
                }
                continue;
            }
            let n = remaining.min(window).min(self.grain);
            let start = now.max(self.link_free_at);
            let departure = start + self.serialisation(n);
            self.link_free_at = departure;
            let mut delay = self.propagation();
            if self.lost(n) {
                delay += self.rto;
                if self.spec.slow_start {
                    self.cwnd = self.initial_window;
                }
            }
            let arrive_at = (departure + delay).max(self.last_arrival);
            self.last_arrival = arrive_at;
            self.last_departure = Some(departure);
            self.unacked.push_back((arrive_at + self.ack_delay, n));
            self.in_flight += n;
            out.push(Piece { len: n, arrive_at });
            remaining -= n;
        }
        self.clock = now;
    }

    /// When a close (FIN or reset) handed over at `sent_at` arrives: after all data sent
    /// before it, one propagation delay later.
    pub(crate) fn schedule_close(&mut self, sent_at: Instant) -> Instant {
        let departure = sent_at.max(self.clock).max(self.link_free_at);
        let arrive_at = (departure + self.spec.one_way).max(self.last_arrival);
        self.last_arrival = arrive_at;
        arrive_at
    }

    fn release_acks(&mut self, now: Instant) {
        while let Some(&(ack_at, n)) = self.unacked.front() {
            if ack_at > now {
                break;
            }
            self.unacked.pop_front();
            self.in_flight -= n;
            if self.spec.slow_start {
                self.cwnd = (self.cwnd + n).min(self.max_window);
            }
        }
    }

    fn serialisation(&self, n: usize) -> Duration {
        match self.spec.bandwidth_bytes_per_sec {
            Some(bps) if bps > 0 => Duration::from_secs_f64(n as f64 / bps as f64),
            _ => Duration::ZERO,
        }
    }

    fn propagation(&mut self) -> Duration {
        let one_way = self.spec.one_way;
        let j = u64::try_from(self.spec.jitter.as_nanos()).unwrap_or(u64::MAX / 2);
        if j == 0 {
            return one_way;
        }
        let offset = self.rng.gen_range(0..=j.saturating_mul(2));
        let base = u64::try_from(one_way.as_nanos()).unwrap_or(u64::MAX / 4);
        Duration::from_nanos(base.saturating_add(offset).saturating_sub(j))
    }

    fn lost(&mut self, n: usize) -> bool {
        if self.spec.loss <= 0.0 {
            return false;
        }
        let segments = n.div_ceil(MSS) as i32;
        let p_any = 1.0 - (1.0 - self.spec.loss).powi(segments);
        self.rng.gen::<f64>() < p_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn sched(spec: LinkSpec, t0: Instant) -> Scheduler {
        Scheduler::new(spec, spec_reverse(), t0, 4 << 20, 7)
    }

    fn spec_reverse() -> Duration {
        10 * MS
    }

    fn run(s: &mut Scheduler, len: usize, at: Instant) -> Vec<Piece> {
        let mut out = Vec::new();
        s.schedule(len, at, &mut out);
        assert_eq!(out.iter().map(|p| p.len).sum::<usize>(), len);
        out
    }

    #[test]
    fn delay_is_a_pipeline_not_stop_and_wait() {
        let t0 = Instant::now();
        let mut s = sched(LinkSpec::delay(10 * MS).with_slow_start(false), t0);
        // Chunks read 1 ms apart arrive 1 ms apart, each 10 ms after it was read.
        for i in 0..100u32 {
            let p = run(&mut s, 1000, t0 + i * MS);
            assert_eq!(
                p,
                vec![Piece {
                    len: 1000,
                    arrive_at: t0 + i * MS + 10 * MS
                }]
            );
        }
    }

    #[test]
    fn nothing_departs_before_the_hold() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(LinkSpec::delay(5 * MS), 5 * MS, t0 + 10 * MS, 1 << 20, 1);
        assert_eq!(run(&mut s, 10, t0)[0].arrive_at, t0 + 15 * MS);
        assert_eq!(run(&mut s, 10, t0 + 20 * MS)[0].arrive_at, t0 + 25 * MS);
    }

    #[test]
    fn jitter_never_reorders() {
        let t0 = Instant::now();
        let mut s = sched(LinkSpec::delay(5 * MS).with_jitter(20 * MS), t0);
        let mut last = t0;
        let mut spread = (Duration::MAX, Duration::ZERO);
        for i in 0..2000u32 {
            let sent = t0 + i * MS / 4;
            for p in run(&mut s, 100, sent) {
                assert!(p.arrive_at >= last, "reordered at {i}");
                last = p.arrive_at;
                let d = p.arrive_at - sent;
                spread = (spread.0.min(d), spread.1.max(d));
            }
        }
        assert!(
            spread.1 > spread.0 + 10 * MS,
            "jitter had no effect: {spread:?}"
        );
    }

    #[test]
    fn bandwidth_serialises_before_propagation() {
        let t0 = Instant::now();
        // 1 MB/s: 100 kB take 100 ms to serialise, then 20 ms to propagate.
        let spec = LinkSpec::delay(20 * MS)
            .with_bandwidth(1_000_000)
            .with_slow_start(false);
        let mut s = sched(spec, t0);
        let pieces = run(&mut s, 100_000, t0);
        assert!(pieces.len() > 10, "a capped link delivers smoothly");
        let close_to = |a: Instant, b: Instant| a.max(b) - a.min(b) < Duration::from_micros(1);
        let last = pieces.last().map_or(t0, |p| p.arrive_at);
        assert!(close_to(last, t0 + 120 * MS), "{:?}", last - t0);
        let first_serialised = Duration::from_secs_f64(MSS as f64 / 1e6);
        assert!(close_to(
            pieces[0].arrive_at,
            t0 + 20 * MS + first_serialised
        ));
    }

    #[test]
    fn slow_start_doubles_per_rtt_and_restarts_after_idle() {
        let t0 = Instant::now();
        // RTT 20 ms (10 each way), slow start from 10 segments.
        let mut s = sched(LinkSpec::delay(10 * MS), t0);
        let iw = INITIAL_WINDOW_SEGMENTS * MSS;
        let pieces = run(&mut s, 7 * iw, t0);
        let rounds: Vec<Duration> = pieces.iter().map(|p| p.arrive_at - t0).collect();
        // 1 + 2 + 4 windows = 7 windows in three round trips: 10, 30, 50 ms.
        let round = |ms: u32| {
            pieces
                .iter()
                .filter(|p| p.arrive_at == t0 + ms * MS)
                .map(|p| p.len)
                .sum::<usize>()
        };
        assert_eq!(
            (round(10), round(30), round(50)),
            (iw, 2 * iw, 4 * iw),
            "{rounds:?}"
        );

        // Reused soon after: the window is open, everything goes in one trip.
        let later = t0 + 100 * MS;
        let p = run(&mut s, 7 * iw, later);
        assert!(p.iter().all(|p| p.arrive_at == later + 10 * MS), "{p:?}");

        // Idle for longer than an RTO (20 ms + 200 ms): back to the initial window.
        let idle = later + 500 * MS;
        let p = run(&mut s, 2 * iw, idle);
        assert_eq!(p.last().map(|p| p.arrive_at), Some(idle + 30 * MS));
    }

    #[test]
    fn loss_delays_by_a_retransmission_timeout_and_keeps_order() {
        let t0 = Instant::now();
        let spec = LinkSpec::delay(10 * MS)
            .with_loss(0.2)
            .with_slow_start(false);
        let mut s = sched(spec, t0);
        let (mut late, mut last) = (0, t0);
        for i in 0..200u32 {
            let sent = t0 + i * 10 * MS;
            for p in run(&mut s, MSS, sent) {
                assert!(p.arrive_at >= last);
                last = p.arrive_at;
                if p.arrive_at - sent >= 10 * MS + 220 * MS {
                    late += 1;
                }
            }
        }
        // About 20 % are lost; with head-of-line blocking more arrive late, but not all.
        assert!((20..150).contains(&late), "{late}");
    }

    #[test]
    fn close_arrives_after_the_data_before_it() {
        let t0 = Instant::now();
        let mut s = sched(LinkSpec::delay(10 * MS).with_bandwidth(100_000), t0);
        let last = run(&mut s, 10_000, t0).last().map(|p| p.arrive_at);
        let fin = s.schedule_close(t0);
        assert_eq!(Some(fin), last);
        assert!(fin >= t0 + 110 * MS);
    }
}
