//! One error type per area. Each variant carries the message doze-core wrote for a person
//! (its `Display`), which becomes the exception's message in Swift/Kotlin/Python; the variant
//! itself is what an app matches on. Messages never contain a secret.

use doze_core::{
    MnemonicError as CoreMnemonicError, ParseError as CoreParseError, WalletError as CoreError,
};

/// Why a recovery phrase was refused. Positions in the messages are 1-based; the words
/// themselves are never echoed, because a mistyped word is still most of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum MnemonicError {
    /// The phrase does not have 12 or 24 words.
    #[error("{0}")]
    WrongWordCount(String),
    /// A word is not in the BIP39 English word list; the message says which position.
    #[error("{0}")]
    UnknownWord(String),
    /// All words are valid but the checksum does not match: a word is wrong or out of order.
    #[error("{0}")]
    BadChecksum(String),
}

impl From<CoreMnemonicError> for MnemonicError {
    fn from(e: CoreMnemonicError) -> Self {
        let message = e.to_string();
        match e {
            CoreMnemonicError::WrongWordCount { .. } => MnemonicError::WrongWordCount(message),
            CoreMnemonicError::UnknownWord { .. } => MnemonicError::UnknownWord(message),
            CoreMnemonicError::BadChecksum => MnemonicError::BadChecksum(message),
        }
    }
}

/// Why a text is not a payment request this wallet can use (`parse`). Messages say what to do
/// and quote at most a short snippet of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("{0}")]
    Empty(String),
    /// Not any kind of payment request this wallet reads.
    #[error("{0}")]
    UnknownFormat(String),
    /// The request belongs to another network; the message names both.
    #[error("{0}")]
    WrongNetwork(String),
    /// The invoice, offer or refund has expired.
    #[error("{0}")]
    Expired(String),
    /// Looks like a BOLT11 invoice but is not a valid one.
    #[error("{0}")]
    InvalidInvoice(String),
    /// Looks like a BOLT12 offer or refund but is not a valid one, or cannot be paid.
    #[error("{0}")]
    InvalidOffer(String),
    /// Looks like a bitcoin address but is not a valid one.
    #[error("{0}")]
    InvalidAddress(String),
    /// An amount is malformed, zero, or out of range.
    #[error("{0}")]
    InvalidAmount(String),
    /// A `bitcoin:` URI is malformed or requires something this wallet does not understand.
    #[error("{0}")]
    InvalidUri(String),
    /// An LNURL that is malformed or points somewhere this wallet will not fetch.
    #[error("{0}")]
    InvalidLnurl(String),
}

impl From<CoreParseError> for ParseError {
    fn from(e: CoreParseError) -> Self {
        let message = e.to_string();
        match e {
            CoreParseError::Empty => ParseError::Empty(message),
            CoreParseError::UnknownFormat => ParseError::UnknownFormat(message),
            CoreParseError::WrongNetwork { .. } => ParseError::WrongNetwork(message),
            CoreParseError::Expired { .. } => ParseError::Expired(message),
            CoreParseError::InvalidInvoice(_) => ParseError::InvalidInvoice(message),
            CoreParseError::InvalidOffer(_) => ParseError::InvalidOffer(message),
            CoreParseError::InvalidAddress(_) => ParseError::InvalidAddress(message),
            CoreParseError::InvalidAmount(_) => ParseError::InvalidAmount(message),
            CoreParseError::InvalidUri(_) => ParseError::InvalidUri(message),
            CoreParseError::InvalidLnurl(_) => ParseError::InvalidLnurl(message),
            // `parse` never looks anything up; these come from `prepare_send` (a SendError).
            CoreParseError::NameResolution { .. }
            | CoreParseError::NameNotVerified { .. }
            | CoreParseError::LnurlServer { .. } => ParseError::UnknownFormat(message),
        }
    }
}

