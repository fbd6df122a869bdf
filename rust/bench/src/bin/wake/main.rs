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
//!
//! **The LSPs' share** (`--lsp-batched`, with any of the above): both LSPs forward in LDK's
//! randomly delayed batches (stock ldk-node, `prompt_forwarding = false`) instead of at once
//! (Doze's default). Run with and without it to see what the batches cost a wake; the JSON's
//! `lsp_forwarding` says which ran.
//!
//! **On a phone's network** (`wake [RUNS_PER_SIDE] --rtt`): the same sides with LSP-A (the
//! phone's LSP) *and* the backup server behind latency proxies at 0, 50, 100 and 200 ms round
//! trips (`links.rs`): the local-store wakes (Doze and stock) and the backed-up ones (Doze,
//! stock VSS) over each link, a backed-up Doze wallet per link. It also prints, per link and
//! side, how many round trips each of the wake's milestones cost (its median there minus its
//! median over the direct link, over the round-trip time), and the app's start
//! (`Wallet::new` + `start()`, the LSP and the backup behind the same proxies) for the
//! local-store phone and a backed-up one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use doze_bench::keyspace::{Keyspace, DOZE_STORE_ID};
use doze_bench::median;
use doze_core::{BackupConfig, Wallet, WalletConfig, WordCount};
use doze_devnet::nodes::{expect_event, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Observers;
use doze_testkit::async_scene::Interceptions;
use doze_testkit::backup_server::BackupServer;
use doze_testkit::latency_proxy::LatencyProxy;
use doze_testkit::phone::{wake_args, WAKE_DEADLINE};
use doze_testkit::{AsyncScene, ReceivedPush, WebhookReceiver, MNEMONIC};
use ldk_node::Event;
use serde_json::json;

mod links;
mod phones;
mod sample;

use links::Link;

use phones::{doze_phone, stock_vss_phone, WakePhone};
use sample::{run, summary, Sample};

/// Small enough for 120 payments through the sender's 500 000 sat channel.
const AMOUNT_MSAT: u64 = 3_000_000;
/// The stock VSS phone's keyspace.
pub(crate) const STOCK_STORE_ID: &str = "stock-regtest";
/// `--backup`'s links: the backup server on loopback, then 100 ms away (the LSP on loopback).
const BACKUP_LINKS: &str = "0:0,0:100";
/// `--rtt`'s links: the LSP and the backup server both at each round-trip time.
const RTT_LINKS: &str = "0:0,50:50,100:100,200:200";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5);
    let links = match (args.iter().any(|a| a == "--backup"), args.iter().any(|a| a == "--rtt")) {
        (_, true) => Some(RTT_LINKS),
        (true, false) => Some(BACKUP_LINKS),
        (false, false) => None,
    };
    let bin_dir: PathBuf = match std::env::var_os("DOZE_WAKE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe().expect("exe").parent().expect("dir").to_path_buf(),
    };
    let devnet = Devnet::start().expect("devnet");
    let interceptions = Interceptions::new();
    let batched = args.iter().any(|a| a == "--lsp-batched");
    let lsp_forwarding = if batched { "batched" } else { "prompt" };
    let observers = interceptions.observers(Observers::new());
    let scene = AsyncScene::start_with_lsps(
        &devnet,
        observers,
        |_| {},
        |c| {
            c.prompt_forwarding = !batched;
        },
    );
    let dir = tempfile::tempdir().expect("dir");
    let config = scene.phone_config(&devnet, dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let webhook = WebhookReceiver::start();
    let app = doze_phone(&scene, &devnet, config.clone(), MNEMONIC, 1_000_000, &webhook, &rt);

    let time_file = dir.path().join("time.txt");
    let prev_wake = std::env::var_os("DOZE_PREV_WAKE_BIN").map(PathBuf::from);
    let lsp_addr = scene.lsp_a.p2p_address().to_string().parse().expect("LSP-A's address");
    let mut bench = Bench {
        scene: &scene,
        devnet: &devnet,
        app,
        links: vec![Link::direct(lsp_addr)],
        remote: None,
        bin_dir: &bin_dir,
        prev_wake,
        time_file,
        interceptions,
    };
    let mut held = 0;
    if let Some(links) = links {
        let server = BackupServer::start();
        let (server_url, server_addr) = (server.url(), server.addr());
        let server = doze_bench::server::stop_on_panic(server);
        bench.links = Link::parse(links, lsp_addr, server_addr);
        // A wallet per link, or as many as `DOZE_BENCH_WAKES_PER_PHONE` asks.
        let per_link = std::env::var("DOZE_BENCH_WAKES_PER_PHONE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(1, |per_phone| (runs + 1).div_ceil(per_phone.max(1)));
        let mut dirs = Vec::new();
        let mut doze = Vec::new();
        for _ in &bench.links {
            let mut wallets = Vec::new();
            for _ in 0..per_link {
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
                wallets.push((phone, keyspace));
                dirs.push(dir);
            }
            doze.push(wallets);
        }
        let stock_dir = tempfile::tempdir().expect("dir");
        let stock = stock_vss_phone(&scene, &devnet, &server_url, stock_dir.path(), &webhook);
        let turns = doze.iter().map(|_| Default::default()).collect();
        bench.remote = Some(Remote { doze, turns, stock, loopback_url: server_url.clone() });
        let sides = bench.sides(true);
        bench.phase("warm-up", &sides, 1, &mut held);
        let measured = bench.phase("devnet store, remote backup", &sides, runs, &mut held);
        let starts = bench.starts(runs, &rt);
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "binaries": bin_dir.display().to_string(),
                "lsp_forwarding": lsp_forwarding,
                "links": bench.links.iter().map(Link::name).collect::<Vec<_>>(),
                "wakes": measured,
                "round_trips_per_step": round_trips(&bench.links, &measured),
                "app_starts": starts,
            }))
            .expect("JSON")
        );
        // The phones' stores go before the server.
        drop(bench);
        drop(dirs);
        drop(server);
        return;
    }
    let sides = bench.sides(false);
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
            "lsp_forwarding": lsp_forwarding,
            "devnet_store": small,
            "mainnet_store": mainnet,
            "fixture": stats.to_json()
        })
    );
}

