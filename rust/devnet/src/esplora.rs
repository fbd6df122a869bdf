//! The Esplora HTTP API, with the JSON shapes and status codes `esplora-client` 0.12 parses.
//! Unknown transactions and blocks answer 404 (which the client maps to `None`), except
//! `/tx/:txid/status`, which answers `{"confirmed": false}` for them as electrs does.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bitcoin::consensus::encode::{deserialize, serialize, serialize_hex};
use bitcoin::hashes::sha256;
use bitcoin::{Address, BlockHash, MerkleBlock, Network, OutPoint, Transaction, TxOut, Txid};
use serde_json::{json, Value};

use crate::chain::{merkle_branch, Chain, ConfirmedTx};
use crate::state::{DevnetState, FEE_TARGETS};

/// Confirmed transactions per page of `/scripthash/:hash/txs[/chain/:last]`, as electrs.
const CHAIN_TXS_PER_PAGE: usize = 25;
/// Mempool transactions in the first page of `/scripthash/:hash/txs`, as electrs.
const MEMPOOL_TXS_PER_PAGE: usize = 50;
/// Blocks per `/blocks` page, as electrs.
const BLOCKS_PER_PAGE: u32 = 10;

type Shared = State<Arc<DevnetState>>;

/// The Esplora routes.
pub fn routes() -> Router<Arc<DevnetState>> {
    Router::new()
        .route("/blocks", get(blocks_at_tip))
        .route("/blocks/{height}", get(blocks_from))
        .route("/blocks/tip/hash", get(tip_hash))
        .route("/blocks/tip/height", get(tip_height))
        .route("/block-height/{height}", get(block_hash_at))
        .route("/block/{hash}", get(block_info))
        .route("/block/{hash}/header", get(block_header))
        .route("/block/{hash}/status", get(block_status))
        .route("/block/{hash}/raw", get(block_raw))
        .route("/block/{hash}/txids", get(block_txids))
        .route("/block/{hash}/txid/{index}", get(block_txid_at))
        .route("/scripthash/{hash}/txs", get(script_txs))
        .route("/scripthash/{hash}/txs/chain/{last}", get(script_txs_after))
        .route("/scripthash/{hash}/txs/mempool", get(script_txs_mempool))
        .route("/tx/{txid}", get(tx_info))
        .route("/tx/{txid}/raw", get(tx_raw))
        .route("/tx/{txid}/hex", get(tx_hex))
        .route("/tx/{txid}/status", get(tx_status_route))
        .route("/tx/{txid}/merkleblock-proof", get(merkleblock_proof))
        .route("/tx/{txid}/merkle-proof", get(merkle_proof))
        .route("/tx/{txid}/outspend/{vout}", get(outspend))
        .route("/tx/{txid}/outspends", get(outspends))
        .route("/mempool/txids", get(mempool_txids))
        .route("/fee-estimates", get(fee_estimates))
        .route("/tx", post(post_tx))
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what} not found")).into_response()
}

fn bad_request(reason: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, reason.to_string()).into_response()
}

// The error is the HTTP answer itself, as axum handlers return it; its size does not matter here.
#[allow(clippy::result_large_err)]
fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, Response> {
    s.parse().map_err(|_| bad_request(format!("Invalid {what}")))
}

async fn tip_hash(State(s): Shared) -> String {
    s.chain().tip_hash().to_string()
}

async fn tip_height(State(s): Shared) -> String {
    s.chain().tip_height().to_string()
}

async fn blocks_at_tip(State(s): Shared) -> Json<Vec<Value>> {
    let chain = s.chain();
    Json(block_page(&chain, chain.tip_height()))
}

async fn blocks_from(State(s): Shared, Path(height): Path<u32>) -> Json<Vec<Value>> {
    let chain = s.chain();
    Json(block_page(&chain, height.min(chain.tip_height())))
}

fn block_page(chain: &Chain, from: u32) -> Vec<Value> {
    (from.saturating_sub(BLOCKS_PER_PAGE - 1)..=from)
        .rev()
        .filter_map(|h| chain.block_at(h).map(|r| r.block.block_hash()))
        .filter_map(|hash| block_info_json(chain, &hash))
        .collect()
}

