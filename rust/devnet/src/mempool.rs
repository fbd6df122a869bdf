//! The mempool and the checks a transaction must pass to enter it: the consensus and policy
//! rules bitcoind applies in the cases a wallet hits. Rejection reasons use bitcoind's wording so
//! that logs read the same as against a real node.
//!
//! Fees are checked as bitcoind does with its historical defaults (Bitcoin Core up to 29.0):
//! `-minrelaytxfee` and `-incrementalrelayfee` of 1000 sat/kvB (1 sat/vB), against the
//! sigop-adjusted virtual size. Core 30 lowered both defaults to 100 sat/kvB; the devnet keeps
//! the stricter ones, so what it accepts every bitcoind with default settings accepts.

use std::collections::{HashMap, HashSet};

use bitcoin::consensus::validation::verify_transaction;
use bitcoin::policy::get_virtual_tx_size;
use bitcoin::{absolute, relative, Amount, OutPoint, Sequence, Transaction, TxOut, Txid};

use crate::chain::{Chain, COINBASE_MATURITY};

/// bitcoind's default `-minrelaytxfee` up to Core 29.0, in sat per 1000 vbytes: no transaction
/// pays less than this for its virtual size ("min relay fee not met").
pub const MIN_RELAY_FEE_SAT_PER_KVB: u64 = 1_000;

/// bitcoind's default `-incrementalrelayfee` up to Core 29.0, in sat per 1000 vbytes: a
/// replacement pays at least this for its own virtual size on top of the fees it evicts
/// (BIP125 rule 4).
pub const INCREMENTAL_RELAY_FEE_SAT_PER_KVB: u64 = 1_000;

/// Why a transaction was refused, in bitcoind's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

impl Rejection {
    fn new(reason: impl Into<String>) -> Self {
        Rejection(reason.into())
    }
}

/// A transaction waiting in the mempool.
#[derive(Clone)]
pub struct MempoolEntry {
    pub tx: Transaction,
    pub prevouts: Vec<TxOut>,
    pub fee: Amount,
    /// The virtual size bitcoind charges fees on: weight / 4 rounded up, or 20 vbytes per
    /// sigop if that is more (`GetVirtualTransactionSize`).
    pub vsize: u64,
    /// When it entered the mempool (unix seconds): bitcoind's `getmempoolentry` `time`, which
    /// ldk-node's bitcoind chain source uses to emit each mempool transaction once.
    pub time: u64,
    /// The tip's height when it entered (`getmempoolentry` `height`).
    pub height: u32,
}

impl MempoolEntry {
    /// bitcoind's `CFeeRate(fee, vsize)`: sat per 1000 vbytes, rounded down.
    fn fee_rate_sat_per_kvb(&self) -> u64 {
        self.fee.to_sat() * 1000 / self.vsize.max(1)
    }
}

/// bitcoind's `CFeeRate::GetFee`: the fee a rate of `sat_per_kvb` asks of `vsize` vbytes,
/// rounded up.
fn fee_for(sat_per_kvb: u64, vsize: u64) -> u64 {
    (sat_per_kvb * vsize).div_ceil(1000)
}

/// bitcoind's `FormatMoney`: BTC with up to 8 decimals, trailing zeros trimmed down to 2.
fn format_money(sat: u64) -> String {
    let full = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    let fraction = full.trim_end_matches('0');
    let decimals = fraction.len() - fraction.find('.').unwrap_or(0) - 1;
    format!("{fraction}{}", "0".repeat(2usize.saturating_sub(decimals)))
}

/// bitcoind's `CFeeRate::ToString`: "0.00001000 BTC/kvB".
fn format_fee_rate(sat_per_kvb: u64) -> String {
    format!("{}.{:08} BTC/kvB", sat_per_kvb / 100_000_000, sat_per_kvb % 100_000_000)
}

/// Unconfirmed transactions in arrival order (which is also a valid block order: a child can
/// only arrive after its parent).
#[derive(Default)]
pub struct Mempool {
    order: Vec<Txid>,
    entries: HashMap<Txid, MempoolEntry>,
    spends: HashMap<OutPoint, Txid>,
}

