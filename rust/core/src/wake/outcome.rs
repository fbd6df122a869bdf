//! What a wake did: why it ended, what it received, what it learned of the chain's tip and
//! when each step was reached; the record an app builds its notification from.

/// Why a wake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WakeEnd {
    /// Every held payment that was announced has been received.
    Paid,
    /// The LSP had nothing waiting for this wallet.
    NothingPending,
    /// The deadline came first; anything unfinished completes on a later start.
    Deadline,
    /// The LSP could not be reached before the deadline.
    LspUnreachable,
    /// The app runs the wallet itself and will handle the payment.
    AppHoldsWallet,
    /// The wallet is in a state only the app handles (a channel opening or closing, a payment
    /// the app claims itself): the notification asks the user to open the app. The wake left
    /// everything as the app's node expects to find it.
    NeedsApp,
}

/// A payment received during a wake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WakePayment {
    /// The payment's id in the history.
    pub payment_id: String,
    /// The amount received.
    pub amount_msat: u64,
}

/// What a wake did about the chain's tip. The wallet's channels are stored with the best
/// block the app last synced to, weeks old for a phone that slept for weeks; the wake asks the
/// chain source for the tip (one request, beside the LSP connection) and brings the channels'
/// state up to it before it takes HTLCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChainTipStatus {
    /// The chain had moved on: the wake brought the channels' state up to the tip.
    Advanced,
    /// The stored best block was the chain's tip.
    Current,
    /// The tip was learned but not applied: a channel waits for its funding to confirm, which
    /// only the app's chain sync sees. The app's next start brings everything up to date.
    KeptForApp,
    /// The chain source refused, failed or did not answer in time: the wake went on with the
    /// stored best block (the HTLCs it received are checked against it).
    Unreachable,
    /// Not asked: the wallet's chain source is not an Esplora server.
    #[default]
    NotAsked,
}

/// The chain tip a wake learned, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChainTipCheck {
    /// What came of it.
    pub status: ChainTipStatus,
    /// The height of the best block the wallet's channels were stored with.
    pub stored_height: u32,
    /// The chain's tip, as the chain source reported it.
    pub tip_height: Option<u32>,
    /// Requests sent to the chain source for it.
    pub requests: u32,
    /// Milliseconds from sending the request to its answer or failure (`None`: none sent, or
    /// unanswered when the wake ended).
    pub request_ms: Option<u64>,
    /// Milliseconds arrived HTLCs waited for the tip before they were processed (0 when the
    /// answer came first, as it does unless the chain source is slow).
    pub htlcs_waited_ms: u64,
}

/// Milliseconds from the `handle_push` call to each milestone of a wake (`None`, `null` in
/// Kotlin, `nil` in Swift: not reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WakeTimings {
    /// The push was verified.
    pub verified_ms: u64,
    /// The wallet's channels were loaded (the wake engine opened the store).
    pub node_started_ms: Option<u64>,
    /// The LSP connection was up.
    pub lsp_connected_ms: Option<u64>,
    /// The chain's tip was known (see [`ChainTipCheck`]).
    pub chain_tip_ms: Option<u64>,
    /// A held HTLC was announced to us (the LSP's mailbox flushed).
    pub held_htlc_announced_ms: Option<u64>,
    /// Our `release_held_htlc` was queued.
    pub release_sent_ms: Option<u64>,
    /// The (last) payment was claimed.
    pub payment_received_ms: Option<u64>,
    /// Everything was persisted and the call returned.
    pub total_ms: u64,
}

/// What a wake did, for the app's notification and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WakeOutcome {
    /// Why it ended.
    pub ended: WakeEnd,
    /// Payments received.
    pub payments: Vec<WakePayment>,
    /// A line an app can show as the notification's body.
    pub notification_text: String,
    /// Identifies what this notification is about, so that an app showing the payment from a
    /// wake and again from its own event listener shows it once: the payment's event id, or
    /// the push's signature when nothing was paid.
    pub dedup_key: String,
    /// When each milestone was reached.
    pub timings: WakeTimings,
    /// What the wake learned of the chain's tip (`None`: it did not open the wallet).
    pub chain_tip: Option<ChainTipCheck>,
}
