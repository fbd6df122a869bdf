//! The operator HTTP API (axum), on its own runtime in its own thread, apart from ldk-node's.
//!
//! ```text
//! GET /health        {"status":"ok"}
//! GET /v1/node       NodeInfo: id, alias, addresses, network, best block, balances
//! GET /v1/channels   {"channels": [ChannelInfo]}
//! GET /v1/lsps2/fees OpeningFeeTerms: the LSPS2 channel-opening fee terms
//! POST /v1/push/register                  the phone's signed push registration (see `push`)
//! GET  /v1/push/registrations/{node_id}   RegistrationInfo (no secrets), 404 if none
//! GET  /v1/push/stats                     PushStats
//! ```
//!
//! Errors are `{"error": "..."}` with a fitting status code; the push endpoints add a
//! `"code"` (see `push::ErrorCode`).
//!
//! Phones must reach `POST /v1/push/register` and `GET /v1/lsps2/fees`: expose those paths
//! (only) through a TLS-terminating reverse proxy and keep the rest of the API on loopback.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::Node;

use crate::api::{ApiError, ChannelInfo, ChannelList, Health, NodeInfo, OpeningFeeTerms};
use crate::push::{
    ErrorCode, PushApiError, PushService, PushStats, RegistrationInfo, REGISTER_PATH,
    REGISTRATION_PATH,
};
use crate::worker::Worker;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The LSP's node.
    pub node: Arc<Node>,
    /// Push registrations and dispatch.
    pub push: Arc<PushService>,
    /// The LSPS2 fee terms the node's liquidity service quotes.
    pub fees: OpeningFeeTerms,
}

/// The API's routes over `node`, `push` and the LSPS2 terms `fees`.
pub fn router(node: Arc<Node>, push: Arc<PushService>, fees: OpeningFeeTerms) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/node", get(node_info))
        .route("/v1/channels", get(channels))
        .route("/v1/lsps2/fees", get(lsps2_fees))
        .route(REGISTER_PATH, post(push_register))
        .route(REGISTRATION_PATH, get(push_registration))
        .route("/v1/push/stats", get(push_stats))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ApiState { node, push, fees })
}

/// A JSON error answer.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

/// Runs a (fast, synchronous) node query off the async workers, once the node is running.
async fn query<T: Send + 'static>(
    node: Arc<Node>,
    f: impl FnOnce(&Node) -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || {
        if node.status().is_running {
            Ok(f(&node))
        } else {
            Err(Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is not running (stopping or stopped)".into(),
            ))
        }
    })
    .await
    .map_err(|e| {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the node query failed: {e}"))
    })?
}

async fn health(State(state): State<ApiState>) -> Result<Json<Health>, Failure> {
    query(state.node, |_| Json(Health { status: "ok".into() })).await
}

async fn node_info(State(state): State<ApiState>) -> Result<Json<NodeInfo>, Failure> {
    query(state.node, |node| Json(NodeInfo::of(node))).await
}

async fn channels(State(state): State<ApiState>) -> Result<Json<ChannelList>, Failure> {
    query(state.node, |node| {
        Json(ChannelList { channels: node.list_channels().iter().map(ChannelInfo::from).collect() })
    })
    .await
}

async fn lsps2_fees(State(state): State<ApiState>) -> Json<OpeningFeeTerms> {
    Json(state.fees)
}

/// A push endpoint's error answer: `{"error", "code"}` with the code's status.
struct PushFailure(PushApiError);

impl IntoResponse for PushFailure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

async fn push_register(State(state): State<ApiState>, body: Bytes) -> Response {
    let ApiState { node, push, .. } = state;
    let result = tokio::task::spawn_blocking(move || {
        if !node.status().is_running {
            return Err(PushApiError::new(
                ErrorCode::Unavailable,
                "the node is not running (stopping or stopped)",
            ));
        }
        push.register(&node, &body)
    })
    .await
    .unwrap_or_else(|e| {
        Err(PushApiError::new(ErrorCode::Internal, format!("the registration failed: {e}")))
    });
    match result {
        Ok(response) => Json(response).into_response(),
        Err(error) => {
            log::info!(
                target: "doze_lsp::push",
                "registration refused ({:?}): {}",
                error.code,
                error.error
            );
            PushFailure(error).into_response()
        }
    }
}

async fn push_registration(
    State(state): State<ApiState>,
    Path(node_id): Path<String>,
) -> Result<Json<RegistrationInfo>, Failure> {
    let node_id = PublicKey::from_str(&node_id).map_err(|_| {
        Failure(StatusCode::BAD_REQUEST, format!("`{node_id}` is not a hex node id"))
    })?;
    let push = state.push;
    let found = tokio::task::spawn_blocking(move || push.registration_info(&node_id))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the lookup failed: {e}")))?
        .map_err(|e| {
            Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the push database failed: {e}"))
        })?;
    found.map(Json).ok_or_else(|| {
        Failure(StatusCode::NOT_FOUND, format!("{node_id} has no push registration"))
    })
}

async fn push_stats(State(state): State<ApiState>) -> Json<PushStats> {
    Json(state.push.stats())
}

async fn not_found(method: Method, uri: Uri) -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {method} {uri} (try GET /health, /v1/node, /v1/channels, \
             POST {REGISTER_PATH})"
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Failure {
    let allowed = if uri.path() == REGISTER_PATH { "POST" } else { "GET" };
    Failure(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {uri}; use {allowed}"),
    )
}

/// The running server; [`HttpServer::stop`] ends it.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    worker: Worker,
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
        let worker = Worker::spawn("lsp-http", move |stopped| {
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
        Ok(HttpServer { addr, worker })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server thread.
    pub(crate) fn stop(self) {
        self.worker.stop();
    }
}
