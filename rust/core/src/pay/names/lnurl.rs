//! LNURL-pay (LUD-06, and LUD-16's Lightning Addresses at
//! `https://<domain>/.well-known/lnurlp/<user>`): the server's terms (limits, metadata,
//! callback), then an invoice for one amount from the callback, checked to be for that amount
//! and, where it commits to a description hash, to the terms' metadata.

use std::str::FromStr;

use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use serde::Deserialize;

use super::http::get;
use super::Resolver;
use crate::error::ParseError;
use crate::pay::parse::{PaymentRequest, MAX_MSAT};

/// An LNURL server's JSON answers are small; a bigger one is hostile or broken.
const MAX_JSON: usize = 64 * 1024;

/// The server's first answer (LUD-06), or its error (`{"status":"ERROR","reason":…}`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Terms {
    tag: Option<String>,
    callback: Option<String>,
    min_sendable: Option<u64>,
    max_sendable: Option<u64>,
    metadata: Option<String>,
    status: Option<String>,
    reason: Option<String>,
}

/// The callback's answer: the invoice, or an error.
#[derive(Deserialize)]
struct Invoice {
    pr: Option<String>,
    status: Option<String>,
    reason: Option<String>,
}

/// The host of `url`, for messages and [`PaymentRequest::LnurlPay::domain`].
pub(super) fn domain_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "the LNURL server".into())
}

fn server_error(domain: &str, reason: impl Into<String>) -> ParseError {
    ParseError::LnurlServer { domain: domain.into(), reason: reason.into() }
}

/// What a server's own error says, clipped (it is the server's text, not ours).
fn says(status: Option<&str>, reason: Option<&str>) -> Option<String> {
    status.filter(|s| s.eq_ignore_ascii_case("ERROR")).map(|_| {
        format!("it says: {}", doze_redact::clip(reason.unwrap_or("no reason given"), 100))
    })
}

/// Fetches `url`'s terms: a [`PaymentRequest::LnurlPay`] (`name` set for a Lightning Address).
pub(super) async fn terms(
    resolver: &Resolver,
    url: &str,
    name: Option<String>,
) -> Result<PaymentRequest, ParseError> {
    let domain = domain_of(url);
    let body = get(&resolver.client, url, resolver.network, "application/json", MAX_JSON)
        .await
        .map_err(|f| server_error(&domain, f.words(resolver.timeout)))?;
    let terms: Terms = serde_json::from_slice(&body)
        .map_err(|_| server_error(&domain, "its answer is not LNURL-pay JSON"))?;
    if let Some(error) = says(terms.status.as_deref(), terms.reason.as_deref()) {
        return Err(server_error(&domain, error));
    }
    let (Some(tag), Some(callback), Some(min), Some(max), Some(metadata)) =
        (terms.tag, terms.callback, terms.min_sendable, terms.max_sendable, terms.metadata)
    else {
        return Err(server_error(&domain, "its answer lacks LNURL-pay fields"));
    };
    if tag != "payRequest" {
        return Err(server_error(&domain, "it is not an LNURL-pay server"));
    }
    if min == 0 || min > max || min > MAX_MSAT {
        return Err(server_error(&domain, format!("its limits make no sense ({min}..{max} msat)")));
    }
    // The metadata is a JSON array of [type, value] pairs; the text/plain one is shown.
    let pairs: Vec<Vec<serde_json::Value>> = serde_json::from_str(&metadata)
        .map_err(|_| server_error(&domain, "its metadata is not LNURL-pay metadata"))?;
    let description = pairs.iter().find_map(|pair| match pair.as_slice() {
        [kind, serde_json::Value::String(text)] if kind == "text/plain" => {
            Some(doze_redact::clip(text, 640))
        }
        _ => None,
    });
    // The callback is fetched later: it must pass the same policy as the first URL.
    crate::config::allowed_url(&callback, resolver.network)
        .map_err(|why| server_error(&domain, format!("its callback is refused: {why}")))?;
    Ok(PaymentRequest::LnurlPay {
        name,
        domain: domain_of(&callback),
        min_sendable_msat: min,
        max_sendable_msat: max.min(MAX_MSAT),
        description,
        callback,
        metadata_hash: sha256::Hash::hash(metadata.as_bytes())
            .to_byte_array()
            .to_lower_hex_string(),
    })
}

/// Asks `callback` for an invoice of `amount_msat` and checks it: that amount exactly, and the
/// metadata's hash if it commits to a description hash.
pub(super) async fn invoice(
    resolver: &Resolver,
    callback: &str,
    amount_msat: u64,
    metadata_hash: &str,
) -> Result<Bolt11Invoice, ParseError> {
    let domain = domain_of(callback);
    let mut url = reqwest::Url::parse(callback)
        .map_err(|_| server_error(&domain, "its callback is not a URL"))?;
    url.query_pairs_mut().append_pair("amount", &amount_msat.to_string());
    let body = get(&resolver.client, url.as_str(), resolver.network, "application/json", MAX_JSON)
        .await
        .map_err(|f| server_error(&domain, f.words(resolver.timeout)))?;
    let answer: Invoice = serde_json::from_slice(&body)
        .map_err(|_| server_error(&domain, "its answer is not LNURL-pay JSON"))?;
    if let Some(error) = says(answer.status.as_deref(), answer.reason.as_deref()) {
        return Err(server_error(&domain, error));
    }
    let pr = answer.pr.ok_or_else(|| server_error(&domain, "its answer has no invoice"))?;
    let invoice = Bolt11Invoice::from_str(pr.trim())
        .map_err(|_| server_error(&domain, "its invoice is not a valid BOLT11 invoice"))?;
    match invoice.amount_milli_satoshis() {
        Some(amount) if amount == amount_msat => {}
        Some(amount) => {
            return Err(server_error(
                &domain,
                format!("its invoice is for {amount} msat, not the {amount_msat} msat asked"),
            ))
        }
        None => return Err(server_error(&domain, "its invoice has no amount")),
    }
    if let Bolt11InvoiceDescriptionRef::Hash(hash) = invoice.description() {
        if hash.0.to_byte_array().to_lower_hex_string() != metadata_hash {
            return Err(server_error(
                &domain,
                "its invoice does not commit to the payment's description (hash mismatch)",
            ));
        }
    }
    Ok(invoice)
}
