//! The errors an app can see. Every variant says what went wrong in words a person can act
//! on, and none ever carries a secret (mnemonic words, seed, preimage).

use crate::amounts::sat_text;
use ldk_node::NodeError;

/// Why a mnemonic was refused. Positions are 1-based; the words themselves are never echoed,
/// because a mistyped word is still most of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MnemonicError {
    /// The phrase does not have 12 or 24 words.
    #[error("a recovery phrase has 12 or 24 words, this one has {count}")]
    WrongWordCount {
        /// How many words were given.
        count: u32,
    },
    /// A word is not in the BIP39 English word list.
    #[error("word {position} is not a BIP39 English word; check its spelling")]
    UnknownWord {
        /// 1-based position of the word.
        position: u32,
    },
    /// All words are valid but the checksum does not match: a word is wrong or out of order.
    #[error("the recovery phrase's checksum does not match: a word is wrong or out of order")]
    BadChecksum,
}

/// Errors of the wallet's operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// `start()` was called on a running wallet.
    #[error("the wallet is already running")]
    AlreadyRunning,
    /// An operation that needs the node was called before `start()` or after `stop()`.
    #[error("the wallet is not running; call start() first")]
    NotRunning,
    /// An operation that needs the node was called while the wallet is paused (the app is in
    /// the background), or was still running when it paused and was cut off.
    #[error(
        "the wallet is paused while the app is in the background; call resume() when the app \
         is in the foreground again"
    )]
    Paused,
    /// Another process (the app or its notification extension) runs this wallet.
    #[error(
        "another process is running this wallet (storage {storage_dir} is locked); try again \
         when it has stopped"
    )]
    StorageLocked {
        /// The wallet's storage directory.
        storage_dir: String,
    },
    /// The configuration cannot work; the message names the field.
    #[error("invalid wallet configuration: {0}")]
    InvalidConfig(String),
    /// The recovery phrase was refused.
    #[error("invalid recovery phrase: {0}")]
    InvalidMnemonic(#[from] MnemonicError),
    /// The wallet's storage could not be read or written.
    #[error("storage error: {0}")]
    Storage(String),
    /// The chain source (Esplora/Electrum) could not be reached or answered badly.
    #[error("could not sync with the chain source: {0}")]
    ChainSync(String),
    /// The text is not a valid BOLT11 invoice.
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    /// The invoice or address belongs to another network.
    #[error("this is for {found}, but the wallet is on {expected}")]
    WrongNetwork {
        /// The wallet's network.
        expected: String,
        /// The network the input belongs to.
        found: String,
    },
    /// The invoice has expired.
    #[error("the invoice expired {seconds_ago} seconds ago; ask the recipient for a new one")]
    InvoiceExpired {
        /// How long ago it expired.
        seconds_ago: u64,
    },
    /// No open or opening channel has this id (it may have closed already).
    #[error("no channel {0}: it may have closed already; list the channels again")]
    UnknownChannel(String),
    /// The text is not a valid bitcoin address.
    #[error("invalid bitcoin address: {0}")]
    InvalidAddress(String),
    /// The amount is missing, zero, or out of range.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// Not enough funds for the operation.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// The operation needs an LSP and none is configured.
    #[error("no LSP is configured; set WalletConfig.lsp to receive without a channel")]
    NoLsp,
    /// Receiving this payment needs a new channel, and the LSP asks more for opening it than
    /// `WalletConfig.max_jit_fee_msat` allows. Nothing was created.
    #[error("{}", jit_fee_refusal(*fee_msat, *limit_msat))]
    JitFeeTooHigh {
        /// What the LSP asks, if it could be learned.
        fee_msat: Option<u64>,
        /// The app's limit.
        limit_msat: u64,
    },
    /// The on-chain fee rate is below what the network relays or far above what confirming
    /// needs; the message says which and what the chain source estimates.
    #[error("fee rate refused: {0}")]
    InvalidFeeRate(String),
    /// The LSP could not be reached or refused the request.
    #[error("the LSP could not help: {0}")]
    LspUnavailable(String),
    /// This payment was already made or is in flight.
    #[error("this invoice was already paid or is being paid")]
    DuplicatePayment,
    /// Sending failed before any money left.
    #[error("could not send the payment: {0}")]
    PaymentFailed(String),
    /// The LSP refused or could not take the push registration.
    #[error("push registration failed: {0}")]
    PushRegistrationFailed(String),
    /// The LSP has not stored this wallet's static invoice yet.
    #[error(
        "the offline offer is not ready yet: the LSP has not stored this wallet's static \
         invoice; stay online a little longer and retry"
    )]
    OfferNotReady,
    /// A push notification was refused before anything started: forged, expired, replayed or
    /// malformed. Nothing was changed.
    #[error("push notification refused: {reason}")]
    InvalidPush {
        /// Why, in words.
        reason: String,
    },
    /// The text is not a payment request this wallet can pay; the inner error says why.
    #[error("{0}")]
    InvalidRequest(#[from] ParseError),
    /// Another device restored this wallet and runs its channels now; this one must not, or
    /// funds could be lost (a peer may punish an old channel state). Nothing was written.
    #[error(
        "this wallet now runs on another device, where it was restored; running it here too \
         could lose funds. Use it on the other device, or remove it from this one"
    )]
    WalletMoved,
    /// The backup server could not be reached or refused the wallet. The wallet does not run
    /// without it, so that every channel update is backed up before it counts.
    #[error("the backup server is unavailable ({0}); check the connection and try again")]
    BackupUnavailable(String),
    /// Any other failure of the Lightning node.
    #[error("lightning node error: {0}")]
    Node(String),
}

