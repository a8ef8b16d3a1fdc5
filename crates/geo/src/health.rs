//! Health of one origin as seen from this node: passive ejection after consecutive failures,
//! active health-check thresholds, `Retry-After` busy periods and time-to-first-byte
//! statistics.
//!
//! Touched on every proxied request, so the state is a handful of atomics; no locks. Times
//! are stored as nanoseconds since the origin's creation so they fit in an `AtomicU64`.
//!
//! Transitions:
//! - Passive: every failed attempt counts; `eject_after_failures` in a row eject the origin;
//!   any success resets the count.
//! - Active checks: `unhealthy_threshold` failed checks in a row eject; an ejected origin
//!   returns after `healthy_threshold` passed checks in a row (counted from the ejection),
//!   with a clean failure count.
//! - Without active checks an ejected origin returns on its own after `eject_cooldown` (as in
//!   Envoy's outlier detection), on probation: its first failure ejects it again for another
//!   cooldown, its first success restores it fully. That way a dead origin costs one failed
//!   attempt per cooldown, not `eject_after_failures`.
//! - `Retry-After` marks the origin busy until a deadline; busy and ejected origins are both
//!   "unavailable", which steering uses to order them last (never to drop them).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::latency::LatencyStats;

/// Health thresholds for one origin pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Consecutive passed checks that bring an ejected origin back (0 is treated as 1).
    pub healthy_threshold: u32,
    /// Consecutive failed checks that eject an origin (0 is treated as 1).
    pub unhealthy_threshold: u32,
    /// Consecutive failed requests that eject an origin passively (0 is treated as 1).
    pub eject_after_failures: u32,
    /// Without active checks, how long a passively ejected origin stays out.
    pub eject_cooldown: Duration,
    /// Whether active health checks run for this origin (decides how it returns).
    pub active_checks: bool,
}

impl Default for HealthConfig {
    /// 2 passes to return, 3 failed checks or 5 failed requests to eject, 30 s cooldown,
    /// active checks on.
    fn default() -> Self {
        HealthConfig {
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            eject_after_failures: 5,
            eject_cooldown: Duration::from_secs(30),
            active_checks: true,
        }
    }
}

/// What steering should think of an origin right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// Available.
    Healthy,
    /// Out of rotation after failures (tried only when nothing else is left).
    Ejected,
    /// Asked us to back off (`Retry-After`) for this much longer.
    Busy {
        /// Time left until the origin wants traffic again.
        remaining: Duration,
    },
}

impl HealthState {
    /// `"healthy"`, `"ejected"` or `"busy"`: the form used in JSON and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Ejected => "ejected",
            HealthState::Busy { .. } => "busy",
        }
    }
}

impl Serialize for HealthState {
    /// Serialises as [`HealthState::as_str`]; the busy time is a separate snapshot field.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A point-in-time view of an origin's health, for the admin API and metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// Current state.
    pub state: HealthState,
    /// Milliseconds left of a busy period, when `state` is busy.
    pub busy_remaining_ms: Option<u64>,
    /// Failed requests in a row.
    pub consecutive_failures: u32,
    /// How many times the origin has been ejected since start.
    pub ejections: u64,
    /// EWMA of time to first byte in milliseconds.
    pub ewma_ms: Option<f64>,
    /// p95 of time to first byte over recent responses, in milliseconds.
    pub p95_ms: Option<f64>,
    /// Latency samples seen (responses and timed probes).
    pub samples: u64,
}

/// Health and latency of one origin. `Send + Sync`, lock-free; share it behind an `Arc`.
#[derive(Debug)]
pub struct OriginHealth {
    config: HealthConfig,
    epoch: Instant,
    consecutive_failures: AtomicU32,
    check_passes: AtomicU32,
    check_failures: AtomicU32,
    ejected: AtomicBool,
    // Nanoseconds since `epoch`.
    ejected_at: AtomicU64,
    // Nanoseconds since `epoch`; at or before "now" means not busy.
    busy_until: AtomicU64,
    ejections: AtomicU64,
    latency: LatencyStats,
}

impl OriginHealth {
    /// A new origin: healthy (so a fresh node serves at once), no samples.
    pub fn new(config: HealthConfig) -> Self {
        OriginHealth {
            config,
            epoch: Instant::now(),
            consecutive_failures: AtomicU32::new(0),
            check_passes: AtomicU32::new(0),
            check_failures: AtomicU32::new(0),
            ejected: AtomicBool::new(false),
            ejected_at: AtomicU64::new(0),
            busy_until: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            latency: LatencyStats::default(),
        }
    }

