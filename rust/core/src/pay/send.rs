//! Sending a quote ([`Wallet::send`]): one Lightning attempt split over the wallet's channels
//! (or "send max", which empties them), or an on-chain transaction, each recorded in the
//! history before it starts, and a paid invoice never paid twice.
//!
//! And two conveniences over that one send path ([`Wallet::prepare_send`] then
//! [`Wallet::send`]): paying a BOLT11 invoice and sending on-chain in one call. They take the
//! same checks, write the same history rows and return the same errors as a quote the app
//! sends itself; only their input errors are worded for what they were given (an invoice, an
//! address).

use std::str::FromStr;

use ldk_node::bitcoin::address::NetworkUnchecked;
use ldk_node::bitcoin::Address;
use ldk_node::lightning_invoice::Bolt11Invoice;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Txid;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::{Node, NodeError};

use crate::config::Network;
use crate::error::WalletError;
use crate::pay::fees::OnchainFee;
use crate::pay::parse::{parse, ParseError, PaymentRequest};
use crate::pay::quote::{liquidity, route_params, SendBlocker, SendQuote, DEFAULT_FEE_FLOOR_MSAT};
use crate::store::history::History;
use crate::store::now_secs;
use crate::store::payments::{PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};
use crate::wallet::{Inner, Wallet};

/// A parse failure in the words of the call that parsed: `not_this` for inputs of the wrong
/// kind or format.
fn from_parse_error(e: ParseError, not_this: fn(String) -> WalletError) -> WalletError {
    match e {
        ParseError::WrongNetwork { expected, found } => {
            WalletError::WrongNetwork { expected, found }
        }
        ParseError::Expired { seconds_ago } => WalletError::InvoiceExpired { seconds_ago },
        ParseError::InvalidInvoice(m) => WalletError::InvalidInvoice(m),
        ParseError::InvalidAddress(m) => WalletError::InvalidAddress(m),
        ParseError::InvalidAmount(m) => WalletError::InvalidAmount(m),
        other => not_this(other.to_string()),
    }
}

/// Parses a BOLT11 invoice (through [`parse`]) and checks it can be paid from a wallet on
/// `network` now.
pub(crate) fn parse_bolt11(input: &str, network: Network) -> Result<Bolt11Invoice, WalletError> {
    match parse(input, network).map_err(|e| from_parse_error(e, WalletError::InvalidInvoice))? {
        PaymentRequest::Bolt11 { invoice, .. } => Bolt11Invoice::from_str(&invoice)
            .map_err(|e| WalletError::InvalidInvoice(format!("not a BOLT11 invoice ({e})"))),
        _ => Err(WalletError::InvalidInvoice("not a BOLT11 invoice".into())),
    }
}

/// Parses an on-chain address or BIP21 URI (through [`parse`]) and checks it belongs to
/// `network`.
pub(crate) fn parse_address(input: &str, network: Network) -> Result<Address, WalletError> {
    let address = match parse(input, network)
        .map_err(|e| from_parse_error(e, WalletError::InvalidAddress))?
    {
        PaymentRequest::OnChain { address, .. } => address,
        PaymentRequest::Bolt11 { onchain_fallback: Some(address), .. }
        | PaymentRequest::Bolt12Offer { onchain_fallback: Some(address), .. } => address,
        _ => return Err(WalletError::InvalidAddress("not a bitcoin address".into())),
    };
    Address::<NetworkUnchecked>::from_str(&address)
        .map(Address::assume_checked)
        .map_err(|e| WalletError::InvalidAddress(format!("not a bitcoin address ({e})")))
}

/// Sends one Lightning attempt for `amount_msat`; ldk-node's error if it could not start.
fn send_lightning(
    node: &Node,
    request: &PaymentRequest,
    amount_msat: u64,
    fee_cap_msat: u64,
    paths: u32,
) -> Result<String, NodeError> {
    let params = Some(route_params(fee_cap_msat, paths));
    let id = match request {
        PaymentRequest::Bolt11 { invoice, amount_msat: fixed, .. } => {
            let invoice =
                Bolt11Invoice::from_str(invoice).map_err(|_| NodeError::InvalidInvoice)?;
            match fixed {
                Some(_) => node.bolt11_payment().send(&invoice, params)?,
                None => node.bolt11_payment().send_using_amount(&invoice, amount_msat, params)?,
            }
        }
        PaymentRequest::Bolt12Offer { offer, amount_msat: fixed, .. } => {
            let offer = Offer::from_str(offer).map_err(|_| NodeError::InvalidOffer)?;
            match fixed {
                Some(_) => node.bolt12_payment().send(&offer, None, None, params)?,
                None => node.bolt12_payment().send_using_amount(
                    &offer,
                    amount_msat,
                    None,
                    None,
                    params,
                )?,
            }
        }
        PaymentRequest::Keysend { node_id } => {
            let node_id = PublicKey::from_str(node_id).map_err(|_| NodeError::InvalidNodeId)?;
            node.spontaneous_payment().send(amount_msat, node_id, params)?
        }
        // LNURL-pay terms are quoted as the server's invoice once an amount is chosen; a name
        // or LNURL is looked up by `prepare_send`: none of these reaches a send as it is.
        PaymentRequest::OnChain { .. }
        | PaymentRequest::Bolt12Refund { .. }
        | PaymentRequest::Name { .. }
        | PaymentRequest::Lnurl { .. }
        | PaymentRequest::LnurlPay { .. } => return Err(NodeError::InvalidAmount),
    };
    Ok(id.0.to_lower_hex_string())
}

