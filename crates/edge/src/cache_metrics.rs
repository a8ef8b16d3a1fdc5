//! The edge cache's Prometheus metrics: read from the cache's own counters at scrape time (a
//! collector), so the request path only bumps atomics.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;
use regionless_cache::tiers::EdgeCache;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

/// Exposes one node's cache counters.
#[derive(Debug)]
pub struct CacheCollector(pub Arc<EdgeCache>);

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let c = ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, ConstCounter::<u64>::TYPE)?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> std::fmt::Result {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, ConstGauge::<i64>::TYPE)?)
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.0.stats.snapshot();
        {
            let mut family = encoder.encode_descriptor(
                "cache_hits",
                "Cache lookups answered, by the tier that answered",
                None,
                ConstCounter::<u64>::TYPE,
            )?;
            for (tier, value) in [("memory", s.hits_memory), ("regional", s.hits_regional)] {
                let labels = TierLabels { tier };
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        let e = &mut encoder;
        counter(
            e,
            "cache_misses",
            "Cache lookups that found nothing usable",
            s.misses,
        )?;
        counter(e, "cache_stores", "Responses stored", s.stores)?;
        counter(e, "cache_stored_bytes", "Body bytes stored", s.stored_bytes)?;
        counter(
            e,
            "cache_served_bytes",
            "Body bytes served from the cache",
            s.served_bytes,
        )?;
        counter(
            e,
            "cache_evictions",
            "Tier-1 entries evicted for space",
            s.evictions,
        )?;
        counter(
            e,
            "cache_coalesced_waits",
            "Requests that waited for another request's origin fetch",
            s.coalesced_waits,
        )?;
        counter(
            e,
            "cache_coalesce_timeouts",
            "Coalesced waits that ran out of time (went to the origin uncached)",
            s.coalesce_timeouts,
        )?;
        counter(
            e,
            "cache_stale_served",
            "Stale responses served (while revalidating or on origin error)",
            s.stale_served,
        )?;
        counter(
            e,
            "cache_regional_errors",
            "Tier-2 operations that failed; the tier was skipped",
            s.regional_errors,
        )?;
        counter(e, "cache_purges", "Purges applied on this node", s.purges)?;
        counter(
            e,
            "cache_too_large",
            "Responses streamed through uncached for their size",
            s.too_large,
        )?;
        let (objects, bytes) = self.0.memory_usage();
        gauge(
            e,
            "cache_memory_objects",
            "Entries in tier 1",
            objects as i64,
        )?;
        gauge(
            e,
            "cache_memory_bytes",
            "Approximate bytes held by tier 1",
            bytes as i64,
        )?;
        Ok(())
    }
}
