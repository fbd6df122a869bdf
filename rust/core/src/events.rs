//! Events for the app: payments and channels from the node, and sync progress.
//!
//! Delivery guarantee: node events come from ldk-node's persisted queue and are marked handled
//! only after the app's [`EventListener`] returned, so a crash or kill between the two delivers
//! the event again on the next start, with the same [`WalletEvent::id`]: an app that remembers
//! the ids it has processed sees each event exactly once. Events are delivered one at a time,
//! in order.

use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::lightning::events::ClosureReason;
use ldk_node::Event;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WalletEventKind {
    /// A payment to this wallet was claimed.
    PaymentReceived {
        /// The payment's id in the history.
        payment_id: String,
        /// The payment hash (hex).
        payment_hash: String,
        /// What arrived, after any LSP fee.
        amount_msat: u64,
    },
    /// A payment from this wallet succeeded.
    PaymentSent {
        /// The payment's id in the history.
        payment_id: String,
        /// The payment hash (hex).
        payment_hash: String,
        /// Routing fees paid.
        fee_paid_msat: Option<u64>,
    },
    /// A payment from this wallet failed; no money left.
    PaymentFailed {
        /// The payment's id in the history.
        payment_id: String,
        /// The payment hash (hex), if known.
        payment_hash: Option<String>,
        /// Why, in words.
        reason: String,
    },
    /// A channel is being opened (waiting for confirmation, or zero-conf from the LSP).
    ChannelPending {
        /// The channel id (hex).
        channel_id: String,
        /// The peer.
        counterparty_node_id: String,
        /// The funding transaction's id (hex). For a channel the LSP opens, the LSP funds and
        /// broadcasts it (a zero-conf channel is usable before it is mined).
        funding_txid: String,
    },
    /// A channel can be used.
    ChannelReady {
        /// The channel id (hex).
        channel_id: String,
        /// The peer, if known.
        counterparty_node_id: Option<String>,
    },
    /// A channel was closed. Its balance goes to the wallet's on-chain funds:
    /// [`crate::Balances::pending_sat`] counts it until the on-chain wallet holds it, and the
    /// history shows the transaction that brings it there after a `sync()`.
    ChannelClosed {
        /// The channel id (hex).
        channel_id: String,
        /// The peer, if known.
        counterparty_node_id: Option<String>,
        /// Why, in words (LDK's, for logs and support; decide on `close_kind`).
        reason: String,
        /// How it closed, and so when its balance is back on-chain.
        close_kind: ChannelCloseKind,
    },
    /// A chain sync started.
    SyncStarted,
    /// A chain sync finished.
    SyncCompleted,
    /// A chain sync failed.
    SyncFailed {
        /// Why.
        message: String,
    },
    /// Another device restored this wallet and runs its channels now: this one stopped its
    /// node (before anything it did after the takeover reached a peer) and refuses to run it
    /// ([`crate::WalletError::WalletMoved`]). Tell the user to use the other device, or to
    /// remove the wallet from this one.
    WalletMoved,
    /// The node stopped because its store could not be written (the backup server could not
    /// be reached, the disk is full): nothing written after that counted, and nothing that
    /// depended on it reached a peer. `start()` runs the wallet again once the cause is gone.
    StoppedOnError {
        /// Why, in words.
        message: String,
    },
}

/// How a channel closed: what the app tells the user about the channel's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChannelCloseKind {
    /// Both sides signed a closing transaction (whoever asked): the balance is in the
    /// on-chain wallet as soon as that transaction is, spendable once it confirms.
    Cooperative,
    /// This wallet's node put its commitment transaction on-chain (the app force-closed, or
    /// the node did to protect a payment or after an error): the balance comes back after the
    /// channel's timelock, about a day, less the fee of the sweep that brings it back.
    ForcedByUs,
    /// The peer put its commitment transaction on-chain: the balance comes back a few blocks
    /// after that transaction confirms, less the fee of the sweep that brings it back.
    ForcedByPeer,
    /// Closed before it held any funds (never funded, or the funding never confirmed):
    /// nothing comes back.
    Unfunded,
}

