//! Test harnesses (feature `testing`), so every crate that builds on the store can run its
//! suite on both backends: a throwaway `redis-server` of its own and an embedded store in a
//! temp dir. Never for production code: these panic on failure, which is how a test reports.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{EmbeddedConfig, EmbeddedStore, RedisConfig};

/// What a test says when `redis-server` is missing: the Redis half of a suite must fail, never
/// pass silently.
pub const INSTALL_HINT: &str = "redis-server is not installed: run `apt-get install redis-server` \
     (scripts/test installs it when missing)";

/// A `redis-server` process of the test's own, on a free 127.0.0.1 port, with no persistence
/// and a temp working dir. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING. Panics with [`INSTALL_HINT`] if
    /// `redis-server` is not installed.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Starts a server with extra `redis-server` arguments (later ones override the defaults,
    /// e.g. `["--appendonly", "yes"]`).
    pub fn start_with_args(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        // A free port can be taken by someone else before redis binds it; try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let spawned = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(error) => panic!("cannot run redis-server: {error}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("no PONG within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port the server listens on (kept across [`RedisServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL (a crash, not a shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process still dies of SIGKILL; nothing else to undo.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a
    /// hung server or a network black hole. [`RedisServer::thaw`] resumes it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server is not running").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Starts a fresh server (empty, as after a crash without persistence) on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The old socket may linger for a moment.
                Err(error) if Instant::now() > deadline => {
                    panic!(
                        "redis-server did not restart on port {}: {error}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A [`RedisConfig`] for this server with short timeouts (tests must not wait long for a
    /// server they killed) and the given key prefix.
    pub fn config(&self, key_prefix: &str) -> RedisConfig {
        let mut config = RedisConfig::new(self.url());
        config.key_prefix = key_prefix.to_owned();
        config.connect_timeout = Duration::from_millis(500);
        config.operation_timeout = Duration::from_millis(500);
        config.sweep_interval = Duration::from_millis(100);
        config.ping_interval = Duration::from_millis(500);
        config
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// An [`EmbeddedConfig`] for a file in `dir`, with a fast sweep for tests.
pub fn embedded_config(dir: &Path) -> EmbeddedConfig {
    let mut config = EmbeddedConfig::new(dir.join("store.redb"));
    config.sweep_interval = Duration::from_millis(100);
    config.page_cache_bytes = 4 * 1024 * 1024;
    config
}

/// An embedded store in a fresh temp dir; keep the dir alive as long as the store.
pub async fn temp_embedded_store() -> (EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(embedded_config(dir.path()))
        .await
        .unwrap();
    (store, dir)
}
