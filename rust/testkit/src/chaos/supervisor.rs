//! The chaos run's supervisor: builds the world (devnet, the async-payment scene, the phone's
//! channel and offer), then starts the app process, lets it work for a random while, kills it
//! (or stops it, and sometimes kills it while it stops), and while it is down pays its offer
//! and lets the push launch a wake that it may kill too; it pays the invoices the app asks
//! for and funds its addresses, and checks the invariants after every start and at the end.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doze_devnet::nodes::DEFAULT_WAIT;
use doze_devnet::Devnet;
use doze_lsp::{Lsp, Observers};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::{Address, Amount, Txid};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::payment::PaymentStatus as NodeStatus;
use serde_json::Value;

use super::app::AppArgs;
use super::checks::{self, payments, Checked};
use super::journal::{of_kind, JournalReader};
use super::lsp_process::LspProcess;
use super::{workspace_binary, ChaosRng};
use crate::kills::poll_state;
use crate::offline::{go_offline_with_offer, launch_wake, start_app};
use crate::{runtime, AsyncScene, WebhookReceiver};

/// Blocks mined at a time at the end to bring HTLCs nobody will release to their expiry, and
/// the most in all (an HTLC's expiry is a few hundred blocks away).
const EXPIRY_STEP_BLOCKS: u32 = 100;
const MAX_EXPIRY_BLOCKS: u32 = 2_000;

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The seed of every choice.
    pub seed: u64,
    /// The run ends once the app and its wakes were killed this many times in all (during
    /// work, during a stop, during a wake)...
    pub kills: usize,
    /// ...and the phone's LSP this many times.
    pub lsp_kills: usize,
    /// The app works up to this long before it is killed (uniformly chosen).
    pub max_work: Duration,
    /// How often (percent) the app is asked to stop cleanly rather than killed; half of those
    /// stops are killed midway.
    pub stop_percent: u64,
    /// How often (percent) the payer pays the phone while its app is down (a push wakes it).
    pub offline_pay_percent: u64,
    /// How often (percent) such a wake is killed, at a uniform instant in its first 600 ms.
    pub wake_kill_percent: u64,
    /// How often (percent) the phone's LSP is killed (SIGKILL, at a uniform instant while the
    /// app works) and started again; above 0 it runs as a process of its own.
    pub lsp_kill_percent: u64,
    /// Where the journal and the processes' logs go (kept after the run).
    pub work_dir: PathBuf,
}

impl ChaosConfig {
    /// The short run CI makes: at least 20 kills of the app or its wakes.
    pub fn short(seed: u64, work_dir: PathBuf) -> ChaosConfig {
        ChaosConfig {
            seed,
            kills: 20,
            lsp_kills: 1,
            max_work: Duration::from_secs(3),
            stop_percent: 15,
            offline_pay_percent: 70,
            wake_kill_percent: 60,
            lsp_kill_percent: 15,
            work_dir,
        }
    }

    /// The long run of the benchmark: at least 200 kills of the app and its wakes and 20 of
    /// the LSP.
    pub fn long(seed: u64, work_dir: PathBuf) -> ChaosConfig {
        ChaosConfig {
            kills: 200,
            lsp_kills: 20,
            lsp_kill_percent: 20,
            ..ChaosConfig::short(seed, work_dir)
        }
    }
}

/// Payments made by one side, by how they ended.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Outcomes {
    /// Payments made.
    pub made: usize,
    /// Ended in success.
    pub succeeded: usize,
    /// Failed (nothing moved).
    pub failed: usize,
}