fn request_text(request: &PaymentRequest) -> String {
    match request {
        PaymentRequest::Bolt11 { invoice, .. } => invoice.clone(),
        PaymentRequest::Bolt12Offer { offer, .. } => offer.clone(),
        PaymentRequest::Bolt12Refund { refund, .. } => refund.clone(),
        PaymentRequest::OnChain { address, .. } => address.clone(),
        PaymentRequest::Keysend { node_id } => node_id.clone(),
        PaymentRequest::Name { name } => name.clone(),
        PaymentRequest::Lnurl { url } => url.clone(),
        PaymentRequest::LnurlPay { callback, .. } => callback.clone(),
    }
}

/// Writes what a send started to the history: the payment (`None` when the node has no
/// record of it yet) with its request and quote, and one more attempt.
fn record(inner: &Inner, id: &str, payment: Option<PaymentInfo>, quote: &SendQuote) {
    let result = History::open(&inner.storage_dir()).and_then(|history| {
        if let Some(payment) = payment {
            let summary = format!(
                "amount_msat={} fee_cap_msat={} max_path_count={} send_max={}",
                quote.amount_msat, quote.fee_cap_msat, quote.max_path_count, quote.send_max
            );
            history.upsert(&payment, Some(&request_text(&quote.request)), Some(&summary))?;
        }
        history.add_attempt(id, quote.fee_cap_msat).map(|_| ())
    });
    if let Err(e) = result {
        log::warn!("payment history not updated: {e}");
    }
}

/// Refuses to pay an invoice the history shows as paid or being paid. ldk-node's own check
/// reads its payment store, which keeps settled payments only for a while (see
/// [`crate::store::node_payments`]); LDK's forgets a settled payment after minutes. Paying an
/// invoice twice loses the second amount to the recipient.
fn refuse_duplicate(inner: &Inner, request: &PaymentRequest) -> Result<(), WalletError> {
    let PaymentRequest::Bolt11 { payment_hash, .. } = request else { return Ok(()) };
    // ldk-node's id for a BOLT11 payment is its payment hash.
    match History::open(&inner.storage_dir())?.payment(payment_hash)? {
        Some(p)
            if p.direction == PaymentDirection::Outbound && p.status != PaymentStatus::Failed =>
        {
            Err(WalletError::DuplicatePayment)
        }
        _ => Ok(()),
    }
}

/// The history row of an on-chain send, until the node's wallet sees the transaction (at the
/// next sync) and the history takes its record instead.
fn onchain_payment(txid: &Txid, quote: &SendQuote) -> PaymentInfo {
    let now = now_secs();
    PaymentInfo {
        // ldk-node's id for an on-chain payment: the txid's bytes.
        id: txid.to_byte_array().to_lower_hex_string(),
        kind: PaymentKind::Onchain,
        direction: PaymentDirection::Outbound,
        status: PaymentStatus::Pending,
        amount_msat: (!quote.send_max).then_some(quote.amount_msat),
        fee_msat: None,
        payment_hash: None,
        txid: Some(txid.to_string()),
        created_at_secs: now,
        updated_at_secs: now,
        request: None,
    }
}

impl Wallet {
    /// Pays a quote, splitting it over the wallet's channels. Returns the payment id (on-chain:
    /// the transaction id); the outcome arrives as a `PaymentSent` or `PaymentFailed` event
    /// and in the history.
    pub async fn send(&self, quote: SendQuote) -> Result<String, WalletError> {
        if let Some(blocker) = &quote.blocker {
            return Err(match blocker {
                SendBlocker::AmountRequired => WalletError::InvalidAmount(blocker.to_string()),
                SendBlocker::NoRoute { .. } => WalletError::PaymentFailed(blocker.to_string()),
                _ => WalletError::InsufficientFunds(blocker.to_string()),
            });
        }
        // A target's rate is the chain source's estimate now, not when the quote was made.
        let fee_rate = match (&quote.request, quote.onchain_fee) {
            (PaymentRequest::OnChain { .. }, Some(fee)) => Some(self.onchain_fee_rate(fee).await?),
            _ => None,
        };
        self.blocking(move |inner| {
            let node = inner.node_for_channel_update()?;
            refuse_duplicate(inner, &quote.request)?;
            if let PaymentRequest::OnChain { address, .. } = &quote.request {
                let address = parse_address(address, inner.config.network)?;
                let onchain = node.onchain_payment();
                let sent = if quote.send_max {
                    onchain.send_all_to_address(&address, true, fee_rate)
                } else {
                    onchain.send_to_address(&address, quote.amount_msat / 1000, fee_rate)
                };
                let txid = node.settle(sent.map_err(WalletError::from))?;
                let payment = onchain_payment(&txid, &quote);
                record(inner, &payment.id.clone(), Some(payment), &quote);
                return Ok(txid.to_string());
            }
            let sent = if quote.send_max {
                send_max(&node, &quote)
            } else {
                send_lightning(
                    &node,
                    &quote.request,
                    quote.amount_msat,
                    quote.fee_cap_msat,
                    quote.max_path_count,
                )
                .map_err(WalletError::from)
            };
            // A store that failed meanwhile (another device took the wallet over) kept nothing
            // of this payment, and its peers heard nothing of it: it was not made.
            let id = node.settle(sent)?;
            let payment = node.list_payments_with_filter(|p| p.id.0.to_lower_hex_string() == id);
            record(inner, &id, payment.first().map(PaymentInfo::from), &quote);
            Ok(id)
        })
        .await
    }
}

