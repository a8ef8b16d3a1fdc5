//! The training run of the profile-guided build (`scripts/pgo-train.py`, used by
//! `scripts/build-pgo`) against the built binary: the node takes the training config, every
//! answer is an expected one (200; 421 for the unknown host), and the node exits cleanly on
//! SIGTERM, which is when an instrumented build writes its profile.
use std::path::Path;
use std::process::Command;

#[test]
fn the_pgo_training_run_passes_against_the_node() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pgo-train.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_regionless"))
        .args(["--seconds", "2", "--clients", "2"])
        .output()
        .expect("run python3 (scripts/test installs it when missing)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pgo-train failed:\n{stdout}\n{stderr}"
    );
    // "pgo-train: N requests in 2 s, by status: 200 X, 421 Y"
    let requests: u64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a request count in the summary");
    assert!(requests > 50, "too few requests: {stdout}");
    assert!(stdout.contains("by status: 200 "), "{stdout}");
    assert!(stdout.contains(", 421 "), "{stdout}");
}
