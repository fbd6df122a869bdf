//! The Electrum methods (protocol 1.4, answers shaped as electrs gives them): what
//! electrum-client 0.24 parses for bdk_electrum 0.23 and lightning-transaction-sync 0.2.7.

use std::collections::HashMap;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::sha256;
use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::{json, Value};

use super::scripts::{self, parse_scripthash};
use crate::bitcoind_rpc::params::RpcError;
use crate::chain::{merkle_branch, Chain};
use crate::mempool::MIN_RELAY_FEE_SAT_PER_KVB;
use crate::state::DevnetState;

/// A request the server cannot make sense of (bad parameters, unknown height or
/// transaction): ElectrumX's and electrs's `BAD_REQUEST`.
pub(crate) const BAD_REQUEST: i64 = 1;
/// The node behind the server refused (a rejected broadcast): `DAEMON_ERROR`.
pub(crate) const DAEMON_ERROR: i64 = 2;
/// JSON-RPC's unknown method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;

/// The most headers one `blockchain.block.headers` call returns, as electrs.
const MAX_HEADERS: usize = 2016;
/// The protocol version spoken.
const PROTOCOL: &str = "1.4";

/// What one connection subscribed to, and what it was last told.
#[derive(Default)]
pub(crate) struct Session {
    /// The tip last sent, once `blockchain.headers.subscribe` was called.
    pub headers: Option<BlockHash>,
    /// Subscribed scripts: the client's script hash and the status last sent.
    pub scripts: HashMap<sha256::Hash, (String, Option<String>)>,
}

fn bad(message: impl Into<String>) -> RpcError {
    RpcError::new(BAD_REQUEST, message)
}

fn arg<'a>(params: &'a [Value], index: usize, what: &str) -> Result<&'a Value, RpcError> {
    params.get(index).ok_or_else(|| bad(format!("missing {what}")))
}

fn arg_usize(params: &[Value], index: usize, what: &str) -> Result<usize, RpcError> {
    let value = arg(params, index, what)?;
    value.as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("invalid {what}: {value}")))
}

fn arg_str<'a>(params: &'a [Value], index: usize, what: &str) -> Result<&'a str, RpcError> {
    let value = arg(params, index, what)?;
    value.as_str().ok_or_else(|| bad(format!("invalid {what}: {value}")))
}

fn arg_bool(params: &[Value], index: usize) -> bool {
    params.get(index).and_then(Value::as_bool).unwrap_or(false)
}

fn arg_script(params: &[Value]) -> Result<(sha256::Hash, String), RpcError> {
    let text = arg_str(params, 0, "scripthash")?;
    let hash = parse_scripthash(text).ok_or_else(|| bad(format!("invalid scripthash {text}")))?;
    Ok((hash, text.to_string()))
}

fn arg_txid(params: &[Value]) -> Result<Txid, RpcError> {
    let text = arg_str(params, 0, "tx_hash")?;
    text.parse().map_err(|_| bad(format!("invalid tx_hash {text}")))
}

fn no_checkpoints(params: &[Value], index: usize) -> Result<(), RpcError> {
    match params.get(index).and_then(Value::as_u64) {
        None | Some(0) => Ok(()),
        Some(_) => Err(bad("cp_height is not supported by doze-devnet")),
    }
}

fn header_at(chain: &Chain, height: usize) -> Result<String, RpcError> {
    u32::try_from(height)
        .ok()
        .and_then(|h| chain.block_at(h))
        .map(|r| serialize_hex(&r.block.header))
        .ok_or_else(|| bad(format!("no header at height {height}")))
}

/// The tip as `blockchain.headers.subscribe` answers and notifies it.
pub(crate) fn tip_json(chain: &Chain) -> Value {
    let hex = header_at(chain, chain.tip_height() as usize).unwrap_or_default();
    json!({ "height": chain.tip_height(), "hex": hex })
}

/// A rate in BTC per 1000 vbytes, as Electrum gives fees.
fn btc_per_kvb(sat_per_vb: f64) -> f64 {
    (sat_per_vb * 1000.0).round().max(MIN_RELAY_FEE_SAT_PER_KVB as f64) / 100_000_000.0
}

