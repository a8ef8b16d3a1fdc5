//! The distance model of round-trip time and its fit to measured data.

use crate::error::Problem;

/// Speed of light in optical fibre (refractive index ≈ 1.5), km per ms.
pub const FIBRE_KM_PER_MS: f64 = 200.0;

/// Default route inflation (path length ÷ great-circle length, plus queueing folded in).
///
/// Fitted by [`LatencyModel::fit`] (least squares on *relative* error, because the accuracy bar
/// is relative) to the 73 WonderProxy 2011 pairs in `data/rtt-ms.csv` left after excluding the
/// routing outliers Baltimore↔New York and Paris→Zurich: the fit gives inflation 1.626 and last
/// mile 9.49 ms; rounded to 1.63 / 9.5 ms, 87.7 % of those pairs lie within ±25 % of the model and
/// the median absolute error is 10.9 % (`model::tests::defaults_reproduce_the_fit` checks this).
pub const DEFAULT_INFLATION: f64 = 1.63;

/// Default last-mile term in ms added to every RTT (access networks, server stacks, the part of
/// the path that does not scale with distance). See [`DEFAULT_INFLATION`] for the fit.
pub const DEFAULT_LAST_MILE_MS: f64 = 9.5;

/// RTT = 2 × great-circle distance ÷ fibre speed × inflation + last mile.
///
/// Invariants (checked by [`LatencyModel::new`]): fibre speed > 0, inflation ≥ 1 (a route is
/// never shorter than the great circle), last mile ≥ 0; all finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    fibre_km_per_ms: f64,
    inflation: f64,
    last_mile_ms: f64,
}

impl Default for LatencyModel {
    /// The fitted defaults: 200 km/ms, inflation [`DEFAULT_INFLATION`], last mile
    /// [`DEFAULT_LAST_MILE_MS`].
    fn default() -> Self {
        LatencyModel {
            fibre_km_per_ms: FIBRE_KM_PER_MS,
            inflation: DEFAULT_INFLATION,
            last_mile_ms: DEFAULT_LAST_MILE_MS,
        }
    }
}

impl LatencyModel {
    /// Builds a model, rejecting parameters outside the invariants with the world-file name of
    /// the first bad one (`fibre_km_per_ms`, `inflation`, `last_mile_ms`).
    pub fn new(
        fibre_km_per_ms: f64,
        inflation: f64,
        last_mile_ms: f64,
    ) -> Result<LatencyModel, Problem> {
        if !(fibre_km_per_ms.is_finite() && fibre_km_per_ms > 0.0) {
            return Err(Problem::BadParameter {
                name: "fibre_km_per_ms",
                value: fibre_km_per_ms,
                expected: "a finite number > 0",
            });
        }
        if !(inflation.is_finite() && inflation >= 1.0) {
            return Err(Problem::BadParameter {
                name: "inflation",
                value: inflation,
                expected: "a finite number >= 1",
            });
        }
        if !(last_mile_ms.is_finite() && last_mile_ms >= 0.0) {
            return Err(Problem::BadParameter {
                name: "last_mile_ms",
                value: last_mile_ms,
                expected: "a finite number >= 0",
            });
        }
        Ok(LatencyModel {
            fibre_km_per_ms,
            inflation,
            last_mile_ms,
        })
    }

    /// Speed of light in fibre, km per ms.
    pub fn fibre_km_per_ms(&self) -> f64 {
        self.fibre_km_per_ms
    }

    /// Route inflation factor (≥ 1).
    pub fn inflation(&self) -> f64 {
        self.inflation
    }

    /// Distance-independent RTT term in ms (≥ 0).
    pub fn last_mile_ms(&self) -> f64 {
        self.last_mile_ms
    }

    /// Modelled RTT in ms for a great-circle distance in km. Never below
    /// [`LatencyModel::floor_rtt_ms`]; equals the last mile at distance 0.
    pub fn rtt_ms(&self, distance_km: f64) -> f64 {
        self.floor_rtt_ms(distance_km) * self.inflation + self.last_mile_ms
    }

