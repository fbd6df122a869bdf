//! The operator HTTP API (axum), on its own runtime in its own thread, apart from ldk-node's.
//!
//! ```text
//! GET /health        {"status":"ok"}
//! GET /v1/lsps2/fees OpeningFeeTerms: the LSPS2 channel-opening fee terms
//! POST /v1/push/register                  the phone's signed push registration (see `push`)
//!
//! Operator endpoints (a bearer token, or a loopback listener; see `HttpConfig`):
//! GET /v1/node       NodeInfo: id, alias, addresses, network, best block, balances
//! GET /v1/channels   {"channels": [ChannelInfo]}
//! GET  /v1/push/registrations           RegistrationPage (`?after=<node id>&limit=<1..1000>`)
//! GET  /v1/push/registrations/{node_id}   RegistrationInfo (no secrets), 404 if none
//! GET  /v1/push/stats                     PushStats: signals, attempts, deliveries, failures
//! GET  /v1/push/log                       PushLog: the latest outcomes (`?limit=<1..1000>`)
//! ```
//!
//! Errors are `{"error": "..."}` with a fitting status code, never a stack trace; the push
//! endpoints add a `"code"` (see `push::ErrorCode`), and a 429 a `Retry-After` header.
//!
//! Phones must reach `POST /v1/push/register` and `GET /v1/lsps2/fees`: expose those paths
//! (only) through a TLS-terminating reverse proxy. What a stranger can hold of the server is
//! bounded ([`limits`], and `server`, the accept loop): time per header and per request,
//! connections, body size, registrations per source and per phone.

pub mod limits;
pub(crate) mod server;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::Node;

use crate::api::{ApiError, ChannelInfo, ChannelList, Health, NodeInfo, OpeningFeeTerms};
use crate::push::{
    ErrorCode, PushApiError, PushLog, PushService, PushStats, RegistrationInfo, RegistrationPage,
    REGISTER_PATH, REGISTRATIONS_PATH, REGISTRATION_PATH,
};
use crate::worker::Worker;
pub use limits::HttpConfig;
use limits::SourceLimiter;
use server::ConnectionCounters;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The LSP's node.
    pub node: Arc<Node>,
    /// Push registrations and dispatch.
    pub push: Arc<PushService>,
    /// The LSPS2 fee terms the node's liquidity service quotes.
    pub fees: OpeningFeeTerms,
    /// Who may use the operator endpoints.
    operator: Arc<OperatorAccess>,
    /// Registrations per source.
    registrations: Arc<SourceLimiter>,
}

/// Who may use the operator endpoints: holders of the token, or anyone when neither a token is
/// set nor the listener reachable from off the machine.
struct OperatorAccess {
    token: Option<String>,
    loopback_only: bool,
}

/// The API's routes over `node`, `push` and the LSPS2 terms `fees`, for a server listening
/// on `listen` with `http`'s token and limits.
pub fn router(
    node: Arc<Node>,
    push: Arc<PushService>,
    fees: OpeningFeeTerms,
    http: &HttpConfig,
    listen: SocketAddr,
) -> Router {
    let state = ApiState {
        node,
        push,
        fees,
        operator: Arc::new(OperatorAccess {
            token: http.operator_token.clone(),
            loopback_only: listen.ip().is_loopback(),
        }),
        registrations: Arc::new(SourceLimiter::new(http)),
    };
    let operator = Router::new()
        .route("/v1/node", get(node_info))
        .route("/v1/channels", get(channels))
        .route(REGISTRATIONS_PATH, get(push_registrations))
        .route(REGISTRATION_PATH, get(push_registration))
        .route("/v1/push/stats", get(push_stats))
        .route("/v1/push/log", get(push_log))
        .route_layer(middleware::from_fn_with_state(state.clone(), operator_only));
    Router::new()
        .route("/health", get(health))
        .route("/v1/lsps2/fees", get(lsps2_fees))
        .route(REGISTER_PATH, post(push_register))
        .merge(operator)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .with_state(state)
}

