//! The loopback push gateway the LSP POSTs `apns`/`fcm` notifications to: it answers 200 at
//! once (or 503 to the first attempt of every `fail_every`-th phone, so that the LSP retries;
//! or after a delay, as a gateway across the Internet would),
//! and notes when each phone's notification arrived, for the latency from the interception
//! signal to the gateway. It does not check signatures (a real gateway would, on other
//! machines); the bench checks the first one it kept.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use doze_lsp::push::notify::GatewayRequest;
use doze_testkit::http_server::LocalServer;

#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    refused: AtomicU64,
    /// 0: never refuse.
    fail_every: AtomicU64,
    delay_ms: AtomicU64,
    refused_tokens: Mutex<HashSet<String>>,
    arrivals: Mutex<HashMap<String, Instant>>,
    first: Mutex<Option<GatewayRequest>>,
}

/// A running gateway.
pub struct Gateway {
    server: LocalServer,
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gateway {
    /// Starts a gateway on a loopback port.
    pub fn start() -> Gateway {
        let shared = Arc::new(Shared::default());
        let router = Router::new().fallback(accept).with_state(Arc::clone(&shared));
        Gateway { server: LocalServer::start("push-gateway", router), shared }
    }

    /// The URL for `push.gateway_url`.
    pub fn url(&self) -> String {
        format!("http://{}/push", self.server.addr())
    }

    /// From now on, the first attempt for every `every`-th phone (by token index) gets a 503
    /// (0: none), and every answer waits `delay_ms`. Forgets the arrivals noted so far.
    pub fn reset(&self, every: u64, delay_ms: u64) {
        self.shared.fail_every.store(every, Ordering::Relaxed);
        self.shared.delay_ms.store(delay_ms, Ordering::Relaxed);
        lock(&self.shared.refused_tokens).clear();
        lock(&self.shared.arrivals).clear();
    }

    /// Requests answered so far, and how many of them were refused.
    pub fn counts(&self) -> (u64, u64) {
        (self.shared.requests.load(Ordering::Relaxed), self.shared.refused.load(Ordering::Relaxed))
    }

    /// When the accepted notification for `token` arrived.
    pub fn arrivals(&self) -> HashMap<String, Instant> {
        lock(&self.shared.arrivals).clone()
    }

    /// The first request accepted since the gateway started.
    pub fn first(&self) -> Option<GatewayRequest> {
        lock(&self.shared.first).clone()
    }
}

async fn accept(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(request) = serde_json::from_slice::<GatewayRequest>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let every = shared.fail_every.load(Ordering::Relaxed);
    let index: Option<u64> = request.device_token.strip_prefix("tok-").and_then(|i| i.parse().ok());
    if every > 0
        && index.is_some_and(|i| i % every == 0)
        && lock(&shared.refused_tokens).insert(request.device_token.clone())
    {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    lock(&shared.arrivals).insert(request.device_token.clone(), at);
    let mut first = lock(&shared.first);
    if first.is_none() {
        *first = Some(request);
    }
    StatusCode::OK
}