impl From<&ClosureReason> for ChannelCloseKind {
    fn from(reason: &ClosureReason) -> Self {
        match reason {
            ClosureReason::LegacyCooperativeClosure
            | ClosureReason::CounterpartyInitiatedCooperativeClosure
            | ClosureReason::LocallyInitiatedCooperativeClosure => ChannelCloseKind::Cooperative,
            ClosureReason::HolderForceClosed { broadcasted_latest_txn: Some(false), .. } => {
                ChannelCloseKind::Unfunded
            }
            ClosureReason::HolderForceClosed { .. }
            | ClosureReason::ProcessingError { .. }
            | ClosureReason::OutdatedChannelManager
            | ClosureReason::HTLCsTimedOut { .. }
            | ClosureReason::PeerFeerateTooLow { .. } => ChannelCloseKind::ForcedByUs,
            ClosureReason::CounterpartyForceClosed { .. }
            | ClosureReason::CommitmentTxConfirmed => ChannelCloseKind::ForcedByPeer,
            ClosureReason::FundingTimedOut
            | ClosureReason::DisconnectedPeer
            | ClosureReason::CounterpartyCoopClosedUnfundedChannel
            | ClosureReason::LocallyCoopClosedUnfundedChannel
            | ClosureReason::FundingBatchClosure => ChannelCloseKind::Unfunded,
        }
    }
}

/// An event with a stable id: the same underlying event always has the same id, across
/// restarts and redeliveries, so an app that remembers the ids it processed sees each event
/// exactly once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WalletEvent {
    /// Stable identifier, e.g. `payment-received:<payment id>`.
    pub id: String,
    /// What happened.
    pub kind: WalletEventKind,
}

/// Receives the wallet's events; implemented by the app. Called from a background thread, one
/// event at a time: return when the event is safely processed (the node then forgets it).
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: WalletEvent);
}

/// Converts a node event; `None` for events apps have no use for (they are still handled).
pub(crate) fn from_node_event(event: &Event) -> Option<WalletEvent> {
    let (id, kind) = match event {
        Event::PaymentReceived { payment_id, payment_hash, amount_msat, .. } => {
            let payment_id = payment_id
                .map(|p| p.0.to_lower_hex_string())
                .unwrap_or_else(|| payment_hash.0.to_lower_hex_string());
            (
                format!("payment-received:{payment_id}"),
                WalletEventKind::PaymentReceived {
                    payment_id,
                    payment_hash: payment_hash.0.to_lower_hex_string(),
                    amount_msat: *amount_msat,
                },
            )
        }
        Event::PaymentSuccessful { payment_id, payment_hash, fee_paid_msat, .. } => {
            let payment_id = payment_id
                .map(|p| p.0.to_lower_hex_string())
                .unwrap_or_else(|| payment_hash.0.to_lower_hex_string());
            (
                format!("payment-sent:{payment_id}"),
                WalletEventKind::PaymentSent {
                    payment_id,
                    payment_hash: payment_hash.0.to_lower_hex_string(),
                    fee_paid_msat: *fee_paid_msat,
                },
            )
        }
        Event::PaymentFailed { payment_id, payment_hash, reason } => {
            let payment_id = payment_id
                .map(|p| p.0.to_lower_hex_string())
                .or_else(|| payment_hash.map(|h| h.0.to_lower_hex_string()))
                .unwrap_or_default();
            (
                format!("payment-failed:{payment_id}"),
                WalletEventKind::PaymentFailed {
                    payment_id,
                    payment_hash: payment_hash.map(|h| h.0.to_lower_hex_string()),
                    reason: reason.map(|r| format!("{r:?}")).unwrap_or_else(|| "unknown".into()),
                },
            )
        }
        Event::ChannelPending { channel_id, counterparty_node_id, funding_txo, .. } => (
            format!("channel-pending:{channel_id}"),
            WalletEventKind::ChannelPending {
                channel_id: channel_id.to_string(),
                counterparty_node_id: counterparty_node_id.to_string(),
                funding_txid: funding_txo.txid.to_string(),
            },
        ),
        Event::ChannelReady { channel_id, counterparty_node_id, .. } => (
            format!("channel-ready:{channel_id}"),
            WalletEventKind::ChannelReady {
                channel_id: channel_id.to_string(),
                counterparty_node_id: counterparty_node_id.map(|n| n.to_string()),
            },
        ),
        Event::ChannelClosed { channel_id, counterparty_node_id, reason, .. } => (
            format!("channel-closed:{channel_id}"),
            WalletEventKind::ChannelClosed {
                channel_id: channel_id.to_string(),
                counterparty_node_id: counterparty_node_id.map(|n| n.to_string()),
                reason: reason.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "unknown".into()),
                // ldk-node 0.2.1 and older kept no reason; Doze never ran on those.
                close_kind: reason
                    .as_ref()
                    .map_or(ChannelCloseKind::ForcedByUs, ChannelCloseKind::from),
            },
        ),
        _ => return None,
    };
    Some(WalletEvent { id, kind })
}
