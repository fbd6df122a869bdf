//! bitcoind's JSON-RPC interface over the devnet's chain, on its own port: what ldk-node 0.7.1's
//! bitcoind chain source (`Builder::set_chain_source_bitcoind_rpc`) and lightning-block-sync's
//! `RpcClient` call, with bitcoind's answers, error codes and HTTP statuses.
//!
//! ```text
//! POST /   {"method": "...", "params": [...] | {...}, "id": ...}   (or an array of them)
//!
//! getblockchaininfo  getblockcount  getbestblockhash  getblockhash  getblockheader  getblock
//! getrawtransaction  sendrawtransaction  gettxout  getrawmempool  getmempoolentry
//! getmempoolinfo  estimatesmartfee  getnetworkinfo  getindexinfo
//! ```
//!
//! Authentication is HTTP basic, as bitcoind's: the user and password of [`BitcoindRpc`], or
//! `__cookie__` and the secret bitcoind-style in the `.cookie` file of the devnet's directory.
//! Without them, or with wrong ones, the answer is 401 with an empty body. Errors follow
//! JSON-RPC 1.0 as bitcoind does (`{"result": null, "error": {"code", "message"}, "id"}` with
//! HTTP 500, 404 for an unknown method, 400 for a malformed request) unless the request says
//! `"jsonrpc": "2.0"` (then HTTP 200 and no `error` on success, as bitcoind 28+ does). The
//! codes are bitcoind's (see [`params`]); the devnet serves as a node without `-txindex`.

mod blocks;
mod decode;
pub mod params;
mod txs;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bitcoin::base64::Engine;
use bitcoin::secp256k1::rand::{self, Rng};
use serde_json::{json, Value};

use self::params::*;
use crate::state::DevnetState;

pub(crate) use decode::tx_json;

/// The user name of the devnet's RPC password login.
pub const RPC_USER: &str = "doze";
/// The user name bitcoind's cookie file logs in as.
pub const COOKIE_USER: &str = "__cookie__";
/// The cookie file's name in the devnet's directory, as bitcoind names it in its data dir.
pub const COOKIE_FILE: &str = ".cookie";

/// How to reach a devnet's bitcoind RPC, as an operator's configuration names a bitcoind.
/// Either login works: `user`/`password`, or the cookie file's. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BitcoindRpc {
    /// The host to connect to (loopback for a devnet).
    pub host: String,
    /// The RPC port.
    pub port: u16,
    /// The password login's user ([`RPC_USER`]).
    pub user: String,
    /// The password login's password (random per devnet).
    pub password: String,
    /// The cookie file (`__cookie__:<secret>`), as bitcoind writes `<datadir>/.cookie`.
    pub cookie_file: PathBuf,
}

impl std::fmt::Debug for BitcoindRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitcoindRpc")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("cookie_file", &self.cookie_file)
            .finish()
    }
}

