//! The `Wallet` object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::blocking::block_on;
use crate::callbacks::{EventAdapter, EventListener};
use crate::errors::{PushError, ReceiveError, SendError, WalletError};
use doze_core::{
    Balances, ChannelInfo, JitFeeTerms, LifecycleState, OnchainFee, OnchainFeeEstimates,
    PaymentFilter, PaymentInfo, PaymentPage, PushRegistration, PushTarget, ReceiveInvoice,
    RefundClaim, SendAttempt, SendQuote, WakeOutcome, WalletConfig,
};

/// A Lightning wallet for a phone: created from the recovery phrase the app holds, started
/// while the app is in the foreground, woken by `handle_push` while it is not.
///
/// Thread-safe; every method can be called at any time and throws `NotRunning` (or `Paused`)
/// when it needs a running wallet. The slow calls are `async` (Swift `async`, Kotlin
/// `suspend`): they do their work on the wallet's own threads, never on the caller's. Dropping
/// the last reference stops a running wallet.
#[derive(uniffi::Object)]
pub struct Wallet {
    inner: doze_core::Wallet,
}

#[uniffi::export]
impl Wallet {
    /// Creates (or restores: it is the same thing) a wallet from a recovery phrase and an
    /// optional BIP39 passphrase. Checks the phrase and the configuration; touches neither disk
    /// nor network. Throws `WalletError.InvalidMnemonic` or `WalletError.InvalidConfig`.
    #[uniffi::constructor(default(passphrase = None))]
    pub fn new(
        config: WalletConfig,
        mnemonic: String,
        passphrase: Option<String>,
    ) -> Result<Arc<Wallet>, WalletError> {
        let inner = doze_core::Wallet::new(config, &mnemonic, passphrase)?;
        Ok(Arc::new(Wallet { inner }))
    }

    /// Sets the listener that receives the wallet's events. Set it before `start()`: events
    /// wait in the wallet's persisted queue until a listener has taken them.
    pub fn set_event_listener(&self, listener: Box<dyn EventListener>) {
        self.inner.set_event_listener(Arc::new(EventAdapter(listener)));
    }

    /// The lifecycle state.
    pub fn state(&self) -> LifecycleState {
        self.inner.state()
    }

    /// Starts the wallet: takes the storage lock (`WalletError.StorageLocked` if another
    /// process, e.g. the notification extension, runs it), starts the node, connects to the LSP
    /// and starts delivering events.
    pub async fn start(&self) -> Result<(), WalletError> {
        Ok(self.inner.start().await?)
    }

    /// `start()` for callers that cannot await (a background job). Blocks the calling thread:
    /// never call it on the main thread.
    pub fn start_blocking(&self) -> Result<(), WalletError> {
        Ok(block_on(self.inner.start())?)
    }

    /// Stops the wallet cleanly (the node, the event delivery) and releases the storage lock.
    pub async fn stop(&self) -> Result<(), WalletError> {
        Ok(self.inner.stop().await?)
    }

    /// `stop()` for callers that cannot await. Blocks the calling thread: never call it on the
    /// main thread.
    pub fn stop_blocking(&self) -> Result<(), WalletError> {
        Ok(block_on(self.inner.stop())?)
    }

    /// Pauses the wallet when the app goes to the background (iOS:
    /// `applicationDidEnterBackground` / `sceneDidEnterBackground`, inside a background task;
    /// Android: `onStop`). iOS kills a suspended app that still holds a lock on a file in a
    /// shared container (crash code 0xdead10cc), and the wallet's storage is shared with the
    /// notification extension: within about a second this finishes or cuts off what is in
    /// flight (a payment being sent is handed to the network and written with its channel
    /// state; it completes after `resume()`, or in a wake meanwhile), stops the node, closes
    /// every database the wallet holds and releases the storage lock, so the extension can
    /// take the wallet. Does nothing on a wallet that is not running. While paused, calls that
    /// need the node throw `Paused`; the history and `cachedOffer` stay readable.
    pub async fn pause(&self) -> Result<(), WalletError> {
        Ok(self.inner.pause().await?)
    }

    /// `pause()` for callers that cannot await (a lifecycle callback that must return only
    /// once the wallet let go of its files). Blocks the calling thread for up to about a
    /// second.
    pub fn pause_blocking(&self) -> Result<(), WalletError> {
        Ok(block_on(self.inner.pause())?)
    }

