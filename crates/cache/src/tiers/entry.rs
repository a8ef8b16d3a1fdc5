//! What a tier holds: a stored response (status, stored header fields, body, exchange times,
//! tags) or a variant index (the `Vary` field names a URL's responses are selected by), and
//! their byte encoding for the regional tier.
//!
//! The encoding is our own rather than a serde format: the body is the bulk of every entry and
//! decoding hands it out as a zero-copy slice of the bytes the store returned, which no serde
//! format offers for a `Bytes` field.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use std::sync::OnceLock;

use crate::freshness::{
    corrected_initial_age, seconds_since, Exchange, Freshness, FreshnessPolicy, Lifetime,
    LifetimeSource,
};

/// A response as the cache keeps it.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// The final status.
    pub status: StatusCode,
    /// The header fields as stored (RFC 9111 §3.1: hop-by-hop and `Connection`-listed removed).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the request that produced it was sent (RFC 9111 §4.2.3 `request_time`).
    pub request_time: SystemTime,
    /// When the response (or the 304 that last freshened it) arrived.
    pub response_time: SystemTime,
    /// When this copy was written; purges issued after this instant apply to it.
    pub stored_at: SystemTime,
    /// A lifetime set by the route (TTL override or micro-cache) instead of the origin's.
    pub lifetime_override: Option<Duration>,
    /// `Cache-Tag` / `Surrogate-Key` tags, for purges by tag.
    pub tags: Vec<String>,
    /// The primary key's text (config version included), for purges by URL, prefix or site.
    pub key: String,
    /// What freshness needs from the headers, parsed on first use (a hit then costs no header
    /// or date parsing). Not encoded: rebuilt after a tier-2 read.
    pub facts: OnceLock<FreshnessFacts>,
}

/// The parts of a stored response's freshness that do not change while it is stored.
#[derive(Debug, Clone, Copy)]
pub struct FreshnessFacts {
    policy: FreshnessPolicy,
    template: Freshness,
    initial_age: u64,
}

impl StoredResponse {
    /// The exchange times freshness is computed from.
    pub fn exchange(&self) -> Exchange {
        Exchange {
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }

    /// Its freshness at `now`; a route's lifetime override replaces the origin's lifetime and
    /// its `no-cache` (micro-caching exists to cache exactly such pages for a few seconds).
    pub fn freshness(&self, now: SystemTime, policy: &FreshnessPolicy) -> Freshness {
        let facts = self.facts.get_or_init(|| self.compute_facts(policy));
        let facts = if facts.policy == *policy {
            *facts
        } else {
            // A site changed its heuristic settings since: compute, do not cache.
            self.compute_facts(policy)
        };
        let mut f = facts.template;
        f.age = facts
            .initial_age
            .saturating_add(seconds_since(now, self.response_time));
        f
    }

    fn compute_facts(&self, policy: &FreshnessPolicy) -> FreshnessFacts {
        let exchange = self.exchange();
        let mut f = Freshness::evaluate(
            self.status,
            &self.headers,
            &exchange,
            self.response_time,
            policy,
        );
        if let Some(lifetime) = self.lifetime_override {
            f.lifetime = Lifetime {
                seconds: lifetime.as_secs(),
                source: LifetimeSource::SMaxAge,
            };
            f.no_cache = false;
        }
        FreshnessFacts {
            policy: *policy,
            template: f,
            initial_age: corrected_initial_age(&self.headers, &exchange),
        }
    }

    /// Whether a conditional request could revalidate it once stale.
    pub fn has_validators(&self) -> bool {
        self.headers.contains_key(http::header::ETAG)
            || self.headers.contains_key(http::header::LAST_MODIFIED)
    }

    /// Approximate memory held, for the tier's byte budget.
    pub fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 24).sum();
        self.body.len() + headers + tags + self.key.len() + 160
    }
}

/// The `Vary` field names responses under one primary key are selected by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantIndex {
    /// Lowercased, sorted field names.
    pub vary: Vec<String>,
}

/// One tier entry.
#[derive(Debug, Clone)]
pub enum Slot {
    /// A response.
    Response(Arc<StoredResponse>),
    /// Responses under this key vary: look them up under the variant key.
    Variants(Arc<VariantIndex>),
}

impl Slot {
    /// Approximate memory held.
    pub fn weight(&self, key_len: usize) -> usize {
        key_len
            + match self {
                Slot::Response(r) => r.weight(),
                Slot::Variants(v) => v.vary.iter().map(|n| n.len() + 24).sum::<usize>() + 64,
            }
    }
}

const MAGIC: &[u8; 4] = b"RLC1";
const NO_OVERRIDE: u64 = u64::MAX;

