//! The `regionless` command line: parses arguments and hands off to the library crates.
//! Must never hold logic that a library part should own.
#![forbid(unsafe_code)]

mod cache;
mod check_config;
mod demo;
mod probe;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// glibc's allocator showed up as ~17 % of the proxy's user CPU per request in profiles;
/// mimalloc's thread-local free lists make the many small per-request allocations cheap
/// (its 2.x line: the workspace `Cargo.toml` says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Regionless: a self-hosted edge platform. Edge nodes in several regions serve each client
/// from the nearest place that can answer: the nearest healthy origin today, the edge cache,
/// the regional tier and the edge KV store as they land.
#[derive(Parser)]
#[command(name = "regionless", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an edge node: proxy every configured site to its nearest healthy origin.
    ///
    /// SIGHUP (or POST /admin/v1/reload) re-reads the config without dropping connections;
    /// an invalid config is refused and the old one keeps serving. SIGTERM or Ctrl-C stops
    /// accepting and lets in-flight requests finish within node.shutdown_grace.
    Serve {
        /// The node's TOML config (see regionless.example.toml).
        #[arg(
            short,
            long,
            env = "REGIONLESS_CONFIG",
            default_value = "regionless.toml"
        )]
        config: PathBuf,
        /// Log filter, e.g. "info" or "regionless_edge=debug" (RUST_LOG works too).
        #[arg(long, default_value = "info")]
        log: String,
        /// Serving threads, each accepting and serving connections on its own (overrides
        /// node.workers; default: one per CPU core).
        #[arg(long, env = "REGIONLESS_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
        workers: Option<u16>,
    },
    /// Validate a config: prints every problem with the path of the bad field and exits 1,
    /// or prints a one-line summary and exits 0.
    CheckConfig {
        /// The TOML config to check.
        #[arg(short, long, default_value = "regionless.toml")]
        config: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A simulated planet on this machine: origins in Frankfurt and Hillsboro, edge nodes in
    /// nine regions, clients in 18 countries, every link through the WAN emulator. Prints
    /// how much nearer each country gets, then keeps every node running until Ctrl-C.
    Demo(demo::Args),
    /// Time a URL (DNS, connect, TLS, TTFB, total; min/median/p95) from emulated vantage
    /// points in the demo world, or from this machine for any other URL.
    Probe(probe::Args),
    /// Purge the edge cache (by URL, prefix, tag or host) or show its statistics, through a
    /// node's admin API.
    Cache(cache::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            log,
            workers,
        } => serve::run(&config, &log, workers.map(usize::from)),
        Command::CheckConfig { config, json } => check_config::run(&config, json),
        Command::Demo(args) => demo::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Cache(args) => cache::run(args),
    }
}
