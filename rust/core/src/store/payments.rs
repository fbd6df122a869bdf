//! Payments as apps see them: the records, their conversion from ldk-node's, and bringing the
//! history up to date with the node's records ([`reconcile`]). The listing calls are in
//! `funds/payments.rs`.

use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::payment::{
    ConfirmationStatus, PaymentDetails, PaymentDirection as NodeDirection, PaymentKind as NodeKind,
    PaymentStatus as NodeStatus,
};
use ldk_node::PendingSweepBalance;

use crate::error::WalletError;
use crate::store::history::History;

/// Which way money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentDirection {
    /// To this wallet.
    Inbound,
    /// From this wallet.
    Outbound,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentStatus {
    /// In flight (or an unpaid invoice; on-chain: not in a block yet).
    Pending,
    /// Done (on-chain: in a block; a reorganisation can make it pending again).
    Succeeded,
    /// Failed; no money moved.
    Failed,
}

/// How the payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentKind {
    /// An on-chain transaction.
    Onchain,
    /// A BOLT11 invoice.
    Bolt11,
    /// A BOLT11 invoice paid into a just-in-time channel from the LSP.
    Bolt11Jit,
    /// A BOLT12 offer.
    Bolt12Offer,
    /// A BOLT12 refund.
    Bolt12Refund,
    /// A keysend payment.
    Spontaneous,
}

/// One payment in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentInfo {
    /// Stable id (hex).
    pub id: String,
    /// How it was made.
    pub kind: PaymentKind,
    /// Which way.
    pub direction: PaymentDirection,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Amount, if known (an amountless invoice not yet paid has none). On-chain: what the
    /// transaction paid the wallet (inbound) or sent away (outbound), fees not included.
    pub amount_msat: Option<u64>,
    /// Fees paid (outbound, and a sweep of a closed channel's funds) or taken by the LSP (JIT
    /// inbound), if known. None for an on-chain receive: its sender paid the fee.
    pub fee_msat: Option<u64>,
    /// The payment hash (hex), for Lightning payments.
    pub payment_hash: Option<String>,
    /// The transaction id, for on-chain payments.
    pub txid: Option<String>,
    /// When the wallet first saw it, seconds since the Unix epoch.
    pub created_at_secs: u64,
    /// Last change, seconds since the Unix epoch.
    pub updated_at_secs: u64,
    /// What the wallet paid (the invoice, offer, address or node id given to `prepare_send`),
    /// for payments sent through a quote. Only `Wallet.list_payments_page` fills it in (from
    /// the wallet's own history); `Wallet.list_payments` reads the node's, which lacks it.
    pub request: Option<String>,
}

impl From<&PaymentDetails> for PaymentInfo {
    fn from(p: &PaymentDetails) -> Self {
        let (kind, payment_hash, txid, lsp_fee) = match &p.kind {
            NodeKind::Onchain { txid, .. } => {
                (PaymentKind::Onchain, None, Some(txid.to_string()), None)
            }
            NodeKind::Bolt11 { hash, .. } => {
                (PaymentKind::Bolt11, Some(hash.0.to_lower_hex_string()), None, None)
            }
            NodeKind::Bolt11Jit { hash, counterparty_skimmed_fee_msat, .. } => (
                PaymentKind::Bolt11Jit,
                Some(hash.0.to_lower_hex_string()),
                None,
                *counterparty_skimmed_fee_msat,
            ),
            NodeKind::Bolt12Offer { hash, .. } => {
                (PaymentKind::Bolt12Offer, hash.map(|h| h.0.to_lower_hex_string()), None, None)
            }
            NodeKind::Bolt12Refund { hash, .. } => {
                (PaymentKind::Bolt12Refund, hash.map(|h| h.0.to_lower_hex_string()), None, None)
            }
            NodeKind::Spontaneous { hash, .. } => {
                (PaymentKind::Spontaneous, Some(hash.0.to_lower_hex_string()), None, None)
            }
        };
        PaymentInfo {
            id: p.id.0.to_lower_hex_string(),
            kind,
            direction: match p.direction {
                NodeDirection::Inbound => PaymentDirection::Inbound,
                NodeDirection::Outbound => PaymentDirection::Outbound,
            },
            status: match (p.status, &p.kind) {
                // ldk-node calls an on-chain payment pending until 6 blocks deep; the balances
                // count it as confirmed from the first, and so does the history.
                (NodeStatus::Failed, _) => PaymentStatus::Failed,
                (_, NodeKind::Onchain { status: ConfirmationStatus::Confirmed { .. }, .. }) => {
                    PaymentStatus::Succeeded
                }
                (_, NodeKind::Onchain { status: ConfirmationStatus::Unconfirmed, .. }) => {
                    PaymentStatus::Pending
                }
                (NodeStatus::Pending, _) => PaymentStatus::Pending,
                (NodeStatus::Succeeded, _) => PaymentStatus::Succeeded,
            },
            amount_msat: p.amount_msat,
            // The sender paid an on-chain receive's fee (see `reconcile` for sweeps).
            fee_msat: match (&p.kind, p.direction) {
                (NodeKind::Onchain { .. }, NodeDirection::Inbound) => None,
                _ => p.fee_paid_msat.or(lsp_fee),
            },
            payment_hash,
            txid,
            // ldk-node keeps no creation time; the history keeps the first sighting.
            created_at_secs: p.latest_update_timestamp,
            updated_at_secs: p.latest_update_timestamp,
            request: None,
        }
    }
}

/// Brings the history up to date with the node's payment store: every payment changed since
/// the newest change the history has (with a minute of slack for clock steps). ldk-node
/// records each transaction of the on-chain wallet there (receives, sends, a cooperative
/// close's payout, a sweep of a closed channel's funds) as it syncs.
pub(crate) fn reconcile(node: &ldk_node::Node, history: &mut History) -> Result<(), WalletError> {
    let since = history.last_update()?.saturating_sub(60);
    let changed = node.list_payments_with_filter(|p| p.latest_update_timestamp >= since);
    let mut infos: Vec<PaymentInfo> = changed.iter().map(PaymentInfo::from).collect();
    let receives = |p: &&PaymentDetails| {
        matches!(p.kind, NodeKind::Onchain { .. }) && p.direction == NodeDirection::Inbound
    };
    if changed.iter().any(|p| receives(&p)) {
        // A sweep is a receive the wallet made itself, from a closed channel's funds: its fee
        // is the wallet's.
        let sweeps = sweep_txids(node);
        for (info, p) in infos.iter_mut().zip(&changed) {
            if let NodeKind::Onchain { txid, .. } = &p.kind {
                if sweeps.contains(txid) {
                    info.fee_msat = p.fee_paid_msat;
                }
            }
        }
    }
    history.upsert_all(&infos)
}

/// The transactions sweeping closed channels' funds to the on-chain wallet that ldk-node's
/// sweeper still tracks (until 4 038 blocks after they confirmed).
fn sweep_txids(node: &ldk_node::Node) -> std::collections::HashSet<ldk_node::bitcoin::Txid> {
    node.list_balances()
        .pending_balances_from_channel_closures
        .into_iter()
        .filter_map(|b| match b {
            PendingSweepBalance::BroadcastAwaitingConfirmation { latest_spending_txid, .. }
            | PendingSweepBalance::AwaitingThresholdConfirmations {
                latest_spending_txid, ..
            } => Some(latest_spending_txid),
            PendingSweepBalance::PendingBroadcast { .. } => None,
        })
        .collect()
}
