//! The edge cache on a real node: RFC 9111 semantics, tiers, coalescing, stale serving, purge.
#![allow(clippy::unwrap_used)]

mod cache_origin;
mod common;

use std::time::Duration;

use cache_origin::{Script, ScriptedOrigin};
use common::*;

fn site(origin: &ScriptedOrigin, extra: &str) -> String {
    shop_site(extra, &[("o1", &origin.url(), "eu-central")])
}

async fn node_for(
    origin: &ScriptedOrigin,
    node_extra: &str,
    site_extra: &str,
) -> regionless_edge::Node {
    start_node(&node_toml(
        "eu-central",
        node_extra,
        &site(origin, site_extra),
    ))
    .await
}

/// Where tier 2 lives for a test: every semantic test runs once per backend (tier 1 is the
/// same for both; tier 2 is read on every tier-1 miss and written on every store).
enum Tier {
    Embedded(tempfile::TempDir, std::sync::atomic::AtomicUsize),
    Redis(regionless_store::testing::RedisServer),
}

impl Tier {
    fn embedded() -> Tier {
        Tier::Embedded(tempfile::tempdir().unwrap(), Default::default())
    }

    fn redis() -> Tier {
        Tier::Redis(regionless_store::testing::RedisServer::start())
    }

    /// The `[cache]` section for one more node (embedded: a file of its own).
    fn cache_section(&self) -> String {
        match self {
            Tier::Embedded(dir, n) => {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = dir.path().join(format!("cache-{i}.redb"));
                format!(
                    "\n[cache]\nregional = \"embedded\"\npath = \"{}\"\n",
                    path.display()
                )
            }
            Tier::Redis(server) => format!("\n[cache]\nregional = \"{}\"\n", server.url()),
        }
    }

    async fn node(
        &self,
        origin: &ScriptedOrigin,
        node_extra: &str,
        site_extra: &str,
    ) -> regionless_edge::Node {
        let extra = format!("{node_extra}{}", self.cache_section());
        node_for(origin, &extra, site_extra).await
    }
}