    /// The thresholds this origin was created with.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// A request got its first byte after `ttfb`: resets the failure count and feeds the
    /// EWMA and p95. Without active checks it also ends an ejection (the origin just proved
    /// it works); with them, returning is the checks' decision.
    pub fn record_success(&self, ttfb: Duration) {
        self.latency.record(ttfb);
        // Written only when they change: every serving thread records here, and a store of
        // the same value still takes the cache line away from the other cores.
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
        if !self.config.active_checks && self.ejected.load(Relaxed) {
            self.ejected.store(false, Relaxed);
        }
    }

    /// A request failed (connect error, first-byte timeout, failover status). Ejects after
    /// `eject_after_failures` in a row, or at once for an origin on probation (see the module
    /// docs). The ejection starts at `Instant::now()`.
    pub fn record_failure(&self) {
        let now = Instant::now();
        let failures = saturating_inc(&self.consecutive_failures);
        if self.ejected.load(Relaxed) {
            if !self.config.active_checks && self.cooldown_over(now) {
                self.eject(now);
            }
            return;
        }
        if failures >= self.config.eject_after_failures.max(1) {
            self.eject(now);
        }
    }

    /// Result of one active health check, with its time to first byte when it answered.
    /// A passing check's time feeds the EWMA (not the p95: probes are lighter than real
    /// requests).
    pub fn record_check(&self, ok: bool, ttfb: Option<Duration>) {
        if ok {
            if let Some(t) = ttfb {
                self.latency.record_ewma(t);
            }
            self.check_failures.store(0, Relaxed);
            let passes = saturating_inc(&self.check_passes);
            if self.ejected.load(Relaxed) && passes >= self.config.healthy_threshold.max(1) {
                self.consecutive_failures.store(0, Relaxed);
                self.ejected.store(false, Relaxed);
            }
        } else {
            self.check_passes.store(0, Relaxed);
            let failures = saturating_inc(&self.check_failures);
            if failures >= self.config.unhealthy_threshold.max(1) && !self.ejected.load(Relaxed) {
                self.eject(Instant::now());
            }
        }
    }

    /// The origin asked us to back off until `until` (`Retry-After`). A later deadline
    /// already in place is kept.
    pub fn mark_busy(&self, until: Instant) {
        self.busy_until.fetch_max(self.nanos(until), Relaxed);
    }

    /// True when the origin is neither ejected nor busy at `now`.
    pub fn is_available(&self, now: Instant) -> bool {
        !self.is_ejected(now) && self.busy_until.load(Relaxed) <= self.nanos(now)
    }

    /// The state at `now`; ejection takes precedence over busy.
    pub fn state(&self, now: Instant) -> HealthState {
        if self.is_ejected(now) {
            return HealthState::Ejected;
        }
        let (until, at) = (self.busy_until.load(Relaxed), self.nanos(now));
        if until > at {
            HealthState::Busy {
                remaining: Duration::from_nanos(until - at),
            }
        } else {
            HealthState::Healthy
        }
    }

    /// EWMA of time to first byte over responses and timed probes; `None` before any.
    pub fn ewma_ttfb(&self) -> Option<Duration> {
        self.latency.ewma()
    }

    /// Number of latency samples (responses and timed probes) seen so far.
    pub fn samples(&self) -> u64 {
        self.latency.samples()
    }

    /// p95 of time to first byte over the last ~256 successful responses.
    pub fn p95_ttfb(&self) -> Option<Duration> {
        self.latency.p95()
    }

