//! Paying what a person types as a name or scans as an LNURL: a Lightning Address and an
//! LNURL paid end to end on the devnet through a real LNURL-pay server on loopback; BIP 353
//! proofs (dnssec-prover's recorded `matt@mattcorallo.com`) fetched from a DoH server on
//! loopback and verified at a clock inside, and outside, their signatures' window; and hostile
//! or slow servers, each refused with a typed error within the timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_core::{
    verify_bip353, DomainRoute, NameResolutionConfig, NameResolver, Network, ParseError,
    PaymentDirection, PaymentKind, PaymentRequest, PaymentStatus, ResolutionMethod, SendBlocker,
    WalletConfig, WalletError,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::dnssec_records::{self, NAME, VALID_AT};
use doze_testkit::doh_server::DohServer;
use doze_testkit::lnurl_server::{IssueInvoice, LnurlMode, LnurlServer, MAX_SENDABLE_MSAT};
use doze_testkit::phone::{assert_paid, start_wallet};
use doze_testkit::{runtime, Scene};
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
use ldk_node::lightning_invoice::{
    Bolt11InvoiceDescription, Currency, InvoiceBuilder, PaymentSecret, Sha256,
};

fn names_config(doh: &DohServer, lnurl: &LnurlServer, timeout_secs: u32) -> NameResolutionConfig {
    NameResolutionConfig {
        doh_url: doh.url(),
        timeout_secs,
        domain_routes: vec![DomainRoute { domain: "shop.test".into(), base_url: lnurl.base_url() }],
    }
}

/// An issuer without a node: invoices signed by a fixed key, committing to the hash given.
fn made_up_invoices() -> IssueInvoice {
    Arc::new(|amount_msat, hash| {
        let secret = SecretKey::from_slice(&[7; 32]).map_err(|e| e.to_string())?;
        InvoiceBuilder::new(Currency::Regtest)
            .description_hash(sha256::Hash::from_byte_array(hash))
            .payment_hash(sha256::Hash::hash(&amount_msat.to_be_bytes()))
            .payment_secret(PaymentSecret([1; 32]))
            .current_timestamp()
            .min_final_cltv_expiry_delta(144)
            .amount_milli_satoshis(amount_msat)
            .build_signed(|h| Secp256k1::new().sign_ecdsa_recoverable(h, &secret))
            .map(|i| i.to_string())
            .map_err(|e| format!("{e:?}"))
    })
}

fn name(text: &str) -> PaymentRequest {
    PaymentRequest::Name { name: text.into() }
}

