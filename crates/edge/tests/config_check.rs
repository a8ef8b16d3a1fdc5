//! `check-config` semantics through `Config::from_toml` / `Config::load`: every problem is
//! reported with the path of the bad field, and a valid file gets a one-line summary.
#![allow(clippy::unwrap_used)]
use std::path::Path;

use regionless_edge::Config;

const MANY_ERRORS: &str = r#"
[node]
region = "atlantis"
listen = ["nope"]
admin_token = "short"
shutdown_grace = "5"
workers = 0

[limits]
max_body_bytes = "12 bananas"
max_header_bytes = "1KiB"

[[sites]]
name = "shop"
hosts = ["shop.test", "bad host!"]
policy = "random"

[[sites.origins]]
url = "http://127.0.0.1:8081"
region = "mars"

[[sites.origins]]
url = "not a url"
region = "eu-central"

[[sites.origins]]
url = "ftp://files.example"
region = "eu-central"

[[sites.routes]]
path = "api/*"

[[sites]]
name = "shop"
hosts = ["shop.test"]
[sites.geo]
countries = { ZZ = "eu-central", CN = "moon" }
[[sites.origins]]
url = "http://127.0.0.1:8082"
region = "us-west"
"#;

/// The problems with `toml`, as check-config prints them (each must fit on one line).
fn errors(toml: &str) -> Vec<String> {
    match Config::from_toml(toml, Path::new("/nonexistent")) {
        Ok(_) => panic!("accepted:\n{toml}"),
        Err(e) => {
            let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
            assert!(
                lines.iter().all(|l| !l.contains('\n')),
                "a problem spans lines: {lines:?}"
            );
            lines
        }
    }
}

#[test]
fn every_problem_is_reported_with_its_field_path() {
    let unknown_region = "(add it under [[regions]] or use a built-in one such as eu-central)";
    let expected = [
        format!("node.region: unknown region `atlantis` {unknown_region}"),
        "node.listen[0]: `nope` is not an address:port (e.g. \"0.0.0.0:8080\")".into(),
        "node.admin_token: too short: use at least 16 characters".into(),
        "node.shutdown_grace: `5` has no unit (use ms, s, m, h or d, e.g. \"2.5s\")".into(),
        "node.workers: must be between 1 and 1024 (leave it out for one per CPU core)".into(),
        "limits.max_body_bytes: `bananas` is not a size unit (use KiB, MiB, GiB, KB, ...)".into(),
        "limits.max_header_bytes: must be at least 8KiB".into(),
        "sites[0].hosts[1]: `bad host!` is not a hostname (e.g. \"shop.example.com\" or \"*.example.com\")".into(),
        "sites[0].policy: `random` is not a policy (geo, proximity, latency, failover)".into(),
        format!("sites[0].origins[0].region: unknown region `mars` {unknown_region}"),
        "sites[0].origins[1].url: not a URL".into(),
        "sites[0].origins[2].url: scheme `ftp` is not supported (use http or https)".into(),
        "sites[0].routes[0].path: must start with `/`".into(),
        "sites[1].name: duplicate site name `shop`".into(),
        "sites[1].hosts[0]: `shop.test` is already served by sites[0]".into(),
        format!("sites[1].geo.countries.CN: unknown region `moon` {unknown_region}"),
        "sites[1].geo.countries.ZZ: `ZZ` is not an ISO 3166-1 alpha-2 country code".into(),
    ];
    assert_eq!(errors(MANY_ERRORS), expected);
}

#[test]
fn more_field_paths() {
    let toml = r#"
[node]
region = "eu-central"
tls_listen = []
https = 1
"#;
    // Unknown keys are syntax-level errors: located by line and column.
    let e = errors(toml);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("line 5, column 1: unknown field `https`"),
        "{e:?}"
    );

    let toml = r#"
[node]
region = "eu-central"
listen = ["127.0.0.1:8080"]

[[regions]]
name = "eu-south"
latitude = 123.0