/// Errors of the wallet's lifecycle, configuration, storage and node: creating, starting,
/// stopping and syncing a wallet, and reading its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum WalletError {
    /// `start()` was called on a running wallet.
    #[error("{0}")]
    AlreadyRunning(String),
    /// An operation that needs the node was called before `start()` or after `stop()`.
    #[error("{0}")]
    NotRunning(String),
    /// The wallet is paused (the app is in the background): call `resume()` first.
    #[error("{0}")]
    Paused(String),
    /// Another process (the app or its notification extension) runs this wallet; try again
    /// when it has stopped.
    #[error("{0}")]
    StorageLocked(String),
    /// The configuration cannot work; the message names the field.
    #[error("{0}")]
    InvalidConfig(String),
    /// The recovery phrase was refused (see `parse_mnemonic` for the details).
    #[error("{0}")]
    InvalidMnemonic(String),
    /// The wallet's storage could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// The chain source (Esplora/Electrum) could not be reached or answered badly.
    #[error("{0}")]
    ChainSync(String),
    /// The LSP could not be reached.
    #[error("{0}")]
    LspUnavailable(String),
    /// No open or opening channel has this id (it may have closed already).
    #[error("{0}")]
    UnknownChannel(String),
    /// The address is not a valid bitcoin address of the wallet's network.
    #[error("{0}")]
    InvalidAddress(String),
    /// The amount is zero or out of range.
    #[error("{0}")]
    InvalidAmount(String),
    /// Not enough funds for the amount and fees.
    #[error("{0}")]
    InsufficientFunds(String),
    /// Another device restored this wallet and runs its channels now: this one must not (funds
    /// could be lost). Tell the user to use the other device or remove the wallet here.
    #[error("{0}")]
    WalletMoved(String),
    /// The backup server could not be reached; the wallet does not run without it.
    #[error("{0}")]
    BackupUnavailable(String),
    /// Any other failure of the Lightning node.
    #[error("{0}")]
    Node(String),
}

impl From<CoreError> for WalletError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::AlreadyRunning => WalletError::AlreadyRunning(message),
            CoreError::NotRunning => WalletError::NotRunning(message),
            CoreError::Paused => WalletError::Paused(message),
            CoreError::StorageLocked { .. } => WalletError::StorageLocked(message),
            CoreError::InvalidConfig(_) | CoreError::NoLsp => WalletError::InvalidConfig(message),
            CoreError::InvalidMnemonic(_) => WalletError::InvalidMnemonic(message),
            CoreError::Storage(_) => WalletError::Storage(message),
            CoreError::ChainSync(_) => WalletError::ChainSync(message),
            CoreError::LspUnavailable(_) => WalletError::LspUnavailable(message),
            CoreError::UnknownChannel(_) => WalletError::UnknownChannel(message),
            CoreError::InvalidAddress(_) | CoreError::WrongNetwork { .. } => {
                WalletError::InvalidAddress(message)
            }
            CoreError::InvalidAmount(_) => WalletError::InvalidAmount(message),
            CoreError::InsufficientFunds(_) => WalletError::InsufficientFunds(message),
            CoreError::WalletMoved => WalletError::WalletMoved(message),
            CoreError::BackupUnavailable(_) => WalletError::BackupUnavailable(message),
            _ => WalletError::Node(message),
        }
    }
}

/// Why a payment could not be sent. Thrown before any money left; a payment that fails later
/// arrives as a `PaymentFailed` event instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum SendError {
    /// The text is not a valid BOLT11 invoice.
    #[error("{0}")]
    InvalidInvoice(String),
    /// The text is not a valid bitcoin address.
    #[error("{0}")]
    InvalidAddress(String),
    /// The invoice or address belongs to another network; the message names both.
    #[error("{0}")]
    WrongNetwork(String),
    /// The invoice has expired; ask the recipient for a new one.
    #[error("{0}")]
    InvoiceExpired(String),
    /// The text is not a payment request this wallet can pay (see `parse` for the details).
    #[error("{0}")]
    InvalidRequest(String),
    /// The amount is missing, zero, out of range, or differs from the invoice's.
    #[error("{0}")]
    InvalidAmount(String),
    /// Not enough funds for the amount and fees.
    #[error("{0}")]
    InsufficientFunds(String),
    /// The on-chain fee rate is below what the network relays or far above what confirming
    /// needs; the message says which.
    #[error("{0}")]
    InvalidFeeRate(String),
    /// This invoice was already paid or is being paid.
    #[error("{0}")]
    DuplicatePayment(String),
    /// Sending failed before any money left (no route, the peer refused, ...).
    #[error("{0}")]
    PaymentFailed(String),
    /// The wallet is not running; call `start()` first.
    #[error("{0}")]
    NotRunning(String),
    /// The wallet is paused (the app is in the background), or paused while this call ran;
    /// nothing was sent. Call `resume()` first.
    #[error("{0}")]
    Paused(String),
    /// Another device restored this wallet and runs its channels now; nothing was sent, and
    /// this one must not run it (funds could be lost).
    #[error("{0}")]
    WalletMoved(String),
    /// The LSP (the wallet's only peer) could not be reached.
    #[error("{0}")]
    LspUnavailable(String),
    /// The chain source could not be reached (on-chain sends).
    #[error("{0}")]
    ChainSync(String),
    /// A name (`alice@example.com`) or LNURL could not be looked up: no record, no answer in
    /// time, or an answer that makes no sense; the message says which. Nothing was paid.
    #[error("{0}")]
    NameResolution(String),
    /// A BIP 353 name's DNSSEC proof was refused (forged, tampered with, expired, or the
    /// phone's clock is wrong). Nothing was paid.
    #[error("{0}")]
    NameNotVerified(String),
    /// A Lightning Address's or LNURL's payment server answered badly or too slowly, or gave
    /// an invoice that does not match what was asked. Nothing was paid.
    #[error("{0}")]
    LnurlServer(String),
    /// Any other failure of the wallet or its node.
    #[error("{0}")]
    Node(String),
}

