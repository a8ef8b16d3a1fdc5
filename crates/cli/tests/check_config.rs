//! `regionless check-config` through the built binary: every problem with its field path and
//! exit 1; a valid file exits 0 with a one-line summary.
#![allow(clippy::unwrap_used)]
use std::path::PathBuf;
use std::process::Command;

fn write(name: &str, toml: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("check-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    path
}

fn check(path: &PathBuf, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regionless"))
        .arg("check-config")
        .arg("--config")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_config_lists_every_problem_and_summarises_a_valid_file() {
    let bad = write(
        "bad",
        r#"
[node]
region = "atlantis"
listen = ["127.0.0.1:8080"]

[[sites]]
hosts = ["shop.test"]
[[sites.origins]]
url = "http://127.0.0.1:8081"
region = "eu-central"
[[sites.origins]]
url = "not a url"
region = "eu-central"
[[sites.origins]]
url = "http://127.0.0.1:8083"
region = "mars"
"#,
    );
    let (code, stdout, stderr) = check(&bad, &[]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    let output = format!("{stdout}{stderr}");
    for want in [
        "node.region: unknown region `atlantis`",
        "sites[0].origins[1].url: not a URL",
        "sites[0].origins[2].region: unknown region `mars`",
    ] {
        assert!(output.contains(want), "missing `{want}` in:\n{output}");
    }

    let (code, stdout, _) = check(&bad, &["--json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["valid"], false);
    let paths: Vec<&str> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "node.region",
            "sites[0].origins[1].url",
            "sites[0].origins[2].region"
        ]
    );

    let good = write(
        "good",
        "[node]\nregion = \"eu-central\"\nlisten = [\"127.0.0.1:8080\"]\n[[sites]]\nhosts = [\"shop.test\"]\n\
         [[sites.origins]]\nurl = \"http://127.0.0.1:8081\"\nregion = \"eu-central\"\n\
         [[sites.origins]]\nurl = \"http://127.0.0.1:8082\"\nregion = \"us-west\"\n",
    );
    let (code, stdout, stderr) = check(&good, &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains(
            "ok: node in eu-central, 1 site(s), 2 origin(s) in 2 region(s), 1 listener(s)"
        ),
        "{stdout}"
    );

    let _ = std::fs::remove_file(bad);
    let _ = std::fs::remove_file(good);
}
