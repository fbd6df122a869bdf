//! The block calls: what lightning-block-sync's `RpcClient` polls the chain with
//! (`getblockchaininfo`, `getblockheader`, `getblock` at verbosity 0, `getblockhash`), and
//! the neighbours tools expect beside them.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::BlockHash;
use serde_json::{json, Value};

use super::decode::{block_json, chainwork, header_json, work_hex};
use super::params::{Params, RpcError, RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER};
use crate::state::DevnetState;

fn block_not_found() -> RpcError {
    RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
}

/// `getblockchaininfo`: lightning-block-sync reads `bestblockhash` and `blocks`.
pub(crate) fn blockchain_info(state: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    let chain = state.chain();
    let tip = chain.tip_hash();
    let height = chain.tip_height();
    let header = chain.blocks.get(&tip).map(|r| r.block.header).ok_or_else(block_not_found)?;
    let work = chainwork(&chain, &tip).ok_or_else(block_not_found)?;
    Ok(json!({
        "chain": "regtest",
        "blocks": height,
        "headers": height,
        "bestblockhash": tip.to_string(),
        "bits": format!("{:08x}", header.bits.to_consensus()),
        "target": hex::encode(header.target().to_be_bytes()),
        "difficulty": header.target().difficulty_float(),
        "time": header.time,
        "mediantime": chain.median_time_past(height),
        "verificationprogress": 1.0,
        "initialblockdownload": false,
        "chainwork": work_hex(work),
        "size_on_disk": 0,
        "pruned": false,
        "warnings": [],
    }))
}

/// `getblockcount`.
pub(crate) fn block_count(state: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(state.chain().tip_height()))
}

/// `getbestblockhash`.
pub(crate) fn best_block_hash(state: &DevnetState, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(state.chain().tip_hash().to_string()))
}

/// `getblockhash height`: -8 "Block height out of range" past the tip or below zero.
pub(crate) fn block_hash(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let height = p.int(0)?;
    let chain = state.chain();
    u32::try_from(height)
        .ok()
        .and_then(|h| chain.block_at(h))
        .map(|r| json!(r.block.block_hash().to_string()))
        .ok_or_else(|| RpcError::new(RPC_INVALID_PARAMETER, "Block height out of range"))
}

/// `getblockheader "blockhash" ( verbose )`: JSON (the default) or 80 bytes of hex. Stale
/// blocks answer too, with `confirmations: -1`, as bitcoind's do.
pub(crate) fn block_header(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let hash: BlockHash = p.hash(0)?;
    let verbose = p.bool_or(1, true)?;
    let chain = state.chain();
    if verbose {
        return header_json(&chain, &hash).map(Value::Object).ok_or_else(block_not_found);
    }
    let record = chain.blocks.get(&hash).ok_or_else(block_not_found)?;
    Ok(json!(serialize_hex(&record.block.header)))
}

/// `getblock "blockhash" ( verbosity )`: 0 is the raw block in hex (what ldk-node asks for),
/// 1 (the default) lists txids, 2 and 3 decode the transactions.
pub(crate) fn block(state: &DevnetState, p: &Params) -> Result<Value, RpcError> {
    let hash: BlockHash = p.hash(0)?;
    let verbosity = p.verbosity(1, 1)?;
    let chain = state.chain();
    let record = chain.blocks.get(&hash).ok_or_else(block_not_found)?;
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&record.block)));
    }
    block_json(&chain, &record.block, verbosity).ok_or_else(block_not_found)
}
