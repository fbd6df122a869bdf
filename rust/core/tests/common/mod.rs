//! The scene for wallet tests: a devnet, a Doze LSP with on-chain funds, and a merchant (stock
//! ldk-node) with a channel to the LSP; phones are `doze_core::Wallet`s pointed at them.
#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_core::{
    ChainSource, EventListener, LspConfig, Network, Wallet, WalletConfig, WalletEvent,
};
use doze_devnet::nodes::{expect_event, wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Lsp;
use ldk_node::bitcoin::Amount;
use ldk_node::Event;
use tempfile::TempDir;

/// A fixed test phrase (never used for real funds).
pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

pub struct Scene {
    pub devnet: Devnet,
    pub lsp: Lsp,
    pub merchant: TestNode,
    _lsp_dir: TempDir,
}

impl Scene {
    /// Devnet, funded LSP, funded merchant with a 1 000 000 sat announced channel to the LSP,
    /// half of it on each side.
    pub fn new() -> Scene {
        let devnet = Devnet::start().expect("devnet");
        let lsp_dir = tempfile::tempdir().expect("temp dir");
        let lsp = Lsp::start(doze_lsp::devnet_config(&devnet.esplora_url(), lsp_dir.path()))
            .expect("LSP");
        let address = lsp.new_onchain_address().expect("LSP address");
        devnet.fund_confirmed(&address, Amount::from_sat(5_000_000)).expect("fund LSP");
        wait_until("the LSP sees its funds", DEFAULT_WAIT, || {
            lsp.sync().is_ok() && lsp.node().list_balances().spendable_onchain_balance_sats > 0
        });

        let merchant = devnet.start_node("merchant");
        devnet.fund_node(&merchant, Amount::from_sat(2_000_000));
        // Announced, so that the LSP is a public node (BOLT 12 blinded paths start there), and
        // half pushed to the LSP, so that the merchant can also be paid.
        merchant
            .open_announced_channel(
                lsp.node_id(),
                lsp.p2p_address(),
                1_000_000,
                Some(500_000_000),
                None,
            )
            .expect("merchant opens a channel to the LSP");
        expect_event(&merchant, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
        assert!(devnet.wait_for_mempool_len(1, DEFAULT_WAIT));
        devnet.mine(6);
        wait_until("the merchant's channel to the LSP is usable", DEFAULT_WAIT, || {
            merchant.sync_wallets().is_ok()
                && lsp.sync().is_ok()
                && merchant.list_channels().iter().any(|c| c.is_usable)
        });
        Scene { devnet, lsp, merchant, _lsp_dir: lsp_dir }
    }

    pub fn lsp_config(&self) -> LspConfig {
        LspConfig {
            node_id: self.lsp.node_id().to_string(),
            address: self.lsp.p2p_address().to_string(),
            token: None,
            api_url: Some(self.lsp.http_url()),
        }
    }

    pub fn phone_config(&self, storage_dir: &std::path::Path) -> WalletConfig {
        WalletConfig {
            network: Network::Regtest,
            storage_dir: storage_dir.to_string_lossy().into_owned(),
            chain_source: ChainSource::Esplora { url: self.devnet.esplora_url() },
            lsp: Some(self.lsp_config()),
            rgs_url: None,
            background_sync: false,
            additional_lsps: Vec::new(),
        }
    }

    /// The merchant pays `bolt11` and waits for the outcome; returns whether it succeeded.
    pub fn merchant_pays(&self, bolt11: &str) -> bool {
        let invoice: ldk_node::lightning_invoice::Bolt11Invoice = bolt11.parse().expect("invoice");
        self.merchant.bolt11_payment().send(&invoice, None).expect("merchant sends");
        let outcome = expect_event(&self.merchant, DEFAULT_WAIT, |e| {
            matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
        });
        matches!(outcome, Event::PaymentSuccessful { .. })
    }

    /// A merchant invoice for `amount_msat`.
    pub fn merchant_invoice(&self, amount_msat: u64) -> String {
        let description = ldk_node::lightning_invoice::Bolt11InvoiceDescription::Direct(
            ldk_node::lightning_invoice::Description::new("coffee".into()).expect("description"),
        );
        self.merchant
            .bolt11_payment()
            .receive(amount_msat, &description, 3600)
            .expect("invoice")
            .to_string()
    }
}

/// Records events and lets a test wait for one.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<WalletEvent>>,
    changed: Condvar,
}

impl EventListener for Recorder {
    fn on_event(&self, event: WalletEvent) {
        self.events.lock().unwrap().push(event);
        self.changed.notify_all();
    }
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn events(&self) -> Vec<WalletEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits for an event matching `what`; panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, what: impl Fn(&WalletEvent) -> bool) -> WalletEvent {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap();
        loop {
            if let Some(e) = events.iter().find(|e| what(e)) {
                return e.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for an event; got {:?}", *events);
            events = self.changed.wait_timeout(events, left).unwrap().0;
        }
    }
}

/// A runtime for driving the async wallet API from a plain test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Builds and starts a phone wallet with a recorder.
pub fn start_phone(
    scene: &Scene,
    dir: &std::path::Path,
    rt: &tokio::runtime::Runtime,
) -> (Wallet, Arc<Recorder>) {
    start_wallet(scene.phone_config(dir), rt)
}

/// Builds and starts a wallet from `config` with a recorder.
pub fn start_wallet(config: WalletConfig, rt: &tokio::runtime::Runtime) -> (Wallet, Arc<Recorder>) {
    let wallet = Wallet::new(config, MNEMONIC, None).expect("wallet");
    let recorder = Recorder::new();
    wallet.set_event_listener(recorder.clone());
    rt.block_on(wallet.start()).expect("start");
    (wallet, recorder)
}

/// Waits for the outcome of the send `payment_id` and asserts it succeeded.
pub fn assert_paid(recorder: &Recorder, payment_id: &str) {
    let event = recorder.wait_for(DEFAULT_WAIT, |e| match &e.kind {
        doze_core::WalletEventKind::PaymentSent { payment_id: id, .. }
        | doze_core::WalletEventKind::PaymentFailed { payment_id: id, .. } => id == payment_id,
        _ => false,
    });
    assert!(matches!(event.kind, doze_core::WalletEventKind::PaymentSent { .. }), "{event:?}");
}

/// A push notification signed by the scene's LSP the LSPS5 way, as its dispatcher sends it.
pub fn lsp_push(scene: &Scene) -> (Vec<u8>, std::collections::HashMap<String, String>) {
    use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
    use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
    let body = serde_json::to_string(&WebhookNotification::onion_message_incoming()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let timestamp = LSPSDateTime::new_from_duration_since_epoch(now).to_rfc3339();
    let message =
        format!("LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}");
    let signature = scene.lsp.node().sign_message(message.as_bytes());
    let headers = std::collections::HashMap::from([
        ("x-lsps5-timestamp".to_string(), timestamp),
        ("x-lsps5-signature".to_string(), signature),
    ]);
    (body.into_bytes(), headers)
}

/// A phone that received `amount_msat` through a JIT channel and then stopped.
pub fn phone_with_channel(
    scene: &Scene,
    dir: &std::path::Path,
    rt: &tokio::runtime::Runtime,
    amount_msat: u64,
) {
    let (phone, recorder) = start_phone(scene, dir, rt);
    let invoice = rt
        .block_on(phone.receive_bolt11(Some(amount_msat), "setup".into(), 3600))
        .expect("invoice");
    assert!(scene.merchant_pays(&invoice.bolt11));
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(e.kind, doze_core::WalletEventKind::PaymentReceived { .. })
    });
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone
            .balances()
            .map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
            .unwrap_or(false)
    });
    rt.block_on(phone.stop()).expect("stop");
}

