//! `regionless probe URL`: DNS/connect/TLS/TTFB/total per vantage point, repeated, with
//! min/median/p95. In a demo world (`--world FILE`, `--demo`, or a URL on the demo site's
//! host) the vantage points are emulated; any other URL is measured from this machine. The
//! measuring lives in `regionless_sim::probe`; this file picks the mode and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use regionless_sim::demo::{
    builtin_world, default_state_path, DemoState, Planet, PlanetMap, BUILTIN_WORLD_LABEL, SITE_HOST,
};
use regionless_sim::probe::{probe_emulated, probe_real, ProbeReport, Target};
use regionless_sim::World;

use crate::demo::{init_logging, load_world, runtime, Bar};

/// Options of `regionless probe`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The URL, e.g. https://shop.demo/api/products/1 (the demo site; http:// for its plain
    /// listeners) or https://example.com/.
    url: String,
    /// Vantage points by country code, e.g. US,JP,DE (demo worlds only; default: every
    /// client place of the world).
    #[arg(long, value_delimiter = ',', value_name = "COUNTRY[,COUNTRY…]")]
    from: Vec<String>,
    /// Requests per vantage point, each on a new connection.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    repetitions: u16,
    /// Start this world file's demo planet in this process and probe it.
    #[arg(long, value_name = "FILE", conflicts_with = "demo")]
    world: Option<PathBuf>,
    /// Probe the running `regionless demo` (or, if none runs, start the built-in world in
    /// this process). Implied by a URL on the demo site's host.
    #[arg(long)]
    demo: bool,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Log filter (RUST_LOG works too).
    #[arg(long, default_value = "warn")]
    log: String,
}

/// Runs the probe; exit code 1 with a message on stderr when it fails.
pub fn run(args: Args) -> ExitCode {
    init_logging(&args.log);
    let result = runtime().and_then(|rt| rt.block_on(probe(&args)));
    match result {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("regionless probe: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                println!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("regionless probe: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn probe(args: &Args) -> Result<ProbeReport, String> {
    let target = Target::parse(&args.url).map_err(|e| e.to_string())?;
    let on_demo_site = target.host.eq_ignore_ascii_case(SITE_HOST);
    if let Some(file) = &args.world {
        let (world, label, _) = load_world(Some(file))?;
        return in_process(world, &label, &target, args).await;
    }
    if args.demo || on_demo_site {
        if let Some((map, label)) = running_demo().await? {
            return emulated(&map, &format!("running demo, {label}"), &target, args).await;
        }
        eprintln!(
            "no running `regionless demo` found: starting the built-in world in this process"
        );
        let world = builtin_world().map_err(|e| e.to_string())?;
        return in_process(world, BUILTIN_WORLD_LABEL, &target, args).await;
    }
    if !args.from.is_empty() {
        eprintln!(
            "note: {} is not in a demo world, so it is measured from this machine; --from applies to demo worlds (--world, --demo)",
            args.url
        );
    }
    let bar = Bar::new("probing");
    let report = probe_real(&target, usize::from(args.repetitions), &bar).await;
    bar.0.finish_and_clear();
    report.map_err(|e| e.to_string())
}

async fn in_process(
    world: World,
    label: &str,
    target: &Target,
    args: &Args,
) -> Result<ProbeReport, String> {
    let planet = Planet::start(world, label)
        .await
        .map_err(|e| e.to_string())?;
    let report = emulated(planet.map(), label, target, args).await;
    planet.shutdown().await;
    report
}

async fn emulated(
    map: &PlanetMap,
    label: &str,
    target: &Target,
    args: &Args,
) -> Result<ProbeReport, String> {
    let bar = Bar::new("probing");
    let report = probe_emulated(
        map,
        label,
        target,
        &args.from,
        usize::from(args.repetitions),
        &bar,
    )
    .await;
    bar.0.finish_and_clear();
    report.map_err(|e| e.to_string())
}

/// The running demo's map, if its state file exists and its first edge accepts connections
/// (a demo killed with -9 leaves a stale file behind).
async fn running_demo() -> Result<Option<(PlanetMap, String)>, String> {
    let Ok(state) = DemoState::read(&default_state_path()) else {
        return Ok(None);
    };
    let Some(edge) = state.addrs.edges.first() else {
        return Ok(None);
    };
    let alive = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(edge.http),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !alive {
        return Ok(None);
    }
    let (world, label, _) = load_world(state.world_file.as_deref())?;
    let map = PlanetMap::new(world, state.addrs, &label).map_err(|e| e.to_string())?;
    Ok(Some((map, label)))
}
