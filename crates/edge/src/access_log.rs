//! JSON-lines access log, written by a background task so the request path never waits on
//! disk or a slow stdout consumer: when the writer falls behind, lines are dropped and counted.

use std::path::Path;

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use crate::config::AccessLogTarget;

/// One finished request.
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    pub ts: String,
    pub request_id: &'a str,
    pub client_ip: String,
    pub client_country: Option<&'a str>,
    pub edge_region: &'a str,
    pub site: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub protocol: &'a str,
    pub status: u16,
    pub origin: Option<&'a str>,
    pub attempts: u32,
    pub bytes_sent: u64,
    pub ttfb_ms: f64,
    pub duration_ms: f64,
    pub origin_ms: Option<f64>,
    pub error: Option<&'a str>,
}

/// Handle for sending lines to the writer task; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    tx: Option<mpsc::Sender<Vec<u8>>>,
}

impl AccessLog {
    /// Starts the writer for `target` (nothing for `Off`).
    pub async fn start(target: &AccessLogTarget) -> std::io::Result<AccessLog> {
        let writer: Box<dyn AsyncWrite + Send + Unpin> = match target {
            AccessLogTarget::Off => return Ok(AccessLog { tx: None }),
            AccessLogTarget::Stdout => Box::new(tokio::io::stdout()),
            AccessLogTarget::File(path) => Box::new(open_append(path).await?),
        };
        let (tx, rx) = mpsc::channel(16 * 1024);
        tokio::spawn(write_lines(rx, BufWriter::with_capacity(64 * 1024, writer)));
        Ok(AccessLog { tx: Some(tx) })
    }

    /// True when lines are written anywhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues one record; false when it had to be dropped.
    pub fn log(&self, record: &AccessRecord<'_>) -> bool {
        let Some(tx) = &self.tx else { return true };
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(_) => return false,
        };
        line.push(b'\n');
        tx.try_send(line).is_ok()
    }
}

async fn open_append(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

async fn write_lines(
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
) {
    while let Some(line) = rx.recv().await {
        if out.write_all(&line).await.is_err() {
            return;
        }
        // Batch whatever else is queued, then flush once.
        while let Ok(more) = rx.try_recv() {
            if out.write_all(&more).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
}
