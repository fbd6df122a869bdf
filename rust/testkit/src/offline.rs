//! The offline phone of the wake tests: a Doze wallet behind LSP-A of the [`AsyncScene`] that
//! registered for pushes, got an offer and went away; and `doze wake` processes launched with
//! a push, as a notification extension would be.
//!
//! The `doze` binary belongs to doze-cli, so its path comes from the caller
//! (`env!("CARGO_BIN_EXE_doze")` in doze-cli's tests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use doze_core::{BackupConfig, ChainSource, PushTarget, Wallet, WalletConfig};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Observers;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::offers::offer::Offer;

use crate::async_scene::AsyncScene;
use crate::webhook::{ReceivedPush, WebhookReceiver};
use crate::{runtime, MNEMONIC};

/// The time budget the wakes are given (an iOS notification extension has 30 s).
pub const WAKE_DEADLINE: Duration = Duration::from_secs(25);

/// The command-line arguments of `doze wake` (and of the `doze-wake` binary) for the wallet
/// of `config` handling `push` within `deadline`: storage, chain, LSP, backup server (if the
/// wallet has one) and the push's LSPS5 headers. The push's body goes on the process's
/// standard input.
pub fn wake_args(config: &WalletConfig, deadline: Duration, push: &ReceivedPush) -> Vec<String> {
    let esplora = match &config.chain_source {
        ChainSource::Esplora { url } => url.clone(),
        other => panic!("a wake is launched with an Esplora chain source, not {other:?}"),
    };
    let lsp = config.lsp.as_ref().unwrap_or_else(|| panic!("a wake needs the wallet's LSP"));
    let mut args = vec![
        "--storage".to_string(),
        config.storage_dir.clone(),
        "--esplora".into(),
        esplora,
        "--lsp-id".into(),
        lsp.node_id.clone(),
        "--lsp-address".into(),
        lsp.address.clone(),
        "--deadline-ms".into(),
        deadline.as_millis().to_string(),
    ];
    if let Some(backup) = &config.backup {
        args.extend(["--backup-url".to_string(), backup.url.clone()]);
    }
    for (name, value) in push.lsps5_headers() {
        args.extend(["--header".to_string(), format!("{name}:{value}")]);
    }
    args
}

/// Launches `<doze> wake` for `config` (recovery phrase [`MNEMONIC`]) with `push` on its
/// stdin; `env` adds variables (e.g. `DOZE_LOG`). Stdout (the outcome JSON) is piped; stderr
/// as `stderr` says.
pub fn launch_wake(
    doze: &Path,
    config: &WalletConfig,
    push: &ReceivedPush,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Child {
    let mut child = Command::new(doze)
        .arg("wake")
        .args(wake_args(config, WAKE_DEADLINE, push))
        .env("DOZE_MNEMONIC", MNEMONIC)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot launch {} wake: {e}", doze.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(push.body.as_bytes())
            .unwrap_or_else(|e| panic!("cannot hand the push to the wake: {e}"));
    }
    child
}

