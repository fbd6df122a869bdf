//! The bridge to `bitcoin-payment-instructions`: its parse run without the network (names and
//! LNURLs are only recognised here, `pay/names/` looks them up), its result turned into a
//! [`PaymentRequest`], and its errors into typed [`ParseError`]s that say which network a
//! request is for or how long ago it expired (the crate says neither).

use std::future::Future;
use std::pin::pin;
use std::str::FromStr;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bitcoin_payment_instructions::amount::Amount;
use bitcoin_payment_instructions::hrn_resolution::{
    HrnResolutionFuture, HrnResolver, HumanReadableName, LNURLResolutionFuture,
};
use bitcoin_payment_instructions::{ParseError as CrateError, PaymentInstructions, PaymentMethod};
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning_invoice::Bolt11Invoice;

use super::lightning::{self, invalid_bolt11, invalid_offer};
use super::onchain::{invalid_address, looks_like_address};
use super::{cap, snippet, ParseError, PaymentRequest};
use crate::config::Network;

/// What the crate's parse asked to resolve: a name or an LNURL's URL. Resolving is refused
/// (the parse stays pure); the request is returned unresolved instead.
#[derive(Default)]
struct Recognise {
    seen: Mutex<Option<PaymentRequest>>,
}

impl Recognise {
    fn saw(&self, request: PaymentRequest) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(request);
        }
    }
}

impl HrnResolver for Recognise {
    fn resolve_hrn<'a>(&'a self, hrn: &'a HumanReadableName) -> HrnResolutionFuture<'a> {
        self.saw(PaymentRequest::Name { name: name_text(hrn) });
        Box::pin(async { Err("not resolved while parsing") })
    }

    fn resolve_lnurl<'a>(&'a self, url: &'a str) -> HrnResolutionFuture<'a> {
        self.saw(PaymentRequest::Lnurl { url: url.to_string() });
        Box::pin(async { Err("not resolved while parsing") })
    }

    fn resolve_lnurl_to_invoice<'a>(
        &'a self,
        _: String,
        _: Amount,
        _: [u8; 32],
    ) -> LNURLResolutionFuture<'a> {
        Box::pin(async { Err("not resolved while parsing") })
    }
}

/// `user@domain`, lower case (DNS names and Lightning Addresses ignore case).
pub(crate) fn name_text(hrn: &HumanReadableName) -> String {
    format!("{}@{}", hrn.user(), hrn.domain()).to_ascii_lowercase()
}

/// Polls a future that never waits (the crate's parse with [`Recognise`], which answers at
/// once) to its end on this thread.
fn run_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Reads `text` with the crate: what it read or refused, or (`Err`) the name or LNURL it
/// recognised.
pub(super) fn crate_parse(
    text: &str,
    network: Network,
) -> Result<Result<PaymentInstructions, CrateError>, Box<PaymentRequest>> {
    let recognise = Recognise::default();
    let parsed = run_now(PaymentInstructions::parse(text, network.to_bitcoin(), &recognise, false))
        .unwrap_or(Err(CrateError::UnknownPaymentInstructions));
    if let Ok(mut seen) = recognise.seen.lock() {
        if let Some(request) = seen.take() {
            return Err(Box::new(request));
        }
    }
    Ok(parsed)
}

/// A string that is not a `bitcoin:` URI: an invoice, an offer, an address, a name, an LNURL.
pub(super) fn parse_plain(text: &str, network: Network) -> Result<PaymentRequest, ParseError> {
    match crate_parse(text, network) {
        Err(unresolved) => Ok(*unresolved),
        Ok(Ok(instructions)) => to_request(&instructions, network, &[]),
        Ok(Err(e)) => Err(explain(e, text, network)),
    }
}