/// What a run did and checked.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// App processes started.
    pub app_starts: usize,
    /// App processes killed while working.
    pub app_kills: usize,
    /// App processes killed while stopping.
    pub app_kills_in_stop: usize,
    /// App processes that stopped cleanly.
    pub app_stops: usize,
    /// Wake processes launched.
    pub wakes: usize,
    /// Wake processes killed.
    pub wake_kills: usize,
    /// Kills of the phone's LSP (each followed by a start on the same storage).
    pub lsp_kills: usize,
    /// The payer's payments to the phone (its offer while online or asleep, its invoices).
    pub to_phone: Outcomes,
    /// The phone's payments (offer payments, send max, on-chain sends), by the phone's history.
    pub from_phone: Outcomes,
    /// Invoices the app asked to be paid through a new (JIT) channel.
    pub jit_invoices: usize,
    /// On-chain addresses of the app funded.
    pub addresses_funded: usize,
    /// Payments to the phone that stayed held at the payer's LSP until their HTLC neared its
    /// expiry (their announcement taken by a wake killed before it answered).
    pub held_until_expiry: usize,
    /// JIT channel opens cut short before funding by a kill (no money moved).
    pub aborted_channel_opens: usize,
    /// Invariant checks made (each a comparison that held).
    pub checks: usize,
    /// Events the listener heard more than once (delivery cut short by a kill, then redone).
    pub repeated_events: usize,
    /// Channels force-closed (a run with one fails).
    pub force_closes: usize,
    /// How long the run took.
    pub elapsed: Duration,
}

impl ChaosReport {
    /// Kills of the app and its wakes.
    pub fn kills(&self) -> usize {
        self.app_kills + self.app_kills_in_stop + self.wake_kills
    }
}

/// A child process that is killed when dropped: a failed run (a panic) leaves none behind.
struct Process(Child);

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The world a run happens in. Fields drop in order: the scene before its devnet.
struct World {
    _rt: tokio::runtime::Runtime,
    webhook: WebhookReceiver,
    offer: Offer,
    phone_id: PublicKey,
    args: AppArgs,
    /// LSP-A as a process (when the run kills it), and again in this process for the end.
    lsp_process: Option<LspProcess>,
    lsp_at_end: Option<Lsp>,
    _phone_dir: tempfile::TempDir,
    scene: AsyncScene,
    devnet: Devnet,
}

/// One run's progress.
struct Run {
    world: World,
    config: ChaosConfig,
    rng: ChaosRng,
    report: ChaosReport,
    /// The payer's payments to the phone.
    to_phone: Vec<PaymentId>,
    paid_invoices: HashSet<String>,
    funded: HashSet<String>,
    journal: Mutex<JournalReader>,
    /// How many journal entries `serve` has looked at.
    served: usize,
}

