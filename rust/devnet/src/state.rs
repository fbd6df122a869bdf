//! The devnet shared between its HTTP server and the in-process harness: the chain behind one
//! lock, and a change signal so that waiters (sync and async) wake on a condition instead of
//! polling on a timer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{rand, Secp256k1, SecretKey};
use bitcoin::{Amount, BlockHash, CompressedPublicKey, ScriptBuf, Transaction, Txid};
use tokio::sync::watch;

use crate::chain::Chain;
use crate::faucet::{Faucet, FundError};
use crate::mempool::Rejection;

/// Blocks mined to the faucet at start: its first coinbases are spendable at once.
pub const INITIAL_BLOCKS: u32 = 110;

/// The devnet's chain, faucet and fee estimates, safe to share between threads.
pub struct DevnetState {
    chain: Mutex<Chain>,
    faucet: Faucet,
    changed: Condvar,
    version: watch::Sender<u64>,
    extra_nonce: AtomicU64,
    fee_rates: Mutex<FeeRates>,
}

/// What `/fee-estimates` answers: a rate for every target, or a rate from some targets on.
#[derive(Debug, Clone, PartialEq)]
struct FeeRates {
    /// The rate of targets below every step.
    default: f64,
    /// (target, rate): from this target on (up to the next step), this rate.
    steps: Vec<(u16, f64)>,
}

/// The confirmation targets (blocks) `/fee-estimates` answers for, as Esplora does.
pub const FEE_TARGETS: [u16; 12] = [1, 2, 3, 4, 5, 6, 10, 12, 24, 144, 504, 1008];

impl DevnetState {
    /// A new chain with [`INITIAL_BLOCKS`] mined to a fresh faucet key.
    pub fn new() -> Self {
        let state = DevnetState {
            chain: Mutex::new(Chain::new()),
            faucet: Faucet::random(),
            changed: Condvar::new(),
            version: watch::Sender::new(0),
            extra_nonce: AtomicU64::new(0),
            fee_rates: Mutex::new(FeeRates { default: 2.0, steps: Vec::new() }),
        };
        let faucet_script = state.faucet.script();
        state.mine(INITIAL_BLOCKS, Some(faucet_script));
        state
    }

