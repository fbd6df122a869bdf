//! No secret reaches a log line, an error, an event or a configuration's `Debug` (issue 20, "No
//! secrets in logs or errors").
//!
//! One test runs the full flows with every logger at trace level, keeping every record:
//!
//! - the process's `log` facade through doze-core's `init_logging` with a [`LogListener`] (the
//!   phone's wallet and ldk-node, its wakes, and the in-process LSP, which forwards its
//!   records there too), the LSP's own log observers, and the stock ldk-node merchant and
//!   friend through custom log writers (every level, gossip included);
//! - the flows: `doze demo`'s story on a wallet backed up to a real `vss-server` (a JIT
//!   channel's first payment, paying the merchant, a second channel, a split payment, send
//!   max, a push registration and an offline offer), a friend paying the sleeping phone's
//!   offer and the LSP's real push waking it (`Wallet::handle_push`, in this process so that
//!   its records are kept too), the app opening again, and a restore from the recovery phrase
//!   on an empty directory that then receives;
//! - typed errors provoked on purpose (wrong recovery phrases, forged, garbled and replayed
//!   pushes, malformed invoices, a wrong-network address, a bad configuration, the old phone
//!   after the restore, the LSP's refusals), each error's `Display` and `Debug`, the `Debug`
//!   of every event the app's listeners got and of every value the flows returned, and of the
//!   configurations (the wallet's with its LSP token and backup, the LSP's with its LSPS2 and
//!   operator tokens).
//!
//! Then it searches every one of those strings, ignoring case, for: the recovery phrase and
//! every run of 3 of its words, its entropy, the BIP39 seed and the keys derived from it (the
//! BIP32 master key, the node key, the backup's data, obfuscation and sign-in keys), the
//! backup server's `Authorization` credential, every payment's preimage, the LSP's seed and
//! push signing key (its node key), and the LSP's operator and LSPS2 tokens. It finds none,
//! and it checks that it searched something: thousands of lines, trace-level LDK records from
//! the wallet's own threads, and the wallet's redacted preimage lines. A hit names the secret
//! and shows the first line with every secret replaced by `<REDACTED>`.
//!
//! One exception: a stock node's own log is not searched for the preimages of its own
//! payments. Stock LDK logs every preimage it learns at debug and trace level (the payer's
//! proof of payment, the payee's own secret); the merchant and the friend stand for third
//! parties whose logs Doze does not write. They are searched for every other secret: none of
//! the phone's or the LSP's may reach a peer.
//!
//! One `#[test]`: the `log` facade has one logger per process. With
//! `DOZE_NO_SECRETS_DUMP=<file>`, every string searched is written there, secrets redacted.

