//! `parse`: every kind of payment request a person pastes or scans, every way it is refused, and
//! a property test that no input makes it panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doze_core::{parse, Network, ParseError, PaymentRequest};
use doze_testkit::invoice::signed_invoice as invoice;
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::{Address, CompressedPublicKey, Network as BtcNetwork};
use ldk_node::lightning::offers::offer::OfferBuilder;
use ldk_node::lightning::offers::refund::RefundBuilder;
use ldk_node::lightning_invoice::Currency;

const HOUR: Duration = Duration::from_secs(3600);
const REGTEST: Network = Network::Regtest;

fn key(byte: u8) -> (SecretKey, PublicKey) {
    let secret = SecretKey::from_slice(&[byte; 32]).expect("valid key");
    (secret, PublicKey::from_secret_key(&Secp256k1::new(), &secret))
}

fn regtest_invoice(amount_msat: Option<u64>) -> String {
    invoice(Currency::Regtest, amount_msat, Duration::ZERO, HOUR)
}

/// A BOLT12 offer; `chains` empty means the BOLT12 default, mainnet.
fn offer(chains: &[BtcNetwork], amount_msat: Option<u64>, expiry: Option<Duration>) -> String {
    let mut builder =
        OfferBuilder::new(key(9).1).description("tea".into()).issuer("Tea Shop".into());
    for chain in chains {
        builder = builder.chain(*chain);
    }
    if let Some(amount) = amount_msat {
        builder = builder.amount_msats(amount);
    }
    if let Some(at) = expiry {
        builder = builder.absolute_expiry(at);
    }
    builder.build().expect("offer").to_string()
}

fn refund(chain: BtcNetwork, amount_msat: u64, expiry: Option<Duration>) -> String {
    let mut builder = RefundBuilder::new(vec![1; 32], key(11).1, amount_msat)
        .expect("amount")
        .description("returned shoes".into())
        .chain(chain);
    if let Some(at) = expiry {
        builder = builder.absolute_expiry(at);
    }
    builder.build().expect("refund").to_string()
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock")
}

fn compressed(byte: u8) -> CompressedPublicKey {
    CompressedPublicKey(key(byte).1)
}

fn segwit_address(network: BtcNetwork) -> String {
    Address::p2wpkh(&compressed(3), network).to_string()
}

fn onchain(address: &str) -> PaymentRequest {
    PaymentRequest::OnChain {
        address: address.into(),
        amount_sat: None,
        label: None,
        message: None,
    }
}

fn wrong(expected: &str, found: &str) -> ParseError {
    ParseError::WrongNetwork { expected: expected.into(), found: found.into() }
}

// --- BOLT11 ---

#[test]
fn bolt11_with_amount() {
    let text = regtest_invoice(Some(150_000));
    let request = parse(&text, REGTEST).expect("parses");
    let PaymentRequest::Bolt11 {
        invoice,
        amount_msat,
        description,
        payment_hash,
        payee_pubkey,
        expires_at_secs,
        supports_mpp,
        onchain_fallback,
    } = request
    else {
        panic!("not bolt11: {request:?}")
    };
    assert_eq!(invoice, text);
    assert_eq!(amount_msat, Some(150_000));
    assert_eq!(description.as_deref(), Some("coffee"));
    assert_eq!(payment_hash, sha256::Hash::hash(b"preimage").to_string());
    assert_eq!(payee_pubkey, key(7).1.to_string());
    let expected_expiry = now().as_secs() + HOUR.as_secs();
    assert!(
        expires_at_secs.abs_diff(expected_expiry) <= 5,
        "{expires_at_secs} vs {expected_expiry}"
    );
    assert!(supports_mpp);
    assert_eq!(onchain_fallback, None);
}

#[test]
fn bolt11_without_amount() {
    let text = regtest_invoice(None);
    assert!(matches!(parse(&text, REGTEST), Ok(PaymentRequest::Bolt11 { amount_msat: None, .. })));
}

#[test]
fn bolt11_on_mainnet_and_signet() {
    let main = invoice(Currency::Bitcoin, Some(1_000), Duration::ZERO, HOUR);
    assert!(matches!(
        parse(&main, Network::Bitcoin),
        Ok(PaymentRequest::Bolt11 { amount_msat: Some(1_000), .. })
    ));
    let signet = invoice(Currency::Signet, None, Duration::ZERO, HOUR);
    assert!(matches!(parse(&signet, Network::Signet), Ok(PaymentRequest::Bolt11 { .. })));
    assert_eq!(parse(&signet, Network::Testnet), Err(wrong("testnet", "signet")));
}

