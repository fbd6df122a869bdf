//! The records and enums apps see, mirroring doze-core's types field for field, with the
//! conversions both ways. (uniffi needs the derives on the types themselves; doze-core stays
//! free of uniffi.)

use doze_core as dc;

// ---------------------------------------------------------------------------------------------
// Configuration

/// The Bitcoin network a wallet runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Network {
    /// Mainnet.
    Bitcoin,
    /// Testnet3.
    Testnet,
    /// Signet.
    Signet,
    /// Local regtest (the devnet).
    Regtest,
}

impl From<Network> for dc::Network {
    fn from(n: Network) -> Self {
        match n {
            Network::Bitcoin => dc::Network::Bitcoin,
            Network::Testnet => dc::Network::Testnet,
            Network::Signet => dc::Network::Signet,
            Network::Regtest => dc::Network::Regtest,
        }
    }
}

/// Where the wallet reads the chain from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ChainSource {
    /// An Esplora HTTP server, e.g. `https://blockstream.info/api`.
    Esplora {
        /// Base URL of the server.
        url: String,
    },
    /// An Electrum server, e.g. `ssl://electrum.blockstream.info:50002`.
    Electrum {
        /// Server URL.
        url: String,
    },
}

impl From<ChainSource> for dc::ChainSource {
    fn from(c: ChainSource) -> Self {
        match c {
            ChainSource::Esplora { url } => dc::ChainSource::Esplora { url },
            ChainSource::Electrum { url } => dc::ChainSource::Electrum { url },
        }
    }
}

/// The Lightning Service Provider the phone opens channels with, receives through, and
/// registers for push notifications with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LspConfig {
    /// The LSP's node id (hex public key).
    pub node_id: String,
    /// The LSP's address, `host:port`.
    pub address: String,
    /// An access token, if the LSP requires one for LSPS2.
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// The LSP's HTTPS API base URL (push registration), e.g. `https://lsp.example.com`.
    #[uniffi(default = None)]
    pub api_url: Option<String>,
}

impl From<LspConfig> for dc::LspConfig {
    fn from(l: LspConfig) -> Self {
        dc::LspConfig { node_id: l.node_id, address: l.address, token: l.token, api_url: l.api_url }
    }
}

/// Everything a wallet needs besides its recovery phrase.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletConfig {
    /// The network.
    pub network: Network,
    /// A directory the wallet owns (the app and its extension share it: an App Group container
    /// on iOS). The node's store and Doze's own files live here; the recovery phrase never does.
    pub storage_dir: String,
    /// Where to read the chain.
    pub chain_source: ChainSource,
    /// The LSP, if any: it opens JIT channels, serves offline offers and pushes wakes.
    #[uniffi(default = None)]
    pub lsp: Option<LspConfig>,
    /// A Rapid Gossip Sync server URL. Without one the phone learns gossip from its peers (its
    /// LSP); production phones should set one.
    #[uniffi(default = None)]
    pub rgs_url: Option<String>,
    /// Whether the node syncs the chain on a timer while running. Apps in the foreground want
    /// this; tests and short wakes call `Wallet.sync()` instead.
    #[uniffi(default = true)]
    pub background_sync: bool,
    /// Other LSPs the wallet keeps channels with (liquidity bought elsewhere, a previous LSP):
    /// kept connected, allowed to open channels without an on-chain reserve, and used by
    /// sends; receiving and pushes still go through `lsp`.
    #[uniffi(default = [])]
    pub additional_lsps: Vec<LspConfig>,
}

impl From<WalletConfig> for dc::WalletConfig {
    fn from(c: WalletConfig) -> Self {
        dc::WalletConfig {
            network: c.network.into(),
            storage_dir: c.storage_dir,
            chain_source: c.chain_source.into(),
            lsp: c.lsp.map(Into::into),
            rgs_url: c.rgs_url,
            background_sync: c.background_sync,
            additional_lsps: c.additional_lsps.into_iter().map(Into::into).collect(),
        }
    }
}

/// How many words a new recovery phrase has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum WordCount {
    /// 12 words (128 bits of entropy).
    Words12,
    /// 24 words (256 bits of entropy).
    Words24,
}