macro_rules! on_every_tier {
    ($($name:ident),* $(,)?) => {
        mod embedded_tier {
            $( #[tokio::test] async fn $name() { super::$name(super::Tier::embedded()).await } )*
        }
        mod redis_tier {
            $( #[tokio::test] async fn $name() { super::$name(super::Tier::redis()).await } )*
        }
    };
}

on_every_tier!(
    miss_then_hit_with_age_and_cache_status,
    responses_that_must_not_be_stored_are_not,
    vary_selects_variants_with_accept_encoding_normalised,
    stale_responses_are_revalidated_with_etag_and_304,
    client_conditionals_and_ranges_are_answered_from_cache,
    unsafe_methods_invalidate_the_cached_get,
    a_hundred_parallel_misses_make_one_origin_request,
    stale_while_revalidate_refreshes_after_the_request_ended,
    stale_if_error_serves_stale_when_the_origin_is_gone,
    route_rules_bypass_override_ttl_and_micro_cache,
    keys_follow_route_rules_for_query_headers_and_country,
    poisoning_through_unkeyed_headers_does_not_reach_other_clients,
    purges_by_url_prefix_tag_and_site_hard_and_soft,
    cacheable_post_routes_key_on_the_body,
    a_feature_flag_change_serves_fresh_content_without_a_purge,
);

async fn miss_then_hit_with_age_and_cache_status(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/a", Script::ok("public, max-age=60").body("hello"));
    let node = tier.node(&origin, "", "").await;
    let first = get(&node, "shop.test", "/a", &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache").as_deref(), Some("MISS"));
    assert!(first
        .header("cache-status")
        .unwrap()
        .contains("fwd=uri-miss"));
    assert!(first.header("cache-status").unwrap().contains("stored"));
    let second = get(&node, "shop.test", "/a", &[]).await;
    assert_eq!(second.text(), "hello");
    assert_eq!(second.header("x-cache").as_deref(), Some("HIT"));
    let status = second.header("cache-status").unwrap();
    assert!(status.starts_with("regionless; hit; ttl="), "{status}");
    assert!(status.contains("detail=memory"), "{status}");
    assert!(second.header("age").is_some());
    assert_eq!(origin.hits("/a"), 1);
    // HEAD is answered from the cached GET.
    let head = send(node.http_addrs()[0], "HEAD", "shop.test", "/a", &[], "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-cache").as_deref(), Some("HIT"));
    assert_eq!(head.header("content-length").as_deref(), Some("5"));
    assert!(head.body.is_empty());
    assert_eq!(origin.hits("/a"), 1);
    node.shutdown().await;
}

async fn responses_that_must_not_be_stored_are_not(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/nostore", Script::ok("no-store"));
    origin.script("/private", Script::ok("private, max-age=60"));
    origin.script(
        "/cookie",
        Script::ok("public, max-age=60").header("set-cookie", "s=1"),
    );
    origin.script("/auth", Script::ok("max-age=60"));
    origin.script("/none", Script::ok(""));
    let node = tier.node(&origin, "", "").await;
    for (path, headers) in [
        ("/nostore", vec![]),
        ("/private", vec![]),
        ("/cookie", vec![]),
        ("/auth", vec![("authorization", "Bearer x")]),
        ("/none", vec![]),
    ] {
        for _ in 0..2 {
            let r = get(&node, "shop.test", path, &headers).await;
            assert_eq!(r.header("x-cache").as_deref(), Some("MISS"), "{path}");
        }
        assert_eq!(
            origin.hits(path),
            2,
            "{path} must reach the origin every time"
        );
    }
    let r = get(&node, "shop.test", "/private", &[]).await;
    assert!(r.header("cache-status").unwrap().contains("detail=private"));
    node.shutdown().await;
}

async fn vary_selects_variants_with_accept_encoding_normalised(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/v",
        Script::ok("public, max-age=60")
            .header("vary", "Accept-Encoding")
            .echo_header("accept-encoding"),
    );
    let node = tier.node(&origin, "", "").await;
    let gz = get(
        &node,
        "shop.test",
        "/v",
        &[("accept-encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(gz.header("x-cache").as_deref(), Some("MISS"));
    // Same normalised value (gzip): a hit with the first response.
    let gz2 = get(
        &node,
        "shop.test",
        "/v",
        &[("accept-encoding", "deflate,gzip")],
    )
    .await;
    assert_eq!(gz2.header("x-cache").as_deref(), Some("HIT"));
    assert_eq!(gz2.text(), gz.text());
    let br = get(&node, "shop.test", "/v", &[("accept-encoding", "br")]).await;
    assert_eq!(br.header("x-cache").as_deref(), Some("MISS"));
    assert!(br.header("cache-status").unwrap().contains("fwd=vary-miss"));
    assert_eq!(br.text(), "br");
    assert_eq!(
        get(&node, "shop.test", "/v", &[("accept-encoding", "br")])
            .await
            .text(),
        "br"
    );
    assert_eq!(origin.hits("/v"), 2);
    node.shutdown().await;
}

async fn stale_responses_are_revalidated_with_etag_and_304(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/r",
        Script::ok("max-age=1")
            .header("etag", "\"v1\"")
            .body("payload"),
    );
    let node = tier.node(&origin, "", "").await;
    assert_eq!(
        get(&node, "shop.test", "/r", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("MISS")
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get(&node, "shop.test", "/r", &[]).await;
    assert_eq!(r.header("x-cache").as_deref(), Some("REVALIDATED"));
    assert_eq!(r.text(), "payload");
    assert_eq!(
        origin.not_modified(),
        1,
        "the origin answered the revalidation with 304"
    );
    assert_eq!(
        origin.last_header("/r", "if-none-match").as_deref(),
        Some("\"v1\"")
    );
    // Freshened: a hit again.
    assert_eq!(
        get(&node, "shop.test", "/r", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    node.shutdown().await;
}

async fn client_conditionals_and_ranges_are_answered_from_cache(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/c",
        Script::ok("max-age=60")
            .header("etag", "\"e\"")
            .body("0123456789"),
    );
    let node = tier.node(&origin, "", "").await;
    // A conditional miss: the cache fetches the full response and answers the 304 itself.
    let first = get(&node, "shop.test", "/c", &[("if-none-match", "\"e\"")]).await;
    assert_eq!(first.status, 304);
    assert!(
        origin.last_header("/c", "if-none-match").is_none(),
        "client conditional not forwarded"
    );
    let cond = get(&node, "shop.test", "/c", &[("if-none-match", "\"e\"")]).await;
    assert_eq!(cond.status, 304);
    assert_eq!(cond.header("x-cache").as_deref(), Some("HIT"));
    let range = get(&node, "shop.test", "/c", &[("range", "bytes=2-4")]).await;
    assert_eq!(range.status, 206);
    assert_eq!(range.text(), "234");
    assert_eq!(
        range.header("content-range").as_deref(),
        Some("bytes 2-4/10")
    );
    let bad = get(&node, "shop.test", "/c", &[("range", "bytes=50-60")]).await;
    assert_eq!(bad.status, 416);
    assert_eq!(origin.hits("/c"), 1);
    node.shutdown().await;
}

async fn unsafe_methods_invalidate_the_cached_get(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/item", Script::ok("max-age=60").body("v1"));
    let node = tier.node(&origin, "", "").await;
    get(&node, "shop.test", "/item", &[]).await;
    assert_eq!(
        get(&node, "shop.test", "/item", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    let post = send(node.http_addrs()[0], "POST", "shop.test", "/item", &[], "x").await;
    assert_eq!(post.status, 200);
    assert_eq!(post.header("x-cache").as_deref(), Some("BYPASS"));
    assert_eq!(
        get(&node, "shop.test", "/item", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("MISS")
    );
    node.shutdown().await;
}

async fn a_hundred_parallel_misses_make_one_origin_request(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/hot",
        Script::ok("max-age=60")
            .body("hot")
            .delay(Duration::from_millis(300)),
    );
    let node = tier.node(&origin, "", "").await;
    let addr = node.http_addrs()[0];
    let tasks: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { send(addr, "GET", "shop.test", "/hot", &[], "").await }))
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hot");
    }
    assert_eq!(origin.hits("/hot"), 1);
    node.shutdown().await;
}

async fn stale_while_revalidate_refreshes_after_the_request_ended(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/swr",
        Script::ok("max-age=1, stale-while-revalidate=60")
            .body("old")
            .delay(Duration::from_millis(300)),
    );
    let node = tier.node(&origin, "", "").await;
    get(&node, "shop.test", "/swr", &[]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The refresh takes 1.5 s at the origin: the stale answer must not wait for it.
    origin.script(
        "/swr",
        Script::ok("max-age=60, stale-while-revalidate=60")
            .body("new")
            .delay(Duration::from_millis(1500)),
    );
    let started = std::time::Instant::now();
    let stale = get(&node, "shop.test", "/swr", &[]).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "stale answer waited for the origin ({:?})",
        started.elapsed()
    );
    assert_eq!(stale.header("x-cache").as_deref(), Some("STALE"));
    assert_eq!(stale.text(), "old");
    // The refresh runs on after that request has ended, and its result is then served.
    origin.wait_for("/swr", 2).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(&node, "shop.test", "/swr", &[]).await;
        if r.text() == "new" {
            assert_eq!(r.header("x-cache").as_deref(), Some("HIT"));
            break;
        }
        assert_eq!(
            r.header("x-cache").as_deref(),
            Some("STALE"),
            "one refresh at a time"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh never landed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        origin.hits("/swr"),
        2,
        "one background refresh, however many stale answers"
    );
    node.shutdown().await;
}

async fn stale_if_error_serves_stale_when_the_origin_is_gone(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/sie",
        Script::ok("max-age=1, stale-if-error=300").body("kept"),
    );
    let node = tier
        .node(
            &origin,
            "",
            "[sites.timeouts]\nconnect = \"300ms\"\nfirst_byte = \"500ms\"",
        )
        .await;
    get(&node, "shop.test", "/sie", &[]).await;
    origin.kill();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&node, "shop.test", "/sie", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "kept");
    assert_eq!(r.header("x-cache").as_deref(), Some("STALE"));
    assert!(r.header("cache-status").unwrap().contains("stale-if-error"));
    node.shutdown().await;
}

async fn a_feature_flag_change_serves_fresh_content_without_a_purge(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/f",
        Script::ok("max-age=3600").echo_header("x-feature-flags"),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let write = |flag: &str| {
        let toml = node_toml(
            "eu-central",
            "",
            &site(
                &origin,
                &format!("[sites.flags]\nnew_checkout = \"{flag}\""),
            ),
        ) + &tier.cache_section();
        std::fs::write(&path, toml).unwrap();
    };
    write("off");
    let config = regionless_edge::Config::load(&path).unwrap();
    let node = regionless_edge::Node::start(config, Some(path.clone()))
        .await
        .unwrap();
    assert_eq!(
        get(&node, "shop.test", "/f", &[]).await.text(),
        "new_checkout=off"
    );
    assert_eq!(
        get(&node, "shop.test", "/f", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    write("on");
    node.control().reload_from_file().unwrap();
    let after = get(&node, "shop.test", "/f", &[]).await;
    assert_eq!(after.text(), "new_checkout=on");
    assert_eq!(after.header("x-cache").as_deref(), Some("MISS"));
    node.shutdown().await;
}

async fn route_rules_bypass_override_ttl_and_micro_cache(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/bypass/x", Script::ok("max-age=60"));
    origin.script("/ttl/x", Script::ok("max-age=0"));
    origin.script("/micro/x", Script::ok("no-cache"));
    let routes = r#"
[[sites.routes]]
path = "/bypass/*"
cache = "bypass"

[[sites.routes]]
path = "/ttl/*"
cache_ttl = "1h"

[[sites.routes]]
path = "/micro/*"
micro_cache = "1s"
"#;
    let node = tier.node(&origin, "", routes).await;
    for _ in 0..2 {
        let r = get(&node, "shop.test", "/bypass/x", &[]).await;
        assert_eq!(r.header("x-cache").as_deref(), Some("BYPASS"));
    }
    assert_eq!(origin.hits("/bypass/x"), 2);
    get(&node, "shop.test", "/ttl/x", &[]).await;
    assert_eq!(
        get(&node, "shop.test", "/ttl/x", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    get(&node, "shop.test", "/micro/x", &[]).await;
    assert_eq!(
        get(&node, "shop.test", "/micro/x", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_ne!(
        get(&node, "shop.test", "/micro/x", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    node.shutdown().await;
}

async fn keys_follow_route_rules_for_query_headers_and_country(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/k", Script::ok("max-age=60"));
    let routes = r#"
[[sites.routes]]
path = "/k"
cache_key_query_exclude = ["utm_source"]
cache_key_headers = ["x-lang"]
cache_key_country = true
"#;
    let node = tier
        .node(
            &origin,
            "[client_location]\ntrusted_proxies = [\"127.0.0.1/32\"]",
            routes,
        )
        .await;
    get(
        &node,
        "shop.test",
        "/k?a=1&utm_source=x",
        &[("x-lang", "de"), ("cf-ipcountry", "DE")],
    )
    .await;
    let same = get(
        &node,
        "shop.test",
        "/k?a=1&utm_source=y",
        &[("x-lang", "de"), ("cf-ipcountry", "DE")],
    )
    .await;
    assert_eq!(same.header("x-cache").as_deref(), Some("HIT"));
    let lang = get(
        &node,
        "shop.test",
        "/k?a=1",
        &[("x-lang", "fr"), ("cf-ipcountry", "DE")],
    )
    .await;
    assert_eq!(lang.header("x-cache").as_deref(), Some("MISS"));
    let country = get(
        &node,
        "shop.test",
        "/k?a=1",
        &[("x-lang", "de"), ("cf-ipcountry", "US")],
    )
    .await;
    assert_eq!(country.header("x-cache").as_deref(), Some("MISS"));
    let query = get(
        &node,
        "shop.test",
        "/k?a=2",
        &[("x-lang", "de"), ("cf-ipcountry", "DE")],
    )
    .await;
    assert_eq!(query.header("x-cache").as_deref(), Some("MISS"));
    node.shutdown().await;
}

#[tokio::test]
async fn oversized_responses_stream_through_uncached() {
    let origin = ScriptedOrigin::start().await;
    origin.script("/big", Script::ok("max-age=60").body(&"x".repeat(200_000)));
    let node = node_for(&origin, "", "").await;
    let toml_extra = "[cache]\nregional = \"off\"\nmax_object_size = \"64KiB\"\nmemory = \"1MiB\"";
    let small = start_node(&node_toml("eu-central", toml_extra, &site(&origin, ""))).await;
    for _ in 0..2 {
        let r = get(&small, "shop.test", "/big", &[]).await;
        assert_eq!(r.body.len(), 200_000);
        assert!(r.header("cache-status").unwrap().contains("too-large"));
    }
    assert_eq!(origin.hits("/big"), 2);
    small.shutdown().await;
    node.shutdown().await;
}

async fn poisoning_through_unkeyed_headers_does_not_reach_other_clients(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/p",
        Script::ok("max-age=60")
            .echo_header("x-forwarded-host")
            .also_echo("x-original-url"),
    );
    let node = tier.node(&origin, "", "").await;
    let attack = send(
        node.http_addrs()[0],
        "GET",
        "shop.test",
        "/p",
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-original-url", "/admin"),
        ],
        "fat body",
    )
    .await;
    assert!(!attack.text().contains("evil"), "{}", attack.text());
    assert!(!attack.text().contains("/admin"));
    let victim = get(&node, "shop.test", "/p", &[]).await;
    assert!(!victim.text().contains("evil"));
    assert_eq!(
        origin.last_body("/p"),
        "",
        "a GET body is never forwarded by the cache"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn the_embedded_regional_tier_survives_a_restart() {
    let origin = ScriptedOrigin::start().await;
    origin.script("/persist", Script::ok("max-age=600").body("durable"));
    let dir = tempfile::tempdir().unwrap();
    let cache = format!(
        "[cache]\nregional = \"embedded\"\npath = \"{}\"",
        dir.path().join("cache.redb").display()
    );
    let node = node_for(&origin, &cache, "").await;
    get(&node, "shop.test", "/persist", &[]).await;
    // The regional write happens in the background.
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.shutdown().await;
    let node = node_for(&origin, &cache, "").await;
    let r = get(&node, "shop.test", "/persist", &[]).await;
    assert_eq!(r.text(), "durable");
    assert_eq!(r.header("x-cache").as_deref(), Some("HIT"));
    assert!(r
        .header("cache-status")
        .unwrap()
        .contains("detail=regional"));
    assert_eq!(origin.hits("/persist"), 1);
    node.shutdown().await;
}

async fn purge(node: &regionless_edge::Node, body: &str) -> Reply {
    let addr = node.admin_addr().unwrap();
    send(
        addr,
        "POST",
        "admin",
        "/admin/v1/cache/purge",
        &[
            ("authorization", "Bearer test-token-0123456789"),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
}

async fn purges_by_url_prefix_tag_and_site_hard_and_soft(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    for path in ["/p/1", "/p/2", "/q/1"] {
        origin.script(
            path,
            Script::ok("max-age=600")
                .header("etag", "\"x\"")
                .header("cache-tag", "all, product-7"),
        );
    }
    let node = tier.node(&origin, "", "").await;
    let hit = |path: &'static str| {
        let node = &node;
        async move {
            get(node, "shop.test", path, &[])
                .await
                .header("x-cache")
                .unwrap()
        }
    };
    for path in ["/p/1", "/p/2", "/q/1"] {
        hit(path).await;
        assert_eq!(hit(path).await, "HIT");
    }
    // Malformed purges name the problem.
    for bad in [
        r#"{"tag": "has space"}"#,
        r#"{"url": "not a url"}"#,
        r#"{}"#,
        r#"{"tag":"a","site":"b"}"#,
        "nope",
    ] {
        let r = purge(&node, bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"].as_str().is_some());
    }
    let r = purge(&node, r#"{"url": "http://shop.test/p/1"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(hit("/p/1").await, "MISS");
    assert_eq!(hit("/p/2").await, "HIT");
    purge(&node, r#"{"prefix": "http://shop.test/p/"}"#).await;
    assert_eq!(hit("/p/2").await, "MISS");
    assert_eq!(hit("/q/1").await, "HIT");
    // Soft purge: revalidated (the origin answers 304), not refetched.
    let before = origin.not_modified();
    purge(&node, r#"{"tag": "product-7", "soft": true}"#).await;
    assert_eq!(hit("/q/1").await, "REVALIDATED");
    assert_eq!(origin.not_modified(), before + 1);
    purge(&node, r#"{"site": "shop.test"}"#).await;
    assert_eq!(hit("/q/1").await, "MISS");
    let stats = admin_get(&node, "/admin/v1/cache", Some("test-token-0123456789")).await;
    assert_eq!(stats.json()["purges"], 4);
    let metrics = admin_get(&node, "/metrics", None).await.text();
    assert!(
        metrics.contains("regionless_cache_hits_total{tier=\"memory\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("regionless_cache_purge_propagation_seconds"));
    node.shutdown().await;
}

#[tokio::test]
async fn two_nodes_share_a_redis_tier_and_a_tag_purge_reaches_both() {
    let redis = regionless_store::testing::RedisServer::start();
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/shared",
        Script::ok("max-age=600")
            .header("cache-tag", "catalog")
            .body("v1"),
    );
    let cache = format!("[cache]\nregional = \"{}\"", redis.url());
    let a = node_for(&origin, &cache, "").await;
    let b = node_for(&origin, &cache, "").await;
    assert_eq!(
        get(&a, "shop.test", "/shared", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("MISS")
    );
    // Node B finds A's copy in the region's tier.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let from_b = loop {
        let r = get(&b, "shop.test", "/shared", &[]).await;
        if r.header("x-cache").as_deref() == Some("HIT") || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        from_b
            .header("cache-status")
            .unwrap()
            .contains("detail=regional"),
        "{:?}",
        from_b.header("cache-status")
    );
    assert_eq!(origin.hits("/shared"), 1);
    origin.script(
        "/shared",
        Script::ok("max-age=600")
            .header("cache-tag", "catalog")
            .body("v2"),
    );
    let r = purge(&a, r#"{"tag": "catalog"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // B applies the purge from Redis pub/sub (well under a second).
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let r = get(&b, "shop.test", "/shared", &[]).await;
        if r.text() == "v2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node B still serves the purged copy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(&a, "shop.test", "/shared", &[]).await.text(), "v2");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn parallel_misses_on_two_nodes_sharing_redis_make_one_origin_request() {
    let redis = regionless_store::testing::RedisServer::start();
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/region-hot",
        Script::ok("max-age=600")
            .body("once")
            .delay(Duration::from_millis(400)),
    );
    let cache = format!("[cache]\nregional = \"{}\"", redis.url());
    let a = node_for(&origin, &cache, "").await;
    let b = node_for(&origin, &cache, "").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = if i % 2 == 0 {
            a.http_addrs()[0]
        } else {
            b.http_addrs()[0]
        };
        tasks.push(tokio::spawn(async move {
            send(addr, "GET", "shop.test", "/region-hot", &[], "").await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().text(), "once");
    }
    assert_eq!(
        origin.hits("/region-hot"),
        1,
        "the region-wide lock lets one node fetch"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_redis_tier_is_skipped_and_requests_are_still_served() {
    let mut redis = regionless_store::testing::RedisServer::start();
    let origin = ScriptedOrigin::start().await;
    origin.script("/r", Script::ok("max-age=600").body("served"));
    let cache = format!("[cache]\nregional = \"{}\"", redis.url());
    let node = node_for(&origin, &cache, "").await;
    redis.kill();
    let r = get(&node, "shop.test", "/r", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "served");
    let again = get(&node, "shop.test", "/r", &[]).await;
    assert_eq!(
        again.header("x-cache").as_deref(),
        Some("HIT"),
        "tier 1 still works"
    );
    let stats = admin_get(&node, "/admin/v1/cache", Some("test-token-0123456789")).await;
    assert!(stats.json()["regional_errors"].as_u64().unwrap() >= 1);
    node.shutdown().await;
}

async fn cacheable_post_routes_key_on_the_body(tier: Tier) {
    let origin = ScriptedOrigin::start().await;
    origin.script("/graphql", Script::ok("public, max-age=60").body("result"));
    let routes = "[[sites.routes]]\nmethods = [\"POST\"]\npath = \"/graphql\"\ncache_post = true\n";
    let node = tier.node(&origin, "", routes).await;
    let addr = node.http_addrs()[0];
    let q1 = r#"{"query":"{ product(id: 7) { name } }"}"#;
    let q2 = r#"{"query":"{ product(id: 8) { name } }"}"#;
    let first = send(addr, "POST", "shop.test", "/graphql", &[], q1).await;
    assert_eq!(first.header("x-cache").as_deref(), Some("MISS"));
    assert_eq!(
        origin.last_body("/graphql"),
        q1,
        "the body still reaches the origin"
    );
    let again = send(addr, "POST", "shop.test", "/graphql", &[], q1).await;
    assert_eq!(again.header("x-cache").as_deref(), Some("HIT"));
    assert_eq!(again.text(), "result");
    let other = send(addr, "POST", "shop.test", "/graphql", &[], q2).await;
    assert_eq!(other.header("x-cache").as_deref(), Some("MISS"));
    assert_eq!(origin.hits("/graphql"), 2);
    // POSTs elsewhere are not cached.
    origin.script("/orders", Script::ok("public, max-age=60"));
    send(addr, "POST", "shop.test", "/orders", &[], q1).await;
    let r = send(addr, "POST", "shop.test", "/orders", &[], q1).await;
    assert_eq!(r.header("x-cache").as_deref(), Some("BYPASS"));
    assert_eq!(origin.hits("/orders"), 2);
    node.shutdown().await;
}

#[tokio::test]
async fn waiters_past_the_lock_timeout_go_to_the_origin_and_do_not_store() {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/slow",
        Script::ok("max-age=60")
            .body("slow")
            .delay(Duration::from_millis(2000)),
    );
    let node = node_for(
        &origin,
        "[cache]\nregional = \"off\"\nlock_timeout = \"300ms\"",
        "",
    )
    .await;
    let addr = node.http_addrs()[0];
    let leader =
        tokio::spawn(async move { send(addr, "GET", "shop.test", "/slow", &[], "").await });
    origin.wait_for("/slow", 1).await;
    let waiter = send(addr, "GET", "shop.test", "/slow", &[], "").await;
    assert_eq!(waiter.text(), "slow");
    let status = waiter.header("cache-status").unwrap();
    assert!(
        status.contains("collapsed") && status.contains("detail=lock-timeout"),
        "{status}"
    );
    assert_eq!(
        origin.hits("/slow"),
        2,
        "the waiter went to the origin itself"
    );
    assert_eq!(
        leader.await.unwrap().header("x-cache").as_deref(),
        Some("MISS")
    );
    assert_eq!(
        get(&node, "shop.test", "/slow", &[])
            .await
            .header("x-cache")
            .as_deref(),
        Some("HIT")
    );
    node.shutdown().await;
}

#[tokio::test]
async fn cdn_cache_control_and_surrogate_control_override_cache_control() {
    let origin = ScriptedOrigin::start().await;
    origin.script(
        "/cdn",
        Script::ok("no-store").header("cdn-cache-control", "max-age=60"),
    );
    origin.script(
        "/sur",
        Script::ok("private").header("surrogate-control", "max-age=60;regionless"),
    );
    origin.script(
        "/cdn-no",
        Script::ok("max-age=60").header("cdn-cache-control", "no-store"),
    );
    let node = node_for(&origin, "", "").await;
    for (path, expect) in [("/cdn", "HIT"), ("/sur", "HIT"), ("/cdn-no", "MISS")] {
        get(&node, "shop.test", path, &[]).await;
        let r = get(&node, "shop.test", path, &[]).await;
        assert_eq!(r.header("x-cache").as_deref(), Some(expect), "{path}");
        assert!(
            r.header("surrogate-control").is_none(),
            "Surrogate-Control is for us, not clients"
        );
    }
    assert_eq!(
        origin
            .last_header("/sur", "surrogate-capability")
            .as_deref(),
        Some("regionless=\"Surrogate/1.0\"")
    );
    node.shutdown().await;
}

#[tokio::test]
async fn responses_that_would_serve_nobody_are_not_stored_nor_waited_for() {
    let origin = ScriptedOrigin::start().await;
    // Storable in principle (200), but no freshness, no validators, no stale windows.
    origin.script(
        "/api",
        Script::ok("")
            .body("dynamic")
            .delay(Duration::from_millis(100)),
    );
    let node = node_for(&origin, "", "").await;
    let first = get(&node, "shop.test", "/api", &[]).await;
    assert!(first
        .header("cache-status")
        .unwrap()
        .contains("detail=no-freshness"));
    let addr = node.http_addrs()[0];
    let tasks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(async move { send(addr, "GET", "shop.test", "/api", &[], "").await }))
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.text(), "dynamic");
        let status = r.header("cache-status").unwrap();
        assert!(
            !status.contains("collapsed"),
            "uncacheable URLs are not queued: {status}"
        );
    }
    assert_eq!(origin.hits("/api"), 11);
    node.shutdown().await;
}
