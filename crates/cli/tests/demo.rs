//! `regionless demo` and `regionless probe` through the built binary, on loopback only.
//! The only timing assertions are the ones the issue allows: for US and JP clients the median
//! TTFB through Regionless (geo routing) is below the median TTFB straight to Germany, and
//! every client's median cache-hit TTFB is within 1.2× of its modelled RTT to the edge. TLS
//! times are checked to be there and positive, with no bound.
#![allow(clippy::unwrap_used)]
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The demo and the world-file probe each start a planet of 11 nodes; one at a time keeps
/// them from skewing each other's timing on a 2-core machine.
static PLANET: Mutex<()> = Mutex::new(());

fn regionless(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regionless"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("demo-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn demo_once_json_geo_routing_beats_germany_for_us_and_jp() {
    let _planet = PLANET.lock().unwrap_or_else(|p| p.into_inner());
    let (code, stdout, stderr) = regionless(&["demo", "--once", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("table ready"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.len() >= 12, "{stdout}");
    assert_eq!(report["direct_origin"], "eu-central");
    assert_eq!(report["scheme"], "https");
    assert_eq!(report["tls_version"], "TLS 1.3");
    assert_eq!(report["alpn"], "http/1.1");
    for r in rows {
        // Every client reached an edge, which answered itself and named the origin.
        assert_eq!(r["served_by"], r["edge"], "{r}");
        assert!(r["origin"].as_str().unwrap().contains('@'), "{r}");
        // A cache hit costs about one client↔edge round trip (medians; the only other timing
        // assertion the issue allows).
        let hit = r["ttfb_cache_hit_ms"].as_f64().unwrap();
        let rtt = r["edge_rtt_ms"].as_f64().unwrap();
        assert!(
            hit <= 1.2 * rtt,
            "cache hit {hit} ms vs RTT to edge {rtt} ms\n{r}"
        );
        // The TLS handshakes (edge and direct origin) are measured, apart from TTFB.
        for key in ["tls_ms", "tls_direct_ms"] {
            let tls = r[key].as_f64().unwrap_or(f64::NAN);
            assert!(tls > 0.0, "{key}: {r}");
        }
    }
    // Purges issued at every edge reached every other edge (how fast is a benchmark figure,
    // not asserted here).
    let purge = &report["purge"];
    assert_eq!(purge["missed"], 0, "{purge}");
    assert_eq!(purge["purges"], 18, "{purge}");
    assert_eq!(purge["deliveries"], 18 * 8, "{purge}");
    let row = |cc: &str| rows.iter().find(|r| r["country"] == cc).unwrap();
    for cc in ["US", "JP"] {
        let r = row(cc);
        assert_eq!(r["origin_region"], "us-west", "{r}");
        let geo = r["ttfb_regionless_ms"].as_f64().unwrap();
        let direct = r["ttfb_direct_ms"].as_f64().unwrap();
        assert!(
            geo < direct,
            "{cc}: Regionless {geo} ms, direct to Germany {direct} ms\n{r}"
        );
    }
}

#[test]
fn demo_refuses_a_bad_world_naming_the_line() {
    let bad = write(
        "bad-lat.toml",
        "[demo]\norigins = [\"eu-central\"]\n\n[[place]]\nname = \"eu-central\"\nkind = \"region\"\ncountry = \"DE\"\nlat = 135.7\nlon = 8.7\n",
    );
    let (code, stdout, stderr) = regionless(&["demo", "--once", "--world", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let at = format!("{}:8:7: latitude 135.7 is outside -90..=90", bad.display());
    assert!(stderr.contains(&at), "{stderr}");

    let no_demo = write(
        "no-demo.toml",
        "[[place]]\nname = \"eu-central\"\nkind = \"region\"\ncountry = \"DE\"\n",
    );
    let (code, _, stderr) = regionless(&["demo", "--once", "--world", no_demo.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no [demo] section"), "{stderr}");
}

#[test]
fn probe_emulates_vantage_points_in_a_world_file() {
    let _planet = PLANET.lock().unwrap_or_else(|p| p.into_inner());
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/../sim/worlds/planet.toml");
    let (code, stdout, stderr) = regionless(&[
        "probe",
        "https://shop.demo/api/products/1",
        "--world",
        world,
        "--from",
        "JP,de",
        "-n",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["mode"], "emulated");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["reached"],
        "edge ap-northeast → hillsboro-1@us-west"
    );
    assert_eq!(
        rows[1]["reached"],
        "edge eu-central → frankfurt-1@eu-central"
    );
    for r in rows {
        assert_eq!(r["status"], 200);
        assert_eq!(r["ttfb"]["samples"], 2);
        assert_eq!(r["tls"]["samples"], 2, "{r}");
        assert!(r["tls"]["min_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    let (code, _, stderr) = regionless(&[
        "probe",
        "http://shop.demo/",
        "--world",
        world,
        "--from",
        "XX",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no vantage point in `XX`"), "{stderr}");
}

/// A real URL is measured from here: the target is a one-shot HTTP server on loopback.
#[test]
fn probe_measures_a_real_url_from_here() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                seen.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .unwrap();
        }
    });
    let url = format!("http://{addr}/x");
    let (code, stdout, stderr) = regionless(&["probe", &url, "--from", "JP", "-n", "2"]);
    server.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("measured from this machine"), "{stdout}");
    assert!(stdout.contains("this machine"), "{stdout}");
    assert!(stderr.contains("--from applies to demo worlds"), "{stderr}");
}
