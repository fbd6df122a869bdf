//! Helpers shared by the LSP's integration tests.
#![allow(dead_code)]

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_devnet::nodes::try_expect_event;
use doze_devnet::Devnet;
use doze_lsp::Lsp;
use ldk_node::bitcoin::Network;
use ldk_node::config::{Config, EsploraSyncConfig};
use ldk_node::{Builder, Event, Node};
use serde::de::DeserializeOwned;
use tempfile::TempDir;

/// Shows `doze*` info logs on stderr (nextest shows them for failing tests); with
/// `DOZE_TEST_LOG=debug` (or `trace`), every record up to that level, LDK's included.
pub fn init_logs() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            (m.level() <= log::Level::Info && m.target().starts_with("doze"))
                || m.level() <= log::Level::Warn
                || m.level() <= self.0
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{:?} {} [{}] {}", Instant::now(), r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let verbose = std::env::var("DOZE_TEST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_boxed_logger(Box::new(Stderr(verbose))).is_ok() {
        log::set_max_level(verbose.max(log::LevelFilter::Info));
    }
}

/// `GET {base}{path}`, expecting `status`, parsed as `T`.
pub fn get_json<T: DeserializeOwned>(base: &str, path: &str, status: u16) -> T {
    let response = reqwest::blocking::get(format!("{base}{path}"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status().as_u16(), status, "GET {path}");
    response.json().unwrap_or_else(|e| panic!("GET {path}: not the expected JSON: {e}"))
}

/// A stock ldk-node client of `lsp` (a phone, in effect): no listening address, no on-chain
/// funds, the LSP trusted for 0-conf channels and for the anchor reserve, LSPS2 pointed at it.
pub fn start_client(devnet: &Devnet, lsp: &Lsp) -> (Arc<Node>, TempDir) {
    let dir = tempfile::Builder::new().prefix("doze-client-").tempdir().expect("temp dir");
    let mut config = Config {
        network: Network::Regtest,
        storage_dir_path: dir.path().to_string_lossy().into_owned(),
        ..Config::default()
    };
    if let Some(anchors) = config.anchor_channels_config.as_mut() {
        anchors.trusted_peers_no_reserve.push(lsp.node_id());
    }
    let mut builder = Builder::from_config(config);
    builder.set_chain_source_esplora(
        devnet.esplora_url(),
        Some(EsploraSyncConfig { background_sync_config: None }),
    );
    // Also adds the LSP to `trusted_peers_0conf`.
    builder.set_liquidity_source_lsps2(lsp.node_id(), lsp.p2p_address(), None);
    let node = Arc::new(builder.build().expect("client builds"));
    node.start().expect("client starts");
    (node, dir)
}

/// The next event of `node` matching `matches` (others are marked handled and skipped).
pub fn expect_node_event(
    name: &str,
    node: &Node,
    timeout: Duration,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    try_expect_event(node, name, timeout, matches).unwrap_or_else(|e| panic!("{e}"))
}

/// The next event the LSP's observer forwarded that matches `matches`.
pub fn expect_lsp_event(
    events: &Receiver<Event>,
    timeout: Duration,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("lsp: no matching event within {timeout:?} ({e})"));
        if matches(&event) {
            return event;
        }
    }
}
