//! History benchmark: 100 000 settled payments in ldk-node's payment store, imported into
//! Doze's history at the first start; then one page of 50 (first, middle, filtered) from Doze
//! beside ldk-node's `list_payments()` on the same count, and the wallet's start time: the
//! first (import), the second (ldk-node's copies of the settled payments pruned, once), a later
//! one (steady), a new wallet's, and stock ldk-node's on a copy of the 100 000. Prints JSON.
//!
//! `cargo run --release -p doze-bench --bin history [-- COUNT]`

use doze_testkit::phone::config_without_lsp;
use std::time::Instant;

use doze_bench::fixture::fill_node_payments;
use doze_bench::median_ms;
use doze_core::{PaymentDirection, PaymentFilter, PaymentStatus, Wallet, WalletConfig};
use ldk_node::payment::{PaymentDirection as NodeDirection, PaymentStatus as NodeStatus};

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Prints the wallet's own account of where a start's time went (`DOZE_BENCH_LOG=1`).
struct StartLog;

impl doze_core::LogListener for StartLog {
    fn log(&self, entry: doze_core::LogEntry) {
        if entry.message.contains("wallet started") || entry.message.contains("settled payments") {
            eprintln!("{}", entry.message);
        }
    }
}

fn main() {
    if std::env::var_os("DOZE_BENCH_LOG").is_some() {
        doze_core::init_logging(doze_core::LogLevel::Info, std::sync::Arc::new(StartLog));
    }
    let count: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let devnet = doze_devnet::Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("node")).expect("node dir");
    let filled = Instant::now();
    fill_node_payments(&dir.path().join("node"), count).expect("node payments");
    let fill_ms = filled.elapsed().as_secs_f64() * 1000.0;
    // Stock ldk-node gets its own copy: Doze's start prunes the settled payments from its store.
    let anchor = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(dir.path().join("node")).expect("node dir") {
        let entry = entry.expect("node dir entry");
        std::fs::copy(entry.path(), anchor.path().join(entry.file_name())).expect("copy");
    }

    let config = config_without_lsp(&devnet.esplora_url(), dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let wallet = Wallet::new(config.clone(), MNEMONIC, None).expect("wallet");
    let t = Instant::now();
    rt.block_on(wallet.start()).expect("start");
    let first_start_ms = t.elapsed().as_secs_f64() * 1000.0;
    rt.block_on(wallet.stop()).expect("stop");
    drop(wallet);

    let timed_start = |config: &WalletConfig| {
        let wallet = Wallet::new(config.clone(), MNEMONIC, None).expect("wallet");
        let t = Instant::now();
        rt.block_on(wallet.start()).expect("start");
        (wallet, t.elapsed().as_secs_f64() * 1000.0)
    };
    let (wallet, pruning_start_ms) = timed_start(&config);
    rt.block_on(wallet.stop()).expect("stop");
    drop(wallet);
    let node_copies_left: i64 = rusqlite::Connection::open(
        dir.path().join("node").join(ldk_node::io::sqlite_store::SQLITE_DB_FILE_NAME),
    )
    .and_then(|c| {
        c.query_row(
            &format!(
                "SELECT COUNT(*) FROM {} WHERE primary_namespace = 'payments'",
                ldk_node::io::sqlite_store::KV_TABLE_NAME
            ),
            [],
            |row| row.get(0),
        )
    })
    .expect("count the node's payments");
    let mut starts = Vec::new();
    for _ in 0..4 {
        let (wallet, ms) = timed_start(&config);
        rt.block_on(wallet.stop()).expect("stop");
        starts.push(ms);
    }
    let fresh = tempfile::tempdir().expect("temp dir");
    let fresh_config =
        WalletConfig { storage_dir: fresh.path().to_string_lossy().into_owned(), ..config.clone() };
    let mut new_wallet_starts = Vec::new();
    for _ in 0..4 {
        let (wallet, ms) = timed_start(&fresh_config);
        rt.block_on(wallet.stop()).expect("stop");
        new_wallet_starts.push(ms);
    }
    let (wallet, last_start_ms) = timed_start(&config);
    starts.push(last_start_ms);
    let start_ms = median(&mut starts);
    let new_wallet_start_ms = median(&mut new_wallet_starts);

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
    let all_ms = median_ms(5, || {
        assert_eq!(wallet.list_payments().expect("list").len() as u64, count);
    });
    rt.block_on(wallet.stop()).expect("stop");

    // The anchor: stock ldk-node on the same store.
    let mut builder = ldk_node::Builder::new();
    builder.set_network(ldk_node::bitcoin::Network::Regtest);
    builder.set_storage_dir_path(anchor.path().to_string_lossy().into_owned());
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
        all.sort_by_key(|p| std::cmp::Reverse(p.latest_update_timestamp));
        all.truncate(50);
    });
    let ldk_filtered_ms = median_ms(5, || {
        let mut failed = node.list_payments_with_filter(|p| {
            p.direction == NodeDirection::Outbound && p.status == NodeStatus::Failed
        });
        failed.sort_by_key(|p| std::cmp::Reverse(p.latest_update_timestamp));
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
                "second_start_pruning_node_copies_ms": pruning_start_ms,
                "node_store_payments_after_pruning": node_copies_left,
                "start_ms_median_of_5": start_ms,
                "new_wallet_start_ms_median_of_4": new_wallet_start_ms,
                "list_payments_all_ms": all_ms,
                "first_page_of_50_ms": first_page_ms,
                "middle_page_of_50_ms": middle_page_ms,
                "filtered_page_of_50_ms": filtered_page_ms,
            },
            "ldk_node": {
                "start_ms": ldk_start_ms,
                "list_payments_newest_50_ms": ldk_page_ms,
                "list_payments_filtered_50_ms": ldk_filtered_ms,
            }
        })
    );
}
