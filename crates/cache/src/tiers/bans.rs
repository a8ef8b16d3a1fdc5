//! Purges as bans (Varnish's design): a purge is a rule "entries matching this target, stored
//! before this instant, are gone (hard) or stale (soft)". Lookups check the rules, so a purge
//! by prefix, tag or site costs the same as one by URL and needs no index of the tiers; the
//! memory tier also drops hard-purged entries in the background to give the bytes back.
//!
//! Bans are kept for the longest time any entry is kept (`retention`), after which every entry
//! they could match has expired anyway.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::entry::{from_millis, millis, StoredResponse};
use crate::key::CacheKey;
use crate::purge::PurgeTarget;

/// The most bans kept; beyond it the oldest are dropped (and the memory tier, which could hold
/// what they matched, is cleared by the caller).
pub const MAX_BANS: usize = 100_000;

/// One purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Unique per purge (duplicates arriving on several paths are applied once).
    pub id: u64,
    /// What it matches.
    pub target: PurgeTarget,
    /// Soft: matching entries become stale (revalidated, or served stale where allowed).
    pub soft: bool,
    /// When it was issued; entries stored at or before this instant are affected.
    pub at: SystemTime,
}

/// The wire form of a [`Ban`] (pub/sub messages, stored records, peer forwarding).
#[derive(Debug, Serialize, Deserialize)]
pub struct BanMessage {
    /// [`Ban::id`].
    pub id: u64,
    /// `url`, `prefix`, `tag` or `site`.
    pub kind: String,
    /// The normalised target.
    pub value: String,
    /// [`Ban::soft`].
    pub soft: bool,
    /// [`Ban::at`] in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Ban {
    /// The wire form.
    pub fn to_message(&self) -> BanMessage {
        let (kind, value) = match &self.target {
            PurgeTarget::Url(v) => ("url", v),
            PurgeTarget::Prefix(v) => ("prefix", v),
            PurgeTarget::Tag(v) => ("tag", v),
            PurgeTarget::Site(v) => ("site", v),
        };
        BanMessage {
            id: self.id,
            kind: kind.to_string(),
            value: value.clone(),
            soft: self.soft,
            at_ms: millis(self.at),
        }
    }

    /// From the wire form, validating the target again (messages cross process boundaries).
    pub fn from_message(m: &BanMessage) -> Option<Ban> {
        let target = match m.kind.as_str() {
            "url" => PurgeTarget::url(&m.value).ok()?,
            "prefix" => PurgeTarget::prefix(&m.value).ok()?,
            "tag" => PurgeTarget::tag(&m.value).ok()?,
            "site" => PurgeTarget::site(&m.value).ok()?,
            _ => return None,
        };
        Some(Ban {
            id: m.id,
            target,
            soft: m.soft,
            at: from_millis(m.at_ms),
        })
    }
}

/// What the bans say about one stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanVerdict {
    /// Untouched.
    Clear,
    /// Soft-purged: treat as stale.
    Stale,
    /// Hard-purged: gone.
    Gone,
}

/// The bans in force on a node.
#[derive(Debug)]
pub struct BanList {
    bans: RwLock<Vec<Ban>>,
    retention: Duration,
}

impl BanList {
    /// An empty list keeping bans for `retention`.
    pub fn new(retention: Duration) -> Self {
        BanList {
            bans: RwLock::new(Vec::new()),
            retention,
        }
    }

    /// Adds `ban` unless a ban with its id is already known; true if it was new. Bans older
    /// than the retention at `now` are dropped on the way.
    pub fn add(&self, ban: Ban, now: SystemTime) -> bool {
        let Ok(mut bans) = self.bans.write() else {
            return false;
        };
        if bans.iter().any(|b| b.id == ban.id) {
            return false;
        }
        let retention = self.retention;
        bans.retain(|b| {
            now.duration_since(b.at)
                .map_or(true, |age| age <= retention)
        });
        if bans.len() >= MAX_BANS {
            bans.remove(0);
        }
        // Kept in issue order so a lookup can stop at the first ban older than the entry.
        let pos = bans.partition_point(|b| b.at <= ban.at);
        bans.insert(pos, ban);
        true
    }

