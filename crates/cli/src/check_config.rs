//! `regionless check-config`.

use std::path::Path;
use std::process::ExitCode;

use regionless_edge::Config;

/// Prints the verdict on one config file; exit 0 when valid, 1 otherwise.
pub fn run(path: &Path, json: bool) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "valid": true, "summary": config.summary() })
                );
            } else {
                println!("{}: {}", path.display(), config.summary());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            if json {
                let list: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| serde_json::json!({ "path": e.path, "message": e.message }))
                    .collect();
                println!("{}", serde_json::json!({ "valid": false, "errors": list }));
            } else {
                eprintln!("{}: {} problem(s):", path.display(), errors.0.len());
                for e in &errors.0 {
                    eprintln!("  {e}");
                }
            }
            ExitCode::FAILURE
        }
    }
}