impl From<WordCount> for dc::WordCount {
    fn from(w: WordCount) -> Self {
        match w {
            WordCount::Words12 => dc::WordCount::Words12,
            WordCount::Words24 => dc::WordCount::Words24,
        }
    }
}

/// Where a wallet is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LifecycleState {
    /// Created, never started.
    Created,
    /// The node runs; payments can be made and received.
    Running,
    /// Stopped; `start()` runs it again.
    Stopped,
}

impl From<dc::LifecycleState> for LifecycleState {
    fn from(s: dc::LifecycleState) -> Self {
        match s {
            dc::LifecycleState::Created => LifecycleState::Created,
            dc::LifecycleState::Running => LifecycleState::Running,
            dc::LifecycleState::Stopped => LifecycleState::Stopped,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Balances, receiving, history

/// The wallet's balances, in satoshis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
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

impl From<dc::Balances> for Balances {
    fn from(b: dc::Balances) -> Self {
        Balances {
            lightning_spendable_sat: b.lightning_spendable_sat,
            lightning_inbound_sat: b.lightning_inbound_sat,
            max_sendable_lightning_sat: b.max_sendable_lightning_sat,
            onchain_confirmed_sat: b.onchain_confirmed_sat,
            onchain_unconfirmed_sat: b.onchain_unconfirmed_sat,
            onchain_spendable_sat: b.onchain_spendable_sat,
            pending_sat: b.pending_sat,
        }
    }
}

/// A BOLT11 invoice to show the payer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReceiveInvoice {
    /// The invoice text (show it as a QR code, with `lightning:` for deep links).
    pub bolt11: String,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The amount asked for, if any.
    pub amount_msat: Option<u64>,
    /// Whether the payment will arrive through a new channel from the LSP (which takes its
    /// opening fee from the payment).
    pub via_jit_channel: bool,
    /// When the invoice expires, seconds since the Unix epoch.
    pub expires_at_secs: u64,
}

impl From<dc::ReceiveInvoice> for ReceiveInvoice {
    fn from(r: dc::ReceiveInvoice) -> Self {
        ReceiveInvoice {
            bolt11: r.bolt11,
            payment_hash: r.payment_hash,
            amount_msat: r.amount_msat,
            via_jit_channel: r.via_jit_channel,
            expires_at_secs: r.expires_at_secs,
        }
    }
}

/// Which way money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentDirection {
    /// To this wallet.
    Inbound,
    /// From this wallet.
    Outbound,
}

impl From<dc::PaymentDirection> for PaymentDirection {
    fn from(d: dc::PaymentDirection) -> Self {
        match d {
            dc::PaymentDirection::Inbound => PaymentDirection::Inbound,
            dc::PaymentDirection::Outbound => PaymentDirection::Outbound,
        }
    }
}

impl From<PaymentDirection> for dc::PaymentDirection {
    fn from(d: PaymentDirection) -> Self {
        match d {
            PaymentDirection::Inbound => dc::PaymentDirection::Inbound,
            PaymentDirection::Outbound => dc::PaymentDirection::Outbound,
        }
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentStatus {
    /// In flight (or an unpaid invoice).
    Pending,
    /// Done.
    Succeeded,
    /// Failed; no money moved.
    Failed,
}

impl From<dc::PaymentStatus> for PaymentStatus {
    fn from(s: dc::PaymentStatus) -> Self {
        match s {
            dc::PaymentStatus::Pending => PaymentStatus::Pending,
            dc::PaymentStatus::Succeeded => PaymentStatus::Succeeded,
            dc::PaymentStatus::Failed => PaymentStatus::Failed,
        }
    }
}

impl From<PaymentStatus> for dc::PaymentStatus {
    fn from(s: PaymentStatus) -> Self {
        match s {
            PaymentStatus::Pending => dc::PaymentStatus::Pending,
            PaymentStatus::Succeeded => dc::PaymentStatus::Succeeded,
            PaymentStatus::Failed => dc::PaymentStatus::Failed,
        }
    }
}

/// How the payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

impl From<dc::PaymentKind> for PaymentKind {
    fn from(k: dc::PaymentKind) -> Self {
        match k {
            dc::PaymentKind::Onchain => PaymentKind::Onchain,
            dc::PaymentKind::Bolt11 => PaymentKind::Bolt11,
            dc::PaymentKind::Bolt11Jit => PaymentKind::Bolt11Jit,
            dc::PaymentKind::Bolt12Offer => PaymentKind::Bolt12Offer,
            dc::PaymentKind::Bolt12Refund => PaymentKind::Bolt12Refund,
            dc::PaymentKind::Spontaneous => PaymentKind::Spontaneous,
        }
    }
}

impl From<PaymentKind> for dc::PaymentKind {
    fn from(k: PaymentKind) -> Self {
        match k {
            PaymentKind::Onchain => dc::PaymentKind::Onchain,
            PaymentKind::Bolt11 => dc::PaymentKind::Bolt11,
            PaymentKind::Bolt11Jit => dc::PaymentKind::Bolt11Jit,
            PaymentKind::Bolt12Offer => dc::PaymentKind::Bolt12Offer,
            PaymentKind::Bolt12Refund => dc::PaymentKind::Bolt12Refund,
            PaymentKind::Spontaneous => dc::PaymentKind::Spontaneous,
        }
    }
}

/// One payment in the history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentInfo {
    /// Stable id (hex).
    pub id: String,
    /// How it was made.
    pub kind: PaymentKind,
    /// Which way.
    pub direction: PaymentDirection,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Amount, if known (an amountless invoice not yet paid has none).
    pub amount_msat: Option<u64>,
    /// Fees paid (outbound) or taken by the LSP (JIT inbound), if known.
    pub fee_msat: Option<u64>,
    /// The payment hash (hex), for Lightning payments.
    pub payment_hash: Option<String>,
    /// The transaction id, for on-chain payments.
    pub txid: Option<String>,
    /// When the wallet first saw it, seconds since the Unix epoch.
    pub created_at_secs: u64,
    /// Last change, seconds since the Unix epoch.
    pub updated_at_secs: u64,
    /// What the wallet paid (invoice, offer, address or node id), for payments sent through a
    /// quote.
    pub request: Option<String>,
}

impl From<dc::PaymentInfo> for PaymentInfo {
    fn from(p: dc::PaymentInfo) -> Self {
        PaymentInfo {
            id: p.id,
            kind: p.kind.into(),
            direction: p.direction.into(),
            status: p.status.into(),
            amount_msat: p.amount_msat,
            fee_msat: p.fee_msat,
            payment_hash: p.payment_hash,
            txid: p.txid,
            created_at_secs: p.created_at_secs,
            updated_at_secs: p.updated_at_secs,
            request: p.request,
        }
    }
}

/// Which payments `Wallet.list_payments_page` returns. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct PaymentFilter {
    /// Only this direction.
    #[uniffi(default = None)]
    pub direction: Option<PaymentDirection>,
    /// Only these statuses.
    #[uniffi(default = [])]
    pub statuses: Vec<PaymentStatus>,
    /// Only these kinds.
    #[uniffi(default = [])]
    pub kinds: Vec<PaymentKind>,
    /// Created at or after (seconds since the Unix epoch).
    #[uniffi(default = None)]
    pub from_secs: Option<u64>,
    /// Created before (seconds since the Unix epoch).
    #[uniffi(default = None)]
    pub to_secs: Option<u64>,
}

impl From<PaymentFilter> for dc::PaymentFilter {
    fn from(f: PaymentFilter) -> Self {
        dc::PaymentFilter {
            direction: f.direction.map(Into::into),
            statuses: f.statuses.into_iter().map(Into::into).collect(),
            kinds: f.kinds.into_iter().map(Into::into).collect(),
            from_secs: f.from_secs,
            to_secs: f.to_secs,
        }
    }
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentPage {
    /// The payments.
    pub payments: Vec<PaymentInfo>,
    /// Pass this to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

impl From<dc::PaymentPage> for PaymentPage {
    fn from(p: dc::PaymentPage) -> Self {
        PaymentPage {
            payments: p.payments.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// One send call for a payment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SendAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, seconds since the Unix epoch.
    pub started_at_secs: u64,
    /// The routing fee cap it used.
    pub fee_cap_msat: u64,
    /// How it ended so far (`pending`, `succeeded`, or the failure reason).
    pub outcome: String,
}

impl From<dc::SendAttempt> for SendAttempt {
    fn from(a: dc::SendAttempt) -> Self {
        SendAttempt {
            attempt: a.attempt,
            started_at_secs: a.started_at_secs,
            fee_cap_msat: a.fee_cap_msat,
            outcome: a.outcome,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
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
    },
    /// A channel can be used.
    ChannelReady {
        /// The channel id (hex).
        channel_id: String,
        /// The peer, if known.
        counterparty_node_id: Option<String>,
    },
    /// A channel was closed.
    ChannelClosed {
        /// The channel id (hex).
        channel_id: String,
        /// The peer, if known.
        counterparty_node_id: Option<String>,
        /// Why, in words.
        reason: String,
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
}

impl From<dc::WalletEventKind> for WalletEventKind {
    fn from(k: dc::WalletEventKind) -> Self {
        use dc::WalletEventKind as K;
        match k {
            K::PaymentReceived { payment_id, payment_hash, amount_msat } => {
                WalletEventKind::PaymentReceived { payment_id, payment_hash, amount_msat }
            }
            K::PaymentSent { payment_id, payment_hash, fee_paid_msat } => {
                WalletEventKind::PaymentSent { payment_id, payment_hash, fee_paid_msat }
            }
            K::PaymentFailed { payment_id, payment_hash, reason } => {
                WalletEventKind::PaymentFailed { payment_id, payment_hash, reason }
            }
            K::ChannelPending { channel_id, counterparty_node_id } => {
                WalletEventKind::ChannelPending { channel_id, counterparty_node_id }
            }
            K::ChannelReady { channel_id, counterparty_node_id } => {
                WalletEventKind::ChannelReady { channel_id, counterparty_node_id }
            }
            K::ChannelClosed { channel_id, counterparty_node_id, reason } => {
                WalletEventKind::ChannelClosed { channel_id, counterparty_node_id, reason }
            }
            K::SyncStarted => WalletEventKind::SyncStarted,
            K::SyncCompleted => WalletEventKind::SyncCompleted,
            K::SyncFailed { message } => WalletEventKind::SyncFailed { message },
        }
    }
}

/// An event with a stable id: the same underlying event always has the same id, across
/// restarts and redeliveries, so an app that remembers the ids it processed sees each event
/// exactly once.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletEvent {
    /// Stable identifier, e.g. `payment-received:<payment id>`.
    pub id: String,
    /// What happened.
    pub kind: WalletEventKind,
}

impl From<dc::WalletEvent> for WalletEvent {
    fn from(e: dc::WalletEvent) -> Self {
        WalletEvent { id: e.id, kind: e.kind.into() }
    }
}

// ---------------------------------------------------------------------------------------------
// Push and wake

/// Where the LSP delivers push notifications for this wallet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PushTarget {
    /// An HTTP(S) webhook (tests, self-hosted setups).
    Webhook {
        /// The URL the LSP POSTs to.
        url: String,
    },
    /// An APNs device token (iOS), delivered through the LSP's push gateway.
    Apns {
        /// The device token, hex.
        device_token: String,
    },
    /// An FCM registration token (Android), delivered through the LSP's push gateway.
    Fcm {
        /// The registration token.
        device_token: String,
    },
}

impl From<PushTarget> for dc::PushTarget {
    fn from(t: PushTarget) -> Self {
        match t {
            PushTarget::Webhook { url } => dc::PushTarget::Webhook { url },
            PushTarget::Apns { device_token } => dc::PushTarget::Apns { device_token },
            PushTarget::Fcm { device_token } => dc::PushTarget::Fcm { device_token },
        }
    }
}

/// The result of a push registration.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushRegistration {
    /// The LSP that will push (its pushes are verified against this key).
    pub lsp_node_id: String,
    /// When the registration was made, seconds since the Unix epoch.
    pub registered_at_secs: u64,
}

impl From<dc::PushRegistration> for PushRegistration {
    fn from(r: dc::PushRegistration) -> Self {
        PushRegistration { lsp_node_id: r.lsp_node_id, registered_at_secs: r.registered_at_secs }
    }
}

/// Why a wake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
    /// the app claims itself): the notification asks the user to open the app.
    NeedsApp,
}

impl From<dc::WakeEnd> for WakeEnd {
    fn from(e: dc::WakeEnd) -> Self {
        match e {
            dc::WakeEnd::Paid => WakeEnd::Paid,
            dc::WakeEnd::NothingPending => WakeEnd::NothingPending,
            dc::WakeEnd::Deadline => WakeEnd::Deadline,
            dc::WakeEnd::LspUnreachable => WakeEnd::LspUnreachable,
            dc::WakeEnd::AppHoldsWallet => WakeEnd::AppHoldsWallet,
            dc::WakeEnd::NeedsApp => WakeEnd::NeedsApp,
        }
    }
}

/// A payment received during a wake.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WakePayment {
    /// The payment's id in the history.
    pub payment_id: String,
    /// The amount received.
    pub amount_msat: u64,
}

impl From<dc::WakePayment> for WakePayment {
    fn from(p: dc::WakePayment) -> Self {
        WakePayment { payment_id: p.payment_id, amount_msat: p.amount_msat }
    }
}

/// Milliseconds from the `handle_push` call to each milestone of a wake (`null`: not reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct WakeTimings {
    /// The push was verified.
    pub verified_ms: u64,
    /// The wallet's channels were loaded (the wake engine opened the store).
    pub node_started_ms: Option<u64>,
    /// The LSP connection was up.
    pub lsp_connected_ms: Option<u64>,
    /// A held HTLC was announced to us (the LSP's mailbox flushed).
    pub held_htlc_announced_ms: Option<u64>,
    /// Our `release_held_htlc` was queued.
    pub release_sent_ms: Option<u64>,
    /// The (last) payment was claimed.
    pub payment_received_ms: Option<u64>,
    /// Everything was persisted and the call returned.
    pub total_ms: u64,
}

impl From<dc::WakeTimings> for WakeTimings {
    fn from(t: dc::WakeTimings) -> Self {
        WakeTimings {
            verified_ms: t.verified_ms,
            node_started_ms: t.node_started_ms,
            lsp_connected_ms: t.lsp_connected_ms,
            held_htlc_announced_ms: t.held_htlc_announced_ms,
            release_sent_ms: t.release_sent_ms,
            payment_received_ms: t.payment_received_ms,
            total_ms: t.total_ms,
        }
    }
}

/// What a wake did, for the app's notification and its logs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
}

