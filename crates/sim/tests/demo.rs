//! The demo planet in-process: the built-in world starts, every client reaches its nearest
//! edge, the edge learns the country from the front's header and steers by it. No timing
//! assertions here (the CLI test holds the two the issue allows).
#![allow(clippy::unwrap_used)]

use regionless_sim::demo::{
    builtin_world, run_demo, start_vantages, DemoOptions, NoProgress, Planet, BUILTIN_WORLD_LABEL,
};
use regionless_sim::probe::{probe_emulated, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_planet_routes_every_client() {
    let planet = Planet::start(builtin_world().unwrap(), BUILTIN_WORLD_LABEL)
        .await
        .unwrap();
    let map = planet.map();
    let vantages = start_vantages(map).await.unwrap();
    let options = DemoOptions {
        repetitions: 3,
        ..DemoOptions::default()
    };
    let report = run_demo(map, &vantages, &options, BUILTIN_WORLD_LABEL, &NoProgress)
        .await
        .unwrap();
    println!("{}", report.table());
    assert!(report.rows.len() >= 12);
    for r in &report.rows {
        assert_eq!(r.served_by, r.edge, "{r:?}");
        assert_eq!(r.ttfb_regionless_samples_ms.len(), 3);
    }
    let origin = |cc: &str| report.row(cc).unwrap().origin.clone();
    assert_eq!(origin("JP"), "hillsboro-1@us-west");
    assert_eq!(origin("CN"), "hillsboro-1@us-west", "the geo override");
    assert_eq!(origin("DE"), "frankfurt-1@eu-central");
    assert_eq!(report.row("JP").unwrap().edge, "ap-northeast");
    assert_eq!(report.row("US").unwrap().edge, "us-east");

    // The probe on the same planet: anycast through the site host, then an origin's address.
    let target = Target::parse("http://shop.demo/api/products/2").unwrap();
    let from = ["JP".to_owned(), "de".to_owned()];
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
        assert!(r.dns.is_none() && r.tls.is_none());
    }
    let frankfurt = planet.apps()[0].addr();
    let target = Target::parse(&format!("http://{frankfurt}/images/logo.svg")).unwrap();
    let probe = probe_emulated(map, "test", &target, &from[..1], 1, &NoProgress)
        .await
        .unwrap();
    assert_eq!(probe.rows[0].reached, "origin eu-central");
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
