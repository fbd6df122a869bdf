//! The transaction, mempool and fee calls: what ldk-node 0.7.1's bitcoind chain source makes
//! (`sendrawtransaction`, `estimatesmartfee`, `getmempoolinfo`, `getrawmempool`,
//! `getmempoolentry`, `getrawtransaction`) and `gettxout`, which its gossip checks use.
//!
//! The devnet answers as a bitcoind **without `-txindex`**: `getrawtransaction` finds mempool
//! transactions, and confirmed ones only in the block named by its `blockhash` argument. That
//! is all ldk-node needs (it fetches only transactions `getrawmempool` listed), so a test
//! that passes here shows an operator's node needs no transaction index.

use std::collections::HashSet;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Amount, BlockHash, OutPoint, Sequence, Transaction, Txid};
use serde_json::{json, Map, Value};

use super::decode::{btc, script_pubkey_json, tx_json};
use super::params::*;
use crate::chain::Chain;
use crate::mempool::{MempoolEntry, INCREMENTAL_RELAY_FEE_SAT_PER_KVB, MIN_RELAY_FEE_SAT_PER_KVB};
use crate::state::DevnetState;

/// The largest `conf_target` `estimatesmartfee` takes (bitcoind's fee estimator horizon).
const MAX_CONF_TARGET: i64 = 1008;

fn kvb_rate(sat_per_kvb: u64) -> f64 {
    btc(Amount::from_sat(sat_per_kvb))
}

/// `gettxout "txid" n ( include_mempool )`: `null` for an output that is spent (by a block,
/// or by the mempool when it is included) or never existed.
pub(crate) fn tx_out(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let txid: Txid = p.hash(0)?;
    let vout = u32::try_from(p.int(1)?)
        .map_err(|_| RpcError::new(RPC_INVALID_PARAMETER, "Invalid vout"))?;
    let include_mempool = p.bool_or(2, true)?;
    let chain = state.chain();
    let outpoint = OutPoint { txid, vout };
    if include_mempool && chain.mempool.spender(&outpoint).is_some() {
        return Ok(Value::Null);
    }
    let (output, confirmations, coinbase) = if let Some(coin) = chain.utxos.get(&outpoint) {
        (coin.output.clone(), chain.tip_height() - coin.height + 1, coin.is_coinbase)
    } else {
        let in_mempool = chain.mempool.get(&txid).filter(|_| include_mempool);
        match in_mempool.and_then(|e| e.tx.output.get(vout as usize)) {
            Some(output) => (output.clone(), 0, false),
            None => return Ok(Value::Null),
        }
    };
    Ok(json!({
        "bestblock": chain.tip_hash().to_string(),
        "confirmations": confirmations,
        "value": btc(output.value),
        "scriptPubKey": script_pubkey_json(&output.script_pubkey),
        "coinbase": coinbase,
    }))
}

/// `getrawtransaction "txid" ( verbosity "blockhash" )`, as bitcoind without `-txindex`.
pub(crate) fn raw_transaction(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let txid: Txid = p.hash(0)?;
    let verbosity = p.verbosity(1, 0)?;
    let in_block: Option<BlockHash> = p.opt_hash(2)?;
    let chain = state.chain();
    let not_found = |message: &str| Err(RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, message));
    let (tx, block) = match in_block {
        Some(hash) => {
            let Some(record) = chain.blocks.get(&hash) else {
                return not_found("Block hash not found");
            };
            match record.block.txdata.iter().find(|t| t.compute_txid() == txid) {
                Some(tx) => (tx.clone(), Some(hash)),
                None => {
                    return not_found(
                        "No such transaction found in the provided block. Use gettransaction \
                         for wallet transactions.",
                    )
                }
            }
        }
        None => match chain.mempool.get(&txid) {
            Some(entry) => (entry.tx.clone(), None),
            None if is_genesis_coinbase(&chain, &txid) => {
                return not_found(
                    "The genesis block coinbase is not considered an ordinary transaction and \
                     cannot be retrieved",
                )
            }
            None => {
                return not_found(
                    "No such mempool transaction. Use -txindex or provide a block hash to \
                     enable blockchain transaction queries. Use gettransaction for wallet \
                     transactions.",
                )
            }
        },
    };
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&tx)));
    }
    let mut object = tx_json(&tx, None);
    if let Some(hash) = block {
        object["blockhash"] = json!(hash.to_string());
        object["in_active_chain"] = json!(chain.in_best_chain(&hash));
        if let Some(record) = chain.blocks.get(&hash).filter(|_| chain.in_best_chain(&hash)) {
            object["confirmations"] = json!(chain.tip_height() - record.height + 1);
            object["time"] = json!(record.block.header.time);
            object["blocktime"] = json!(record.block.header.time);
        }
    }
    Ok(object)
}

