//! The demo's results: one row per client place, as JSON (`--json`) or a table.

use crate::table::{ms, Align, Table};
use serde::{Deserialize, Serialize};

/// Everything the demo measured. All times in ms; TTFB figures are medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// The world measured (a file path or "built-in world").
    pub world: String,
    /// The `Host` sent.
    pub site_host: String,
    /// The path requested.
    pub path: String,
    /// Measured requests per route and client (after one warm-up).
    pub repetitions: usize,
    /// Region of the origin the direct column goes to.
    pub direct_origin: String,
    /// One row per client place.
    pub rows: Vec<DemoRow>,
    /// Time the measurement took (links up to results), ms.
    pub elapsed_ms: f64,
}

/// One client place's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoRow {
    /// Client place name.
    pub client: String,
    /// Its country code.
    pub country: String,
    /// Region of the edge it reached (nearest by modelled RTT).
    pub edge: String,
    /// `x-served-by` of the edge's answer (equals `edge` when all is well).
    pub served_by: String,
    /// `x-origin` of the edge's answer (`name@region`).
    pub origin: String,
    /// Region of that origin.
    pub origin_region: String,
    /// Modelled client ↔ edge RTT.
    pub edge_rtt_ms: f64,
    /// Measured connect time to the edge (emulated handshake).
    pub connect_ms: f64,
    /// Measured connect time to the direct origin.
    pub connect_direct_ms: f64,
    /// Median TTFB straight to the direct origin (no edge).
    pub ttfb_direct_ms: f64,
    /// Median TTFB through Regionless (nearest edge, geo routing to an origin).
    pub ttfb_regionless_ms: f64,
    /// Median TTFB of a cache hit at the edge; `None` until the edge cache exists.
    pub ttfb_cache_hit_ms: Option<f64>,
    /// Speed-of-light floor client → edge → origin.
    pub floor_ms: f64,
    /// Modelled RTT client ↔ direct origin (what `ttfb_direct_ms` should be, plus overheads).
    pub modelled_direct_ms: f64,
    /// Modelled RTT client ↔ edge + edge ↔ origin (what `ttfb_regionless_ms` should be).
    pub modelled_regionless_ms: f64,
    /// Every TTFB sample straight to the direct origin.
    pub ttfb_direct_samples_ms: Vec<f64>,
    /// Every TTFB sample through Regionless.
    pub ttfb_regionless_samples_ms: Vec<f64>,
}

impl DemoReport {
    /// The row of the first client place in `country` (ISO code, any case).
    pub fn row(&self, country: &str) -> Option<&DemoRow> {
        self.rows
            .iter()
            .find(|r| r.country.eq_ignore_ascii_case(country))
    }

    /// The table with its footnotes, as the demo prints it.
    pub fn table(&self) -> String {
        let direct = format!("TTFB direct ({})", self.direct_origin);
        let mut t = Table::new(&[
            ("country", Align::Left),
            ("edge", Align::Left),
            ("origin", Align::Left),
            ("RTT to edge", Align::Right),
            ("connect", Align::Right),
            (direct.as_str(), Align::Right),
            ("TTFB Regionless", Align::Right),
            ("change", Align::Right),
            ("TTFB cache hit¹", Align::Right),
            ("floor²", Align::Right),
        ]);
        for r in &self.rows {
            let change = r.ttfb_regionless_ms - r.ttfb_direct_ms;
            t.row(vec![
                format!("{} {}", r.country, r.client),
                r.edge.clone(),
                r.origin_region.clone(),
                ms(r.edge_rtt_ms),
                ms(r.connect_ms),
                ms(r.ttfb_direct_ms),
                ms(r.ttfb_regionless_ms),
                format!(
                    "{}{:.0} %",
                    if change > 0.0 { "+" } else { "" },
                    100.0 * change / r.ttfb_direct_ms
                ),
                r.ttfb_cache_hit_ms.map_or_else(|| "—".to_owned(), ms),
                ms(r.floor_ms),
            ]);
        }
        let faster = self
            .rows
            .iter()
            .filter(|r| r.ttfb_regionless_ms < r.ttfb_direct_ms)
            .count();
        let overhead = |f: fn(&DemoRow) -> f64| {
            let mut v: Vec<f64> = self.rows.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let direct_over = overhead(|r| r.ttfb_direct_ms - r.modelled_direct_ms);
        let edge_over = overhead(|r| r.ttfb_regionless_ms - r.modelled_regionless_ms);
        format!(
            "{table}\n\
             GET {path} (Host: {host}) from {n} client places, {world}. TTFB = request sent to\n\
             first byte on an open, warmed connection (client→edge and edge→origin), median of {reps};\n\
             connect = emulated TCP handshake to the edge; plain HTTP, so no TLS time. RTT to edge is\n\
             the model's; \"change\" is Regionless against direct. Regionless was faster for {faster} of {n}:\n\
             without a cache every request still reaches an origin, so the edge helps where geo routing\n\
             finds a nearer origin, and elsewhere costs its hop (a detour if the nearest edge is off the way).\n\
             Measured TTFB minus modelled RTT (median over countries): direct {direct_over:+.1} ms, through\n\
             Regionless {edge_over:+.1} ms (the emulator's relays, the sample app and the edge node).\n\
             ¹ The edge cache does not exist yet: this column fills in with the cache issue.\n\
             ² Speed-of-light floor: light in fibre along great circles, client → edge → origin.\n",
            table = t.render(),
            path = self.path,
            host = self.site_host,
            n = self.rows.len(),
            world = self.world,
            reps = self.repetitions,
        )
    }
}
