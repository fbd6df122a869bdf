//! The LSP starts on the devnet from a config file with one call, answers its operator API,
//! lets observers see its log records, stops cleanly and keeps its key across restarts.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{get_json, init_logs};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::api::{ApiError, ChannelList, Health, NodeInfo, OpeningFeeTerms};
use doze_lsp::{devnet_config, Lsp, LspConfig, Observers};

#[test]
fn the_lsp_starts_from_a_config_file_and_serves_its_operator_api() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = devnet_config(&devnet.esplora_url(), &dir.path().join("data"));
    let path = dir.path().join("lsp.toml");
    std::fs::write(&path, config.to_toml()).expect("write config");

    let started = Instant::now();
    let lsp = Lsp::start_from_file(&path).expect("the LSP starts");
    eprintln!("LSP started in {:?}", started.elapsed());
    assert!(
        dir.path().join("data").join(doze_lsp::SEED_FILE).is_file(),
        "the key is kept in storage_dir"
    );
    let url = lsp.http_url();

    let health: Health = get_json(&url, "/health", 200);
    assert_eq!(health.status, "ok");

    devnet.mine(3);
    lsp.sync().expect("sync");
    let info: NodeInfo = get_json(&url, "/v1/node", 200);
    assert_eq!(info.node_id, lsp.node_id().to_string());
    assert_eq!(info.alias.as_deref(), Some("doze-lsp"));
    assert_eq!(info.network, "regtest");
    assert_eq!(info.listening_addresses, vec![config.p2p_listen.to_string()]);
    assert_eq!(info.announcement_addresses, vec![lsp.p2p_address().to_string()]);
    assert!(info.is_running);
    assert_eq!(info.best_block_height, devnet.tip().0, "synced to the devnet's tip");
    assert_eq!(info.onchain.total_sats, 0);
    assert_eq!(info.channel_count, 0);

    let channels: ChannelList = get_json(&url, "/v1/channels", 200);
    assert!(channels.channels.is_empty());

    // The LSPS2 terms its liquidity service quotes, from the same configuration.
    let fees: OpeningFeeTerms = get_json(&url, "/v1/lsps2/fees", 200);
    assert_eq!(fees, OpeningFeeTerms::from(&config.lsps2));
    assert_eq!(
        (fees.min_fee_msat, fees.proportional),
        (config.lsps2.min_channel_opening_fee_msat, config.lsps2.channel_opening_fee_ppm)
    );

    let error: ApiError = get_json(&url, "/v1/nope", 404);
    assert!(error.error.contains("/v1/nope"), "{}", error.error);
    let response =
        reqwest::blocking::Client::new().post(format!("{url}/health")).send().expect("POST");
    assert_eq!(response.status().as_u16(), 405);
    let error: ApiError = response.json().expect("a JSON error");
    assert!(error.error.contains("POST"), "{}", error.error);

    let node_id = lsp.node_id();
    lsp.stop().expect("stops cleanly");
    assert!(!lsp.is_running());
    lsp.stop().expect("stopping twice is fine");
    assert!(reqwest::blocking::get(format!("{url}/health")).is_err(), "the API is down");
    drop(lsp);

    // Same storage, same key; log observers see the node's records from the start.
    let records = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&records);
    let observers = Observers::new().on_log(move |record| {
        if record.module_path.starts_with("ldk_node") {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    let config = LspConfig::from_file(&path).expect("config");
    let lsp = Lsp::start_with_observers(config, observers).expect("restarts");
    assert_eq!(lsp.node_id(), node_id, "the node key persists in storage_dir");
    assert!(records.load(Ordering::Relaxed) > 0, "the log observer saw ldk-node's startup records");
    let late = Arc::new(AtomicUsize::new(0));
    let seen_late = Arc::clone(&late);
    let id = lsp.logs().subscribe(move |_| {
        seen_late.fetch_add(1, Ordering::Relaxed);
    });
    wait_until("a late log observer sees a record", DEFAULT_WAIT, || {
        let _ = lsp.sync();
        late.load(Ordering::Relaxed) > 0
    });
    assert!(lsp.logs().unsubscribe(id));
    assert!(!lsp.logs().unsubscribe(id), "already gone");
    drop(lsp); // stops
}

#[test]
fn a_taken_http_port_is_an_actionable_error() {
    init_logs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = devnet_config("http://127.0.0.1:1", dir.path());
    config.http_listen = taken.local_addr().expect("addr");
    let error = Lsp::start(config).err().expect("the port is taken");
    assert!(matches!(error, doze_lsp::LspError::HttpBind { .. }), "{error:?}");
    assert!(error.to_string().contains("http_listen"), "{error}");
}

#[test]
fn the_lsp_starts_syncs_and_stops_from_inside_a_tokio_runtime() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Lsp>();
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = devnet_config(&devnet.esplora_url(), dir.path());
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // ldk-node would otherwise adopt, and block on, this single-threaded runtime.
        let lsp = Lsp::start(config).expect("starts inside a runtime");
        lsp.sync().expect("syncs inside a runtime");
        let health = reqwest::get(format!("{}/health", lsp.http_url())).await.expect("GET /health");
        assert_eq!(health.status().as_u16(), 200);
        drop(lsp); // stops and shuts its runtime down without panicking
    });
}