impl Mempool {
    /// The entry for `txid`, if it is in the mempool.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// The mempool transaction spending `outpoint`, if any, with the input index.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<(Txid, u32)> {
        let txid = self.spends.get(outpoint)?;
        let entry = self.entries.get(txid)?;
        let vin = entry.tx.input.iter().position(|i| i.previous_output == *outpoint)?;
        Some((*txid, vin as u32))
    }

    /// Entries in arrival order.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &MempoolEntry> {
        self.order.iter().filter_map(|txid| self.entries.get(txid))
    }

    /// Number of transactions waiting.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Empties the mempool, returning its entries in arrival order.
    pub(crate) fn take_all(&mut self) -> Vec<MempoolEntry> {
        let order = std::mem::take(&mut self.order);
        let mut entries = std::mem::take(&mut self.entries);
        self.spends.clear();
        order.into_iter().filter_map(|txid| entries.remove(&txid)).collect()
    }

    fn insert(&mut self, entry: MempoolEntry) {
        let txid = entry.tx.compute_txid();
        for input in &entry.tx.input {
            self.spends.insert(input.previous_output, txid);
        }
        self.order.push(txid);
        self.entries.insert(txid, entry);
    }

    /// Removes `txids` and everything that spends their outputs, directly or not.
    fn remove_with_descendants(&mut self, txids: &HashSet<Txid>) {
        let all = self.with_descendants(txids);
        self.order.retain(|t| !all.contains(t));
        for txid in &all {
            if let Some(entry) = self.entries.remove(txid) {
                for input in &entry.tx.input {
                    self.spends.remove(&input.previous_output);
                }
            }
        }
    }

    fn with_descendants(&self, txids: &HashSet<Txid>) -> HashSet<Txid> {
        let mut all = txids.clone();
        let mut stack: Vec<Txid> = txids.iter().copied().collect();
        while let Some(txid) = stack.pop() {
            let Some(entry) = self.entries.get(&txid) else { continue };
            for vout in 0..entry.tx.output.len() {
                if let Some(child) = self.spends.get(&OutPoint { txid, vout: vout as u32 }) {
                    if all.insert(*child) {
                        stack.push(*child);
                    }
                }
            }
        }
        all
    }
}

impl Chain {
    /// Validates `tx` against the best chain and the mempool and adds it to the mempool.
    /// A transaction already in the mempool is accepted again (as bitcoind's
    /// `sendrawtransaction` does). It must pay the minimum relay fee for its virtual size; a
    /// conflicting one replaces its conflicts only under bitcoind's full-RBF fee rules.
    pub fn accept_to_mempool(&mut self, tx: Transaction) -> Result<Txid, Rejection> {
        self.accept(tx, false)
    }

    /// [`Chain::accept_to_mempool`]; `bypass_limits` skips the minimum relay fee, as bitcoind
    /// does for the transactions of disconnected blocks and its own mempool after a reorg.
    fn accept(&mut self, tx: Transaction, bypass_limits: bool) -> Result<Txid, Rejection> {
        let txid = tx.compute_txid();
        if self.mempool.get(&txid).is_some() {
            return Ok(txid);
        }
        if self.txs.contains_key(&txid) {
            return Err(Rejection::new("transaction already in block chain"));
        }
        check_structure(&tx)?;

        let next_height = self.tip_height() + 1;
        let mut prevouts = Vec::with_capacity(tx.input.len());
        let mut conflicts = HashSet::new();
        let mut coins = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            let outpoint = input.previous_output;
            let coin = match self.mempool.spender(&outpoint) {
                Some((spender, _)) => {
                    conflicts.insert(spender);
                    self.coin(&outpoint)
                }
                None => self.coin(&outpoint),
            };
            let Some(coin) = coin else {
                return Err(Rejection::new(format!(
                    "bad-txns-inputs-missingorspent (input {outpoint} is unknown or already spent)"
                )));
            };
            if coin.is_coinbase && next_height - coin.height < COINBASE_MATURITY {
                return Err(Rejection::new(format!(
                    "bad-txns-premature-spend-of-coinbase (tried to spend coinbase at depth {})",
                    next_height - coin.height
                )));
            }
            prevouts.push(coin.output.clone());
            coins.push(coin);
        }

