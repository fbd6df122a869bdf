//! Quoting and sending: one balance to the user, many channels underneath. A quote says how
//! much will be sent, the most it may cost in routing fees, whether it can be paid now and if
//! not why, and the most that can be sent to this recipient. Sending splits the payment over
//! the wallet's own channels (LDK's router with a path count and fee cap), and "send max"
//! empties the Lightning balance to a recipient in one call.

use std::str::FromStr;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Txid;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::{ChannelDetails, Node, NodeError};

use crate::error::WalletError;
use crate::fees::{expected_routing_fee, OnchainFee};
use crate::history::History;
use crate::parse::{parse, PaymentRequest, MAX_MSAT};
use crate::payments::{PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};
use crate::send::parse_address;
use crate::store::now_secs;
use crate::wallet::{Inner, Wallet};

/// Default routing fee cap: 1 % of the amount...
pub const DEFAULT_FEE_PPM: u64 = 10_000;
/// ...but never less than 10 sat, so small payments still find a route.
pub const DEFAULT_FEE_FLOOR_MSAT: u64 = 10_000;
/// Paths one payment may be split over (LDK's default and maximum useful value).
const MAX_PATH_COUNT: u8 = 10;
/// LDK's default total CLTV budget.
const MAX_TOTAL_CLTV_EXPIRY_DELTA: u32 = 1008;

/// Why a quote cannot be paid now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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

impl std::fmt::Display for SendBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendBlocker::AmountRequired => {
                write!(f, "this request has no amount; say how much to send")
            }
            SendBlocker::InsufficientBalance { needed_msat, available_msat } => write!(
                f,
                "{} sat needed with fees, {} sat available",
                needed_msat.div_ceil(1000),
                available_msat / 1000
            ),
            SendBlocker::RecipientCannotSplit { largest_channel_msat } => write!(
                f,
                "the recipient does not accept payments split over several channels, and no \
                 single channel can carry it (at most {} sat)",
                largest_channel_msat / 1000
            ),
            SendBlocker::NoRoute { reason } => write!(f, "no route: {reason}"),
        }
    }
}

/// A priced, checked payment, from `Wallet.prepare_send` or `prepare_send_max`, ready for
/// `Wallet.send`. Show the amount and the fee cap; if `blocker` is set, show why it cannot be
/// paid instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SendQuote {
    /// What is being paid.
    pub request: PaymentRequest,
    /// The amount the recipient gets.
    pub amount_msat: u64,
    /// The most routing fees may cost (on-chain: 0, the miner fee is chosen when sending).
    pub fee_cap_msat: u64,
    /// The routing fees this payment is expected to cost: an estimate from what the wallet
    /// knows before routing (its LSP's fees, the invoice's route hints; 0 to the LSP itself),
    /// the least it should cost, not a bound; `fee_cap_msat` is the bound. On-chain: 0 (see
    /// `onchain_fee`).
    pub expected_fee_msat: u64,
    /// On-chain: the miner fee chosen with `Wallet.prepare_send_onchain`; `None` pays the
    /// chain source's estimate for about an hour (6 blocks). Lightning: `None`.
    pub onchain_fee: Option<OnchainFee>,
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

impl SendQuote {
    /// Whether [`Wallet::send`] can pay it now.
    pub fn payable(&self) -> bool {
        self.blocker.is_none()
    }
}

/// The fee cap for `amount_msat`: `limit` if given, else 1 % with a 10 sat floor.
pub fn default_fee_cap(amount_msat: u64, limit: Option<u64>) -> u64 {
    limit.unwrap_or_else(|| {
        proportional(amount_msat, DEFAULT_FEE_PPM, 1_000_000).max(DEFAULT_FEE_FLOOR_MSAT)
    })
}

/// `amount * numerator / denominator` without overflow, rounded down.
fn proportional(amount: u64, numerator: u64, denominator: u64) -> u64 {
    (u128::from(amount) * u128::from(numerator) / u128::from(denominator)) as u64
}

