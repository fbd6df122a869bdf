//! Wake benchmark: a phone woken in a fresh process to take a held async payment, `doze-wake`
//! (the wake engine) beside the same flow on stock ldk-node (`ldk-wake`: build, `start()`, wait
//! for the payment, `stop()`) and, if `$DOZE_PREV_WAKE_BIN` names it, the previous `doze-wake`
//! (a whole ldk-node `Node`), alternating, on a real devnet scene (sender → LSP-B → LSP-A →
//! phone): first with the devnet's small store, then with the mainnet-size fixture filled into
//! the same store (≈13k nodes / 45k channels, 100k payments; `doze_bench::fixture`). Measures
//! each process's wall time (spawn → exit), peak RSS (GNU time's %M) and peak anonymous
//! (written) memory, sampled from /proc every 5 ms. Prints JSON with medians. To see where the
//! time and memory go: `DOZE_BENCH_SMAPS=1` prints each process's resident memory by mapping,
//! `DOZE_BENCH_LOG=debug` prints `doze-wake`'s log with arrival times, and
//! `LDK_WAKE_LOG=<file>` has `ldk-wake` write a trace log.
//!
//! The two wake binaries are taken from `$DOZE_WAKE_BIN_DIR`, or from beside this one. Build
//! them with the phone library's profile (what an extension ships: size-optimised, fat LTO)
//! and this driver with the release profile:
//!
//! ```text
//! cargo build --profile release-ffi -p doze-wake --bin doze-wake -p doze-bench --bin ldk-wake
//! cargo build --release -p doze-bench --bin wake
//! DOZE_WAKE_BIN_DIR=target/release-ffi target/release/wake [RUNS_PER_SIDE]
//! ```
//!
//! The previous wake is the `doze-wake` of commit 6fd985b, built the same way from a worktree
//! (`git worktree add /tmp/prev 6fd985b`) and copied aside.
//!
//! **With a remote store** (`wake [RUNS_PER_SIDE] --backup`): instead of the mainnet-size
//! phase, the wakes of phones whose node store is on a backup server (PostgreSQL and LDK's
//! `vss-server` on loopback, `doze_testkit::backup_server`), reached directly and through a
//! `LatencyProxy` adding 50 ms each way (a 100 ms round trip), beside the same local-store
//! wakes as above, all alternating in one run:
//! - `doze_wake_engine_backup_*`: backed-up Doze wallets, each started in the app with
//!   `backup: Some(BackupConfig { url })` (so the backup holds it and names this device), then
//!   woken by `doze-wake --backup-url <url>` (loopback, or the proxy in front of the same
//!   server). Each link wakes a wallet of its own (`DOZE_BENCH_WAKES_PER_PHONE=<n>`: as many
//!   wallets per link as it takes for none to be woken more than `n` times, taking turns);
//! - `stock_ldk_node_vss_*`: a stock ldk-node phone on ldk-node's own VSS store
//!   (`build_with_vss_store_and_header_provider`, signed in with Doze's `BackupAuth`), set up
//!   with its own channel and offer, then woken by `ldk-wake ... <vss url> <store id>`.
//!
//! Each backed-up side also reports what a wake asked of the server: Doze's writes (the
//! backup's global version moves on by one per write) and the requests through the proxy by
//! path; and every side the wake's own timings (`doze-wake`'s `timings_ms`, `ldk-wake`'s
//! `*_ms`). One unmeasured wake per side goes first.
//!
//! ```text
//! DOZE_WAKE_BIN_DIR=target/release-ffi target/release/wake [RUNS_PER_SIDE] --backup
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_bench::keyspace::{Keyspace, DOZE_STORE_ID};
use doze_bench::{median, percentile};
use doze_core::{BackupAuth, BackupConfig, PushTarget, Wallet, WalletConfig, WordCount};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Observers;
use doze_testkit::async_scene::{Interceptions, PHONE_CHANNEL, PHONE_RESERVE_FUNDS};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::latency_proxy::LatencyProxy;
use doze_testkit::lsp::has_usable_channel;
use doze_testkit::phone::{wake_args, WAKE_DEADLINE};
use doze_testkit::{AsyncScene, ReceivedPush, WebhookReceiver, MNEMONIC};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::config::AsyncPaymentsRole;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::Event;
use serde_json::json;
/// Small enough for 120 payments through the sender's 500 000 sat channel.
const AMOUNT_MSAT: u64 = 3_000_000;
/// The delay the proxies add each way (`--backup`): a 100 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(50);
/// The stock VSS phone's keyspace.
const STOCK_STORE_ID: &str = "stock-regtest";