        let value_in: Amount = prevouts.iter().map(|o| o.value).sum();
        let value_out: Amount = tx.output.iter().map(|o| o.value).sum();
        let Some(fee) = value_in.checked_sub(value_out) else {
            return Err(Rejection::new(format!(
                "bad-txns-in-belowout (value in {} < value out {})",
                value_in.to_sat(),
                value_out.to_sat()
            )));
        };

        self.check_final(&tx, next_height)?;
        self.check_sequence_locks(&tx, &coins, next_height)?;

        let spent: HashMap<OutPoint, TxOut> =
            tx.input.iter().map(|i| i.previous_output).zip(prevouts.iter().cloned()).collect();
        let sigop_cost = tx.total_sigop_cost(|op| spent.get(op).cloned());
        let weight = tx.weight().to_wu();
        let vsize = get_virtual_tx_size(weight as i64, sigop_cost as i64) as u64;

        // bitcoind's `CheckFeeRate`, in `PreChecks`: before replacement and script checks.
        let min_fee = fee_for(MIN_RELAY_FEE_SAT_PER_KVB, vsize);
        if !bypass_limits && fee.to_sat() < min_fee {
            return Err(Rejection::new(format!(
                "min relay fee not met, {} < {min_fee}",
                fee.to_sat()
            )));
        }

        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let entry = MempoolEntry { tx, prevouts, fee, vsize, time, height: self.tip_height() };
        if !conflicts.is_empty() {
            self.check_replacement(&entry, &conflicts)?;
        }

        verify_transaction(&entry.tx, |op| spent.get(op).cloned())
            .map_err(|e| Rejection::new(format!("mandatory-script-verify-flag-failed ({e})")))?;

        if !conflicts.is_empty() {
            self.mempool.remove_with_descendants(&conflicts);
        }
        self.mempool.insert(entry);
        Ok(txid)
    }

    /// Full RBF as bitcoind checks it (`ReplacementChecks`): a higher fee rate than each
    /// transaction it directly conflicts with (`PaysMoreThanConflicts`), at least the fees of
    /// everything it evicts, conflicts and their descendants (BIP125 rule 3), and on top of
    /// those the incremental relay fee for its own virtual size (rule 4; `PaysForRBF`).
    fn check_replacement(
        &self,
        entry: &MempoolEntry,
        conflicts: &HashSet<Txid>,
    ) -> Result<(), Rejection> {
        let txid = entry.tx.compute_txid();
        let new_rate = entry.fee_rate_sat_per_kvb();
        for conflict in conflicts.iter().filter_map(|t| self.mempool.get(t)) {
            let old_rate = conflict.fee_rate_sat_per_kvb();
            if new_rate <= old_rate {
                return Err(Rejection::new(format!(
                    "insufficient fee, rejecting replacement {txid}; new feerate {} <= old \
                     feerate {}",
                    format_fee_rate(new_rate),
                    format_fee_rate(old_rate)
                )));
            }
        }

        let evicted = self.mempool.with_descendants(conflicts);
        let evicted_fee: u64 =
            evicted.iter().filter_map(|t| self.mempool.get(t)).map(|e| e.fee.to_sat()).sum();
        let new_fee = entry.fee.to_sat();
        if new_fee < evicted_fee {
            return Err(Rejection::new(format!(
                "insufficient fee, rejecting replacement {txid}, less fees than conflicting txs; \
                 {} < {}",
                format_money(new_fee),
                format_money(evicted_fee)
            )));
        }
        let additional = new_fee - evicted_fee;
        let required = fee_for(INCREMENTAL_RELAY_FEE_SAT_PER_KVB, entry.vsize);
        if additional < required {
            return Err(Rejection::new(format!(
                "insufficient fee, rejecting replacement {txid}, not enough additional fees to \
                 relay; {} < {}",
                format_money(additional),
                format_money(required)
            )));
        }
        Ok(())
    }

    /// Absolute lock time (BIP113: time locks compare with the tip's median time past).
    fn check_final(&self, tx: &Transaction, next_height: u32) -> Result<(), Rejection> {
        if tx.input.iter().all(|i| i.sequence == Sequence::MAX) {
            return Ok(());
        }
        let mtp = self.median_time_past(self.tip_height());
        let final_ = match tx.lock_time {
            absolute::LockTime::Blocks(h) => h.to_consensus_u32() < next_height,
            absolute::LockTime::Seconds(t) => t.to_consensus_u32() < mtp,
        };
        if final_ {
            Ok(())
        } else {
            Err(Rejection::new(format!(
                "non-final (lock time {} not reached at height {next_height})",
                tx.lock_time
            )))
        }
    }

    /// Relative lock times (BIP68) for version 2 transactions.
    fn check_sequence_locks(
        &self,
        tx: &Transaction,
        coins: &[crate::chain::Coin],
        next_height: u32,
    ) -> Result<(), Rejection> {
        if tx.version.0 < 2 {
            return Ok(());
        }
        let tip_mtp = self.median_time_past(self.tip_height());
        for (input, coin) in tx.input.iter().zip(coins) {
            let Some(lock) = input.sequence.to_relative_lock_time() else { continue };
            let satisfied = match lock {
                relative::LockTime::Blocks(blocks) => {
                    next_height >= coin.height + u32::from(blocks.value())
                }
                relative::LockTime::Time(time) => {
                    let coin_time = self.median_time_past(coin.height.saturating_sub(1));
                    let min_time = coin_time as i64 + i64::from(time.value()) * 512 - 1;
                    min_time < tip_mtp as i64 && coin.height < next_height
                }
            };
            if !satisfied {
                return Err(Rejection::new(format!(
                    "non-BIP68-final (input {} is relatively locked: {lock})",
                    input.previous_output
                )));
            }
        }
        Ok(())
    }

    /// Rebuilds the mempool against the current tip: `replay_first` (transactions of
    /// disconnected blocks), then what was waiting; confirmed or now-invalid ones are dropped.
    /// As in bitcoind, the minimum relay fee is not asked again of either.
    pub(crate) fn revalidate_mempool(&mut self, replay_first: Vec<Transaction>) {
        let old = self.mempool.take_all();
        for tx in replay_first.into_iter().chain(old.into_iter().map(|e| e.tx)) {
            let txid = tx.compute_txid();
            if self.txs.contains_key(&txid) {
                continue;
            }
            if let Err(e) = self.accept(tx, true) {
                log::info!("devnet: dropped {txid} from the mempool: {e}");
            }
        }
    }
}