/// Encodes a slot for the regional tier.
pub fn encode(slot: &Slot) -> Bytes {
    let mut out = BytesMut::new();
    out.put_slice(MAGIC);
    match slot {
        Slot::Variants(v) => {
            out.put_u8(b'V');
            out.put_u16(len16(v.vary.len()));
            for name in &v.vary {
                put_str16(&mut out, name.as_bytes());
            }
        }
        Slot::Response(r) => {
            out.reserve(r.weight());
            out.put_u8(b'R');
            out.put_u16(r.status.as_u16());
            out.put_u64(millis(r.request_time));
            out.put_u64(millis(r.response_time));
            out.put_u64(millis(r.stored_at));
            out.put_u64(
                r.lifetime_override
                    .map_or(NO_OVERRIDE, |d| d.as_millis() as u64),
            );
            put_bytes32(&mut out, r.key.as_bytes());
            out.put_u16(len16(r.tags.len()));
            for tag in r.tags.iter().take(u16::MAX as usize) {
                put_str16(&mut out, tag.as_bytes());
            }
            let count = r.headers.len().min(u16::MAX as usize);
            out.put_u16(count as u16);
            for (name, value) in r.headers.iter().take(count) {
                put_str16(&mut out, name.as_str().as_bytes());
                put_bytes32(&mut out, value.as_bytes());
            }
            out.put_slice(&r.body);
        }
    }
    out.freeze()
}

/// Decodes what [`encode`] wrote; `None` for anything else (an entry from another version or a
/// damaged one is a miss, never an error for the client).
pub fn decode(bytes: &Bytes) -> Option<Slot> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4)? != MAGIC {
        return None;
    }
    match r.u8()? {
        b'V' => {
            let n = r.u16()?;
            let mut vary = Vec::with_capacity(n as usize);
            for _ in 0..n {
                vary.push(r.string16()?);
            }
            Some(Slot::Variants(Arc::new(VariantIndex { vary })))
        }
        b'R' => {
            let status = StatusCode::from_u16(r.u16()?).ok()?;
            let request_time = from_millis(r.u64()?);
            let response_time = from_millis(r.u64()?);
            let stored_at = from_millis(r.u64()?);
            let lifetime_override = match r.u64()? {
                NO_OVERRIDE => None,
                ms => Some(Duration::from_millis(ms)),
            };
            let key = String::from_utf8(r.bytes32()?.to_vec()).ok()?;
            let tag_count = r.u16()?;
            let mut tags = Vec::with_capacity(tag_count as usize);
            for _ in 0..tag_count {
                tags.push(r.string16()?);
            }
            let header_count = r.u16()?;
            let mut headers = HeaderMap::with_capacity(header_count as usize);
            for _ in 0..header_count {
                let name = HeaderName::from_bytes(r.take16()?).ok()?;
                let value = HeaderValue::from_bytes(r.bytes32()?).ok()?;
                headers.append(name, value);
            }
            let body = bytes.slice(r.pos..);
            Some(Slot::Response(Arc::new(StoredResponse {
                status,
                headers,
                body,
                request_time,
                response_time,
                stored_at,
                lifetime_override,
                tags,
                key,
                facts: OnceLock::new(),
            })))
        }
        _ => None,
    }
}

fn len16(n: usize) -> u16 {
    n.min(u16::MAX as usize) as u16
}

fn put_str16(out: &mut BytesMut, s: &[u8]) {
    let s = &s[..s.len().min(u16::MAX as usize)];
    out.put_u16(s.len() as u16);
    out.put_slice(s);
}

fn put_bytes32(out: &mut BytesMut, s: &[u8]) {
    out.put_u32(s.len() as u32);
    out.put_slice(s);
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The inverse of [`millis`].
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

struct Reader<'a> {
    bytes: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn take16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn string16(&mut self) -> Option<String> {
        String::from_utf8(self.take16()?.to_vec()).ok()
    }
    fn bytes32(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredResponse {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        StoredResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"hello body"),
            request_time: from_millis(1_700_000_000_000),
            response_time: from_millis(1_700_000_000_123),
            stored_at: from_millis(1_700_000_000_200),
            lifetime_override: Some(Duration::from_secs(5)),
            tags: vec!["t1".into(), "product-7".into()],
            key: "2:v1|https://example.com/a".into(),
            facts: OnceLock::new(),
        }
    }

    #[test]
    fn response_round_trips() {
        let r = sample();
        let Some(Slot::Response(back)) = decode(&encode(&Slot::Response(Arc::new(r.clone()))))
        else {
            panic!("not a response")
        };
        assert_eq!(back.status, r.status);
        assert_eq!(back.headers, r.headers);
        assert_eq!(back.body, r.body);
        assert_eq!(back.request_time, r.request_time);
        assert_eq!(back.response_time, r.response_time);
        assert_eq!(back.stored_at, r.stored_at);
        assert_eq!(back.lifetime_override, r.lifetime_override);
        assert_eq!(back.tags, r.tags);
        assert_eq!(back.key, r.key);
    }

    #[test]
    fn variants_round_trip() {
        let v = VariantIndex {
            vary: vec!["accept-encoding".into(), "x-lang".into()],
        };
        let Some(Slot::Variants(back)) = decode(&encode(&Slot::Variants(Arc::new(v.clone()))))
        else {
            panic!("not an index")
        };
        assert_eq!(*back, v);
    }

    #[test]
    fn damaged_or_foreign_bytes_are_misses() {
        let good = encode(&Slot::Response(Arc::new(sample())));
        for cut in [0, 3, 5, 20, 40] {
            assert!(decode(&good.slice(..cut)).is_none(), "cut at {cut}");
        }
        assert!(decode(&Bytes::from_static(b"RLC1X")).is_none());
        assert!(decode(&Bytes::from_static(b"something else entirely")).is_none());
    }
}
