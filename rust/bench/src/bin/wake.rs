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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_bench::median;
use doze_core::{PushTarget, Wallet, WalletConfig};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Observers;
use doze_testkit::async_scene::Interceptions;
use doze_testkit::phone::{wake_args, WAKE_DEADLINE};
use doze_testkit::{AsyncScene, ReceivedPush, WebhookReceiver, MNEMONIC};
use ldk_node::Event;
use serde_json::json;
/// Small enough for 120 payments through the sender's 500 000 sat channel.
const AMOUNT_MSAT: u64 = 3_000_000;

struct Sample {
    wall_ms: f64,
    max_rss_kb: f64,
    max_anon_kb: f64,
    paid: bool,
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
    (Sample { wall_ms, max_rss_kb, max_anon_kb: max_anon, paid }, stdout)
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
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
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
    let app = Wallet::new(config.clone(), MNEMONIC, None).expect("wallet");
    rt.block_on(app.start()).expect("start");
    let phone_id = app.node_id().expect("id").parse().expect("key");
    scene.open_channel_to_phone(&devnet, phone_id, None, 1_000_000, &[]);
    wait_until("phone ready", Duration::from_secs(120), || {
        rt.block_on(app.sync()).is_ok()
            && app.balances().map(|b| b.lightning_inbound_sat > 0).unwrap_or(false)
            && app.knows_node(&scene.lsp_b.node_id().to_string()).unwrap_or(false)
    });
    let webhook = WebhookReceiver::start();
    rt.block_on(app.register_for_push("bench".into(), PushTarget::Webhook { url: webhook.url() }))
        .expect("register");
    let offer: ldk_node::lightning::offers::offer::Offer = rt
        .block_on(app.receive_offer(Duration::from_secs(120)))
        .expect("offer")
        .parse()
        .expect("offer");
    rt.block_on(app.stop()).expect("stop");
    drop(app);

    let time_file = dir.path().join("time.txt");
    let prev_wake = std::env::var_os("DOZE_PREV_WAKE_BIN").map(PathBuf::from);
    let mut sides = vec![Side::Engine, Side::Stock];
    if prev_wake.is_some() {
        sides.insert(1, Side::PreviousDoze);
    }
    let bench = Bench {
        scene: &scene,
        devnet: &devnet,
        config: &config,
        offer: &offer,
        phone_id,
        bin_dir: &bin_dir,
        prev_wake,
        time_file,
        interceptions,
    };
    let mut held = 0;
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

/// Which wake a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `doze-wake`: the wake engine.
    Engine,
    /// The previous `doze-wake` (an ldk-node `Node`).
    PreviousDoze,
    /// `ldk-wake`: stock ldk-node.
    Stock,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Engine => "doze_wake_engine",
            Side::PreviousDoze => "doze_wake_previous_ldk_node",
            Side::Stock => "stock_ldk_node",
        }
    }
}

struct Bench<'a> {
    scene: &'a AsyncScene,
    devnet: &'a Devnet,
    config: &'a WalletConfig,
    offer: &'a ldk_node::lightning::offers::offer::Offer,
    phone_id: ldk_node::bitcoin::secp256k1::PublicKey,
    bin_dir: &'a Path,
    prev_wake: Option<PathBuf>,
    time_file: PathBuf,
    interceptions: Arc<Interceptions>,
}

impl Bench<'_> {
    /// `runs` wakes per side, the sides alternating; a JSON summary per side.
    fn phase(&self, name: &str, sides: &[Side], runs: usize, held: &mut u64) -> serde_json::Value {
        let lsp_a = &self.scene.lsp_a;
        let mut samples: Vec<Vec<Sample>> = sides.iter().map(|_| Vec::new()).collect();
        for run_index in 0..runs * sides.len() {
            let side_index = run_index % sides.len();
            let side = sides[side_index];
            AsyncScene::wait_until_offline_at(lsp_a, self.phone_id, DEFAULT_WAIT);
            let sender = self.scene.sender.node_id();
            let before = self.interceptions.from_sender(sender);
            let payment_id = self
                .scene
                .sender
                .bolt12_payment()
                .send_using_amount(self.offer, AMOUNT_MSAT, None, None, None)
                .expect("pay");
            self.interceptions.wait_from_sender(sender, before, DEFAULT_WAIT);
            *held += 1;
            self.scene.wait_for_held_htlcs_at_lsp_b(*held, DEFAULT_WAIT);
            let mut command = Command::new("/usr/bin/time");
            command.args(["-f", "%M", "-o"]).arg(&self.time_file).env("DOZE_MNEMONIC", MNEMONIC);
            let push = ReceivedPush::signed_by(&lsp_a.node());
            let doze_wake = match side {
                Side::Engine => Some(self.bin_dir.join("doze-wake")),
                Side::PreviousDoze => self.prev_wake.clone(),
                Side::Stock => None,
            };
            if let Some(binary) = doze_wake {
                command.arg(binary).args(wake_args(self.config, WAKE_DEADLINE, &push));
            } else {
                command
                    .arg(self.bin_dir.join("ldk-wake"))
                    .arg(Path::new(&self.config.storage_dir).join("node"))
                    .arg(self.devnet.esplora_url())
                    .arg(lsp_a.node_id().to_string())
                    .arg(lsp_a.p2p_address().to_string())
                    .arg("25000");
            }
            let (sample, stdout) = run(command, push.body.as_bytes(), &self.time_file);
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
        let summary = |samples: &[Sample]| {
            json!({
                "runs": samples.len(),
                "paid": samples.iter().filter(|s| s.paid).count(),
                "median_wall_ms": median(samples.iter().map(|s| s.wall_ms).collect()),
                "p90_wall_ms": percentile(samples.iter().map(|s| s.wall_ms).collect(), 0.9),
                "median_peak_rss_mb":
                    median(samples.iter().map(|s| s.max_rss_kb / 1024.0).collect()),
                "max_peak_rss_mb":
                    samples.iter().map(|s| s.max_rss_kb / 1024.0).fold(0.0, f64::max),
                "median_peak_anon_mb_sampled":
                    median(samples.iter().map(|s| s.max_anon_kb / 1024.0).collect()),
                "max_peak_anon_mb_sampled":
                    samples.iter().map(|s| s.max_anon_kb / 1024.0).fold(0.0, f64::max),
            })
        };
        let mut out = serde_json::Map::new();
        for (side, samples) in sides.iter().zip(&samples) {
            out.insert(side.name().to_string(), summary(samples));
        }
        serde_json::Value::Object(out)
    }
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(((values.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}
