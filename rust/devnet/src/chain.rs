//! The chain state: blocks (best chain and stale ones), the UTXO set, the transaction and
//! script indexes that the Esplora API answers from, and connecting/disconnecting blocks.
//!
//! Invariant: `utxos`, `txs`, `spends` and `script_txs` always describe exactly the blocks in
//! `best`; every block ever mined stays in `blocks` so that a stale hash still answers
//! `/block/:hash/status` with `in_best_chain: false`, as Esplora does after a reorg.

use std::collections::{HashMap, HashSet};

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::{Amount, Block, BlockHash, Network, OutPoint, Script, Transaction, TxOut, Txid};

use crate::mempool::Mempool;

/// Blocks a coinbase output must wait before it may be spent.
pub const COINBASE_MATURITY: u32 = 100;
/// Regtest halves the subsidy every 150 blocks.
const SUBSIDY_HALVING_INTERVAL: u32 = 150;

/// An unspent output with what validation needs to know about where it came from.
#[derive(Clone, Debug)]
pub struct Coin {
    /// The output itself.
    pub output: TxOut,
    /// The height of the block that confirmed it.
    pub height: u32,
    /// Whether it pays a coinbase (spendable only after 100 confirmations).
    pub is_coinbase: bool,
}

/// A block as stored: the block and its height on the chain it was mined on.
pub struct BlockRecord {
    pub block: Block,
    pub height: u32,
}

/// A confirmed transaction with the outputs it spent (Esplora reports them as `prevout`).
pub struct ConfirmedTx {
    pub tx: Transaction,
    pub prevouts: Vec<TxOut>,
    pub fee: Amount,
    pub block_hash: BlockHash,
    pub height: u32,
    pub pos: usize,
}

/// What disconnecting a block needs to restore the UTXO set.
struct BlockUndo {
    spent: Vec<(OutPoint, Coin)>,
}

/// The whole state of the devnet's chain.
pub struct Chain {
    pub(crate) blocks: HashMap<BlockHash, BlockRecord>,
    pub(crate) best: Vec<BlockHash>,
    pub(crate) utxos: HashMap<OutPoint, Coin>,
    pub(crate) txs: HashMap<Txid, ConfirmedTx>,
    pub(crate) spends: HashMap<OutPoint, (Txid, u32)>,
    pub(crate) script_txs: HashMap<sha256::Hash, Vec<Txid>>,
    pub(crate) mempool: Mempool,
    undo: HashMap<BlockHash, BlockUndo>,
}

/// The key Esplora indexes scripts by: the SHA256 of the script.
pub fn script_hash(script: &Script) -> sha256::Hash {
    sha256::Hash::hash(script.as_bytes())
}

/// The sibling hashes from leaf `pos` (below `txids.len()`) up to the root, deepest first:
/// Esplora's and Electrum's `merkle`.
pub fn merkle_branch(txids: &[Txid], mut pos: usize) -> Vec<Txid> {
    let mut level: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    let mut branch = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(level[level.len() - 1]);
        }
        branch.push(Txid::from_raw_hash(level[pos ^ 1]));
        level = level
            .chunks(2)
            .map(|pair| {
                let mut data = pair[0].to_byte_array().to_vec();
                data.extend_from_slice(&pair[1].to_byte_array());
                sha256d::Hash::hash(&data)
            })
            .collect();
        pos /= 2;
    }
    branch
}