/// Which wake a run measures; the index is the link's, in [`Bench::links`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `doze-wake`: the wake engine, on the local store.
    Engine(usize),
    /// The previous `doze-wake` (an ldk-node `Node`).
    PreviousDoze,
    /// `ldk-wake`: stock ldk-node, on the same local store.
    Stock(usize),
    /// `doze-wake` of a backed-up Doze wallet.
    EngineBackup(usize),
    /// `ldk-wake` of the stock phone on ldk-node's VSS store.
    StockVss(usize),
}

impl Side {
    /// The side's name in the JSON: `--backup` keeps the names of earlier runs.
    fn name(self, links: &[Link]) -> String {
        let suffix = |link: usize, direct: &str| match &links[link] {
            l if l.is_direct() => direct.to_string(),
            l if l.lsp_rtt_ms == 0 => format!("_rtt{}", l.backup_rtt_ms),
            l => format!("_{}", l.name()),
        };
        match self {
            Side::Engine(l) => format!("doze_wake_engine{}", suffix(l, "")),
            Side::PreviousDoze => "doze_wake_previous_ldk_node".into(),
            Side::Stock(l) => format!("stock_ldk_node{}", suffix(l, "")),
            Side::EngineBackup(l) => format!("doze_wake_engine_backup{}", suffix(l, "_loopback")),
            Side::StockVss(l) => format!("stock_ldk_node_vss{}", suffix(l, "_loopback")),
        }
    }

