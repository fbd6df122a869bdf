//! The operator HTTP API (axum), on its own runtime in its own thread, apart from ldk-node's.
//!
//! ```text
//! GET /health        {"status":"ok"}
//! GET /v1/node       NodeInfo: id, alias, addresses, network, best block, balances
//! GET /v1/channels   {"channels": [ChannelInfo]}
//! ```
//!
//! Errors are `{"error": "..."}` with a fitting status code.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ldk_node::Node;
use tokio::sync::oneshot;

use crate::api::{ApiError, ChannelInfo, ChannelList, Health, NodeInfo};

/// The API's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/node", get(node_info))
        .route("/v1/channels", get(channels))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(node)
}

/// A JSON error answer.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

/// Runs a (fast, synchronous) node query off the async workers, once the node is running.
async fn query<T: Send + 'static>(node: Arc<Node>, f: impl FnOnce(&Node) -> T + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || {
        if node.status().is_running {
            Ok(f(&node))
        } else {
            Err(Failure(StatusCode::SERVICE_UNAVAILABLE, "the node is not running (stopping or stopped)".into()))
        }
    })
    .await
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the node query failed: {e}")))?
}

async fn health(State(node): State<Arc<Node>>) -> Result<Json<Health>, Failure> {
    query(node, |_| Json(Health { status: "ok".into() })).await
}

async fn node_info(State(node): State<Arc<Node>>) -> Result<Json<NodeInfo>, Failure> {
    query(node, |node| Json(NodeInfo::of(node))).await
}

async fn channels(State(node): State<Arc<Node>>) -> Result<Json<ChannelList>, Failure> {
    query(node, |node| Json(ChannelList { channels: node.list_channels().iter().map(ChannelInfo::from).collect() }))
        .await
}

async fn not_found(method: Method, uri: Uri) -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {uri} (try GET /health, /v1/node, /v1/channels)"),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Failure {
    Failure(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {uri}; use GET"))
}

/// The running server; [`HttpServer::stop`] ends it.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `router` on `listener` (already bound, so the caller knows the port) from a new
    /// thread with its own two-worker runtime.
    pub(crate) fn spawn(listener: TcpListener, router: Router) -> std::io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lsp-http")
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("lsp-http".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        log::error!(target: "doze_lsp::http", "cannot serve on {addr}: {e}");
                        return;
                    }
                };
                // Not graceful: an idle keep-alive client must not hold the LSP's shutdown.
                tokio::select! {
                    result = axum::serve(listener, router) => {
                        if let Err(e) = result {
                            log::error!(target: "doze_lsp::http", "the HTTP server stopped: {e}");
                        }
                    }
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        log::info!(target: "doze_lsp::http", "operator API at http://{addr}");
        Ok(HttpServer { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server thread.
    pub(crate) fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!(target: "doze_lsp::http", "the HTTP server thread panicked");
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