impl BitcoindRpc {
    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// The `Authorization` header values the server accepts.
#[derive(Clone)]
pub(crate) struct Logins(Vec<String>);

fn basic(user: &str, password: &str) -> String {
    let encoded =
        bitcoin::base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn random_secret() -> String {
    hex::encode(rand::thread_rng().gen::<[u8; 32]>())
}

/// Makes the password login and writes the cookie file into `dir` (owner-only, as bitcoind
/// does): what [`router`] accepts, and how clients reach the server at `addr`.
pub(crate) fn logins(dir: &Path, addr: SocketAddr) -> std::io::Result<(BitcoindRpc, Logins)> {
    let password = random_secret();
    let cookie_secret = random_secret();
    let cookie_file = dir.join(COOKIE_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&cookie_file)?.write_all(format!("{COOKIE_USER}:{cookie_secret}").as_bytes())?;
    let logins = Logins(vec![basic(RPC_USER, &password), basic(COOKIE_USER, &cookie_secret)]);
    let rpc = BitcoindRpc {
        host: addr.ip().to_string(),
        port: addr.port(),
        user: RPC_USER.into(),
        password,
        cookie_file,
    };
    Ok((rpc, logins))
}

struct Server {
    state: Arc<DevnetState>,
    logins: Logins,
}

/// The JSON-RPC endpoint (`POST /`).
pub(crate) fn router(state: Arc<DevnetState>, logins: Logins) -> Router {
    Router::new().route("/", post(handle)).with_state(Arc::new(Server { state, logins }))
}

type Handler = fn(&DevnetState, &Params) -> Result<Value, RpcError>;

/// Every method served: its name, its parameters' names, how many are required, and what
/// answers it.
const METHODS: &[(&str, &[&str], usize, Handler)] = &[
    ("estimatesmartfee", &["conf_target", "estimate_mode"], 1, txs::estimate_smart_fee),
    ("getbestblockhash", &[], 0, blocks::best_block_hash),
    ("getblock", &["blockhash", "verbosity"], 1, blocks::block),
    ("getblockchaininfo", &[], 0, blocks::blockchain_info),
    ("getblockcount", &[], 0, blocks::block_count),
    ("getblockhash", &["height"], 1, blocks::block_hash),
    ("getblockheader", &["blockhash", "verbose"], 1, blocks::block_header),
    ("getindexinfo", &["index_name"], 0, txs::index_info),
    ("getmempoolentry", &["txid"], 1, txs::mempool_entry),
    ("getmempoolinfo", &[], 0, txs::mempool_info),
    ("getnetworkinfo", &[], 0, txs::network_info),
    ("getrawmempool", &["verbose", "mempool_sequence"], 0, txs::raw_mempool),
    ("getrawtransaction", &["txid", "verbosity", "blockhash"], 1, txs::raw_transaction),
    ("gettxout", &["txid", "n", "include_mempool"], 2, txs::tx_out),
    (
        "sendrawtransaction",
        &["hexstring", "maxfeerate", "maxburnamount"],
        1,
        txs::send_raw_transaction,
    ),
];

fn call(state: &DevnetState, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
    let Some((_, names, required, handler)) = METHODS.iter().find(|(m, ..)| *m == method) else {
        return Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found"));
    };
    handler(state, &Params::new(method, params, names, *required)?)
}

async fn handle(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let login = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !login.is_some_and(|l| server.logins.0.iter().any(|ok| ok == l)) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\"")])
            .into_response();
    }
    let state = &server.state;
    match serde_json::from_slice::<Value>(&body) {
        Err(_) => {
            let error = RpcError::new(RPC_PARSE_ERROR, "Parse error");
            let (status, body) = reply(Value::Null, false, Err(error));
            (status, Json(body)).into_response()
        }
        // A batch is answered 200 whatever its calls' outcomes, as bitcoind does.
        Ok(Value::Array(calls)) => {
            let replies: Vec<Value> = calls.iter().map(|c| answer(state, c).1).collect();
            Json(replies).into_response()
        }
        Ok(request) => {
            let (status, body) = answer(state, &request);
            (status, Json(body)).into_response()
        }
    }
}

/// One request object's reply and the HTTP status bitcoind gives it on its own.
fn answer(state: &DevnetState, request: &Value) -> (StatusCode, Value) {
    let Some(object) = request.as_object() else {
        let error = RpcError::new(RPC_INVALID_REQUEST, "Invalid Request object");
        return reply(Value::Null, false, Err(error));
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let v2 = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let outcome = match object.get("method").and_then(Value::as_str) {
        Some(method) => call(state, method, object.get("params")),
        None => Err(RpcError::new(RPC_INVALID_REQUEST, "Method must be a string")),
    };
    reply(id, v2, outcome)
}

fn reply(id: Value, v2: bool, outcome: Result<Value, RpcError>) -> (StatusCode, Value) {
    match (outcome, v2) {
        (Ok(result), false) => (StatusCode::OK, json!({"result": result, "error": null, "id": id})),
        (Ok(result), true) => {
            (StatusCode::OK, json!({"jsonrpc": "2.0", "result": result, "id": id}))
        }
        (Err(e), v2) => {
            let error = json!({"code": e.code, "message": e.message});
            if v2 {
                return (StatusCode::OK, json!({"jsonrpc": "2.0", "error": error, "id": id}));
            }
            let status = match e.code {
                RPC_INVALID_REQUEST => StatusCode::BAD_REQUEST,
                RPC_METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, json!({"result": null, "error": error, "id": id}))
        }
    }
}
