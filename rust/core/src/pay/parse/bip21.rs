//! `bitcoin:` URIs (BIP21, with BIP321's `lightning=` and `lno=`): the address, the query
//! parameters (keys in any case, values percent-decoded), and the choice between Lightning and
//! on-chain described in the module docs of [`super`].

use super::lightning::{parse_bolt11, parse_lightning, parse_offer};
use super::onchain::parse_address;
use super::{snippet, ParseError, PaymentRequest};
use crate::config::Network;

/// Satoshis in a bitcoin.
const SAT_PER_BTC: u64 = 100_000_000;
/// The most an amount can be: 21 million bitcoin, in sat.
const MAX_SAT: u64 = 21_000_000 * SAT_PER_BTC;

/// The parts of a `bitcoin:` URI, before any of them is checked against the network.
#[derive(Debug, Default, PartialEq)]
struct Uri {
    address: String,
    amount_sat: Option<u64>,
    label: Option<String>,
    message: Option<String>,
    lightning: Option<String>,
    lno: Option<String>,
}

/// Reads what follows `bitcoin:` into a Lightning or on-chain request for `network`.
pub(super) fn parse_uri(body: &str, network: Network) -> Result<PaymentRequest, ParseError> {
    let uri = split_uri(body)?;
    let address = (!uri.address.is_empty()).then(|| parse_address(&uri.address, network));

    // Candidates in order of preference within each kind: `lno=` before `lightning=`.
    let mut candidates = Vec::new();
    if let Some(lno) = &uri.lno {
        candidates.push(parse_offer(lno, network));
    }
    if let Some(lightning) = &uri.lightning {
        candidates.push(match parse_lightning(lightning, network) {
            Ok(Some(request)) => Ok(request),
            Ok(None) => parse_bolt11(lightning, network),
            Err(e) => Err(e),
        });
    }
    let mut first_error = None;
    let mut usable = Vec::new();
    for candidate in candidates {
        match candidate {
            Ok(request) => usable.push(request),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(uri_sat) = uri.amount_sat {
        for request in &usable {
            check_same_amount(request, uri_sat)?;
        }
    }
    let is_offer = |r: &&PaymentRequest| matches!(r, PaymentRequest::Bolt12Offer { .. });
    let bolt11 = usable.iter().find_map(|r| match r {
        PaymentRequest::Bolt11 { invoice, .. } => Some(invoice.clone()),
        _ => None,
    });
    let chosen = usable.iter().find(is_offer).or_else(|| usable.first()).cloned();
    let fallback = address.as_ref().and_then(|a| a.as_ref().ok()).cloned();
    let uri_msat = uri.amount_sat.map(|sat| sat * 1000);

    match (chosen, address) {
        (Some(mut request), _) => {
            match &mut request {
                PaymentRequest::Bolt11 { amount_msat, onchain_fallback, .. } => {
                    *amount_msat = amount_msat.or(uri_msat);
                    *onchain_fallback = fallback;
                }
                PaymentRequest::Bolt12Offer {
                    amount_msat,
                    onchain_fallback,
                    bolt11_fallback,
                    ..
                } => {
                    *amount_msat = amount_msat.or(uri_msat);
                    *onchain_fallback = fallback;
                    *bolt11_fallback = bolt11;
                }
                _ => {}
            }
            Ok(request)
        }
        (None, Some(Ok(address))) => Ok(PaymentRequest::OnChain {
            address,
            amount_sat: uri.amount_sat,
            label: uri.label,
            message: uri.message,
        }),
        (None, address) => match (first_error, address) {
            (Some(lightning_error), _) => Err(lightning_error),
            (None, Some(Err(address_error))) => Err(address_error),
            (None, _) => Err(ParseError::InvalidUri(
                "it has neither an address nor a Lightning invoice or offer".into(),
            )),
        },
    }
}

/// Refuses a URI whose `amount` and whose invoice's or offer's own amount differ by a sat or more.
fn check_same_amount(request: &PaymentRequest, uri_sat: u64) -> Result<(), ParseError> {
    let (own, what) = match request {
        PaymentRequest::Bolt11 { amount_msat: Some(own), .. } => (*own, "invoice"),
        PaymentRequest::Bolt12Offer { amount_msat: Some(own), .. } => (*own, "offer"),
        _ => return Ok(()),
    };
    if own.abs_diff(uri_sat * 1000) < 1000 {
        return Ok(());
    }
    Err(ParseError::InvalidAmount(format!(
        "the link asks for {uri_sat} sat but its {what} for {own} msat; ask the recipient \
         which is right"
    )))
}

/// Splits the URI into its parts; checks the syntax and the amount, not the network.
fn split_uri(body: &str) -> Result<Uri, ParseError> {
    let (address, query) = body.split_once('?').unwrap_or((body, ""));
    let mut uri = Uri { address: address.trim().to_string(), ..Uri::default() };
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let key = key.to_ascii_lowercase();
        let slot = match key.as_str() {
            "amount" => {
                if uri.amount_sat.is_some() {
                    return Err(duplicate(&key));
                }
                uri.amount_sat = Some(parse_btc_amount(&percent_decode(value)?)?);
                continue;
            }
            "label" => &mut uri.label,
            "message" => &mut uri.message,
            "lightning" => &mut uri.lightning,
            "lno" => &mut uri.lno,
            _ if key.starts_with("req-") => {
                return Err(ParseError::InvalidUri(format!(
                    "it requires {}, which this wallet does not understand",
                    snippet(&key)
                )))
            }
            _ => continue,
        };
        if slot.is_some() {
            return Err(duplicate(&key));
        }
        let value = percent_decode(value)?;
        *slot = (!value.trim().is_empty()).then(|| value.trim().to_string());
    }
    Ok(uri)
}

fn duplicate(key: &str) -> ParseError {
    ParseError::InvalidUri(format!("the parameter {} appears more than once", snippet(key)))
}

/// Decodes `%XX` escapes (a `+` stays a `+`, as RFC 3986 says); the result must be UTF-8.
fn percent_decode(value: &str) -> Result<String, ParseError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digit = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (digit(i + 1), digit(i + 2)) {
            (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
            _ => {
                return Err(ParseError::InvalidUri(format!(
                    "{} has a '%' not followed by two hex digits",
                    snippet(value)
                )))
            }
        }
        i += 3;
    }
    String::from_utf8(out)
        .map_err(|_| ParseError::InvalidUri(format!("{} does not decode to text", snippet(value))))
}