impl From<NodeError> for WalletError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::AlreadyRunning => WalletError::AlreadyRunning,
            NodeError::NotRunning => WalletError::NotRunning,
            NodeError::InsufficientFunds => WalletError::InsufficientFunds(
                "the balance does not cover the amount and fees".into(),
            ),
            NodeError::InvalidInvoice => WalletError::InvalidInvoice(e.to_string()),
            NodeError::InvalidAddress => WalletError::InvalidAddress(e.to_string()),
            NodeError::InvalidAmount => WalletError::InvalidAmount(e.to_string()),
            NodeError::InvalidNetwork => WalletError::InvalidConfig(e.to_string()),
            NodeError::DuplicatePayment => WalletError::DuplicatePayment,
            NodeError::PaymentSendingFailed => WalletError::PaymentFailed(e.to_string()),
            NodeError::LiquiditySourceUnavailable
            | NodeError::LiquidityRequestFailed
            | NodeError::LiquidityFeeTooHigh
            | NodeError::ConnectionFailed => WalletError::LspUnavailable(e.to_string()),
            NodeError::TxSyncFailed
            | NodeError::TxSyncTimeout
            | NodeError::WalletOperationFailed
            | NodeError::WalletOperationTimeout
            | NodeError::FeerateEstimationUpdateFailed
            | NodeError::FeerateEstimationUpdateTimeout => WalletError::ChainSync(e.to_string()),
            NodeError::PersistenceFailed => WalletError::Storage(e.to_string()),
            other => WalletError::Node(other.to_string()),
        }
    }
}

/// Why a text is not a payment request this wallet can use. Messages say what to do, and quote
/// at most a short snippet of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("nothing to read: paste or scan an invoice, offer, address or payment link")]
    Empty,
    /// Not any kind of payment request this wallet reads.
    #[error(
        "this is not a payment request: expected a Lightning invoice or offer, a bitcoin \
         address or bitcoin: link, a name like alice@example.com, an LNURL, or a node public key"
    )]
    UnknownFormat,
    /// The request belongs to another network.
    #[error("this is for {found}, but the wallet is on {expected}")]
    WrongNetwork {
        /// The wallet's network.
        expected: String,
        /// The network the request belongs to.
        found: String,
    },
    /// The invoice, offer or refund has expired.
    #[error("this expired {seconds_ago} seconds ago; ask the recipient for a new one")]
    Expired {
        /// How long ago it expired.
        seconds_ago: u64,
    },
    /// Looks like a BOLT11 invoice but is not a valid one.
    #[error("invalid Lightning invoice: {0}")]
    InvalidInvoice(String),
    /// Looks like a BOLT12 offer or refund but is not a valid one, or cannot be paid.
    #[error("invalid BOLT12 offer or refund: {0}")]
    InvalidOffer(String),
    /// Looks like a bitcoin address but is not a valid one.
    #[error("invalid bitcoin address: {0}")]
    InvalidAddress(String),
    /// An amount is malformed, zero, or out of range (more than 21 million bitcoin).
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// A `bitcoin:` URI is malformed or requires something this wallet does not understand.
    #[error("invalid bitcoin: link: {0}")]
    InvalidUri(String),
    /// An LNURL (`lnurl1…`) that is malformed or points somewhere this wallet will not fetch
    /// (plain `http` to anything but this device on a test network).
    #[error("invalid LNURL: {0}")]
    InvalidLnurl(String),
    /// A name (`₿alice@example.com`, `alice@example.com`) could not be looked up: no record, no
    /// answer in time, or an answer that makes no sense. Nothing was paid.
    #[error("could not look up {name}: {reason}")]
    NameResolution {
        /// The name, as `user@domain`.
        name: String,
        /// Why, in words a person can act on.
        reason: String,
    },
    /// A BIP 353 name's DNSSEC proof was refused: forged, tampered with, expired or not yet
    /// valid (check the phone's clock). Nothing was paid.
    #[error("the payment details for {name} could not be verified: {reason}")]
    NameNotVerified {
        /// The name, as `user@domain`.
        name: String,
        /// Why, in words.
        reason: String,
    },
    /// An LNURL-pay server (a Lightning Address's or an LNURL's) answered badly, too slowly or
    /// not at all, or gave an invoice that does not match what was asked. Nothing was paid.
    #[error("the payment server {domain} failed: {reason}")]
    LnurlServer {
        /// The server's host name.
        domain: String,
        /// Why, in words.
        reason: String,
    },
}

/// The message of [`WalletError::JitFeeTooHigh`].
pub(crate) fn jit_fee_refusal(fee_msat: Option<u64>, limit_msat: u64) -> String {
    let limit = sat_text(limit_msat, false);
    match fee_msat {
        Some(fee) => format!(
            "the LSP asks {} to open a channel for this payment; your limit is {limit}",
            sat_text(fee, true)
        ),
        None => format!(
            "the LSP asks more than your limit of {limit} to open a channel for this payment"
        ),
    }
}
