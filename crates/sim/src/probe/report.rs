//! What a probe measured: one row per vantage point, as JSON or a table.

use super::stats::Summary;
use crate::table::{Align, Table};
use serde::Serialize;

/// A probe's results.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The URL probed.
    pub url: String,
    /// `emulated` (demo world vantage points) or `real` (measured from this machine).
    pub mode: &'static str,
    /// One line saying how the numbers were obtained.
    pub note: String,
    /// Requests per vantage point (each on a new connection).
    pub repetitions: usize,
    /// One row per vantage point.
    pub rows: Vec<ProbeRow>,
}

/// One vantage point's results. Times in ms.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRow {
    /// The vantage point: a client place, or `this machine`.
    pub from: String,
    /// Its country code, for emulated vantage points.
    pub country: Option<String>,
    /// What answered: `edge <region> → <origin>`, `origin <region>`, or the address.
    pub reached: String,
    /// Modelled RTT to the node reached (emulated only).
    pub modelled_rtt_ms: Option<f64>,
    /// Status of the last response.
    pub status: u16,
    /// Name resolution (`None`: not done, e.g. an IP literal or an emulated vantage point).
    pub dns: Option<Summary>,
    /// TCP connect (the emulated handshake for emulated vantage points).
    pub connect: Option<Summary>,
    /// TLS handshake (`None` for plain HTTP).
    pub tls: Option<Summary>,
    /// Request sent → first response byte, on the just-opened connection.
    pub ttfb: Option<Summary>,
    /// DNS + connect + TLS + request to last body byte.
    pub total: Option<Summary>,
    /// Body bytes of the last response.
    pub body_bytes: u64,
}

fn median(s: &Option<Summary>) -> String {
    s.map_or_else(|| "—".to_owned(), |s| format!("{:.1}", s.median_ms))
}

fn spread(s: &Option<Summary>) -> String {
    s.map_or_else(
        || "—".to_owned(),
        |s| format!("{:.1} / {:.1} / {:.1}", s.min_ms, s.median_ms, s.p95_ms),
    )
}

impl ProbeReport {
    /// The table with a heading line, as `regionless probe` prints it.
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            ("from", Align::Left),
            ("reached", Align::Left),
            ("status", Align::Right),
            ("DNS", Align::Right),
            ("connect", Align::Right),
            ("TLS", Align::Right),
            ("TTFB min / median / p95", Align::Right),
            ("total min / median / p95", Align::Right),
        ]);
        for r in &self.rows {
            t.row(vec![
                r.from.clone(),
                r.reached.clone(),
                r.status.to_string(),
                median(&r.dns),
                median(&r.connect),
                median(&r.tls),
                spread(&r.ttfb),
                spread(&r.total),
            ]);
        }
        format!(
            "{url}\n{note}\n\n{table}\nAll times in ms; DNS, connect and TLS are medians of {n}.\n",
            url = self.url,
            note = self.note,
            table = t.render(),
            n = self.repetitions,
        )
    }
}