/// The largest amount `a` with `a + fee_cap(a) <= capacity`.
fn max_amount_within(capacity_msat: u64, limit: Option<u64>) -> u64 {
    if let Some(cap) = limit {
        return capacity_msat.saturating_sub(cap);
    }
    // Where the 1 % cap applies, a * 1.01 <= capacity; below it the floor does.
    let by_percent = proportional(capacity_msat, 1_000_000, 1_000_000 + DEFAULT_FEE_PPM);
    if default_fee_cap(by_percent, None) + by_percent <= capacity_msat {
        by_percent
    } else {
        capacity_msat.saturating_sub(DEFAULT_FEE_FLOOR_MSAT)
    }
}

struct Liquidity {
    total_msat: u64,
    largest_msat: u64,
    usable_channels: usize,
}

fn liquidity(channels: &[ChannelDetails]) -> Liquidity {
    let limits: Vec<u64> =
        channels.iter().filter(|c| c.is_usable).map(|c| c.next_outbound_htlc_limit_msat).collect();
    Liquidity {
        total_msat: limits.iter().sum(),
        largest_msat: limits.iter().copied().max().unwrap_or(0),
        usable_channels: limits.len(),
    }
}

fn request_amount(request: &PaymentRequest) -> Option<u64> {
    match request {
        PaymentRequest::Bolt11 { amount_msat, .. }
        | PaymentRequest::Bolt12Offer { amount_msat, .. } => *amount_msat,
        PaymentRequest::OnChain { amount_sat, .. } => amount_sat.map(|s| s.saturating_mul(1000)),
        PaymentRequest::Bolt12Refund { .. } | PaymentRequest::Keysend { .. } => None,
    }
}

fn accepts_split(request: &PaymentRequest) -> bool {
    match request {
        PaymentRequest::Bolt11 { supports_mpp, .. } => *supports_mpp,
        // BOLT 12 invoices from LDK (and the spec's common practice) accept multi-part.
        PaymentRequest::Bolt12Offer { .. } => true,
        _ => false,
    }
}