#[test]
fn bolt11_expired() {
    let text = invoice(Currency::Regtest, Some(1_000), 2 * HOUR, Duration::from_secs(60));
    match parse(&text, REGTEST) {
        Err(ParseError::Expired { seconds_ago }) => {
            assert!((7_000..7_300).contains(&seconds_ago), "{seconds_ago}")
        }
        other => panic!("{other:?}"),
    }
    let err = parse(&text, REGTEST).expect_err("refused").to_string();
    assert!(err.contains("expired") && err.contains("new one"), "{err}");
}

#[test]
fn bolt11_wrong_network() {
    let main = invoice(Currency::Bitcoin, Some(1_000), Duration::ZERO, HOUR);
    assert_eq!(parse(&main, REGTEST), Err(wrong("regtest", "bitcoin mainnet")));
    assert_eq!(
        parse(&regtest_invoice(None), Network::Bitcoin),
        Err(wrong("bitcoin mainnet", "regtest"))
    );
    let err = parse(&main, REGTEST).expect_err("refused").to_string();
    assert_eq!(err, "this is for bitcoin mainnet, but the wallet is on regtest");
}

#[test]
fn bolt11_invalid() {
    let text = regtest_invoice(Some(1_000));
    let mut corrupted = text.clone().into_bytes();
    let last = corrupted.len() - 5;
    corrupted[last] = if corrupted[last] == b'q' { b'p' } else { b'q' };
    let corrupted = String::from_utf8(corrupted).expect("ascii");
    assert!(matches!(parse(&corrupted, REGTEST), Err(ParseError::InvalidInvoice(_))));
    assert!(matches!(parse("lnbcrt1garbage", REGTEST), Err(ParseError::InvalidInvoice(_))));
    assert!(matches!(parse("lightning:nonsense", REGTEST), Err(ParseError::InvalidInvoice(_))));
    let mixed_case = format!("{}{}", &text[..10].to_uppercase(), &text[10..]);
    assert!(matches!(parse(&mixed_case, REGTEST), Err(ParseError::InvalidInvoice(_))));
}

#[test]
fn bolt11_upper_case_as_in_qr_codes() {
    let text = regtest_invoice(Some(2_000));
    let request = parse(&format!("LIGHTNING:{}", text.to_uppercase()), REGTEST).expect("parses");
    assert!(
        matches!(request, PaymentRequest::Bolt11 { ref invoice, .. } if *invoice == text),
        "canonical lower case"
    );
}

// --- BOLT12 ---

#[test]
fn bolt12_offer() {
    let text = offer(&[BtcNetwork::Regtest], Some(5_000), None);
    assert_eq!(
        parse(&text, REGTEST),
        Ok(PaymentRequest::Bolt12Offer {
            offer: text.clone(),
            amount_msat: Some(5_000),
            description: Some("tea".into()),
            issuer: Some("Tea Shop".into()),
            onchain_fallback: None,
            bolt11_fallback: None,
        })
    );
    let amountless = offer(&[BtcNetwork::Regtest], None, None);
    assert!(matches!(
        parse(&amountless, REGTEST),
        Ok(PaymentRequest::Bolt12Offer { amount_msat: None, .. })
    ));
    let upper = parse(&format!("lightning:{}", text.to_uppercase()), REGTEST);
    assert!(matches!(upper, Ok(PaymentRequest::Bolt12Offer { offer, .. }) if offer == text));
}

#[test]
fn bolt12_offer_without_chain_is_mainnet() {
    let text = offer(&[], Some(5_000), None);
    assert!(matches!(parse(&text, Network::Bitcoin), Ok(PaymentRequest::Bolt12Offer { .. })));
    assert_eq!(parse(&text, REGTEST), Err(wrong("regtest", "bitcoin mainnet")));
    let several = offer(&[BtcNetwork::Regtest, BtcNetwork::Signet], None, None);
    assert!(matches!(parse(&several, Network::Signet), Ok(PaymentRequest::Bolt12Offer { .. })));
    assert_eq!(parse(&several, Network::Testnet), Err(wrong("testnet", "regtest or signet")));
}

