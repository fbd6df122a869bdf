//! Lightning requests: what the crate read turned into Doze's requests (BOLT11 invoices, BOLT12
//! offers, with sane amounts), what it does not read (BOLT12 refunds, node ids), and why an
//! invoice or offer cannot be paid, in words (its network, how long ago it expired).

use std::str::FromStr;
use std::time::Duration;

use ldk_node::bitcoin::constants::ChainHash;
use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network as BtcNetwork;
use ldk_node::lightning::offers::offer::{Amount, Offer};
use ldk_node::lightning::offers::parse::Bolt12ParseError;
use ldk_node::lightning::offers::refund::Refund;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};

use super::{cap, now_secs, snippet, wrong_network, ParseError, PaymentRequest, MAX_MSAT};
use crate::config::Network;

/// Whether `text` starts with `prefix`, ignoring ASCII case (never slices inside a character).
pub(super) fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether `text` starts like a BOLT11 invoice (`lnbc`, `lntb`, `lnsb`, any case).
pub(super) fn looks_like_bolt11(text: &str) -> bool {
    ["lnbc", "lntb", "lnsb"].iter().any(|p| starts_with_ci(text, p))
}

/// What Doze reads itself because the crate does not: a BOLT12 refund (`lnr1…`) or a node id.
/// `None` when `text` is neither.
pub(super) fn parse_doze_only(
    text: &str,
    network: Network,
) -> Option<Result<PaymentRequest, ParseError>> {
    if starts_with_ci(text, "lnr1") {
        return Some(parse_refund(text, network));
    }
    parse_node_id(text).map(Ok)
}

/// Why `text` (an invoice, offer or address) cannot be paid on `network` now: the network it
/// is for, or how long ago it expired. `None` if it can be, or is none of those.
pub(super) fn network_or_expiry(text: &str, network: Network) -> Option<ParseError> {
    if let Ok(invoice) = Bolt11Invoice::from_str(text) {
        if invoice.currency() != Currency::from(network.to_bitcoin()) {
            return Some(wrong_network(network, currency_name(invoice.currency())));
        }
        return invoice.is_expired().then(|| expired(invoice.expires_at()));
    }
    if let Ok(offer) = Offer::from_str(text) {
        let chains = offer.chains();
        if !chains.contains(&ChainHash::using_genesis_block(network.to_bitcoin())) {
            let mut names: Vec<&str> = chains.iter().map(chain_name).collect();
            names.dedup();
            return Some(wrong_network(network, names.join(" or ")));
        }
        return offer.is_expired().then(|| expired(offer.absolute_expiry()));
    }
    super::onchain::parse_address(text, network).err()
}

/// A BOLT11 invoice the crate refused, in words.
pub(super) fn invalid_bolt11(text: &str, why: &str) -> ParseError {
    ParseError::InvalidInvoice(format!(
        "{} is not a valid BOLT11 invoice ({})",
        snippet(text),
        cap(why)
    ))
}

/// A BOLT12 offer the crate or LDK refused, in words.
pub(super) fn invalid_offer(text: &str, e: &Bolt12ParseError) -> ParseError {
    ParseError::InvalidOffer(format!(
        "{} is not a valid offer: {}",
        snippet(text),
        bolt12_reason(e)
    ))
}

fn currency_name(currency: Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "bitcoin mainnet",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

fn check_msat(amount_msat: u64, what: &str) -> Result<u64, ParseError> {
    if amount_msat == 0 {
        return Err(ParseError::InvalidAmount(format!(
            "the {what}'s amount is 0 msat, which cannot be paid"
        )));
    }
    if amount_msat > MAX_MSAT {
        return Err(ParseError::InvalidAmount(format!(
            "the {what}'s amount, {amount_msat} msat, is more than 21 million bitcoin"
        )));
    }
    Ok(amount_msat)
}

fn expired(expires_at: Option<Duration>) -> ParseError {
    let at = expires_at.map(|d| d.as_secs()).unwrap_or(0);
    ParseError::Expired { seconds_ago: now_secs().saturating_sub(at) }
}

/// The request for an invoice the crate read (network and expiry checked there), with a sane
/// amount.
pub(super) fn invoice_request(invoice: &Bolt11Invoice) -> Result<PaymentRequest, ParseError> {
    let amount_msat =
        invoice.amount_milli_satoshis().map(|a| check_msat(a, "invoice")).transpose()?;
    let description = match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
        Bolt11InvoiceDescriptionRef::Hash(_) => None,
    };
    Ok(PaymentRequest::Bolt11 {
        invoice: invoice.to_string(),
        amount_msat,
        description,
        payment_hash: invoice.payment_hash().as_byte_array().to_lower_hex_string(),
        payee_pubkey: invoice.get_payee_pub_key().to_string(),
        expires_at_secs: invoice.expires_at().map(|d| d.as_secs()).unwrap_or(u64::MAX),
        supports_mpp: invoice.features().is_some_and(|f| f.supports_basic_mpp()),
        onchain_fallback: None,
    })
}

