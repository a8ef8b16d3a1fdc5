//! The demo's results: one row per client place, as JSON (`--json`) or a table.

use super::map::Scheme;
use crate::table::{ms, Align, Table};
use serde::{Deserialize, Serialize};

/// Everything the demo measured. All times in ms; TTFB figures are medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// The world measured (a file path or "built-in world").
    pub world: String,
    /// The `Host` sent (and the TLS server name).
    pub site_host: String,
    /// How clients reached the edges and the direct origin: `https` (default) or `http`.
    pub scheme: Scheme,
    /// The TLS version negotiated (`TLS 1.3`); `None` over plain HTTP.
    pub tls_version: Option<String>,
    /// The application protocol negotiated by ALPN (`http/1.1`); `None` over plain HTTP.
    pub alpn: Option<String>,
    /// The path requested.
    pub path: String,
    /// Measured requests per route and client (after one warm-up), and new connections per
    /// route (connect and TLS are their medians).
    pub repetitions: usize,
    /// Region of the origin the direct column goes to.
    pub direct_origin: String,
    /// One row per client place.
    pub rows: Vec<DemoRow>,
    /// Time the measurement took (links up to results), ms.
    pub elapsed_ms: f64,
    /// How fast purges reached every edge, when measured.
    #[serde(default)]
    pub purge: Option<PurgeSummary>,
}

impl PurgeSummary {
    /// One line for the demo's output.
    pub fn sentence(&self) -> String {
        let missed = if self.missed > 0 {
            format!(", {} missed", self.missed)
        } else {
            String::new()
        };
        wrap(
            &format!(
                "Purge by tag, issued at each edge in turn and forwarded over the emulated \
                 backbone: applied on every other edge in {:.0} ms median, {:.0} ms p99, {:.0} ms \
                 max ({} arrivals of {} purges{missed}).",
                self.p50_ms, self.p99_ms, self.max_ms, self.deliveries, self.purges
            ),
            96,
        )
    }
}

