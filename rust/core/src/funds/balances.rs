//! What the wallet holds, in the terms a send/receive screen needs, each sat counted once.
//!
//! ldk-node reports three views that overlap: the on-chain wallet (BDK), each channel
//! monitor's claimable balances, and the output sweeper's tracked outputs. A closed channel's
//! funds move from a monitor (to the sweeper) to the on-chain wallet, and the earlier view
//! keeps reporting them after the later one holds them: a cooperative close's output stays a
//! monitor balance until it is 6 blocks deep, a confirmed sweep stays tracked for 4 038 blocks,
//! and a closing transaction waiting in the mempool is both a monitor balance and an
//! unconfirmed on-chain receive. [`account`] takes each balance once, in the first of these
//! places that holds it: the on-chain wallet, then the open channels, then `pending_sat`.

use std::collections::HashSet;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::Txid;
use ldk_node::lightning::chain::channelmonitor::{BalanceSource, ANTI_REORG_DELAY};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::payment::{ConfirmationStatus, PaymentDirection, PaymentKind};
use ldk_node::{LightningBalance, Node, PendingSweepBalance};

use crate::error::WalletError;
use crate::pay::receive::receivable_msat;
use crate::store::history::History;
use crate::wallet::Wallet;

/// The wallet's balances, in satoshis.
///
/// Each sat the wallet owns or has coming is in exactly one of `lightning_sat`,
/// `onchain_confirmed_sat`, `onchain_unconfirmed_sat` and `pending_sat`: their sum is the
/// wallet's total. The other fields say what can be done with the funds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Balances {
    /// The wallet's balance in its open channels, channel reserves included: what closing them
    /// now would return (the LSP pays the closing fee of the channels it opened). Payments in
    /// flight are in `pending_sat` until they settle.
    pub lightning_sat: u64,
    /// What can be sent over Lightning now: outbound capacity of usable channels.
    pub lightning_spendable_sat: u64,
    /// What can be received over existing channels now (more arrives through a JIT channel):
    /// over each usable channel, its inbound capacity up to the value the wallet accepts in
    /// flight on it at once (a tenth of a channel from an additional LSP), summed. One BOLT 11
    /// invoice of [`Wallet::receive_bolt11`] uses one channel: the largest of these terms.
    pub lightning_inbound_sat: u64,
    /// The largest single payment the channels can carry now, split over all of them, before
    /// routing fees.
    pub max_sendable_lightning_sat: u64,
    /// Confirmed on-chain funds (including any reserve kept for channel fee bumps, and change
    /// of the wallet's own transactions awaiting confirmation).
    pub onchain_confirmed_sat: u64,
    /// On-chain funds received but not yet confirmed, a cooperative close's output included.
    pub onchain_unconfirmed_sat: u64,
    /// On-chain funds that can be spent now.
    pub onchain_spendable_sat: u64,
    /// Funds on their way that neither the channels nor the on-chain wallet hold yet: payments
    /// in flight over the channels, and the balance of a closed channel until its transaction
    /// reaches the on-chain wallet (a force close's timelock, a sweep, a closing transaction
    /// the wallet has not seen yet). Counted before the fee of the transaction that brings them
    /// on-chain; from then on they are in the on-chain fields.
    pub pending_sat: u64,
}

impl Wallet {
    /// The balances now, as of the last sync (see [`Balances`] for what adds up to what).
    pub fn balances(&self) -> Result<Balances, WalletError> {
        let node = self.inner.node()?;
        let details = node.list_balances();
        let channels = node.list_channels();
        let usable: Vec<_> = channels.iter().filter(|c| c.is_usable).collect();
        let lightning_spendable_msat: u64 = usable.iter().map(|c| c.outbound_capacity_msat).sum();
        // Not the inbound capacity alone: a payment over a channel is bounded by the wallet's
        // in-flight limit on it as well (see `receivable_msat`).
        let inbound_msat: u64 = usable.iter().map(|c| receivable_msat(c)).sum();
        let sendable_msat: u64 = usable.iter().map(|c| c.next_outbound_htlc_limit_msat).sum();
        let open: HashSet<ChannelId> = channels.iter().map(|c| c.channel_id).collect();
        let storage_dir = self.inner.storage_dir();
        let split = account(
            &details.lightning_balances,
            &details.pending_balances_from_channel_closures,
            &open,
            node.status().current_best_block.height,
            &mut NodeRecords::new(&node, &storage_dir),
        );
        let unconfirmed = details
            .total_onchain_balance_sats
            .saturating_sub(details.spendable_onchain_balance_sats)
            .saturating_sub(details.total_anchor_channels_reserve_sats);
        Ok(Balances {
            lightning_sat: split.lightning_sat,
            lightning_spendable_sat: lightning_spendable_msat / 1000,
            lightning_inbound_sat: inbound_msat / 1000,
            max_sendable_lightning_sat: sendable_msat / 1000,
            onchain_confirmed_sat: details.total_onchain_balance_sats - unconfirmed,
            onchain_unconfirmed_sat: unconfirmed,
            onchain_spendable_sat: details.spendable_onchain_balance_sats,
            pending_sat: split.pending_sat,
        })
    }
}

