//! Every typed error an app can meet, from bad input and misuse, with nothing lost or written.

use doze_testkit::phone::config_without_lsp;
use std::time::Duration;

use doze_core::{
    generate_mnemonic, parse_mnemonic, LifecycleState, LspConfig, MnemonicError, Wallet,
    WalletConfig, WalletError, WordCount,
};
use doze_devnet::Devnet;
use doze_testkit::invoice::signed_invoice as invoice;
use doze_testkit::{runtime, MNEMONIC};
use ldk_node::lightning_invoice::Currency;

fn config(devnet: &Devnet, dir: &std::path::Path) -> WalletConfig {
    config_without_lsp(&devnet.esplora_url(), dir)
}

#[test]
fn recovery_phrases_are_checked_without_echoing_words() {
    let words: Vec<&str> = MNEMONIC.split(' ').collect();
    assert_eq!(
        parse_mnemonic(&words[..11].join(" ")),
        Err(MnemonicError::WrongWordCount { count: 11 })
    );
    let mut typo = words.clone();
    typo[4] = "abandonn";
    let err = parse_mnemonic(&typo.join(" ")).unwrap_err();
    assert_eq!(err, MnemonicError::UnknownWord { position: 5 });
    assert!(!err.to_string().contains("abandonn"), "never echo a word: {err}");
    let mut swapped = words.clone();
    swapped.swap(0, 11);
    assert_eq!(parse_mnemonic(&swapped.join(" ")), Err(MnemonicError::BadChecksum));
    assert!(parse_mnemonic(&format!("  {}  ", MNEMONIC.to_uppercase())).is_ok(), "case and spaces");

    for count in [WordCount::Words12, WordCount::Words24] {
        let phrase = generate_mnemonic(count).to_string();
        assert!(parse_mnemonic(&phrase).is_ok());
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_without_lsp("http://127.0.0.1:1", dir.path());
    let err = Wallet::new(cfg.clone(), &swapped.join(" "), None).unwrap_err();
    assert_eq!(err, WalletError::InvalidMnemonic(MnemonicError::BadChecksum));
    let wallet = Wallet::new(cfg, MNEMONIC, Some("passphrase".into())).unwrap();
    assert!(!format!("{wallet:?}").contains("abandon"), "Debug never shows the phrase");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "creating touches no disk");
}

#[test]
fn bad_configuration_is_named() {
    let mut cfg = config_without_lsp("http://127.0.0.1:1", std::path::Path::new(""));
    assert!(matches!(
        Wallet::new(cfg.clone(), MNEMONIC, None),
        Err(WalletError::InvalidConfig(m)) if m.contains("storage_dir")
    ));
    cfg.storage_dir = "/tmp/doze-never-created".into();
    cfg.lsp = Some(LspConfig {
        node_id: "not-a-key".into(),
        address: "127.0.0.1:9735".into(),
        token: None,
        api_url: None,
    });
    assert!(matches!(
        Wallet::new(cfg.clone(), MNEMONIC, None),
        Err(WalletError::InvalidConfig(m)) if m.contains("lsp.node_id")
    ));
    cfg.lsp = Some(LspConfig {
        node_id: "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619".into(),
        address: "nowhere".into(),
        token: None,
        api_url: None,
    });
    assert!(matches!(
        Wallet::new(cfg.clone(), MNEMONIC, None),
        Err(WalletError::InvalidConfig(m)) if m.contains("lsp.address")
    ));
    let good = LspConfig {
        node_id: "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619".into(),
        address: "127.0.0.1:9735".into(),
        token: None,
        api_url: None,
    };
    cfg.lsp = Some(good.clone());
    cfg.additional_lsps = vec![LspConfig { address: "127.0.0.1:9736".into(), ..good.clone() }];
    assert!(matches!(
        Wallet::new(cfg.clone(), MNEMONIC, None),
        Err(WalletError::InvalidConfig(m)) if m.contains("listed twice")
    ));
    cfg.additional_lsps = vec![LspConfig { node_id: "02ab".into(), ..good }];
    assert!(matches!(
        Wallet::new(cfg, MNEMONIC, None),
        Err(WalletError::InvalidConfig(m)) if m.contains("additional_lsps[0].node_id")
    ));
}