impl From<CoreError> for SendError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::InvalidRequest(
                CoreParseError::NameResolution { .. } | CoreParseError::InvalidLnurl(_),
            ) => SendError::NameResolution(message),
            CoreError::InvalidRequest(CoreParseError::NameNotVerified { .. }) => {
                SendError::NameNotVerified(message)
            }
            CoreError::InvalidRequest(CoreParseError::LnurlServer { .. }) => {
                SendError::LnurlServer(message)
            }
            CoreError::InvalidInvoice(_) => SendError::InvalidInvoice(message),
            CoreError::InvalidAddress(_) => SendError::InvalidAddress(message),
            CoreError::WrongNetwork { .. } => SendError::WrongNetwork(message),
            CoreError::InvoiceExpired { .. } => SendError::InvoiceExpired(message),
            CoreError::InvalidRequest(_) => SendError::InvalidRequest(message),
            CoreError::InvalidAmount(_) => SendError::InvalidAmount(message),
            CoreError::InsufficientFunds(_) => SendError::InsufficientFunds(message),
            CoreError::InvalidFeeRate(_) => SendError::InvalidFeeRate(message),
            CoreError::DuplicatePayment => SendError::DuplicatePayment(message),
            CoreError::PaymentFailed(_) => SendError::PaymentFailed(message),
            CoreError::NotRunning => SendError::NotRunning(message),
            CoreError::Paused => SendError::Paused(message),
            CoreError::WalletMoved => SendError::WalletMoved(message),
            CoreError::LspUnavailable(_) => SendError::LspUnavailable(message),
            CoreError::ChainSync(_) => SendError::ChainSync(message),
            _ => SendError::Node(message),
        }
    }
}

/// Why the wallet could not prepare to receive (an invoice or an address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum ReceiveError {
    /// The amount or the invoice's expiry or description is not acceptable.
    #[error("{0}")]
    InvalidAmount(String),
    /// The text given to claim is not a usable request: not a BOLT 12 refund, malformed,
    /// expired, or for another network. Nothing was sent.
    #[error("{0}")]
    InvalidRequest(String),
    /// Receiving needs a new channel and no LSP is configured.
    #[error("{0}")]
    NoLsp(String),
    /// The LSP could not be reached or refused the just-in-time channel.
    #[error("{0}")]
    LspUnavailable(String),
    /// The LSP asks more for opening the channel this payment needs than
    /// `WalletConfig.max_jit_fee_msat` allows; the message names the fee and the limit. Nothing
    /// was created.
    #[error("{0}")]
    JitFeeTooHigh(String),
    /// The configuration lacks what the call needs (e.g. `LspConfig.api_url` to read the
    /// LSP's fees).
    #[error("{0}")]
    InvalidConfig(String),
    /// The wallet is not running; call `start()` first.
    #[error("{0}")]
    NotRunning(String),
    /// The wallet is paused (the app is in the background), or paused while this call ran;
    /// no invoice was made. Call `resume()` first.
    #[error("{0}")]
    Paused(String),
    /// Another device restored this wallet and runs its channels now: receive there.
    #[error("{0}")]
    WalletMoved(String),
    /// Any other failure of the wallet or its node.
    #[error("{0}")]
    Node(String),
}

impl From<CoreError> for ReceiveError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::InvalidAmount(_) => ReceiveError::InvalidAmount(message),
            CoreError::InvalidRequest(_)
            | CoreError::InvalidInvoice(_)
            | CoreError::WrongNetwork { .. }
            | CoreError::InvoiceExpired { .. } => ReceiveError::InvalidRequest(message),
            CoreError::NoLsp => ReceiveError::NoLsp(message),
            CoreError::LspUnavailable(_) => ReceiveError::LspUnavailable(message),
            CoreError::JitFeeTooHigh { .. } => ReceiveError::JitFeeTooHigh(message),
            CoreError::InvalidConfig(_) => ReceiveError::InvalidConfig(message),
            CoreError::NotRunning => ReceiveError::NotRunning(message),
            CoreError::Paused => ReceiveError::Paused(message),
            CoreError::WalletMoved => ReceiveError::WalletMoved(message),
            _ => ReceiveError::Node(message),
        }
    }
}