/// The channel-side balances, split between open channels and funds on their way.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) lightning_sat: u64,
    pub(crate) pending_sat: u64,
}

/// Where the on-chain wallet should hold a cooperative close's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseOutput {
    /// The monitors have not seen the closing transaction in a block up to this height: the
    /// wallet holds the output if it saw the transaction unconfirmed, or in a later block.
    NotInBlockUpTo(u32),
    /// The monitor saw the closing transaction confirm at this height.
    ConfirmedAt(u32),
}

/// What the on-chain wallet holds, as far as [`account`] needs to know.
pub(crate) trait OnchainRecords {
    /// Whether the on-chain wallet has seen `txid` (in the mempool or in a block).
    fn has_tx(&mut self, txid: &Txid) -> bool;
    /// Whether the on-chain wallet has a receive of exactly `amount_sat` where `at` says a
    /// cooperative close's output would be, not already taken for another close; takes it.
    fn take_close_output(&mut self, amount_sat: u64, at: CloseOutput) -> bool;
}

/// Splits the monitors' and the sweeper's balances between open channels and `pending_sat`,
/// leaving out what the on-chain wallet already holds. `monitor_height` is the best block the
/// monitors have seen.
///
/// - A channel that is still open: its balance is Lightning; its HTLCs are in flight.
/// - A cooperative close pays the wallet's own address: once the on-chain wallet has that
///   transaction, mempool or block, the output is on-chain. LDK does not say which transaction
///   closed the channel, so the output is recognised as the receive of exactly the channel's
///   balance where the close is (unconfirmed or in the block LDK saw). This is exact for the
///   channels a phone has (the LSP opened them and pays the closing fee); a close the wallet
///   paid for would be counted in `pending_sat` as well until 6 blocks deep.
/// - A force close's outputs (timelocked, or HTLCs) reach the wallet only through a sweep: they
///   are pending until the on-chain wallet has the sweep's transaction, then on-chain.
/// - Except what LDK claims from the peer's commitment transaction (an HTLC, or all of a
///   revoked one) straight to the wallet's address: LDK's balance does not say which
///   commitment confirmed, so that claim is counted in `pending_sat` as well until 6 blocks
///   deep.
pub(crate) fn account(
    lightning: &[LightningBalance],
    sweeps: &[PendingSweepBalance],
    open: &HashSet<ChannelId>,
    monitor_height: u32,
    onchain: &mut impl OnchainRecords,
) -> Split {
    let mut split = Split::default();
    for balance in lightning {
        match balance {
            LightningBalance::ClaimableOnChannelClose { channel_id, amount_satoshis, .. } => {
                if open.contains(channel_id) {
                    split.lightning_sat += amount_satoshis;
                } else {
                    let at = CloseOutput::NotInBlockUpTo(monitor_height);
                    if !onchain.take_close_output(*amount_satoshis, at) {
                        log::debug!("pending: a closed channel's balance: {balance:?}");
                        split.pending_sat += amount_satoshis;
                    }
                }
            }
            LightningBalance::ClaimableAwaitingConfirmations {
                amount_satoshis,
                confirmation_height,
                source,
                ..
            } => {
                let in_wallet = *source == BalanceSource::CoopClose && {
                    let height =
                        confirmation_height.saturating_add(1).saturating_sub(ANTI_REORG_DELAY);
                    onchain.take_close_output(*amount_satoshis, CloseOutput::ConfirmedAt(height))
                };
                if !in_wallet {
                    log::debug!("pending: {balance:?}");
                    split.pending_sat += amount_satoshis;
                }
            }
            LightningBalance::ContentiousClaimable { amount_satoshis, .. }
            | LightningBalance::MaybeTimeoutClaimableHTLC { amount_satoshis, .. }
            | LightningBalance::MaybePreimageClaimableHTLC { amount_satoshis, .. }
            | LightningBalance::CounterpartyRevokedOutputClaimable { amount_satoshis, .. } => {
                log::debug!("pending: {balance:?}");
                split.pending_sat += amount_satoshis;
            }
        }
    }
    for sweep in sweeps {
        match sweep {
            PendingSweepBalance::PendingBroadcast { amount_satoshis, .. } => {
                split.pending_sat += amount_satoshis;
            }
            PendingSweepBalance::BroadcastAwaitingConfirmation {
                latest_spending_txid,
                amount_satoshis,
                ..
            }
            | PendingSweepBalance::AwaitingThresholdConfirmations {
                latest_spending_txid,
                amount_satoshis,
                ..
            } => {
                if !onchain.has_tx(latest_spending_txid) {
                    split.pending_sat += amount_satoshis;
                }
            }
        }
    }
    split
}