/// Turns what the crate read into the request Doze pays: an offer first, then an invoice,
/// then an address (see the module docs of [`super`]). `uri_parts` are the URI's parts, to
/// explain a refusal.
pub(super) fn to_request(
    instructions: &PaymentInstructions,
    network: Network,
    uri_parts: &[&str],
) -> Result<PaymentRequest, ParseError> {
    let methods = match instructions {
        PaymentInstructions::FixedAmount(fixed) => fixed.methods().to_vec(),
        PaymentInstructions::ConfigurableAmount(open) => open
            .methods()
            .filter_map(|m| match m {
                bitcoin_payment_instructions::PossiblyResolvedPaymentMethod::Resolved(m) => {
                    Some(m.clone())
                }
                _ => None,
            })
            .collect(),
    };
    let onchain_amount = match instructions {
        PaymentInstructions::FixedAmount(fixed) => fixed.onchain_payment_amount(),
        PaymentInstructions::ConfigurableAmount(_) => None,
    };
    let offer = methods.iter().find_map(|m| match m {
        PaymentMethod::LightningBolt12(offer) => Some(offer),
        _ => None,
    });
    let invoice = methods.iter().find_map(|m| match m {
        PaymentMethod::LightningBolt11(invoice) => Some(invoice),
        _ => None,
    });
    let address = methods.iter().find_map(|m| match m {
        PaymentMethod::OnChain(address) => Some(address.to_string()),
        _ => None,
    });
    if let Some(offer) = offer {
        let mut request = lightning::offer_request(offer, network)?;
        if let PaymentRequest::Bolt12Offer { onchain_fallback, bolt11_fallback, .. } = &mut request
        {
            *onchain_fallback = address;
            *bolt11_fallback = invoice.map(|i| i.to_string());
        }
        return Ok(request);
    }
    if let Some(invoice) = invoice {
        let mut request = lightning::invoice_request(invoice)?;
        if let PaymentRequest::Bolt11 { onchain_fallback, .. } = &mut request {
            *onchain_fallback = address;
        }
        return Ok(request);
    }
    match address {
        Some(address) => Ok(PaymentRequest::OnChain {
            address,
            amount_sat: onchain_amount.map(|a| a.sats_rounding_up()),
            label: None,
            message: None,
        }),
        None => Err(ParseError::InvalidUri(match uri_parts.is_empty() {
            true => "it has nothing this wallet can pay".into(),
            false => "it has neither an address nor a Lightning invoice or offer".into(),
        })),
    }
}

/// A crate error about `text` (one request, not a URI) in Doze's words.
pub(super) fn explain(e: CrateError, text: &str, network: Network) -> ParseError {
    match e {
        CrateError::WrongNetwork | CrateError::InstructionsExpired => {
            lightning::network_or_expiry(text, network).unwrap_or_else(|| {
                ParseError::InvalidUri(format!("{} cannot be paid now", snippet(text)))
            })
        }
        CrateError::InvalidBolt11(e) => invalid_bolt11(text, &e.to_string()),
        CrateError::InvalidBolt12(e) => invalid_offer(text, &e),
        CrateError::InvalidOnChain(e) => invalid_address(text, &e.to_string()),
        CrateError::InvalidLnurl(why) => {
            ParseError::InvalidLnurl(format!("{} ({})", snippet(text), cap(why)))
        }
        CrateError::InconsistentInstructions(why) => ParseError::InvalidAmount(format!(
            "the link's payment options disagree ({}); ask the recipient for a new link",
            cap(why.trim())
        )),
        CrateError::InvalidInstructions(why) => {
            if lightning::starts_with_ci(text, "lno1") {
                ParseError::InvalidOffer(format!("{} cannot be paid: {}", snippet(text), cap(why)))
            } else if lightning::looks_like_bolt11(text) {
                ParseError::InvalidInvoice(format!(
                    "{} cannot be paid: {}",
                    snippet(text),
                    cap(why)
                ))
            } else {
                ParseError::InvalidUri(cap(why))
            }
        }
        CrateError::UnknownRequiredParameter => {
            ParseError::InvalidUri("it requires something this wallet does not understand".into())
        }
        CrateError::HrnResolutionError(why) => {
            ParseError::NameResolution { name: doze_redact::clip(text, 40), reason: cap(why) }
        }
        CrateError::UnknownPaymentInstructions
        | CrateError::InvalidArk(_)
        | CrateError::InvalidCashu(_) => unknown(text),
    }
}

/// Nothing the crate reads: say what it looks like it was meant to be, if anything.
fn unknown(text: &str) -> ParseError {
    if lightning::looks_like_bolt11(text) {
        return match Bolt11Invoice::from_str(text) {
            Err(e) => invalid_bolt11(text, &e.to_string()),
            Ok(_) => ParseError::InvalidInvoice(format!("{} cannot be paid", snippet(text))),
        };
    }
    if lightning::starts_with_ci(text, "lno1") {
        return match Offer::from_str(text) {
            Err(e) => invalid_offer(text, &e),
            Ok(_) => ParseError::InvalidOffer(format!("{} cannot be paid", snippet(text))),
        };
    }
    if looks_like_address(text) {
        return match ldk_node::bitcoin::Address::from_str(text) {
            Err(e) => invalid_address(text, &e.to_string()),
            Ok(_) => ParseError::InvalidAddress(format!("{} cannot be paid", snippet(text))),
        };
    }
    ParseError::UnknownFormat
}