/// Purge propagation across the planet's edges: each purge issued at one edge, forwarded to
/// the others over emulated backbone links; times from issue to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurgeSummary {
    /// Purges issued.
    pub purges: usize,
    /// Purge arrivals measured (purges × other edges).
    pub deliveries: usize,
    /// Arrivals that did not happen within 5 s.
    pub missed: usize,
    /// Median time to apply, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
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
    /// Measured connect time to the edge (emulated TCP handshake), median over the route's
    /// new connections.
    pub connect_ms: f64,
    /// Measured connect time to the direct origin, median.
    pub connect_direct_ms: f64,
    /// Measured TLS handshake with the edge, through the client's emulated link (after the
    /// connect, before the first request), median; `None` over plain HTTP.
    pub tls_ms: Option<f64>,
    /// Measured TLS handshake with the direct origin, median; `None` over plain HTTP.
    pub tls_direct_ms: Option<f64>,
    /// Median TTFB straight to the direct origin (no edge).
    pub ttfb_direct_ms: f64,
    /// Median TTFB through Regionless (nearest edge, geo routing to an origin).
    pub ttfb_regionless_ms: f64,
    /// Median TTFB of an edge cache hit (`/images/hero.svg`, `x-cache: HIT`).
    pub ttfb_cache_hit_ms: Option<f64>,
    /// Speed-of-light floor client → edge → origin.
    pub floor_ms: f64,
    /// Modelled RTT client ↔ direct origin (what `ttfb_direct_ms` should be, plus overheads).
    pub modelled_direct_ms: f64,
    /// Modelled RTT client ↔ edge + edge ↔ origin (what `ttfb_regionless_ms` should be).
    pub modelled_regionless_ms: f64,
    /// Every connect sample to the edge.
    pub connect_samples_ms: Vec<f64>,
    /// Every TLS handshake sample with the edge (empty over plain HTTP).
    pub tls_samples_ms: Vec<f64>,
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
            ("TLS", Align::Right),
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
                r.tls_ms.map_or_else(|| "—".to_owned(), ms),
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
        let n = self.rows.len();
        let faster = self
            .rows
            .iter()
            .filter(|r| r.ttfb_regionless_ms < r.ttfb_direct_ms)
            .count();
        let median = |f: &dyn Fn(&DemoRow) -> Option<f64>| {
            let mut v: Vec<f64> = self.rows.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let direct_over = median(&|r| Some(r.ttfb_direct_ms - r.modelled_direct_ms));
        let edge_over = median(&|r| Some(r.ttfb_regionless_ms - r.modelled_regionless_ms));
        let mut text = format!(
            "GET {path} (Host: {host}) over {scheme} from {n} client places, {world}. ",
            path = self.path,
            host = self.site_host,
            scheme = match self.scheme {
                Scheme::Https => "HTTPS",
                Scheme::Http => "plain HTTP (--plain-http)",
            },
            world = self.world,
        );
        match self.scheme {
            Scheme::Https => {
                let tls_over = median(&|r| r.tls_ms.map(|t| t - r.edge_rtt_ms));
                let setup_edge = median(&|r| r.tls_ms.map(|t| r.connect_ms + t));
                let setup_direct = median(&|r| r.tls_direct_ms.map(|t| r.connect_direct_ms + t));
                text.push_str(&format!(
                    "connect: the emulated TCP handshake to the edge. TLS: the {version} \
                     handshake that follows, through the same emulated link (full handshake, \
                     ALPN {alpn}, certificate from the demo's throwaway CA), so about one RTT: \
                     TLS minus RTT to edge is {tls_over:+.1} ms. Both are medians of {reps} new \
                     connections. TTFB: request sent to first byte on the open, warmed \
                     connection (TLS client→edge, plain HTTP edge→origin inside the provider's \
                     network), median of {reps}. The direct column is HTTPS too: the {direct} \
                     origin terminates TLS itself, with the same certificate. A new connection \
                     (connect + TLS) takes {setup_edge} to the nearest edge and {setup_direct} \
                     straight to {direct}. ",
                    version = self.tls_version.as_deref().unwrap_or("TLS"),
                    alpn = self.alpn.as_deref().unwrap_or("none"),
                    reps = self.repetitions,
                    direct = self.direct_origin,
                    setup_edge = ms(setup_edge),
                    setup_direct = ms(setup_direct),
                ));
            }
            Scheme::Http => text.push_str(&format!(
                "connect: the emulated TCP handshake to the edge (median of {reps} new \
                 connections); no TLS. TTFB: request sent to first byte on an open, warmed \
                 connection (client→edge and edge→origin), median of {reps}. ",
                reps = self.repetitions,
            )),
        }
        text.push_str(&format!(
            "RTT to edge is the model's; \"change\" is TTFB through Regionless against direct. \
             Regionless was faster for {faster} of {n}: this API read is no-store, so every request \
             reaches an origin: the edge helps where geo routing finds a nearer origin, and \
             elsewhere costs its hop (a detour if the nearest edge is off the way). Measured \
             TTFB minus modelled RTT: direct {direct_over:+.1} ms, through Regionless \
             {edge_over:+.1} ms (the emulator's relays, {tls}the sample app and the edge \
             node). Figures under the table are medians over countries.",
            tls = if self.scheme == Scheme::Https {
                "TLS records, "
            } else {
                ""
            },
        ));
        format!(
            "{table}\n{notes}\n\
             {purge}\
             ¹ A static image served from the edge's cache (x-cache: HIT): the client↔edge RTT plus the edge's own time.\n\
             ² Speed-of-light floor: light in fibre along great circles, client → edge → origin.\n",
            table = t.render(),
            notes = wrap(&text, 96),
            purge = self
                .purge
                .as_ref()
                .map_or_else(String::new, |p| format!("{}\n", p.sentence())),
        )
    }
}

/// `text` broken into lines of at most `width` characters at spaces (a longer word gets a
/// line of its own).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("aa bb  cc", 5), "aa bb\ncc");
        assert_eq!(wrap("abcdefg hi", 3), "abcdefg\nhi");
        assert_eq!(wrap("", 3), "");
    }
}