/// Lets a request to an operator endpoint through if it carries the token (compared in
/// constant time), or if no token is set and the server listens on loopback only.
async fn operator_only(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let access = &state.operator;
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let (status, error) = match (&access.token, presented) {
        (Some(token), Some(presented))
            if constant_time_eq(token.as_bytes(), presented.as_bytes()) =>
        {
            return next.run(request).await
        }
        (None, _) if access.loopback_only => return next.run(request).await,
        (Some(_), None) => (
            StatusCode::UNAUTHORIZED,
            "this operator endpoint needs `Authorization: Bearer <http.operator_token>`",
        ),
        (Some(_), Some(_)) => (StatusCode::UNAUTHORIZED, "the operator token is wrong"),
        (None, _) => (
            StatusCode::FORBIDDEN,
            "operator endpoints are off on a non-loopback listener without \
             http.operator_token; set one in the LSP's config",
        ),
    };
    let mut response = Failure(status, error.into()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

/// Whether `a` equals `b`, taking a time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        let retry_after = self.0.retry_after_secs;
        let mut response = (status, Json(self.0)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}

async fn push_register(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let source = state.registrations.source(peer, &headers);
    if let Err(secs) = state.registrations.take(source, Instant::now()) {
        log::info!(target: "doze_lsp::push", "registration from {source} refused: rate limited");
        // The body stays unread, so hyper closes the connection after this answer.
        return server::closing(
            PushFailure(PushApiError::rate_limited(
                format!("too many registrations from {source}; try again in {secs} s"),
                secs,
            ))
            .into_response(),
        );
    }
    // Read only once the source is allowed (within `DefaultBodyLimit`'s bound).
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::TooLarge
            } else {
                ErrorCode::InvalidRequest
            };
            return server::closing(
                PushFailure(PushApiError::new(
                    code,
                    format!("the request body could not be read: {}", rejection.body_text()),
                ))
                .into_response(),
            );
        }
    };
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
    let found = push_query(state.push, move |push| push.registration_info(&node_id)).await?;
    found.map(Json).ok_or_else(|| {
        Failure(StatusCode::NOT_FOUND, format!("{node_id} has no push registration"))
    })
}

async fn push_stats(State(state): State<ApiState>) -> Json<PushStats> {
    Json(state.push.stats())
}

/// `limit` and `after` of the operator's list endpoints.
#[derive(Debug, Default, serde::Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// The most a list endpoint returns at once.
const MAX_LIST_LIMIT: u32 = 1000;

impl ListQuery {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(100).clamp(1, MAX_LIST_LIMIT)
    }
}

/// Runs a push-database query off the async workers.
async fn push_query<T: Send + 'static>(
    push: Arc<PushService>,
    f: impl FnOnce(&PushService) -> Result<T, crate::push::DbError> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || f(&push))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the query failed: {e}")))?
        .map_err(|e| {
            Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the push database failed: {e}"))
        })
}

async fn push_registrations(
    State(state): State<ApiState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RegistrationPage>, Failure> {
    let after = match &query.after {
        Some(text) => Some(PublicKey::from_str(text).map_err(|_| {
            Failure(StatusCode::BAD_REQUEST, format!("after=`{text}` is not a hex node id"))
        })?),
        None => None,
    };
    let limit = query.limit();
    let registrations =
        push_query(state.push, move |push| push.registration_infos(after.as_ref(), limit)).await?;
    let next_after = (registrations.len() == limit as usize)
        .then(|| registrations.last().map(|r| r.node_id.clone()))
        .flatten();
    Ok(Json(RegistrationPage { registrations, next_after }))
}

async fn push_log(
    State(state): State<ApiState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<PushLog>, Failure> {
    let limit = query.limit();
    let entries = push_query(state.push, move |push| push.push_log(limit)).await?;
    Ok(Json(PushLog { entries }))
}

/// What the HTTP server's limits turned away ([`crate::Lsp::http_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpStats {
    /// Connections answered 503 because `max_connections` were open.
    pub refused_connections: u64,
    /// Requests answered 408 because they took longer than `request_timeout_secs`.
    pub timed_out_requests: u64,
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
    counters: Arc<ConnectionCounters>,
}

impl HttpServer {
    /// Serves `router` on `listener` (already bound, so the caller knows the port) from a new
    /// thread with its own two-worker runtime, within `config`'s limits.
    pub(crate) fn spawn(
        listener: TcpListener,
        router: Router,
        config: &HttpConfig,
    ) -> std::io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lsp-http")
            .enable_all()
            .build()?;
        let counters = Arc::new(ConnectionCounters::default());
        let serving_counters = Arc::clone(&counters);
        let config = config.clone();
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
                    _ = server::serve(listener, router, &config, serving_counters) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        log::info!(target: "doze_lsp::http", "operator API at http://{addr}");
        Ok(HttpServer { addr, worker, counters })
    }

    /// What the limits turned away so far.
    pub(crate) fn stats(&self) -> HttpStats {
        HttpStats {
            refused_connections: self.counters.refused.load(Ordering::Relaxed),
            timed_out_requests: self.counters.timed_out_requests.load(Ordering::Relaxed),
        }
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