struct Sample {
    wall_ms: f64,
    max_rss_kb: f64,
    max_anon_kb: f64,
    paid: bool,
    /// The wake's own account of its time (its JSON's millisecond fields).
    timings: BTreeMap<String, f64>,
    /// Doze's writes to the backup during the wake (its global version's move).
    doze_writes: Option<f64>,
    /// The requests through the proxy during the wake, by path.
    requests: BTreeMap<String, u64>,
}

fn anon_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("RssAnon:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn run(mut command: Command, stdin: &[u8], time_file: &Path) -> (Sample, String) {
    // `DOZE_BENCH_LOG=<level>`: the wake processes log at that level, and each line is printed
    // with the milliseconds since the spawn at which it arrived.
    let log_level = std::env::var("DOZE_BENCH_LOG").ok();
    let stderr = if log_level.is_some() { Stdio::piped() } else { Stdio::null() };
    if let Some(level) = &log_level {
        command.env("DOZE_LOG", level).env("RUST_LOG", level);
    }
    let started = Instant::now();
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let log_reader = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.push(format!("{:>6} ms {line}", started.elapsed().as_millis()));
            }
            lines
        })
    });
    // `/usr/bin/time` is the child; the measured process is its child.
    let mut max_anon: f64 = 0.0;
    let time_pid = child.id();
    let breakdown = std::env::var_os("DOZE_BENCH_SMAPS").is_some();
    let mut last_smaps = String::new();
    let mut sampled_at = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let children =
            std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
                .unwrap_or_default();
        for pid in children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
            max_anon = max_anon.max(anon_kb(pid).unwrap_or(0.0));
            if breakdown && sampled_at.elapsed() > Duration::from_millis(50) {
                if let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) {
                    last_smaps = smaps;
                }
                sampled_at = Instant::now();
            }
        }
        std::thread::park_timeout(Duration::from_millis(5)); // sampling period
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let max_rss_kb = std::fs::read_to_string(time_file)
        .ok()
        .and_then(|t| t.trim().lines().last()?.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let paid = stdout.contains("\"Paid\"") || stdout.contains("\"paid\": true");
    if breakdown {
        eprintln!("{}", smaps_breakdown(&last_smaps));
    }
    if let Some(lines) = log_reader.and_then(|reader| reader.join().ok()) {
        eprintln!("{}", lines.join("\n"));
    }
    let timings = wake_timings(&stdout);
    let sample = Sample {
        wall_ms,
        max_rss_kb,
        max_anon_kb: max_anon,
        paid,
        timings,
        doze_writes: None,
        requests: BTreeMap::new(),
    };
    (sample, stdout)
}

/// The millisecond fields of a wake's outcome JSON: `doze-wake`'s `timings_ms`, `ldk-wake`'s
/// `*_ms`.
fn wake_timings(stdout: &str) -> BTreeMap<String, f64> {
    let Ok(outcome) = serde_json::from_str::<serde_json::Value>(stdout.trim()) else {
        return BTreeMap::new();
    };
    let (fields, suffix) = match outcome.get("timings_ms").and_then(|t| t.as_object()) {
        Some(timings) => (timings.clone(), ""),
        None => (outcome.as_object().cloned().unwrap_or_default(), "_ms"),
    };
    fields
        .into_iter()
        .filter(|(name, _)| name.ends_with(suffix))
        .filter_map(|(name, value)| {
            Some((name.trim_end_matches("_ms").to_string(), value.as_f64()?))
        })
        .collect()
}

