//! `regionless cache …`: purge and inspect the edge cache through a node's admin API.

use std::process::ExitCode;

use bytes::Bytes;
use clap::{Args as ClapArgs, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Talk to one node's admin listener; a purge reaches the nodes sharing its regional store and
/// the peers in its `[cache] peers`.
#[derive(ClapArgs)]
pub struct Args {
    /// The node's admin listener.
    #[arg(
        long,
        env = "REGIONLESS_ADMIN",
        default_value = "http://127.0.0.1:9090"
    )]
    admin: String,
    /// The admin bearer token.
    #[arg(long, env = "REGIONLESS_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the node's JSON answer instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Remove (or with --soft, mark stale) cached responses everywhere: one URL, every URL
    /// under a prefix, every response tagged with Cache-Tag / Surrogate-Key, or a whole host.
    ///
    /// Examples:
    ///   regionless cache purge --url https://shop.example.com/products/7
    ///   regionless cache purge --tag product-7 --soft
    ///   regionless cache purge --prefix https://shop.example.com/images/
    #[command(verbatim_doc_comment)]
    Purge {
        #[arg(long, group = "target")]
        url: Option<String>,
        #[arg(long, group = "target")]
        prefix: Option<String>,
        #[arg(long, group = "target")]
        tag: Option<String>,
        /// A host: every cached response of it.
        #[arg(long, group = "target")]
        site: Option<String>,
        /// Mark stale instead of removing: revalidated on next use, served stale where allowed.
        #[arg(long)]
        soft: bool,
    },
    /// Hit ratio by tier, objects, bytes, evictions, coalesced waits, stale served, purges.
    Stats,
}

pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> ExitCode {
    let (method, path, body) = match &args.command {
        CacheCommand::Purge {
            url,
            prefix,
            tag,
            site,
            soft,
        } => {
            let mut req = serde_json::json!({ "soft": soft });
            for (k, v) in [
                ("url", url),
                ("prefix", prefix),
                ("tag", tag),
                ("site", site),
            ] {
                if let Some(v) = v {
                    req[k] = serde_json::Value::String(v.clone());
                }
            }
            if url.is_none() && prefix.is_none() && tag.is_none() && site.is_none() {
                eprintln!("error: give one of --url, --prefix, --tag or --site");
                return ExitCode::from(2);
            }
            ("POST", "admin/v1/cache/purge", req.to_string())
        }
        CacheCommand::Stats => ("GET", "admin/v1/cache", String::new()),
    };
    let base = args.admin.trim_end_matches('/');
    let uri = format!("{base}/{path}");
    let mut req = http::Request::builder()
        .method(method)
        .uri(&uri)
        .header("content-type", "application/json");
    if let Some(t) = &args.token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match req.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: bad admin URL {uri}: {e}");
            return ExitCode::from(2);
        }
    };
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot reach the admin API at {base}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let message = value["error"].as_str().map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            str::to_string,
        );
        eprintln!("error: {status}: {message}");
        return ExitCode::FAILURE;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    match args.command {
        CacheCommand::Purge { .. } => {
            println!(
                "purged {} {} ({}), id {}",
                value["kind"].as_str().unwrap_or("?"),
                value["target"].as_str().unwrap_or("?"),
                if value["soft"].as_bool().unwrap_or(false) {
                    "soft: marked stale"
                } else {
                    "hard: removed"
                },
                value["id"].as_str().unwrap_or("?")
            );
            for peer in value["peers"].as_array().into_iter().flatten() {
                let ok = peer["ok"].as_bool().unwrap_or(false);
                println!(
                    "  peer {:<40} {}",
                    peer["peer"].as_str().unwrap_or("?"),
                    if ok {
                        "ok".to_string()
                    } else {
                        format!("FAILED: {}", peer["error"].as_str().unwrap_or("?"))
                    }
                );
            }
        }
        CacheCommand::Stats => {
            if value["enabled"] == serde_json::Value::Bool(false) {
                println!("the cache is disabled on this node");
                return ExitCode::SUCCESS;
            }
            let pct = |v: &serde_json::Value| format!("{:.1} %", v.as_f64().unwrap_or(0.0) * 100.0);
            println!(
                "{:<22} {}",
                "hit ratio (memory)",
                pct(&value["hit_ratio"]["memory"])
            );
            println!(
                "{:<22} {}",
                "hit ratio (regional)",
                pct(&value["hit_ratio"]["regional"])
            );
            for (label, key) in [
                ("misses", "misses"),
                ("stores", "stores"),
                ("evictions", "evictions"),
                ("coalesced waits", "coalesced_waits"),
                ("stale served", "stale_served"),
                ("regional errors", "regional_errors"),
                ("purges", "purges"),
            ] {
                println!("{label:<22} {}", value[key]);
            }
            println!(
                "{:<22} {} objects, {} of {} bytes",
                "memory tier",
                value["memory"]["objects"],
                value["memory"]["bytes"],
                value["memory"]["budget"]
            );
        }
    }
    ExitCode::SUCCESS
}