async fn block_hash_at(State(s): Shared, Path(height): Path<u32>) -> Response {
    match s.chain().block_at(height) {
        Some(record) => record.block.block_hash().to_string().into_response(),
        None => not_found("Block"),
    }
}

fn block_info_json(chain: &Chain, hash: &BlockHash) -> Option<Value> {
    let record = chain.blocks.get(hash)?;
    let header = &record.block.header;
    Some(json!({
        "id": hash.to_string(),
        "height": record.height,
        "version": header.version.to_consensus(),
        "timestamp": header.time,
        "tx_count": record.block.txdata.len(),
        "size": record.block.total_size(),
        "weight": record.block.weight().to_wu(),
        "merkle_root": header.merkle_root.to_string(),
        "previousblockhash": (record.height > 0).then(|| header.prev_blockhash.to_string()),
        "mediantime": chain.median_time_past(record.height),
        "nonce": header.nonce,
        "bits": header.bits.to_consensus(),
        "difficulty": header.target().difficulty_float(),
    }))
}

async fn block_info(State(s): Shared, Path(hash): Path<String>) -> Response {
    let hash: BlockHash = match parse(&hash, "block hash") {
        Ok(h) => h,
        Err(e) => return e,
    };
    match block_info_json(&s.chain(), &hash) {
        Some(info) => Json(info).into_response(),
        None => not_found("Block"),
    }
}

fn with_block<F: FnOnce(&Chain, &bitcoin::Block) -> Response>(
    s: &DevnetState,
    hash: &str,
    f: F,
) -> Response {
    let hash: BlockHash = match parse(hash, "block hash") {
        Ok(h) => h,
        Err(e) => return e,
    };
    let chain = s.chain();
    match chain.blocks.get(&hash) {
        Some(record) => f(&chain, &record.block),
        None => not_found("Block"),
    }
}

async fn block_header(State(s): Shared, Path(hash): Path<String>) -> Response {
    with_block(&s, &hash, |_, block| serialize_hex(&block.header).into_response())
}

async fn block_raw(State(s): Shared, Path(hash): Path<String>) -> Response {
    with_block(&s, &hash, |_, block| octets(serialize(block)))
}

async fn block_txids(State(s): Shared, Path(hash): Path<String>) -> Response {
    with_block(&s, &hash, |_, block| {
        let txids: Vec<String> =
            block.txdata.iter().map(|tx| tx.compute_txid().to_string()).collect();
        Json(txids).into_response()
    })
}

async fn block_txid_at(State(s): Shared, Path((hash, index)): Path<(String, usize)>) -> Response {
    with_block(&s, &hash, |_, block| match block.txdata.get(index) {
        Some(tx) => tx.compute_txid().to_string().into_response(),
        None => not_found("Transaction index"),
    })
}

async fn block_status(State(s): Shared, Path(hash): Path<String>) -> Response {
    with_block(&s, &hash, |chain, block| {
        let hash = block.block_hash();
        let in_best = chain.in_best_chain(&hash);
        let height = chain.blocks.get(&hash).map(|r| r.height);
        let next_best = match (in_best, height) {
            (true, Some(h)) => chain.block_at(h + 1).map(|r| r.block.block_hash().to_string()),
            _ => None,
        };
        Json(json!({
            "in_best_chain": in_best,
            "height": if in_best { height } else { None },
            "next_best": next_best,
        }))
        .into_response()
    })
}

fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

/// Confirmation status of a transaction, electrs-style.
fn tx_status(chain: &Chain, txid: &Txid) -> Value {
    match chain.txs.get(txid) {
        Some(c) => {
            let time = chain.blocks.get(&c.block_hash).map(|r| r.block.header.time);
            json!({
                "confirmed": true,
                "block_height": c.height,
                "block_hash": c.block_hash.to_string(),
                "block_time": time,
            })
        }
        None => json!({ "confirmed": false }),
    }
}