/// Context-free checks (bitcoind's `CheckTransaction`).
fn check_structure(tx: &Transaction) -> Result<(), Rejection> {
    if tx.input.is_empty() {
        return Err(Rejection::new("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(Rejection::new("bad-txns-vout-empty"));
    }
    if tx.is_coinbase() {
        return Err(Rejection::new("coinbase (a coinbase cannot enter the mempool)"));
    }
    let mut total = Amount::ZERO;
    for output in &tx.output {
        if output.value > Amount::MAX_MONEY {
            return Err(Rejection::new("bad-txns-vout-toolarge"));
        }
        total = total
            .checked_add(output.value)
            .filter(|t| *t <= Amount::MAX_MONEY)
            .ok_or_else(|| Rejection::new("bad-txns-txouttotal-toolarge"))?;
    }
    let mut seen = HashSet::new();
    if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
        return Err(Rejection::new("bad-txns-inputs-duplicate"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_fee_rates_print_as_bitcoind_prints_them() {
        assert_eq!(format_money(0), "0.00");
        assert_eq!(format_money(100), "0.000001");
        assert_eq!(format_money(110), "0.0000011");
        assert_eq!(format_money(1_500), "0.000015");
        assert_eq!(format_money(100_000_000), "1.00");
        assert_eq!(format_money(123_456_789), "1.23456789");
        assert_eq!(format_fee_rate(1_000), "0.00001000 BTC/kvB");
        assert_eq!(format_fee_rate(9_174), "0.00009174 BTC/kvB");
    }

    #[test]
    fn fees_round_up_to_the_satoshi() {
        assert_eq!(fee_for(MIN_RELAY_FEE_SAT_PER_KVB, 141), 141);
        assert_eq!(fee_for(100, 141), 15);
        assert_eq!(fee_for(1_000, 0), 0);
    }
}
