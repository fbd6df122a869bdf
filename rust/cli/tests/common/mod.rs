//! The offline phone of the wake tests: a Doze wallet behind LSP-A of the async scene that
//! registered for pushes, got an offer and went away; and `doze wake` processes launched with
//! a push, as a notification extension would be.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use doze_core::{ChainSource, LspConfig, Network, PushTarget, Wallet, WalletConfig};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::testing::{AsyncScene, ReceivedPush, WebhookReceiver};

pub const MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The phone's configuration: LSP-A with its HTTP API, no background sync.
pub fn phone_config(
    devnet: &Devnet,
    scene: &AsyncScene,
    storage_dir: &std::path::Path,
) -> WalletConfig {
    WalletConfig {
        network: Network::Regtest,
        storage_dir: storage_dir.to_string_lossy().into_owned(),
        chain_source: ChainSource::Esplora { url: devnet.esplora_url() },
        lsp: Some(LspConfig {
            node_id: scene.lsp_a.node_id().to_string(),
            address: scene.lsp_a.p2p_address().to_string(),
            token: None,
            api_url: Some(scene.lsp_a.http_url()),
        }),
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
    }
}

/// Starts the app, gets a channel from LSP-A and the gossip to reach the sender's LSP, and
/// returns the running app for what the test wants done online.
pub fn start_app(
    devnet: &Devnet,
    scene: &AsyncScene,
    config: &WalletConfig,
    rt: &tokio::runtime::Runtime,
) -> Wallet {
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
    rt.block_on(app.start()).unwrap();
    let phone_id = app.node_id().unwrap().parse().unwrap();
    scene.open_channel_to_phone(devnet, phone_id, None, 200_000, &[]);
    wait_until(
        "the phone's channel is usable and it knows both LSPs",
        Duration::from_secs(120),
        || {
            rt.block_on(app.sync()).is_ok()
                && app.balances().unwrap().lightning_inbound_sat > 0
                && app.knows_node(&scene.lsp_b.node_id().to_string()).unwrap()
                && app.knows_node(&scene.lsp_a.node_id().to_string()).unwrap()
        },
    );
    app
}

/// Registers the app for pushes to `webhook`, gets its offer, and stops it: the app's process
/// is gone. Returns the offer once LSP-A sees the phone offline.
pub fn go_offline_with_offer(
    scene: &AsyncScene,
    app: Wallet,
    webhook: &WebhookReceiver,
    rt: &tokio::runtime::Runtime,
) -> String {
    let registration = rt
        .block_on(
            app.register_for_push("doze-test".into(), PushTarget::Webhook { url: webhook.url() }),
        )
        .unwrap();
    assert_eq!(registration.lsp_node_id, scene.lsp_a.node_id().to_string());
    let offer = rt.block_on(app.receive_offer(Duration::from_secs(120))).unwrap();
    assert_eq!(app.cached_offer().unwrap().as_deref(), Some(offer.as_str()));
    let phone_id = app.node_id().unwrap().parse().unwrap();
    rt.block_on(app.stop()).unwrap();
    drop(app);
    AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
    offer
}