/// The on-chain wallet's transactions as ldk-node records them: one payment per transaction of
/// the wallet, its id the txid's bytes, its amount what the transaction moved. Doze's history
/// keeps those ldk-node has since dropped (`store/node_payments.rs`). Read only when needed.
struct NodeRecords<'a> {
    node: &'a Node,
    storage_dir: &'a std::path::Path,
    receives: Option<Vec<(u64, Option<u32>)>>,
    history: Option<Option<History>>,
}

impl<'a> NodeRecords<'a> {
    fn new(node: &'a Node, storage_dir: &'a std::path::Path) -> Self {
        NodeRecords { node, storage_dir, receives: None, history: None }
    }

    /// The wallet's receives: amount (msat) and confirmation height, if confirmed.
    fn receives(&mut self) -> &mut Vec<(u64, Option<u32>)> {
        let node = self.node;
        self.receives.get_or_insert_with(|| {
            node.list_payments_with_filter(|p| p.direction == PaymentDirection::Inbound)
                .iter()
                .filter_map(|p| match (&p.kind, p.amount_msat) {
                    (PaymentKind::Onchain { status, .. }, Some(amount)) => Some((
                        amount,
                        match status {
                            ConfirmationStatus::Confirmed { height, .. } => Some(*height),
                            ConfirmationStatus::Unconfirmed => None,
                        },
                    )),
                    _ => None,
                })
                .collect()
        })
    }
}

impl OnchainRecords for NodeRecords<'_> {
    fn has_tx(&mut self, txid: &Txid) -> bool {
        let id = PaymentId(txid.to_byte_array());
        if self.node.payment(&id).is_some_and(|p| matches!(p.kind, PaymentKind::Onchain { .. })) {
            return true;
        }
        let storage_dir = self.storage_dir;
        let history = self.history.get_or_insert_with(|| {
            History::open(storage_dir)
                .map_err(|e| log::warn!("balances without the history's transactions: {e}"))
                .ok()
        });
        history.as_ref().is_some_and(|h| {
            h.payment(&id.0.to_lower_hex_string()).ok().flatten().is_some_and(|p| {
                p.kind == crate::store::payments::PaymentKind::Onchain
                    && p.status != crate::store::payments::PaymentStatus::Failed
            })
        })
    }

    fn take_close_output(&mut self, amount_sat: u64, at: CloseOutput) -> bool {
        let receives = self.receives();
        take_receive(receives, amount_sat, at)
    }
}

