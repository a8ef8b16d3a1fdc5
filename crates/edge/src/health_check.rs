//! Active health checks: one background task per origin of every site that configures
//! `[sites.health] path`, feeding results (and time to first byte, for the latency policy)
//! into the origin's health record. Never runs on the request path.

use std::time::{Duration, Instant};

use http::{header, Request, Uri};
use rand::Rng;
use tokio::task::JoinHandle;

use crate::body;
use crate::runtime::Runtime;

/// Starts the checks for `rt`; dropping or aborting the handles stops them.
pub fn spawn_checks(rt: &Runtime) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for site in &rt.sites {
        let Some(check) = &site.cfg.health_check else {
            continue;
        };
        for origin in &site.origins {
            let Ok(uri) = Uri::builder()
                .scheme(origin.cfg.scheme.clone())
                .authority(origin.cfg.authority.clone())
                .path_and_query(check.path.as_str())
                .build()
            else {
                continue;
            };
            let client = origin.client.clone();
            let health = origin.health.clone();
            let host = origin.host_header.clone();
            let (interval, timeout) = (check.interval, check.timeout);
            tasks.push(tokio::spawn(async move {
                // Spread first checks so a reload does not probe every origin at once.
                let jitter = rand::thread_rng().gen_range(0..=interval.as_millis() as u64 / 4);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                loop {
                    let mut req = Request::new(body::empty());
                    *req.uri_mut() = uri.clone();
                    req.headers_mut().insert(header::HOST, host.clone());
                    req.headers_mut().insert(
                        header::USER_AGENT,
                        http::HeaderValue::from_static("regionless-health-check"),
                    );
                    let started = Instant::now();
                    let result = tokio::time::timeout(timeout, client.request(req)).await;
                    match result {
                        Ok(Ok(resp))
                            if resp.status().is_success() || resp.status().is_redirection() =>
                        {
                            health.record_check(true, Some(started.elapsed()));
                        }
                        _ => health.record_check(false, None),
                    }
                    tokio::time::sleep(interval).await;
                }
            }));
        }
    }
    tasks
}