[[sites]]
hosts = []
default_region = "eu-nowhere"
https_redirect = true
tls = { cert = "missing.crt", key = "missing.key" }
[sites.timeouts]
connect = "0s"
first_byte = "soon"
[sites.retries]
attempts = 0
statuses = [200, 503]
[sites.health]
path = "healthz"
[[sites.origins]]
name = "a"
url = "http://10.0.0.1:8080/api"
region = "eu-south"
[[sites.origins]]
name = "a"
region = "eu-central"
url = "https://10.0.0.2"
protocol = "spdy"
pool = "api"
weight = 20000
[[sites.routes]]
path = "/api/*/x"
[[sites.routes]]
path = "/img/*"
pool = "images"
methods = ["GET", "G E T"]
"#;
    let e = errors(toml);
    for want in [
        "regions[0].latitude: missing or not between -90 and 90",
        "regions[0].longitude: missing or not between -180 and 180",
        "sites[0].hosts: missing: list the hostnames this site answers for",
        "sites[0].default_region: unknown region `eu-nowhere`",
        "sites[0].tls.cert: /nonexistent/missing.crt does not exist or is not a file",
        "sites[0].tls.key: /nonexistent/missing.key does not exist or is not a file",
        "sites[0].tls: a certificate is configured but node.tls_listen is empty",
        "sites[0].https_redirect: needs an HTTPS listener in node.tls_listen",
        "sites[0].timeouts.first_byte: `soon` is not a duration",
        "sites[0].timeouts: timeouts must be greater than zero",
        "sites[0].retries.statuses[0]: 200 is not an error status (400-599)",
        "sites[0].retries.attempts: must be between 1 and 10",
        "sites[0].health.path: must start with `/`",
        "sites[0].origins[0].url: must be scheme://host[:port] only, without path, query or credentials",
        "sites[0].origins[1].protocol: `spdy` is not a protocol (auto, http1, http2)",
        "sites[0].origins[1].weight: must be between 0 and 10000",
        "sites[0].origins[1].name: duplicate origin name `a` in this site",
        "sites[0].routes[0].path: `*` is only allowed at the end (\"/api/*\")",
        "sites[0].routes[1].methods[1]: `G E T` is not an HTTP method",
        "sites[0].routes[1].pool: no origin has pool = \"images\"",
    ] {
        assert!(e.iter().any(|line| line.starts_with(want)), "missing `{want}` in:\n{}", e.join("\n"));
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = errors("[node]\nregion = \"eu-central\"\nlisten = [\"127.0.0.1:80\"\n");
    assert_eq!(
        e,
        ["line 4, column 1: invalid array: expected `]`"],
        "one problem, on one line"
    );
    let e = errors("[[sites]]\nhosts = \"not-a-list\"\n");
    assert!(e[0].starts_with("line 2, column 9: invalid type"), "{e:?}");
}

#[test]
fn an_empty_file_says_what_is_missing() {
    assert_eq!(
        errors(""),
        [
            "node.region: missing: the region this node runs in, e.g. \"eu-central\"",
            "node.listen: no listener: give at least one address in `listen` or `tls_listen`",
            "sites: no site configured: add at least one [[sites]] with hosts and origins",
        ]
    );
}

#[test]
fn a_valid_config_gets_a_one_line_summary() {
    let toml = r#"
[node]
region = "eu-central"
listen = ["127.0.0.1:8080", "[::1]:8080"]

[[sites]]
hosts = ["shop.example.com", "*.shop.example.com"]
[[sites.origins]]
url = "http://10.0.0.1:8080"
region = "eu-central"
[[sites.origins]]
url = "https://origin-us.example.com"
region = "us-west"
backup = true
"#;
    let config = Config::from_toml(toml, Path::new(".")).unwrap();
    assert_eq!(
        config.summary(),
        "ok: node in eu-central, 1 site(s), 2 origin(s) in 2 region(s), 2 listener(s)"
    );
    assert!(!config.summary().contains('\n'));
    // Defaults the docs promise.
    let site = &config.sites[0];
    assert_eq!(site.origins[0].name, "10.0.0.1:8080");
    assert_eq!(site.origins[1].name, "origin-us.example.com:443");
    assert_eq!(
        site.timeouts.first_byte,
        std::time::Duration::from_millis(2500)
    );
    assert_eq!(site.retries.attempts, 3);
}

#[test]
fn relative_paths_resolve_against_the_config_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "[node]\nregion = \"eu-central\"\ntls_listen = [\"127.0.0.1:8443\"]\n[[sites]]\nhosts = [\"a.test\"]\ntls = { cert = \"certs/a.crt\", key = \"certs/a.key\" }\n[[sites.origins]]\nurl = \"http://10.0.0.1\"\nregion = \"eu-central\"\n",
    )
    .unwrap();
    let e: Vec<String> = Config::load(&path)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    let cert = dir.path().join("certs/a.crt");
    assert_eq!(
        e[0],
        format!(
            "sites[0].tls.cert: {} does not exist or is not a file",
            cert.display()
        )
    );
    // A file that cannot be read is one problem, named by its path.
    let missing = dir.path().join("nope.toml");
    let e = Config::load(&missing).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].path, missing.display().to_string());
}

#[test]
fn the_documented_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../regionless.example.toml");
    match Config::load(&example) {
        Ok(config) => assert!(
            config.summary().starts_with("ok: node in eu-central"),
            "{}",
            config.summary()
        ),
        Err(e) => panic!("regionless.example.toml is invalid:\n{e}"),
    }
}
