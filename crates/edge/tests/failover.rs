//! Failover within the request's time budget: killed, stalled, 503, 429 + Retry-After;
//! hedging; non-idempotent requests; all origins down.
#![allow(clippy::unwrap_used)]
mod common;
use std::time::{Duration, Instant};

use common::*;

const TRUST_LOCAL: &str = "[client_location]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

async fn pair(extra_site: &str) -> (Origin, Origin, regionless_edge::Node) {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, &format!("policy = \"geo\"\n{extra_site}"));
    let node = start_node(&node_toml("eu-central", TRUST_LOCAL, &site)).await;
    (eu, us, node)
}

#[tokio::test]
async fn killed_origin_fails_over_mid_test() {
    let (eu, _us, node) = pair("").await;
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")])
            .await
            .origin(),
        "fra"
    );
    eu.kill();
    // A pooled keep-alive connection to the dead origin may linger; either way the answer
    // must come from the other origin.
    for _ in 0..5 {
        let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.origin(), "hio");
    }
}

#[tokio::test]
async fn stalled_origin_is_abandoned_at_the_first_byte_deadline() {
    let (eu, _us, node) = pair("[sites.timeouts]\nfirst_byte = \"300ms\"\n").await;
    eu.set_mode(Mode::Stall(Duration::from_secs(10)));
    let t = Instant::now();
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    assert_eq!(r.origin(), "hio");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn status_503_fails_over_and_last_answer_is_passed_on_when_all_fail() {
    let (eu, us, node) = pair("").await;
    eu.set_mode(Mode::Status(503, None));
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    assert_eq!(r.origin(), "hio");
    us.set_mode(Mode::Status(503, None));
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    assert_eq!(
        r.status, 503,
        "when every origin answers 503 the client gets the origin's answer"
    );
    assert!(r.text().contains("says 503"));
}

#[tokio::test]
async fn retry_after_marks_the_origin_busy() {
    let (eu, _us, node) = pair("").await;
    eu.set_mode(Mode::Status(429, Some(30)));
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    assert_eq!(r.origin(), "hio");
    let hits = eu.hits();
    eu.set_mode(Mode::Ok);
    // Busy for 30 s: the next requests skip it without trying.
    for _ in 0..3 {
        assert_eq!(
            get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")])
                .await
                .origin(),
            "hio"
        );
    }
    assert_eq!(eu.hits(), hits);
    let origins = admin_get(&node, "/admin/v1/origins", Some(TOKEN))
        .await
        .json();
    let fra = origins
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "fra")
        .unwrap()
        .clone();
    assert_eq!(fra["health"]["state"], "busy", "{fra}");
}