    /// Runs a paused wallet again when the app returns to the foreground (iOS:
    /// `applicationWillEnterForeground`; Android: `onStart`): takes the storage lock, starts
    /// the node and reconnects, so that a payment in flight completes, and delivers the events
    /// that came meanwhile. Throws `StorageLocked` while the notification extension finishes a
    /// wake (try again in a moment) and `WalletMoved` if another device took the wallet over.
    /// Does nothing on a running or stopped wallet.
    pub async fn resume(&self) -> Result<(), WalletError> {
        Ok(self.inner.resume().await?)
    }

    /// `resume()` for callers that cannot await. Blocks the calling thread: never call it on
    /// the main thread.
    pub fn resume_blocking(&self) -> Result<(), WalletError> {
        Ok(block_on(self.inner.resume())?)
    }

    /// Syncs the on-chain wallet and the channels with the chain source. The listener sees
    /// `SyncStarted` and `SyncCompleted`/`SyncFailed`.
    pub async fn sync(&self) -> Result<(), WalletError> {
        Ok(self.inner.sync().await?)
    }

    /// This wallet's Lightning node id (hex). Needs a running wallet.
    pub fn node_id(&self) -> Result<String, WalletError> {
        Ok(self.inner.node_id()?)
    }

    /// The balances now. Needs a running wallet.
    pub fn balances(&self) -> Result<Balances, WalletError> {
        Ok(self.inner.balances()?)
    }

    /// The wallet's open and opening channels: peer, size, what each can send and receive,
    /// reserve, and whether it is opening, offline or usable. Needs a running wallet.
    pub fn list_channels(&self) -> Result<Vec<ChannelInfo>, WalletError> {
        Ok(self.inner.list_channels()?)
    }

    /// Closes a channel cooperatively with its (online) peer: its balance goes to the wallet's
    /// own on-chain funds in the closing transaction, spendable once it confirms. A
    /// `ChannelClosed` event follows. Throws `UnknownChannel` for an id `list_channels` does
    /// not show.
    pub async fn close_channel(&self, channel_id: String) -> Result<(), WalletError> {
        Ok(self.inner.close_channel(&channel_id).await?)
    }

    /// Closes a channel without its peer: the last resort when the peer is gone for good.
    /// The wallet broadcasts its latest state, at the fee rate the channel last agreed (it
    /// does not bump it); its balance comes back only after the channel's timelock (typically
    /// a day, up to two weeks), less the fee of the sweep that brings it on-chain. Prefer
    /// `close_channel` whenever the peer is reachable.
    pub async fn force_close_channel(
        &self,
        channel_id: String,
        reason: Option<String>,
    ) -> Result<(), WalletError> {
        Ok(self.inner.force_close_channel(&channel_id, reason).await?)
    }

    /// Moves `amount_sat` from a channel to an on-chain address without closing it (a splice
    /// out); the on-chain fee comes from the channel's balance. The peer must be online.
    /// Throws `UnknownChannel`, `InvalidAddress` (also for another network's address),
    /// `InvalidAmount` or `InsufficientFunds`.
    pub async fn splice_out(
        &self,
        channel_id: String,
        address: String,
        amount_sat: u64,
    ) -> Result<(), WalletError> {
        Ok(self.inner.splice_out(&channel_id, &address, amount_sat).await?)
    }

    /// Every payment in the wallet's history, newest first. Works whether or not the wallet
    /// runs; prefer `list_payments_page` for long histories.
    pub fn list_payments(&self) -> Result<Vec<PaymentInfo>, WalletError> {
        Ok(self.inner.list_payments()?)
    }

