//! Helpers shared by the LSP's integration tests.
#![allow(dead_code)]

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use doze_devnet::nodes::{expect_event, try_expect_event, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{Lsp, Observers};
use ldk_node::bitcoin::{Amount, Network};
use ldk_node::config::{Config, EsploraSyncConfig};
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::logger::LogLevel;
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

/// What an LSP started with [`recording_observers`] emitted and logged.
pub struct Recorded {
    /// Every event, in order.
    pub events: Receiver<Event>,
    /// Its error records (module and message) that the test does not excuse.
    pub errors: Arc<Mutex<Vec<String>>>,
}

/// Observers that forward every event into [`Recorded::events`] and keep every error record
/// for which `excused` is false.
pub fn recording_observers(excused: fn(&str) -> bool) -> (Observers, Recorded) {
    let (events_tx, events) = mpsc::channel::<Event>();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&errors);
    let observers = Observers::new()
        .on_event(move |event| {
            let _ = events_tx.send(event.clone());
        })
        .on_log(move |record| {
            let text = format!("{} {}", record.module_path, record.args);
            if record.level == LogLevel::Error && !excused(&text) {
                seen.lock().unwrap().push(text);
            }
        });
    (observers, Recorded { events, errors })
}

/// A stock node, "payer", funded with twice `amount_sat`, whose channel of `amount_sat` to
/// `lsp` is confirmed six blocks deep and ready at both ends (the LSP's `ChannelReady` taken
/// from `lsp_events`).
pub fn payer_with_channel(
    devnet: &Devnet,
    lsp: &Lsp,
    lsp_events: &Receiver<Event>,
    amount_sat: u64,
) -> TestNode {
    let payer = devnet.start_node("payer");
    devnet.fund_node(&payer, Amount::from_sat(2 * amount_sat));
    let mempool_before = devnet.mempool_len();
    payer
        .open_channel(lsp.node_id(), lsp.p2p_address(), amount_sat, None, None)
        .expect("payer opens a channel to the LSP");
    expect_event(&payer, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
    assert!(devnet.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT), "funding broadcast");
    devnet.mine(6);
    payer.sync_wallets().expect("payer sync");
    lsp.sync().expect("LSP sync");
    expect_event(&payer, DEFAULT_WAIT, |e| matches!(e, Event::ChannelReady { .. }));
    let payer_id = payer.node_id();
    expect_lsp_event(lsp_events, DEFAULT_WAIT, |e| match e {
        Event::ChannelReady { counterparty_node_id, .. } => *counterparty_node_id == Some(payer_id),
        _ => false,
    });
    payer
}

/// An invoice of `client` for `amount_msat` that its LSP pays through a JIT channel (LSPS2).
pub fn jit_invoice(client: &Node, amount_msat: u64) -> Bolt11Invoice {
    let description =
        Bolt11InvoiceDescription::Direct(Description::new("jit".into()).expect("description"));
    client
        .bolt11_payment()
        .receive_via_jit_channel(amount_msat, &description, 3600, None)
        .expect("JIT invoice from the LSP")
}