/// Launches `doze wake` for `config` with `push` on its stdin; `env` adds variables (e.g.
/// `DOZE_LOG`). Stdout (the outcome JSON) is piped; stderr as `stderr` says.
pub fn launch_wake(
    devnet: &Devnet,
    scene: &AsyncScene,
    config: &WalletConfig,
    push: &ReceivedPush,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Child {
    let lsp = &scene.lsp_a;
    let mut wake = Command::new(env!("CARGO_BIN_EXE_doze"));
    wake.arg("wake")
        .args(["--storage", &config.storage_dir, "--esplora", &devnet.esplora_url()])
        .args([
            "--lsp-id",
            &lsp.node_id().to_string(),
            "--lsp-address",
            &lsp.p2p_address().to_string(),
        ])
        .args(["--deadline-ms", "25000"])
        .env("DOZE_MNEMONIC", MNEMONIC)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (name, value) in &push.headers {
        if name.starts_with("x-lsps5") {
            wake.args(["--header", &format!("{name}:{value}")]);
        }
    }
    let mut child = wake.spawn().unwrap();
    child.stdin.take().unwrap().write_all(push.body.as_bytes()).unwrap();
    child
}

/// A phone behind LSP-A of an async scene that pushes once per interception (for tests that
/// pay many times): the devnet, the scene, the phone's storage and configuration. Fields drop
/// in order: the scene before its devnet.
pub struct PhoneScene {
    pub rt: tokio::runtime::Runtime,
    pub config: WalletConfig,
    pub dir: tempfile::TempDir,
    pub scene: AsyncScene,
    pub devnet: Devnet,
}

impl PhoneScene {
    /// Starts the scene with `observers` on LSP-A, and the app with its channel from LSP-A.
    pub fn start(observers: doze_lsp::Observers) -> (PhoneScene, Wallet) {
        let devnet = Devnet::start().unwrap();
        let scene = AsyncScene::start(&devnet, observers, |c| c.push.min_interval_secs = 0);
        let dir = tempfile::tempdir().unwrap();
        let config = phone_config(&devnet, &scene, dir.path());
        let rt = runtime();
        let app = start_app(&devnet, &scene, &config, &rt);
        (PhoneScene { rt, config, dir, scene, devnet }, app)
    }

    /// The sender pays `amount_msat` to `offer`; returns the payment and the push it caused,
    /// once the sender's LSP holds the HTLC (`held`: how many it held before, counted up).
    pub fn pay_offer(
        &self,
        webhook: &WebhookReceiver,
        offer: &ldk_node::lightning::offers::offer::Offer,
        amount_msat: u64,
        held: &mut u64,
    ) -> (ldk_node::lightning::ln::channelmanager::PaymentId, ReceivedPush) {
        let pushes = webhook.received().len();
        let id = self
            .scene
            .sender
            .bolt12_payment()
            .send_using_amount(offer, amount_msat, None, None, None)
            .unwrap();
        let push = webhook.wait_for(pushes + 1, Duration::from_secs(60)).pop().unwrap();
        *held += 1;
        self.scene.wait_for_held_htlcs_at_lsp_b(*held, DEFAULT_WAIT);
        (id, push)
    }

    /// Launches `doze wake` with `push` (log at `level`) and returns its outcome and log.
    pub fn wake(&self, push: &ReceivedPush, level: &str) -> (serde_json::Value, String) {
        outcome_and_log(launch_wake(
            &self.devnet,
            &self.scene,
            &self.config,
            push,
            &[("DOZE_LOG", level)],
            Stdio::piped(),
        ))
    }
}

/// Waits for a launched wake (stderr piped) and returns its outcome JSON and its log.
pub fn outcome_and_log(child: Child) -> (serde_json::Value, String) {
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "doze wake failed: {:?}\n{log}", output.status);
    (serde_json::from_slice(&output.stdout).unwrap(), log)
}

/// Collects the events an app's listener is given.
#[derive(Default)]
pub struct Collected(pub std::sync::Mutex<Vec<doze_core::WalletEvent>>);

impl doze_core::EventListener for Collected {
    fn on_event(&self, event: doze_core::WalletEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Collected {
    /// The ids of the `PaymentReceived` events given so far.
    pub fn received_ids(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e.kind, doze_core::WalletEventKind::PaymentReceived { .. }))
            .map(|e| e.id.clone())
            .collect()
    }
}

/// Empties the address book the app keeps for wakes (as if the payer's LSP were unknown).
pub fn forget_addresses(config: &WalletConfig) {
    let db =
        rusqlite::Connection::open(std::path::Path::new(&config.storage_dir).join("doze.sqlite"))
            .unwrap();
    db.execute("DELETE FROM node_addresses", []).unwrap();
}

/// Waits for a launched wake and returns its outcome JSON.
pub fn outcome_of(child: Child) -> serde_json::Value {
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "doze wake failed: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}