/// Runs a chaos run; panics, naming the seed and the work directory, if an invariant fails.
pub fn run(config: ChaosConfig) -> ChaosReport {
    let started = Instant::now();
    std::fs::create_dir_all(&config.work_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", config.work_dir.display()));
    let world = World::build(&config);
    let world_journal = world.args.journal.clone();
    let mut run = Run {
        world,
        rng: ChaosRng::new(config.seed),
        report: ChaosReport { seed: config.seed, ..ChaosReport::default() },
        config,
        to_phone: Vec::new(),
        paid_invoices: HashSet::new(),
        funded: HashSet::new(),
        journal: Mutex::new(JournalReader::new(&world_journal)),
        served: 0,
    };
    let mut incarnation = 0;
    while run.report.kills() < run.config.kills || run.report.lsp_kills < run.config.lsp_kills {
        run.cycle(incarnation);
        incarnation += 1;
    }
    run.finish(incarnation);
    run.report.elapsed = started.elapsed();
    run.report
}

impl World {
    fn build(config: &ChaosConfig) -> World {
        let devnet = Devnet::start().unwrap_or_else(|e| panic!("the devnet starts: {e}"));
        let scene = AsyncScene::start(&devnet, Observers::new(), |c| c.push.min_interval_secs = 0);
        let phone_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary dir: {e}"));
        let wallet_config = scene.phone_config(&devnet, phone_dir.path());
        let rt = runtime();
        let app = start_app(&devnet, &scene, &wallet_config, &rt);
        let phone_id: PublicKey = app
            .node_id()
            .ok()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the phone's node id"));
        let webhook = WebhookReceiver::start();
        let offer = go_offline_with_offer(&scene, app, &webhook, &rt)
            .parse()
            .unwrap_or_else(|e| panic!("the phone's offer: {e:?}"));
        let payee = &scene.sender.node;
        let payee_offer = payee
            .bolt12_payment()
            .receive_variable_amount("chaos payee", None)
            .unwrap_or_else(|e| panic!("the payer's offer: {e}"))
            .to_string();
        let payee_address = payee
            .onchain_payment()
            .new_address()
            .unwrap_or_else(|e| panic!("the payer's address: {e}"))
            .to_string();
        let lsp = wallet_config.lsp.clone().unwrap_or_else(|| panic!("the phone has an LSP"));
        let args = AppArgs {
            storage_dir: wallet_config.storage_dir.clone(),
            esplora_url: devnet.esplora_url(),
            lsp_node_id: lsp.node_id,
            lsp_address: lsp.address,
            lsp_api_url: lsp.api_url.unwrap_or_default(),
            backup_url: None,
            seed: config.seed,
            incarnation: 0,
            journal: config.work_dir.join("journal.jsonl"),
            payee_offer,
            payee_address,
            stop_file: config.work_dir.join("stop"),
            quiet: false,
        };
        let lsp_process = (config.lsp_kill_percent > 0)
            .then(|| LspProcess::take_over(&scene.lsp_a, &config.work_dir));
        World {
            _rt: rt,
            webhook,
            offer,
            phone_id,
            args,
            lsp_process,
            lsp_at_end: None,
            _phone_dir: phone_dir,
            scene,
            devnet,
        }
    }
}

impl World {
    /// Waits until the phone's LSP sees the phone gone (it then holds messages for it and
    /// pushes).
    fn wait_until_phone_offline(&self) {
        match &self.lsp_process {
            None => {
                AsyncScene::wait_until_offline_at(&self.scene.lsp_a, self.phone_id, DEFAULT_WAIT)
            }
            Some(lsp) => {
                let phone = self.phone_id.to_string();
                let _ = poll_state(
                    DEFAULT_WAIT,
                    || lsp.channels().unwrap_or_default(),
                    |channels| {
                        !channels
                            .iter()
                            .any(|c| c["counterparty_node_id"] == phone && c["is_usable"] == true)
                    },
                );
            }
        }
    }

    /// Whether a transaction (a channel's funding, by txid) reached the devnet: in its mempool
    /// or mined.
    fn funding_seen(&self) -> impl Fn(&str) -> bool + '_ {
        |txid: &str| {
            txid.parse::<Txid>().is_ok_and(|txid| {
                self.devnet.in_mempool(&txid) || self.devnet.confirmation_height(&txid).is_some()
            })
        }
    }

    /// The phone's LSP at the end, in this process.
    fn lsp_a(&self) -> &Lsp {
        self.lsp_at_end.as_ref().unwrap_or(&self.scene.lsp_a)
    }
}

impl Run {
    fn log_path(&self, what: &str, n: u64) -> PathBuf {
        self.config.work_dir.join(format!("{what}-{n}.log"))
    }

