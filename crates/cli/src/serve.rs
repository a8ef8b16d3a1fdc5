//! `regionless serve`: run one edge node until SIGTERM/Ctrl-C, reloading on SIGHUP.

use std::path::Path;
use std::process::ExitCode;

use regionless_edge::{Config, Node};
use tracing_subscriber::EnvFilter;

/// Starts the node and blocks until it has shut down.
pub fn run(path: &Path, log: &str, workers: Option<usize>) -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(log));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let mut config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{}: {} problem(s):", path.display(), errors.0.len());
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    if workers.is_some() {
        config.node.workers = workers;
    }
    // Connections are served on the node's own serving threads (one per core by default);
    // this runtime runs the rest: signals, the admin API, health checks, reloads, cache
    // events. One thread is plenty for that.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let summary = config.summary();
        let node = match Node::start(config, Some(path.to_path_buf())).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            %summary,
            http = ?node.http_addrs(),
            https = ?node.https_addrs(),
            admin = ?node.admin_addr(),
            "edge node serving"
        );
        if let Err(e) = wait_for_signals(&node).await {
            eprintln!("signal handling failed: {e}");
        }
        tracing::info!("shutting down: finishing in-flight requests");
        if node.shutdown().await {
            tracing::info!("all in-flight requests finished");
        } else {
            tracing::warn!("shutdown grace ended with requests still in flight");
        }
        ExitCode::SUCCESS
    })
}

async fn wait_for_signals(node: &Node) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let _ = node.control().reload_from_file();
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}