/// Sends everything: the amount is what the channels can carry minus the fees the route
/// actually needs. Fees are not known before routing, so this starts from the smallest
/// plausible fee (the LSP's base fee on each part) and doubles the reserve until LDK's router
/// finds a route — a router refusal sends nothing, so each try is free.
fn send_max(node: &Node, quote: &SendQuote) -> Result<String, WalletError> {
    let channels = node.list_channels();
    let liquidity = liquidity(&channels);
    let capacity =
        if quote.recipient_accepts_split { liquidity.total_msat } else { liquidity.largest_msat };
    let parts = if quote.recipient_accepts_split { liquidity.usable_channels as u64 } else { 1 };
    let base_fee = channels
        .iter()
        .filter_map(|c| c.counterparty_forwarding_info_fee_base_msat)
        .max()
        .unwrap_or(1_000) as u64;
    let mut reserve = (parts * base_fee).max(1);
    let mut last_error = WalletError::InsufficientFunds("nothing to send".into());
    while reserve <= quote.fee_cap_msat.max(DEFAULT_FEE_FLOOR_MSAT) * 4 && reserve < capacity {
        let amount = capacity - reserve;
        match send_lightning(node, &quote.request, amount, reserve, quote.max_path_count) {
            Ok(id) => return Ok(id),
            Err(NodeError::PaymentSendingFailed) => {
                log::debug!(
                    "send max: no route for {amount} msat with {reserve} msat of fees, \
                     reserving more"
                );
                last_error =
                    WalletError::PaymentFailed(format!("no route for {} sat", amount / 1000));
            }
            Err(e) => return Err(e.into()),
        }
        reserve *= 2;
    }
    Err(last_error)
}

impl Wallet {
    /// Pays a BOLT11 invoice: [`Wallet::prepare_send`] then [`Wallet::send`] with the default
    /// fee cap. `amount_msat` is required for an invoice without an amount and must be left
    /// out (or equal) otherwise. Returns the payment id; the outcome arrives as a
    /// `PaymentSent` or `PaymentFailed` event and in the history.
    pub async fn pay_bolt11(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
    ) -> Result<String, WalletError> {
        let invoice = parse_bolt11(invoice, self.inner.config.network)?;
        let quote = self.prepare_send(&invoice.to_string(), amount_msat, None)?;
        self.send(quote).await
    }

    /// Sends `amount_sat` on-chain to `address` (an address or a `bitcoin:` URI, whose own
    /// amount `amount_sat` replaces), or everything spendable when `None`, paying the miner
    /// fee `fee` (`None`: the chain source's estimate for about an hour):
    /// [`Wallet::prepare_send_onchain`] (or [`Wallet::prepare_send`] /
    /// [`Wallet::prepare_send_max`]) then [`Wallet::send`]. Returns the transaction id.
    pub async fn send_onchain(
        &self,
        address: &str,
        amount_sat: Option<u64>,
        fee: Option<OnchainFee>,
    ) -> Result<String, WalletError> {
        let address = parse_address(address, self.inner.config.network)?.to_string();
        let quote = match (amount_sat, fee) {
            (_, Some(fee)) => self.prepare_send_onchain(&address, amount_sat, fee).await?,
            (None, None) => self.prepare_send_max(&address, None)?,
            (Some(sat), None) => self.prepare_send(&address, Some(msat_of(sat)?), None)?,
        };
        self.send(quote).await
    }
}

/// `sat` in millisatoshis, or [`WalletError::InvalidAmount`] past `u64`.
pub(crate) fn msat_of(sat: u64) -> Result<u64, WalletError> {
    sat.checked_mul(1000).ok_or_else(|| {
        WalletError::InvalidAmount(format!("{sat} sat is more than 21 million bitcoin"))
    })
}