#[test]
fn a_lightning_address_and_an_lnurl_are_paid_end_to_end() {
    let scene = Scene::new();
    let rt = runtime();
    let merchant = Arc::clone(&scene.merchant.node);
    let issue: IssueInvoice = Arc::new(move |amount_msat, hash| {
        let description =
            Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(hash)));
        merchant
            .bolt11_payment()
            .receive(amount_msat, &description, 600)
            .map(|i| i.to_string())
            .map_err(|e| e.to_string())
    });
    let lnurl = LnurlServer::start(issue);
    let doh = DohServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        name_resolution: Some(names_config(&doh, &lnurl, 10)),
        ..scene.phone_config(dir.path())
    };
    let (phone, recorder) = start_wallet(config, &rt);
    let invoice =
        rt.block_on(phone.receive_bolt11(Some(60_000_000), "setup".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    wait_until("the phone can spend", DEFAULT_WAIT, || {
        phone.balances().unwrap().lightning_spendable_sat > 50_000
    });

    // Without an amount: the terms, to choose one.
    let terms = phone.prepare_send("alice@shop.test", None, None).unwrap();
    assert_eq!(terms.blocker, Some(SendBlocker::AmountRequired));
    let recipient = terms.recipient.clone().expect("a recipient");
    assert_eq!(recipient.name, "alice@shop.test");
    assert_eq!(recipient.method, ResolutionMethod::LightningAddress);
    assert_eq!(recipient.min_sendable_msat, Some(1_000));
    assert_eq!(recipient.max_sendable_msat, Some(MAX_SENDABLE_MSAT));
    assert_eq!(recipient.description.as_deref(), Some("Pay alice at the test shop"));
    assert!(matches!(terms.request, PaymentRequest::LnurlPay { .. }), "{:?}", terms.request);
    assert!(doh.queries() >= 1, "BIP 353 was asked first");

    // With one: the server's invoice, paid.
    let quote = phone.prepare_send("₿alice@shop.test", Some(20_000_000), None).unwrap();
    assert!(quote.payable(), "{:?}", quote.blocker);
    assert_eq!(quote.amount_msat, 20_000_000);
    assert_eq!(quote.recipient.as_ref().map(|r| r.name.as_str()), Some("alice@shop.test"));
    assert!(matches!(quote.request, PaymentRequest::Bolt11 { amount_msat: Some(20_000_000), .. }));
    let paid_to_alice = rt.block_on(phone.send(quote)).unwrap();
    assert_paid(&recorder, &paid_to_alice);

    // An LNURL, bare and in a lightning: link.
    let bob = lnurl.lnurl("bob");
    let quote =
        phone.prepare_send(&format!("lightning:{}", bob.to_uppercase()), Some(7_000_000), None);
    let quote = quote.unwrap();
    let recipient = quote.recipient.clone().expect("a recipient");
    assert_eq!((recipient.name.as_str(), recipient.method), ("127.0.0.1", ResolutionMethod::Lnurl));
    let paid_to_bob = rt.block_on(phone.send(quote)).unwrap();
    assert_paid(&recorder, &paid_to_bob);
    assert_eq!(lnurl.invoices_issued(), 2);

    // The merchant got both; the phone's history has both, settled.
    wait_until("the merchant has both payments", DEFAULT_WAIT, || {
        let received: Vec<u64> = scene
            .merchant
            .list_payments()
            .iter()
            .filter(|p| p.status == ldk_node::payment::PaymentStatus::Succeeded)
            .filter(|p| p.direction == ldk_node::payment::PaymentDirection::Inbound)
            .filter_map(|p| p.amount_msat)
            .collect();
        received.contains(&20_000_000) && received.contains(&7_000_000)
    });
    let history = phone.list_payments().unwrap();
    for (id, amount) in [(&paid_to_alice, 20_000_000), (&paid_to_bob, 7_000_000)] {
        let row = history.iter().find(|p| p.id == *id).expect("in the history");
        assert_eq!(
            (row.direction, row.kind, row.status, row.amount_msat),
            (
                PaymentDirection::Outbound,
                PaymentKind::Bolt11,
                PaymentStatus::Succeeded,
                Some(amount)
            )
        );
    }

    // A hostile server through the wallet: a typed error, nothing paid.
    lnurl.set_mode(LnurlMode::WrongAmount);
    match phone.prepare_send("alice@shop.test", Some(5_000_000), None) {
        Err(WalletError::InvalidRequest(ParseError::LnurlServer { domain, reason })) => {
            assert_eq!(domain, "127.0.0.1");
            assert!(reason.contains("not the 5000000 msat asked"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    rt.block_on(phone.stop()).unwrap();
}

#[test]
fn a_recorded_bip353_proof_is_verified_inside_its_window_only() {
    let rt = runtime();
    let doh = DohServer::start();
    let lnurl = LnurlServer::start(made_up_invoices());
    let config = names_config(&doh, &lnurl, 10);
    let at = |now: u64| -> Arc<dyn Fn() -> u64 + Send + Sync> { Arc::new(move || now) };

    // Fetched over DoH and verified from the root down, at a moment inside the window: the
    // record is a mainnet offer, so a regtest wallet refuses it for its network.
    let resolver = NameResolver::new(&config, Network::Regtest).unwrap().with_clock(at(VALID_AT));
    let resolved = rt.block_on(resolver.resolve(name(NAME), None));
    assert_eq!(
        resolved,
        Err(ParseError::WrongNetwork {
            expected: "regtest".into(),
            found: "bitcoin mainnet".into()
        })
    );
    assert!(doh.queries() >= 5, "TXT, then DNSKEY and DS up to the root: {}", doh.queries());

    // Today is after the signatures expired.
    let today = NameResolver::new(&config, Network::Regtest).unwrap();
    match rt.block_on(today.resolve(name(NAME), None)) {
        Err(ParseError::NameNotVerified { name, reason }) => {
            assert_eq!(name, NAME);
            assert!(reason.contains("expired") && reason.contains("date and time"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A record changed after it was signed.
    doh.set_tampered(true);
    match rt.block_on(resolver.resolve(name(NAME), None)) {
        Err(ParseError::NameNotVerified { reason, .. }) => {
            assert!(reason.contains("forged"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // The same proof on a mainnet wallet (parse only): the offer, the address beside it.
    let proof = dnssec_records::proof(false);
    let mainnet = verify_bip353(&format!("₿{NAME}"), &proof, VALID_AT, Network::Bitcoin).unwrap();
    match mainnet.request {
        PaymentRequest::Bolt12Offer { offer, onchain_fallback, .. } => {
            assert!(offer.starts_with("lno1"), "{offer}");
            assert_eq!(
                onchain_fallback.as_deref(),
                Some("bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l")
            );
        }
        other => panic!("{other:?}"),
    }
    let recipient = mainnet.recipient.expect("a recipient");
    assert_eq!((recipient.name.as_str(), recipient.method), (NAME, ResolutionMethod::Bip353));
    assert!(matches!(
        verify_bip353(NAME, &proof, VALID_AT, Network::Regtest),
        Err(ParseError::WrongNetwork { .. })
    ));
    let now = doze_core_now();
    assert!(matches!(
        verify_bip353(NAME, &proof, now, Network::Bitcoin),
        Err(ParseError::NameNotVerified { .. })
    ));
    assert!(matches!(
        verify_bip353(NAME, &proof, 1_700_000_000, Network::Bitcoin),
        Err(ParseError::NameNotVerified { reason, .. }) if reason.contains("not valid yet")
    ));
    assert!(matches!(
        verify_bip353(NAME, &dnssec_records::proof(true), VALID_AT, Network::Bitcoin),
        Err(ParseError::NameNotVerified { reason, .. }) if reason.contains("forged")
    ));
}

fn doze_core_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn hostile_and_slow_servers_give_typed_errors_within_the_timeout() {
    let rt = runtime();
    let doh = DohServer::start();
    let lnurl = LnurlServer::start(made_up_invoices());
    let resolver = NameResolver::new(&names_config(&doh, &lnurl, 2), Network::Regtest).unwrap();
    let alice = || name("alice@shop.test");
    let lnurl_error = |mode: LnurlMode, amount: Option<u64>| {
        lnurl.set_mode(mode);
        let started = Instant::now();
        let result = rt.block_on(resolver.resolve(alice(), amount));
        assert!(started.elapsed() < Duration::from_secs(5), "{mode:?}: {:?}", started.elapsed());
        match result {
            Err(ParseError::LnurlServer { domain, reason }) => {
                assert_eq!(domain, "127.0.0.1");
                reason
            }
            other => panic!("{mode:?}: {other:?}"),
        }
    };

    // Honest first: terms without an amount, an invoice with one.
    let terms = rt.block_on(resolver.resolve(alice(), None)).unwrap();
    assert!(matches!(terms.request, PaymentRequest::LnurlPay { min_sendable_msat: 1_000, .. }));
    let paid = rt.block_on(resolver.resolve(alice(), Some(5_000))).unwrap();
    assert!(matches!(paid.request, PaymentRequest::Bolt11 { amount_msat: Some(5_000), .. }));
    // Outside the server's limits: refused before asking for an invoice.
    let issued = lnurl.invoices_issued();
    assert!(matches!(
        rt.block_on(resolver.resolve(alice(), Some(MAX_SENDABLE_MSAT + 1_000))),
        Err(ParseError::InvalidAmount(m)) if m.contains("accepts 1 to 100000 sat")
    ));
    assert_eq!(lnurl.invoices_issued(), issued);

    let slow = lnurl_error(LnurlMode::Slow(Duration::from_secs(30)), None);
    assert!(slow.contains("no answer within 2 s"), "{slow}");
    assert!(lnurl_error(LnurlMode::HugeBody, None).contains("larger than"));
    assert!(lnurl_error(LnurlMode::GarbageJson, None).contains("not LNURL-pay JSON"));
    assert!(lnurl_error(LnurlMode::WrongAmount, Some(5_000)).contains("not the 5000 msat"));
    assert!(lnurl_error(LnurlMode::WrongDescriptionHash, Some(5_000)).contains("hash mismatch"));
    assert!(lnurl_error(LnurlMode::ErrorStatus, Some(5_000)).contains("the shop is closed"));
    lnurl.set_mode(LnurlMode::Honest);

    // No BIP 353 record and no Lightning Address.
    match rt.block_on(resolver.resolve(name("nobody@shop.test"), None)) {
        Err(ParseError::NameResolution { name, reason }) => {
            assert_eq!(name, "nobody@shop.test");
            assert!(reason.contains("no payment record"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A DoH resolver that does not answer in time.
    doh.set_delay(Duration::from_secs(30));
    let started = Instant::now();
    match rt.block_on(resolver.resolve(alice(), None)) {
        Err(ParseError::NameResolution { reason, .. }) => {
            assert!(reason.contains("no answer within 2 s"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn plain_http_is_refused_on_mainnet_and_off_loopback() {
    let base = NameResolutionConfig::default();
    let loopback =
        NameResolutionConfig { doh_url: "http://127.0.0.1:1/dns-query".into(), ..base.clone() };
    assert!(NameResolver::new(&loopback, Network::Regtest).is_ok());
    for (config, network) in [
        (loopback.clone(), Network::Bitcoin),
        (
            NameResolutionConfig { doh_url: "http://dns.example/q".into(), ..base.clone() },
            Network::Regtest,
        ),
        (
            NameResolutionConfig {
                domain_routes: vec![DomainRoute {
                    domain: "shop.test".into(),
                    base_url: "http://127.0.0.1:8080".into(),
                }],
                ..base.clone()
            },
            Network::Bitcoin,
        ),
        (NameResolutionConfig { timeout_secs: 0, ..base.clone() }, Network::Regtest),
    ] {
        assert!(
            matches!(NameResolver::new(&config, network), Err(WalletError::InvalidConfig(_))),
            "{config:?} on {network:?}"
        );
    }
    assert!(NameResolver::new(&base, Network::Bitcoin).is_ok(), "the default is https");
}