impl From<dc::WakeOutcome> for WakeOutcome {
    fn from(o: dc::WakeOutcome) -> Self {
        WakeOutcome {
            ended: o.ended.into(),
            payments: o.payments.into_iter().map(Into::into).collect(),
            notification_text: o.notification_text,
            dedup_key: o.dedup_key,
            timings: o.timings.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal milestones.
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for dc::LogLevel {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => dc::LogLevel::Error,
            LogLevel::Warn => dc::LogLevel::Warn,
            LogLevel::Info => dc::LogLevel::Info,
            LogLevel::Debug => dc::LogLevel::Debug,
            LogLevel::Trace => dc::LogLevel::Trace,
        }
    }
}

impl From<dc::LogLevel> for LogLevel {
    fn from(l: dc::LogLevel) -> Self {
        match l {
            dc::LogLevel::Error => LogLevel::Error,
            dc::LogLevel::Warn => LogLevel::Warn,
            dc::LogLevel::Info => LogLevel::Info,
            dc::LogLevel::Debug => LogLevel::Debug,
            dc::LogLevel::Trace => LogLevel::Trace,
        }
    }
}

/// One log record as an app receives it. Nothing Doze logs contains a recovery phrase, seed or
/// preimage.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogEntry {
    /// Severity.
    pub level: LogLevel,
    /// Where it comes from (a Rust module path, e.g. `doze_core::wallet` or `ldk_node::...`).
    pub target: String,
    /// The message.
    pub message: String,
}

