//! The accept loop: hyper's HTTP/1 connection driver with the limits of [`HttpConfig`].
//!
//! `axum::serve` has none of them (no timer, so no header-read timeout: a client sending half
//! a header held its connection, and its buffer, for as long as it liked). Here:
//!
//! - hyper's header-read timeout runs from the moment a connection waits for a request's head,
//!   so it bounds both a slow header and an idle keep-alive connection;
//! - every request is answered within `request_timeout` (408 otherwise), its body included,
//!   since the handler reads the body inside that time;
//! - at most `max_connections` are open; one more is answered 503 at once and closed (never
//!   queued, so an attacker's connections cannot delay the accept loop);
//! - a connection buffers at most [`MAX_BUF_BYTES`] (headers included), so memory per
//!   connection is bounded whatever the client sends.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::HttpConfig;
use crate::api::ApiError;

/// What one connection may buffer: hyper's smallest read buffer, ample for a registration's
/// headers (its body is read separately, up to `max_body_bytes`).
pub(crate) const MAX_BUF_BYTES: usize = 8 * 1024;

/// The pause after a failed `accept` (e.g. out of file descriptors), so that the loop does not
/// spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// What the limits turned away: connections over `max_connections`, requests over time.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounters {
    pub(crate) refused: AtomicU64,
    pub(crate) timed_out_requests: AtomicU64,
}

/// Serves `router` on `listener` within `config`'s limits until the future is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    counters: Arc<ConnectionCounters>,
) {
    let open = Arc::new(Semaphore::new(config.max_connections));
    let driver = ConnectionDriver::new(router, config, counters);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!(target: "doze_lsp::http", "accept failed: {e}");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            driver.counters.refused.fetch_add(1, Ordering::Relaxed);
            refuse(stream);
            continue;
        };
        let connection = driver.serve(stream, peer);
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
}

/// Serves one connection at a time with the per-connection limits: what the accept loop runs
/// for each socket, and what the fuzz target runs over bytes in memory.
#[derive(Clone)]
pub(crate) struct ConnectionDriver {
    router: Router,
    http1: hyper::server::conn::http1::Builder,
    request_timeout: Duration,
    counters: Arc<ConnectionCounters>,
}

impl ConnectionDriver {
    /// A driver of `router` within `config`'s limits, counting into `counters`.
    pub(crate) fn new(
        router: Router,
        config: &HttpConfig,
        counters: Arc<ConnectionCounters>,
    ) -> ConnectionDriver {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout())
            .max_buf_size(MAX_BUF_BYTES)
            // A client may close its side once it has sent its request and still get the
            // answer (RFC 9112 §9.6); hyper's default drops the request at that EOF.
            .half_close(true)
            .keep_alive(true);
        ConnectionDriver { router, http1, request_timeout: config.request_timeout(), counters }
    }

    /// Answers the requests of the client at `peer` on `io` until either side closes it.
    pub(crate) fn serve<I>(&self, io: I, peer: SocketAddr) -> impl Future<Output = ()> + Send
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = self.router.clone();
        let counters = Arc::clone(&self.counters);
        let request_timeout = self.request_timeout;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(axum::body::Body::new);
            let router = router.clone();
            let counters = Arc::clone(&counters);
            async move {
                match tokio::time::timeout(request_timeout, router.oneshot(request)).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        counters.timed_out_requests.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, Infallible>(timed_out(request_timeout))
                    }
                }
            }
        });
        let connection = self.http1.serve_connection(TokioIo::new(io), service);
        async move {
            if let Err(e) = connection.await {
                log::debug!(target: "doze_lsp::http", "connection from {peer} ended: {e}");
            }
        }
    }
}

/// A JSON 408 for a request that took longer than `limit`.
fn timed_out(limit: Duration) -> Response {
    let error = format!("the request was not completed within {} s", limit.as_secs());
    closing((StatusCode::REQUEST_TIMEOUT, Json(ApiError { error })).into_response())
}

/// `response` with `connection: close`, for an answer after which the server closes the
/// connection (a request body left unread cannot be skipped): said, so that a client does not
/// send its next request on a connection that is going away and see it fail.
pub(crate) fn closing(mut response: Response) -> Response {
    response.headers_mut().insert("connection", axum::http::HeaderValue::from_static("close"));
    response
}

/// Answers 503 on a connection over the limit without waiting for it: one non-blocking write
/// (a fresh socket's buffer takes it), then the socket is closed.
fn refuse(stream: tokio::net::TcpStream) {
    const BODY: &str =
        r#"{"error":"the LSP has too many open connections; try again in a second"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}