/// Resident memory by mapping (kB), largest first: where a process's RSS comes from
/// (`DOZE_BENCH_SMAPS=1`, from its last `/proc/<pid>/smaps` sample).
fn smaps_breakdown(smaps: &str) -> String {
    let mut by_name: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            name = fields.nth(4).unwrap_or("[anon]").to_string();
            continue;
        }
        let kb: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let entry = by_name.entry(name.clone()).or_default();
        match first {
            "Rss:" => entry.0 += kb,
            "Anonymous:" => entry.1 += kb,
            _ => {}
        }
    }
    let mut rows: Vec<_> = by_name.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .0));
    let total: u64 = rows.iter().map(|r| r.1 .0).sum();
    let mut out = format!("  rss {total} kB at the last sample:");
    for (name, (rss, anon)) in rows.iter().take(8) {
        out.push_str(&format!("\n    {rss:>6} kB (anon {anon:>5}) {name}"));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5);
    let backup = args.iter().any(|a| a == "--backup");
    let bin_dir: PathBuf = match std::env::var_os("DOZE_WAKE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe().expect("exe").parent().expect("dir").to_path_buf(),
    };
    let devnet = Devnet::start().expect("devnet");
    let interceptions = Interceptions::new();
    let scene = AsyncScene::start(&devnet, interceptions.observers(Observers::new()), |_| {});
    let dir = tempfile::tempdir().expect("dir");
    let config = scene.phone_config(&devnet, dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let webhook = WebhookReceiver::start();
    let app = doze_phone(&scene, &devnet, config.clone(), MNEMONIC, 1_000_000, &webhook, &rt);

    let time_file = dir.path().join("time.txt");
    let prev_wake = std::env::var_os("DOZE_PREV_WAKE_BIN").map(PathBuf::from);
    let mut sides = vec![Side::Engine, Side::Stock];
    if prev_wake.is_some() {
        sides.insert(1, Side::PreviousDoze);
    }
    let mut bench = Bench {
        scene: &scene,
        devnet: &devnet,
        app,
        remote: None,
        bin_dir: &bin_dir,
        prev_wake,
        time_file,
        interceptions,
    };
    let mut held = 0;
    if backup {
        let server = BackupServer::start();
        let (server_url, server_addr) = (server.url(), server.addr());
        let server = doze_bench::server::stop_on_panic(server);
        let doze_proxy = LatencyProxy::start(server_addr, ONE_WAY);
        let stock_proxy = LatencyProxy::start(server_addr, ONE_WAY);
        // A wallet per link, or as many as `DOZE_BENCH_WAKES_PER_PHONE` asks.
        let per_link = std::env::var("DOZE_BENCH_WAKES_PER_PHONE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(1, |per_phone| (runs + 1).div_ceil(per_phone.max(1)));
        let mut dirs = Vec::new();
        let mut doze = Vec::new();
        for _ in 0..2 * per_link {
            let mnemonic = doze_core::generate_mnemonic(WordCount::Words12).to_string();
            let dir = tempfile::tempdir().expect("dir");
            let config = WalletConfig {
                backup: Some(BackupConfig { url: server_url.clone() }),
                ..scene.phone_config(&devnet, dir.path())
            };
            // LSP-A has 3 000 000 sat for all the phones' channels; 15 wakes take 45 000.
            let phone = doze_phone(&scene, &devnet, config, &mnemonic, 200_000, &webhook, &rt);
            let keyspace =
                Keyspace::new(&server_url, DOZE_STORE_ID, &mnemonic).expect("its keyspace");
            doze.push((phone, keyspace));
            dirs.push(dir);
        }
        let rtt_wallets = doze.split_off(per_link);
        let stock_dir = tempfile::tempdir().expect("dir");
        let stock = stock_vss_phone(&scene, &devnet, &server_url, stock_dir.path(), &webhook);
        bench.remote = Some(Remote {
            doze: [doze, rtt_wallets],
            turns: Default::default(),
            stock,
            loopback_url: server_url.clone(),
            doze_proxy,
            stock_proxy,
        });
        for link in [Link::Loopback, Link::Rtt100] {
            sides.extend([Side::EngineBackup(link), Side::StockVss(link)]);
        }
        bench.phase("warm-up", &sides, 1, &mut held);
        let measured = bench.phase("devnet store, remote backup", &sides, runs, &mut held);
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "binaries": bin_dir.display().to_string(),
                "injected_rtt_ms": (ONE_WAY * 2).as_millis() as u64,
                "devnet_store_with_backup": measured,
            }))
            .expect("JSON")
        );
        // The phones' stores go before the server.
        drop(bench);
        drop(dirs);
        drop(server);
        return;
    }
    let small = bench.phase("devnet store", &sides, runs, &mut held);
    let filled = Instant::now();
    let stats = doze_bench::fixture::fill_mainnet_store(
        dir.path(),
        ldk_node::bitcoin::Network::Regtest,
        100_000,
    )
    .expect("fixture");
    eprintln!("mainnet-size fixture filled in {:?}: {}", filled.elapsed(), stats.to_json());
    let mainnet = bench.phase("mainnet-size store", &sides, runs, &mut held);
    println!(
        "{}",
        json!({
            "binaries": bin_dir.display().to_string(),
            "devnet_store": small,
            "mainnet_store": mainnet,
            "fixture": stats.to_json()
        })
    );
}

