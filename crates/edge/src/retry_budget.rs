//! The node-wide cap on retries and hedges: at most `percent` % of requests over a sliding
//! 10-second window, plus a small per-second floor so a quiet node can still fail over.
//! This is what stops a sick origin from causing a retry storm (as in Finagle's RetryBudget
//! and Envoy's retry budgets).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const BUCKETS: usize = 10;

/// Counts requests and retries per one-second bucket.
pub struct RetryBudget {
    start: Instant,
    percent: f64,
    min_per_second: f64,
    epoch: [AtomicU64; BUCKETS],
    requests: [AtomicU64; BUCKETS],
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
            requests: Default::default(),
            retries: Default::default(),
        }
    }

    fn bucket(&self) -> usize {
        let sec = self.start.elapsed().as_secs() + 1;
        let i = (sec % BUCKETS as u64) as usize;
        let seen = self.epoch[i].load(Ordering::Relaxed);
        if seen != sec
            && self.epoch[i]
                .compare_exchange(seen, sec, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.requests[i].store(0, Ordering::Relaxed);
            self.retries[i].store(0, Ordering::Relaxed);
        }
        i
    }

    fn window_totals(&self) -> (u64, u64) {
        let now = self.start.elapsed().as_secs() + 1;
        let mut req = 0;
        let mut ret = 0;
        for i in 0..BUCKETS {
            let e = self.epoch[i].load(Ordering::Relaxed);
            if e + (BUCKETS as u64) > now {
                req += self.requests[i].load(Ordering::Relaxed);
                ret += self.retries[i].load(Ordering::Relaxed);
            }
        }
        (req, ret)
    }

    /// Counts one client request.
    pub fn record_request(&self) {
        let i = self.bucket();
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry or hedge from the budget; false when the budget is spent.
    pub fn try_withdraw(&self) -> bool {
        let (req, ret) = self.window_totals();
        let allowed = req as f64 * self.percent / 100.0 + self.min_per_second * BUCKETS as f64;
        if (ret + 1) as f64 > allowed {
            return false;
        }
        let i = self.bucket();
        self.retries[i].fetch_add(1, Ordering::Relaxed);
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
            b.record_request();
        }
        let granted = (0..1000).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 100);
    }

    #[test]
    fn floor_lets_a_quiet_node_fail_over() {
        let b = RetryBudget::new(10.0, 1.0);
        b.record_request();
        assert!(b.try_withdraw());
    }

    #[test]
    fn zero_budget_refuses() {
        let b = RetryBudget::new(0.0, 0.0);
        b.record_request();
        assert!(!b.try_withdraw());
    }
}
