//! The control API that tests, the demo and a person at a terminal drive the devnet with.
//! Everything lives under `/devnet/` so it cannot collide with an Esplora path.
//!
//! ```text
//! POST /devnet/mine          {"blocks": N, "address": "bcrt1..."?, "empty": false?}
//!                                                -> {"hashes": [...], "height": H}
//! POST /devnet/fund          {"address": "bcrt1...", "amount_sat": N} -> {"txid": "..."}
//! POST /devnet/invalidate    {"blocks": N}       -> {"invalidated": [...], "height": H}
//! POST /devnet/fee-rate      {"sat_per_vb": F, "by_target": {"1": F1, "6": F6}?} -> {}
//!                            (what /fee-estimates answers; see `DevnetState::set_fee_rates`)
//! GET  /devnet/tip                               -> {"height": H, "hash": "..."}
//! GET  /devnet/mempool/{txid}/wait?timeout_ms=N  -> 200 {"txid"} | 408
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bitcoin::{Address, Amount, Network, ScriptBuf, Txid};
use serde::Deserialize;
use serde_json::json;

use crate::state::DevnetState;

type Shared = State<Arc<DevnetState>>;

/// The control routes.
pub fn routes() -> Router<Arc<DevnetState>> {
    Router::new()
        .route("/devnet/mine", post(mine))
        .route("/devnet/fund", post(fund))
        .route("/devnet/invalidate", post(invalidate))
        .route("/devnet/fee-rate", post(fee_rate))
        .route("/devnet/tip", get(tip))
        .route("/devnet/mempool/{txid}/wait", get(wait_mempool))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// Parses a regtest address into its script, or explains why it is not one.
pub fn regtest_script(address: &str) -> Result<ScriptBuf, String> {
    let unchecked: Address<_> =
        address.trim().parse().map_err(|e| format!("not a bitcoin address: {e}"))?;
    let checked = unchecked
        .require_network(Network::Regtest)
        .map_err(|_| format!("{address} is not a regtest address"))?;
    Ok(checked.script_pubkey())
}

#[derive(Deserialize)]
struct MineRequest {
    blocks: u32,
    address: Option<String>,
    #[serde(default)]
    empty: bool,
}

async fn mine(State(s): Shared, Json(req): Json<MineRequest>) -> Response {
    if req.blocks > 10_000 {
        return error(StatusCode::BAD_REQUEST, "at most 10000 blocks per call");
    }
    let payout = match req.address.as_deref().map(regtest_script).transpose() {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let state = Arc::clone(&s);
    let mine = move || match req.empty {
        true => state.mine_empty(req.blocks),
        false => state.mine(req.blocks, payout),
    };
    let hashes = match tokio::task::spawn_blocking(mine).await {
        Ok(h) => h,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let height = s.chain().tip_height();
    let hashes: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    Json(json!({ "hashes": hashes, "height": height })).into_response()
}

#[derive(Deserialize)]
struct FundRequest {
    address: String,
    amount_sat: u64,
}

async fn fund(State(s): Shared, Json(req): Json<FundRequest>) -> Response {
    let script = match regtest_script(&req.address) {
        Ok(script) => script,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match s.fund(script, Amount::from_sat(req.amount_sat)) {
        Ok(txid) => Json(json!({ "txid": txid.to_string() })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

#[derive(Deserialize)]
struct InvalidateRequest {
    blocks: u32,
}

async fn invalidate(State(s): Shared, Json(req): Json<InvalidateRequest>) -> Response {
    let removed = s.invalidate(req.blocks);
    let height = s.chain().tip_height();
    let removed: Vec<String> = removed.iter().map(|h| h.to_string()).collect();
    Json(json!({ "invalidated": removed, "height": height })).into_response()
}

#[derive(Deserialize)]
struct FeeRateRequest {
    sat_per_vb: f64,
    /// Rates from a target (blocks) on, as in `DevnetState::set_fee_rates`.
    #[serde(default)]
    by_target: std::collections::BTreeMap<String, f64>,
}

async fn fee_rate(State(s): Shared, Json(req): Json<FeeRateRequest>) -> Response {
    let rates = std::iter::once(&req.sat_per_vb).chain(req.by_target.values());
    if !rates.into_iter().all(|r| r.is_finite() && *r >= 1.0) {
        return error(StatusCode::BAD_REQUEST, "fee rates must be numbers of at least 1 sat/vB");
    }
    let mut steps = Vec::new();
    for (target, rate) in &req.by_target {
        match target.parse::<u16>() {
            Ok(t) if t > 0 => steps.push((t, *rate)),
            _ => return error(StatusCode::BAD_REQUEST, format!("{target:?} is not a target")),
        }
    }
    s.set_fee_rates(req.sat_per_vb, &steps);
    Json(json!({})).into_response()
}

async fn tip(State(s): Shared) -> Response {
    let chain = s.chain();
    Json(json!({ "height": chain.tip_height(), "hash": chain.tip_hash().to_string() }))
        .into_response()
}

#[derive(Deserialize)]
struct WaitQuery {
    timeout_ms: Option<u64>,
}

async fn wait_mempool(
    State(s): Shared,
    Path(txid): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let Ok(txid) = txid.parse::<Txid>() else {
        return error(StatusCode::BAD_REQUEST, "not a transaction id");
    };
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(10_000).min(120_000));
    if s.wait_until_async(timeout, |c| c.mempool.get(&txid).is_some()).await {
        Json(json!({ "txid": txid.to_string() })).into_response()
    } else {
        error(StatusCode::REQUEST_TIMEOUT, format!("{txid} did not reach the mempool in time"))
    }
}
