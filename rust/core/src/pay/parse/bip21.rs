//! `bitcoin:` URIs (BIP21, with BIP321's `lightning=` and `lno=`). The crate reads them; Doze
//! checks the parameters first (so that a bad amount, a duplicate or an unknown `req-`
//! parameter is named in the error), keeps the label and message (the crate drops them), and
//! falls back as the module docs of [`super`] describe when a part is unusable: the crate
//! refuses a whole URI for one bad part, Doze retries without it.

use bitcoin_payment_instructions::ParseError as CrateError;

use super::instructions::{crate_parse, explain, parse_plain, to_request};
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

/// Which parts of the URI a retry leaves out.
#[derive(Clone, Copy)]
struct Without {
    address: bool,
    lno: bool,
    lightning: bool,
}

/// The retries, best first: each keeps as much of the preferred Lightning part as it can
/// (offer, then invoice), then the address.
const RETRIES: [Without; 6] = [
    Without { address: true, lno: false, lightning: false },
    Without { address: false, lno: true, lightning: false },
    Without { address: true, lno: true, lightning: false },
    Without { address: false, lno: false, lightning: true },
    Without { address: true, lno: false, lightning: true },
    Without { address: false, lno: true, lightning: true },
];

/// Reads what follows `bitcoin:` into a Lightning or on-chain request for `network`.
pub(super) fn parse_uri(body: &str, network: Network) -> Result<PaymentRequest, ParseError> {
    let uri = split_uri(body)?;
    let first = match crate_parse(&format!("bitcoin:{body}"), network) {
        Err(unresolved) => return Ok(*unresolved),
        Ok(Ok(instructions)) => return finish(to_request(&instructions, network, &[body]), &uri),
        Ok(Err(e)) => e,
    };
    // A part the crate refused (a bad, expired or foreign invoice, offer or address) is
    // skipped; an inconsistency or an unknown requirement refuses the whole link.
    let skippable = matches!(
        first,
        CrateError::InvalidBolt11(_)
            | CrateError::InvalidBolt12(_)
            | CrateError::InvalidOnChain(_)
            | CrateError::WrongNetwork
            | CrateError::InstructionsExpired
            | CrateError::InvalidInstructions(_)
    );
    if skippable {
        for without in RETRIES {
            if (without.address && uri.address.is_empty())
                || (without.lno && uri.lno.is_none())
                || (without.lightning && uri.lightning.is_none())
            {
                continue;
            }
            let retry = format!("bitcoin:{}", rebuild(body, without));
            if let Ok(Ok(instructions)) = crate_parse(&retry, network) {
                if let Ok(request) = to_request(&instructions, network, &[body]) {
                    return finish(Ok(request), &uri);
                }
            }
        }
    }
    // Nothing usable: the Lightning part's error is the one to act on, then the address's.
    for part in [&uri.lno, &uri.lightning].into_iter().flatten() {
        parse_plain(part, network)?;
    }
    if !uri.address.is_empty() {
        parse_address(&uri.address, network)?;
    }
    Err(match first {
        CrateError::InconsistentInstructions(_) => match uri.amount_sat {
            Some(sat) => ParseError::InvalidAmount(format!(
                "the link asks for {sat} sat but its invoice or offer for another amount, or \
                 none; ask the recipient which is right"
            )),
            None => explain(first, body, network),
        },
        CrateError::UnknownPaymentInstructions => ParseError::InvalidUri(
            "it has neither an address nor a Lightning invoice or offer".into(),
        ),
        other => explain(other, body, network),
    })
}

/// The request with what Doze keeps of the URI that the crate does not: label and message.
fn finish(
    request: Result<PaymentRequest, ParseError>,
    uri: &Uri,
) -> Result<PaymentRequest, ParseError> {
    let mut request = request?;
    if let PaymentRequest::OnChain { amount_sat, label, message, .. } = &mut request {
        *amount_sat = uri.amount_sat;
        label.clone_from(&uri.label);
        message.clone_from(&uri.message);
    }
    Ok(request)
}

/// `body` without the parts `without` names.
fn rebuild(body: &str, without: Without) -> String {
    let (address, query) = body.split_once('?').unwrap_or((body, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|param| {
            let key = param.split_once('=').map_or(*param, |(k, _)| k);
            !(without.lno && key.eq_ignore_ascii_case("lno")
                || without.lightning && key.eq_ignore_ascii_case("lightning"))
        })
        .collect();
    let address = if without.address { "" } else { address };
    format!("{address}?{}", kept.join("&"))
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