    fn link(self) -> usize {
        match self {
            Side::Engine(l) | Side::Stock(l) | Side::EngineBackup(l) | Side::StockVss(l) => l,
            Side::PreviousDoze => 0,
        }
    }
}

/// The backed-up phones and their server (`--backup`, `--rtt`).
struct Remote {
    /// The backed-up Doze wallets woken over each link, each with its keyspace (for its
    /// global version); they take turns.
    doze: Vec<Vec<(WakePhone, Keyspace)>>,
    turns: Vec<std::cell::Cell<usize>>,
    stock: WakePhone,
    loopback_url: String,
}

impl Remote {
    /// The Doze wallet whose turn it is to be woken over `link`; moves the turn on.
    fn doze(&self, link: usize) -> &(WakePhone, Keyspace) {
        let turn = self.turns[link].get();
        self.turns[link].set(turn + 1);
        &self.doze[link][turn % self.doze[link].len()]
    }
}

struct Bench<'a> {
    scene: &'a AsyncScene,
    devnet: &'a Devnet,
    /// The local-store Doze phone (`doze_wake_engine`, `stock_ldk_node` on the same store).
    app: WakePhone,
    /// The links the wakes take to the LSP and the backup server (the first is direct).
    links: Vec<Link>,
    remote: Option<Remote>,
    bin_dir: &'a Path,
    prev_wake: Option<PathBuf>,
    time_file: PathBuf,
    interceptions: Arc<Interceptions>,
}

impl Bench<'_> {
    /// Every side over every link: the local-store wakes once per LSP round-trip time, the
    /// backed-up wakes (`backup`) over every link.
    fn sides(&self, backup: bool) -> Vec<Side> {
        let mut sides = Vec::new();
        let mut lsp_rtts = Vec::new();
        for (l, link) in self.links.iter().enumerate() {
            if !lsp_rtts.contains(&link.lsp_rtt_ms) {
                lsp_rtts.push(link.lsp_rtt_ms);
                sides.extend([Side::Engine(l), Side::Stock(l)]);
                if l == 0 && self.prev_wake.is_some() {
                    sides.push(Side::PreviousDoze);
                }
            }
            if backup {
                sides.extend([Side::EngineBackup(l), Side::StockVss(l)]);
            }
        }
        sides
    }

    /// The phone `side` wakes this time, and its Doze backup's keyspace if it has one.
    fn phone(&self, side: Side) -> (&WakePhone, Option<&Keyspace>) {
        let remote = || self.remote.as_ref().expect("backed-up phones (--backup)");
        match side {
            Side::Engine(_) | Side::PreviousDoze | Side::Stock(_) => (&self.app, None),
            Side::EngineBackup(link) => {
                let (phone, keyspace) = remote().doze(link);
                (phone, Some(keyspace))
            }
            Side::StockVss(_) => (&remote().stock, None),
        }
    }

    /// The backup server's URL for `side`, and the proxy on the way, if it has a backup.
    fn backup(&self, side: Side) -> Option<(String, Option<&LatencyProxy>)> {
        let remote = self.remote.as_ref()?;
        let link = &self.links[side.link()];
        let proxy = match side {
            Side::EngineBackup(_) => link.doze_backup.as_ref(),
            Side::StockVss(_) => link.stock_backup.as_ref(),
            Side::Engine(_) | Side::PreviousDoze | Side::Stock(_) => return None,
        };
        let url = proxy.map_or(remote.loopback_url.clone(), |p| p.url(&remote.loopback_url));
        Some((url, proxy))
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
            let backup = self.backup(side);
            let lsp_address = self.links[side.link()].lsp_address();
            let doze_wake = match side {
                Side::Engine(_) | Side::EngineBackup(_) => Some(self.bin_dir.join("doze-wake")),
                Side::PreviousDoze => self.prev_wake.clone(),
                Side::Stock(_) | Side::StockVss(_) => None,
            };
            if let Some(binary) = doze_wake {
                let config = self.links[side.link()].config(&phone.config, backup.as_ref());
                command.arg(binary).args(wake_args(&config, WAKE_DEADLINE, &push));
            } else {
                command
                    .arg(self.bin_dir.join("ldk-wake"))
                    .arg(&phone.node_dir)
                    .arg(self.devnet.esplora_url())
                    .arg(lsp_a.node_id().to_string())
                    .arg(&lsp_address)
                    .arg("25000");
                if let Some((url, _)) = &backup {
                    command.arg(url).arg(STOCK_STORE_ID);
                }
            }
            let proxy = backup.as_ref().and_then(|(_, proxy)| *proxy);
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
                side.name(&self.links),
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
            out.insert(side.name(&self.links), summary(samples));
        }
        serde_json::Value::Object(out)
    }

    /// The app's start (`Wallet::new` + `start()`: the store and its backup opened, the node
    /// built and started, the LSP connected, the chain synced) over each link, `runs` times,
    /// for the local-store phone and a backed-up one; medians in ms.
    fn starts(&self, runs: usize, rt: &tokio::runtime::Runtime) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (l, link) in self.links.iter().enumerate() {
            let backed_up = self.remote.as_ref().map(|r| &r.doze[l][0].0);
            for (name, phone, side) in [
                ("doze_app_start", Some(&self.app), Side::Engine(l)),
                ("doze_app_start_backup", backed_up, Side::EngineBackup(l)),
            ] {
                let Some(phone) = phone else { continue };
                let config = link.config(&phone.config, self.backup(side).as_ref());
                let mut samples = Vec::new();
                for _ in 0..runs {
                    AsyncScene::wait_until_offline_at(&self.scene.lsp_a, phone.id, DEFAULT_WAIT);
                    let started = Instant::now();
                    let app = Wallet::new(config.clone(), &phone.mnemonic, None).expect("wallet");
                    rt.block_on(app.start()).expect("the app starts");
                    samples.push(started.elapsed().as_secs_f64() * 1000.0);
                    rt.block_on(app.stop()).expect("the app stops");
                }
                eprintln!("{name} over {}: {samples:.0?} ms", link.name());
                out.insert(format!("{name}_{}", link.name()), json!(median(samples)));
            }
        }
        serde_json::Value::Object(out)
    }
}