/// Errors of push registration, the offline offer and waking on a push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum PushError {
    /// A push notification was refused before anything started: forged, expired, replayed or
    /// malformed. Nothing was changed; the app can drop the notification.
    #[error("{0}")]
    InvalidPush(String),
    /// No LSP is configured.
    #[error("{0}")]
    NoLsp(String),
    /// The configuration lacks what push needs (e.g. `LspConfig.api_url`), or the app name is
    /// not acceptable.
    #[error("{0}")]
    InvalidConfig(String),
    /// The LSP could not be reached.
    #[error("{0}")]
    LspUnavailable(String),
    /// The LSP refused or could not take the registration.
    #[error("{0}")]
    RegistrationFailed(String),
    /// The LSP has not stored this wallet's static invoice yet: stay online a little longer and
    /// retry.
    #[error("{0}")]
    OfferNotReady(String),
    /// Another process runs this wallet.
    #[error("{0}")]
    StorageLocked(String),
    /// The wallet is not running (registration and the offer need a running wallet).
    #[error("{0}")]
    NotRunning(String),
    /// The wallet is paused (the app is in the background): call `resume()` first. A wake
    /// (`handle_push`) works while the app's wallet is paused.
    #[error("{0}")]
    Paused(String),
    /// Another device restored this wallet and runs its channels now: this one, and its wakes,
    /// must not (funds could be lost).
    #[error("{0}")]
    WalletMoved(String),
    /// The wallet's storage could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// Any other failure of the wallet or its node.
    #[error("{0}")]
    Node(String),
}

impl From<CoreError> for PushError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::InvalidPush { .. } => PushError::InvalidPush(message),
            CoreError::NoLsp => PushError::NoLsp(message),
            CoreError::InvalidConfig(_) => PushError::InvalidConfig(message),
            CoreError::LspUnavailable(_) => PushError::LspUnavailable(message),
            CoreError::PushRegistrationFailed(_) => PushError::RegistrationFailed(message),
            CoreError::OfferNotReady => PushError::OfferNotReady(message),
            CoreError::StorageLocked { .. } => PushError::StorageLocked(message),
            CoreError::NotRunning => PushError::NotRunning(message),
            CoreError::Paused => PushError::Paused(message),
            CoreError::WalletMoved => PushError::WalletMoved(message),
            CoreError::Storage(_) => PushError::Storage(message),
            _ => PushError::Node(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_core_messages_and_variants_follow_the_area() {
        let e = SendError::from(CoreError::InvoiceExpired { seconds_ago: 5 });
        assert!(matches!(e, SendError::InvoiceExpired(_)));
        assert_eq!(e.to_string(), CoreError::InvoiceExpired { seconds_ago: 5 }.to_string());
        assert!(matches!(ReceiveError::from(CoreError::NoLsp), ReceiveError::NoLsp(_)));
        let dear = CoreError::JitFeeTooHigh { fee_msat: Some(5_000_000), limit_msat: 2_000_000 };
        let e = ReceiveError::from(dear);
        assert!(matches!(e, ReceiveError::JitFeeTooHigh(ref m) if m.contains("5,000 sat")));
        let e = SendError::from(CoreError::InvalidFeeRate("0 sat/vB".into()));
        assert!(matches!(e, SendError::InvalidFeeRate(_)));
        assert!(matches!(PushError::from(CoreError::OfferNotReady), PushError::OfferNotReady(_)));
        assert!(matches!(
            WalletError::from(CoreError::AlreadyRunning),
            WalletError::AlreadyRunning(_)
        ));
        assert!(matches!(WalletError::from(CoreError::Paused), WalletError::Paused(_)));
        assert!(matches!(SendError::from(CoreError::WalletMoved), SendError::WalletMoved(_)));
        assert!(matches!(ReceiveError::from(CoreError::Paused), ReceiveError::Paused(_)));
        assert!(matches!(PushError::from(CoreError::WalletMoved), PushError::WalletMoved(_)));
        let m = MnemonicError::from(CoreMnemonicError::UnknownWord { position: 3 });
        assert!(matches!(m, MnemonicError::UnknownWord(ref s) if s.contains("word 3")));
    }
}
