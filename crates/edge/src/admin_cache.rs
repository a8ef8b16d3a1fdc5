//! The cache's admin endpoints: purge (issued here, applied on every node sharing this node's
//! regional store through its pub/sub, and forwarded to the configured peers), the receiving
//! end of forwarded purges, and cache statistics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http_body_util::BodyExt;
use regionless_cache::purge::PurgeTarget;
use regionless_cache::tiers::bans::{Ban, BanMessage};
use serde::{Deserialize, Serialize};

use crate::node::NodeControl;

/// A purge request: exactly one of `url`, `prefix`, `tag`, `site`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    pub url: Option<String>,
    pub prefix: Option<String>,
    pub tag: Option<String>,
    pub site: Option<String>,
    /// Mark stale instead of removing (revalidated or served stale where allowed).
    #[serde(default)]
    pub soft: bool,
}

#[derive(Serialize)]
struct PeerResult {
    peer: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct PurgeResponse {
    id: String,
    kind: String,
    target: String,
    soft: bool,
    peers: Vec<PeerResult>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Parses the request into a purge target, or the 400 message naming the problem.
pub fn target_of(req: &PurgeRequest) -> Result<PurgeTarget, String> {
    let given: Vec<(&str, &String)> = [
        ("url", &req.url),
        ("prefix", &req.prefix),
        ("tag", &req.tag),
        ("site", &req.site),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let [(kind, value)] = given.as_slice() else {
        return Err("give exactly one of url, prefix, tag or site".into());
    };
    let parsed = match *kind {
        "url" => PurgeTarget::url(value),
        "prefix" => PurgeTarget::prefix(value),
        "tag" => PurgeTarget::tag(value),
        _ => PurgeTarget::site(value),
    };
    parsed.map_err(|e| {
        format!(
            "{kind} `{}`: {e}",
            value.chars().take(200).collect::<String>()
        )
    })
}

/// `POST /admin/v1/cache/purge`.
pub async fn purge(State(control): State<Arc<NodeControl>>, body: Bytes) -> Response {
    let Some(cache) = control.state.cache.clone() else {
        return error(
            StatusCode::CONFLICT,
            "the cache is disabled on this node ([cache] enabled = false)",
        );
    };
    let req: PurgeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("malformed purge request: {e}"),
            )
        }
    };
    let target = match target_of(&req) {
        Ok(t) => t,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (ban, peers) = match purge_everywhere(&control, &cache, target, req.soft).await {
        Ok(done) => done,
        // Applied here; the store could not carry it further: say so rather than pretend.
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("purge applied on this node only: the regional store is unavailable ({e})"),
            )
        }
    };
    let m = ban.to_message();
    Json(PurgeResponse {
        id: format!("{:016x}", m.id),
        kind: m.kind,
        target: m.value,
        soft: m.soft,
        peers,
    })
    .into_response()
}

/// A purge issued on this node: applied here, published to the nodes sharing its store, then
/// forwarded to its peers (whose answers come back). Fails only when the store cannot carry
/// it (it is applied here by then).
async fn purge_everywhere(
    control: &NodeControl,
    cache: &regionless_cache::tiers::EdgeCache,
    target: PurgeTarget,
    soft: bool,
) -> Result<(Ban, Vec<PeerResult>), regionless_store::StoreError> {
    let ban = cache.purge(target, soft).await?;
    let peers = forward_to_peers(control, &ban).await;
    Ok((ban, peers))
}

/// Issues a purge from `control`'s node as the admin API does (here, the nodes sharing its
/// store, its peers) and returns the purge's id once every peer answered. For embedding (the
/// demo measures propagation with it); errors are messages.
pub async fn issue_purge(
    control: &NodeControl,
    target: PurgeTarget,
    soft: bool,
) -> Result<u64, String> {
    let cache = control
        .state
        .cache
        .clone()
        .ok_or("the cache is disabled on this node")?;
    let (ban, peers) = purge_everywhere(control, &cache, target, soft)
        .await
        .map_err(|e| e.to_string())?;
    let failed: Vec<String> = peers
        .into_iter()
        .filter(|p| !p.ok)
        .map(|p| format!("{}: {}", p.peer, p.error.unwrap_or_default()))
        .collect();
    if failed.is_empty() {
        Ok(ban.id)
    } else {
        Err(format!("forwarding failed: {}", failed.join("; ")))
    }
}