    /// Launches app process `incarnation`; a `quiet` one only syncs and reports its state.
    fn launch_app(&self, incarnation: u64, quiet: bool) -> Process {
        let _ = std::fs::remove_file(&self.world.args.stop_file);
        let args = AppArgs { incarnation, quiet, ..self.world.args.clone() };
        let log = std::fs::File::create(self.log_path("app", incarnation))
            .unwrap_or_else(|e| panic!("an app log: {e}"));
        Command::new(workspace_binary("doze-chaos-app"))
            .arg("--args")
            .arg(serde_json::to_string(&args).unwrap_or_default())
            .env("DOZE_LOG", std::env::var("DOZE_CHAOS_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(Process)
            .unwrap_or_else(|e| panic!("cannot launch doze-chaos-app: {e}"))
    }

    /// The journal, read up to what was appended last.
    fn journal(&self) -> std::sync::MutexGuard<'_, JournalReader> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until incarnation `n` has logged `kind`, or its process ended; the entry.
    fn wait_for_entry(&self, app: &mut Process, n: u64, kind: &str) -> Option<Value> {
        let found = poll_state(
            DEFAULT_WAIT,
            || {
                // Whether it exited first, then the journal: what it wrote before exiting is
                // there.
                let exited = app.try_wait().ok().flatten().is_some();
                let entry =
                    of_kind(self.journal().entries(), kind).find(|e| e["inc"] == n).cloned();
                (entry, exited)
            },
            |(entry, exited)| entry.is_some() || *exited,
        );
        found.0
    }

    /// One cycle: the app starts and is checked, works a while (the supervisor serving it),
    /// and is killed or stopped; then, while it is down, maybe a payment and a wake.
    fn cycle(&mut self, n: u64) {
        let mut app = self.launch_app(n, false);
        self.report.app_starts += 1;
        let Some(started) = self.wait_for_entry(&mut app, n, "started") else {
            let _ = app.kill();
            let failed: Vec<_> =
                of_kind(self.journal().entries(), "start_failed").cloned().collect();
            self.fail(&format!("app {n} did not start: {failed:?}"));
        };
        let result = checks::after_start(
            self.journal().entries(),
            &started["state"],
            &self.world.funding_seen(),
        );
        self.check(result);
        let work = Duration::from_millis(self.rng.below(self.config.max_work.as_millis() as u64));
        let mut lsp_kill_at = (self.world.lsp_process.is_some()
            && self.rng.chance(self.config.lsp_kill_percent))
        .then(|| Duration::from_millis(self.rng.below(work.as_millis() as u64 + 1)));
        let working = Instant::now();
        while working.elapsed() < work {
            self.serve();
            if lsp_kill_at.is_some_and(|at| working.elapsed() >= at) {
                lsp_kill_at = None;
                self.kill_lsp(&started["state"]);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.rng.chance(self.config.stop_percent) {
            std::fs::write(&self.world.args.stop_file, b"stop").unwrap_or_default();
            if self.rng.chance(50) {
                std::thread::sleep(Duration::from_millis(self.rng.below(300)));
                self.kill(&mut app);
                self.report.app_kills_in_stop += 1;
            } else {
                let exited =
                    poll_state(DEFAULT_WAIT, || app.try_wait().ok().flatten(), Option::is_some);
                if exited.is_none() {
                    self.fail(&format!("app {n} did not stop within {DEFAULT_WAIT:?}"));
                }
                self.report.app_stops += 1;
            }
        } else {
            self.kill(&mut app);
            self.report.app_kills += 1;
        }
        self.serve();
        if self.rng.chance(self.config.offline_pay_percent) {
            self.pay_while_asleep(n);
        }
        if self.rng.chance(30) {
            self.world.devnet.mine(1);
        }
    }

    /// Kills the phone's LSP and starts it again; it must still have every channel the phone
    /// had at its last start.
    fn kill_lsp(&mut self, phone_state: &Value) {
        let Some(lsp) = self.world.lsp_process.as_mut() else { return };
        lsp.kill_and_restart();
        self.report.lsp_kills += 1;
        let Some(lsp) = self.world.lsp_process.as_ref() else { return };
        let result = lsp.channels().and_then(|channels| {
            let phone = self.world.phone_id.to_string();
            checks::lsp_keeps_channels(&channels, &phone, phone_state, &self.world.funding_seen())
        });
        self.check(result);
    }

    fn kill(&self, app: &mut Process) {
        let _ = app.kill();
        let _ = app.wait();
    }

    /// What the app asked for since last time: its invoices paid, its addresses funded.
    fn serve(&mut self) {
        let entries: Vec<Value> = self.journal().entries()[self.served..].to_vec();
        self.served += entries.len();
        for invoice in of_kind(&entries, "invoice") {
            let Some(bolt11) = invoice["bolt11"].as_str() else { continue };
            if !self.paid_invoices.insert(bolt11.to_string()) {
                continue;
            }
            self.report.jit_invoices += usize::from(invoice["jit"] == true);
            let Ok(parsed) = bolt11.parse::<Bolt11Invoice>() else {
                self.fail(&format!("the app's invoice does not parse: {bolt11}"));
            };
            match self.world.scene.sender.node.bolt11_payment().send(&parsed, None) {
                Ok(id) => self.to_phone.push(id),
                Err(e) => log::info!("chaos: the payer cannot pay an invoice: {e}"),
            }
        }
        for entry in of_kind(&entries, "address") {
            let Some(address) = entry["address"].as_str() else { continue };
            if !self.funded.insert(address.to_string()) {
                continue;
            }
            let Ok(address) = address.parse::<Address<_>>() else {
                self.fail(&format!("the app's address does not parse: {address}"));
            };
            let address = address.assume_checked();
            let amount = Amount::from_sat(40_000 + self.rng.below(40_000));
            if self.world.devnet.fund(&address, amount).is_ok() {
                self.report.addresses_funded += 1;
            }
        }
    }

    /// The payer pays the phone's offer while its app is down: the push launches a wake,
    /// which may be killed.
    fn pay_while_asleep(&mut self, n: u64) {
        let scene = &self.world.scene;
        self.world.wait_until_phone_offline();
        let pushes = self.world.webhook.received().len();
        let held = scene.held_htlcs_at_lsp_b();
        let amount_msat = (2_000 + self.rng.below(30_000)) * 1000;
        let id = match scene.sender.node.bolt12_payment().send_using_amount(
            &self.world.offer,
            amount_msat,
            None,
            None,
            None,
        ) {
            Ok(id) => id,
            Err(e) => return log::info!("chaos: the payer cannot pay the offer: {e}"),
        };
        self.to_phone.push(id);
        let Some(push) = self
            .world
            .webhook
            .try_wait_for(pushes + 1, Duration::from_secs(30))
            .ok()
            .and_then(|mut p| p.pop())
        else {
            return log::info!("chaos: no push for the payment while asleep");
        };
        if scene.try_wait_for_held_htlcs_at_lsp_b(held + 1, Duration::from_secs(30)).is_err() {
            return log::info!("chaos: LSP-B did not hold the payment");
        }
        let log = std::fs::File::create(self.log_path("wake", n))
            .unwrap_or_else(|e| panic!("a wake log: {e}"));
        let config = self.world.args.wallet_config();
        let mut wake = Process(launch_wake(
            &workspace_binary("doze"),
            &config,
            &push,
            &[("DOZE_LOG", "info")],
            Stdio::from(log),
        ));
        self.report.wakes += 1;
        if self.rng.chance(self.config.wake_kill_percent) {
            std::thread::sleep(Duration::from_millis(self.rng.below(600)));
            let _ = wake.kill();
            self.report.wake_kills += 1;
        }
        let ended =
            poll_state(Duration::from_secs(40), || wake.try_wait().ok().flatten(), Option::is_some);
        if ended.is_none() {
            let _ = wake.kill();
            self.fail(&format!("wake {n} did not end within its deadline"));
        }
        let _ = wake.wait();
    }

    /// The last start: the app settles with nothing to do, every payment ends, and the run's
    /// invariants are checked on its final state.
    fn finish(&mut self, n: u64) {
        if let Some(lsp) = self.world.lsp_process.take() {
            self.world.lsp_at_end = Some(lsp.into_in_process());
        }
        self.serve();
        let mut app = self.launch_app(n, true);
        if self.wait_for_entry(&mut app, n, "started").is_none() {
            self.fail(&format!("the final app {n} did not start"));
        }
        // The phone's own payments end first, in wall-clock time with the chain at its pace: a
        // split payment whose other parts a kill lost is held by the payee until its
        // multi-part timeout (three timer ticks, up to three minutes), and the blocks mined
        // below would bring those parts' HTLCs to their expiry first (the phone then must
        // force-close to get them back; real blocks take ten minutes each).
        self.wait_for_phone_to_settle(n);
        if !self.payments_to_phone_end(Duration::from_secs(60)) {
            // Held at the payer's LSP with nobody to release them (the wake that took their
            // announcement was killed before it could keep its answer), or intercepted by the
            // phone's LSP for a JIT channel while the phone was away: they fail back when the
            // HTLC nears its expiry, the earliest the protocol allows.
            self.report.held_until_expiry = self.pending_to_phone().len();
            let scene = &self.world.scene;
            let mut mined = 0;
            while !self.payments_to_phone_end(Duration::from_secs(10)) {
                if mined >= MAX_EXPIRY_BLOCKS {
                    let pending = self.pending_to_phone();
                    self.fail(&format!(
                        "the payer's payments to the phone did not end: {pending:?}"
                    ));
                }
                self.world.devnet.mine(EXPIRY_STEP_BLOCKS);
                mined += EXPIRY_STEP_BLOCKS;
                let _ = (
                    scene.lsp_b.sync(),
                    self.world.lsp_a().sync(),
                    scene.sender.node.sync_wallets(),
                );
            }
        }
        self.wait_for_phone_to_settle(n);
        std::fs::write(&self.world.args.stop_file, b"stop").unwrap_or_default();
        let Some(stopping) = self.wait_for_entry(&mut app, n, "stopping") else {
            self.fail("the final app did not stop");
        };
        let _ = poll_state(DEFAULT_WAIT, || app.try_wait().ok().flatten(), Option::is_some);
        let entries = self.journal().entries().to_vec();
        let final_state = &stopping["state"];
        let sender = &self.world.scene.sender.node;
        let lsp = self.world.lsp_a().node();
        let seen = self.world.funding_seen();
        let checked = checks::at_end(&entries, final_state, sender, &lsp, &self.to_phone, &seen);
        self.report.to_phone = checked.to_phone;
        self.report.from_phone = checked.from_phone;
        self.report.repeated_events = checked.repeated_events;
        self.report.aborted_channel_opens = checks::aborted_opens(&entries, &seen);
        drop(seen);
        self.check(checked.result);
    }

    /// Waits until the final app's state has every payment of its own ended (an offer payment
    /// killed while it waited for the invoice fails at LDK's timer, within about two minutes),
    /// its on-chain transactions mined, and nothing in flight; blocks are mined meanwhile.
    fn wait_for_phone_to_settle(&self, n: u64) {
        let settled = |state: &Value| {
            payments(state).iter().all(|p| p["inbound"] == true || p["status"] != "Pending")
                && payments(state)
                    .iter()
                    .all(|p| p["kind"] != "Onchain" || p["status"] != "Pending")
                && state["balances"]["pending_sat"] == 0
        };
        let mut last_mined = Instant::now();
        let last = poll_state(
            Duration::from_secs(240),
            || {
                if last_mined.elapsed() > Duration::from_secs(10) {
                    self.world.devnet.mine(1);
                    last_mined = Instant::now();
                }
                of_kind(self.journal().entries(), "state").filter(|e| e["inc"] == n).last().cloned()
            },
            |state| state.as_ref().is_some_and(|s| settled(&s["state"])),
        );
        if !last.as_ref().is_some_and(|s| settled(&s["state"])) {
            let unsettled: Vec<&Value> = last
                .as_ref()
                .map(|s| {
                    payments(&s["state"]).iter().filter(|p| p["status"] == "Pending").collect()
                })
                .unwrap_or_default();
            self.fail(&format!(
                "the phone did not settle: {:?}, pending payments {unsettled:?}",
                last.as_ref().map(|s| &s["state"]["balances"])
            ));
        }
    }

    /// The payer's payments to the phone still pending, with what they pay.
    fn pending_to_phone(&self) -> Vec<String> {
        let sender = &self.world.scene.sender;
        self.to_phone
            .iter()
            .filter_map(|id| sender.payment(id))
            .filter(|p| p.status == NodeStatus::Pending)
            .map(|p| format!("{} {:?}", p.id, p.kind))
            .collect()
    }

    /// Waits up to `timeout` for every payment of the payer's to the phone to end.
    fn payments_to_phone_end(&self, timeout: Duration) -> bool {
        poll_state(timeout, || self.pending_to_phone().is_empty(), |done| *done)
    }

    fn check(&mut self, result: Result<Checked, String>) {
        match result {
            Ok(checked) => {
                self.report.checks += checked.comparisons;
                self.report.force_closes += checked.force_closes;
            }
            Err(e) => self.fail(&e),
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "chaos run (seed {}) failed: {what}\n(journal and logs in {})\n{:?}",
            self.config.seed,
            self.config.work_dir.display(),
            self.report
        )
    }
}

/// The work directory of a run under `root`.
pub fn work_dir(root: &Path, seed: u64) -> PathBuf {
    root.join(format!("chaos-{seed}"))
}