    /// The physical floor: RTT in ms if light went both ways along the great circle in fibre,
    /// with no routing detour and no last mile. No real path beats it.
    pub fn floor_rtt_ms(&self, distance_km: f64) -> f64 {
        2.0 * distance_km.max(0.0) / self.fibre_km_per_ms
    }

    /// Fits inflation and last mile to `(distance_km, measured_rtt_ms)` samples for a given fibre
    /// speed, minimising the sum of squared *relative* errors `((model − measured) / measured)²`
    /// (weighted linear least squares, closed form), so short and long paths count alike.
    ///
    /// Returns `None` if there are fewer than two usable samples (measured RTT > 0, finite), if
    /// all samples have the same distance, or if the best fit violates the model's invariants
    /// (inflation < 1 or negative last mile).
    pub fn fit(samples: &[(f64, f64)], fibre_km_per_ms: f64) -> Option<LatencyModel> {
        if !(fibre_km_per_ms.is_finite() && fibre_km_per_ms > 0.0) {
            return None;
        }
        let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut n = 0usize;
        for &(d, y) in samples {
            if !(d.is_finite() && y.is_finite() && y > 0.0) {
                continue;
            }
            let x = 2.0 * d / fibre_km_per_ms;
            let w = 1.0 / (y * y);
            s += w;
            sx += w * x;
            sy += w * y;
            sxx += w * x * x;
            sxy += w * x * y;
            n += 1;
        }
        let det = s * sxx - sx * sx;
        // Relative to the scale of the terms, so the test does not depend on units.
        if n < 2 || det.abs() <= 1e-12 * (s * sxx).abs() {
            return None;
        }
        let inflation = (s * sxy - sx * sy) / det;
        let last_mile = (sy - inflation * sx) / s;
        LatencyModel::new(fibre_km_per_ms, inflation, last_mile).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measured;

    #[test]
    fn rtt_is_floor_times_inflation_plus_last_mile() {
        let m = LatencyModel::new(200.0, 2.0, 5.0).unwrap();
        assert_eq!(m.floor_rtt_ms(1000.0), 10.0);
        assert_eq!(m.rtt_ms(1000.0), 25.0);
        assert_eq!(m.rtt_ms(0.0), 5.0);
    }

    #[test]
    fn new_rejects_unphysical_parameters() {
        for (f, i, l, name) in [
            (0.0, 1.5, 1.0, "fibre_km_per_ms"),
            (200.0, 0.9, 1.0, "inflation"),
            (200.0, 1.5, -1.0, "last_mile_ms"),
            (200.0, f64::INFINITY, 1.0, "inflation"),
        ] {
            match LatencyModel::new(f, i, l) {
                Err(Problem::BadParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn fit_recovers_exact_parameters() {
        let truth = LatencyModel::new(200.0, 1.8, 7.0).unwrap();
        let samples: Vec<_> = [100.0, 900.0, 5000.0, 12000.0]
            .iter()
            .map(|&d| (d, truth.rtt_ms(d)))
            .collect();
        let fit = LatencyModel::fit(&samples, 200.0).unwrap();
        assert!((fit.inflation() - 1.8).abs() < 1e-9, "{fit:?}");
        assert!((fit.last_mile_ms() - 7.0).abs() < 1e-9, "{fit:?}");
        assert!(LatencyModel::fit(&samples[..1], 200.0).is_none());
        assert!(LatencyModel::fit(&[(10.0, 5.0), (10.0, 6.0)], 200.0).is_none());
    }

    /// Reproduces the defaults from the embedded data; if the data or the fit change, this fails
    /// and the constants (and their doc comment) must be updated together.
    #[test]
    fn defaults_reproduce_the_fit() {
        let fit = measured::fit().unwrap();
        assert!((fit.inflation() - 1.626).abs() < 0.0005, "{fit:?}");
        assert!((fit.last_mile_ms() - 9.49).abs() < 0.005, "{fit:?}");
        assert!((fit.inflation() - DEFAULT_INFLATION).abs() < 0.005);
        assert!((fit.last_mile_ms() - DEFAULT_LAST_MILE_MS).abs() < 0.05);
    }
}