/// A BIP21 amount: a decimal number of bitcoin with at most 8 decimals, more than 0 and at most
/// 21 million. Returns sat.
fn parse_btc_amount(text: &str) -> Result<u64, ParseError> {
    let bad = |why: &str| ParseError::InvalidAmount(format!("{} {why}", snippet(text)));
    if text.starts_with('-') {
        return Err(bad("is negative"));
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(bad("is not an amount of bitcoin like 0.001"));
    }
    if fraction.len() > 8 {
        return Err(bad("has more than 8 decimals; bitcoin amounts stop at the satoshi"));
    }
    let whole = whole.trim_start_matches('0');
    let too_much = || bad("is more than 21 million bitcoin");
    if whole.len() > 8 {
        return Err(too_much());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_much())? };
    let fraction: u64 =
        format!("{fraction:0<8}").parse().map_err(|_| bad("is not an amount of bitcoin"))?;
    let sat = whole * SAT_PER_BTC + fraction;
    if sat > MAX_SAT {
        return Err(too_much());
    }
    if sat == 0 {
        return Err(bad("is zero, which cannot be paid"));
    }
    Ok(sat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_btc_amounts() {
        assert_eq!(parse_btc_amount("1"), Ok(SAT_PER_BTC));
        assert_eq!(parse_btc_amount("0.00000001"), Ok(1));
        assert_eq!(parse_btc_amount("0.001"), Ok(100_000));
        assert_eq!(parse_btc_amount("00021000000.00000000"), Ok(MAX_SAT));
        assert_eq!(parse_btc_amount("20999999.99999999"), Ok(MAX_SAT - 1));
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.123456789",
            "-1",
            "abc",
            "1e3",
            "1,5",
            "+1",
            " 1",
            "0",
            "0.0",
            "21000001",
            "21000000.00000001",
            "99999999999999999999999",
        ] {
            assert!(matches!(parse_btc_amount(bad), Err(ParseError::InvalidAmount(_))), "{bad:?}");
        }
        assert!(parse_btc_amount("-1").expect_err("refused").to_string().contains("negative"));
        assert!(parse_btc_amount("1.123456789")
            .expect_err("refused")
            .to_string()
            .contains("8 decimals"));
        assert!(parse_btc_amount("21000001")
            .expect_err("refused")
            .to_string()
            .contains("21 million"));
    }

    #[test]
    fn parse_percent_decoding() {
        assert_eq!(percent_decode("Caf%C3%A9%20bar+1"), Ok("Café bar+1".into()));
        assert_eq!(percent_decode("%41%4a%4A"), Ok("AJJ".into()));
        for bad in ["%", "%4", "%zz", "%+1", "%C3", "abc%"] {
            assert!(matches!(percent_decode(bad), Err(ParseError::InvalidUri(_))), "{bad:?}");
        }
    }

    #[test]
    fn parse_uri_parameters() {
        let uri =
            split_uri("addr?AMOUNT=1.5&Label=Luke%20Jr&message=hi&foo=bar&&lno=x&LIGHTNING=y")
                .expect("parses");
        assert_eq!(
            uri,
            Uri {
                address: "addr".into(),
                amount_sat: Some(150_000_000),
                label: Some("Luke Jr".into()),
                message: Some("hi".into()),
                lightning: Some("y".into()),
                lno: Some("x".into()),
            }
        );
        assert!(matches!(
            split_uri("a?req-somethingnew=1"),
            Err(ParseError::InvalidUri(m)) if m.contains("req-somethingnew")
        ));
        assert!(matches!(split_uri("a?amount=1&amount=2"), Err(ParseError::InvalidUri(_))));
        assert!(matches!(split_uri("a?label=x&LABEL=y"), Err(ParseError::InvalidUri(_))));
        assert!(matches!(split_uri("a?amount=abc"), Err(ParseError::InvalidAmount(_))));
        assert_eq!(split_uri("a?label=").expect("parses").label, None);
    }
}