/// A phone the wakes take payments for.
struct WakePhone {
    /// Its Doze configuration (a Doze phone), or its storage only (the stock VSS phone).
    config: WalletConfig,
    mnemonic: String,
    offer: Offer,
    id: PublicKey,
    /// The ldk-node storage directory `ldk-wake` opens.
    node_dir: PathBuf,
}

/// A Doze app with `config`: a channel of `channel_sat` from LSP-A, LSP-B known, registered
/// for pushes to `webhook`, its offer, stopped.
fn doze_phone(
    scene: &AsyncScene,
    devnet: &Devnet,
    config: WalletConfig,
    mnemonic: &str,
    channel_sat: u64,
    webhook: &WebhookReceiver,
    rt: &tokio::runtime::Runtime,
) -> WakePhone {
    let app = Wallet::new(config.clone(), mnemonic, None).expect("wallet");
    rt.block_on(app.start()).expect("start");
    let id: PublicKey = app.node_id().expect("id").parse().expect("key");
    scene.open_channel_to_phone(devnet, id, None, channel_sat, &[]);
    wait_until("phone ready", Duration::from_secs(120), || {
        rt.block_on(app.sync()).is_ok()
            && app.balances().map(|b| b.lightning_inbound_sat > 0).unwrap_or(false)
            && app.knows_node(&scene.lsp_b.node_id().to_string()).unwrap_or(false)
    });
    rt.block_on(app.register_for_push("bench".into(), PushTarget::Webhook { url: webhook.url() }))
        .expect("register");
    let offer: Offer = rt
        .block_on(app.receive_offer(Duration::from_secs(120)))
        .expect("offer")
        .parse()
        .expect("offer");
    rt.block_on(app.stop()).expect("stop");
    drop(app);
    let node_dir = Path::new(&config.storage_dir).join("node");
    WakePhone { config, mnemonic: mnemonic.into(), offer, id, node_dir }
}