/// Takes from `receives` (amount in msat, confirmation height) one that is the output
/// `amount_sat` of a cooperative close `at`.
fn take_receive(receives: &mut Vec<(u64, Option<u32>)>, amount_sat: u64, at: CloseOutput) -> bool {
    let found = receives.iter().position(|(amount_msat, height)| {
        *amount_msat == amount_sat.saturating_mul(1000)
            && match (at, height) {
                (_, None) => true,
                (CloseOutput::NotInBlockUpTo(seen), Some(h)) => *h > seen,
                (CloseOutput::ConfirmedAt(at), Some(h)) => *h == at,
            }
    });
    found.map(|i| receives.swap_remove(i)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use ldk_node::bitcoin::BlockHash;

    /// The on-chain wallet of a test: the transactions it has, and its receives.
    #[derive(Default)]
    struct Records {
        txs: HashSet<Txid>,
        receives: Vec<(u64, Option<u32>)>,
    }

    impl OnchainRecords for Records {
        fn has_tx(&mut self, txid: &Txid) -> bool {
            self.txs.contains(txid)
        }

        fn take_close_output(&mut self, amount_sat: u64, at: CloseOutput) -> bool {
            take_receive(&mut self.receives, amount_sat, at)
        }
    }

    fn peer() -> PublicKey {
        let key = SecretKey::from_slice(&[7; 32]).unwrap();
        PublicKey::from_secret_key(&Secp256k1::new(), &key)
    }

    fn channel(n: u8) -> ChannelId {
        ChannelId([n; 32])
    }

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }

    fn on_close(channel_id: ChannelId, amount_satoshis: u64) -> LightningBalance {
        LightningBalance::ClaimableOnChannelClose {
            channel_id,
            counterparty_node_id: peer(),
            amount_satoshis,
            transaction_fee_satoshis: 0,
            outbound_payment_htlc_rounded_msat: 0,
            outbound_forwarded_htlc_rounded_msat: 0,
            inbound_claiming_htlc_rounded_msat: 0,
            inbound_htlc_rounded_msat: 0,
        }
    }

    fn awaiting(
        amount_satoshis: u64,
        confirmation_height: u32,
        source: BalanceSource,
    ) -> LightningBalance {
        LightningBalance::ClaimableAwaitingConfirmations {
            channel_id: channel(1),
            counterparty_node_id: peer(),
            amount_satoshis,
            confirmation_height,
            source,
        }
    }

    fn split(
        lightning: &[LightningBalance],
        sweeps: &[PendingSweepBalance],
        open: &[ChannelId],
        records: &mut Records,
    ) -> (u64, u64) {
        let open = open.iter().copied().collect();
        let s = account(lightning, sweeps, &open, 200, records);
        (s.lightning_sat, s.pending_sat)
    }

    #[test]
    fn an_open_channel_is_lightning_and_its_htlcs_are_in_flight() {
        let htlc = LightningBalance::MaybeTimeoutClaimableHTLC {
            channel_id: channel(1),
            counterparty_node_id: peer(),
            amount_satoshis: 2_000,
            claimable_height: 300,
            payment_hash: ldk_node::lightning::types::payment::PaymentHash([1; 32]),
            outbound_payment: true,
        };
        let mut records = Records::default();
        let got = split(&[on_close(channel(1), 40_000), htlc], &[], &[channel(1)], &mut records);
        assert_eq!(got, (40_000, 2_000));
    }

    #[test]
    fn a_cooperative_close_is_counted_once_from_the_mempool_to_six_blocks_deep() {
        let closed = [on_close(channel(1), 86_999)];
        // Closed, the closing transaction not seen by the on-chain wallet yet: on its way.
        assert_eq!(split(&closed, &[], &[], &mut Records::default()), (0, 86_999));
        // An older receive of the same amount, in a block the monitors have seen, is not it.
        let mut old = Records { receives: vec![(86_999_000, Some(150))], ..Records::default() };
        assert_eq!(split(&closed, &[], &[], &mut old), (0, 86_999));
        // In the mempool, or in a block the monitors have not seen yet: on-chain only.
        for height in [None, Some(201)] {
            let mut seen = Records { receives: vec![(86_999_000, height)], ..Records::default() };
            assert_eq!(split(&closed, &[], &[], &mut seen), (0, 0), "{height:?}");
        }
        // Confirmed at 200: the monitor waits until 205 and the wallet has it.
        let confirmed = [awaiting(86_999, 205, BalanceSource::CoopClose)];
        let mut wallet = Records { receives: vec![(86_999_000, Some(200))], ..Records::default() };
        assert_eq!(split(&confirmed, &[], &[], &mut wallet), (0, 0));
        // ... but not another receive of the amount at another height.
        let mut other = Records { receives: vec![(86_999_000, Some(199))], ..Records::default() };
        assert_eq!(split(&confirmed, &[], &[], &mut other), (0, 86_999));
    }

    #[test]
    fn one_receive_stands_for_one_close_only() {
        let closed = [on_close(channel(1), 10_000), on_close(channel(2), 10_000)];
        let mut records = Records { receives: vec![(10_000_000, None)], ..Records::default() };
        assert_eq!(split(&closed, &[], &[], &mut records), (0, 10_000));
    }

    #[test]
    fn a_force_close_is_pending_until_the_wallet_has_its_sweep() {
        let timelocked = [awaiting(58_000, 344, BalanceSource::HolderForceClosed)];
        let mut records = Records { receives: vec![(58_000_000, None)], ..Records::default() };
        assert_eq!(split(&timelocked, &[], &[], &mut records), (0, 58_000));

        let unswept =
            PendingSweepBalance::PendingBroadcast { channel_id: None, amount_satoshis: 58_000 };
        let broadcast = PendingSweepBalance::BroadcastAwaitingConfirmation {
            channel_id: None,
            latest_broadcast_height: 345,
            latest_spending_txid: txid(9),
            amount_satoshis: 58_000,
        };
        let confirmed = PendingSweepBalance::AwaitingThresholdConfirmations {
            channel_id: None,
            latest_spending_txid: txid(9),
            confirmation_hash: BlockHash::all_zeros(),
            confirmation_height: 346,
            amount_satoshis: 58_000,
        };
        let mut unseen = Records::default();
        for sweep in [&unswept, &broadcast, &confirmed] {
            assert_eq!(split(&[], std::slice::from_ref(sweep), &[], &mut unseen), (0, 58_000));
        }
        // The wallet has the sweep (57 889 sat after its fee): on-chain only, for good.
        let mut seen = Records { txs: [txid(9)].into(), ..Records::default() };
        assert_eq!(split(&[], &[unswept], &[], &mut seen), (0, 58_000));
        assert_eq!(split(&[], &[broadcast], &[], &mut seen), (0, 0));
        assert_eq!(split(&[], &[confirmed], &[], &mut seen), (0, 0));
    }
}