fn bolt12_reason(e: &Bolt12ParseError) -> String {
    match e {
        Bolt12ParseError::InvalidContinuation | Bolt12ParseError::InvalidLeadingWhitespace => {
            "it is split into parts wrongly (a '+' or whitespace out of place)".into()
        }
        Bolt12ParseError::InvalidBech32Hrp => "it has the wrong prefix".into(),
        Bolt12ParseError::Bech32(e) => {
            format!("a character is wrong or missing ({})", cap(&e.to_string()))
        }
        Bolt12ParseError::Decode(e) => {
            format!("its contents cannot be decoded ({})", cap(&format!("{e:?}")))
        }
        Bolt12ParseError::InvalidSemantics(e) => {
            format!("its contents are inconsistent ({})", cap(&format!("{e:?}")))
        }
        Bolt12ParseError::InvalidSignature(_) => "its signature does not match".into(),
    }
}

/// A name for a chain a BOLT12 message names.
fn chain_name(chain: &ChainHash) -> &'static str {
    [
        (BtcNetwork::Bitcoin, "bitcoin mainnet"),
        (BtcNetwork::Testnet, "testnet"),
        (BtcNetwork::Testnet4, "testnet4"),
        (BtcNetwork::Signet, "signet"),
        (BtcNetwork::Regtest, "regtest"),
    ]
    .iter()
    .find(|(n, _)| ChainHash::using_genesis_block(*n) == *chain)
    .map(|(_, name)| *name)
    .unwrap_or("an unknown chain")
}

/// The request for an offer the crate read (chain and expiry checked there), priced in
/// bitcoin if at all, with a sane amount.
pub(super) fn offer_request(offer: &Offer, network: Network) -> Result<PaymentRequest, ParseError> {
    // The crate checked the chain too; a second look costs nothing and keeps the rule here.
    if !offer.chains().contains(&ChainHash::using_genesis_block(network.to_bitcoin())) {
        return Err(wrong_network(network, "another network"));
    }
    let amount_msat = match offer.amount() {
        None => None,
        Some(Amount::Bitcoin { amount_msats }) => Some(check_msat(amount_msats, "offer")?),
        Some(Amount::Currency { iso4217_code, .. }) => {
            return Err(ParseError::InvalidOffer(format!(
                "the offer is priced in {}; only offers priced in bitcoin can be paid",
                iso4217_code.as_str()
            )))
        }
    };
    Ok(PaymentRequest::Bolt12Offer {
        offer: offer.to_string(),
        amount_msat,
        description: offer.description().map(|d| d.to_string()),
        issuer: offer.issuer().map(|i| i.to_string()),
        onchain_fallback: None,
        bolt11_fallback: None,
    })
}

/// A BOLT12 refund for `network`, with a sane amount, not expired.
fn parse_refund(text: &str, network: Network) -> Result<PaymentRequest, ParseError> {
    let refund = Refund::from_str(text).map_err(|e| {
        ParseError::InvalidOffer(format!(
            "{} is not a valid refund: {}",
            snippet(text),
            bolt12_reason(&e)
        ))
    })?;
    let chain = refund.chain();
    if chain != ChainHash::using_genesis_block(network.to_bitcoin()) {
        return Err(wrong_network(network, chain_name(&chain)));
    }
    let amount_msat = check_msat(refund.amount_msats(), "refund")?;
    if refund.is_expired() {
        return Err(expired(refund.absolute_expiry()));
    }
    Ok(PaymentRequest::Bolt12Refund {
        refund: refund.to_string(),
        amount_msat,
        description: refund.description().to_string(),
    })
}

/// A node public key (66 hex digits), for keysend. `None` when `text` is not one.
fn parse_node_id(text: &str) -> Option<PaymentRequest> {
    if text.len() != 66 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let key = PublicKey::from_str(text).ok()?;
    Some(PaymentRequest::Keysend { node_id: key.to_string() })
}