/// For each link after the first, and each of the wake's milestones, how many round trips of
/// that link it cost: (its median there − its median over the direct link) / the round-trip
/// time. The LSP's and the backup server's round-trip times are the same in `--rtt`'s links.
fn round_trips(links: &[Link], wakes: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let direct = |side: Side| &wakes[side.name(links)];
    for (l, link) in links.iter().enumerate().skip(1) {
        let rtt = link.lsp_rtt_ms.max(link.backup_rtt_ms) as f64;
        for (side, base) in [
            (Side::Engine(l), Side::Engine(0)),
            (Side::EngineBackup(l), Side::EngineBackup(0)),
            (Side::StockVss(l), Side::StockVss(0)),
        ] {
            let (here, there) = (&wakes[side.name(links)], direct(base));
            let Some(timings) = here["median_wake_timings_ms"].as_object() else { continue };
            let mut steps = serde_json::Map::new();
            for (step, ms) in timings {
                let base_ms = there["median_wake_timings_ms"][step].as_f64();
                if let (Some(ms), Some(base_ms)) = (ms.as_f64(), base_ms) {
                    steps.insert(step.clone(), json!(((ms - base_ms) / rtt * 10.0).round() / 10.0));
                }
            }
            if let (Some(ms), Some(base_ms)) =
                (here["median_wall_ms"].as_f64(), there["median_wall_ms"].as_f64())
            {
                steps.insert("wall".into(), json!(((ms - base_ms) / rtt * 10.0).round() / 10.0));
            }
            out.insert(side.name(links), serde_json::Value::Object(steps));
        }
    }
    serde_json::Value::Object(out)
}