impl Scene {
    /// A merchant BOLT 12 offer (any amount when `None`).
    pub fn merchant_offer(&self, amount_msat: Option<u64>) -> String {
        let payment = self.merchant.bolt12_payment();
        match amount_msat {
            Some(amount) => payment.receive(amount, "coffee", None, None),
            None => payment.receive_variable_amount("coffee", None),
        }
        .expect("offer")
        .to_string()
    }

    /// A merchant BOLT11 invoice without an amount.
    pub fn merchant_open_invoice(&self) -> String {
        let description = ldk_node::lightning_invoice::Bolt11InvoiceDescription::Direct(
            ldk_node::lightning_invoice::Description::new("anything".into()).expect("description"),
        );
        self.merchant
            .bolt11_payment()
            .receive_variable_amount(&description, 3600)
            .expect("invoice")
            .to_string()
    }
}

impl Scene {
    /// A stock ldk-node shop behind the LSP on an unannounced channel the LSP opened, the way a
    /// small merchant or another phone sits: its BOLT 12 offers introduce at the LSP, which the
    /// phone reaches directly (an announced merchant's offers introduce at the merchant itself,
    /// which a phone only reaches once that merchant's node announcement has gossiped to it).
    pub fn start_shop(&self) -> TestNode {
        let shop = self.devnet.start_node("shop");
        // ldk-node keeps an on-chain reserve for each anchor channel it accepts.
        self.devnet.fund_node(&shop, doze_devnet::nodes::ANCHOR_RESERVE * 2);
        self.lsp.sync().expect("LSP sync");
        doze_lsp::testing::open_channel_from_lsp(
            &self.devnet,
            &self.lsp,
            shop.node_id(),
            Some(shop.address.clone()),
            // LDK accepts at most 10 % of an inbound channel in flight: room for 100 000 sat.
            1_000_000,
            &[&shop.node],
        );
        wait_until("the shop's channel is usable", DEFAULT_WAIT, || {
            shop.sync_wallets().is_ok() && shop.list_channels().iter().any(|c| c.is_usable)
        });
        shop
    }
}

/// The most `phone` can send over one channel, as its LSP `lsp` sees it (what the phone's
/// side holds beyond its reserve is the LSP's inbound capacity).
pub fn largest_channel_msat(lsp: &Lsp, phone: &Wallet) -> u64 {
    let phone_id: ldk_node::bitcoin::secp256k1::PublicKey =
        phone.node_id().unwrap().parse().unwrap();
    lsp.node()
        .list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == phone_id && c.is_usable)
        .map(|c| c.inbound_capacity_msat)
        .max()
        .unwrap_or(0)
}