/// `POST /admin/v1/cache/purge/receive`: a purge forwarded by a peer (applied and published to
/// the nodes sharing our store, never forwarded further, so purges cannot loop).
pub async fn receive(State(control): State<Arc<NodeControl>>, body: Bytes) -> Response {
    let Some(cache) = control.state.cache.clone() else {
        return error(StatusCode::CONFLICT, "the cache is disabled on this node");
    };
    let Some(ban) = serde_json::from_slice::<BanMessage>(&body)
        .ok()
        .and_then(|m| Ban::from_message(&m))
    else {
        return error(StatusCode::BAD_REQUEST, "malformed forwarded purge");
    };
    match cache.receive(ban).await {
        Ok(new) => Json(serde_json::json!({ "applied": new })).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("applied on this node only: {e}"),
        ),
    }
}

async fn forward_to_peers(control: &NodeControl, ban: &Ban) -> Vec<PeerResult> {
    let rt = control.state.runtime();
    let peers = rt.config.cache.peers.clone();
    if peers.is_empty() {
        return Vec::new();
    }
    let token = rt.config.node.admin_token.clone();
    let body = Bytes::from(serde_json::to_vec(&ban.to_message()).unwrap_or_default());
    let client = control.state.clients.get(&crate::upstream::ClientKey {
        protocol: crate::config::OriginProtocol::Http1,
        tls_verify: true,
        ca_file: None,
        connect_timeout: Duration::from_secs(2),
    });
    let sends = peers.into_iter().map(|peer| {
        let (client, token, body) = (client.as_ref().ok().cloned(), token.clone(), body.clone());
        async move {
            let name = peer.to_string();
            let result = async {
                let client = client.ok_or("no HTTP client")?;
                let url = peer
                    .join("admin/v1/cache/purge/receive")
                    .map_err(|e| e.to_string())?;
                let mut req =
                    http::Request::post(url.as_str()).header("content-type", "application/json");
                if let Some(t) = &token {
                    req = req.header("authorization", format!("Bearer {t}"));
                }
                let req = req
                    .body(crate::body::full(body).map_err(|e| e).boxed_unsync())
                    .map_err(|e| e.to_string())?;
                let resp = tokio::time::timeout(Duration::from_secs(3), client.request(req))
                    .await
                    .map_err(|_| "timed out".to_string())?
                    .map_err(|e| e.to_string())?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("answered {}", resp.status()))
                }
            }
            .await;
            PeerResult {
                peer: name,
                ok: result.is_ok(),
                error: result.err().map(|e: String| e),
            }
        }
    });
    futures_util::future::join_all(sends).await
}

/// `GET /admin/v1/cache`: counters and tier usage.
pub async fn stats(State(control): State<Arc<NodeControl>>) -> Response {
    let Some(cache) = control.state.cache.clone() else {
        return Json(serde_json::json!({ "enabled": false })).into_response();
    };
    let s = cache.stats.snapshot();
    let (objects, bytes) = cache.memory_usage();
    let lookups = s.hits_memory + s.hits_regional + s.misses;
    let ratio = |n: u64| {
        if lookups == 0 {
            0.0
        } else {
            n as f64 / lookups as f64
        }
    };
    Json(serde_json::json!({
        "enabled": true,
        "hit_ratio": { "memory": ratio(s.hits_memory), "regional": ratio(s.hits_regional) },
        "hits": { "memory": s.hits_memory, "regional": s.hits_regional },
        "misses": s.misses,
        "stores": s.stores,
        "stored_bytes": s.stored_bytes,
        "served_bytes": s.served_bytes,
        "evictions": s.evictions,
        "coalesced_waits": s.coalesced_waits,
        "stale_served": s.stale_served,
        "regional_errors": s.regional_errors,
        "purges": s.purges,
        "memory": { "objects": objects, "bytes": bytes, "budget": cache.config().memory_bytes },
        "regional_shared": cache.regional_is_shared(),
    }))
    .into_response()
}
