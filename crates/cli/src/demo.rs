//! `regionless demo`: start the simulated planet (built-in or `--world FILE`), print how much
//! nearer every country gets (over HTTPS, with connect and TLS handshake times apart from
//! TTFB; `--plain-http` for plain HTTP), then keep every node up until Ctrl-C (or exit with
//! `--once`).
//! The planet, the measurement and the report live in `regionless_sim::demo`; this file only
//! parses arguments, draws progress and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use regionless_sim::demo::{
    builtin_world, default_state_path, run_demo, start_vantages, DemoOptions, DemoState, Planet,
    PlanetMap, Progress, Scheme, Vantage, BUILTIN_WORLD_LABEL, DEFAULT_REPETITIONS, DEMO_PATH,
};
use regionless_sim::World;
use tracing_subscriber::EnvFilter;

/// Options of `regionless demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Exit after printing the table instead of keeping the planet running.
    #[arg(long)]
    once: bool,
    /// Print the results as JSON on stdout (everything else goes to stderr).
    #[arg(long)]
    json: bool,
    /// A world file (TOML) instead of the built-in world; see crates/sim/worlds/planet.toml.
    #[arg(long, value_name = "FILE")]
    world: Option<PathBuf>,
    /// Measured requests per route and country; the table shows medians.
    #[arg(short = 'n', long, value_name = "N", default_value_t = DEFAULT_REPETITIONS as u16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    repetitions: u16,
    /// Path requested from every vantage point (the sample app's API or images).
    #[arg(long, default_value = DEMO_PATH)]
    path: String,
    /// Measure over plain HTTP instead of HTTPS (no TLS handshake; the TLS column shows —).
    #[arg(long)]
    plain_http: bool,
    /// Log filter for the nodes, e.g. "warn" or "regionless_edge=debug" (RUST_LOG works too).
    #[arg(long, default_value = "warn")]
    log: String,
}

/// Purge propagation across the planet, as a message on failure.
async fn measure_purges(
    planet: &Planet,
    rounds: usize,
) -> Result<regionless_sim::demo::PurgeSummary, String> {
    planet
        .measure_purges(rounds)
        .await
        .map_err(|e| format!("measuring purges: {e}"))
}

/// Logs to stderr, so stdout stays the table or the JSON.
pub(crate) fn init_logging(log: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(log));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// A progress bar on stderr (indicatif hides it when stderr is not a terminal).
pub(crate) struct Bar(pub(crate) ProgressBar);

impl Bar {
    pub(crate) fn new(message: &'static str) -> Bar {
        // Hidden until the total is known, so no empty bar flashes up first.
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_draw_target(ProgressDrawTarget::stderr());
    }
    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }
}

/// The world to run: the file's (its path made absolute, for the state file) or the built-in
/// one. The error is the message to print (it names file:line:column).
pub(crate) fn load_world(path: Option<&Path>) -> Result<(World, String, Option<PathBuf>), String> {
    match path {
        None => builtin_world()
            .map(|w| (w, BUILTIN_WORLD_LABEL.to_owned(), None))
            .map_err(|e| e.to_string()),
        Some(p) => {
            let world = World::load(p).map_err(|e| e.to_string())?;
            let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
            Ok((world, p.display().to_string(), Some(absolute)))
        }
    }
}