/// Answers one call; subscriptions are recorded in `session`.
pub(crate) fn call(
    state: &DevnetState,
    session: &mut Session,
    method: &str,
    params: &[Value],
) -> Result<Value, RpcError> {
    let version = concat!("doze-devnet ", env!("CARGO_PKG_VERSION"));
    let chain = || state.chain();
    match method {
        "server.version" => Ok(json!([version, PROTOCOL])),
        "server.banner" => Ok(json!("doze-devnet: a local regtest chain")),
        "server.donation_address" => Ok(json!("")),
        "server.ping" => Ok(Value::Null),
        "server.peers.subscribe" | "mempool.get_fee_histogram" => Ok(json!([])),
        "server.features" => {
            let genesis = chain().block_at(0).map(|g| g.block.block_hash().to_string());
            Ok(json!({
                "genesis_hash": genesis,
                "hosts": {},
                "protocol_min": PROTOCOL,
                "protocol_max": PROTOCOL,
                "pruning": null,
                "server_version": version,
                "hash_function": "sha256",
            }))
        }
        "blockchain.headers.subscribe" => {
            let chain = chain();
            session.headers = Some(chain.tip_hash());
            Ok(tip_json(&chain))
        }
        "blockchain.block.header" => {
            no_checkpoints(params, 1)?;
            Ok(json!(header_at(&chain(), arg_usize(params, 0, "height")?)?))
        }
        "blockchain.block.headers" => {
            no_checkpoints(params, 2)?;
            let start = arg_usize(params, 0, "start_height")?;
            let count = arg_usize(params, 1, "count")?.min(MAX_HEADERS);
            let chain = chain();
            let end = start.saturating_add(count).min(chain.tip_height() as usize + 1);
            let headers: Vec<String> =
                (start..end).map(|h| header_at(&chain, h)).collect::<Result<_, _>>()?;
            Ok(json!({ "count": headers.len(), "hex": headers.concat(), "max": MAX_HEADERS }))
        }
        "blockchain.estimatefee" => {
            let target = arg_usize(params, 0, "number")?.clamp(1, usize::from(u16::MAX));
            Ok(json!(btc_per_kvb(state.fee_rate_for(target as u16))))
        }
        "blockchain.relayfee" => Ok(json!(btc_per_kvb(0.0))),
        "blockchain.scripthash.get_balance" => {
            Ok(scripts::balance(&chain(), &arg_script(params)?.0))
        }
        "blockchain.scripthash.get_history" => {
            Ok(scripts::history_json(&scripts::history(&chain(), &arg_script(params)?.0)))
        }
        "blockchain.scripthash.get_mempool" => {
            Ok(scripts::history_json(&scripts::mempool_history(&chain(), &arg_script(params)?.0)))
        }
        "blockchain.scripthash.listunspent" => {
            Ok(scripts::unspent(&chain(), &arg_script(params)?.0))
        }
        "blockchain.scripthash.subscribe" => {
            let (script, text) = arg_script(params)?;
            let status = scripts::status(&chain(), &script);
            session.scripts.insert(script, (text, status.clone()));
            Ok(json!(status))
        }
        "blockchain.scripthash.unsubscribe" => {
            Ok(json!(session.scripts.remove(&arg_script(params)?.0).is_some()))
        }
        "blockchain.transaction.get" => {
            transaction(&chain(), arg_txid(params)?, arg_bool(params, 1))
        }
        "blockchain.transaction.get_merkle" => {
            let txid = arg_txid(params)?;
            let height = arg_usize(params, 1, "height")?;
            let chain = chain();
            let confirmed = chain.txs.get(&txid).filter(|c| c.height as usize == height);
            let Some(confirmed) = confirmed else {
                return Err(bad(format!("tx {txid} is not in the block at height {height}")));
            };
            Ok(merkle_json(&chain, confirmed.height, confirmed.pos)?.1)
        }
        "blockchain.transaction.id_from_pos" => {
            let height = arg_usize(params, 0, "height")?;
            let pos = arg_usize(params, 1, "tx_pos")?;
            let (txid, proof) = merkle_json(&chain(), height as u32, pos)?;
            match arg_bool(params, 2) {
                true => Ok(json!({ "tx_hash": txid.to_string(), "merkle": proof["merkle"] })),
                false => Ok(json!(txid.to_string())),
            }
        }
        "blockchain.transaction.broadcast" => broadcast(state, arg_str(params, 0, "raw_tx")?),
        _ => Err(RpcError::new(METHOD_NOT_FOUND, format!("unknown method \"{method}\""))),
    }
}

/// The txid at `pos` of the block at `height`, and its merkle proof as `get_merkle` gives it.
fn merkle_json(chain: &Chain, height: u32, pos: usize) -> Result<(Txid, Value), RpcError> {
    let record = chain.block_at(height).ok_or_else(|| bad(format!("no block at {height}")))?;
    let txids: Vec<Txid> = record.block.txdata.iter().map(Transaction::compute_txid).collect();
    let txid =
        *txids.get(pos).ok_or_else(|| bad(format!("no tx at position {pos} of {height}")))?;
    let merkle: Vec<String> = merkle_branch(&txids, pos).iter().map(ToString::to_string).collect();
    Ok((txid, json!({ "block_height": height, "merkle": merkle, "pos": pos })))
}

fn transaction(chain: &Chain, txid: Txid, verbose: bool) -> Result<Value, RpcError> {
    let tx = chain.find_tx(&txid).ok_or_else(|| bad(format!("unknown transaction {txid}")))?;
    if !verbose {
        return Ok(json!(serialize_hex(tx)));
    }
    let mut object = crate::bitcoind_rpc::tx_json(tx, None);
    if let Some(confirmed) = chain.txs.get(&txid) {
        let time = chain.blocks.get(&confirmed.block_hash).map(|r| r.block.header.time);
        object["blockhash"] = json!(confirmed.block_hash.to_string());
        object["confirmations"] = json!(chain.tip_height() - confirmed.height + 1);
        object["time"] = json!(time);
        object["blocktime"] = json!(time);
    }
    Ok(object)
}

fn broadcast(state: &DevnetState, raw: &str) -> Result<Value, RpcError> {
    let tx: Transaction =
        deserialize_hex(raw.trim()).map_err(|e| bad(format!("TX decode failed: {e}")))?;
    match state.broadcast(tx) {
        Ok(txid) => Ok(json!(txid.to_string())),
        Err(reason) => Err(RpcError::new(
            DAEMON_ERROR,
            format!("the transaction was rejected by network rules: {reason}"),
        )),
    }
}