#[tokio::test]
async fn every_origin_down_gives_502_with_a_reason_never_a_hang() {
    let (eu, us, node) = pair("").await;
    eu.kill();
    us.kill();
    let t = Instant::now();
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.status, 502);
    assert!(r.text().contains("cannot connect"), "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn every_origin_stalled_gives_504() {
    let (eu, us, node) = pair("[sites.timeouts]\nfirst_byte = \"200ms\"\nrequest = \"1s\"\n").await;
    eu.set_mode(Mode::Stall(Duration::from_secs(10)));
    us.set_mode(Mode::Stall(Duration::from_secs(10)));
    let t = Instant::now();
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.status, 504);
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn post_is_not_retried_after_it_may_have_reached_the_origin() {
    let (eu, us, node) = pair("").await;
    eu.set_mode(Mode::Status(503, None));
    let r = send(
        node.http_addrs()[0],
        "POST",
        "shop.test",
        "/order",
        &[("cf-ipcountry", "DE")],
        "{\"x\":1}",
    )
    .await;
    assert_eq!(
        r.status, 503,
        "a POST that reached an origin is not sent again"
    );
    assert_eq!(us.hits(), 0);
    // …but a connect failure proves it never arrived: then the next origin gets it, body intact.
    eu.kill();
    let r = send(
        node.http_addrs()[0],
        "POST",
        "shop.test",
        "/order",
        &[("cf-ipcountry", "DE")],
        "{\"x\":1}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.origin(), "hio");
    assert_eq!(r.json()["body_len"], 7);
}

#[tokio::test]
async fn retryable_route_lets_post_fail_over_with_its_body() {
    let (eu, _us, node) =
        pair("[[sites.routes]]\nmethods = [\"POST\"]\npath = \"/api/*\"\nretryable = true\n").await;
    eu.set_mode(Mode::Status(503, None));
    let r = send(
        node.http_addrs()[0],
        "POST",
        "shop.test",
        "/api/search",
        &[("cf-ipcountry", "DE")],
        "query",
    )
    .await;
    assert_eq!(r.origin(), "hio");
    assert_eq!(r.json()["body_len"], 5);
}

#[tokio::test]
async fn hedging_sends_a_second_request_after_the_p95_and_takes_the_first_answer() {
    let (eu, us, node) = pair("[sites.retries]\nhedge = true\nhedge_min_delay = \"20ms\"\n[sites.timeouts]\nfirst_byte = \"5s\"\n").await;
    // Learn fra's p95 (~fast), then make it slow: the hedge to hio must answer first.
    for _ in 0..20 {
        get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    }
    eu.set_mode(Mode::Stall(Duration::from_millis(1500)));
    let t = Instant::now();
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
    assert_eq!(r.origin(), "hio");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "hedge answered in {:?}",
        t.elapsed()
    );
    assert_eq!(us.hits(), 1);
    let metrics = get_metrics(&node).await;
    assert!(
        metrics.contains("regionless_hedges_total{site=\"shop\"} 1"),
        "{metrics}"
    );
}

async fn get_metrics(node: &regionless_edge::Node) -> String {
    admin_get(node, "/metrics", None).await.text()
}

#[tokio::test]
async fn retry_budget_caps_retries_node_wide() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"geo\"\n");
    let extra = format!("{TRUST_LOCAL}[retry_budget]\npercent = 10\nmin_per_second = 0\n");
    let node = start_node(&node_toml("eu-central", &extra, &site)).await;
    eu.set_mode(Mode::Status(503, None));
    let mut failed_over = 0;
    for _ in 0..100 {
        if get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")])
            .await
            .status
            == 200
        {
            failed_over += 1;
        }
    }
    // Passive ejection takes fra out after 5 failures, so most requests go straight to hio;
    // what matters is that retries never exceed 10 % of requests.
    let metrics = get_metrics(&node).await;
    let failovers: u64 = metrics
        .lines()
        .find(|l| l.starts_with("regionless_failovers_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(failovers <= 10, "failovers {failovers} of 100 requests");
    assert!(failed_over >= 90, "{failed_over}");
}

#[tokio::test]
async fn retry_budget_grows_with_the_requests_it_has_seen() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    // fra answers 503 to every request and is never ejected: each request asks for a
    // failover, and only the budget (10 % of requests, no floor) decides.
    let site = two_region_site(
        &eu,
        &us,
        "policy = \"geo\"\n[sites.health]\neject_after_failures = 1000\n",
    );
    let extra = format!("{TRUST_LOCAL}[retry_budget]\npercent = 10\nmin_per_second = 0\n");
    let node = start_node(&node_toml("eu-central", &extra, &site)).await;
    eu.set_mode(Mode::Status(503, None));
    let mut served_by_hio = 0;
    for _ in 0..100 {
        let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
        if r.status == 200 {
            assert_eq!(r.origin(), "hio");
            served_by_hio += 1;
        }
    }
    // Requests are counted as they arrive, so the budget allows one failover per ten: a
    // budget that saw no requests would allow none.
    assert!(
        (8..=10).contains(&served_by_hio),
        "{served_by_hio} of 100 requests failed over"
    );
    assert_eq!(eu.hits(), 100);
}
