//! Starting, reloading and stopping one edge node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use hyper_util::server::graceful::GracefulShutdown;
use regionless_geo::GeoIp;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::metrics::{OriginLabels, ResultLabels};
use crate::retry_budget::RetryBudget;
use crate::runtime::Runtime;
use crate::server::{connection_builder, ConnContext};
use crate::serving::{Listener, ServingThreads};
use crate::state::NodeState;
use crate::tls::SniResolver;
use crate::upstream::UpstreamClients;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("GeoIP: {0}")]
    GeoIp(#[from] regionless_geo::GeoError),
    #[error("access log: {0}")]
    AccessLog(std::io::Error),
    #[error("cannot start the serving threads: {0}")]
    Serving(std::io::Error),
    #[error("cache store {0}")]
    CacheStore(String),
}

/// The parts of a node that reload and the admin API act on.
pub struct NodeControl {
    pub state: Arc<NodeState>,
    sni: Arc<SniResolver>,
    health_tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl NodeControl {
    /// Re-reads the config file and applies it; on any problem the running config stays and
    /// the problems are returned, worded as `check-config` words them.
    pub fn reload_from_file(&self) -> Result<String, Vec<String>> {
        let result = match &self.state.config_path {
            None => Err(vec![
                "this node was started without a config file".to_string()
            ]),
            Some(path) => match Config::load(path) {
                Ok(config) => self.apply(config),
                Err(errors) => Err(errors.0.iter().map(ToString::to_string).collect()),
            },
        };
        let label = if result.is_ok() { "ok" } else { "refused" };
        self.state
            .metrics
            .reloads
            .get_or_create(&ResultLabels { result: label })
            .inc();
        match &result {
            Ok(summary) => tracing::info!(%summary, "config reloaded"),
            Err(errors) => tracing::warn!(
                ?errors,
                "config reload refused; the previous config keeps serving"
            ),
        }
        result
    }

    /// Applies a validated config to the running node. Listener addresses cannot change
    /// without a restart; such a config is refused.
    pub fn apply(&self, config: Config) -> Result<String, Vec<String>> {
        let current = self.state.runtime();
        let old = &current.config.node;
        if old.listen != config.node.listen
            || old.tls_listen != config.node.tls_listen
            || old.admin_listen != config.node.admin_listen
        {
            return Err(vec![
                "node.listen, node.tls_listen and node.admin_listen can only change with a restart"
                    .to_string(),
            ]);
        }
        self.sni.update(&config).map_err(|e| vec![e.to_string()])?;
        let geoip = open_geoip(&config, self.state.geoip.load_full())
            .map_err(|e| vec![format!("client_location.geoip_database: {e}")])?;
        let runtime = Runtime::build(
            config,
            &self.state.clients,
            &self.state.health_registry,
            &self.state.metrics,
        )
        .map_err(|e| vec![e.to_string()])?;
        let summary = runtime.config.summary();
        self.state.budget.store(Arc::new(RetryBudget::new(
            runtime.config.retry_budget.percent,
            runtime.config.retry_budget.min_per_second,
        )));
        let tasks = crate::health_check::spawn_checks(&runtime);
        self.state.geoip.store(geoip);
        self.state.runtime.store(Arc::new(runtime));
        let mut old_tasks = self.health_tasks.lock().unwrap_or_else(|p| p.into_inner());
        for t in old_tasks.drain(..) {
            t.abort();
        }
        *old_tasks = tasks;
        Ok(summary)
    }

    /// Sets the origin-availability gauges from current health, for a scrape.
    pub fn refresh_gauges(&self) {
        let rt = self.state.runtime();
        let now = std::time::Instant::now();
        for s in &rt.sites {
            for o in &s.origins {
                self.state
                    .metrics
                    .origin_available
                    .get_or_create(&OriginLabels {
                        site: s.cfg.name.clone(),
                        origin: o.cfg.name.clone(),
                        region: o.cfg.region.clone(),
                    })
                    .set(i64::from(o.health.is_available(now)));
            }
        }
    }
}

fn open_geoip(
    config: &Config,
    current: Option<Arc<GeoIp>>,
) -> Result<Option<Arc<GeoIp>>, regionless_geo::GeoError> {
    match &config.client_location.geoip_database {
        None => Ok(None),
        Some(path) => match current {
            Some(db) if db.path() == path.as_path() => Ok(Some(db)),
            _ => Ok(Some(Arc::new(GeoIp::open(path)?))),
        },
    }
}

/// A running edge node.
pub struct Node {
    control: Arc<NodeControl>,
    http_addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    stop_accepting: CancellationToken,
    stop_background: CancellationToken,
    graceful: Arc<GracefulShutdown>,
    /// One per serving thread, completed when its accept loops have ended.
    accepting: Vec<oneshot::Receiver<()>>,
    serving: ServingThreads,
}

impl Node {
    /// Binds every listener and starts serving. `config_path` is where reloads read from.
    pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<Node, StartError> {
        let access_log = AccessLog::start(&config.node.access_log)
            .await
            .map_err(StartError::AccessLog)?;
        let sni = Arc::new(SniResolver::default());
        sni.update(&config)?;
        let geoip = open_geoip(&config, None)?;
        let workers = config
            .node
            .workers
            .unwrap_or_else(crate::serving::default_count);
        let clients = UpstreamClients::new(workers);
        let health_registry = Default::default();
        let mut metrics = crate::metrics::Metrics::default();
        let (cache, cache_store) = open_cache(&config, &mut metrics).await?;
        let runtime = Runtime::build(config.clone(), &clients, &health_registry, &metrics)?;
        let state = Arc::new(NodeState {
            budget: ArcSwap::from_pointee(RetryBudget::new(
                config.retry_budget.percent,
                config.retry_budget.min_per_second,
            )),
            runtime: ArcSwap::from_pointee(runtime),
            geoip: ArcSwapOption::new(geoip),
            clients,
            health_registry,
            metrics,
            access_log,
            shutting_down: Default::default(),
            close_connections: CancellationToken::new(),
            cache,
            cache_store,
            config_path,
        });
        let control = Arc::new(NodeControl {
            health_tasks: Mutex::new(crate::health_check::spawn_checks(&state.runtime())),
            state: state.clone(),
            sni: sni.clone(),
        });

        let graceful = Arc::new(GracefulShutdown::new());
        let stop_accepting = CancellationToken::new();
        let stop_background = CancellationToken::new();
        let mut listeners = Vec::new();
        let mut http_addrs = Vec::new();
        let mut https_addrs = Vec::new();
        for addr in &config.node.listen {
            let (sockets, local) = bind_each(*addr, workers)?;
            http_addrs.push(local);
            listeners.push(Listener { sockets, tls: None });
        }
        if !config.node.tls_listen.is_empty() {
            let acceptor = TlsAcceptor::from(crate::tls::server_config(sni.clone())?);
            for addr in &config.node.tls_listen {
                let (sockets, local) = bind_each(*addr, workers)?;
                https_addrs.push(local);
                listeners.push(Listener {
                    sockets,
                    tls: Some(acceptor.clone()),
                });
            }
        }
        let (serving, accepting) = ServingThreads::start(
            workers,
            config.node.adaptive_threads,
            listeners,
            &ConnContext {
                state: state.clone(),
                builder: Arc::new(connection_builder(&config.limits)),
                graceful: graceful.clone(),
                stop: stop_accepting.clone(),
                limits: config.limits.clone(),
            },
        )
        .map_err(StartError::Serving)?;
        let admin_addr = match config.node.admin_listen {
            None => None,
            Some(addr) => {
                let l = bind(addr, false)?;
                let local = l
                    .local_addr()
                    .map_err(|source| StartError::Bind { addr, source })?;
                let app = crate::admin::router(control.clone());
                let stop = stop_background.clone();
                tokio::spawn(async move {
                    let _ = axum::serve(l, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await;
                });
                Some(local)
            }
        };
        tokio::spawn(watch_files(control.clone(), stop_background.clone()));
        Ok(Node {
            control,
            http_addrs,
            https_addrs,
            admin_addr,
            stop_accepting,
            stop_background,
            graceful,
            accepting,
            serving,
        })
    }

    /// Addresses the plain-HTTP listeners are bound to (useful with port 0).
    /// Pins the number of serving threads taking connections (None: as the load needs, see
    /// [`crate::packing`]); connections on threads no longer in use move between requests.
    pub fn pin_serving_threads(&self, in_use: Option<usize>) {
        self.serving.pin_in_use(in_use);
    }

    /// Serving threads taking connections now, and the connections each thread serves.
    pub fn serving_load(&self) -> (usize, Vec<usize>) {
        self.serving.load()
    }

    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// Addresses the HTTPS listeners are bound to.
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// Address of the admin listener, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Reload and admin handle.
    pub fn control(&self) -> &Arc<NodeControl> {
        &self.control
    }

    /// Stops accepting, lets in-flight requests finish within `node.shutdown_grace`, then
    /// closes what is left. Returns true when everything finished in time.
    pub async fn shutdown(self) -> bool {
        let state = &self.control.state;
        state.shutting_down.store(true, Ordering::Relaxed);
        self.stop_accepting.cancel();
        for done in self.accepting {
            let _ = done.await;
        }
        let grace = state.runtime().config.node.shutdown_grace;
        let finished = match Arc::try_unwrap(self.graceful) {
            Ok(graceful) => tokio::time::timeout(grace, graceful.shutdown())
                .await
                .is_ok(),
            // Only the accept loops held clones, and they have ended.
            Err(_) => false,
        };
        // Whatever is still open after the grace period (stuck requests, WebSocket tunnels)
        // is closed now.
        state.close_connections.cancel();
        self.stop_background.cancel();
        for t in self
            .control
            .health_tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        self.serving.stop().await;
        if let Some(store) = &state.cache_store {
            if let Err(e) = store.close().await {
                tracing::warn!(error = %e, "closing the cache store failed");
            }
        }
        finished
    }
}

/// Opens the edge cache and its regional store as `[cache]` says, and registers its metrics.
async fn open_cache(
    config: &Config,
    metrics: &mut crate::metrics::Metrics,
) -> Result<
    (
        Option<Arc<regionless_cache::tiers::EdgeCache>>,
        Option<regionless_store::SharedStore>,
    ),
    StartError,
> {
    use crate::config::RegionalTierSetting;
    use regionless_store::{EmbeddedConfig, RedisConfig, StoreConfig};
    let c = &config.cache;
    if !c.enabled {
        return Ok((None, None));
    }
    let (store, shared) = match &c.regional {
        RegionalTierSetting::Off => (None, false),
        RegionalTierSetting::Embedded(path) => {
            let mut ec = EmbeddedConfig::new(path.clone());
            ec.cache_budget_bytes = c.disk_bytes;
            let store = regionless_store::open(StoreConfig::Embedded(ec))
                .await
                .map_err(|e| StartError::CacheStore(format!("{}: {e}", path.display())))?;
            (Some(store), false)
        }
        RegionalTierSetting::Redis(url) => {
            let mut rc = RedisConfig::new(url.clone());
            rc.key_prefix = format!("regionless:{}:", config.node.region);
            let store = regionless_store::open(StoreConfig::Redis(rc))
                .await
                .map_err(|e| StartError::CacheStore(format!("{url}: {e}")))?;
            (Some(store), true)
        }
    };
    let purge_latency = prometheus_client::metrics::histogram::Histogram::new([
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
    ]);
    metrics.registry.register(
        "cache_purge_propagation_seconds",
        "Time from a purge being issued to it being applied on this node",
        purge_latency.clone(),
    );
    let observer: Box<dyn Fn(std::time::Duration) + Send + Sync> =
        Box::new(move |d| purge_latency.observe(d.as_secs_f64()));
    let tiers = regionless_cache::tiers::TierConfig {
        memory_bytes: c.memory_bytes,
        max_object_bytes: c.max_object_bytes,
        lock_timeout: c.lock_timeout,
        revalidate_keep: c.revalidate_keep,
        max_keep: c.max_keep,
    };
    let cache = regionless_cache::tiers::EdgeCache::new(
        tiers,
        store.clone().map(|s| (s, shared)),
        Some(observer),
    );
    if let Err(e) = cache.load_bans().await {
        tracing::warn!(error = %e, "cannot load stored purges; they apply once the store is reachable");
    }
    cache.follow_purges();
    metrics
        .registry
        .register_collector(Box::new(crate::cache_metrics::CacheCollector(
            cache.clone(),
        )));
    Ok((Some(cache), store))
}

/// Binds `addr` once per serving thread (`count` sockets sharing it with `SO_REUSEPORT`; a
/// port 0 is resolved first) and returns the sockets, non-blocking for the threads to
/// register with their own runtimes, and the address they got.
fn bind_each(
    addr: SocketAddr,
    count: usize,
) -> Result<(Vec<std::net::TcpListener>, SocketAddr), StartError> {
    // `SO_REUSEPORT` would let these sockets join a port another node of the same user
    // already listens on, splitting its traffic; a plain bind first fails on any listener.
    let local = probe(addr)?;
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        sockets.push(bind(local, true)?);
    }
    sockets
        .into_iter()
        .map(|l| {
            l.into_std()
                .map_err(|source| StartError::Bind { addr, source })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|sockets| (sockets, local))
}

/// Binds (without listening) a socket to `addr` and returns the address it got: an error
/// when something already listens there.
fn probe(addr: SocketAddr) -> Result<SocketAddr, StartError> {
    let err = |source| StartError::Bind { addr, source };
    let socket = socket_for(addr)?;
    socket.bind(addr).map_err(err)?;
    socket.local_addr().map_err(err)
}

/// A TCP socket of `addr`'s family with `SO_REUSEADDR` (a restarted node binds its port
/// again while old connections linger in TIME_WAIT).
fn socket_for(addr: SocketAddr) -> Result<tokio::net::TcpSocket, StartError> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|source| StartError::Bind { addr, source })?;
    let _ = socket.set_reuseaddr(true);
    Ok(socket)
}

