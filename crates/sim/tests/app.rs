//! The sample app over real HTTP on loopback, and the real-URL probe against it (loopback
//! only: tests never send traffic anywhere else).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use regionless_sim::app::{AppHandle, SEED_PRODUCTS};
use regionless_sim::demo::NoProgress;
use regionless_sim::probe::{probe_real, Target};
use serde_json::Value;

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn call(
    app: &AppHandle,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", app.addr()));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client
        .request(b.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn json(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn api_reads_and_writes() {
    let app = AppHandle::start("frankfurt-1", "eu-central", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let list = call(&app, Method::GET, "/api/products", &[], "").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.headers["cache-control"], "no-store");
    assert_eq!(list.headers["x-app-origin"], "frankfurt-1@eu-central");
    assert_eq!(
        json(&list).as_array().unwrap().len(),
        SEED_PRODUCTS as usize
    );

    let one = call(&app, Method::GET, "/api/products/3", &[], "").await;
    assert_eq!(json(&one)["id"], 3);
    let missing = call(&app, Method::GET, "/api/products/999", &[], "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let created = call(
        &app,
        Method::POST,
        "/api/products",
        &[("content-type", "application/json")],
        r#"{"name": "Mug", "price_cents": 1200}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = json(&created)["id"].as_u64().unwrap();
    assert_eq!(
        created.headers["location"],
        format!("/api/products/{id}").as_str()
    );
    assert_eq!(app.catalog().get(id).unwrap().name, "Mug");

    let replaced = call(
        &app,
        Method::PUT,
        "/api/products/3",
        &[],
        r#"{"name": "Lamp", "price_cents": 5, "stock": 2}"#,
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(json(&replaced)["stock"], 2);
    let new = call(
        &app,
        Method::PUT,
        "/api/products/500",
        &[],
        r#"{"name": "New", "price_cents": 5}"#,
    )
    .await;
    assert_eq!(new.status, StatusCode::CREATED);

    let bad = call(&app, Method::POST, "/api/products", &[], "{").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown_field = call(
        &app,
        Method::POST,
        "/api/products",
        &[],
        r#"{"name": "x", "price_cents": 1, "colour": 2}"#,
    )
    .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    let empty_name = call(
        &app,
        Method::POST,
        "/api/products",
        &[],
        r#"{"name": " ", "price_cents": 1}"#,
    )
    .await;
    assert_eq!(empty_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = format!(r#"{{"name": "{}", "price_cents": 1}}"#, "x".repeat(70_000));
    let too_big = call(&app, Method::POST, "/api/products", &[], &huge).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let delete = call(&app, Method::DELETE, "/api/products/1", &[], "").await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.headers["allow"], "GET, HEAD, PUT");
}

#[tokio::test]
async fn images_carry_cache_headers_and_revalidate() {
    let app = AppHandle::start("hillsboro-1", "us-west", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let hero = call(&app, Method::GET, "/images/hero.svg", &[], "").await;
    assert_eq!(hero.status, StatusCode::OK);
    assert_eq!(hero.headers["content-type"], "image/svg+xml");
    assert_eq!(hero.headers["cache-control"], "public, max-age=86400");
    assert!(hero.body.len() > 150_000);
    let etag = hero.headers["etag"].to_str().unwrap().to_owned();
    let again = call(
        &app,
        Method::GET,
        "/images/hero.svg",
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.headers["etag"], etag.as_str());
    let product = call(&app, Method::GET, "/images/products/12.svg", &[], "").await;
    assert_eq!(product.status, StatusCode::OK);
    let missing = call(&app, Method::GET, "/images/products/13.svg", &[], "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let index = call(&app, Method::GET, "/", &[], "").await;
    assert_eq!(json(&index)["region"], "us-west");
}

#[tokio::test]
async fn real_probe_measures_from_here() {
    let app = AppHandle::start("frankfurt-1", "eu-central", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let target = Target::parse(&format!("http://{}/api/products", app.addr())).unwrap();
    let report = probe_real(&target, 3, &NoProgress).await.unwrap();
    assert_eq!(report.mode, "real");
    assert_eq!(report.rows.len(), 1);
    let row = &report.rows[0];
    assert_eq!(row.status, 200);
    assert!(row.dns.is_none(), "an IP literal needs no lookup");
    assert!(row.tls.is_none());
    assert_eq!(row.ttfb.unwrap().samples, 3);
    assert!(row.body_bytes > 100);
    assert!(report.table().contains("measured from this machine"));
}