    /// One page of the payment history, newest first, filtered: pass `null` as `cursor` for
    /// the first page and the returned `next_cursor` for the next. Works whether or not the
    /// wallet runs.
    #[uniffi::method(default(cursor = None, limit = 50))]
    pub fn list_payments_page(
        &self,
        filter: PaymentFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<PaymentPage, WalletError> {
        Ok(self.inner.list_payments_page(filter, cursor, limit)?)
    }

    /// The send attempts of one payment, first first.
    pub fn payment_attempts(&self, payment_id: String) -> Result<Vec<SendAttempt>, WalletError> {
        Ok(self.inner.payment_attempts(&payment_id)?)
    }

    /// Creates a BOLT11 invoice for `amount_msat` (any amount when `null`), valid for
    /// `expiry_secs`. Uses an existing channel when one can take the whole amount, otherwise
    /// asks the LSP for a just-in-time channel (`ReceiveInvoice.via_jit_channel`), whose fee
    /// the invoice carries (`ReceiveInvoice.lsp_fee_msat`): show it before sharing the
    /// invoice. Throws `JitFeeTooHigh` (creating nothing) when the fee is above
    /// `WalletConfig.max_jit_fee_msat`, and `InvalidAmount` for an open amount through an LSP
    /// that charges for the channel (ask for an amount).
    #[uniffi::method(default(description = "", expiry_secs = 3600))]
    pub async fn receive_bolt11(
        &self,
        amount_msat: Option<u64>,
        description: String,
        expiry_secs: u32,
    ) -> Result<ReceiveInvoice, ReceiveError> {
        Ok(self.inner.receive_bolt11(amount_msat, description, expiry_secs).await?)
    }

    /// The LSP's current terms for just-in-time channels (minimum fee, share of the payment,
    /// payment sizes), read from its API (`LspConfig.api_url`): what receiving through a new
    /// channel costs, before the user enters an amount.
    pub async fn jit_fee_terms(&self) -> Result<JitFeeTerms, ReceiveError> {
        Ok(self.inner.jit_fee_terms().await?)
    }

    /// A new on-chain address of this wallet. Needs a running wallet.
    pub fn new_onchain_address(&self) -> Result<String, ReceiveError> {
        Ok(self.inner.new_onchain_address()?)
    }

    /// Claims a BOLT 12 refund (`lnr1…`, as pasted or scanned): sends its issuer an invoice
    /// for the refund's amount over this wallet's channels. The money arrives as a
    /// `PaymentReceived` event once the issuer pays. Throws `InvalidRequest` for a text that
    /// is not a usable refund (expired, another network), and `InvalidAmount` when no channel
    /// can take the amount; nothing is sent then.
    pub async fn claim_refund(&self, refund: String) -> Result<RefundClaim, ReceiveError> {
        Ok(self.inner.claim_refund(&refund).await?)
    }

    /// Pays a BOLT11 invoice (with or without `lightning:`). `amount_msat` is required for an
    /// invoice without an amount and must be left out (or equal) otherwise. Checks network,
    /// expiry and amount first and throws `SendError` before any money leaves. Returns the
    /// payment id; the outcome arrives as a `PaymentSent` or `PaymentFailed` event.
    #[uniffi::method(default(amount_msat = None))]
    pub async fn pay_bolt11(
        &self,
        invoice: String,
        amount_msat: Option<u64>,
    ) -> Result<String, SendError> {
        Ok(self.inner.pay_bolt11(&invoice, amount_msat).await?)
    }

    /// Reads `input` (invoice, offer, `bitcoin:` URI, address, node id, `₿alice@example.com`
    /// or `alice@example.com`, `lnurl1…`) and prices paying it: `amount_msat` for requests
    /// without an amount, `fee_limit_msat` to override the default routing fee cap (1 % with a
    /// 10 sat floor). The quote says what can be sent and, in `blocker`, why not; for a name or
    /// LNURL, `recipient` says who it resolved to and the limits. A name or LNURL is looked up
    /// over the network first (each request bounded by `NameResolutionConfig.timeout_secs`; call
    /// this off the main thread); failures are `NameResolution`, `NameNotVerified` or
    /// `LnurlServer`. Needs a running wallet.
    #[uniffi::method(default(amount_msat = None, fee_limit_msat = None))]
    pub fn prepare_send(
        &self,
        input: String,
        amount_msat: Option<u64>,
        fee_limit_msat: Option<u64>,
    ) -> Result<SendQuote, SendError> {
        Ok(self.inner.prepare_send(&input, amount_msat, fee_limit_msat)?)
    }

    /// Prices sending everything the channels can carry to `input` (which must not fix an
    /// amount), routing fees included ("send max"). Needs a running wallet.
    #[uniffi::method(default(fee_limit_msat = None))]
    pub fn prepare_send_max(
        &self,
        input: String,
        fee_limit_msat: Option<u64>,
    ) -> Result<SendQuote, SendError> {
        Ok(self.inner.prepare_send_max(&input, fee_limit_msat)?)
    }

    /// Pays a quote from `prepare_send`/`prepare_send_max`, split over the wallet's channels
    /// when needed. Returns the payment id (on-chain: the transaction id); the outcome arrives
    /// as a `PaymentSent` or `PaymentFailed` event and in the history.
    pub async fn send(&self, quote: SendQuote) -> Result<String, SendError> {
        Ok(self.inner.send(quote).await?)
    }

    /// Sends `amount_sat` on-chain to `address` (with or without `bitcoin:`), or everything
    /// spendable when `null`, paying the miner fee `fee` (`null`: the chain source's estimate
    /// for about an hour). Throws `InvalidFeeRate` for a rate below 1 sat/vB or far above what
    /// the next block needs. Returns the transaction id.
    #[uniffi::method(default(fee = None))]
    pub async fn send_onchain(
        &self,
        address: String,
        amount_sat: Option<u64>,
        fee: Option<OnchainFee>,
    ) -> Result<String, SendError> {
        Ok(self.inner.send_onchain(&address, amount_sat, fee).await?)
    }

    /// Prices an on-chain send of `amount_sat` to `address` (everything spendable when
    /// `null`) at the miner fee `fee`, for `send`: the quote carries the choice in
    /// `SendQuote.onchain_fee` (a target's rate is taken again when sending). Throws
    /// `InvalidFeeRate` for a rate out of range.
    pub async fn prepare_send_onchain(
        &self,
        address: String,
        amount_sat: Option<u64>,
        fee: OnchainFee,
    ) -> Result<SendQuote, SendError> {
        Ok(self.inner.prepare_send_onchain(&address, amount_sat, fee).await?)
    }

    /// The fee rates the chain source estimates now for the next block, about an hour and
    /// about a day, in sat/vB: the choices of an on-chain send screen. Works whether or not
    /// the wallet runs; throws `ChainSync` if the chain source cannot be reached.
    pub async fn onchain_fee_estimates(&self) -> Result<OnchainFeeEstimates, SendError> {
        Ok(self.inner.onchain_fee_estimates().await?)
    }

    /// Registers this wallet for push notifications with its LSP (needs `LspConfig.api_url`, a
    /// running wallet and a channel with the LSP). Afterwards `receive_offer` yields an offer
    /// that stays payable while the phone sleeps. Registering again replaces the target.
    pub async fn register_for_push(
        &self,
        app_name: String,
        target: PushTarget,
    ) -> Result<PushRegistration, PushError> {
        Ok(self.inner.register_for_push(app_name, target).await?)
    }

    /// The offline BOLT 12 offer, waiting up to `timeout_ms` for the LSP to store the wallet's
    /// static invoice after `register_for_push` (`PushError.OfferNotReady` if it has not). The
    /// offer is reusable and is cached for `cached_offer`.
    #[uniffi::method(default(timeout_ms = 30000))]
    pub async fn receive_offer(&self, timeout_ms: u64) -> Result<String, PushError> {
        Ok(self.inner.receive_offer(Duration::from_millis(timeout_ms)).await?)
    }

    /// Whether this wallet's network graph has `node_id`'s node announcement: paying a BOLT 12
    /// offer, and releasing a payment held for this wallet, need the announcement of the other
    /// side's LSP. Needs a running wallet.
    pub fn knows_node(&self, node_id: String) -> Result<bool, WalletError> {
        Ok(self.inner.knows_node(&node_id)?)
    }

    /// The last offline offer this wallet obtained, readable without starting the wallet (for a
    /// receive screen shown while it sleeps).
    pub fn cached_offer(&self) -> Result<Option<String>, PushError> {
        Ok(self.inner.cached_offer()?)
    }

    /// Handles a push notification from the LSP: `payload` is the notification's body,
    /// `headers` its `x-lsps5-timestamp` and `x-lsps5-signature` fields. Verifies it before
    /// anything else (`PushError.InvalidPush` if forged, expired, replayed or malformed), then
    /// starts the wallet lean, receives what the LSP holds for it, and stops, within
    /// `deadline_ms` (give it the time the OS allows minus a margin for the notification) plus
    /// the time a clean stop takes. The `WakeOutcome` says what to show.
    pub async fn handle_push(
        &self,
        payload: Vec<u8>,
        headers: HashMap<String, String>,
        deadline_ms: u64,
    ) -> Result<WakeOutcome, PushError> {
        let deadline = Duration::from_millis(deadline_ms);
        Ok(self.inner.handle_push(payload, headers, deadline).await?)
    }

    /// `handle_push` for a notification service extension (iOS) or an Android service or
    /// worker that cannot await: blocks the calling thread until the wake is over. Never call
    /// it on the main thread.
    pub fn handle_push_blocking(
        &self,
        payload: Vec<u8>,
        headers: HashMap<String, String>,
        deadline_ms: u64,
    ) -> Result<WakeOutcome, PushError> {
        let deadline = Duration::from_millis(deadline_ms);
        Ok(block_on(self.inner.handle_push(payload, headers, deadline))?)
    }
}
