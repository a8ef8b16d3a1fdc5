//! Model versus measurement: the rows behind MODEL.md and the accuracy bar.

use crate::error::UnknownPlace;
use crate::matrix::RttMatrix;
use crate::model::LatencyModel;
use crate::world::World;
use std::fmt::Write as _;

/// One measured direction next to the model's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// Where the RTT was measured from.
    pub from: String,
    /// Where it was measured to.
    pub to: String,
    /// Great-circle distance in km.
    pub distance_km: f64,
    /// Measured RTT in ms.
    pub measured_ms: f64,
    /// Modelled RTT in ms.
    pub model_ms: f64,
    /// (model − measured) ÷ measured × 100; positive when the model is slower. Infinite if
    /// the measurement is 0.
    pub error_pct: f64,
    /// True for pairs left out of the summary (broken routing when measured).
    pub excluded: bool,
}

/// How well the model fits the non-excluded rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccuracySummary {
    /// Rows counted.
    pub pairs: usize,
    /// Rows left out.
    pub excluded: usize,
    /// Counted rows whose |error| ≤ 25 %.
    pub within_25_pct: usize,
    /// Median |error| in percent over counted rows (0 when there are none).
    pub median_abs_error_pct: f64,
}

impl AccuracySummary {
    /// Share of counted rows within ±25 %, 0..=1 (0 when there are none).
    pub fn within_25_fraction(&self) -> f64 {
        if self.pairs == 0 {
            0.0
        } else {
            self.within_25_pct as f64 / self.pairs as f64
        }
    }
}

/// A model compared with a matrix, row by row in matrix order.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The model compared.
    pub model: LatencyModel,
    /// One row per measured direction.
    pub rows: Vec<ComparisonRow>,
    /// Accuracy over the rows not excluded.
    pub summary: AccuracySummary,
}

impl Comparison {
    /// Compares `world`'s model (its matrix, if any, is ignored) with every measurement in
    /// `matrix`, excluding the directed pairs in `exclude` from the summary. Fails if the
    /// matrix names a place the world lacks.
    pub fn new(
        world: &World,
        matrix: &RttMatrix,
        exclude: &[(&str, &str)],
    ) -> Result<Comparison, UnknownPlace> {
        let model = *world.model();
        let mut rows = Vec::with_capacity(matrix.len());
        for m in matrix.measurements() {
            let distance_km = world.distance_km(&m.from, &m.to)?;
            let model_ms = model.rtt_ms(distance_km);
            rows.push(ComparisonRow {
                from: m.from.clone(),
                to: m.to.clone(),
                distance_km,
                measured_ms: m.rtt_ms,
                model_ms,
                error_pct: (model_ms - m.rtt_ms) / m.rtt_ms * 100.0,
                excluded: exclude.iter().any(|&(f, t)| f == m.from && t == m.to),
            });
        }
        let mut errors: Vec<f64> = rows
            .iter()
            .filter(|r| !r.excluded)
            .map(|r| r.error_pct.abs())
            .collect();
        errors.sort_by(f64::total_cmp);
        let summary = AccuracySummary {
            pairs: errors.len(),
            excluded: rows.len() - errors.len(),
            within_25_pct: errors.iter().filter(|&&e| e <= 25.0).count(),
            median_abs_error_pct: median(&errors),
        };
        Ok(Comparison {
            model,
            rows,
            summary,
        })
    }

    /// The summary and the table as Markdown (the body of MODEL.md).
    pub fn to_markdown(&self) -> String {
        let s = &self.summary;
        let m = &self.model;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "Model: RTT = 2 × distance ÷ {} km/ms × {} + {} ms.\n\n\
             Over {} measured directions ({} excluded): {} ({:.1} %) within ±25 % of the model, \
             median absolute error {:.1} %.\n",
            m.fibre_km_per_ms(),
            m.inflation(),
            m.last_mile_ms(),
            s.pairs,
            s.excluded,
            s.within_25_pct,
            s.within_25_fraction() * 100.0,
            s.median_abs_error_pct,
        );
        let _ = writeln!(
            out,
            "| from | to | distance km | measured ms | model ms | error % | note |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|");
        for r in &self.rows {
            let note = if r.excluded {
                "excluded: routing of its day"
            } else if r.error_pct.abs() > 25.0 {
                "outside ±25 %"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:+.1} | {} |",
                r.from, r.to, r.distance_km, r.measured_ms, r.model_ms, r.error_pct, note
            );
        }
        out
    }
}

/// Median of sorted values; 0 for none.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::place::{Place, PlaceKind};

    #[test]
    fn rows_summary_and_exclusions() {
        let mut w = World::new(LatencyModel::new(200.0, 1.0, 0.0).unwrap());
        w.add(Place::new("A", PlaceKind::Region, "DE", 0.0, 0.0).unwrap())
            .unwrap();
        w.add(Place::new("B", PlaceKind::Region, "DE", 0.0, 9.0).unwrap())
            .unwrap();
        let model_ms = w.modelled_rtt_ms("A", "B").unwrap();
        let csv = format!(
            "from,to,rtt_ms\nA,B,{}\nB,A,{}\nA,A,1\n",
            model_ms * 1.1,
            model_ms * 2.0
        );
        let m = RttMatrix::from_csv_str(&csv, "m").unwrap();
        let c = Comparison::new(&w, &m, &[("A", "A")]).unwrap();
        assert_eq!(c.rows.len(), 3);
        assert!((c.rows[0].error_pct + 100.0 / 11.0).abs() < 1e-9);
        assert!((c.rows[1].error_pct + 50.0).abs() < 1e-9);
        assert_eq!((c.summary.pairs, c.summary.excluded), (2, 1));
        assert_eq!(c.summary.within_25_pct, 1);
        assert!((c.summary.median_abs_error_pct - (50.0 + 100.0 / 11.0) / 2.0).abs() < 1e-9);
        let md = c.to_markdown();
        assert!(
            md.contains("| A | A | 0 | 1.0 | 0.0 | -100.0 | excluded"),
            "{md}"
        );
    }
}