impl From<dc::LogEntry> for LogEntry {
    fn from(e: dc::LogEntry) -> Self {
        LogEntry { level: e.level.into(), target: e.target, message: e.message }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and pricing what to pay

/// A payment request, read and checked by `parse`. The strings are canonical and can be handed
/// back to the wallet to pay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentRequest {
    /// A BOLT11 invoice.
    Bolt11 {
        /// The invoice, canonical (lower case, no `lightning:` prefix).
        invoice: String,
        /// What to pay in msat: the invoice's own amount or, for an invoice without one inside
        /// a BIP21 URI that has an `amount`, the URI's. `null`: the payer chooses.
        amount_msat: Option<u64>,
        /// The description, if the invoice carries one (not just its hash).
        description: Option<String>,
        /// The payment hash, hex.
        payment_hash: String,
        /// The recipient's node id, hex.
        payee_pubkey: String,
        /// When the invoice expires, seconds since the Unix epoch.
        expires_at_secs: u64,
        /// Whether the recipient accepts a payment split over several paths (basic MPP).
        supports_mpp: bool,
        /// The address of the BIP21 URI the invoice came in, if any, to pay on-chain instead.
        onchain_fallback: Option<String>,
    },
    /// A BOLT12 offer: reusable, paid by asking the recipient for an invoice.
    Bolt12Offer {
        /// The offer, canonical (lower case, no prefix).
        offer: String,
        /// What to pay in msat: the offer's amount or the BIP21 URI's. `null`: the payer chooses.
        amount_msat: Option<u64>,
        /// The offer's description.
        description: Option<String>,
        /// Who issued the offer, as the offer says.
        issuer: Option<String>,
        /// The address of the BIP21 URI the offer came in, if any, to pay on-chain instead.
        onchain_fallback: Option<String>,
        /// The BOLT11 invoice of the same BIP21 URI, if any and valid, to try if the offer fails.
        bolt11_fallback: Option<String>,
    },
    /// A BOLT12 refund: the sender offers to pay `amount_msat` to whoever claims it.
    Bolt12Refund {
        /// The refund, canonical (lower case, no prefix).
        refund: String,
        /// The amount the refund pays, in msat.
        amount_msat: u64,
        /// The refund's description (may be empty).
        description: String,
    },
    /// An on-chain payment: a plain address or a BIP21 URI without a usable Lightning part.
    OnChain {
        /// The address, canonical.
        address: String,
        /// The URI's amount, in sat.
        amount_sat: Option<u64>,
        /// The URI's label, percent-decoded.
        label: Option<String>,
        /// The URI's message, percent-decoded.
        message: Option<String>,
    },
    /// A node public key: a spontaneous (keysend) payment to that node.
    Keysend {
        /// The node id, hex (lower case).
        node_id: String,
    },
}

impl From<dc::PaymentRequest> for PaymentRequest {
    fn from(r: dc::PaymentRequest) -> Self {
        use dc::PaymentRequest as R;
        match r {
            R::Bolt11 {
                invoice,
                amount_msat,
                description,
                payment_hash,
                payee_pubkey,
                expires_at_secs,
                supports_mpp,
                onchain_fallback,
            } => PaymentRequest::Bolt11 {
                invoice,
                amount_msat,
                description,
                payment_hash,
                payee_pubkey,
                expires_at_secs,
                supports_mpp,
                onchain_fallback,
            },
            R::Bolt12Offer {
                offer,
                amount_msat,
                description,
                issuer,
                onchain_fallback,
                bolt11_fallback,
            } => PaymentRequest::Bolt12Offer {
                offer,
                amount_msat,
                description,
                issuer,
                onchain_fallback,
                bolt11_fallback,
            },
            R::Bolt12Refund { refund, amount_msat, description } => {
                PaymentRequest::Bolt12Refund { refund, amount_msat, description }
            }
            R::OnChain { address, amount_sat, label, message } => {
                PaymentRequest::OnChain { address, amount_sat, label, message }
            }
            R::Keysend { node_id } => PaymentRequest::Keysend { node_id },
        }
    }
}

impl From<PaymentRequest> for dc::PaymentRequest {
    fn from(r: PaymentRequest) -> Self {
        use dc::PaymentRequest as R;
        match r {
            PaymentRequest::Bolt11 {
                invoice,
                amount_msat,
                description,
                payment_hash,
                payee_pubkey,
                expires_at_secs,
                supports_mpp,
                onchain_fallback,
            } => R::Bolt11 {
                invoice,
                amount_msat,
                description,
                payment_hash,
                payee_pubkey,
                expires_at_secs,
                supports_mpp,
                onchain_fallback,
            },
            PaymentRequest::Bolt12Offer {
                offer,
                amount_msat,
                description,
                issuer,
                onchain_fallback,
                bolt11_fallback,
            } => R::Bolt12Offer {
                offer,
                amount_msat,
                description,
                issuer,
                onchain_fallback,
                bolt11_fallback,
            },
            PaymentRequest::Bolt12Refund { refund, amount_msat, description } => {
                R::Bolt12Refund { refund, amount_msat, description }
            }
            PaymentRequest::OnChain { address, amount_sat, label, message } => {
                R::OnChain { address, amount_sat, label, message }
            }
            PaymentRequest::Keysend { node_id } => R::Keysend { node_id },
        }
    }
}

/// Why a quote cannot be paid now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SendBlocker {
    /// The request has no amount and none was given.
    AmountRequired,
    /// The wallet holds less than the amount plus the fee cap.
    InsufficientBalance {
        /// Amount plus fee cap.
        needed_msat: u64,
        /// What the channels (or the on-chain wallet) can send now.
        available_msat: u64,
    },
    /// Enough in total, but the recipient does not accept multi-part payments and no single
    /// channel can carry the whole amount.
    RecipientCannotSplit {
        /// The most one channel can carry now.
        largest_channel_msat: u64,
    },
    /// No usable channel to send over.
    NoRoute {
        /// Why, in words.
        reason: String,
    },
}

