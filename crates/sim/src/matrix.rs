//! Measured RTTs between named places, read from CSV (`from,to,rtt_ms`).

use crate::error::{Location, Problem, WorldError};
use std::collections::HashMap;
use std::path::Path;

/// One measured direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The place the RTT was measured from.
    pub from: String,
    /// The place that was pinged.
    pub to: String,
    /// Round-trip time in ms (finite, ≥ 0).
    pub rtt_ms: f64,
    /// The CSV line it came from (1-based; the header is line 1), for error messages.
    pub line: usize,
}

/// A set of measured directed RTTs. Invariants: every RTT is finite and ≥ 0, each directed
/// pair appears at most once, names are trimmed and non-empty. Place names are not checked
/// here (the matrix knows no world); [`crate::World::with_matrix`] does that.
#[derive(Debug, Clone, Default)]
pub struct RttMatrix {
    source: String,
    rows: Vec<Measurement>,
    index: HashMap<String, HashMap<String, usize>>,
}

impl RttMatrix {
    /// Parses CSV text whose header names the columns `from`, `to` and `rtt_ms` (any order,
    /// extra columns ignored; `#` starts a comment line). `source` labels errors, e.g. the file
    /// path. Every error names the CSV line.
    pub fn from_csv_str(text: &str, source: &str) -> Result<RttMatrix, WorldError> {
        let invalid = |line: usize, problem: Problem| WorldError::Invalid {
            at: Location::line(source, line),
            problem,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| csv_error(source, &e))?.clone();
        let column = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| invalid(1, Problem::MissingColumn(name)))
        };
        let (c_from, c_to, c_rtt) = (column("from")?, column("to")?, column("rtt_ms")?);

        let mut matrix = RttMatrix {
            source: source.to_owned(),
            ..RttMatrix::default()
        };
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(source, &e))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let field = |i: usize| record.get(i).unwrap_or("");
            let (from, to, rtt) = (field(c_from), field(c_to), field(c_rtt));
            if from.is_empty() || to.is_empty() {
                return Err(invalid(line, Problem::EmptyName));
            }
            let rtt_ms: f64 = rtt
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    invalid(
                        line,
                        Problem::NotANumber {
                            what: "RTT in ms",
                            value: rtt.to_owned(),
                        },
                    )
                })?;
            if rtt_ms < 0.0 {
                return Err(invalid(line, Problem::NegativeRtt(rtt_ms)));
            }
            matrix
                .insert(from, to, rtt_ms, line)
                .map_err(|problem| invalid(line, problem))?;
        }
        Ok(matrix)
    }

    /// Reads and parses a CSV file (see [`RttMatrix::from_csv_str`]); errors carry the path.
    pub fn load(path: &Path) -> Result<RttMatrix, WorldError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorldError::Read {
            path: path.to_owned(),
            source,
        })?;
        RttMatrix::from_csv_str(&text, &path.display().to_string())
    }

    fn insert(&mut self, from: &str, to: &str, rtt_ms: f64, line: usize) -> Result<(), Problem> {
        if let Some(first) = self.row(from, to) {
            return Err(Problem::DuplicatePair {
                from: from.to_owned(),
                to: to.to_owned(),
                first_line: first.line,
            });
        }
        self.index
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned(), self.rows.len());
        self.rows.push(Measurement {
            from: from.to_owned(),
            to: to.to_owned(),
            rtt_ms,
            line,
        });
        Ok(())
    }

    fn row(&self, from: &str, to: &str) -> Option<&Measurement> {
        let i = *self.index.get(from)?.get(to)?;
        self.rows.get(i)
    }

    /// The label errors use (the path for loaded files).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The RTT measured from `from` to `to`, in that direction only.
    pub fn get(&self, from: &str, to: &str) -> Option<f64> {
        self.row(from, to).map(|m| m.rtt_ms)
    }

    /// The RTT for `from → to`, falling back to `to → from` when only the reverse direction was
    /// measured. The flag is true when the reverse was used.
    pub fn lookup(&self, from: &str, to: &str) -> Option<(f64, bool)> {
        self.get(from, to)
            .map(|v| (v, false))
            .or_else(|| self.get(to, from).map(|v| (v, true)))
    }

    /// All measurements in file order.
    pub fn measurements(&self) -> &[Measurement] {
        &self.rows
    }

    /// Number of measured directions.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn csv_error(source: &str, e: &csv::Error) -> WorldError {
    let line = e.position().map_or(1, |p| p.line() as usize);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        _ => e.to_string(),
    };
    WorldError::Invalid {
        at: Location::line(source, line),
        problem: Problem::MalformedRow(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, Problem) {
        let e = RttMatrix::from_csv_str(text, "m.csv").unwrap_err();
        let at = e.location().unwrap().clone();
        assert_eq!(at.column, None, "CSV errors name lines, not columns");
        assert!(
            e.to_string().starts_with(&format!("m.csv:{}: ", at.line)),
            "{e}"
        );
        (at.line, e.problem().unwrap().clone())
    }

    #[test]
    fn parses_lookups_and_reverse_fallback() {
        let m =
            RttMatrix::from_csv_str("from,to,rtt_ms\n# note\nA, B ,10.5\nB,C,3\n", "m").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("A", "B"), Some(10.5));
        assert_eq!(m.get("B", "A"), None);
        assert_eq!(m.lookup("B", "A"), Some((10.5, true)));
        assert_eq!(m.lookup("A", "C"), None);
        assert_eq!(m.measurements()[1].line, 4);
    }

    #[test]
    fn columns_may_be_reordered() {
        let m = RttMatrix::from_csv_str("rtt_ms,to,from\n7,B,A\n", "m").unwrap();
        assert_eq!(m.get("A", "B"), Some(7.0));
    }

    #[test]
    fn bad_rows_name_their_line() {
        assert_eq!(
            err("from,to,rtt_ms\nA,B,1\nA,C,-3\n"),
            (3, Problem::NegativeRtt(-3.0))
        );
        assert_eq!(
            err("from,to,rtt_ms\nA,B,fast\n").1,
            Problem::NotANumber {
                what: "RTT in ms",
                value: "fast".into()
            }
        );
        assert_eq!(
            err("from,to,rtt_ms\nA,B,1\nC,D,2\nA,B,3\n"),
            (
                4,
                Problem::DuplicatePair {
                    from: "A".into(),
                    to: "B".into(),
                    first_line: 2
                }
            )
        );
        assert_eq!(err("from,to,rtt_ms\nA,B,1\nA,B\n").0, 3);
        assert!(matches!(
            err("from,to,rtt_ms\nA,B,1\nA,B\n").1,
            Problem::MalformedRow(_)
        ));
        assert_eq!(err("from,to\nA,B\n"), (1, Problem::MissingColumn("rtt_ms")));
        assert_eq!(err("from,to,rtt_ms\n,B,1\n"), (2, Problem::EmptyName));
        assert_eq!(err("from,to,rtt_ms\nA,B,NaN\n").0, 2);
    }
}
