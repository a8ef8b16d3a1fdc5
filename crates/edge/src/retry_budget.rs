//! The node-wide cap on retries and hedges: at most `percent` % of requests over a sliding
//! 10-second window, plus a small per-second floor so a quiet node can still fail over.
//! This is what stops a sick origin from causing a retry storm (as in Finagle's RetryBudget
//! and Envoy's retry budgets).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::per_thread::{slot, CachePadded, SLOTS};

const BUCKETS: usize = 10;

/// Counts requests and retries per one-second bucket.
pub struct RetryBudget {
    start: Instant,
    percent: f64,
    min_per_second: f64,
    /// Which second (since `start`, plus one) each bucket holds.
    epoch: [AtomicU64; BUCKETS],
    /// Requests per bucket, a row per thread slot: written on every request, so each
    /// serving thread keeps its own cache line (see `per_thread`).
    requests: Box<[CachePadded<[AtomicU64; BUCKETS]>; SLOTS]>,
    retries: [AtomicU64; BUCKETS],
}

impl RetryBudget {
    /// A budget allowing `percent` % of requests as retries, and at least `min_per_second`.
    pub fn new(percent: f64, min_per_second: f64) -> Self {
        RetryBudget {
            start: Instant::now(),
            percent,
            min_per_second,
            epoch: Default::default(),
            requests: Box::default(),
            retries: Default::default(),
        }
    }

    /// The bucket of the second `at` falls in, claimed for that second (its counts reset)
    /// if it still holds an older one; `None` when it already holds a newer second (`at` is
    /// more than the window old).
    fn bucket(&self, at: Instant) -> Option<usize> {
        let sec = at.saturating_duration_since(self.start).as_secs() + 1;
        let i = (sec % BUCKETS as u64) as usize;
        let seen = self.epoch[i].load(Ordering::Relaxed);
        if seen > sec {
            return None;
        }
        if seen < sec
            && self.epoch[i]
                .compare_exchange(seen, sec, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            for row in self.requests.iter() {
                row[i].store(0, Ordering::Relaxed);
            }
            self.retries[i].store(0, Ordering::Relaxed);
        }
        Some(i)
    }

    fn window_totals(&self, now: Instant) -> (u64, u64) {
        let now = now.saturating_duration_since(self.start).as_secs() + 1;
        let mut req = 0;
        let mut ret = 0;
        for i in 0..BUCKETS {
            let e = self.epoch[i].load(Ordering::Relaxed);
            if e + (BUCKETS as u64) > now {
                req += self
                    .requests
                    .iter()
                    .map(|row| row[i].load(Ordering::Relaxed))
                    .sum::<u64>();
                ret += self.retries[i].load(Ordering::Relaxed);
            }
        }
        (req, ret)
    }

    /// Counts one client request that arrived at `at` (the request's own start time, so
    /// counting reads no clock).
    pub fn record_request(&self, at: Instant) {
        if let Some(i) = self.bucket(at) {
            self.requests[slot()][i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes one retry or hedge from the budget; false when the budget is spent.
    pub fn try_withdraw(&self) -> bool {
        let now = Instant::now();
        let (req, ret) = self.window_totals(now);
        let allowed = req as f64 * self.percent / 100.0 + self.min_per_second * BUCKETS as f64;
        if (ret + 1) as f64 > allowed {
            return false;
        }
        if let Some(i) = self.bucket(now) {
            self.retries[i].fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_caps_retries_at_the_percentage() {
        let b = RetryBudget::new(10.0, 0.0);
        for _ in 0..1000 {
            b.record_request(Instant::now());
        }
        let granted = (0..1000).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 100);
    }

    #[test]
    fn floor_lets_a_quiet_node_fail_over() {
        let b = RetryBudget::new(10.0, 1.0);
        b.record_request(Instant::now());
        assert!(b.try_withdraw());
    }

    #[test]
    fn zero_budget_refuses() {
        let b = RetryBudget::new(0.0, 0.0);
        b.record_request(Instant::now());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn requests_from_every_thread_count() {
        let b = RetryBudget::new(10.0, 0.0);
        std::thread::scope(|s| {
            for _ in 0..(SLOTS + 2) {
                s.spawn(|| (0..100).for_each(|_| b.record_request(Instant::now())));
            }
        });
        assert_eq!(b.window_totals(Instant::now()).0, (SLOTS as u64 + 2) * 100);
    }

    #[test]
    fn a_request_older_than_the_window_never_resets_a_newer_bucket() {
        let b = RetryBudget::new(10.0, 0.0);
        let now = Instant::now();
        let later = now + std::time::Duration::from_secs(BUCKETS as u64);
        // Both seconds map to the same bucket; the later one holds it.
        (0..5).for_each(|_| b.record_request(later));
        b.record_request(now);
        assert_eq!(b.window_totals(later).0, 5);
    }
}