impl From<dc::SendBlocker> for SendBlocker {
    fn from(b: dc::SendBlocker) -> Self {
        match b {
            dc::SendBlocker::AmountRequired => SendBlocker::AmountRequired,
            dc::SendBlocker::InsufficientBalance { needed_msat, available_msat } => {
                SendBlocker::InsufficientBalance { needed_msat, available_msat }
            }
            dc::SendBlocker::RecipientCannotSplit { largest_channel_msat } => {
                SendBlocker::RecipientCannotSplit { largest_channel_msat }
            }
            dc::SendBlocker::NoRoute { reason } => SendBlocker::NoRoute { reason },
        }
    }
}

impl From<SendBlocker> for dc::SendBlocker {
    fn from(b: SendBlocker) -> Self {
        match b {
            SendBlocker::AmountRequired => dc::SendBlocker::AmountRequired,
            SendBlocker::InsufficientBalance { needed_msat, available_msat } => {
                dc::SendBlocker::InsufficientBalance { needed_msat, available_msat }
            }
            SendBlocker::RecipientCannotSplit { largest_channel_msat } => {
                dc::SendBlocker::RecipientCannotSplit { largest_channel_msat }
            }
            SendBlocker::NoRoute { reason } => dc::SendBlocker::NoRoute { reason },
        }
    }
}