/// A multi-threaded runtime (one worker per core), or the message to print.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Runs the demo; exit code 1 with a message on stderr when anything fails.
pub fn run(args: Args) -> ExitCode {
    let started = Instant::now();
    init_logging(&args.log);
    let result = runtime().and_then(|rt| rt.block_on(demo(args, started)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("regionless demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: Args, started: Instant) -> Result<(), String> {
    let (world, label, world_file) = load_world(args.world.as_deref())?;
    let planet = Planet::start(world, &label)
        .await
        .map_err(|e| e.to_string())?;
    let map = planet.map();
    let scheme = if args.plain_http {
        Scheme::Http
    } else {
        Scheme::Https
    };
    let vantages = start_vantages(map, scheme)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "{label}: origins in {}; edge nodes in {} regions; {} client vantage points; every link emulated",
        map.layout().origins.join(", "),
        map.addrs().edges.len(),
        vantages.len()
    );
    let bar = Bar::new("probing");
    let options = DemoOptions {
        path: args.path.clone(),
        repetitions: usize::from(args.repetitions),
    };
    let report = run_demo(map, &vantages, &options, &label, &bar).await;
    bar.0.finish_and_clear();
    let mut report = report.map_err(|e| e.to_string())?;
    // Two purges from every edge: how fast a purge reaches the whole planet. Measured after
    // the table is out (it takes a few seconds of round trips), except for --json.
    let rounds = 2 * map.addrs().edges.len();
    if args.json {
        report.purge = Some(measure_purges(&planet, rounds).await?);
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        println!("{}", report.table());
    }
    eprintln!(
        "table ready {:.1} s after start (measuring took {:.1} s)",
        started.elapsed().as_secs_f64(),
        report.elapsed_ms / 1000.0
    );
    if !args.json {
        let purge = measure_purges(&planet, rounds).await?;
        println!("{}", purge.sentence());
    }
    if !args.once {
        keep_running(map, &vantages, world_file, &args.path, planet.ca_file()).await;
    }
    drop(vantages);
    planet.shutdown().await;
    Ok(())
}

/// Publishes the state file, prints every endpoint and waits for Ctrl-C or SIGTERM.
async fn keep_running(
    map: &PlanetMap,
    vantages: &[Vantage],
    world_file: Option<PathBuf>,
    path: &str,
    ca_file: &Path,
) {
    let state_path = default_state_path();
    let pid = std::process::id();
    let state = DemoState {
        pid,
        world_file,
        addrs: map.addrs().clone(),
    };
    let published = match state.write(&state_path) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("warning: {e} (regionless probe --demo will not find this demo)");
            false
        }
    };
    // Everything below is for people, on stderr, so `--json` output stays clean.
    let addrs = map.addrs();
    eprintln!("\nThe planet keeps running until Ctrl-C. Every node listens on loopback:");
    let https =
        |a: Option<std::net::SocketAddr>| a.map_or_else(String::new, |a| format!("   https://{a}"));
    for o in &addrs.origins {
        let what = format!("origin {} ({})", o.name, o.region);
        eprintln!("  {what:<36} http://{}{}", o.addr, https(o.tls_addr));
    }
    for e in &addrs.edges {
        let admin = e
            .admin
            .map_or_else(|| "off".to_owned(), |a| format!("http://{a}"));
        let what = format!("edge {}", e.region);
        eprintln!(
            "  {what:<36} http://{}{}   admin {admin}",
            e.http,
            https(e.https)
        );
    }
    eprintln!(
        "HTTPS certificates for {} are issued by a throwaway CA: {}",
        addrs.site_host,
        ca_file.display()
    );
    if let Some(admin) = addrs.edges.first().and_then(|e| e.admin) {
        eprintln!(
            "Admin API (token for every edge): curl -H 'Authorization: Bearer {}' http://{admin}/admin/v1/origins",
            addrs.admin_token
        );
        eprintln!("Metrics: curl http://{admin}/metrics");
    }
    eprintln!("Emulated vantage points (a connection here gets that client's latency to its nearest edge):");
    for v in vantages {
        eprintln!(
            "  {} {:<16} -> edge {:<14} {}://{}",
            v.edge.country,
            v.edge.client,
            v.edge.hop.region,
            v.edge.hop.scheme.as_str(),
            v.edge.addr()
        );
    }
    if let Some(v) = vantages.first() {
        let addr = v.edge.addr();
        match v.edge.hop.scheme {
            Scheme::Https => eprintln!(
                "  e.g. curl -si --cacert {} --connect-to {host}:443:{}:{} -H 'CF-IPCountry: {}' https://{host}{path}",
                ca_file.display(),
                addr.ip(),
                addr.port(),
                v.edge.country,
                host = addrs.site_host,
            ),
            Scheme::Http => eprintln!(
                "  e.g. curl -si -H 'Host: {}' -H 'CF-IPCountry: {}' http://{addr}{path}",
                addrs.site_host, v.edge.country,
            ),
        }
    }
    if published {
        eprintln!(
            "Probe it from another shell: regionless probe https://{}{path} --demo --from US,JP",
            addrs.site_host
        );
    }
    wait_for_stop().await;
    eprintln!("stopping");
    if published {
        DemoState::remove_if_mine(&state_path, pid);
    }
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a SIGTERM handler, Ctrl-C alone; if even that fails, stop at once rather than
    // run without a way to stop.
    let _ = tokio::signal::ctrl_c().await;
}
