//! No event is lost when the phone's process is killed: a payment received by a process that
//! dies before its listener saw the event is delivered on the next start, once, with its id.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use doze_core::{ChainSource, LspConfig, Network, Wallet, WalletConfig, WalletEventKind};
use doze_devnet::nodes::DEFAULT_WAIT;
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Scene, MNEMONIC};

const CHILD: &str = "DOZE_CRASH_CHILD";

/// The phone process that gets killed: starts without a listener (events stay queued), prints
/// a JIT invoice, and waits to be killed.
fn child_phone() {
    let config = WalletConfig {
        network: Network::Regtest,
        storage_dir: std::env::var("DOZE_STORAGE").unwrap(),
        chain_source: ChainSource::Esplora { url: std::env::var("DOZE_ESPLORA").unwrap() },
        lsp: Some(LspConfig {
            node_id: std::env::var("DOZE_LSP_ID").unwrap(),
            address: std::env::var("DOZE_LSP_ADDR").unwrap(),
            token: None,
            api_url: None,
        }),
        max_jit_fee_msat: None,
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
        backup: None,
        name_resolution: None,
    };
    let rt = runtime();
    let wallet = Wallet::new(config, MNEMONIC, None).unwrap();
    rt.block_on(wallet.start()).unwrap();
    let invoice =
        rt.block_on(wallet.receive_bolt11(Some(30_000_000), "killed".into(), 3600)).unwrap();
    println!("INVOICE {}", invoice.bolt11);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::process::abort();
}

#[test]
fn a_payment_received_by_a_killed_process_is_delivered_on_the_next_start() {
    if std::env::var(CHILD).is_ok() {
        return child_phone();
    }
    let scene = Scene::new();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_payment_received_by_a_killed_process_is_delivered_on_the_next_start",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("DOZE_STORAGE", dir.path())
        .env("DOZE_ESPLORA", scene.devnet.esplora_url())
        .env("DOZE_LSP_ID", scene.lsp.node_id().to_string())
        .env("DOZE_LSP_ADDR", scene.lsp.p2p_address().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let invoice = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("INVOICE ").map(str::to_string))
        .expect("the child prints its invoice");

    assert!(scene.merchant_pays(&invoice), "the killed phone claimed the payment before dying");
    child.kill().unwrap(); // SIGKILL: no stop, no cleanup
    child.wait().unwrap();

    let rt = runtime();
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    let event = recorder
        .wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    let WalletEventKind::PaymentReceived { payment_hash, amount_msat, .. } = &event.kind else {
        unreachable!()
    };
    assert_eq!(*amount_msat, 30_000_000);
    assert_eq!(event.id, format!("payment-received:{payment_hash}"), "stable id");
    rt.block_on(phone.stop()).unwrap();
    drop(phone);

    // Handled now: a further restart does not deliver it again.
    let (again, recorder) = start_phone(&scene, dir.path(), &rt);
    let wallet_payments = again.list_payments().unwrap();
    assert_eq!(wallet_payments.len(), 1);
    rt.block_on(again.sync()).unwrap();
    assert!(
        !recorder
            .events()
            .iter()
            .any(|e| matches!(e.kind, WalletEventKind::PaymentReceived { .. })),
        "a handled event is not delivered twice"
    );
    rt.block_on(again.stop()).unwrap();
}
