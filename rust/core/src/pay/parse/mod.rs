//! Reading what a person pastes or scans into one typed [`PaymentRequest`]: a BOLT11 invoice, a
//! BOLT12 offer or refund, a `bitcoin:` URI (BIP21/321, with `lightning=` / `lno=`), a plain
//! on-chain address, a name (`₿alice@example.com`, BIP 353, or the Lightning Address
//! `alice@example.com`), an LNURL (`lnurl1…`, also inside `lightning:`), or a node public key
//! for keysend. Every request is checked against the wallet's network and, where it can
//! expire, against the clock; a refusal is a [`ParseError`] that names the problem without
//! echoing more than a short snippet of the input.
//!
//! The reading itself is `bitcoin-payment-instructions`' (the ecosystem's parser, also used to
//! tell names and LNURLs apart); what is Doze's here is what it lacks (BOLT12 refunds, node
//! ids, `lightning:` before an offer, a URI's label and message), the typed errors a person can
//! act on (which network a request is for, how long ago it expired, which part of a link is
//! wrong), and the fallback described below.
//!
//! Nothing here touches the network: [`parse`] is pure and cheap, so an app can call it on
//! every keystroke or scanned frame. A name or an LNURL comes back unresolved
//! ([`PaymentRequest::Name`], [`PaymentRequest::Lnurl`]); `Wallet::prepare_send` looks it up
//! (`pay/names/`). The parsed LDK objects are not kept; paying re-parses the string carried in
//! the request.
//!
//! # Unified (BIP21) URIs
//!
//! A `bitcoin:` URI with a Lightning part is returned as the Lightning variant, preferring a
//! BOLT12 offer (`lno=`) over a BOLT11 invoice (`lightning=`), the same order ldk-node's
//! unified-QR payer tries. What is not chosen rides along so a payer can fall back in that
//! order: `onchain_fallback` carries the URI's address, and an offer also carries the URI's
//! invoice in `bolt11_fallback`. A Lightning part that is invalid, expired or for another
//! network is skipped; if none is left, the URI's address is returned as
//! [`PaymentRequest::OnChain`], and if there is no usable address either, the Lightning part's
//! error is returned. A URI whose amounts disagree, including an `amount` beside an invoice or
//! offer that has none (which one did the recipient mean?), is refused as a whole
//! ([`ParseError::InvalidAmount`]).

mod bip21;
mod instructions;
mod lightning;
mod onchain;

use crate::config::Network;
pub use crate::error::ParseError;

/// The most an amount can be: 21 million bitcoin, in millisatoshis.
pub(crate) const MAX_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// How many characters of the input an error message may quote.
const SNIPPET_CHARS: usize = 40;

/// A payment request, read and checked by `parse`. Fields are plain data (with the `uniffi`
/// feature, the enum Swift, Kotlin and Python see); the strings are canonical (lower-case
/// bech32) and can be handed back to the wallet to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentRequest {
    /// A BOLT11 invoice.
    Bolt11 {
        /// The invoice, canonical (lower case, no `lightning:` prefix).
        invoice: String,
        /// What to pay in msat: the invoice's own amount. `None` (`null`, `nil`): the payer
        /// chooses.
        amount_msat: Option<u64>,
        /// The description, if the invoice carries one (not just its hash).
        description: Option<String>,
        /// The payment hash, hex.
        payment_hash: String,
        /// The recipient's node id, hex.
        payee_pubkey: String,
        /// When the invoice expires, seconds since the Unix epoch (`u64::MAX` if it never
        /// effectively does).
        expires_at_secs: u64,
        /// Whether the recipient accepts a payment split over several paths (basic MPP).
        supports_mpp: bool,
        /// An address to pay on-chain instead, if any: the BIP21 URI's or the invoice's own
        /// fallback address.
        onchain_fallback: Option<String>,
    },
    /// A BOLT12 offer: reusable, paid by asking the recipient for an invoice.
    Bolt12Offer {
        /// The offer, canonical (lower case, no prefix).
        offer: String,
        /// What to pay in msat: the offer's amount. `None` (`null`, `nil`): the payer chooses.
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
        /// The address, canonical (lower case for segwit).
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
    /// A name, not looked up yet: `₿alice@example.com` (BIP 353, answered by DNS) or the
    /// Lightning Address `alice@example.com` (answered by the domain's LNURL-pay server if it
    /// has no BIP 353 record). `Wallet.prepare_send` looks it up.
    Name {
        /// The name as `user@domain` (without the `₿`).
        name: String,
    },
    /// An LNURL (`lnurl1…`, bare or in a `lightning:` link), not fetched yet:
    /// `Wallet.prepare_send` asks its server for the payment terms.
    Lnurl {
        /// The URL the LNURL encodes.
        url: String,
    },
    /// The payment terms of an LNURL-pay server (a Lightning Address's or an LNURL's): any
    /// amount between the two limits. `Wallet.prepare_send` with an amount asks the server for
    /// an invoice of exactly that amount, and quotes that invoice.
    LnurlPay {
        /// The name that led here (`alice@example.com`), if it was a Lightning Address.
        name: Option<String>,
        /// The host name of the server that issues the invoice.
        domain: String,
        /// The least the recipient accepts, in msat.
        min_sendable_msat: u64,
        /// The most the recipient accepts, in msat.
        max_sendable_msat: u64,
        /// The recipient's description (the server's `text/plain` metadata).
        description: Option<String>,
        /// The URL the invoice is asked from (the amount is added to it).
        callback: String,
        /// The SHA-256 of the server's metadata, hex: the invoice must commit to it.
        metadata_hash: String,
    },
}

