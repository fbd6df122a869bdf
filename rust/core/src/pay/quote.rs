//! Quoting a send: one balance to the user, many channels underneath. A quote says how much
//! will be sent, the most it may cost in routing fees, whether it can be paid now and if not
//! why, and the most that can be sent to this recipient. Sending it (`send.rs`) splits the
//! payment over the wallet's own channels (LDK's router with a path count and fee cap), and
//! "send max" empties the Lightning balance to a recipient in one call.

use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::{ChannelDetails, Node};

use crate::error::WalletError;
use crate::pay::fees::{expected_routing_fee, OnchainFee};
use crate::pay::names::{NameResolver, Resolution, ResolvedRecipient};
use crate::pay::parse::{parse, ParseError, PaymentRequest, MAX_MSAT};
use crate::wallet::Wallet;

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
    /// Who a name or LNURL led to (the name, how it was found, the recipient's limits and
    /// description), to show beside the amount; `None` for an invoice, offer or address.
    pub recipient: Option<ResolvedRecipient>,
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

pub(super) struct Liquidity {
    pub(super) total_msat: u64,
    pub(super) largest_msat: u64,
    pub(super) usable_channels: usize,
}

pub(super) fn liquidity(channels: &[ChannelDetails]) -> Liquidity {
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
        PaymentRequest::Bolt12Refund { .. }
        | PaymentRequest::Keysend { .. }
        | PaymentRequest::Name { .. }
        | PaymentRequest::Lnurl { .. }
        | PaymentRequest::LnurlPay { .. } => None,
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
    if let PaymentRequest::Name { .. } | PaymentRequest::Lnurl { .. } = request {
        return Err(WalletError::InvalidRequest(ParseError::NameResolution {
            name: "this request".into(),
            reason: "it was not looked up; pass the text to prepare_send".into(),
        }));
    }
    if let PaymentRequest::LnurlPay { .. } = request {
        if send_max {
            return Err(WalletError::InvalidAmount(
                "send max cannot pay an LNURL or Lightning Address: enter an amount".into(),
            ));
        }
    }
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
            recipient: None,
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
        recipient: None,
    })
}

pub(super) fn route_params(fee_cap_msat: u64, max_path_count: u32) -> RouteParametersConfig {
    RouteParametersConfig {
        max_total_routing_fee_msat: Some(fee_cap_msat),
        max_total_cltv_expiry_delta: MAX_TOTAL_CLTV_EXPIRY_DELTA,
        max_path_count: max_path_count.clamp(1, MAX_PATH_COUNT as u32) as u8,
        // Our own channels are first hops, where LDK uses their exact limits; beyond them,
        // LDK's default of using at most a quarter of a channel's capacity stays.
        max_channel_saturation_power_of_half: 2,
    }
}

impl Wallet {
    /// Parses `input` (invoice, offer, BIP21 URI, address, node id, name, LNURL) and prices
    /// paying it: `amount_msat` for requests without an amount, `fee_limit_msat` to override
    /// the default fee cap (1 % with a 10 sat floor).
    ///
    /// A name (`₿alice@example.com`, `alice@example.com`) or an LNURL is looked up first
    /// (`pay/names/`), which takes network round trips (each request bounded by
    /// `NameResolutionConfig.timeout_secs`, each step by twice that): call it off the UI
    /// thread. A Lightning Address or LNURL without `amount_msat` quotes its terms
    /// (`quote.recipient` has the limits, the blocker is `AmountRequired`); with one, the
    /// server's invoice for that amount.
    pub fn prepare_send(
        &self,
        input: &str,
        amount_msat: Option<u64>,
        fee_limit_msat: Option<u64>,
    ) -> Result<SendQuote, WalletError> {
        let request = parse(input, self.inner.config.network)?;
        let node = self.inner.node()?;
        let Resolution { request, recipient } = self.look_up(request, amount_msat)?;
        let mut quote = quote(&node, request, amount_msat, fee_limit_msat, false)?;
        quote.recipient = recipient;
        Ok(quote)
    }

    /// Looks up a name or LNURL on the wallet's runtime and waits for it (bounded: each step
    /// has its timeout); other requests return at once.
    fn look_up(
        &self,
        request: PaymentRequest,
        amount_msat: Option<u64>,
    ) -> Result<Resolution, WalletError> {
        if !matches!(
            request,
            PaymentRequest::Name { .. }
                | PaymentRequest::Lnurl { .. }
                | PaymentRequest::LnurlPay { .. }
        ) {
            return Ok(Resolution { request, recipient: None });
        }
        let config = self.inner.config.name_resolution.clone().unwrap_or_default();
        let resolver = NameResolver::new(&config, self.inner.config.network)?;
        let (answer, awaited) = crate::tasks::answer();
        crate::tasks::spawn(&self.runtime_handle()?, async move {
            answer.give(resolver.resolve(request, amount_msat).await);
        });
        // Two steps (a lookup, an invoice) of at most twice the timeout each, and a margin.
        let bound = std::time::Duration::from_secs(4 * u64::from(config.timeout_secs) + 5);
        let reason = match awaited.wait_for(bound) {
            Ok(resolution) => return Ok(resolution?),
            Err(crate::tasks::NoAnswer::TimedOut) => "the lookup did not finish in time",
            Err(crate::tasks::NoAnswer::Stopped) => "the lookup stopped before it finished",
        };
        Err(WalletError::InvalidRequest(ParseError::NameResolution {
            name: "the recipient".into(),
            reason: format!("{reason}; try again"),
        }))
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
        // A BIP 353 name can be emptied into like what it holds; LNURL-pay needs an amount.
        let Resolution { request, recipient } = self.look_up(request, None)?;
        let mut quote = quote(&node, request, None, fee_limit_msat, true)?;
        quote.recipient = recipient;
        Ok(quote)
    }
}