/// A stock ldk-node phone on ldk-node's VSS store at `url` (storage for its logs in `dir`),
/// configured as `ldk-wake` builds it: its anchor reserve funded, a channel from LSP-A, the
/// LSPs' gossip, registered for pushes to `webhook`, its offer, stopped.
fn stock_vss_phone(
    scene: &AsyncScene,
    devnet: &Devnet,
    url: &str,
    dir: &Path,
    webhook: &WebhookReceiver,
) -> WakePhone {
    let mnemonic = doze_core::generate_mnemonic(WordCount::Words12);
    let (mut builder, address) = devnet.node_builder("stock-vss-phone", dir);
    builder.set_entropy_bip39_mnemonic(mnemonic.clone(), None);
    builder.set_liquidity_source_lsps2(scene.lsp_a.node_id(), scene.lsp_a.p2p_address(), None);
    builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
    let auth = BackupAuth::from_mnemonic(&mnemonic.to_string(), None, doze_core::Network::Regtest)
        .expect("the backup key");
    let node = builder
        .build_with_vss_store_and_header_provider(url.into(), STOCK_STORE_ID.into(), Arc::new(auth))
        .expect("the stock VSS phone builds");
    node.start().expect("the stock VSS phone starts");
    let funds = node.onchain_payment().new_address().expect("an address");
    devnet.fund_confirmed(&funds, Amount::from_sat(PHONE_RESERVE_FUNDS)).expect("funded");
    wait_until("the stock VSS phone sees its funds", DEFAULT_WAIT, || {
        node.sync_wallets().is_ok()
            && node.list_balances().spendable_onchain_balance_sats >= PHONE_RESERVE_FUNDS
    });
    let id = node.node_id();
    scene.open_channel_to_phone(devnet, id, Some(address), PHONE_CHANNEL, &[&node]);
    wait_until("the stock VSS phone's channel is usable", DEFAULT_WAIT, || {
        node.sync_wallets().is_ok() && has_usable_channel(&node, scene.lsp_a.node_id())
    });
    scene.wait_for_gossip(devnet, "stock-vss-phone", &node, Duration::from_secs(120));
    let target = doze_lsp::push::PushTarget::webhook(webhook.url());
    let offer = scene.set_up_async_receive(&node, target, Duration::from_secs(120));
    // The set-up's events are not the wakes' to handle.
    while node.next_event().is_some() {
        node.event_handled().expect("event handled");
    }
    node.stop().expect("the stock VSS phone stops");
    let config = scene.phone_config(devnet, dir);
    WakePhone { config, mnemonic: mnemonic.to_string(), offer, id, node_dir: dir.to_path_buf() }
}

/// How a backed-up wake reaches its server.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Link {
    /// Directly, on loopback.
    Loopback,
    /// Through a proxy adding 50 ms each way.
    Rtt100,
}

/// Which wake a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `doze-wake`: the wake engine.
    Engine,
    /// The previous `doze-wake` (an ldk-node `Node`).
    PreviousDoze,
    /// `ldk-wake`: stock ldk-node.
    Stock,
    /// `doze-wake` of the backed-up Doze wallet.
    EngineBackup(Link),
    /// `ldk-wake` of the stock phone on ldk-node's VSS store.
    StockVss(Link),
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Engine => "doze_wake_engine",
            Side::PreviousDoze => "doze_wake_previous_ldk_node",
            Side::Stock => "stock_ldk_node",
            Side::EngineBackup(Link::Loopback) => "doze_wake_engine_backup_loopback",
            Side::EngineBackup(Link::Rtt100) => "doze_wake_engine_backup_rtt100",
            Side::StockVss(Link::Loopback) => "stock_ldk_node_vss_loopback",
            Side::StockVss(Link::Rtt100) => "stock_ldk_node_vss_rtt100",
        }
    }
}

/// The backed-up phones and their server (`--backup`).
struct Remote {
    /// The backed-up Doze wallets woken over each link (loopback, then the proxy), each with
    /// its keyspace (for its global version); they take turns.
    doze: [Vec<(WakePhone, Keyspace)>; 2],
    turns: [std::cell::Cell<usize>; 2],
    stock: WakePhone,
    loopback_url: String,
    doze_proxy: LatencyProxy,
    stock_proxy: LatencyProxy,
}

impl Remote {
    /// The Doze wallet whose turn it is to be woken over `link`; moves the turn on.
    fn doze(&self, link: Link) -> &(WakePhone, Keyspace) {
        let index = link as usize;
        let turn = self.turns[index].get();
        self.turns[index].set(turn + 1);
        &self.doze[index][turn % self.doze[index].len()]
    }