/// A priced, checked payment, from `Wallet.prepare_send` or `prepare_send_max`, ready for
/// `Wallet.send`. Show the amount and the fee cap; if `blocker` is set, show why it cannot be
/// paid instead.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SendQuote {
    /// What is being paid.
    pub request: PaymentRequest,
    /// The amount the recipient gets.
    pub amount_msat: u64,
    /// The most routing fees may cost (on-chain: 0, the miner fee is chosen when sending).
    pub fee_cap_msat: u64,
    /// Paths the payment may be split over.
    pub max_path_count: u32,
    /// Whether the recipient accepts a payment split over several paths.
    pub recipient_accepts_split: bool,
    /// Why it cannot be paid now, if it cannot.
    pub blocker: Option<SendBlocker>,
    /// The most that can be sent to this recipient now (fee cap included).
    pub max_sendable_msat: u64,
    /// Whether this quote empties the balance ("send max").
    pub send_max: bool,
}

impl From<dc::SendQuote> for SendQuote {
    fn from(q: dc::SendQuote) -> Self {
        SendQuote {
            request: q.request.into(),
            amount_msat: q.amount_msat,
            fee_cap_msat: q.fee_cap_msat,
            max_path_count: q.max_path_count,
            recipient_accepts_split: q.recipient_accepts_split,
            blocker: q.blocker.map(Into::into),
            max_sendable_msat: q.max_sendable_msat,
            send_max: q.send_max,
        }
    }
}

impl From<SendQuote> for dc::SendQuote {
    fn from(q: SendQuote) -> Self {
        dc::SendQuote {
            request: q.request.into(),
            amount_msat: q.amount_msat,
            fee_cap_msat: q.fee_cap_msat,
            max_path_count: q.max_path_count,
            recipient_accepts_split: q.recipient_accepts_split,
            blocker: q.blocker.map(Into::into),
            max_sendable_msat: q.max_sendable_msat,
            send_max: q.send_max,
        }
    }
}