    /// What the bans say about `entry`.
    pub fn verdict(&self, entry: &StoredResponse) -> BanVerdict {
        let Ok(bans) = self.bans.read() else {
            return BanVerdict::Clear;
        };
        if bans.last().is_none_or(|b| b.at < entry.stored_at) {
            return BanVerdict::Clear;
        }
        let key = CacheKey::from_text(&entry.key);
        let mut verdict = BanVerdict::Clear;
        for ban in bans.iter().rev() {
            if ban.at < entry.stored_at {
                break;
            }
            if ban.target.matches(&key, &entry.tags) {
                if !ban.soft {
                    return BanVerdict::Gone;
                }
                verdict = BanVerdict::Stale;
            }
        }
        verdict
    }

    /// Bans held.
    pub fn len(&self) -> usize {
        self.bans.read().map_or(0, |b| b.len())
    }

    /// True when no ban is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    fn entry(url_key: &str, tags: &[&str], stored_ms: u64) -> StoredResponse {
        StoredResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            request_time: from_millis(stored_ms),
            response_time: from_millis(stored_ms),
            stored_at: from_millis(stored_ms),
            lifetime_override: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            key: url_key.to_string(),
            facts: Default::default(),
        }
    }

    fn ban(id: u64, target: PurgeTarget, soft: bool, at_ms: u64) -> Ban {
        Ban {
            id,
            target,
            soft,
            at: from_millis(at_ms),
        }
    }

    #[test]
    fn bans_apply_only_to_entries_stored_before_them() {
        let list = BanList::new(Duration::from_secs(3600));
        let now = from_millis(10_000);
        list.add(ban(1, PurgeTarget::tag("p7").unwrap(), false, 5_000), now);
        let key = "2:v1|https://a.com/x";
        assert_eq!(list.verdict(&entry(key, &["p7"], 4_000)), BanVerdict::Gone);
        assert_eq!(list.verdict(&entry(key, &["p7"], 6_000)), BanVerdict::Clear);
        assert_eq!(
            list.verdict(&entry(key, &["other"], 4_000)),
            BanVerdict::Clear
        );
    }

    #[test]
    fn soft_bans_make_entries_stale_and_hard_wins() {
        let list = BanList::new(Duration::from_secs(3600));
        let now = from_millis(10_000);
        let site = PurgeTarget::site("a.com").unwrap();
        list.add(ban(1, site.clone(), true, 5_000), now);
        let e = entry("2:v1|https://a.com/x", &[], 1_000);
        assert_eq!(list.verdict(&e), BanVerdict::Stale);
        list.add(
            ban(
                2,
                PurgeTarget::prefix("https://a.com/").unwrap(),
                false,
                3_000,
            ),
            now,
        );
        assert_eq!(list.verdict(&e), BanVerdict::Gone);
    }

    #[test]
    fn duplicates_and_expired_bans_are_dropped_and_messages_round_trip() {
        let list = BanList::new(Duration::from_secs(1));
        let b = ban(
            9,
            PurgeTarget::url("https://a.com/x").unwrap(),
            false,
            1_000,
        );
        assert!(list.add(b.clone(), from_millis(1_000)));
        assert!(!list.add(b.clone(), from_millis(1_000)));
        assert_eq!(Ban::from_message(&b.to_message()), Some(b));
        list.add(
            ban(10, PurgeTarget::tag("t").unwrap(), false, 5_000),
            from_millis(5_000),
        );
        assert_eq!(list.len(), 1, "the ban past its retention was dropped");
        let bad = BanMessage {
            id: 1,
            kind: "tag".into(),
            value: "has space".into(),
            soft: false,
            at_ms: 0,
        };
        assert!(Ban::from_message(&bad).is_none());
    }
}
