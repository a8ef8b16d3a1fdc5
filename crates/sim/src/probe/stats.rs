//! Summaries of repeated measurements: min, median, p95.

use serde::Serialize;
use std::time::Duration;

/// Min, median and 95th percentile of a set of samples, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Smallest sample.
    pub min_ms: f64,
    /// Median (mean of the two middle samples for an even count).
    pub median_ms: f64,
    /// 95th percentile, nearest rank (the largest sample for fewer than 20).
    pub p95_ms: f64,
    /// How many samples.
    pub samples: usize,
}

impl Summary {
    /// The summary of `samples`, or `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let min_ms = *ms.first()?;
        let median_ms = if n % 2 == 1 {
            ms[n / 2]
        } else {
            (ms[n / 2 - 1] + ms[n / 2]) / 2.0
        };
        // Nearest rank: the smallest sample with at least 95 % of samples at or below it.
        let rank = (0.95 * n as f64).ceil() as usize;
        let p95_ms = ms[rank.clamp(1, n) - 1];
        Some(Summary {
            min_ms,
            median_ms,
            p95_ms,
            samples: n,
        })
    }
}

/// The median of `samples` in ms, or `None` when there are none.
pub fn median_ms(samples: &[Duration]) -> Option<f64> {
    Summary::of(samples).map(|s| s.median_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn min_median_p95() {
        let s = Summary::of(&ms(&[5, 1, 3])).unwrap();
        assert_eq!((s.min_ms, s.median_ms, s.p95_ms), (1.0, 3.0, 5.0));
        assert_eq!(median_ms(&ms(&[4, 1, 3, 2])), Some(2.5));
        let many: Vec<u64> = (1..=100).collect();
        assert_eq!(Summary::of(&ms(&many)).unwrap().p95_ms, 95.0);
        assert!(Summary::of(&[]).is_none());
    }
}
