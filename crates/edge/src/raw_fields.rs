//! An origin response's end-to-end header lines, kept as the origin wrote them, for answers
//! the node passes on without reading their fields.
//!
//! Why: turning an origin's head into a `HeaderMap` (allocating the map, validating, hashing
//! and inserting every field, dropping it all again) and serialising that map back into the
//! client's head was about a tenth of the node's user-space instructions per small
//! pass-through request (callgrind). When nothing on the request path reads the origin's
//! fields — no cache phase, no invalidation, a 2xx/3xx answer that is not a protocol switch —
//! `origin_h1` keeps the lines it would have passed on as byte ranges of the head it read,
//! and the client's head gets them copied as they are (the way nginx copies an upstream's
//! header lines).
//!
//! Owns: the ranges, copying them into a head, and turning them into `HeaderMap` entries for
//! writers that need a map (hyper, for HTTP/2 and handed-off HTTP/1 connections). Never:
//! decides which fields are passed on — `origin_h1` applies the same rules as when it builds a
//! map — and never holds a range that is not a whole, CRLF-terminated, already validated
//! field line.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// Runs of adjacent kept lines held; a head whose kept lines need more goes into a map. Every
/// dropped line (framing, connection-level, node-owned) splits a run, so a typical origin
/// head takes two to four.
const MAX_RUNS: usize = 8;

/// Field lines of one origin response head, in the origin's order and spelling.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    /// Start and end (exclusive, after the line's CRLF) of each run of kept lines.
    runs: [(u32, u32); MAX_RUNS],
    count: usize,
    has_date: bool,
}

impl RawFields {
    /// An empty set over `head`, the bytes the lines are ranges of.
    pub fn new(head: Bytes) -> Self {
        RawFields {
            head,
            runs: [(0, 0); MAX_RUNS],
            count: 0,
            has_date: false,
        }
    }

    /// Keeps the field line at `start..end` of the head. The caller guarantees that it is one
    /// or more whole field lines (validated by the parser) ending with CRLF. Returns false,
    /// keeping nothing, when the set is full or the range is not inside the head.
    pub fn push_line(&mut self, start: usize, end: usize) -> bool {
        let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) else {
            return false;
        };
        if start >= end || end as usize > self.head.len() {
            return false;
        }
        match self.count.checked_sub(1).map(|last| &mut self.runs[last]) {
            Some(run) if run.1 == start => run.1 = end,
            _ if self.count == MAX_RUNS => return false,
            _ => {
                self.runs[self.count] = (start, end);
                self.count += 1;
            }
        }
        true
    }

    /// Records that a `Date` field is among the lines (a writer then adds none).
    pub fn set_has_date(&mut self) {
        self.has_date = true;
    }

    /// A `Date` field is among the lines.
    pub fn has_date(&self) -> bool {
        self.has_date
    }

    fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.runs[..self.count]
            .iter()
            .map(|&(start, end)| &self.head[start as usize..end as usize])
    }

    /// Appends the lines, each ending with CRLF, to an HTTP/1.1 head.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for run in self.runs() {
            out.extend_from_slice(run);
        }
    }

    /// Appends the fields to `headers`, for a writer that serialises a map. Values share the
    /// head's memory.
    pub fn append_to(&self, headers: &mut HeaderMap) {
        for run in self.runs() {
            for line in run.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                // The parser validated both; a failure here would mean a range that is not a
                // field line, which is dropped rather than passed on.
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(&line[..colon]),
                    HeaderValue::from_maybe_shared(
                        self.head.slice_ref(line[colon + 1..].trim_ascii()),
                    ),
                ) else {
                    continue;
                };
                headers.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: origin\r\nDate: Tue, 24 Nov 2026 10:00:00 GMT\r\nConnection: keep-alive\r\nContent-Type: text/plain\r\nX-Empty:\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n";

    /// The range of the line starting with `name` (CRLF included).
    fn line(name: &str) -> (usize, usize) {
        let text = std::str::from_utf8(HEAD).expect("ASCII");
        let start = text.find(&format!("\r\n{name}")).expect("present") + 2;
        let end = start + text[start..].find("\r\n").expect("ends") + 2;
        (start, end)
    }

    fn kept(names: &[&str]) -> RawFields {
        let mut fields = RawFields::new(Bytes::from_static(HEAD));
        for name in names {
            let (start, end) = line(name);
            assert!(fields.push_line(start, end), "{name}");
        }
        fields
    }

    #[test]
    fn adjacent_lines_merge_into_one_run_and_are_written_as_they_came() {
        let fields = kept(&[
            "Server",
            "Date",
            "Content-Type",
            "X-Empty",
            "Set-Cookie",
            "set-cookie",
        ]);
        assert_eq!(fields.count, 2, "Connection splits the lines into two runs");
        let mut out = Vec::new();
        fields.write_to(&mut out);
        assert_eq!(
            out,
            b"Server: origin\r\nDate: Tue, 24 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\nX-Empty:\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
        );
    }

    #[test]
    fn fields_become_map_entries_with_every_value_kept() {
        let fields = kept(&[
            "Server",
            "Content-Type",
            "X-Empty",
            "Set-Cookie",
            "set-cookie",
        ]);
        let mut map = HeaderMap::new();
        map.insert("via", HeaderValue::from_static("1.1 edge"));
        fields.append_to(&mut map);
        assert_eq!(map["server"], "origin");
        assert_eq!(map["content-type"], "text/plain");
        assert_eq!(map["x-empty"], "");
        let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(map["via"], "1.1 edge");
        assert!(!map.contains_key("connection"));
        assert_eq!(map.len(), 6);
    }

    #[test]
    fn a_full_set_refuses_another_run_but_still_extends_its_last() {
        let mut fields = RawFields::new(Bytes::from(vec![b'x'; 64]));
        for i in 0..MAX_RUNS {
            assert!(fields.push_line(i * 4, i * 4 + 2));
        }
        assert!(!fields.push_line(40, 42), "a ninth run");
        let last = (MAX_RUNS - 1) * 4 + 2;
        assert!(fields.push_line(last, last + 2), "adjacent to the last run");
        assert!(!fields.push_line(60, 70), "past the head");
        assert!(!fields.push_line(5, 5), "empty");
    }

    #[test]
    fn date_is_reported_only_when_recorded() {
        let mut fields = kept(&["Server"]);
        assert!(!fields.has_date());
        fields.set_has_date();
        assert!(fields.has_date());
    }
}