    /// The server's URL for `side` over `link`, and the proxy on the way, if any.
    fn link(&self, side: Side) -> Option<(String, Option<&LatencyProxy>)> {
        let proxy = match side {
            Side::EngineBackup(Link::Rtt100) => Some(&self.doze_proxy),
            Side::StockVss(Link::Rtt100) => Some(&self.stock_proxy),
            Side::EngineBackup(Link::Loopback) | Side::StockVss(Link::Loopback) => None,
            Side::Engine | Side::PreviousDoze | Side::Stock => return None,
        };
        let url = proxy.map(|p| p.url(&self.loopback_url)).unwrap_or(self.loopback_url.clone());
        Some((url, proxy))
    }
}

struct Bench<'a> {
    scene: &'a AsyncScene,
    devnet: &'a Devnet,
    /// The local-store Doze phone (`doze_wake_engine`, `stock_ldk_node` on the same store).
    app: WakePhone,
    remote: Option<Remote>,
    bin_dir: &'a Path,
    prev_wake: Option<PathBuf>,
    time_file: PathBuf,
    interceptions: Arc<Interceptions>,
}

impl Bench<'_> {
    /// The phone `side` wakes this time, and its Doze backup's keyspace if it has one.
    fn phone(&self, side: Side) -> (&WakePhone, Option<&Keyspace>) {
        let remote = || self.remote.as_ref().expect("backed-up phones (--backup)");
        match side {
            Side::Engine | Side::PreviousDoze | Side::Stock => (&self.app, None),
            Side::EngineBackup(link) => {
                let (phone, keyspace) = remote().doze(link);
                (phone, Some(keyspace))
            }
            Side::StockVss(_) => (&remote().stock, None),
        }
    }

    /// `runs` wakes per side, the sides alternating; a JSON summary per side.
    fn phase(&self, name: &str, sides: &[Side], runs: usize, held: &mut u64) -> serde_json::Value {
        let lsp_a = &self.scene.lsp_a;
        let mut samples: Vec<Vec<Sample>> = sides.iter().map(|_| Vec::new()).collect();
        for run_index in 0..runs * sides.len() {
            let side_index = run_index % sides.len();
            let side = sides[side_index];
            let (phone, doze_keyspace) = self.phone(side);
            AsyncScene::wait_until_offline_at(lsp_a, phone.id, DEFAULT_WAIT);
            let sender = self.scene.sender.node_id();
            let before = self.interceptions.from_sender(sender);
            let payment_id = self
                .scene
                .sender
                .bolt12_payment()
                .send_using_amount(&phone.offer, AMOUNT_MSAT, None, None, None)
                .expect("pay");
            self.interceptions.wait_from_sender(sender, before, DEFAULT_WAIT);
            *held += 1;
            self.scene.wait_for_held_htlcs_at_lsp_b(*held, DEFAULT_WAIT);
            let mut command = Command::new("/usr/bin/time");
            command
                .args(["-f", "%M", "-o"])
                .arg(&self.time_file)
                .env("DOZE_MNEMONIC", &phone.mnemonic);
            let push = ReceivedPush::signed_by(&lsp_a.node());
            let link = self.remote.as_ref().and_then(|r| r.link(side));
            let doze_wake = match side {
                Side::Engine | Side::EngineBackup(_) => Some(self.bin_dir.join("doze-wake")),
                Side::PreviousDoze => self.prev_wake.clone(),
                Side::Stock | Side::StockVss(_) => None,
            };
            if let Some(binary) = doze_wake {
                let backup = link.as_ref().map(|(url, _)| BackupConfig { url: url.clone() });
                let config = WalletConfig { backup, ..phone.config.clone() };
                command.arg(binary).args(wake_args(&config, WAKE_DEADLINE, &push));
            } else {
                command
                    .arg(self.bin_dir.join("ldk-wake"))
                    .arg(&phone.node_dir)
                    .arg(self.devnet.esplora_url())
                    .arg(lsp_a.node_id().to_string())
                    .arg(lsp_a.p2p_address().to_string())
                    .arg("25000");
                if let Some((url, _)) = &link {
                    command.arg(url).arg(STOCK_STORE_ID);
                }
            }
            let proxy = link.as_ref().and_then(|(_, proxy)| *proxy);
            let version = |k: &Keyspace| k.global_version().expect("the global version");
            let versions_before = doze_keyspace.map(version);
            let requests_before = proxy.map(LatencyProxy::requests).unwrap_or_default();
            let (mut sample, stdout) = run(command, push.body.as_bytes(), &self.time_file);
            sample.doze_writes = doze_keyspace
                .map(version)
                .zip(versions_before)
                .map(|(after, before)| (after - before) as f64);
            for (path, count) in proxy.map(LatencyProxy::requests).unwrap_or_default() {
                let count = count - requests_before.get(&path).copied().unwrap_or(0);
                if count > 0 {
                    sample.requests.insert(path, count);
                }
            }
            let sent = expect_event(&self.scene.sender, DEFAULT_WAIT, |e| {
                matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
            });
            let ok = matches!(
                sent,
                Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id
            );
            eprintln!(
                "{name} run {run_index} {}: {:.0} ms, rss {:.1} MB, anon {:.1} MB, paid {} \
                 sender ok {ok} {}",
                side.name(),
                sample.wall_ms,
                sample.max_rss_kb / 1024.0,
                sample.max_anon_kb / 1024.0,
                sample.paid,
                stdout.trim()
            );
            samples[side_index].push(sample);
        }
        let mut out = serde_json::Map::new();
        for (side, samples) in sides.iter().zip(&samples) {
            out.insert(side.name().to_string(), summary(samples));
        }
        serde_json::Value::Object(out)
    }
}

