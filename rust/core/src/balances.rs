//! What the wallet holds, in the terms a send/receive screen needs.

use ldk_node::{LightningBalance, PendingSweepBalance};

use crate::error::WalletError;
use crate::wallet::Wallet;

/// The wallet's balances, in satoshis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Balances {
    /// What can be sent over Lightning now: outbound capacity of usable channels.
    pub lightning_spendable_sat: u64,
    /// What can be received over existing channels now (more arrives through a JIT channel).
    pub lightning_inbound_sat: u64,
    /// The largest single payment the channels can carry now, split over all of them, before
    /// routing fees.
    pub max_sendable_lightning_sat: u64,
    /// Confirmed on-chain funds (including any reserve kept for channel fee bumps).
    pub onchain_confirmed_sat: u64,
    /// On-chain funds received but not yet confirmed.
    pub onchain_unconfirmed_sat: u64,
    /// On-chain funds that can be spent now.
    pub onchain_spendable_sat: u64,
    /// Funds on their way back from closed channels (claims and sweeps awaiting confirmation).
    pub pending_sat: u64,
}

impl Wallet {
    /// The balances now.
    pub fn balances(&self) -> Result<Balances, WalletError> {
        let node = self.inner.node()?;
        let details = node.list_balances();
        let usable: Vec<_> = node.list_channels().into_iter().filter(|c| c.is_usable).collect();
        let lightning_spendable_msat: u64 = usable.iter().map(|c| c.outbound_capacity_msat).sum();
        let inbound_msat: u64 = usable.iter().map(|c| c.inbound_capacity_msat).sum();
        let sendable_msat: u64 = usable.iter().map(|c| c.next_outbound_htlc_limit_msat).sum();
        let closing: u64 = details
            .lightning_balances
            .iter()
            .filter_map(|b| match b {
                LightningBalance::ClaimableOnChannelClose { .. } => None,
                LightningBalance::ClaimableAwaitingConfirmations { amount_satoshis, .. }
                | LightningBalance::ContentiousClaimable { amount_satoshis, .. }
                | LightningBalance::MaybeTimeoutClaimableHTLC { amount_satoshis, .. }
                | LightningBalance::MaybePreimageClaimableHTLC { amount_satoshis, .. }
                | LightningBalance::CounterpartyRevokedOutputClaimable {
                    amount_satoshis, ..
                } => Some(*amount_satoshis),
            })
            .sum();
        let sweeping: u64 = details
            .pending_balances_from_channel_closures
            .iter()
            .map(|b| match b {
                PendingSweepBalance::PendingBroadcast { amount_satoshis, .. }
                | PendingSweepBalance::BroadcastAwaitingConfirmation { amount_satoshis, .. }
                | PendingSweepBalance::AwaitingThresholdConfirmations { amount_satoshis, .. } => {
                    *amount_satoshis
                }
            })
            .sum();
        let unconfirmed = details
            .total_onchain_balance_sats
            .saturating_sub(details.spendable_onchain_balance_sats)
            .saturating_sub(details.total_anchor_channels_reserve_sats);
        Ok(Balances {
            lightning_spendable_sat: lightning_spendable_msat / 1000,
            lightning_inbound_sat: inbound_msat / 1000,
            max_sendable_lightning_sat: sendable_msat / 1000,
            onchain_confirmed_sat: details.total_onchain_balance_sats - unconfirmed,
            onchain_unconfirmed_sat: unconfirmed,
            onchain_spendable_sat: details.spendable_onchain_balance_sats,
            pending_sat: closing + sweeping,
        })
    }
}