use std::collections::HashMap;
use std::fmt::{Debug, Display};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use doze_core::{
    init_logging, parse, BackupAuth, BackupConfig, ChannelState, LogEntry, LogLevel, LogListener,
    Network, PaymentFilter, PushTarget, WakeEnd, Wallet, WalletConfig, WalletError,
    WalletEventKind,
};
use doze_devnet::nodes::{expect_event, wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::push::notify::SIGNATURE_HEADER;
use doze_lsp::push::PushTarget as LspPushTarget;
use doze_lsp::{LspConfig, Observers, SEED_FILE};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::lsp::{fund_lsp, is_connected, open_channel_to_lsp, try_start_lsp};
use doze_testkit::phone::assert_paid;
use doze_testkit::scene::{LSP_FUNDS_SAT, MERCHANT_FUNDS_SAT};
use doze_testkit::{register, runtime, Recorder, Scene, WebhookReceiver};
use ldk_node::bip39::Mnemonic;
use ldk_node::bitcoin::bip32::{ChildNumber, Xpriv};
use ldk_node::bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::sign::KeysManager;
use ldk_node::logger::{LogRecord, LogWriter};
use ldk_node::payment::PaymentKind;
use ldk_node::Event;
use tokio::runtime::Runtime;

/// The phone's recovery phrase: this test's own, so that its words are searched for (not the
/// test kit's `abandon abandon …`, whose runs of three would be found in innocent text).
const PHONE_MNEMONIC: &str =
    "famous brand fuel credit aspect because grass kite please certain blur soap";
/// The LSP's `[http] operator_token`, which the test also uses as a bearer token.
const OPERATOR_TOKEN: &str = "op-3f9c1d7e52a84b06-keep-out";
/// The LSP's `[lsps2] require_token`, which the phone's `LspConfig.token` presents.
const LSPS2_TOKEN: &str = "lsps2-8d2e6b41c09f7a35-member";
/// A valid mainnet address: the wrong network for the regtest wallet.
const MAINNET_ADDRESS: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
/// A wake's time budget (an iOS notification extension has 30 s).
const WAKE_DEADLINE: Duration = Duration::from_secs(25);

mod capture;
mod secrets;

use capture::{AppLog, Capture, Seen};
use secrets::{lsp_secrets, phone_secrets, preimages, redacted, search};

/// Builds and starts a wallet with the phone's phrase, with a recorder.
fn open(config: &WalletConfig, rt: &Runtime) -> (Wallet, Arc<Recorder>) {
    let wallet = Wallet::new(config.clone(), PHONE_MNEMONIC, None).unwrap();
    let events = Recorder::new();
    wallet.set_event_listener(events.clone());
    rt.block_on(wallet.start()).unwrap();
    (wallet, events)
}

fn settle(wallet: &Wallet) {
    wait_until("the phone's channels settle", DEFAULT_WAIT, || {
        wallet.balances().is_ok_and(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
    });
}

fn received(events: &Recorder, count: usize) {
    wait_until("the phone receives", DEFAULT_WAIT, || events.received_ids().len() >= count);
}

/// The scene of `doze demo` (chapter 1), every node logging into `capture`: a devnet, the
/// LSP (with an operator token and an LSPS2 token) funded, and a merchant with an announced
/// channel to it (announced: the LSP is then a public node, as the demo's chapter 5 makes it).
fn scene(capture: &Arc<Capture>) -> Scene {
    let devnet = Devnet::start().unwrap();
    let lsp_dir = tempfile::Builder::new().prefix("doze-lsp-").tempdir().unwrap();
    let lsp = try_start_lsp(&devnet, lsp_dir.path(), capture.lsp_observers("LSP"), |c| {
        c.http.operator_token = Some(OPERATOR_TOKEN.into());
        c.lsps2.require_token = Some(LSPS2_TOKEN.into());
    })
    .unwrap();
    fund_lsp(&devnet, &lsp, Amount::from_sat(LSP_FUNDS_SAT));
    let merchant = devnet.start_node_with("merchant", |builder| {
        builder.set_custom_logger(capture.node_log("merchant"));
    });
    devnet.fund_node(&merchant, Amount::from_sat(MERCHANT_FUNDS_SAT));
    Scene::open_merchant_channel(&devnet, &merchant, &lsp, true, DEFAULT_WAIT).unwrap();
    Scene { merchant, lsp, devnet, lsp_dir }
}

/// Chapter 4 of the demo: the LSP opens a second channel (100 000 sat, 40 000 on the phone's
/// side) to the running phone.
fn second_channel(scene: &Scene, app: &Wallet, rt: &Runtime) {
    let phone_id: PublicKey = app.node_id().unwrap().parse().unwrap();
    // The LSP spends confirmed coins: confirm the JIT channel's funding first.
    scene.devnet.mine(1);
    scene.lsp.sync().unwrap();
    let mempool = scene.devnet.mempool_len();
    // The phone is connected to the LSP already; this address is not dialled.
    let connected = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    scene.lsp.node().open_channel(phone_id, connected, 100_000, Some(40_000_000), None).unwrap();
    assert!(scene.devnet.wait_for_mempool_len(mempool + 1, DEFAULT_WAIT), "funding broadcast");
    scene.devnet.mine(6);
    wait_until("the phone has two usable channels", DEFAULT_WAIT, || {
        scene.lsp.sync().is_ok()
            && rt.block_on(app.sync()).is_ok()
            && app.list_channels().is_ok_and(|channels| {
                channels.iter().filter(|c| c.state == ChannelState::Usable).count() == 2
            })
            && app.balances().is_ok_and(|b| b.pending_sat == 0)
    });
}

/// `invoice` with one character in its middle changed (its checksum no longer matches).
fn garbled(invoice: &str) -> String {
    let mut chars: Vec<char> = invoice.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'q' { 'p' } else { 'q' };
    chars.into_iter().collect()
}

/// The LSP's operator API at `path` with `token` as the bearer token (if any): status and body.
fn operator_get(lsp_url: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new().get(format!("{lsp_url}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn no_secret_reaches_a_log_an_error_an_event_or_a_debug_string() {
    let started = Instant::now();
    let capture = Arc::new(Capture::default());
    assert!(init_logging(LogLevel::Trace, Arc::new(AppLog(Arc::clone(&capture)))));
    let mut seen = Seen::default();
    let secp = Secp256k1::new();

    // Chapter 1, the scene; the backup server starts meanwhile.
    let backup = std::thread::spawn(BackupServer::start);
    let scene = scene(&capture);
    let server = backup.join().unwrap();
    let mut secrets = lsp_secrets(scene.lsp_dir.path(), scene.lsp.node_id());
    seen.debug("the LSP's LspConfig", scene.lsp.config());
    let app_dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        lsp: Some(doze_core::LspConfig { token: Some(LSPS2_TOKEN.into()), ..scene.lsp_config() }),
        backup: Some(BackupConfig { url: server.url() }),
        ..scene.phone_config(app_dir.path())
    };
    seen.debug("the phone's WalletConfig", &config);
    let rt = runtime();

    // Chapter 2: the phone's first payment, through a JIT channel.
    let (app, events) = open(&config, &rt);
    seen.debug("the Wallet", &app);
    let phone_id = app.node_id().unwrap();
    secrets.extend(phone_secrets(&phone_id, &secp));
    let invoice = rt.block_on(app.receive_bolt11(Some(50_000_000), "first".into(), 3600)).unwrap();
    assert!(invoice.via_jit_channel, "{invoice:?}");
    seen.debug("a ReceiveInvoice", &invoice);
    assert!(scene.merchant_pays(&invoice.bolt11), "the merchant pays the phone");
    received(&events, 1);
    settle(&app);

    // Chapter 3: the phone pays the merchant.
    let id = rt.block_on(app.pay_bolt11(&scene.merchant_invoice(20_000_000), None)).unwrap();
    assert_paid(&events, &id);
    settle(&app);

    // Chapter 4: a second channel, a payment split over both, then send max.
    second_channel(&scene, &app, &rt);
    let quote = app.prepare_send(&scene.merchant_invoice(45_000_000), None, None).unwrap();
    assert!(quote.blocker.is_none(), "{quote:?}");
    seen.debug("a SendQuote", &quote);
    let id = rt.block_on(app.send(quote)).unwrap();
    assert_paid(&events, &id);
    settle(&app);
    let quote = app.prepare_send_max(&scene.merchant_open_invoice(), None).unwrap();
    seen.debug("a send-max SendQuote", &quote);
    let id = rt.block_on(app.send(quote)).unwrap();
    assert_paid(&events, &id);
    wait_until("the send max settles", DEFAULT_WAIT, || {
        app.balances().is_ok_and(|b| b.pending_sat == 0)
    });
    seen.debug("the Balances", &app.balances().unwrap());

    // Chapter 5: paid while asleep. A friend with a channel to the LSP; the phone registers
    // for pushes, gets its offer and goes away.
    let friend = scene.devnet.start_node_with("friend", |builder| {
        builder.set_custom_logger(capture.node_log("friend"));
    });
    scene.devnet.fund_node(&friend, Amount::from_sat(300_000));
    let (devnet, lsp) = (&scene.devnet, &scene.lsp);
    open_channel_to_lsp(devnet, &friend, lsp, 200_000, 0, false, DEFAULT_WAIT).unwrap();
    let gateway = WebhookReceiver::start();
    let target = PushTarget::Webhook { url: gateway.url() };
    let registration = rt.block_on(app.register_for_push("doze-test".into(), target)).unwrap();
    seen.debug("the PushRegistration", &registration);
    let offer = rt.block_on(app.receive_offer(DEFAULT_WAIT)).unwrap();
    rt.block_on(app.stop()).unwrap();
    seen.events("the app", &events);
    drop(app);
    let phone_key: PublicKey = phone_id.parse().unwrap();
    wait_until("the LSP sees the phone offline", DEFAULT_WAIT, || {
        !is_connected(&scene.lsp.node(), phone_key)
    });

    // The friend pays the offer; the LSP pushes; the push wakes the phone (in this process).
    let offer: Offer = offer.parse().unwrap();
    let gift = friend
        .bolt12_payment()
        .send_using_amount(&offer, 9_000_000, None, Some("for the coffee".into()), None)
        .unwrap();
    let push = gateway.wait_for(1, DEFAULT_WAIT).remove(0);
    seen.debug("the push", &push);
    let extension = Wallet::new(config.clone(), PHONE_MNEMONIC, None).unwrap();
    let extension_events = Recorder::new();
    extension.set_event_listener(extension_events.clone());
    let wake = |body: Vec<u8>, headers: HashMap<String, String>| {
        rt.block_on(extension.handle_push(body, headers, WAKE_DEADLINE))
    };
    let outcome = wake(push.body.clone().into_bytes(), push.lsps5_headers()).unwrap();
    assert_eq!(outcome.ended, WakeEnd::Paid, "{outcome:?}");
    seen.debug("the WakeOutcome", &outcome);
    let sent = expect_event(&friend, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == gift),
        "{sent:?}"
    );

    // Pushes that must be refused: the same again, a forged signature, a garbled body.
    let replayed = wake(push.body.clone().into_bytes(), push.lsps5_headers());
    let replayed = seen.expect_error("of a replayed push", replayed);
    assert!(matches!(replayed, WalletError::InvalidPush { .. }), "{replayed:?}");
    let mut forged = push.lsps5_headers();
    forged.insert(SIGNATURE_HEADER.into(), "d".repeat(104));
    seen.expect_error("of a forged push", wake(push.body.clone().into_bytes(), forged));
    let garbled_body = b"{\"jsonrpc\":\"2.0\",\"method\":".to_vec();
    seen.expect_error("of a garbled push", wake(garbled_body, push.lsps5_headers()));
    seen.events("the wake", &extension_events);
    drop(extension);

    // The app opens again and finds the payment; typed errors from the running wallet.
    let (app, events) = open(&config, &rt);
    let history = app.list_payments().unwrap();
    assert_eq!(history.len(), 5, "{history:?}");
    seen.debug("the history", &history);
    seen.debug("the channels", &app.list_channels().unwrap());
    let invoice = scene.merchant_invoice(1_000_000);
    seen.expect_error(
        "paying a garbled invoice",
        rt.block_on(app.pay_bolt11(&garbled(&invoice), None)),
    );
    seen.expect_error(
        "quoting a garbled invoice",
        app.prepare_send(&garbled(&invoice), None, None),
    );
    seen.expect_error("parsing a garbled invoice", parse(&garbled(&invoice), Network::Regtest));
    seen.expect_error("parsing a mainnet address", parse(MAINNET_ADDRESS, Network::Regtest));
    let wrong_network = rt.block_on(app.send_onchain(MAINNET_ADDRESS, Some(10_000), None));
    let wrong_network = seen.expect_error("sending to a mainnet address", wrong_network);
    assert!(matches!(wrong_network, WalletError::WrongNetwork { .. }), "{wrong_network:?}");
    rt.block_on(app.stop()).unwrap();
    seen.events("the app opened again", &events);
    drop(app);

    // A lost phone: wrong phrases refused, then the right one restores the wallet from its
    // backup on an empty directory, and it receives.
    let restore_dir = tempfile::tempdir().unwrap();
    let restore_config = WalletConfig {
        storage_dir: restore_dir.path().to_string_lossy().into_owned(),
        ..config.clone()
    };
    let words: Vec<&str> = PHONE_MNEMONIC.split(' ').collect();
    let mut swapped = words.clone();
    swapped.swap(0, 1);
    let mut misspelt = words.clone();
    misspelt[5] = "becuase";
    for (what, phrase) in [
        ("restoring with two words swapped", swapped.join(" ")),
        ("restoring with a misspelt word", misspelt.join(" ")),
        ("restoring with a word missing", words[1..].join(" ")),
    ] {
        let error = seen.expect_error(what, Wallet::new(restore_config.clone(), &phrase, None));
        assert!(matches!(error, WalletError::InvalidMnemonic(_)), "{error:?}");
        let auth = BackupAuth::from_mnemonic(&phrase, None, Network::Regtest);
        seen.expect_error(&format!("{what} (the backup sign-in key)"), auth);
    }
    let bad_lsp = WalletConfig {
        lsp: Some(doze_core::LspConfig { node_id: "nobody".into(), ..config.lsp.clone().unwrap() }),
        ..restore_config.clone()
    };
    seen.expect_error("a configuration with a bad LSP", Wallet::new(bad_lsp, PHONE_MNEMONIC, None));
    let (restored, restored_events) = open(&restore_config, &rt);
    assert_eq!(restored.node_id().unwrap(), phone_id);
    let page = restored.list_payments_page(PaymentFilter::default(), None, 100).unwrap();
    assert_eq!(page.payments.len(), 5, "the restored history: {page:?}");
    seen.debug("the restored history", &page);
    let invoice =
        rt.block_on(restored.receive_bolt11(Some(7_000_000), "again".into(), 3600)).unwrap();
    assert!(!invoice.via_jit_channel, "the restored channels take it");
    assert!(scene.merchant_pays(&invoice.bolt11), "the merchant pays the restored phone");
    restored_events.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentReceived { payment_hash, .. }
            if *payment_hash == invoice.payment_hash)
    });
    seen.debug("the restored Balances", &restored.balances().unwrap());

    // The old phone, found again, is refused.
    let old = Wallet::new(config.clone(), PHONE_MNEMONIC, None).unwrap();
    let moved = seen.expect_error("starting the old phone", rt.block_on(old.start()));
    assert_eq!(moved, WalletError::WalletMoved);
    drop(old);
    rt.block_on(restored.stop()).unwrap();
    seen.events("the restored wallet", &restored_events);
    drop(restored);

    // The LSP: its operator API with and without the token, a forged registration, and a
    // configuration file with a mistake beside its tokens.
    let url = scene.lsp.http_url();
    let (status, body) = operator_get(&url, "/v1/node", Some(OPERATOR_TOKEN));
    assert_eq!(status, 200, "{body}");
    seen.debug("the operator API's answer", &body);
    for (what, token) in [("without a token", None), ("with a wrong token", Some("op-wrong"))] {
        let (status, body) = operator_get(&url, "/v1/push/stats", token);
        assert_eq!(status, 401, "{body}");
        seen.debug(&format!("the operator API's refusal {what}"), &body);
    }
    let mut request = register::signed_request(&friend, LspPushTarget::webhook(gateway.url()));
    request.signature = "d".repeat(104);
    let refused = register::post_register(&url, &request);
    seen.expect_error("of a forged registration", refused.map_err(|(_, e)| e));
    seen.debug("the LSP's push stats", &scene.lsp.push_stats());
    let file = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "network = \"regtest\"\nstorage_dir = \"lsp\"\nesplora_url = \"http://127.0.0.1:1\"\n\
         [lsps2]\nrequire_token = \"{LSPS2_TOKEN}\"\nchannel_opening_fee_ppm = \"lots\"\n\
         [http]\noperator_token = \"{OPERATOR_TOKEN}\"\nmax_connections = \"many\"\n"
    );
    std::fs::write(file.path(), toml).unwrap();
    seen.expect_error("of an LSP config file", LspConfig::from_file(file.path()));

    // Every payment's preimage, from the stock nodes that know them.
    let payments: Vec<_> = [&scene.merchant, &friend].into_iter().flat_map(preimages).collect();
    // Six payments were made; the merchant also knows the preimages of invoices never paid.
    assert!(payments.len() >= 6, "{} preimages, not one per payment", payments.len());
    secrets.extend(payments);

    // The backup server's own log (LDK's vss-server, info level): no credential of the phone's.
    let vss_log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
    for line in vss_log.lines() {
        capture.add("vss-server log", line.to_string());
    }

    // Everything stops, so that stopping is logged too.
    friend.stop().unwrap();
    drop(friend);
    drop(gateway);
    scene.stop().unwrap();
    drop(server);
    let flows_took = started.elapsed();

    let mut strings = capture.take();
    let logged = strings.len();
    let mut by_source: HashMap<String, usize> = HashMap::new();
    for (source, _) in &strings {
        *by_source.entry(source.clone()).or_default() += 1;
    }
    // The wallet's records (on its `doze…` threads) whose preimage was redacted.
    let redacted_claims = strings
        .iter()
        .filter(|(source, text)| source == "log facade" && text.contains(" [doze"))
        .filter(|(_, text)| text.contains("preimage") && text.contains("<redacted>"))
        .count();
    let wallet_ldk_trace = capture.wallet_ldk_trace.load(Ordering::Relaxed);
    let collected = seen.0.len();
    strings.extend(seen.0);
    let searching = Instant::now();
    // The search finds each secret, in any case (and the credential with its signature).
    for secret in &secrets {
        let planted =
            format!("x{}{}x", secret.needle.to_ascii_uppercase(), "A".repeat(secret.then_hex));
        let control = [("control".to_string(), planted)];
        let found = search(&control, &secrets).0;
        assert!(found.iter().any(|h| h.secret == secret.name), "the search misses {}", secret.name);
    }
    let (hits, own_preimages) = search(&strings, &secrets);
    if let Some(path) = std::env::var_os("DOZE_NO_SECRETS_DUMP") {
        let dump: Vec<String> = strings
            .iter()
            .map(|(source, text)| format!("[{source}] {}", redacted(text, &secrets)))
            .collect();
        std::fs::write(path, dump.join("\n")).unwrap();
    }
    eprintln!(
        "flows took {flows_took:?}; searched {} strings ({logged} log records: {by_source:?}; \
         {wallet_ldk_trace} trace-level LDK records on the wallet's threads, {redacted_claims} \
         redacted preimage lines; {collected} errors, events and Debug strings) for {} secrets \
         in {:?}; {own_preimages} records of the stock nodes show their own payments' preimages",
        strings.len(),
        secrets.len(),
        searching.elapsed()
    );
    for hit in &hits {
        eprintln!("LEAK: {} in {} string(s)", hit.secret, hit.count);
        for (source, first) in &hit.first_by_source {
            eprintln!("    first in [{source}]: {first}");
        }
    }
    assert!(
        hits.is_empty(),
        "secrets found: {:?}",
        hits.iter().map(|h| format!("{} ({})", h.secret, h.count)).collect::<Vec<_>>()
    );
    assert!(logged > 1000, "only {logged} log records: the capture is not working");
    assert!(wallet_ldk_trace > 100, "{wallet_ldk_trace} trace-level LDK records from the wallet");
    assert!(
        redacted_claims > 0,
        "no claim of the wallet's was logged (with its preimage redacted)"
    );
    for source in ["LSP", "stock merchant", "stock friend"] {
        assert!(by_source.get(source).is_some_and(|&n| n > 100), "few records from {source}");
    }
}
