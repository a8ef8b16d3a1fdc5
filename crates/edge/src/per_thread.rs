//! Counters and latency histograms written on every request, kept as one slot per thread
//! and summed when `/metrics` is scraped.
//!
//! Owns: the thread → slot assignment and the sharded metric types the request path writes.
//! Must never: take a lock on the write path, or be read on the request path (reading sums
//! every slot).
//!
//! Why not `prometheus_client`'s own `Counter` and `Histogram`: each is one shared value (a
//! histogram a `RwLock` whose write lock every `observe` takes). With every serving thread
//! writing the same few cache lines per request, each write first takes the line away from
//! the other cores; a pass-through request wrote about ten such lines. nginx's workers share
//! nothing per request. A slot per thread keeps each line with the thread that writes it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

// `CachePadded` is 128-byte aligned on x86-64 (the adjacent-line prefetcher pulls lines in
// pairs, so a neighbour within 128 bytes would still bounce).
pub use crossbeam_utils::CachePadded;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Slots per sharded value. Threads beyond this share slots (still exact, just contended);
/// a node runs one serving thread per core and a handful of others.
pub const SLOTS: usize = 16;

/// This thread's slot in `0..SLOTS`: threads take slots in the order they first write a
/// sharded value.
pub fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|s| {
        let mine = s.get();
        if mine != usize::MAX {
            return mine;
        }
        let mine = NEXT.fetch_add(1, Relaxed) % SLOTS;
        s.set(mine);
        mine
    })
}

/// A monotonic counter with a slot per thread. Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct ShardedCounter(Arc<[CachePadded<AtomicU64>; SLOTS]>);

impl ShardedCounter {
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0[slot()].fetch_add(n, Relaxed);
    }

    /// The total over every thread (wrapping only after 2^64 counts).
    pub fn get(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.load(Relaxed)))
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets; a last `+Inf` bucket follows.
pub const LATENCY_BOUNDS_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

// The same bounds in nanoseconds, so `observe` compares integers.
const LATENCY_BOUNDS_NS: [u64; 13] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// One thread's share of a histogram: 15 words, within one padded slot.
#[derive(Debug, Default)]
struct HistogramSlot {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_ns: AtomicU64,
}

/// A Prometheus histogram of durations over [`LATENCY_BOUNDS_SECONDS`], with a slot per
/// thread. Clones share the counts. Between two slots' reads a scrape may see an
/// observation in `count` but not yet in `sum` (or the other way round); Prometheus
/// histograms are not read atomically anyway.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram(Arc<[CachePadded<HistogramSlot>; SLOTS]>);

impl LatencyHistogram {
    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // A value equal to a bound belongs in that bound's bucket (`le`).
        let bucket = LATENCY_BOUNDS_NS.partition_point(|&bound| bound < ns);
        let slot: &HistogramSlot = &self.0[slot()];
        slot.buckets[bucket].fetch_add(1, Relaxed);
        slot.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Sum in seconds, count, and each bucket's own (non-cumulative) count with its upper
    /// bound (`f64::MAX` for `+Inf`, as `prometheus_client` encodes it).
    pub fn get(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut counts = [0u64; LATENCY_BUCKETS];
        let mut sum_ns = 0u128;
        for slot in self.0.iter() {
            for (total, b) in counts.iter_mut().zip(&slot.buckets) {
                *total = total.wrapping_add(b.load(Relaxed));
            }
            sum_ns += u128::from(slot.sum_ns.load(Relaxed));
        }
        let count = counts.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        let buckets = LATENCY_BOUNDS_SECONDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(counts)
            .collect();
        (sum_ns as f64 / 1e9, count, buckets)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.get();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        out
    }

    #[test]
    fn bounds_in_seconds_and_nanoseconds_agree() {
        for (s, ns) in LATENCY_BOUNDS_SECONDS.iter().zip(LATENCY_BOUNDS_NS) {
            assert_eq!(Duration::from_secs_f64(*s), Duration::from_nanos(ns));
        }
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let c = ShardedCounter::default();
        let h = LatencyHistogram::default();
        std::thread::scope(|s| {
            for t in 0..(SLOTS + 3) {
                let (c, h) = (c.clone(), h.clone());
                s.spawn(move || {
                    for _ in 0..1000 {
                        c.inc();
                        h.observe(Duration::from_millis(t as u64));
                    }
                    c.inc_by(5);
                });
            }
        });
        assert_eq!(c.get(), (SLOTS as u64 + 3) * 1005);
        let (sum, count, _) = h.get();
        assert_eq!(count, (SLOTS as u64 + 3) * 1000);
        let expected: u64 = (0..(SLOTS as u64 + 3)).map(|t| t * 1000).sum();
        assert!((sum - expected as f64 / 1000.0).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn exposition_matches_prometheus_clients_own_histogram() {
        let samples = [
            Duration::ZERO,
            Duration::from_micros(999),
            Duration::from_millis(1),
            Duration::from_micros(1001),
            Duration::from_millis(30),
            Duration::from_millis(2500),
            Duration::from_secs(11),
            Duration::MAX,
        ];
        let ours = LatencyHistogram::default();
        let theirs = Histogram::new(LATENCY_BOUNDS_SECONDS);
        for d in &samples[..samples.len() - 1] {
            ours.observe(*d);
            theirs.observe(d.as_secs_f64());
        }
        let a = text(|r| r.register("latency", "help", ours.clone()));
        let b = text(|r| r.register("latency", "help", theirs));
        // Sums differ in the last float digits (ours adds integer nanoseconds).
        let without_sum = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with("latency_sum"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(without_sum(&a), without_sum(&b));
        assert!(a.contains("latency_bucket{le=\"0.001\"} 3"), "{a}");
        assert!(a.contains("latency_sum 13.533"), "{a}");
        // A duration past u64 nanoseconds lands in +Inf instead of overflowing.
        ours.observe(Duration::MAX);
        let (_, count, buckets) = ours.get();
        assert_eq!((count, buckets.last().map(|b| b.1)), (8, Some(2)));
    }

    #[test]
    fn counter_exposition_matches_prometheus_clients_own_counter() {
        let ours = ShardedCounter::default();
        let theirs = prometheus_client::metrics::counter::Counter::<u64>::default();
        ours.inc_by(41);
        ours.inc();
        theirs.inc_by(42);
        let a = text(|r| r.register("hits", "help", ours));
        let b = text(|r| r.register("hits", "help", theirs));
        assert_eq!(a, b);
    }

    #[test]
    fn a_thread_keeps_its_slot() {
        let first = slot();
        assert_eq!(slot(), first);
        assert!(first < SLOTS);
        let other = std::thread::spawn(slot).join().expect("thread ran");
        assert!(other < SLOTS);
    }
}