    /// Failed requests in a row right now.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Relaxed)
    }

    /// Times this origin has been ejected since it was created.
    pub fn ejections(&self) -> u64 {
        self.ejections.load(Relaxed)
    }

    /// Everything above at `now`, for the admin API.
    pub fn snapshot(&self, now: Instant) -> HealthSnapshot {
        let state = self.state(now);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        HealthSnapshot {
            state,
            busy_remaining_ms: match state {
                HealthState::Busy { remaining } => {
                    Some(u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX))
                }
                _ => None,
            },
            consecutive_failures: self.consecutive_failures(),
            ejections: self.ejections(),
            ewma_ms: self.ewma_ttfb().map(ms),
            p95_ms: self.p95_ttfb().map(ms),
            samples: self.samples(),
        }
    }

    fn eject(&self, now: Instant) {
        self.ejected_at.store(self.nanos(now), Relaxed);
        // Passes seen before the ejection must not count towards the return.
        self.check_passes.store(0, Relaxed);
        // Callers only get here for an origin that is not (effectively) ejected, so every
        // call is a new ejection.
        self.ejected.store(true, Relaxed);
        self.ejections.fetch_add(1, Relaxed);
    }

    fn is_ejected(&self, now: Instant) -> bool {
        self.ejected.load(Relaxed) && (self.config.active_checks || !self.cooldown_over(now))
    }

    fn cooldown_over(&self, now: Instant) -> bool {
        let cooldown = u64::try_from(self.config.eject_cooldown.as_nanos()).unwrap_or(u64::MAX);
        self.nanos(now) >= self.ejected_at.load(Relaxed).saturating_add(cooldown)
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

fn saturating_inc(counter: &AtomicU32) -> u32 {
    // fetch_update only fails when the closure returns None, which it never does.
    let prev = counter
        .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_add(1)))
        .unwrap_or_else(|n| n);
    prev.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passive() -> HealthConfig {
        HealthConfig {
            active_checks: false,
            ..HealthConfig::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults() {
        let c = HealthConfig::default();
        assert_eq!(
            (
                c.healthy_threshold,
                c.unhealthy_threshold,
                c.eject_after_failures
            ),
            (2, 3, 5)
        );
        assert_eq!(c.eject_cooldown, Duration::from_secs(30));
        assert!(c.active_checks);
    }

    #[test]
    fn new_origin_is_healthy_without_samples() {
        let h = OriginHealth::new(HealthConfig::default());
        let now = Instant::now();
        assert!(h.is_available(now));
        assert_eq!(h.state(now), HealthState::Healthy);
        assert_eq!((h.ewma_ttfb(), h.p95_ttfb(), h.samples()), (None, None, 0));
    }

    #[test]
    fn passive_failures_eject_and_success_resets_the_count() {
        let h = OriginHealth::new(HealthConfig::default());
        for _ in 0..4 {
            h.record_failure();
        }
        h.record_success(ms(10));
        assert_eq!(h.consecutive_failures(), 0);
        for _ in 0..4 {
            h.record_failure();
        }
        assert!(h.is_available(Instant::now()), "4 < 5");
        h.record_failure();
        assert_eq!(h.state(Instant::now()), HealthState::Ejected);
        assert_eq!(h.ejections(), 1);
    }

    #[test]
    fn with_active_checks_only_checks_bring_it_back() {
        let h = OriginHealth::new(HealthConfig::default());
        for _ in 0..5 {
            h.record_failure();
        }
        let later = Instant::now() + Duration::from_secs(3600);
        assert!(
            !h.is_available(later),
            "no cooldown return with active checks"
        );
        h.record_success(ms(10));
        assert!(
            !h.is_available(Instant::now()),
            "a lucky request does not decide"
        );
        h.record_check(true, Some(ms(20)));
        assert!(!h.is_available(Instant::now()), "1 < healthy_threshold");
        h.record_check(false, None);
        h.record_check(true, None);
        assert!(
            !h.is_available(Instant::now()),
            "passes must be consecutive"
        );
        h.record_check(true, None);
        assert!(h.is_available(Instant::now()));
        assert_eq!(h.consecutive_failures(), 0, "clean slate after checks pass");
        h.record_failure();
        assert!(
            h.is_available(Instant::now()),
            "not on probation after checks"
        );
    }

    #[test]
    fn passes_before_ejection_do_not_count() {
        let h = OriginHealth::new(HealthConfig::default());
        for _ in 0..10 {
            h.record_check(true, None);
        }
        for _ in 0..5 {
            h.record_failure();
        }
        h.record_check(true, None);
        assert!(!h.is_available(Instant::now()));
        h.record_check(true, None);
        assert!(h.is_available(Instant::now()));
    }

    #[test]
    fn failed_checks_eject() {
        let h = OriginHealth::new(HealthConfig::default());
        h.record_check(false, None);
        h.record_check(false, None);
        assert!(h.is_available(Instant::now()));
        h.record_check(true, None);
        h.record_check(false, None);
        h.record_check(false, None);
        assert!(
            h.is_available(Instant::now()),
            "failures must be consecutive"
        );
        h.record_check(false, None);
        assert_eq!(h.state(Instant::now()), HealthState::Ejected);
        h.record_check(false, None);
        assert_eq!(h.ejections(), 1, "already ejected");
        h.record_check(true, None);
        h.record_check(true, None);
        assert!(h.is_available(Instant::now()));
    }

    #[test]
    fn passive_mode_returns_after_cooldown_on_probation() {
        let h = OriginHealth::new(passive());
        for _ in 0..5 {
            h.record_failure();
        }
        let now = Instant::now();
        assert!(!h.is_available(now));
        assert!(!h.is_available(now + Duration::from_secs(29)));
        let after = Instant::now() + Duration::from_secs(31);
        assert!(h.is_available(after));
        assert_eq!(h.state(after), HealthState::Healthy);
        // On probation: one failure (now, i.e. before the cooldown ends) changes nothing …
        h.record_failure();
        assert!(h.is_available(after), "still inside the first cooldown");
        assert_eq!(h.ejections(), 1);
    }

    #[test]
    fn passive_mode_probation_failure_reejects() {
        let cfg = HealthConfig {
            eject_cooldown: Duration::ZERO,
            ..passive()
        };
        let h = OriginHealth::new(cfg);
        for _ in 0..5 {
            h.record_failure();
        }
        assert!(
            h.is_available(Instant::now()),
            "zero cooldown: back at once"
        );
        // The first failure after the cooldown ejects again at once.
        h.record_failure();
        assert_eq!(h.ejections(), 2);
        // A success restores fully: the next failures count from zero again.
        h.record_success(ms(5));
        assert_eq!(h.consecutive_failures(), 0);
        h.record_failure();
        assert_eq!(h.ejections(), 2);
    }

    #[test]
    fn passive_mode_success_ends_ejection() {
        let h = OriginHealth::new(passive());
        for _ in 0..5 {
            h.record_failure();
        }
        assert!(!h.is_available(Instant::now()));
        h.record_success(ms(10));
        assert!(h.is_available(Instant::now()));
    }

    #[test]
    fn busy_until_deadline() {
        let h = OriginHealth::new(HealthConfig::default());
        let now = Instant::now();
        h.mark_busy(now + Duration::from_secs(10));
        assert!(!h.is_available(now));
        match h.state(now) {
            HealthState::Busy { remaining } => assert_eq!(remaining, Duration::from_secs(10)),
            other => panic!("{other:?}"),
        }
        // A shorter Retry-After does not cut the longer one short.
        h.mark_busy(now + Duration::from_secs(1));
        assert!(!h.is_available(now + Duration::from_secs(5)));
        assert!(h.is_available(now + Duration::from_secs(10)));
        // A deadline in the past is no busy period.
        let h = OriginHealth::new(HealthConfig::default());
        h.mark_busy(now - Duration::from_secs(1));
        assert!(h.is_available(Instant::now()));
    }

    #[test]
    fn ejected_beats_busy() {
        let h = OriginHealth::new(HealthConfig::default());
        h.mark_busy(Instant::now() + Duration::from_secs(60));
        for _ in 0..3 {
            h.record_check(false, None);
        }
        assert_eq!(h.state(Instant::now()), HealthState::Ejected);
    }

    #[test]
    fn latency_sources() {
        let h = OriginHealth::new(HealthConfig::default());
        h.record_check(true, Some(ms(40)));
        assert_eq!(
            (h.samples(), h.ewma_ttfb(), h.p95_ttfb()),
            (1, Some(ms(40)), None)
        );
        h.record_success(ms(40));
        assert_eq!(h.samples(), 2);
        assert_eq!(h.p95_ttfb(), Some(ms(40)));
        h.record_check(false, Some(ms(900)));
        assert_eq!(
            h.ewma_ttfb(),
            Some(ms(40)),
            "failed checks carry no latency"
        );
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let cfg = HealthConfig {
            healthy_threshold: 0,
            unhealthy_threshold: 0,
            eject_after_failures: 0,
            ..HealthConfig::default()
        };
        let h = OriginHealth::new(cfg);
        assert!(h.is_available(Instant::now()), "nothing happened yet");
        h.record_failure();
        assert!(!h.is_available(Instant::now()));
        h.record_check(true, None);
        assert!(h.is_available(Instant::now()));
    }

    #[test]
    fn snapshot_serialises() {
        let h = OriginHealth::new(HealthConfig::default());
        h.record_success(ms(12));
        h.record_failure();
        let now = Instant::now();
        h.mark_busy(now + ms(1500));
        let snap = h.snapshot(now);
        assert_eq!(
            snap.state,
            HealthState::Busy {
                remaining: ms(1500)
            }
        );
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["state"], "busy");
        assert_eq!(json["busy_remaining_ms"], 1500);
        assert_eq!(json["consecutive_failures"], 1);
        assert_eq!(json["samples"], 1);
        assert!((json["ewma_ms"].as_f64().unwrap() - 12.0).abs() < 1e-6);
        assert!((json["p95_ms"].as_f64().unwrap() - 12.0).abs() < 1e-6);
        let fresh = OriginHealth::new(HealthConfig::default()).snapshot(now);
        let json = serde_json::to_value(&fresh).unwrap();
        assert_eq!(json["state"], "healthy");
        assert!(json["ewma_ms"].is_null());
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<OriginHealth>();
    }
}