    /// Read access to the chain.
    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver that sees every change to the chain or the mempool (the Electrum server's
    /// notifications wait on it).
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// How many changes the chain and the mempool have seen (bitcoind's `mempool_sequence`,
    /// roughly: it grows with every change).
    pub(crate) fn changes_seen(&self) -> u64 {
        *self.version.borrow()
    }

    /// Runs `f` on the chain and wakes everyone waiting for a change.
    fn modify<R>(&self, f: impl FnOnce(&mut Chain) -> R) -> R {
        let result = f(&mut self.chain());
        self.version.send_modify(|v| *v += 1);
        self.changed.notify_all();
        result
    }

    /// Mines `count` blocks paying `payout` (a fresh throwaway key when `None`).
    pub fn mine(&self, count: u32, payout: Option<ScriptBuf>) -> Vec<BlockHash> {
        self.mine_blocks(count, payout, false)
    }

    /// Mines `count` blocks holding only their coinbase, leaving the mempool waiting: a
    /// competing chain after [`DevnetState::invalidate`] that does not re-confirm anything.
    pub fn mine_empty(&self, count: u32) -> Vec<BlockHash> {
        self.mine_blocks(count, None, true)
    }

    fn mine_blocks(&self, count: u32, payout: Option<ScriptBuf>, empty: bool) -> Vec<BlockHash> {
        let payout = payout.unwrap_or_else(throwaway_script);
        self.modify(|chain| {
            (0..count)
                .map(|_| {
                    let nonce = self.extra_nonce.fetch_add(1, Ordering::Relaxed);
                    chain.mine_block(&payout, nonce, empty)
                })
                .collect()
        })
    }

    /// Sends `amount` from the faucet to `script` (into the mempool; mine to confirm).
    pub fn fund(&self, script: ScriptBuf, amount: Amount) -> Result<Txid, FundError> {
        let result = self.modify(|chain| chain.fund(&self.faucet, script, amount));
        match &result {
            Ok(txid) => log::info!("devnet: funded {} sat in {txid}", amount.to_sat()),
            Err(e) => log::warn!("devnet: funding failed: {e}"),
        }
        result
    }

    /// Submits a transaction to the mempool, as `POST /tx` does.
    pub fn broadcast(&self, tx: Transaction) -> Result<Txid, Rejection> {
        let txid = tx.compute_txid();
        let result = self.modify(|chain| chain.accept_to_mempool(tx));
        if let Err(reason) = &result {
            log::warn!("devnet: rejected transaction {txid}: {reason}");
        }
        result
    }

    /// Disconnects the last `count` blocks (never the genesis block); their transactions go
    /// back to the mempool where still valid. Returns the hashes that left the best chain.
    pub fn invalidate(&self, count: u32) -> Vec<BlockHash> {
        self.modify(|chain| {
            let mut removed = Vec::new();
            let mut replay = Vec::new();
            for _ in 0..count {
                let hash = chain.tip_hash();
                let Some(txs) = chain.disconnect_tip() else { break };
                removed.push(hash);
                replay.splice(0..0, txs);
            }
            chain.revalidate_mempool(replay);
            removed
        })
    }

    /// The faucet, for tests that need to sign their own transactions.
    pub fn faucet(&self) -> &Faucet {
        &self.faucet
    }

    /// The fee rate `/fee-estimates` answers for targets without one of their own.
    pub fn fee_rate(&self) -> f64 {
        self.fee_rates().default
    }

    /// Has every `/fee-estimates` target answer `sat_per_vb` (the rates per target go).
    pub fn set_fee_rate(&self, sat_per_vb: f64) {
        *self.fee_rates() = FeeRates { default: sat_per_vb, steps: Vec::new() };
    }

    /// Has `/fee-estimates` answer per target, as a real mempool does (faster costs more):
    /// each `(target, rate)` holds from that target up to the next one given; targets below
    /// all of them answer `default`. E.g. `(2.0, [(1, 20.0), (6, 8.0), (144, 3.0)])`: 20 sat/vB
    /// for the next block, 8 for 6 to 143 blocks, 3 from 144 on.
    pub fn set_fee_rates(&self, default: f64, by_target: &[(u16, f64)]) {
        let mut steps = by_target.to_vec();
        steps.sort_by_key(|(target, _)| *target);
        *self.fee_rates() = FeeRates { default, steps };
    }

    /// The rate `/fee-estimates` answers for `target` blocks.
    pub fn fee_rate_for(&self, target: u16) -> f64 {
        let rates = self.fee_rates();
        rates.steps.iter().rev().find(|(t, _)| *t <= target).map_or(rates.default, |(_, r)| *r)
    }

    fn fee_rates(&self) -> MutexGuard<'_, FeeRates> {
        self.fee_rates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until `condition` holds on the chain or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, condition: impl Fn(&Chain) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chain = self.chain();
        loop {
            if condition(&chain) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            chain = match self.changed.wait_timeout(chain, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The async form of [`DevnetState::wait_until`], for the HTTP control API.
    pub async fn wait_until_async(
        &self,
        timeout: Duration,
        condition: impl Fn(&Chain) -> bool,
    ) -> bool {
        let mut rx = self.version.subscribe();
        let wait = async {
            loop {
                if condition(&self.chain()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok() && condition(&self.chain())
    }
}

impl Default for DevnetState {
    fn default() -> Self {
        Self::new()
    }
}

fn throwaway_script() -> ScriptBuf {
    let secp = Secp256k1::signing_only();
    let key = CompressedPublicKey(SecretKey::new(&mut rand::thread_rng()).public_key(&secp));
    ScriptBuf::new_p2wpkh(&key.wpubkey_hash())
}
