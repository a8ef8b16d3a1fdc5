//! Lock-free time-to-first-byte statistics for one origin: an EWMA and a p95 over a ring of
//! the most recent samples.
//!
//! Written on every proxied response, so everything is plain atomics. Concurrent writers may
//! interleave (two samples racing for one ring slot, an EWMA update computed from a value
//! another thread just replaced); each such race loses at most one sample, which is noise at
//! the precision these numbers are used for.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Weight of the newest sample in the EWMA. 0.2 gives a half-life of about 3 samples
/// (ln 0.5 / ln 0.8 ≈ 3.1): quick to notice an origin slowing down, yet one outlier moves
/// the average by only a fifth of its excess.
pub const EWMA_ALPHA: f64 = 0.2;

/// How many recent samples the p95 is computed over.
pub const P95_WINDOW: usize = 256;

// Bit pattern meaning "no EWMA yet"; a NaN payload no arithmetic here can produce.
const NO_EWMA: u64 = u64::MAX;

/// EWMA + sample count + p95 ring. All methods take `&self`.
#[derive(Debug)]
pub struct LatencyStats {
    ewma_bits: AtomicU64,
    samples: AtomicU64,
    ring_writes: AtomicU64,
    // Microseconds, saturating at u32::MAX (~71 minutes, far beyond any TTFB deadline).
    ring: [AtomicU32; P95_WINDOW],
}

impl Default for LatencyStats {
    fn default() -> Self {
        LatencyStats {
            ewma_bits: AtomicU64::new(NO_EWMA),
            samples: AtomicU64::new(0),
            ring_writes: AtomicU64::new(0),
            ring: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

impl LatencyStats {
    /// Feeds the EWMA and the sample count (health-check probes use this: they say how far
    /// away the origin is, but are too light to describe real responses' tail).
    pub fn record_ewma(&self, ttfb: Duration) {
        let x = ttfb.as_secs_f64();
        // fetch_update retries on contention; the closure never returns None.
        let _ = self.ewma_bits.fetch_update(Relaxed, Relaxed, |bits| {
            let next = if bits == NO_EWMA {
                x
            } else {
                let old = f64::from_bits(bits);
                old + EWMA_ALPHA * (x - old)
            };
            Some(next.to_bits())
        });
        self.samples.fetch_add(1, Relaxed);
    }

    /// Feeds the EWMA, the sample count and the p95 window (real responses).
    pub fn record(&self, ttfb: Duration) {
        self.record_ewma(ttfb);
        let micros = u32::try_from(ttfb.as_micros()).unwrap_or(u32::MAX);
        let slot = self.ring_writes.fetch_add(1, Relaxed) as usize % P95_WINDOW;
        self.ring[slot].store(micros, Relaxed);
    }

    /// The EWMA, or `None` before the first sample.
    pub fn ewma(&self) -> Option<Duration> {
        let bits = self.ewma_bits.load(Relaxed);
        if bits == NO_EWMA {
            return None;
        }
        Duration::try_from_secs_f64(f64::from_bits(bits).max(0.0)).ok()
    }

    /// Samples fed into the EWMA so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(Relaxed)
    }

    /// The 95th percentile (nearest-rank) of the last [`P95_WINDOW`] samples given to
    /// [`LatencyStats::record`]; `None` before the first. Sorts a 1 KiB stack copy, so call it
    /// per request only when needed (hedging), not in a hot loop.
    pub fn p95(&self) -> Option<Duration> {
        let written = self.ring_writes.load(Relaxed);
        let n = usize::try_from(written)
            .unwrap_or(usize::MAX)
            .min(P95_WINDOW);
        if n == 0 {
            return None;
        }
        let mut buf = [0u32; P95_WINDOW];
        for (dst, src) in buf.iter_mut().zip(&self.ring).take(n) {
            *dst = src.load(Relaxed);
        }
        let window = &mut buf[..n];
        window.sort_unstable();
        // Nearest rank: the smallest value with at least 95 % of samples at or below it.
        let rank = (n * 95).div_ceil(100).max(1);
        Some(Duration::from_micros(u64::from(window[rank - 1])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_stats_have_no_numbers() {
        let s = LatencyStats::default();
        assert_eq!((s.ewma(), s.p95(), s.samples()), (None, None, 0));
    }

    #[test]
    fn ewma_starts_at_first_sample_then_moves_a_fifth() {
        let s = LatencyStats::default();
        s.record(ms(100));
        assert_eq!(s.ewma(), Some(ms(100)));
        s.record(ms(200));
        let e = s.ewma().unwrap().as_secs_f64();
        assert!((e - 0.120).abs() < 1e-9, "{e}");
        s.record_ewma(ms(120));
        assert_eq!(s.samples(), 3);
        // Converges towards a steady value.
        for _ in 0..100 {
            s.record(ms(50));
        }
        assert!((s.ewma().unwrap().as_secs_f64() - 0.050).abs() < 1e-6);
    }

    #[test]
    fn p95_is_nearest_rank_over_the_window() {
        let s = LatencyStats::default();
        s.record(ms(7));
        assert_eq!(s.p95(), Some(ms(7)));
        let s = LatencyStats::default();
        for i in 1..=100 {
            s.record(ms(i));
        }
        assert_eq!(s.p95(), Some(ms(95)));
        // Only the newest 256 count: old slow samples age out.
        let s = LatencyStats::default();
        for _ in 0..300 {
            s.record(ms(1000));
        }
        for _ in 0..P95_WINDOW {
            s.record(ms(10));
        }
        assert_eq!(s.p95(), Some(ms(10)));
    }

    #[test]
    fn probes_do_not_enter_the_p95() {
        let s = LatencyStats::default();
        s.record_ewma(ms(5));
        assert_eq!(s.p95(), None);
        assert_eq!(s.samples(), 1);
    }

    #[test]
    fn huge_samples_saturate() {
        let s = LatencyStats::default();
        s.record(Duration::from_secs(100_000));
        assert_eq!(s.p95(), Some(Duration::from_micros(u64::from(u32::MAX))));
    }
}
