//! Doze wallets in tests: their configuration against a scene, an event recorder, and the
//! common ways to bring one to a state (started, with a channel, paid).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_core::{
    ChainSource, EventListener, LspConfig, Network, Wallet, WalletConfig, WalletEvent,
    WalletEventKind,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Lsp;
use ldk_node::bitcoin::secp256k1::PublicKey;

use crate::scene::Scene;
use crate::MNEMONIC;

pub use crate::offline::{
    go_offline_with_offer, launch_wake, outcome_and_log, outcome_of, start_app, wake_args,
    PhoneScene, WAKE_DEADLINE,
};

/// A phone's view of `lsp`: its node id, peer address and HTTP API.
pub fn lsp_config(lsp: &Lsp) -> LspConfig {
    LspConfig {
        node_id: lsp.node_id().to_string(),
        address: lsp.p2p_address().to_string(),
        token: None,
        api_url: Some(lsp.http_url()),
    }
}

/// A phone's configuration on `devnet` behind `lsp`, storing in `storage_dir`, background
/// sync off (tests sync when they need to).
pub fn wallet_config(devnet: &Devnet, lsp: &Lsp, storage_dir: &Path) -> WalletConfig {
    WalletConfig {
        lsp: Some(lsp_config(lsp)),
        ..config_without_lsp(&devnet.esplora_url(), storage_dir)
    }
}

/// A regtest wallet's configuration without an LSP or a backup, reading the chain at
/// `esplora_url` (which need not answer if the wallet never starts), storing in
/// `storage_dir`, background sync off.
pub fn config_without_lsp(esplora_url: &str, storage_dir: &Path) -> WalletConfig {
    WalletConfig {
        network: Network::Regtest,
        storage_dir: storage_dir.to_string_lossy().into_owned(),
        chain_source: ChainSource::Esplora { url: esplora_url.to_string() },
        lsp: None,
        max_jit_fee_msat: None,
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
        backup: None,
        name_resolution: None,
    }
}

/// Records a wallet's events as the app's listener receives them, and lets a test (or a demo
/// step) wait for one.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<WalletEvent>>,
    changed: Condvar,
}

impl EventListener for Recorder {
    fn on_event(&self, event: WalletEvent) {
        self.lock().push(event);
        self.changed.notify_all();
    }
}

impl Recorder {
    /// An empty recorder, to give to `Wallet::set_event_listener`.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<WalletEvent> {
        self.lock().clone()
    }

    /// The ids of the `PaymentReceived` events recorded so far.
    pub fn received_ids(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }))
            .map(|e| e.id.clone())
            .collect()
    }

    /// Waits for an event matching `wanted`; panics after `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&WalletEvent) -> bool,
    ) -> WalletEvent {
        self.try_wait_for("an event", timeout, wanted).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The first recorded event that `wanted` picks, waiting up to `timeout` for it; on
    /// timeout, an error naming `what` and the events recorded.
    pub fn try_wait_for(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&WalletEvent) -> bool,
    ) -> Result<WalletEvent, String> {
        let deadline = Instant::now() + timeout;
        let mut events = self.lock();
        loop {
            if let Some(event) = events.iter().find(|e| wanted(e)) {
                return Ok(event.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; recorded: {:?}",
                    *events
                ));
            }
            events = self.changed.wait_timeout(events, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WalletEvent>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Builds and starts a wallet from `config` (recovery phrase [`MNEMONIC`]) with a recorder.
pub fn start_wallet(config: WalletConfig, rt: &tokio::runtime::Runtime) -> (Wallet, Arc<Recorder>) {
    let wallet =
        Wallet::new(config, MNEMONIC, None).unwrap_or_else(|e| panic!("the wallet builds: {e}"));
    let recorder = Recorder::new();
    wallet.set_event_listener(recorder.clone());
    rt.block_on(wallet.start()).unwrap_or_else(|e| panic!("the wallet starts: {e}"));
    (wallet, recorder)
}

/// Builds and starts a phone wallet of `scene` storing in `dir`, with a recorder.
pub fn start_phone(
    scene: &Scene,
    dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> (Wallet, Arc<Recorder>) {
    start_wallet(scene.phone_config(dir), rt)
}

/// Waits for the outcome of the send `payment_id` and asserts it succeeded.
pub fn assert_paid(recorder: &Recorder, payment_id: &str) {
    let event = recorder.wait_for(DEFAULT_WAIT, |e| match &e.kind {
        WalletEventKind::PaymentSent { payment_id: id, .. }
        | WalletEventKind::PaymentFailed { payment_id: id, .. } => id == payment_id,
        _ => false,
    });
    assert!(matches!(event.kind, WalletEventKind::PaymentSent { .. }), "{event:?}");
}

/// A phone of `scene` in `dir` that received `amount_msat` from the merchant through a JIT
/// channel and then stopped.
pub fn phone_with_channel(
    scene: &Scene,
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    amount_msat: u64,
) {
    let (phone, recorder) = start_phone(scene, dir, rt);
    let invoice = rt
        .block_on(phone.receive_bolt11(Some(amount_msat), "setup".into(), 3600))
        .unwrap_or_else(|e| panic!("the phone's invoice: {e}"));
    assert!(scene.merchant_pays(&invoice.bolt11), "the merchant pays the phone");
    recorder.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone
            .balances()
            .map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
            .unwrap_or(false)
    });
    rt.block_on(phone.stop()).unwrap_or_else(|e| panic!("the phone stops: {e}"));
}

/// The most `phone` can send over one channel, as its LSP `lsp` sees it (what the phone's
/// side holds beyond its reserve is the LSP's inbound capacity).
pub fn largest_channel_msat(lsp: &Lsp, phone: &Wallet) -> u64 {
    let phone_id: PublicKey = phone
        .node_id()
        .unwrap_or_else(|e| panic!("the phone's node id: {e}"))
        .parse()
        .unwrap_or_else(|e| panic!("the phone's node id is a key: {e}"));
    lsp.node()
        .list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == phone_id && c.is_usable)
        .map(|c| c.inbound_capacity_msat)
        .max()
        .unwrap_or(0)
}

/// Empties the address book the app keeps for wakes (as if the payer's LSP were unknown).
pub fn forget_addresses(config: &WalletConfig) {
    let path = Path::new(&config.storage_dir).join("doze.sqlite");
    let db = rusqlite::Connection::open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    db.execute("DELETE FROM node_addresses", [])
        .unwrap_or_else(|e| panic!("cannot empty the address book: {e}"));
}