/// A side's samples in JSON: medians and extremes.
fn summary(samples: &[Sample]) -> serde_json::Value {
    let mut out = json!({
        "runs": samples.len(),
        "paid": samples.iter().filter(|s| s.paid).count(),
        "median_wall_ms": median(samples.iter().map(|s| s.wall_ms).collect()),
        "p90_wall_ms": percentile(samples.iter().map(|s| s.wall_ms).collect(), 0.9),
        "max_wall_ms": samples.iter().map(|s| s.wall_ms).fold(0.0, f64::max),
        "median_peak_rss_mb": median(samples.iter().map(|s| s.max_rss_kb / 1024.0).collect()),
        "max_peak_rss_mb": samples.iter().map(|s| s.max_rss_kb / 1024.0).fold(0.0, f64::max),
        "median_peak_anon_mb_sampled":
            median(samples.iter().map(|s| s.max_anon_kb / 1024.0).collect()),
        "max_peak_anon_mb_sampled":
            samples.iter().map(|s| s.max_anon_kb / 1024.0).fold(0.0, f64::max),
    });
    let mut timings: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut requests: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for sample in samples {
        for (name, ms) in &sample.timings {
            timings.entry(name).or_default().push(*ms);
        }
        for (path, count) in &sample.requests {
            requests.entry(path).or_default().push(*count as f64);
        }
    }
    let medians = |values: BTreeMap<&str, Vec<f64>>| -> serde_json::Map<String, serde_json::Value> {
        values.into_iter().map(|(k, v)| (k.to_string(), json!(median(v)))).collect()
    };
    out["median_wake_timings_ms"] = medians(timings).into();
    let writes: Vec<f64> = samples.iter().filter_map(|s| s.doze_writes).collect();
    if !writes.is_empty() {
        out["median_doze_backup_writes"] = json!(median(writes.clone()));
        out["max_doze_backup_writes"] = json!(writes.iter().copied().fold(0.0, f64::max));
    }
    if !requests.is_empty() {
        out["median_proxied_requests"] = medians(requests).into();
    }
    out
}
