//! What the Electrum protocol says about one script: its history (confirmed in block order,
//! then the mempool), the status hash of that history, its balance and its unspent outputs,
//! all from the chain's script index and the mempool.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{OutPoint, Txid};
use serde_json::{json, Value};

use crate::chain::{script_hash, Chain};
use crate::mempool::MempoolEntry;

/// Electrum's script hash (the SHA256 of the script, its bytes reversed, in hex) as the key
/// of the chain's index (the same hash, not reversed). `None` if it is not 32 bytes of hex.
pub(crate) fn parse_scripthash(text: &str) -> Option<sha256::Hash> {
    let mut bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    bytes.reverse();
    Some(sha256::Hash::from_byte_array(bytes))
}

/// One entry of a script's history: Electrum's height is the block's, 0 for a mempool
/// transaction whose inputs are all confirmed, -1 for one spending another mempool one.
pub(crate) struct Entry {
    pub txid: Txid,
    pub height: i64,
    /// The fee, for mempool entries (Electrum shows it only for them).
    pub fee: Option<u64>,
}

fn touches(entry: &MempoolEntry, script: &sha256::Hash) -> bool {
    let outputs = entry.tx.output.iter().chain(&entry.prevouts);
    outputs.into_iter().any(|o| script_hash(&o.script_pubkey) == *script)
}

/// The mempool part of the history.
pub(crate) fn mempool_history(chain: &Chain, script: &sha256::Hash) -> Vec<Entry> {
    chain
        .mempool
        .entries()
        .filter(|e| touches(e, script))
        .map(|e| {
            let unconfirmed_parent =
                e.tx.input.iter().any(|i| chain.mempool.get(&i.previous_output.txid).is_some());
            Entry {
                txid: e.tx.compute_txid(),
                height: if unconfirmed_parent { -1 } else { 0 },
                fee: Some(e.fee.to_sat()),
            }
        })
        .collect()
}

/// The whole history, confirmed first in block order.
pub(crate) fn history(chain: &Chain, script: &sha256::Hash) -> Vec<Entry> {
    let confirmed = chain.script_txs.get(script).into_iter().flatten();
    let mut entries: Vec<Entry> = confirmed
        .filter_map(|txid| chain.txs.get(txid).map(|c| (txid, c.height)))
        .map(|(txid, height)| Entry { txid: *txid, height: i64::from(height), fee: None })
        .collect();
    entries.extend(mempool_history(chain, script));
    entries
}

/// History entries as `blockchain.scripthash.get_history` lists them.
pub(crate) fn history_json(entries: &[Entry]) -> Value {
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut item = json!({ "tx_hash": e.txid.to_string(), "height": e.height });
            if let Some(fee) = e.fee {
                item["fee"] = json!(fee);
            }
            item
        })
        .collect();
    Value::Array(list)
}

/// The status Electrum subscriptions report: the SHA256 of `txid:height:` for each history
/// entry, in order, in hex; `None` for a script without history.
pub(crate) fn status(chain: &Chain, script: &sha256::Hash) -> Option<String> {
    let entries = history(chain, script);
    if entries.is_empty() {
        return None;
    }
    let text: String = entries.iter().map(|e| format!("{}:{}:", e.txid, e.height)).collect();
    Some(sha256::Hash::hash(text.as_bytes()).to_string())
}

/// Confirmed outputs paying the script and still unspent on the best chain.
fn confirmed_coins<'c>(
    chain: &'c Chain,
    script: &'c sha256::Hash,
) -> impl Iterator<Item = (OutPoint, u64, u32)> + 'c {
    chain.script_txs.get(script).into_iter().flatten().flat_map(move |txid| {
        let outputs = chain.txs.get(txid).map(|c| c.tx.output.as_slice()).unwrap_or_default();
        outputs.iter().enumerate().filter_map(move |(vout, output)| {
            let outpoint = OutPoint { txid: *txid, vout: vout as u32 };
            let coin = chain.utxos.get(&outpoint)?;
            (script_hash(&output.script_pubkey) == *script).then_some((
                outpoint,
                output.value.to_sat(),
                coin.height,
            ))
        })
    })
}

/// `blockchain.scripthash.get_balance`: confirmed unspent, and what the mempool adds and
/// takes away (negative when it spends confirmed coins).
pub(crate) fn balance(chain: &Chain, script: &sha256::Hash) -> Value {
    let confirmed: u64 = confirmed_coins(chain, script).map(|(_, value, _)| value).sum();
    let mut unconfirmed: i64 = 0;
    for entry in chain.mempool.entries() {
        for output in entry.tx.output.iter().filter(|o| script_hash(&o.script_pubkey) == *script) {
            unconfirmed += output.value.to_sat() as i64;
        }
        for spent in entry.prevouts.iter().filter(|o| script_hash(&o.script_pubkey) == *script) {
            unconfirmed -= spent.value.to_sat() as i64;
        }
    }
    json!({ "confirmed": confirmed, "unconfirmed": unconfirmed })
}

/// `blockchain.scripthash.listunspent`: confirmed and mempool outputs paying the script that
/// no mempool transaction spends (mempool ones at height 0).
pub(crate) fn unspent(chain: &Chain, script: &sha256::Hash) -> Value {
    let confirmed = confirmed_coins(chain, script).map(|(o, v, h)| (o, v, i64::from(h)));
    let pending = chain.mempool.entries().flat_map(|entry| {
        let txid = entry.tx.compute_txid();
        entry.tx.output.iter().enumerate().filter_map(move |(vout, output)| {
            (script_hash(&output.script_pubkey) == *script).then_some((
                OutPoint { txid, vout: vout as u32 },
                output.value.to_sat(),
                0,
            ))
        })
    });
    let list: Vec<Value> = confirmed
        .chain(pending)
        .filter(|(outpoint, ..)| chain.mempool.spender(outpoint).is_none())
        .map(|(outpoint, value, height)| {
            json!({
                "tx_hash": outpoint.txid.to_string(),
                "tx_pos": outpoint.vout,
                "height": height,
                "value": value,
            })
        })
        .collect();
    Value::Array(list)
}
