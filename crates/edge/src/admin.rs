//! The admin listener (loopback by default): `/healthz` and `/metrics` open, every
//! `/admin/v1/…` path behind a bearer token compared in constant time.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::node::NodeControl;

/// The OpenAPI description of the admin API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Builds the admin router.
pub fn router(control: Arc<NodeControl>) -> Router {
    let protected = Router::new()
        .route("/admin/v1/origins", get(origins))
        .route("/admin/v1/reload", post(reload))
        .route("/admin/v1/config", get(config_summary))
        .route("/admin/v1/cache", get(crate::admin_cache::stats))
        .route("/admin/v1/cache/purge", post(crate::admin_cache::purge))
        .route(
            "/admin/v1/cache/purge/receive",
            post(crate::admin_cache::receive),
        )
        .route_layer(middleware::from_fn_with_state(
            control.clone(),
            require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/admin/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .merge(protected)
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(ErrorBody {
                    error: "no such admin endpoint".into(),
                }),
            )
        })
        .with_state(control)
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

async fn require_token(
    State(control): State<Arc<NodeControl>>,
    req: Request,
    next: Next,
) -> Response {
    let rt = control.state.runtime();
    let Some(expected) = rt.config.node.admin_token.as_deref() else {
        return (
            StatusCode::FORBIDDEN,
            Json(ErrorBody {
                error: "admin API disabled: set node.admin_token".into(),
            }),
        )
            .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        next.run(req).await
    } else {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(ErrorBody {
                error: "missing or wrong bearer token".into(),
            }),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        r
    }
}

async fn healthz(State(control): State<Arc<NodeControl>>) -> Response {
    if control
        .state
        .shutting_down
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics(State(control): State<Arc<NodeControl>>) -> Response {
    control.refresh_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        control.state.metrics.encode(),
    )
        .into_response()
}

#[derive(Serialize)]
struct OriginView {
    site: String,
    name: String,
    url: String,
    region: String,
    pool: String,
    weight: u32,
    backup: bool,
    health: regionless_geo::HealthSnapshot,
    /// Keep-alive connections held idle for this origin by the in-task HTTP/1.1 client;
    /// absent for origins reached through the pooled client (https, HTTP/2).
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_connections: Option<usize>,
}

async fn origins(State(control): State<Arc<NodeControl>>) -> Json<Vec<OriginView>> {
    let rt = control.state.runtime();
    let now = Instant::now();
    let list = rt
        .sites
        .iter()
        .flat_map(|s| {
            s.origins.iter().map(move |o| OriginView {
                site: s.cfg.name.clone(),
                name: o.cfg.name.clone(),
                url: o.cfg.url.to_string(),
                region: o.cfg.region.clone(),
                pool: o.cfg.pool.clone(),
                weight: o.cfg.weight,
                backup: o.cfg.backup,
                health: o.health.snapshot(now),
                idle_connections: o.direct.as_ref().map(|d| d.idle_connections()),
            })
        })
        .collect();
    Json(list)
}

#[derive(Serialize)]
struct ReloadOk {
    status: &'static str,
    summary: String,
}

#[derive(Serialize)]
struct ReloadFailed {
    status: &'static str,
    errors: Vec<String>,
}

async fn reload(State(control): State<Arc<NodeControl>>) -> Response {
    match control.reload_from_file() {
        Ok(summary) => Json(ReloadOk {
            status: "reloaded",
            summary,
        })
        .into_response(),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ReloadFailed {
                status: "refused: the previous config keeps serving",
                errors,
            }),
        )
            .into_response(),
    }
}

async fn config_summary(State(control): State<Arc<NodeControl>>) -> Json<serde_json::Value> {
    let rt = control.state.runtime();
    Json(serde_json::json!({
        "region": rt.config.node.region,
        "summary": rt.config.summary(),
        "sites": rt.sites.iter().map(|s| serde_json::json!({
            "name": s.cfg.name,
            "hosts": s.cfg.hosts,
            "default_region": s.cfg.default_region,
            "origins": s.origins.iter().map(|o| o.cfg.name.clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}
