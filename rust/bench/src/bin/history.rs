//! History benchmark: 100 000 payments in both Doze's history and ldk-node's payment store,
//! then one page of 50 (first, middle, filtered) from Doze beside ldk-node's `list_payments()`
//! on the same count, and the wallet's start time with that history. Prints JSON.
//!
//! `cargo run --release -p doze-bench --bin history [-- COUNT]`

use std::time::Instant;

use doze_bench::median_ms;
use doze_core::{
    ChainSource, Network, PaymentDirection, PaymentFilter, PaymentStatus, Wallet, WalletConfig,
};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::util::ser::Writeable;
use ldk_node::lightning_types::payment::PaymentHash;
use ldk_node::payment::{
    PaymentDetails, PaymentDirection as NodeDirection, PaymentKind, PaymentStatus as NodeStatus,
};

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn fill_node_store(node_dir: &std::path::Path, count: u64) {
    // Let ldk-node create its schema, then write the payments in one transaction (ldk-node
    // would write them one by one as they happen; the bench only needs them there).
    drop(SqliteStore::new(node_dir.to_path_buf(), Some(SQLITE_DB_FILE_NAME.into()), Some(KV_TABLE_NAME.into())).expect("node store"));
    let mut conn = rusqlite::Connection::open(node_dir.join(SQLITE_DB_FILE_NAME)).expect("open");
    let tx = conn.transaction().expect("tx");
    {
        let sql = format!("INSERT OR REPLACE INTO {KV_TABLE_NAME} (primary_namespace, secondary_namespace, key, value) VALUES ('payments', '', ?1, ?2)");
        let mut stmt = tx.prepare(&sql).expect("prepare");
        let base = 1_700_000_000u64;
        for i in 0..count {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            id[8] = 0xd0;
            let details = PaymentDetails {
                id: PaymentId(id),
                kind: PaymentKind::Bolt11 { hash: PaymentHash(id), preimage: None, secret: None },
                amount_msat: Some(1_000 + i),
                fee_paid_msat: Some(i % 7),
                direction: if i % 3 == 0 { NodeDirection::Outbound } else { NodeDirection::Inbound },
                status: if i % 10 == 0 { NodeStatus::Failed } else { NodeStatus::Succeeded },
                latest_update_timestamp: base + i * 60,
            };
            let key: String = id.iter().map(|b| format!("{b:02x}")).collect();
            stmt.execute(rusqlite::params![key, details.encode()]).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

fn main() {
    let count: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let devnet = doze_devnet::Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("node")).expect("node dir");
    let filled = Instant::now();
    fill_node_store(&dir.path().join("node"), count);
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
    builder.set_chain_source_esplora(devnet.esplora_url(), Some(ldk_node::config::EsploraSyncConfig { background_sync_config: None }));
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
