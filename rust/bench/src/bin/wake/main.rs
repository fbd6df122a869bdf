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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_bench::keyspace::{Keyspace, DOZE_STORE_ID};
use doze_core::{BackupConfig, WalletConfig, WordCount};
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

mod phones;
mod sample;

use phones::{doze_phone, stock_vss_phone, WakePhone};
use sample::{run, summary, Sample};

/// Small enough for 120 payments through the sender's 500 000 sat channel.
const AMOUNT_MSAT: u64 = 3_000_000;
/// The delay the proxies add each way (`--backup`): a 100 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(50);
/// The stock VSS phone's keyspace.
pub(crate) const STOCK_STORE_ID: &str = "stock-regtest";

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
