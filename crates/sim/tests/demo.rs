//! The demo planet in-process: the built-in world starts, every client reaches its nearest
//! edge over HTTPS (or plain HTTP), the edge learns the country from the front's header and
//! steers by it. No timing assertions here (the CLI test holds the two the issue allows);
//! TLS times are only checked to be there.
#![allow(clippy::unwrap_used)]

use regionless_sim::demo::{
    builtin_world, run_demo, start_vantages, DemoOptions, NoProgress, Planet, Scheme,
    BUILTIN_WORLD_LABEL,
};
use regionless_sim::probe::{probe_emulated, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_planet_routes_every_client() {
    let planet = Planet::start(builtin_world().unwrap(), BUILTIN_WORLD_LABEL)
        .await
        .unwrap();
    let map = planet.map();
    let vantages = start_vantages(map, Scheme::Https).await.unwrap();
    let options = DemoOptions {
        repetitions: 3,
        ..DemoOptions::default()
    };
    let report = run_demo(map, &vantages, &options, BUILTIN_WORLD_LABEL, &NoProgress)
        .await
        .unwrap();
    println!("{}", report.table());
    assert!(report.rows.len() >= 12);
    assert_eq!(report.scheme, Scheme::Https);
    assert_eq!(report.tls_version.as_deref(), Some("TLS 1.3"));
    assert_eq!(report.alpn.as_deref(), Some("http/1.1"));
    for r in &report.rows {
        assert_eq!(r.served_by, r.edge, "{r:?}");
        assert_eq!(r.ttfb_regionless_samples_ms.len(), 3);
        // Both routes did their TLS handshakes, timed apart from connect and TTFB.
        assert!(r.tls_ms.is_some_and(|t| t > 0.0), "{r:?}");
        assert!(r.tls_direct_ms.is_some_and(|t| t > 0.0), "{r:?}");
        assert_eq!(r.tls_samples_ms.len(), 3);
        assert_eq!(r.connect_samples_ms.len(), 3);
    }
    let table = report.table();
    let header = table.lines().next().unwrap();
    assert!(header.contains("  connect      TLS  "), "{header}");
    assert!(table.contains("TLS 1.3 handshake"), "{table}");
    let origin = |cc: &str| report.row(cc).unwrap().origin.clone();
    assert_eq!(origin("JP"), "hillsboro-1@us-west");
    assert_eq!(origin("CN"), "hillsboro-1@us-west", "the geo override");
    assert_eq!(origin("DE"), "frankfurt-1@eu-central");
    assert_eq!(report.row("JP").unwrap().edge, "ap-northeast");
    assert_eq!(report.row("US").unwrap().edge, "us-east");

    // Plain HTTP still works (`--plain-http`), for a few places: no TLS figures.
    let plain = start_vantages(map, Scheme::Http).await.unwrap();
    let few: Vec<_> = plain
        .into_iter()
        .filter(|v| ["DE", "FR"].contains(&v.edge.country.as_str()))
        .collect();
    let options = DemoOptions {
        repetitions: 1,
        ..DemoOptions::default()
    };
    let report = run_demo(map, &few, &options, BUILTIN_WORLD_LABEL, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.scheme, Scheme::Http);
    assert_eq!(report.rows.len(), 2);
    assert!(report.tls_version.is_none());
    for r in &report.rows {
        assert_eq!(r.origin, "frankfurt-1@eu-central");
        assert!(r.tls_ms.is_none() && r.tls_direct_ms.is_none() && r.tls_samples_ms.is_empty());
    }

    // The probe on the same planet: anycast through the site host (HTTPS: TLS timed; plain
    // HTTP: none), then an origin's addresses.
    let from = ["JP".to_owned(), "de".to_owned()];
    for (url, tls) in [
        ("https://shop.demo/api/products/2", true),
        ("http://shop.demo/api/products/2", false),
    ] {
        let target = Target::parse(url).unwrap();
        let probe = probe_emulated(map, "test", &target, &from, 2, &NoProgress)
            .await
            .unwrap();
        assert_eq!(probe.rows.len(), 2);
        assert_eq!(
            probe.rows[0].reached,
            "edge ap-northeast → hillsboro-1@us-west"
        );
        assert_eq!(
            probe.rows[1].reached,
            "edge eu-central → frankfurt-1@eu-central"
        );
        for r in &probe.rows {
            assert_eq!(r.status, 200);
            assert_eq!(r.ttfb.unwrap().samples, 2);
            assert!(r.dns.is_none());
            match r.tls {
                Some(t) => assert!(tls && t.samples == 2 && t.min_ms > 0.0, "{url}: {r:?}"),
                None => assert!(!tls, "{url}: {r:?}"),
            }
        }
    }
    let frankfurt = &planet.apps()[0];
    for url in [
        format!("http://{}/images/logo.svg", frankfurt.addr()),
        format!("https://{}/images/logo.svg", frankfurt.tls_addr().unwrap()),
    ] {
        let target = Target::parse(&url).unwrap();
        let probe = probe_emulated(map, "test", &target, &from[..1], 1, &NoProgress)
            .await
            .unwrap();
        assert_eq!(probe.rows[0].reached, "origin eu-central", "{url}");
        assert_eq!(probe.rows[0].status, 200, "{url}");
        assert_eq!(probe.rows[0].tls.is_some(), url.starts_with("https"));
    }
    // An edge's HTTPS listener by address (SNI and Host are still the site's).
    let edge = map.edge("eu-central").unwrap().https.unwrap();
    let target = Target::parse(&format!("https://{edge}/api/products/1")).unwrap();
    let probe = probe_emulated(map, "test", &target, &from[1..], 1, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        probe.rows[0].reached,
        "edge eu-central → frankfurt-1@eu-central"
    );
    let e = probe_emulated(map, "test", &target, &["ZZ".to_owned()], 1, &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no vantage point in `ZZ`"), "{e}");
    let elsewhere = Target::parse("http://example.com/").unwrap();
    let e = probe_emulated(map, "test", &elsewhere, &[], 1, &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not in the demo world"), "{e}");
    planet.shutdown().await;
}