fn is_genesis_coinbase(chain: &Chain, txid: &Txid) -> bool {
    let genesis = chain.block_at(0).and_then(|g| g.block.txdata.first());
    genesis.is_some_and(|coinbase| coinbase.compute_txid() == *txid)
}

/// `sendrawtransaction "hexstring" ( maxfeerate maxburnamount )`: the txid, or bitcoind's
/// code for why not (-22 undecodable, -25 inputs missing or spent, -26 refused by the
/// mempool's rules, -27 already confirmed). A transaction already waiting is accepted again.
pub(crate) fn send_raw_transaction(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?;
    p.check_number(1)?;
    p.check_number(2)?;
    let tx: Transaction = deserialize_hex(text.trim()).map_err(|_| {
        RpcError::new(
            RPC_DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let txid = tx.compute_txid();
    {
        let chain = state.chain();
        let outputs = 0..tx.output.len() as u32;
        if outputs.into_iter().any(|vout| chain.utxos.contains_key(&OutPoint { txid, vout })) {
            return Err(RpcError::new(
                RPC_VERIFY_ALREADY_IN_CHAIN,
                "Transaction outputs already in utxo set",
            ));
        }
    }
    match state.broadcast(tx) {
        Ok(txid) => Ok(json!(txid.to_string())),
        Err(rejection) => {
            let reason = rejection.0;
            let code = if reason.starts_with("bad-txns-inputs-missingorspent") {
                RPC_VERIFY_ERROR
            } else if reason.starts_with("transaction already in block chain") {
                RPC_VERIFY_ALREADY_IN_CHAIN
            } else {
                RPC_VERIFY_REJECTED
            };
            Err(RpcError::new(code, reason))
        }
    }
}

/// Mempool transactions spending an output of `txid`.
fn children(chain: &Chain, entry: &MempoolEntry) -> HashSet<Txid> {
    let txid = entry.tx.compute_txid();
    (0..entry.tx.output.len() as u32)
        .filter_map(|vout| chain.mempool.spender(&OutPoint { txid, vout }).map(|(t, _)| t))
        .collect()
}

/// Mempool transactions whose outputs `entry` spends.
fn parents(chain: &Chain, entry: &MempoolEntry) -> HashSet<Txid> {
    let inputs = entry.tx.input.iter().map(|i| i.previous_output.txid);
    inputs.filter(|t| chain.mempool.get(t).is_some()).collect()
}

/// `txid` and everything reachable from it by `step`, within the mempool.
fn closure(
    chain: &Chain,
    txid: Txid,
    step: impl Fn(&Chain, &MempoolEntry) -> HashSet<Txid>,
) -> Vec<&MempoolEntry> {
    let mut seen = HashSet::from([txid]);
    let mut stack = vec![txid];
    let mut found = Vec::new();
    while let Some(next) = stack.pop() {
        let Some(entry) = chain.mempool.get(&next) else { continue };
        found.push(entry);
        stack.extend(step(chain, entry).into_iter().filter(|t| seen.insert(*t)));
    }
    found
}

/// An entry as `getmempoolentry` shows it; ldk-node reads `time` and `height`.
fn entry_json(chain: &Chain, entry: &MempoolEntry) -> Value {
    let txid = entry.tx.compute_txid();
    let ancestors = closure(chain, txid, parents);
    let descendants = closure(chain, txid, children);
    let sum_fee = |list: &[&MempoolEntry]| btc(list.iter().map(|e| e.fee).sum());
    let sum_size = |list: &[&MempoolEntry]| list.iter().map(|e| e.vsize).sum::<u64>();
    let signals = |e: &&MempoolEntry| e.tx.input.iter().any(|i| i.sequence < Sequence(0xffff_fffe));
    let names = |set: HashSet<Txid>| set.iter().map(ToString::to_string).collect::<Vec<_>>();
    json!({
        "vsize": entry.vsize,
        "weight": entry.tx.weight().to_wu(),
        "time": entry.time,
        "height": entry.height,
        "descendantcount": descendants.len(),
        "descendantsize": sum_size(&descendants),
        "ancestorcount": ancestors.len(),
        "ancestorsize": sum_size(&ancestors),
        "wtxid": entry.tx.compute_wtxid().to_string(),
        "fees": {
            "base": btc(entry.fee),
            "modified": btc(entry.fee),
            "ancestor": sum_fee(&ancestors),
            "descendant": sum_fee(&descendants),
        },
        "depends": names(parents(chain, entry)),
        "spentby": names(children(chain, entry)),
        "bip125-replaceable": ancestors.iter().any(signals),
        "unbroadcast": false,
    })
}

/// `getmempoolentry "txid"`: -5 "Transaction not in mempool" for any other.
pub(crate) fn mempool_entry(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let txid: Txid = p.hash(0)?;
    let chain = state.chain();
    let entry = chain
        .mempool
        .get(&txid)
        .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"))?;
    Ok(entry_json(&chain, entry))
}

/// `getrawmempool ( verbose mempool_sequence )`: txids, or entries by txid.
pub(crate) fn raw_mempool(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let verbose = p.bool_or(0, false)?;
    let with_sequence = p.bool_or(1, false)?;
    let chain = state.chain();
    let entries = chain.mempool.entries();
    if verbose {
        let map: Map<String, Value> =
            entries.map(|e| (e.tx.compute_txid().to_string(), entry_json(&chain, e))).collect();
        return Ok(Value::Object(map));
    }
    let txids: Vec<String> = entries.map(|e| e.tx.compute_txid().to_string()).collect();
    if with_sequence {
        return Ok(json!({ "txids": txids, "mempool_sequence": state.changes_seen() }));
    }
    Ok(json!(txids))
}

/// `getmempoolinfo`: ldk-node reads `mempoolminfee` (BTC/kvB) as its floor for the peer's
/// anchor-channel fee.
pub(crate) fn mempool_info(state: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    let chain = state.chain();
    let entries: Vec<&MempoolEntry> = chain.mempool.entries().collect();
    Ok(json!({
        "loaded": true,
        "size": entries.len(),
        "bytes": entries.iter().map(|e| e.vsize).sum::<u64>(),
        "usage": entries.iter().map(|e| e.tx.weight().to_wu()).sum::<u64>(),
        "total_fee": btc(entries.iter().map(|e| e.fee).sum()),
        "maxmempool": 300_000_000,
        "mempoolminfee": kvb_rate(MIN_RELAY_FEE_SAT_PER_KVB),
        "minrelaytxfee": kvb_rate(MIN_RELAY_FEE_SAT_PER_KVB),
        "incrementalrelayfee": kvb_rate(INCREMENTAL_RELAY_FEE_SAT_PER_KVB),
        "unbroadcastcount": 0,
        "fullrbf": true,
    }))
}

/// `estimatesmartfee conf_target ( "estimate_mode" )`: the devnet's rate for the target
/// (`DevnetState::set_fee_rates`) in BTC/kvB, never below the minimum relay fee.
pub(crate) fn estimate_smart_fee(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let target = p.int(0)?;
    if !(1..=MAX_CONF_TARGET).contains(&target) {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            format!("Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}"),
        ));
    }
    let mode = p.opt_str(1)?.unwrap_or("economical").to_ascii_lowercase();
    if !["unset", "economical", "conservative"].contains(&mode.as_str()) {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \
             \"conservative\"",
        ));
    }
    let sat_per_vb = state.fee_rate_for(target as u16);
    let sat_per_kvb = ((sat_per_vb * 1000.0).round() as u64).max(MIN_RELAY_FEE_SAT_PER_KVB);
    Ok(json!({ "feerate": kvb_rate(sat_per_kvb), "blocks": target }))
}

/// `getnetworkinfo`: a Bitcoin Core 29 without peers (the devnet follows Core 29's relay-fee
/// defaults; see the mempool module).
pub(crate) fn network_info(_: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    Ok(json!({
        "version": 290_000,
        "subversion": concat!("/doze-devnet:", env!("CARGO_PKG_VERSION"), "/"),
        "protocolversion": 70016,
        "localservices": "0000000000000409",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": kvb_rate(MIN_RELAY_FEE_SAT_PER_KVB),
        "incrementalfee": kvb_rate(INCREMENTAL_RELAY_FEE_SAT_PER_KVB),
        "localaddresses": [],
        "warnings": [],
    }))
}

/// `getindexinfo`: no optional index (no `-txindex`), which is what the devnet emulates.
pub(crate) fn index_info(_: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    Ok(json!({}))
}
