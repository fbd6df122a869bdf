//! A backup server that turns hostile on demand: an HTTP proxy in front of a real
//! [`BackupServer`] (vss-server on PostgreSQL) that forwards every request while it is honest,
//! and otherwise answers slowly, answers garbage, damages the objects it returns, or serves
//! another wallet's keyspace. A wallet must meet each with a typed error and write nothing.
//!
//! Requests are counted by path (`putObjects`, `getObject`, …) so that a test can tell whether
//! the wallet wrote to the server while it was hostile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ldk_node::vss_client::headers::VssHeaderProvider;
use ldk_node::vss_client::types::GetObjectResponse;
use prost::Message;

use crate::backup_server::BackupServer;
use crate::http_server::LocalServer;

/// How the server behaves towards the wallet.
#[derive(Clone)]
pub enum Hostility {
    /// Forwards every request and answer unchanged.
    Honest,
    /// Forwards, but holds each answer back this long first.
    Slow(Duration),
    /// Answers every request `200 OK` with bytes that are no VSS message.
    Garbage,
    /// Forwards, and flips the bits of every object value it returns.
    DamagedObjects,
    /// Forwards every request, but answers each write (`putObjects`) with a server error once
    /// the server has done it: the answer lost on the way, as a dropped connection loses it.
    LostWriteAnswers,
    /// Forwards every request signed by another wallet's key instead: the wallet is shown,
    /// and would write into, another wallet's keyspace.
    AnotherWallet(Arc<dyn VssHeaderProvider>),
}

impl std::fmt::Debug for Hostility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hostility::Honest => write!(f, "Honest"),
            Hostility::Slow(by) => write!(f, "Slow({by:?})"),
            Hostility::Garbage => write!(f, "Garbage"),
            Hostility::DamagedObjects => write!(f, "DamagedObjects"),
            Hostility::AnotherWallet(_) => write!(f, "AnotherWallet"),
            Hostility::LostWriteAnswers => write!(f, "LostWriteAnswers"),
        }
    }
}

struct Shared {
    target: String,
    client: reqwest::Client,
    hostility: Mutex<Hostility>,
    requests: Mutex<BTreeMap<String, u64>>,
}

/// The proxy (see the module docs); it stops when dropped.
pub struct HostileBackup {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl HostileBackup {
    /// An honest proxy in front of `server`. Panics if it cannot listen.
    pub fn start(server: &BackupServer) -> HostileBackup {
        let shared = Arc::new(Shared {
            target: format!("http://{}", server.addr()),
            client: reqwest::Client::new(),
            hostility: Mutex::new(Hostility::Honest),
            requests: Mutex::default(),
        });
        let router = Router::new().fallback(proxy).with_state(Arc::clone(&shared));
        HostileBackup { server: LocalServer::start("hostile-backup", router), shared }
    }

    /// The base URL a wallet's backup configuration points at (`…/vss`).
    pub fn url(&self) -> String {
        format!("http://{}/vss", self.server.addr())
    }

    /// From now on, behaves as `hostility` says; the request counts start again.
    pub fn set(&self, hostility: Hostility) {
        *lock(&self.shared.hostility) = hostility;
        lock(&self.shared.requests).clear();
    }

    /// Requests received since the last [`HostileBackup::set`], by the path's last part
    /// (`putObjects`, `getObject`, `listKeyVersions`, `deleteObject`).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.requests).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn proxy(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = uri.path().rsplit('/').next().unwrap_or_default().to_string();
    *lock(&shared.requests).entry(operation.clone()).or_default() += 1;
    let hostility = lock(&shared.hostility).clone();
    let mut headers = headers;
    match &hostility {
        Hostility::Garbage => {
            let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            return (StatusCode::OK, garbage).into_response();
        }
        Hostility::Slow(by) => tokio::time::sleep(*by).await,
        Hostility::AnotherWallet(other) => match other.get_headers(&body).await {
            Ok(signed) => {
                for (name, value) in signed {
                    if let (Ok(name), Ok(value)) = (
                        axum::http::HeaderName::try_from(name.as_str()),
                        axum::http::HeaderValue::try_from(value.as_str()),
                    ) {
                        headers.insert(name, value);
                    }
                }
            }
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        },
        Hostility::Honest | Hostility::DamagedObjects | Hostility::LostWriteAnswers => {}
    }
    let url = format!("{}{}", shared.target, uri.path());
    let mut request = shared.client.post(url).body(body);
    for name in ["authorization", "content-type"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut bytes = match answer.bytes().await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if matches!(hostility, Hostility::LostWriteAnswers) && operation == "putObjects" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the answer was lost").into_response();
    }
    if matches!(hostility, Hostility::DamagedObjects) && status == StatusCode::OK {
        if let (true, Ok(mut object)) =
            (operation == "getObject", GetObjectResponse::decode(bytes.as_slice()))
        {
            if let Some(value) = object.value.as_mut() {
                value.value.iter_mut().for_each(|b| *b ^= 0x5a);
            }
            bytes = object.encode_to_vec();
        }
    }
    (status, bytes).into_response()
}