/// Reads `input` (as pasted or scanned: surrounding whitespace, `lightning:` / `bitcoin:`
/// prefixes in any case, upper-case QR encodings are all fine) into a [`PaymentRequest`] that
/// a wallet on `network` can pay now (or, for a name or LNURL, look up).
pub fn parse(input: &str, network: Network) -> Result<PaymentRequest, ParseError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    if let Some(rest) = strip_scheme(text, "lightning:") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        return match lightning::parse_doze_only(rest, network) {
            Some(result) => result,
            None => instructions::parse_plain(rest, network).map_err(|e| match e {
                ParseError::UnknownFormat => ParseError::InvalidInvoice(format!(
                    "{} after lightning: is neither a BOLT11 invoice nor a BOLT12 offer",
                    snippet(rest)
                )),
                other => other,
            }),
        };
    }
    if let Some(rest) = strip_scheme(text, "bitcoin:") {
        return bip21::parse_uri(rest.trim(), network);
    }
    if let Some(result) = lightning::parse_doze_only(text, network) {
        return result;
    }
    instructions::parse_plain(text, network)
}

/// `text` without `scheme` (compared ignoring ASCII case) and an optional `//` after it.
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let prefix = text.get(..scheme.len())?;
    if !prefix.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = &text[scheme.len()..];
    Some(rest.strip_prefix("//").unwrap_or(rest))
}

/// At most [`SNIPPET_CHARS`] characters of `text`, quoted and escaped, for an error message.
pub(crate) fn snippet(text: &str) -> String {
    format!("{:?}", doze_redact::clip(text, SNIPPET_CHARS))
}

/// A library's error message, cut to a length fit for a person (some quote their input).
pub(crate) fn cap(message: &str) -> String {
    doze_redact::clip(message, 80)
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn wrong_network(network: Network, found: impl Into<String>) -> ParseError {
    ParseError::WrongNetwork { expected: network.name().into(), found: found.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_snippets_are_short_and_escaped() {
        assert_eq!(snippet("abc"), "\"abc\"");
        let long = "x".repeat(500);
        let quoted = snippet(&long);
        assert!(quoted.chars().count() <= SNIPPET_CHARS + 3, "{quoted}");
        assert!(quoted.ends_with("…\""));
        assert_eq!(snippet("a\nb"), "\"a\\nb\"");
        assert_eq!(snippet(&"é".repeat(50)).chars().count(), SNIPPET_CHARS + 3, "char boundaries");
        assert!(cap(&"y".repeat(1000)).chars().count() <= 81);
    }

    #[test]
    fn parse_scheme_stripping_ignores_case_and_slashes() {
        assert_eq!(strip_scheme("LiGhTnInG:lnbc1", "lightning:"), Some("lnbc1"));
        assert_eq!(strip_scheme("bitcoin://bc1q", "bitcoin:"), Some("bc1q"));
        assert_eq!(strip_scheme("bitcoi", "bitcoin:"), None);
        assert_eq!(strip_scheme("ééééé", "bitcoin:"), None, "not a char boundary");
        assert_eq!(strip_scheme("lnbc1", "lightning:"), None);
    }

    #[test]
    fn parse_empty_and_unknown() {
        assert_eq!(parse(" \n\t ", Network::Regtest), Err(ParseError::Empty));
        assert_eq!(parse("lightning:  ", Network::Regtest), Err(ParseError::Empty));
        assert_eq!(parse("hello", Network::Regtest), Err(ParseError::UnknownFormat));
    }

    #[test]
    fn parse_names_and_lnurls_come_back_unresolved() {
        for text in ["₿alice@example.com", "alice@example.com", " ALICE@Example.com\n"] {
            assert_eq!(
                parse(text, Network::Regtest),
                Ok(PaymentRequest::Name { name: "alice@example.com".into() }),
                "{text}"
            );
        }
        // LUD-01's example: `https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081…`.
        let lnurl = concat!(
            "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C",
            "35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9",
            "NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS"
        );
        for text in [lnurl.to_string(), format!("lightning:{lnurl}"), lnurl.to_lowercase()] {
            let parsed = parse(&text, Network::Regtest);
            let url = match parsed {
                Ok(PaymentRequest::Lnurl { url }) => url,
                other => panic!("{text}: {other:?}"),
            };
            assert!(url.starts_with("https://service.com/api?q=3fc3"), "{url}");
        }
    }
}