#[test]
fn bolt12_offer_expired() {
    let text = offer(&[BtcNetwork::Regtest], None, Some(now() - HOUR));
    match parse(&text, REGTEST) {
        Err(ParseError::Expired { seconds_ago }) => {
            assert!((3_500..3_700).contains(&seconds_ago), "{seconds_ago}")
        }
        other => panic!("{other:?}"),
    }
    let later = offer(&[BtcNetwork::Regtest], None, Some(now() + HOUR));
    assert!(parse(&later, REGTEST).is_ok());
}

#[test]
fn bolt12_offer_invalid() {
    let text = offer(&[BtcNetwork::Regtest], None, None);
    let truncated = &text[..text.len() - 3];
    assert!(matches!(parse(truncated, REGTEST), Err(ParseError::InvalidOffer(_))));
    assert!(matches!(parse("lno1qqqq", REGTEST), Err(ParseError::InvalidOffer(_))));
}

#[test]
fn bolt12_offer_priced_in_fiat_is_refused() {
    use ldk_node::bitcoin::bech32::{self, Hrp, NoChecksum};
    // The builder only prices in bitcoin: write the TLV stream by hand (currency, amount,
    // description, issuer id), and check the encoding on a bitcoin-priced twin first.
    let encode = |currency: &[u8]| {
        let mut tlv = Vec::new();
        if !currency.is_empty() {
            tlv.extend([6, currency.len() as u8]);
            tlv.extend(currency);
        }
        tlv.extend([8, 1, 100, 10, 3]);
        tlv.extend(b"tea");
        tlv.extend([22, 33]);
        tlv.extend(key(9).1.serialize());
        bech32::encode::<NoChecksum>(Hrp::parse("lno").expect("hrp"), &tlv).expect("encodes")
    };
    let in_bitcoin = encode(b"");
    assert!(matches!(
        parse(&in_bitcoin, Network::Bitcoin),
        Ok(PaymentRequest::Bolt12Offer { amount_msat: Some(100), .. })
    ));
    match parse(&encode(b"USD"), Network::Bitcoin) {
        Err(ParseError::InvalidOffer(message)) => {
            assert!(message.contains("priced in USD"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bolt12_refund() {
    let text = refund(BtcNetwork::Regtest, 20_000, None);
    assert_eq!(
        parse(&format!(" {text}\n"), REGTEST),
        Ok(PaymentRequest::Bolt12Refund {
            refund: text.clone(),
            amount_msat: 20_000,
            description: "returned shoes".into()
        })
    );
    assert_eq!(parse(&text, Network::Bitcoin), Err(wrong("bitcoin mainnet", "regtest")));
    let expired = refund(BtcNetwork::Regtest, 20_000, Some(now() - HOUR));
    assert!(matches!(parse(&expired, REGTEST), Err(ParseError::Expired { .. })));
    assert!(matches!(parse("lnr1qqqq", REGTEST), Err(ParseError::InvalidOffer(_))));
}

// --- BIP21 ---

#[test]
fn bip21_with_lightning() {
    let address = segwit_address(BtcNetwork::Regtest);
    let inv = regtest_invoice(Some(100_000_000));
    let request =
        parse(&format!("bitcoin:{address}?amount=0.001&lightning={inv}"), REGTEST).expect("parses");
    assert!(
        matches!(
            request,
            PaymentRequest::Bolt11 {
                ref invoice, amount_msat: Some(100_000_000), onchain_fallback: Some(ref a), ..
            } if *invoice == inv && *a == address
        ),
        "{request:?}"
    );
}

#[test]
fn bip21_with_lno() {
    let address = segwit_address(BtcNetwork::Regtest);
    let text = offer(&[BtcNetwork::Regtest], Some(10_000_000), None);
    let request =
        parse(&format!("bitcoin:{address}?lno={text}&amount=0.0001"), REGTEST).expect("parses");
    assert_eq!(
        request,
        PaymentRequest::Bolt12Offer {
            offer: text.clone(),
            amount_msat: Some(10_000_000),
            description: Some("tea".into()),
            issuer: Some("Tea Shop".into()),
            onchain_fallback: Some(address.clone()),
            bolt11_fallback: None,
        }
    );
    let open = offer(&[BtcNetwork::Regtest], None, None);
    let offer_only = parse(&format!("bitcoin:?lno={open}"), REGTEST);
    assert!(
        matches!(offer_only, Ok(PaymentRequest::Bolt12Offer { onchain_fallback: None, .. })),
        "BIP321: no address"
    );
    // An offer without an amount beside the URI's `amount` used to take the URI's. The parser
    // (bitcoin-payment-instructions) refuses it: the offer's issuer did not fix the amount,
    // and a link that fixes it for the on-chain part only is ambiguous; refusing it is the
    // safer reading, so Doze adopts it.
    let ambiguous = parse(&format!("bitcoin:{address}?lno={open}&amount=0.0001"), REGTEST);
    assert!(matches!(ambiguous, Err(ParseError::InvalidAmount(_))), "{ambiguous:?}");
}

#[test]
fn bip21_with_both_prefers_the_offer_and_keeps_the_rest() {
    let address = segwit_address(BtcNetwork::Regtest);
    let inv = regtest_invoice(Some(50_000));
    let text = offer(&[BtcNetwork::Regtest], Some(50_000), None);
    let request =
        parse(&format!("bitcoin:{address}?amount=0.0000005&lightning={inv}&lno={text}"), REGTEST);
    assert_eq!(
        request,
        Ok(PaymentRequest::Bolt12Offer {
            offer: text.clone(),
            amount_msat: Some(50_000),
            description: Some("tea".into()),
            issuer: Some("Tea Shop".into()),
            onchain_fallback: Some(address.clone()),
            bolt11_fallback: Some(inv.clone()),
        })
    );
    // An offer for another network is skipped: the invoice is next.
    let mainnet_offer = offer(&[], None, None);
    let request = parse(&format!("bitcoin:{address}?lno={mainnet_offer}&lightning={inv}"), REGTEST);
    assert!(matches!(request, Ok(PaymentRequest::Bolt11 { invoice, .. }) if invoice == inv));
}

#[test]
fn bip21_with_only_address_and_amount() {
    let address = segwit_address(BtcNetwork::Regtest);
    let request = parse(
        &format!(
            "bitcoin:{address}?amount=1.5&label=Caf%C3%A9%20Zo%C3%A9&message=Order%20%2342&foo=bar"
        ),
        REGTEST,
    );
    assert_eq!(
        request,
        Ok(PaymentRequest::OnChain {
            address: address.clone(),
            amount_sat: Some(150_000_000),
            label: Some("Café Zoé".into()),
            message: Some("Order #42".into()),
        })
    );
    assert_eq!(parse(&format!("bitcoin:{address}"), REGTEST), Ok(onchain(&address)));
}

#[test]
fn bip21_bad_amounts() {
    let address = segwit_address(BtcNetwork::Regtest);
    for (amount, says) in [
        ("1.123456789", "8 decimals"),
        ("-1", "negative"),
        ("abc", "not an amount"),
        ("21000001", "21 million"),
        ("0", "zero"),
        ("1,5", "not an amount"),
    ] {
        match parse(&format!("bitcoin:{address}?amount={amount}"), REGTEST) {
            Err(ParseError::InvalidAmount(message)) => {
                assert!(message.contains(says), "{amount}: {message}")
            }
            other => panic!("{amount}: {other:?}"),
        }
    }
    assert!(
        parse(&format!("bitcoin:{address}?amount=21000000"), REGTEST).is_ok(),
        "the limit itself"
    );
}

#[test]
fn bip21_amount_disagreeing_with_invoice_is_refused() {
    let address = segwit_address(BtcNetwork::Regtest);
    let inv = regtest_invoice(Some(100_000));
    let err = parse(&format!("bitcoin:{address}?amount=1&lightning={inv}"), REGTEST)
        .expect_err("refused");
    assert!(
        matches!(err, ParseError::InvalidAmount(ref m) if m.contains("100000000 sat")),
        "{err}"
    );
}

#[test]
fn bip21_amountless_invoice_beside_an_amount_is_refused() {
    // This used to pay the URI's amount through the amountless invoice. The parser
    // (bitcoin-payment-instructions) refuses the link as inconsistent: the invoice's issuer
    // left the amount open and only the on-chain part fixes one. Refusing is the safer reading
    // (nobody can tell which was meant), so Doze adopts it; the message says what to do.
    let address = segwit_address(BtcNetwork::Regtest);
    let inv = regtest_invoice(None);
    let request = parse(&format!("bitcoin:{address}?amount=0.00002&lightning={inv}"), REGTEST);
    match request {
        Err(ParseError::InvalidAmount(message)) => {
            assert!(message.contains("2000 sat") && message.contains("ask"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bip21_falls_back_on_chain_when_lightning_is_unusable() {
    let address = segwit_address(BtcNetwork::Regtest);
    let expired = invoice(Currency::Regtest, Some(1_000), 2 * HOUR, Duration::from_secs(60));
    let mainnet = invoice(Currency::Bitcoin, Some(1_000), Duration::ZERO, HOUR);
    for lightning in [expired.as_str(), mainnet.as_str(), "lnbcrt1garbage", "nonsense"] {
        let request =
            parse(&format!("bitcoin:{address}?lightning={lightning}&label=shop"), REGTEST);
        assert_eq!(
            request,
            Ok(PaymentRequest::OnChain {
                address: address.clone(),
                amount_sat: None,
                label: Some("shop".into()),
                message: None
            }),
            "{lightning}"
        );
    }
    // Without a usable address, the Lightning part's error is the one to act on.
    assert!(matches!(
        parse(&format!("bitcoin:?lightning={expired}"), REGTEST),
        Err(ParseError::Expired { .. })
    ));
    let mainnet_address = segwit_address(BtcNetwork::Bitcoin);
    assert!(matches!(
        parse(&format!("bitcoin:{mainnet_address}?lightning={expired}"), REGTEST),
        Err(ParseError::Expired { .. })
    ));
    assert_eq!(
        parse(&format!("bitcoin:{mainnet_address}?amount=1"), REGTEST),
        Err(wrong("regtest", "bitcoin mainnet"))
    );
}

#[test]
fn bip21_malformed() {
    let address = segwit_address(BtcNetwork::Regtest);
    assert!(matches!(
        parse(&format!("bitcoin:{address}?req-future=1"), REGTEST),
        Err(ParseError::InvalidUri(m)) if m.contains("req-future")
    ));
    assert!(matches!(
        parse(&format!("bitcoin:{address}?amount=1&AMOUNT=2"), REGTEST),
        Err(ParseError::InvalidUri(_))
    ));
    assert!(matches!(
        parse(&format!("bitcoin:{address}?label=%E2%82"), REGTEST),
        Err(ParseError::InvalidUri(_))
    ));
    assert!(matches!(parse("bitcoin:", REGTEST), Err(ParseError::InvalidUri(_))));
    assert!(matches!(parse("bitcoin:?amount=1", REGTEST), Err(ParseError::InvalidUri(_))));
    assert!(matches!(
        parse("bitcoin:notanaddress?amount=1", REGTEST),
        Err(ParseError::InvalidAddress(_))
    ));
}

#[test]
fn bip21_all_upper_case_as_in_qr_codes() {
    let address = segwit_address(BtcNetwork::Regtest);
    let inv = regtest_invoice(Some(100_000));
    let uri = format!("bitcoin:{address}?amount=0.000001&lightning={inv}").to_uppercase();
    let request = parse(&uri, REGTEST);
    assert!(
        matches!(
            request,
            Ok(PaymentRequest::Bolt11 { ref invoice, onchain_fallback: Some(ref a), .. })
                if *invoice == inv && *a == address
        ),
        "{request:?}"
    );
}

// --- On-chain addresses ---

#[test]
fn plain_addresses() {
    let bech32 = segwit_address(BtcNetwork::Regtest);
    assert_eq!(parse(&bech32, REGTEST), Ok(onchain(&bech32)));
    assert_eq!(
        parse(&bech32.to_uppercase(), REGTEST),
        Ok(onchain(&bech32)),
        "upper case, canonical back"
    );
    let p2pkh = Address::p2pkh(compressed(4), BtcNetwork::Regtest).to_string();
    assert!(p2pkh.starts_with('m') || p2pkh.starts_with('n'), "{p2pkh}");
    assert_eq!(parse(&p2pkh, REGTEST), Ok(onchain(&p2pkh)));
    let p2sh = Address::p2shwpkh(&compressed(5), BtcNetwork::Regtest).to_string();
    assert!(p2sh.starts_with('2'), "{p2sh}");
    assert_eq!(parse(&p2sh, REGTEST), Ok(onchain(&p2sh)));
    let taproot = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297";
    assert_eq!(parse(taproot, Network::Bitcoin), Ok(onchain(taproot)));
}

#[test]
fn address_wrong_network() {
    let mainnet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    assert_eq!(parse(mainnet, REGTEST), Err(wrong("regtest", "bitcoin mainnet")));
    let regtest = segwit_address(BtcNetwork::Regtest);
    assert_eq!(parse(&regtest, Network::Bitcoin), Err(wrong("bitcoin mainnet", "regtest")));
    let testnet = segwit_address(BtcNetwork::Testnet);
    assert_eq!(parse(&testnet, REGTEST), Err(wrong("regtest", "testnet or signet")));
    assert!(parse(&testnet, Network::Signet).is_ok(), "testnet and signet share addresses");
    let legacy_main = Address::p2pkh(compressed(4), BtcNetwork::Bitcoin).to_string();
    assert_eq!(parse(&legacy_main, REGTEST), Err(wrong("regtest", "bitcoin mainnet")));
}

#[test]
fn address_invalid() {
    let address = segwit_address(BtcNetwork::Regtest);
    let typo = format!("{}x", &address[..address.len() - 1]);
    assert!(matches!(parse(&typo, REGTEST), Err(ParseError::InvalidAddress(_))), "bad checksum");
    assert!(matches!(
        parse("1BoatSLRHtKNngkdXEeobR76b53LETtpyX", Network::Bitcoin),
        Err(ParseError::InvalidAddress(_))
    ));
}

// --- Keysend ---

#[test]
fn node_public_key() {
    let node = key(13).1.to_string();
    assert_eq!(parse(&node, REGTEST), Ok(PaymentRequest::Keysend { node_id: node.clone() }));
    assert_eq!(
        parse(&node.to_uppercase(), Network::Bitcoin),
        Ok(PaymentRequest::Keysend { node_id: node.clone() })
    );
    let not_on_curve = format!("02{}", "0".repeat(64));
    assert_eq!(parse(&not_on_curve, REGTEST), Err(ParseError::UnknownFormat));
}

// --- Prefixes, whitespace, garbage, empty ---

#[test]
fn prefixes_in_any_case() {
    let inv = regtest_invoice(Some(1_000));
    let address = segwit_address(BtcNetwork::Regtest);
    for prefix in ["lightning:", "LIGHTNING:", "Lightning:", "lIgHtNiNg:", "lightning://"] {
        let request = parse(&format!("{prefix}{inv}"), REGTEST);
        assert!(matches!(request, Ok(PaymentRequest::Bolt11 { .. })), "{prefix}: {request:?}");
    }
    for prefix in ["bitcoin:", "BITCOIN:", "Bitcoin:", "bItCoIn:", "bitcoin://"] {
        assert_eq!(
            parse(&format!("{prefix}{address}"), REGTEST),
            Ok(onchain(&address)),
            "{prefix}"
        );
    }
}

#[test]
fn whitespace_and_newlines_around() {
    let inv = regtest_invoice(Some(1_000));
    let address = segwit_address(BtcNetwork::Regtest);
    let node = key(13).1.to_string();
    assert!(matches!(
        parse(&format!("\n\t  {inv} \r\n"), REGTEST),
        Ok(PaymentRequest::Bolt11 { .. })
    ));
    assert!(matches!(
        parse(&format!("lightning: {inv}\n"), REGTEST),
        Ok(PaymentRequest::Bolt11 { .. })
    ));
    assert_eq!(parse(&format!("  bitcoin:{address}\n"), REGTEST), Ok(onchain(&address)));
    assert_eq!(
        parse(&format!("\u{a0}{address}\u{2003}"), REGTEST),
        Ok(onchain(&address)),
        "unicode spaces"
    );
    assert!(matches!(parse(&format!("\t{node}\n"), REGTEST), Ok(PaymentRequest::Keysend { .. })));
}

#[test]
fn garbage_is_unknown_format() {
    for text in [
        "hello",
        "hello world",
        "https://example.com/pay",
        "12345",
        "lnurl1dp68gurn8ghj7um9",
        "💸",
        "bc1",
        "user@",
        "@example.com",
        "lni1qqqq",
    ] {
        assert_eq!(parse(text, REGTEST), Err(ParseError::UnknownFormat), "{text}");
    }
    let message = ParseError::UnknownFormat.to_string();
    assert!(message.contains("invoice") && message.contains("address"), "{message}");
}

#[test]
fn empty_is_empty() {
    for text in ["", " ", "\n\t\r ", "lightning:", "LIGHTNING: \n"] {
        assert_eq!(parse(text, REGTEST), Err(ParseError::Empty), "{text:?}");
    }
}

#[test]
fn errors_never_echo_long_input() {
    let long_invoice = format!("lnbcrt{}", "q".repeat(5_000));
    let long_address = format!("bcrt1{}", "q".repeat(5_000));
    let long_uri = format!("bitcoin:{}?amount={}", "x".repeat(3_000), "9".repeat(3_000));
    let long_label =
        format!("bitcoin:{}?label=%zz{}", segwit_address(BtcNetwork::Regtest), "y".repeat(3_000));
    let long_req =
        format!("bitcoin:{}?req-{}=1", segwit_address(BtcNetwork::Regtest), "z".repeat(3_000));
    let long_offer = format!("lno1{}", "q".repeat(5_000));
    for text in [long_invoice, long_address, long_uri, long_label, long_req, long_offer] {
        let err = parse(&text, REGTEST).expect_err("refused");
        let message = err.to_string();
        assert!(message.len() < 300, "{} chars: {message}", message.len());
    }
}

// --- Names and LNURLs: recognised here, looked up by prepare_send ---

/// LUD-01's example LNURL: `https://service.com/api?q=3fc3645b…`.
const LNURL: &str = concat!(
    "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C",
    "35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9",
    "NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS"
);

#[test]
fn names_with_and_without_the_bitcoin_sign() {
    let alice = PaymentRequest::Name { name: "alice@example.com".into() };
    for text in ["₿alice@example.com", "alice@example.com", "  ₿Alice@Example.COM \n"] {
        assert_eq!(parse(text, REGTEST), Ok(alice.clone()), "{text:?}");
        assert_eq!(parse(text, Network::Bitcoin), Ok(alice.clone()), "any network: {text:?}");
    }
    for text in ["alice@", "@example.com", "al ice@example.com", "alice@exa mple.com"] {
        assert_eq!(parse(text, REGTEST), Err(ParseError::UnknownFormat), "{text:?}");
    }
}

#[test]
fn lnurl_bech32_bare_and_in_lightning_uris() {
    for text in [
        LNURL.to_string(),
        LNURL.to_lowercase(),
        format!("lightning:{LNURL}"),
        format!("LIGHTNING:{}", LNURL.to_lowercase()),
    ] {
        match parse(&text, REGTEST) {
            Ok(PaymentRequest::Lnurl { url }) => {
                assert!(url.starts_with("https://service.com/api?q=3fc3645b"), "{url}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // An LNURL for plain http to somewhere else is refused before anything is fetched.
    use ldk_node::bitcoin::bech32::{self, Bech32, Hrp};
    let http =
        bech32::encode::<Bech32>(Hrp::parse("lnurl").unwrap(), b"http://example.com/pay").unwrap();
    assert!(matches!(parse(&http, REGTEST), Err(ParseError::InvalidLnurl(_))), "{http}");
}

#[test]
fn bip21_with_only_lno() {
    let text = offer(&[BtcNetwork::Regtest], Some(7_000), None);
    for uri in [format!("bitcoin:?lno={text}"), format!("BITCOIN:?LNO={}", text.to_uppercase())] {
        assert!(
            matches!(
                parse(&uri, REGTEST),
                Ok(PaymentRequest::Bolt12Offer { ref offer, amount_msat: Some(7_000), .. })
                    if *offer == text
            ),
            "{uri}"
        );
    }
}

// --- Fuzz: no input panics ---

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Valid requests of every kind, to mutate and to combine.
    fn seeds() -> Vec<String> {
        let address = segwit_address(BtcNetwork::Regtest);
        let inv = regtest_invoice(Some(10_000));
        let off = offer(&[BtcNetwork::Regtest], Some(10_000), None);
        vec![
            inv.clone(),
            regtest_invoice(None),
            invoice(Currency::Bitcoin, Some(1), Duration::ZERO, HOUR),
            invoice(Currency::Regtest, Some(1), 2 * HOUR, Duration::from_secs(1)),
            off.clone(),
            offer(&[], None, None),
            refund(BtcNetwork::Regtest, 1_000, None),
            address.clone(),
            Address::p2pkh(compressed(4), BtcNetwork::Regtest).to_string(),
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
            key(13).1.to_string(),
            format!("bitcoin:{address}?amount=0.001&label=a%20b&lightning={inv}&lno={off}"),
        ]
    }

    const FRAGMENTS: &[&str] = &[
        "lightning:",
        "LIGHTNING:",
        "bitcoin:",
        "BITCOIN:",
        "//",
        "?",
        "&",
        "=",
        "%",
        "%20",
        "%zz",
        "%C3",
        "amount=",
        "AMOUNT=",
        "label=",
        "message=",
        "lightning=",
        "lno=",
        "req-x=",
        "0.001",
        "-1",
        "1.123456789",
        "21000001",
        "99999999999999999999",
        ".",
        "+",
        " ",
        "\n",
        "\u{0}",
        "é",
        "💸",
        "\u{202e}",
        "lnbc",
        "lnbcrt1",
        "lntb",
        "lnsb",
        "lno1",
        "lnr1",
        "lnurl",
        concat!(
            "lnurl1dp68gurn8ghj7um9wfmxjcm99e3k7mf0v9cxj0m385ekvcenxc6r2c",
            "35xvukxefcv5mkvv34x5ekzd3e"
        ),
        "@",
        "₿",
        "alice@example.com",
        "bc1q",
        "bcrt1q",
        "tb1q",
        "1",
        "3",
        "m",
        "2",
        "02",
        "03",
        "qqqq",
        "pp5",
        "sp5",
        "ff",
        "00",
    ];

    fn fragments() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12)
            .prop_map(|parts| parts.concat())
    }

    /// A seed with a few random edits: deletes, inserts, replacements, case flips, truncation.
    fn mutated() -> impl Strategy<Value = String> {
        (
            prop::sample::select(seeds()),
            prop::collection::vec((0usize..2_000, 0u8..5, any::<char>()), 1..4),
        )
            .prop_map(|(seed, edits)| {
                let mut chars: Vec<char> = seed.chars().collect();
                for (at, op, c) in edits {
                    let at = at % (chars.len() + 1);
                    match op {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 => chars.insert(at, c),
                        2 if at < chars.len() => chars[at] = c,
                        3 => chars.iter_mut().for_each(|ch| *ch = ch.to_ascii_uppercase()),
                        _ => chars.truncate(at),
                    }
                }
                chars.into_iter().collect()
            })
    }

    fn inputs() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,80}",
            fragments(),
            (fragments(), prop::sample::select(seeds()), fragments())
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
            mutated(),
            (prop::sample::select(seeds()), "[0-9.,e+-]{0,24}").prop_map(|(seed, amount)| {
                let address = seed
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("bitcoin:")
                    .to_string();
                format!("bitcoin:{address}?amount={amount}")
            }),
        ]
    }

    fn networks() -> impl Strategy<Value = Network> {
        prop::sample::select(vec![
            Network::Bitcoin,
            Network::Testnet,
            Network::Signet,
            Network::Regtest,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 20_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn parse_never_panics(input in inputs(), network in networks()) {
            match parse(&input, network) {
                Ok(request) => {
                    // What parse returns parses again, to the same kind.
                    let again = match &request {
                        PaymentRequest::Bolt11 { invoice, .. } => parse(invoice, network),
                        PaymentRequest::Bolt12Offer { offer, .. } => parse(offer, network),
                        PaymentRequest::Bolt12Refund { refund, .. } => parse(refund, network),
                        PaymentRequest::OnChain { address, .. } => parse(address, network),
                        PaymentRequest::Keysend { node_id } => parse(node_id, network),
                        PaymentRequest::Name { name } => parse(name, network),
                        PaymentRequest::Lnurl { .. } | PaymentRequest::LnurlPay { .. } => {
                            return Ok(())
                        }
                    };
                    let again = again.expect("canonical form parses");
                    prop_assert_eq!(
                        std::mem::discriminant(&again),
                        std::mem::discriminant(&request)
                    );
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(message.len() < 400, "too long ({}): {}", message.len(), message);
                }
            }
        }
    }
}
