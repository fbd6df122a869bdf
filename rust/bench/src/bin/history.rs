//! History benchmark: 100 000 payments in both Doze's history and ldk-node's payment store,
//! then one page of 50 (first, middle, filtered) from Doze beside ldk-node's `list_payments()`
//! on the same count, and the wallet's start time with that history. Prints JSON.
//!
//! `cargo run --release -p doze-bench --bin history [-- COUNT]`

use std::time::Instant;

use doze_bench::fixture::fill_node_payments;
use doze_bench::median_ms;
use doze_core::{
    ChainSource, Network, PaymentDirection, PaymentFilter, PaymentStatus, Wallet, WalletConfig,
};
use ldk_node::payment::{PaymentDirection as NodeDirection, PaymentStatus as NodeStatus};

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn main() {
    let count: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let devnet = doze_devnet::Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("node")).expect("node dir");
    let filled = Instant::now();
    fill_node_payments(&dir.path().join("node"), count).expect("node payments");
    let fill_ms = filled.elapsed().as_secs_f64() * 1000.0;

    let config = WalletConfig {
        network: Network::Regtest,
        storage_dir: dir.path().to_string_lossy().into_owned(),
        chain_source: ChainSource::Esplora { url: devnet.esplora_url() },
        lsp: None,
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let wallet = Wallet::new(config.clone(), MNEMONIC, None).expect("wallet");
    let t = Instant::now();
    rt.block_on(wallet.start()).expect("start");
    let first_start_ms = t.elapsed().as_secs_f64() * 1000.0;
    rt.block_on(wallet.stop()).expect("stop");
    drop(wallet);

    let wallet = Wallet::new(config, MNEMONIC, None).expect("wallet");
    let t = Instant::now();
    rt.block_on(wallet.start()).expect("start");
    let start_ms = t.elapsed().as_secs_f64() * 1000.0;

    let all = PaymentFilter::default();
    let first = wallet.list_payments_page(all.clone(), None, 50).expect("page");
    assert_eq!(first.payments.len(), 50);
    let first_page_ms = median_ms(21, || {
        wallet.list_payments_page(all.clone(), None, 50).expect("page");
    });
    // The cursor of the middle of the history: walk there once (not timed).
    let mut cursor = first.next_cursor.clone();
    for _ in 1..(count / 50 / 2) {
        cursor = wallet.list_payments_page(all.clone(), cursor, 50).expect("page").next_cursor;
    }
    let middle_page_ms = median_ms(21, || {
        let page = wallet.list_payments_page(all.clone(), cursor.clone(), 50).expect("page");
        assert_eq!(page.payments.len(), 50);
    });
    let filter = PaymentFilter {
        direction: Some(PaymentDirection::Outbound),
        statuses: vec![PaymentStatus::Failed],
        ..PaymentFilter::default()
    };
    let filtered_page_ms = median_ms(21, || {
        let page = wallet.list_payments_page(filter.clone(), None, 50).expect("page");
        assert_eq!(page.payments.len(), 50);
    });
    let ldk_all_ms = median_ms(5, || {
        let mut all = wallet.list_payments().expect("list");
        all.truncate(50);
    });
    rt.block_on(wallet.stop()).expect("stop");

    // The anchor: stock ldk-node on the same store.
    let mut builder = ldk_node::Builder::new();
    builder.set_network(ldk_node::bitcoin::Network::Regtest);
    builder.set_storage_dir_path(dir.path().join("node").to_string_lossy().into_owned());
    builder.set_chain_source_esplora(
        devnet.esplora_url(),
        Some(ldk_node::config::EsploraSyncConfig { background_sync_config: None }),
    );
    let mnemonic = ldk_node::bip39::Mnemonic::parse(MNEMONIC).expect("mnemonic");
    builder.set_entropy_bip39_mnemonic(mnemonic, None);
    let t = Instant::now();
    let node = builder.build().expect("build");
    node.start().expect("start");
    let ldk_start_ms = t.elapsed().as_secs_f64() * 1000.0;
    let ldk_page_ms = median_ms(5, || {
        let mut all = node.list_payments();
        all.sort_by(|a, b| b.latest_update_timestamp.cmp(&a.latest_update_timestamp));
        all.truncate(50);
    });
    let ldk_filtered_ms = median_ms(5, || {
        let mut failed = node.list_payments_with_filter(|p| {
            p.direction == NodeDirection::Outbound && p.status == NodeStatus::Failed
        });
        failed.sort_by(|a, b| b.latest_update_timestamp.cmp(&a.latest_update_timestamp));
        failed.truncate(50);
    });
    node.stop().expect("stop");

    println!(
        "{}",
        serde_json::json!({
            "payments": count,
            "fill_ms": fill_ms,
            "doze": {
                "first_start_with_import_ms": first_start_ms,
                "start_ms": start_ms,
                "first_page_of_50_ms": first_page_ms,
                "middle_page_of_50_ms": middle_page_ms,
                "filtered_page_of_50_ms": filtered_page_ms,
            },
            "ldk_node": {
                "start_ms": ldk_start_ms,
                "list_payments_newest_50_ms": ldk_page_ms,
                "list_payments_filtered_50_ms": ldk_filtered_ms,
                "list_payments_via_doze_wrapper_ms": ldk_all_ms,
            }
        })
    );
}
