//! A local webhook endpoint standing in for the push gateway (APNs/FCM): the LSP POSTs its
//! pushes there and a test (or `doze demo`) hands them to a wake. Also pushes signed by an LSP
//! the way its dispatcher signs them, for tests that wake a phone without a real interception.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use doze_lsp::push::notify::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
use ldk_node::Node;

use crate::http_server::LocalServer;

/// One request a [`WebhookReceiver`] accepted.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    /// The request path.
    pub path: String,
    /// Its headers (names lower-case; the last value of each).
    pub headers: BTreeMap<String, String>,
    /// Its body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl ReceivedPush {
    /// Checks it the way a phone or a push gateway would: parses the LSPS5 timestamp header
    /// and the body, and validates the signature header with `validator` against `lsp`.
    pub fn validate(
        &self,
        lsp: PublicKey,
        validator: &LSPS5Validator,
    ) -> Result<WebhookNotification, String> {
        let header = |name: &str| {
            self.headers.get(name).ok_or_else(|| format!("no {name} header in {self:?}"))
        };
        let timestamp = LSPSDateTime::from_str(header(TIMESTAMP_HEADER)?)
            .map_err(|()| format!("{TIMESTAMP_HEADER} is not RFC 3339: {self:?}"))?;
        let notification: WebhookNotification = serde_json::from_str(&self.body)
            .map_err(|e| format!("the body is not an LSPS5 notification ({e}): {}", self.body))?;
        validator
            .validate(lsp, &timestamp, header(SIGNATURE_HEADER)?, &notification)
            .map_err(|e| format!("LSPS5Validator refused it: {e:?}"))
    }
}

impl ReceivedPush {
    /// An `lsps5.onion_message_incoming` notification signed now by `lsp` the LSPS5 way, as a
    /// Doze LSP's dispatcher sends it (for waking a phone without a real interception).
    pub fn signed_by(lsp: &Node) -> ReceivedPush {
        let body = serde_json::to_string(&WebhookNotification::onion_message_incoming())
            .unwrap_or_else(|e| panic!("an LSPS5 notification serialises: {e}"));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let timestamp = LSPSDateTime::new_from_duration_since_epoch(now).to_rfc3339();
        let message = format!(
            "LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}"
        );
        let signature = lsp.sign_message(message.as_bytes());
        ReceivedPush {
            path: "/hook".into(),
            headers: BTreeMap::from([
                (TIMESTAMP_HEADER.to_string(), timestamp),
                (SIGNATURE_HEADER.to_string(), signature),
            ]),
            body,
            at: Instant::now(),
        }
    }

    /// The LSPS5 headers (timestamp and signature), as `Wallet::handle_push` takes them.
    pub fn lsps5_headers(&self) -> HashMap<String, String> {
        self.headers
            .iter()
            .filter(|(name, _)| name.starts_with("x-lsps5-"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

#[derive(Default)]
struct Received {
    requests: usize,
    accepted: Vec<ReceivedPush>,
}

struct Shared {
    fail_first: usize,
    state: Mutex<Received>,
    changed: Condvar,
}

/// A local webhook endpoint: answers 200 and records every request (to any path), except
/// that the first `fail_first` requests get a 503 and are not recorded.
pub struct WebhookReceiver {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl WebhookReceiver {
    /// A receiver that accepts everything.
    pub fn start() -> WebhookReceiver {
        Self::failing_first(0)
    }

    /// A receiver that answers 503 to its first `count` requests.
    pub fn failing_first(count: usize) -> WebhookReceiver {
        let shared = Arc::new(Shared {
            fail_first: count,
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let router = Router::new().fallback(accept).with_state(Arc::clone(&shared));
        WebhookReceiver { server: LocalServer::start("webhook-receiver", router), shared }
    }

    /// The URL to register, e.g. `http://127.0.0.1:40123/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.server.addr())
    }

    /// Requests received so far, failed ones included.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// The requests accepted so far.
    pub fn received(&self) -> Vec<ReceivedPush> {
        self.lock().accepted.clone()
    }

    /// Waits until `count` requests were accepted, and returns them all. Panics on timeout.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedPush> {
        self.try_wait_for(count, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until `count` requests were accepted, and returns them all; on timeout, an
    /// error saying what arrived.
    pub fn try_wait_for(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedPush>, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.accepted.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {count} push(es) at {}: \
                     {} accepted, {} requests",
                    self.url(),
                    state.accepted.len(),
                    state.requests
                ));
            }
            state =
                self.shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(state.accepted.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn accept(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    state.requests += 1;
    let status = if state.requests <= shared.fail_first {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        state.accepted.push(ReceivedPush {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        StatusCode::OK
    };
    shared.changed.notify_all();
    status
}