fn output_json(output: &TxOut) -> Value {
    let address = Address::from_script(&output.script_pubkey, Network::Regtest).ok();
    json!({
        "scriptpubkey": output.script_pubkey.to_hex_string(),
        "scriptpubkey_asm": output.script_pubkey.to_asm_string(),
        "scriptpubkey_address": address.map(|a| a.to_string()),
        "value": output.value.to_sat(),
    })
}

fn tx_json(chain: &Chain, tx: &Transaction, prevouts: &[TxOut], fee: u64) -> Value {
    let txid = tx.compute_txid();
    let vin: Vec<Value> = tx
        .input
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let coinbase = tx.is_coinbase();
            json!({
                "txid": input.previous_output.txid.to_string(),
                "vout": input.previous_output.vout,
                "prevout": if coinbase { Value::Null } else {
                    prevouts.get(i).map(output_json).unwrap_or(Value::Null)
                },
                "scriptsig": input.script_sig.to_hex_string(),
                "scriptsig_asm": input.script_sig.to_asm_string(),
                "witness": input.witness.iter().map(hex::encode).collect::<Vec<_>>(),
                "is_coinbase": coinbase,
                "sequence": input.sequence.0,
            })
        })
        .collect();
    json!({
        "txid": txid.to_string(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": tx.output.iter().map(output_json).collect::<Vec<_>>(),
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "fee": fee,
        "status": tx_status(chain, &txid),
    })
}

fn any_tx_json(chain: &Chain, txid: &Txid) -> Option<Value> {
    if let Some(ConfirmedTx { tx, prevouts, fee, .. }) = chain.txs.get(txid) {
        return Some(tx_json(chain, tx, prevouts, fee.to_sat()));
    }
    let entry = chain.mempool.get(txid)?;
    Some(tx_json(chain, &entry.tx, &entry.prevouts, entry.fee.to_sat()))
}

fn with_txid(txid: &str, f: impl FnOnce(Txid) -> Response) -> Response {
    match parse::<Txid>(txid, "transaction id") {
        Ok(txid) => f(txid),
        Err(e) => e,
    }
}

async fn tx_info(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| match any_tx_json(&s.chain(), &txid) {
        Some(v) => Json(v).into_response(),
        None => not_found("Transaction"),
    })
}

async fn tx_raw(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| match s.chain().find_tx(&txid) {
        Some(tx) => octets(serialize(tx)),
        None => not_found("Transaction"),
    })
}

async fn tx_hex(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| match s.chain().find_tx(&txid) {
        Some(tx) => serialize_hex(tx).into_response(),
        None => not_found("Transaction"),
    })
}

async fn tx_status_route(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| Json(tx_status(&s.chain(), &txid)).into_response())
}

async fn merkleblock_proof(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| {
        let chain = s.chain();
        let Some(record) = chain.txs.get(&txid).and_then(|c| chain.blocks.get(&c.block_hash))
        else {
            return not_found("Transaction");
        };
        let proof = MerkleBlock::from_block_with_predicate(&record.block, |t| *t == txid);
        serialize_hex(&proof).into_response()
    })
}

async fn merkle_proof(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| {
        let chain = s.chain();
        let Some(confirmed) = chain.txs.get(&txid) else { return not_found("Transaction") };
        let Some(record) = chain.blocks.get(&confirmed.block_hash) else {
            return not_found("Block");
        };
        let txids: Vec<Txid> = record.block.txdata.iter().map(|t| t.compute_txid()).collect();
        Json(json!({
            "block_height": confirmed.height,
            "merkle": merkle_branch(&txids, confirmed.pos)
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
            "pos": confirmed.pos,
        }))
        .into_response()
    })
}

fn outspend_json(chain: &Chain, outpoint: &OutPoint) -> Value {
    let spender = chain.spends.get(outpoint).copied().or_else(|| chain.mempool.spender(outpoint));
    match spender {
        Some((txid, vin)) => json!({
            "spent": true,
            "txid": txid.to_string(),
            "vin": vin,
            "status": tx_status(chain, &txid),
        }),
        None => json!({ "spent": false }),
    }
}