#[test]
fn lifecycle_misuse_and_a_second_process_get_typed_errors() {
    let devnet = Devnet::start().unwrap();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::new(config(&devnet, dir.path()), MNEMONIC, None).unwrap();
    assert_eq!(wallet.balances(), Err(WalletError::NotRunning));
    assert_eq!(rt.block_on(wallet.stop()), Err(WalletError::NotRunning));
    assert_eq!(wallet.state(), LifecycleState::Created);

    rt.block_on(wallet.start()).unwrap();
    assert_eq!(rt.block_on(wallet.start()), Err(WalletError::AlreadyRunning));

    // The app's extension (here: a second wallet on the same storage) must not run the node.
    let other = Wallet::new(config(&devnet, dir.path()), MNEMONIC, None).unwrap();
    assert!(matches!(rt.block_on(other.start()), Err(WalletError::StorageLocked { .. })));
    assert_eq!(other.state(), LifecycleState::Created);

    rt.block_on(wallet.stop()).unwrap();
    assert_eq!(wallet.state(), LifecycleState::Stopped);
    assert_eq!(wallet.balances(), Err(WalletError::NotRunning));
    assert_eq!(wallet.list_payments(), Ok(Vec::new()), "the history reads without a node");
    assert_eq!(rt.block_on(wallet.stop()), Err(WalletError::NotRunning));

    rt.block_on(other.start()).expect("free once the first one stopped");
    rt.block_on(other.stop()).unwrap();
    rt.block_on(wallet.start()).expect("a stopped wallet starts again");
    rt.block_on(wallet.stop()).unwrap();
}

#[test]
fn bad_payment_input_is_refused_before_anything_moves() {
    let devnet = Devnet::start().unwrap();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::new(config(&devnet, dir.path()), MNEMONIC, None).unwrap();
    rt.block_on(wallet.start()).unwrap();
    let hour = Duration::from_secs(3600);

    let pay = |text: &str, amount: Option<u64>| rt.block_on(wallet.pay_bolt11(text, amount));
    assert!(matches!(pay("lnbcrt1garbage", None), Err(WalletError::InvalidInvoice(_))));
    assert!(matches!(pay("", None), Err(WalletError::InvalidInvoice(_))));
    let mainnet = invoice(Currency::Bitcoin, Some(1_000), Duration::ZERO, hour);
    assert_eq!(
        pay(&mainnet, None),
        Err(WalletError::WrongNetwork {
            expected: "regtest".into(),
            found: "bitcoin mainnet".into()
        })
    );
    let expired = invoice(Currency::Regtest, Some(1_000), 2 * hour, Duration::from_secs(60));
    assert!(matches!(
        pay(&expired, None),
        Err(WalletError::InvoiceExpired { seconds_ago }) if seconds_ago >= 7_000
    ));
    let amountless = invoice(Currency::Regtest, None, Duration::ZERO, hour);
    assert!(matches!(
        pay(&amountless, None),
        Err(WalletError::InvalidAmount(m)) if m.contains("no amount")
    ));
    assert!(
        matches!(pay(&amountless, Some(u64::MAX)), Err(WalletError::InvalidAmount(_))),
        "overflow"
    );
    let fixed = invoice(Currency::Regtest, Some(5_000), Duration::ZERO, hour);
    assert!(matches!(
        pay(&format!("LIGHTNING:{fixed}"), Some(6_000)),
        Err(WalletError::InvalidAmount(_))
    ));
    assert!(
        matches!(pay(&fixed, None), Err(WalletError::PaymentFailed(_))),
        "no channel: nothing to send over"
    );

    let send = |address: &str, amount: Option<u64>| {
        rt.block_on(wallet.send_onchain(address, amount, None))
    };
    assert!(matches!(
        send("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Some(1_000)),
        Err(WalletError::WrongNetwork { found, .. }) if found == "bitcoin mainnet"
    ));
    assert!(matches!(send("not an address", Some(1_000)), Err(WalletError::InvalidAddress(_))));
    let own = wallet.new_onchain_address().unwrap();
    assert!(matches!(send(&own, Some(0)), Err(WalletError::InvalidAmount(_))));
    assert!(matches!(
        send(&format!("bitcoin:{own}?amount=1"), Some(1_000)),
        Err(WalletError::InsufficientFunds(_))
    ));

    assert_eq!(
        rt.block_on(wallet.receive_bolt11(Some(1_000), "x".into(), 3600)),
        Err(WalletError::NoLsp)
    );
    assert!(matches!(
        rt.block_on(wallet.receive_bolt11(Some(0), "x".into(), 3600)),
        Err(WalletError::InvalidAmount(_))
    ));
    // Every refusal came before the node: nothing is in the history.
    let history = wallet.list_payments().unwrap();
    assert!(history.is_empty(), "{history:?}");
    rt.block_on(wallet.stop()).unwrap();
}