/// Waits for a launched wake (stderr piped) and returns its outcome JSON and its log.
pub fn outcome_and_log(child: Child) -> (serde_json::Value, String) {
    let output =
        child.wait_with_output().unwrap_or_else(|e| panic!("the wake did not finish: {e}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "doze wake failed: {:?}\n{log}", output.status);
    let outcome = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("no outcome JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    });
    (outcome, log)
}

/// Waits for a launched wake and returns its outcome JSON.
pub fn outcome_of(child: Child) -> serde_json::Value {
    outcome_and_log(child).0
}

/// Starts the app (recovery phrase [`MNEMONIC`]), gets a channel from LSP-A and the gossip to
/// reach the sender's LSP, and returns the running app for what the test wants done online.
pub fn start_app(
    devnet: &Devnet,
    scene: &AsyncScene,
    config: &WalletConfig,
    rt: &tokio::runtime::Runtime,
) -> Wallet {
    let app = Wallet::new(config.clone(), MNEMONIC, None)
        .unwrap_or_else(|e| panic!("the app's wallet builds: {e}"));
    rt.block_on(app.start()).unwrap_or_else(|e| panic!("the app's wallet starts: {e}"));
    let phone_id = node_id(&app);
    scene.open_channel_to_phone(devnet, phone_id, None, 200_000, &[]);
    let (lsp_a, lsp_b) = (scene.lsp_a.node_id().to_string(), scene.lsp_b.node_id().to_string());
    wait_until(
        "the phone's channel is usable and it knows both LSPs",
        Duration::from_secs(120),
        || {
            rt.block_on(app.sync()).is_ok()
                && app.balances().is_ok_and(|b| b.lightning_inbound_sat > 0)
                && app.knows_node(&lsp_b).unwrap_or(false)
                && app.knows_node(&lsp_a).unwrap_or(false)
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
        .unwrap_or_else(|e| panic!("the app registers for pushes: {e}"));
    assert_eq!(registration.lsp_node_id, scene.lsp_a.node_id().to_string());
    let offer = rt
        .block_on(app.receive_offer(Duration::from_secs(120)))
        .unwrap_or_else(|e| panic!("the app's offer: {e}"));
    let cached = app.cached_offer().unwrap_or_else(|e| panic!("the cached offer: {e}"));
    assert_eq!(cached.as_deref(), Some(offer.as_str()));
    let phone_id = node_id(&app);
    rt.block_on(app.stop()).unwrap_or_else(|e| panic!("the app stops: {e}"));
    drop(app);
    AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
    offer
}

fn node_id(app: &Wallet) -> ldk_node::bitcoin::secp256k1::PublicKey {
    app.node_id()
        .unwrap_or_else(|e| panic!("the app's node id: {e}"))
        .parse()
        .unwrap_or_else(|e| panic!("the app's node id is a key: {e}"))
}

/// A phone behind LSP-A of an async scene that pushes once per interception (for tests that
/// pay many times): the devnet, the scene, the phone's storage and configuration, and the
/// `doze` binary that wakes it. Fields drop in order: the scene before its devnet.
pub struct PhoneScene {
    /// The `doze` binary (`doze wake` is the notification extension's stand-in).
    pub doze: PathBuf,
    /// Drives the app's async API.
    pub rt: tokio::runtime::Runtime,
    /// The app's (and the wakes') configuration.
    pub config: WalletConfig,
    /// The app's storage.
    pub dir: tempfile::TempDir,
    /// The async-payment topology.
    pub scene: AsyncScene,
    /// The chain.
    pub devnet: Devnet,
}

impl PhoneScene {
    /// Starts the scene with `observers` on LSP-A, and the app with its channel from LSP-A;
    /// `doze` is the binary [`PhoneScene::wake`] launches.
    pub fn start(doze: &Path, observers: Observers) -> (PhoneScene, Wallet) {
        PhoneScene::start_with_backup(doze, observers, None)
    }

    /// [`PhoneScene::start`], the wallet's node store backed up to `backup` if given (the app
    /// and every wake write through it).
    pub fn start_with_backup(
        doze: &Path,
        observers: Observers,
        backup: Option<BackupConfig>,
    ) -> (PhoneScene, Wallet) {
        let devnet = Devnet::start().unwrap_or_else(|e| panic!("the devnet starts: {e}"));
        let scene = AsyncScene::start(&devnet, observers, |c| c.push.min_interval_secs = 0);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let config = WalletConfig { backup, ..scene.phone_config(&devnet, dir.path()) };
        let rt = runtime();
        let app = start_app(&devnet, &scene, &config, &rt);
        (PhoneScene { doze: doze.to_path_buf(), rt, config, dir, scene, devnet }, app)
    }

    /// [`PhoneScene::start`], then the app registers for pushes to a new webhook receiver,
    /// gets its offer and goes away: the offline phone most wake tests start from.
    pub fn start_offline(
        doze: &Path,
        observers: Observers,
    ) -> (PhoneScene, WebhookReceiver, Offer) {
        PhoneScene::start_offline_with_backup(doze, observers, None)
    }

    /// [`PhoneScene::start_offline`], backed up as [`PhoneScene::start_with_backup`] says.
    pub fn start_offline_with_backup(
        doze: &Path,
        observers: Observers,
        backup: Option<BackupConfig>,
    ) -> (PhoneScene, WebhookReceiver, Offer) {
        let (phone, app) = PhoneScene::start_with_backup(doze, observers, backup);
        let webhook = WebhookReceiver::start();
        let offer = go_offline_with_offer(&phone.scene, app, &webhook, &phone.rt)
            .parse()
            .unwrap_or_else(|e| panic!("the phone's offer: {e:?}"));
        (phone, webhook, offer)
    }

    /// The sender pays `amount_msat` to `offer`; returns the payment and the push it caused,
    /// once the sender's LSP holds the HTLC (`held`: how many it held before, counted up).
    pub fn pay_offer(
        &self,
        webhook: &WebhookReceiver,
        offer: &Offer,
        amount_msat: u64,
        held: &mut u64,
    ) -> (PaymentId, ReceivedPush) {
        let pushes = webhook.received().len();
        let id = self
            .scene
            .sender
            .bolt12_payment()
            .send_using_amount(offer, amount_msat, None, None, None)
            .unwrap_or_else(|e| panic!("the sender pays the offer: {e}"));
        let push = webhook
            .wait_for(pushes + 1, Duration::from_secs(60))
            .pop()
            .unwrap_or_else(|| panic!("no push"));
        *held += 1;
        self.scene.wait_for_held_htlcs_at_lsp_b(*held, DEFAULT_WAIT);
        (id, push)
    }

    /// Launches `doze wake` with `push` (stderr piped), `env` added.
    pub fn launch(&self, push: &ReceivedPush, env: &[(&str, &str)], stderr: Stdio) -> Child {
        launch_wake(&self.doze, &self.config, push, env, stderr)
    }

    /// Launches `doze wake` with `push` (log at `level`) and returns its outcome and log.
    pub fn wake(&self, push: &ReceivedPush, level: &str) -> (serde_json::Value, String) {
        outcome_and_log(self.launch(push, &[("DOZE_LOG", level)], Stdio::piped()))
    }
}