async fn outspend(State(s): Shared, Path((txid, vout)): Path<(String, u32)>) -> Response {
    with_txid(&txid, |txid| {
        let chain = s.chain();
        match chain.find_tx(&txid) {
            Some(tx) if (vout as usize) < tx.output.len() => {
                Json(outspend_json(&chain, &OutPoint { txid, vout })).into_response()
            }
            _ => not_found("Output"),
        }
    })
}

async fn outspends(State(s): Shared, Path(txid): Path<String>) -> Response {
    with_txid(&txid, |txid| {
        let chain = s.chain();
        let Some(tx) = chain.find_tx(&txid) else { return not_found("Transaction") };
        let all: Vec<Value> = (0..tx.output.len() as u32)
            .map(|vout| outspend_json(&chain, &OutPoint { txid, vout }))
            .collect();
        Json(all).into_response()
    })
}

fn mempool_txs_for(chain: &Chain, script: &sha256::Hash) -> Vec<Value> {
    chain
        .mempool
        .entries()
        .rev()
        .filter(|e| {
            e.tx.output
                .iter()
                .chain(e.prevouts.iter())
                .any(|o| crate::chain::script_hash(&o.script_pubkey) == *script)
        })
        .take(MEMPOOL_TXS_PER_PAGE)
        .map(|e| tx_json(chain, &e.tx, &e.prevouts, e.fee.to_sat()))
        .collect()
}

fn chain_txs_for(chain: &Chain, script: &sha256::Hash, after: Option<Txid>) -> Vec<Value> {
    let Some(list) = chain.script_txs.get(script) else { return Vec::new() };
    let newest_first = list.iter().rev();
    let start: Box<dyn Iterator<Item = &Txid>> = match after {
        Some(last) => Box::new(newest_first.skip_while(move |t| **t != last).skip(1)),
        None => Box::new(newest_first),
    };
    start.take(CHAIN_TXS_PER_PAGE).filter_map(|txid| any_tx_json(chain, txid)).collect()
}

async fn script_txs(State(s): Shared, Path(hash): Path<String>) -> Response {
    let script: sha256::Hash = match parse(&hash, "script hash") {
        Ok(h) => h,
        Err(e) => return e,
    };
    let chain = s.chain();
    let mut txs = mempool_txs_for(&chain, &script);
    txs.extend(chain_txs_for(&chain, &script, None));
    Json(txs).into_response()
}

async fn script_txs_after(
    State(s): Shared,
    Path((hash, last)): Path<(String, String)>,
) -> Response {
    let (script, last) = match (parse::<sha256::Hash>(&hash, "script hash"), parse(&last, "txid")) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    Json(chain_txs_for(&s.chain(), &script, Some(last))).into_response()
}

async fn script_txs_mempool(State(s): Shared, Path(hash): Path<String>) -> Response {
    match parse::<sha256::Hash>(&hash, "script hash") {
        Ok(script) => Json(mempool_txs_for(&s.chain(), &script)).into_response(),
        Err(e) => e,
    }
}

async fn mempool_txids(State(s): Shared) -> Json<Vec<String>> {
    let chain = s.chain();
    Json(chain.mempool.entries().map(|e| e.tx.compute_txid().to_string()).collect())
}

async fn fee_estimates(State(s): Shared) -> Json<HashMap<String, f64>> {
    Json(FEE_TARGETS.iter().map(|t| (t.to_string(), s.fee_rate_for(*t))).collect())
}

async fn post_tx(State(s): Shared, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let Ok(bytes) = hex::decode(text.trim()) else {
        return bad_request(
            "sendrawtransaction RPC error: {\"code\":-22,\"message\":\"TX decode failed\"}",
        );
    };
    let Ok(tx) = deserialize::<Transaction>(&bytes) else {
        return bad_request(
            "sendrawtransaction RPC error: {\"code\":-22,\"message\":\"TX decode failed\"}",
        );
    };
    match s.broadcast(tx) {
        Ok(txid) => txid.to_string().into_response(),
        Err(reason) => bad_request(format!(
            "sendrawtransaction RPC error: {{\"code\":-26,\"message\":\"{reason}\"}}"
        )),
    }
}
