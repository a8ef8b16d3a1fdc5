//! Config reload under load through the admin API, refused reloads, admin authentication and
//! the metrics the admin listener exposes.
#![allow(clippy::unwrap_used)]
mod common;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use regionless_edge::{Config, Node};

fn site_with(origin: &Origin) -> String {
    format!(
        "[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nname = \"{}\"\nurl = \"{}\"\nregion = \"eu-central\"\n",
        origin.name,
        origin.url()
    )
}

async fn start_from_file(path: &Path) -> Node {
    let config = Config::load(path).unwrap();
    Node::start(config, Some(path.to_path_buf())).await.unwrap()
}

async fn reload(node: &Node, token: Option<&str>) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    send(
        node.admin_addr().unwrap(),
        "POST",
        "admin",
        "/admin/v1/reload",
        &headers,
        "",
    )
    .await
}

fn write(path: &PathBuf, toml: &str) {
    // Write to a temporary name and rename, as editors and config management do, so a reload
    // never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, toml).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn reloads_under_load_lose_no_request_and_switch_origins() {
    let a = Origin::start("alpha").await;
    let b = Origin::start("beta").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regionless.toml");
    write(&path, &node_toml("eu-central", "", &site_with(&a)));
    let node = start_from_file(&path).await;
    let addr = node.http_addrs()[0];

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            tokio::spawn(async move {
                // One keep-alive client per worker: reloads must not drop its connection.
                let client = client();
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::get(format!("http://{addr}/load"))
                        .header("host", "shop.test")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    match client.request(req).await {
                        Ok(resp) if resp.status() == 200 => {
                            resp.into_body().collect().await.unwrap();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(resp) => failures.push(format!("status {}", resp.status())),
                        Err(e) => failures.push(format!("error {e:?}")),
                    }
                }
                failures
            })
        })
        .collect();

    for round in 0..6 {
        let target = if round % 2 == 0 { &b } else { &a };
        write(&path, &node_toml("eu-central", "", &site_with(target)));
        let before = done.load(Ordering::Relaxed);
        let r = reload(&node, Some(TOKEN)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["status"], "reloaded");
        assert!(
            r.json()["summary"]
                .as_str()
                .unwrap()
                .starts_with("ok: node in eu-central, 1 site(s)"),
            "{}",
            r.text()
        );
        // Every request that starts after the reload answered goes to the new origin.
        assert_eq!(
            get(&node, "shop.test", "/", &[]).await.origin(),
            target.name
        );
        // Let the load run across this config before the next reload.
        let progress = async {
            while done.load(Ordering::Relaxed) < before + 30 {
                tokio::task::yield_now().await;
            }
        };
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(20), progress)
                .await
                .is_ok(),
            "requests stopped succeeding after reload {round}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let failures = w.await.unwrap();
        assert!(
            failures.is_empty(),
            "requests failed during reloads: {failures:?}"
        );
    }
    assert!(done.load(Ordering::Relaxed) >= 180);
    assert!(a.hits() > 0 && b.hits() > 0);
    let metrics = admin_get(&node, "/metrics", None).await.text();
    assert!(
        metrics.contains("regionless_config_reloads_total{result=\"ok\"} 6"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_check_config_messages_and_the_old_one_keeps_serving() {
    let a = Origin::start("alpha").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regionless.toml");
    write(&path, &node_toml("eu-central", "", &site_with(&a)));
    let node = start_from_file(&path).await;

    let broken = node_toml(
        "eu-central",
        "",
        "[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n[[sites.origins]]\nurl = \"not a url\"\nregion = \"eu-central\"\n[[sites.origins]]\nurl = \"http://127.0.0.1:1\"\nregion = \"mars\"\n",
    );
    write(&path, &broken);
    let expected: Vec<String> = Config::load(&path)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(expected.len() >= 2, "{expected:?}");
    let r = reload(&node, Some(TOKEN)).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let errors: Vec<String> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        errors, expected,
        "reload must word problems exactly as check-config does"
    );
    assert!(
        errors.contains(&"sites[0].origins[0].url: not a URL".to_string()),
        "{errors:?}"
    );
    assert!(r.json()["status"]
        .as_str()
        .unwrap()
        .contains("previous config keeps serving"));
    assert_eq!(get(&node, "shop.test", "/", &[]).await.origin(), "alpha");

    // Unparsable TOML is refused the same way.
    write(&path, "[node\nregion = ");
    let r = reload(&node, Some(TOKEN)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("line 1, column"),
        "{}",
        r.text()
    );

    // Listener changes need a restart.
    write(
        &path,
        &node_toml("eu-central", "", &site_with(&a)).replace(
            "listen = [\"127.0.0.1:0\"]",
            "listen = [\"127.0.0.1:0\", \"127.0.0.2:0\"]",
        ),
    );
    let r = reload(&node, Some(TOKEN)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains("only change with a restart"),
        "{}",
        r.text()
    );
    assert_eq!(get(&node, "shop.test", "/", &[]).await.origin(), "alpha");
    let metrics = admin_get(&node, "/metrics", None).await.text();
    assert!(
        metrics.contains("regionless_config_reloads_total{result=\"refused\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn admin_paths_need_the_bearer_token_and_metrics_and_healthz_are_open() {
    let a = Origin::start("alpha").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regionless.toml");
    write(&path, &node_toml("eu-central", "", &site_with(&a)));
    let node = start_from_file(&path).await;

    for path in ["/admin/v1/origins", "/admin/v1/config"] {
        assert_eq!(
            admin_get(&node, path, None).await.status,
            401,
            "{path} without a token"
        );
        assert_eq!(
            admin_get(&node, path, Some("wrong-token-0123456789"))
                .await
                .status,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            admin_get(&node, path, Some(&TOKEN[..TOKEN.len() - 1]))
                .await
                .status,
            401,
            "{path} with a prefix of the token"
        );
        assert_eq!(
            admin_get(&node, path, Some(TOKEN)).await.status,
            200,
            "{path} with the token"
        );
    }
    let r = admin_get(&node, "/admin/v1/origins", None).await;
    assert_eq!(r.header("www-authenticate").unwrap(), "Bearer");
    // A reload without the token does nothing.
    write(&path, "not toml at all [");
    assert_eq!(reload(&node, None).await.status, 401);
    assert_eq!(
        reload(&node, Some("wrong-token-0123456789")).await.status,
        401
    );
    let metrics = admin_get(&node, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        !metrics.text().contains("regionless_config_reloads_total{"),
        "an unauthenticated reload was attempted"
    );
    let health = admin_get(&node, "/healthz", None).await;
    assert_eq!(
        (health.status.as_u16(), health.text().as_str()),
        (200, "ok\n")
    );
}

#[tokio::test]
async fn metrics_cover_requests_latency_failovers_hedges_and_availability() {
    let dead = Origin::start("dead").await;
    let live = Origin::start("live").await;
    let site = format!(
        "[[sites]]\nname = \"shop\"\nhosts = [\"shop.test\"]\npolicy = \"failover\"\n\
         [[sites.origins]]\nname = \"dead\"\nurl = \"{}\"\nregion = \"eu-central\"\n\
         [[sites.origins]]\nname = \"live\"\nurl = \"{}\"\nregion = \"us-west\"\n",
        dead.url(),
        live.url()
    );
    dead.kill();
    let node = start_node(&node_toml("eu-central", "", &site)).await;
    let r = get(&node, "shop.test", "/", &[]).await;
    assert_eq!(r.origin(), "live");
    for _ in 0..3 {
        get(&node, "shop.test", "/", &[]).await;
    }
    assert_eq!(get(&node, "other.test", "/", &[]).await.status, 421);
    // A request is counted when its response has been written, which can be just after the
    // client read it: wait for the last one.
    let mut m = String::new();
    for _ in 0..100 {
        m = admin_get(&node, "/metrics", None).await.text();
        if m.contains("status=\"421\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let has = |needle: &str| assert!(m.contains(needle), "missing `{needle}` in:\n{m}");
    // Requests by site, edge region and status.
    has("regionless_requests_total{site=\"shop\",edge_region=\"eu-central\",status=\"200\"} 4");
    has("regionless_requests_total{site=\"-\",edge_region=\"eu-central\",status=\"421\"} 1");
    // Origin latency histograms.
    has("# TYPE regionless_origin_ttfb_seconds histogram");
    has("regionless_origin_ttfb_seconds_count{site=\"shop\",origin=\"live\",region=\"us-west\"} 4");
    has("regionless_origin_ttfb_seconds_bucket{le=\"0.1\",site=\"shop\",origin=\"live\",region=\"us-west\"}");
    // Failovers and hedges.
    has("regionless_failovers_total{site=\"shop\"}");
    has("# TYPE regionless_hedges counter");
    has(
        "regionless_origin_attempts_total{site=\"shop\",origin=\"dead\",outcome=\"connect_error\"}",
    );
    // Availability per origin.
    has("regionless_origin_available{site=\"shop\",origin=\"live\",region=\"us-west\"} 1");
    has("regionless_origin_available{site=\"shop\",origin=\"dead\",region=\"eu-central\"}");
}
