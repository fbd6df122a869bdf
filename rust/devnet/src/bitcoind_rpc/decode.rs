//! Blocks, headers, transactions and scripts as bitcoind's JSON shows them (`getblockheader`,
//! `getblock`, `getrawtransaction` with verbosity, `gettxout`), and the chainwork
//! lightning-block-sync checks every header against.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::pow::Work;
use bitcoin::{Address, Amount, Block, BlockHash, Network, Script, Transaction, TxOut};
use serde_json::{json, Map, Value};

use crate::chain::Chain;

/// An amount in BTC, as bitcoind prints amounts.
pub(crate) fn btc(amount: Amount) -> f64 {
    amount.to_btc()
}

/// The work of `hash` and every block before it: bitcoind's `chainwork`, which
/// lightning-block-sync requires to equal the parent's plus the header's own work.
pub(crate) fn chainwork(chain: &Chain, hash: &BlockHash) -> Option<Work> {
    let mut record = chain.blocks.get(hash)?;
    let mut work = record.block.header.work();
    while record.height > 0 {
        record = chain.blocks.get(&record.block.header.prev_blockhash)?;
        work = work + record.block.header.work();
    }
    Some(work)
}

/// `chainwork` as bitcoind prints it: 64 hex digits, big-endian.
pub(crate) fn work_hex(work: Work) -> String {
    hex::encode(work.to_be_bytes())
}

/// Confirmations of a block: `tip - height + 1` on the best chain, -1 off it.
fn confirmations(chain: &Chain, hash: &BlockHash, height: u32) -> i64 {
    if chain.in_best_chain(hash) {
        i64::from(chain.tip_height()) - i64::from(height) + 1
    } else {
        -1
    }
}

/// `getblockheader`'s verbose answer (also the start of `getblock`'s).
pub(crate) fn header_json(chain: &Chain, hash: &BlockHash) -> Option<Map<String, Value>> {
    let record = chain.blocks.get(hash)?;
    let header = &record.block.header;
    let bits = header.bits.to_consensus();
    let mut object = json!({
        "hash": hash.to_string(),
        "confirmations": confirmations(chain, hash, record.height),
        "height": record.height,
        "version": header.version.to_consensus(),
        "versionHex": format!("{:08x}", header.version.to_consensus()),
        "merkleroot": header.merkle_root.to_string(),
        "time": header.time,
        "mediantime": chain.median_time_past(record.height),
        "nonce": header.nonce,
        "bits": format!("{bits:08x}"),
        "target": hex::encode(header.target().to_be_bytes()),
        "difficulty": header.difficulty_float(),
        "chainwork": work_hex(chainwork(chain, hash)?),
        "nTx": record.block.txdata.len(),
    });
    let map = object.as_object_mut()?;
    if record.height > 0 {
        map.insert("previousblockhash".into(), json!(header.prev_blockhash.to_string()));
    }
    if chain.in_best_chain(hash) {
        if let Some(next) = chain.block_at(record.height + 1) {
            map.insert("nextblockhash".into(), json!(next.block.block_hash().to_string()));
        }
    }
    Some(map.clone())
}

/// `getblock` at verbosity 1 (txids), 2 (decoded transactions with fees) or 3 (and the
/// outputs each input spends).
pub(crate) fn block_json(chain: &Chain, block: &Block, verbosity: i64) -> Option<Value> {
    let hash = block.block_hash();
    let mut map = header_json(chain, &hash)?;
    // Weight is three times the size without witnesses plus the whole size.
    let stripped = (block.weight().to_wu() as usize - block.total_size()) / 3;
    map.insert("strippedsize".into(), json!(stripped));
    map.insert("size".into(), json!(block.total_size()));
    map.insert("weight".into(), json!(block.weight().to_wu()));
    let txs: Vec<Value> = if verbosity <= 1 {
        block.txdata.iter().map(|tx| json!(tx.compute_txid().to_string())).collect()
    } else {
        block
            .txdata
            .iter()
            .map(|tx| {
                let confirmed = chain.txs.get(&tx.compute_txid());
                let prevouts = confirmed.map(|c| c.prevouts.as_slice()).unwrap_or_default();
                let mut json = tx_json(tx, (verbosity >= 3).then_some(prevouts));
                if let (Some(c), false) = (confirmed, tx.is_coinbase()) {
                    json["fee"] = json!(btc(c.fee));
                }
                json
            })
            .collect()
    };
    map.insert("tx".into(), Value::Array(txs));
    Some(Value::Object(map))
}

/// bitcoind's name for the kind of an output script (`scriptPubKey.type`).
fn script_type(script: &Script) -> &'static str {
    if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if script.is_op_return() {
        "nulldata"
    } else if script.is_p2pk() {
        "pubkey"
    } else if script.is_multisig() {
        "multisig"
    } else if script.is_witness_program() {
        "witness_unknown"
    } else {
        "nonstandard"
    }
}

/// `scriptPubKey` as bitcoind decodes it.
pub(crate) fn script_pubkey_json(script: &Script) -> Value {
    let mut object = json!({
        "asm": script.to_asm_string(),
        "hex": script.to_hex_string(),
        "type": script_type(script),
    });
    if let Ok(address) = Address::from_script(script, Network::Regtest) {
        object["address"] = json!(address.to_string());
    }
    object
}

fn output_json(output: &TxOut) -> Value {
    json!({
        "value": btc(output.value),
        "scriptPubKey": script_pubkey_json(&output.script_pubkey),
    })
}

/// A decoded transaction (`decoderawtransaction`'s shape, plus `hex`); with `prevouts`, each
/// input also shows the output it spends (`getblock` verbosity 3).
pub(crate) fn tx_json(tx: &Transaction, prevouts: Option<&[TxOut]>) -> Value {
    let vin: Vec<Value> = tx
        .input
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let mut object = if tx.is_coinbase() {
                json!({ "coinbase": input.script_sig.to_hex_string() })
            } else {
                json!({
                    "txid": input.previous_output.txid.to_string(),
                    "vout": input.previous_output.vout,
                    "scriptSig": {
                        "asm": input.script_sig.to_asm_string(),
                        "hex": input.script_sig.to_hex_string(),
                    },
                })
            };
            if !input.witness.is_empty() {
                object["txinwitness"] =
                    json!(input.witness.iter().map(hex::encode).collect::<Vec<_>>());
            }
            if let Some(prevout) = prevouts.and_then(|p| p.get(i)) {
                object["prevout"] = output_json(prevout);
            }
            object["sequence"] = json!(input.sequence.0);
            object
        })
        .collect();
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, output)| {
            let mut object = output_json(output);
            object["n"] = json!(n);
            object
        })
        .collect();
    json!({
        "txid": tx.compute_txid().to_string(),
        "hash": tx.compute_wtxid().to_string(),
        "version": tx.version.0,
        "size": tx.total_size(),
        "vsize": tx.vsize(),
        "weight": tx.weight().to_wu(),
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": vout,
        "hex": serialize_hex(tx),
    })
}