/// Binds one listening socket to `addr`, registered with the caller's runtime.
fn bind(addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, StartError> {
    let err = |source| StartError::Bind { addr, source };
    let socket = socket_for(addr)?;
    if reuse_port {
        socket.set_reuseport(true).map_err(err)?;
    }
    socket.bind(addr).map_err(err)?;
    socket.listen(4096).map_err(err)
}

/// Reloads PEM files and the GeoIP database when they change on disk.
async fn watch_files(control: Arc<NodeControl>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut since_geoip = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if control.sni.changed_on_disk() {
            let rt = control.state.runtime();
            match control.sni.update(&rt.config) {
                Ok(()) => tracing::info!("TLS certificates reloaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificates changed but cannot be loaded; keeping the old ones")
                }
            }
        }
        since_geoip += Duration::from_secs(2);
        let interval = control
            .state
            .runtime()
            .config
            .client_location
            .geoip_reload_interval;
        if since_geoip >= interval {
            since_geoip = Duration::ZERO;
            if let Some(db) = control.state.geoip.load_full() {
                let result = match db.reload_if_changed() {
                    Ok(true) => "ok",
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "GeoIP database changed but cannot be loaded; keeping the old one");
                        "failed"
                    }
                };
                control
                    .state
                    .metrics
                    .geoip_reloads
                    .get_or_create(&ResultLabels { result })
                    .inc();
            }
        }
    }
}