fn quote(
    node: &Node,
    request: PaymentRequest,
    amount_msat: Option<u64>,
    fee_limit_msat: Option<u64>,
    send_max: bool,
) -> Result<SendQuote, WalletError> {
    if let PaymentRequest::Bolt12Refund { .. } = request {
        return Err(WalletError::InvalidAmount(
            "this is a BOLT 12 refund: it pays you, it is not something to send to".into(),
        ));
    }
    if let Some(given) = amount_msat {
        if given > MAX_MSAT {
            return Err(WalletError::InvalidAmount(format!(
                "{given} msat is more than 21 million bitcoin"
            )));
        }
    }
    let fixed = request_amount(&request);
    if let (Some(fixed), Some(given)) = (fixed, amount_msat) {
        if fixed != given && !send_max {
            return Err(WalletError::InvalidAmount(format!(
                "the request asks for {fixed} msat, not {given} msat"
            )));
        }
    }
    if send_max && fixed.is_some() {
        return Err(WalletError::InvalidAmount(
            "this request has a fixed amount; send max needs an open amount".into(),
        ));
    }
    if let PaymentRequest::OnChain { .. } = request {
        let available = node.list_balances().spendable_onchain_balance_sats * 1000;
        let amount = if send_max { available } else { fixed.or(amount_msat).unwrap_or(0) };
        let blocker = match (amount, send_max) {
            (0, false) => Some(SendBlocker::AmountRequired),
            (a, false) if a > available => {
                Some(SendBlocker::InsufficientBalance { needed_msat: a, available_msat: available })
            }
            (0, true) => {
                Some(SendBlocker::InsufficientBalance { needed_msat: 1, available_msat: 0 })
            }
            _ => None,
        };
        return Ok(SendQuote {
            request,
            amount_msat: amount,
            fee_cap_msat: 0,
            expected_fee_msat: 0,
            onchain_fee: None,
            max_path_count: 1,
            recipient_accepts_split: false,
            blocker,
            max_sendable_msat: available,
            send_max,
        });
    }

    let split = accepts_split(&request);
    let liquidity = liquidity(&node.list_channels());
    let capacity = if split { liquidity.total_msat } else { liquidity.largest_msat };
    let max_sendable = max_amount_within(capacity, fee_limit_msat);
    let amount = if send_max { max_sendable } else { fixed.or(amount_msat).unwrap_or(0) };
    let fee_cap = default_fee_cap(amount, fee_limit_msat);
    let needed = amount.saturating_add(fee_cap);
    // The amount first: a person asked for it fixes that before anything else matters.
    let blocker = if amount == 0 && !send_max {
        Some(SendBlocker::AmountRequired)
    } else if liquidity.usable_channels == 0 {
        Some(SendBlocker::NoRoute {
            reason: "no usable channel yet: receive a payment first, or wait for a channel to open"
                .into(),
        })
    } else if send_max && amount == 0 {
        Some(SendBlocker::InsufficientBalance { needed_msat: fee_cap, available_msat: capacity })
    } else if needed > liquidity.total_msat {
        Some(SendBlocker::InsufficientBalance {
            needed_msat: needed,
            available_msat: liquidity.total_msat,
        })
    } else if !split && needed > liquidity.largest_msat {
        Some(SendBlocker::RecipientCannotSplit { largest_channel_msat: liquidity.largest_msat })
    } else {
        None
    };
    let max_path_count = if split { MAX_PATH_COUNT as u32 } else { 1 };
    let expected_fee_msat = expected_routing_fee(node, &request, amount, split);
    Ok(SendQuote {
        request,
        amount_msat: amount,
        fee_cap_msat: fee_cap,
        expected_fee_msat,
        onchain_fee: None,
        max_path_count,
        recipient_accepts_split: split,
        blocker,
        max_sendable_msat: max_sendable,
        send_max,
    })
}

fn route_params(fee_cap_msat: u64, max_path_count: u32) -> RouteParametersConfig {
    RouteParametersConfig {
        max_total_routing_fee_msat: Some(fee_cap_msat),
        max_total_cltv_expiry_delta: MAX_TOTAL_CLTV_EXPIRY_DELTA,
        max_path_count: max_path_count.clamp(1, MAX_PATH_COUNT as u32) as u8,
        // Our own channels are first hops, where LDK uses their exact limits; beyond them,
        // LDK's default of using at most a quarter of a channel's capacity stays.
        max_channel_saturation_power_of_half: 2,
    }
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
        PaymentRequest::OnChain { .. } | PaymentRequest::Bolt12Refund { .. } => {
            return Err(NodeError::InvalidAmount)
        }
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
/// [`crate::node_payments`]); LDK's forgets a settled payment after minutes. Paying an invoice
/// twice loses the second amount to the recipient.
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
    /// Parses `input` (invoice, offer, BIP21 URI, address, node id) and prices paying it:
    /// `amount_msat` for requests without an amount, `fee_limit_msat` to override the default
    /// fee cap (1 % with a 10 sat floor).
    pub fn prepare_send(
        &self,
        input: &str,
        amount_msat: Option<u64>,
        fee_limit_msat: Option<u64>,
    ) -> Result<SendQuote, WalletError> {
        let request = parse(input, self.inner.config.network)?;
        let node = self.inner.node()?;
        quote(&node, request, amount_msat, fee_limit_msat, false)
    }

    /// Prices sending everything the channels can carry to `input` (which must not fix an
    /// amount), routing fees included.
    pub fn prepare_send_max(
        &self,
        input: &str,
        fee_limit_msat: Option<u64>,
    ) -> Result<SendQuote, WalletError> {
        let request = parse(input, self.inner.config.network)?;
        let node = self.inner.node()?;
        quote(&node, request, None, fee_limit_msat, true)
    }

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