/// The block subsidy at `height` on regtest.
pub fn subsidy(height: u32) -> Amount {
    let halvings = height / SUBSIDY_HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

impl Chain {
    /// A chain holding only the regtest genesis block (whose coinbase is unspendable).
    pub fn new() -> Self {
        let genesis = genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        let mut blocks = HashMap::new();
        blocks.insert(hash, BlockRecord { block: genesis, height: 0 });
        Chain {
            blocks,
            best: vec![hash],
            utxos: HashMap::new(),
            txs: HashMap::new(),
            spends: HashMap::new(),
            script_txs: HashMap::new(),
            mempool: Mempool::default(),
            undo: HashMap::new(),
        }
    }

    /// Height of the best block.
    pub fn tip_height(&self) -> u32 {
        (self.best.len() - 1) as u32
    }

    /// Hash of the best block.
    pub fn tip_hash(&self) -> BlockHash {
        self.best[self.best.len() - 1]
    }

    /// The block at `height` on the best chain.
    pub fn block_at(&self, height: u32) -> Option<&BlockRecord> {
        self.best.get(height as usize).and_then(|h| self.blocks.get(h))
    }

    /// A transaction confirmed on the best chain or waiting in the mempool.
    pub fn find_tx(&self, txid: &Txid) -> Option<&Transaction> {
        self.txs.get(txid).map(|c| &c.tx).or_else(|| self.mempool.get(txid).map(|e| &e.tx))
    }

    /// Whether `hash` is on the best chain.
    pub fn in_best_chain(&self, hash: &BlockHash) -> bool {
        self.blocks.get(hash).is_some_and(|r| self.best.get(r.height as usize) == Some(hash))
    }

    /// Median time past of the block at `height` on the best chain (BIP113): the median of
    /// the timestamps of that block and the ten before it.
    pub fn median_time_past(&self, height: u32) -> u32 {
        let from = height.saturating_sub(10);
        let mut times: Vec<u32> =
            (from..=height).filter_map(|h| self.block_at(h)).map(|r| r.block.header.time).collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Looks up a coin unspent on the best chain or created by a mempool transaction (whether a
    /// mempool transaction already spends it is the mempool's business).
    pub fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        if let Some(coin) = self.utxos.get(outpoint) {
            return Some(coin.clone());
        }
        let entry = self.mempool.get(&outpoint.txid)?;
        let output = entry.tx.output.get(outpoint.vout as usize)?.clone();
        Some(Coin { output, height: self.tip_height() + 1, is_coinbase: false })
    }

    /// Appends `block` to the best chain. The caller (mining) guarantees it is valid and that
    /// every input is in `utxos`; `prevouts[i]` are the outputs transaction `i` spends.
    pub(crate) fn connect(&mut self, block: Block, prevouts: Vec<Vec<TxOut>>) {
        let height = self.tip_height() + 1;
        let hash = block.block_hash();
        let mut undo = BlockUndo { spent: Vec::new() };
        for (pos, (tx, spent_outputs)) in block.txdata.iter().zip(prevouts).enumerate() {
            let txid = tx.compute_txid();
            let mut scripts = HashSet::new();
            let mut fee = Amount::ZERO;
            if !tx.is_coinbase() {
                for (vin, input) in tx.input.iter().enumerate() {
                    if let Some(coin) = self.utxos.remove(&input.previous_output) {
                        undo.spent.push((input.previous_output, coin));
                    }
                    self.spends.insert(input.previous_output, (txid, vin as u32));
                }
                for prev in &spent_outputs {
                    scripts.insert(script_hash(&prev.script_pubkey));
                }
                let value_in: Amount = spent_outputs.iter().map(|o| o.value).sum();
                let value_out: Amount = tx.output.iter().map(|o| o.value).sum();
                fee = value_in.checked_sub(value_out).unwrap_or(Amount::ZERO);
            }
            for (vout, output) in tx.output.iter().enumerate() {
                scripts.insert(script_hash(&output.script_pubkey));
                if output.script_pubkey.is_op_return() {
                    continue;
                }
                let coin = Coin { output: output.clone(), height, is_coinbase: tx.is_coinbase() };
                self.utxos.insert(OutPoint { txid, vout: vout as u32 }, coin);
            }
            for script in scripts {
                self.script_txs.entry(script).or_default().push(txid);
            }
            let record = ConfirmedTx {
                tx: tx.clone(),
                prevouts: spent_outputs,
                fee,
                block_hash: hash,
                height,
                pos,
            };
            self.txs.insert(txid, record);
        }
        self.undo.insert(hash, undo);
        self.blocks.insert(hash, BlockRecord { block, height });
        self.best.push(hash);
    }

    /// Removes the best block from the best chain (it stays known as a stale block) and returns
    /// its non-coinbase transactions in block order.
    pub(crate) fn disconnect_tip(&mut self) -> Option<Vec<Transaction>> {
        if self.best.len() <= 1 {
            return None;
        }
        let hash = self.best.pop()?;
        let block = self.blocks.get(&hash)?.block.clone();
        for tx in block.txdata.iter().rev() {
            let txid = tx.compute_txid();
            let record = self.txs.remove(&txid);
            for vout in 0..tx.output.len() {
                self.utxos.remove(&OutPoint { txid, vout: vout as u32 });
            }
            let mut scripts: HashSet<sha256::Hash> =
                tx.output.iter().map(|o| script_hash(&o.script_pubkey)).collect();
            if let Some(record) = &record {
                scripts.extend(record.prevouts.iter().map(|o| script_hash(&o.script_pubkey)));
            }
            for script in scripts {
                if let Some(list) = self.script_txs.get_mut(&script) {
                    if list.last() == Some(&txid) {
                        list.pop();
                    }
                    if list.is_empty() {
                        self.script_txs.remove(&script);
                    }
                }
            }
            if !tx.is_coinbase() {
                for input in &tx.input {
                    self.spends.remove(&input.previous_output);
                }
            }
        }
        if let Some(undo) = self.undo.remove(&hash) {
            for (outpoint, coin) in undo.spent {
                self.utxos.insert(outpoint, coin);
            }
        }
        Some(block.txdata.into_iter().filter(|tx| !tx.is_coinbase()).collect())
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}
