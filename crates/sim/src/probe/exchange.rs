//! One timed HTTP/1.1 exchange on an already open connection: the unit every probe and the
//! demo table are built from.

use super::ProbeError;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What one request measured.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The response status.
    pub status: StatusCode,
    /// From handing the request to the connection until the response head arrived (the head
    /// is one small segment, so this is time to first byte plus parsing, microseconds).
    pub ttfb: Duration,
    /// From the same start until the last body byte.
    pub total: Duration,
    /// Body bytes received.
    pub body_bytes: u64,
    /// The response headers (`x-served-by`, `x-origin`, …).
    pub headers: HeaderMap,
}

impl Exchange {
    /// A response header as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 client connection over any byte stream (plain TCP, an emulated link, TLS).
/// Closing: dropping it closes the connection.
#[derive(Debug)]
pub struct HttpConn {
    sender: http1::SendRequest<Empty<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl HttpConn {
    /// Starts HTTP/1.1 on `io` (no bytes are sent until the first request).
    pub async fn handshake<S>(io: S) -> Result<HttpConn, ProbeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::handshake(TokioIo::new(io)).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "probe connection ended with an error");
            }
        });
        Ok(HttpConn { sender, driver })
    }

    /// Sends `GET path` with `Host: host` and `headers`, times it and reads the whole body.
    /// The clock starts only once the connection can take the request, so TTFB never
    /// includes waiting for a previous response.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Exchange, ProbeError> {
        let mut builder = Request::get(path).header(http::header::HOST, host).header(
            http::header::USER_AGENT,
            concat!("regionless-probe/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Empty::new())?;
        self.sender.ready().await?;
        let started = Instant::now();
        let response = self.sender.send_request(request).await?;
        let ttfb = started.elapsed();
        let (parts, mut body) = response.into_parts();
        let mut body_bytes = 0u64;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                body_bytes += data.len() as u64;
            }
        }
        Ok(Exchange {
            status: parts.status,
            ttfb,
            total: started.elapsed(),
            body_bytes,
            headers: parts.headers,
        })
    }
}
