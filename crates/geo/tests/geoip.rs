//! GeoIP lookups against real `.mmdb` files (see testdata/README.md for their origin) and
//! reloading.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regionless_geo::{GeoError, GeoIp};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn code(db: &GeoIp, addr: &str) -> Option<String> {
    db.lookup(ip(addr)).map(|c| c.as_str().to_owned())
}

#[test]
fn ip_location_db_shape() {
    let db = GeoIp::open(&testdata("iptoasn-country.mmdb")).unwrap();
    assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));
    assert_eq!(code(&db, "133.242.0.1").as_deref(), Some("JP"));
    assert_eq!(code(&db, "159.69.27.1").as_deref(), Some("DE"));
    assert_eq!(code(&db, "200.160.2.3").as_deref(), Some("BR"));
    assert_eq!(code(&db, "2001:4860:4860::8888").as_deref(), Some("US"));
    assert_eq!(code(&db, "127.0.0.1"), None);
    assert_eq!(code(&db, "::1"), None);
    // IPv4-mapped IPv6 is looked up as IPv4.
    assert_eq!(code(&db, "::ffff:133.242.0.1").as_deref(), Some("JP"));
    assert_eq!(
        db.lookup_country(ip("159.69.27.1")).unwrap().name,
        "Germany"
    );
    assert_eq!(db.path(), testdata("iptoasn-country.mmdb"));
    assert_eq!(db.info().ip_version, 6);
}

#[test]
fn geolite2_shape() {
    let db = GeoIp::open(&testdata("geolite2-sample.mmdb")).unwrap();
    assert_eq!(db.info().database_type, "GeoLite2-Country");
    assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));
    assert_eq!(code(&db, "81.2.69.160").as_deref(), Some("GB"));
    assert_eq!(code(&db, "::ffff:81.2.69.160").as_deref(), Some("GB"));
    assert_eq!(code(&db, "2001:db8:1::42").as_deref(), Some("JP"));
    // No `country`, only `registered_country`.
    assert_eq!(code(&db, "192.0.2.7").as_deref(), Some("DE"));
    // Continent only.
    assert_eq!(code(&db, "198.51.100.1"), None);
    // Not in the file.
    assert_eq!(code(&db, "1.1.1.1"), None);
    assert_eq!(code(&db, "2001:db8:2::1"), None);
}

#[test]
fn open_errors_name_the_file() {
    let missing = testdata("no-such.mmdb");
    let err = GeoIp::open(&missing).unwrap_err();
    assert!(matches!(err, GeoError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such.mmdb"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.mmdb", &b""[..]),
        ("garbage.mmdb", b"this is not a database at all"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = GeoIp::open(&p).unwrap_err();
        assert!(matches!(err, GeoError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn truncated_file_is_refused_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(testdata("iptoasn-country.mmdb")).unwrap();
    // Keep the metadata (at the end of the file) but cut the search tree short.
    let meta_at = full.len() - 4096;
    let mut cut = full[..1000].to_vec();
    cut.extend_from_slice(&full[meta_at..]);
    let p = dir.path().join("cut.mmdb");
    std::fs::write(&p, &cut).unwrap();
    let err = GeoIp::open(&p).unwrap_err();
    assert!(matches!(err, GeoError::Invalid { .. }), "{err:?}");
}

#[test]
fn reload_swaps_in_a_changed_file_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("country.mmdb");
    std::fs::copy(testdata("iptoasn-country.mmdb"), &live).unwrap();
    let db = Arc::new(GeoIp::open(&live).unwrap());
    assert_eq!(code(&db, "133.242.0.1").as_deref(), Some("JP"));
    assert!(!db.reload_if_changed().unwrap(), "unchanged");

    // Replace atomically (write + rename), as deploy tools do.
    let staged = dir.path().join("staged.mmdb");
    std::fs::copy(testdata("geolite2-sample.mmdb"), &staged).unwrap();
    std::fs::rename(&staged, &live).unwrap();
    assert!(db.reload_if_changed().unwrap());
    assert_eq!(
        code(&db, "133.242.0.1"),
        None,
        "the new file has no such entry"
    );
    assert_eq!(code(&db, "192.0.2.7").as_deref(), Some("DE"));
    assert!(!db.reload_if_changed().unwrap());

    // A broken replacement: error, and the previous database keeps answering.
    std::fs::write(&live, b"garbage garbage garbage").unwrap();
    let err = db.reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("country.mmdb"), "{err}");
    assert_eq!(code(&db, "192.0.2.7").as_deref(), Some("DE"));
    assert_eq!(code(&db, "81.2.69.160").as_deref(), Some("GB"));
    // The same broken file is reported once, not re-read on every poll.
    assert!(!db.reload_if_changed().unwrap());

    // Deleted: an I/O error, old data still served.
    std::fs::remove_file(&live).unwrap();
    assert!(matches!(db.reload_if_changed(), Err(GeoError::Io { .. })));
    assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));

    // Fixed: the good file loads again.
    std::fs::copy(testdata("iptoasn-country.mmdb"), &live).unwrap();
    assert!(db.reload_if_changed().unwrap());
    assert_eq!(code(&db, "133.242.0.1").as_deref(), Some("JP"));
}

#[test]
fn lookups_run_concurrently_with_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("country.mmdb");
    std::fs::copy(testdata("geolite2-sample.mmdb"), &live).unwrap();
    let db = Arc::new(GeoIp::open(&live).unwrap());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    // Both files agree on 8.8.8.8, whichever is loaded.
                    assert_eq!(
                        db.lookup(ip("8.8.8.8")).map(|c| c.to_string()).as_deref(),
                        Some("US")
                    );
                }
            })
        })
        .collect();
    for i in 0..4 {
        let src = if i % 2 == 0 {
            "iptoasn-country.mmdb"
        } else {
            "geolite2-sample.mmdb"
        };
        let staged = dir.path().join("staged.mmdb");
        std::fs::copy(testdata(src), &staged).unwrap();
        std::fs::rename(&staged, &live).unwrap();
        assert!(db.reload_if_changed().unwrap());
    }
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn geoip_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<GeoIp>();
    let db = GeoIp::open(&testdata("geolite2-sample.mmdb")).unwrap();
    let dbg = format!("{db:?}");
    assert!(dbg.contains("GeoLite2-Country") && dbg.len() < 500, "{dbg}");
}
