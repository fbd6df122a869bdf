//! Wake benchmark: a phone woken in a fresh process to take a held async payment, `doze-wake`
//! beside the same flow on stock ldk-node (`ldk-wake`: build, `start()`, wait for the payment,
//! `stop()`), alternating, on a real devnet scene (sender → LSP-B → LSP-A → phone). Measures
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
//! cargo build --profile release-ffi -p doze-cli --bin doze-wake -p doze-bench --bin ldk-wake
//! cargo build --release -p doze-bench --bin wake
//! DOZE_WAKE_BIN_DIR=target/release-ffi target/release/wake [RUNS_PER_SIDE]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use doze_bench::median;
use doze_core::{ChainSource, LspConfig, Network, PushTarget, Wallet, WalletConfig};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::testing::{AsyncScene, WebhookReceiver};
use doze_lsp::Observers;
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::Event;
use serde_json::json;

const MNEMONIC: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";
const AMOUNT_MSAT: u64 = 10_000_000;

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
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn");
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
        let children = std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children")).unwrap_or_default();
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
    let max_rss_kb = std::fs::read_to_string(time_file).ok().and_then(|t| t.trim().lines().last()?.trim().parse().ok()).unwrap_or(f64::NAN);
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

fn push(scene: &AsyncScene) -> (String, Vec<(String, String)>) {
    let body = serde_json::to_string(&WebhookNotification::onion_message_incoming()).expect("json");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time");
    let timestamp = LSPSDateTime::new_from_duration_since_epoch(now).to_rfc3339();
    let message = format!("LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}");
    let signature = scene.lsp_a.node().sign_message(message.as_bytes());
    (body, vec![("x-lsps5-timestamp".into(), timestamp), ("x-lsps5-signature".into(), signature)])
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bin_dir: PathBuf = match std::env::var_os("DOZE_WAKE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe().expect("exe").parent().expect("dir").to_path_buf(),
    };
    let devnet = Devnet::start().expect("devnet");
    let interceptions = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&interceptions);
    let observers = Observers::new().on_log(move |record| {
        if record.module_path.contains("onion_message") {
            let text = record.args.to_string();
            if text.contains("OnionMessageIntercepted") {
                seen.lock().expect("lock").push(text);
            }
        }
    });
    let scene = AsyncScene::start(&devnet, observers, |_| {});
    let dir = tempfile::tempdir().expect("dir");
    let lsp_a = &scene.lsp_a;
    let config = WalletConfig {
        network: Network::Regtest,
        storage_dir: dir.path().to_string_lossy().into_owned(),
        chain_source: ChainSource::Esplora { url: devnet.esplora_url() },
        lsp: Some(LspConfig { node_id: lsp_a.node_id().to_string(), address: lsp_a.p2p_address().to_string(), token: None, api_url: Some(lsp_a.http_url()) }),
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
    };
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
    rt.block_on(app.register_for_push("bench".into(), PushTarget::Webhook { url: webhook.url() })).expect("register");
    let offer: ldk_node::lightning::offers::offer::Offer = rt.block_on(app.receive_offer(Duration::from_secs(120))).expect("offer").parse().expect("offer");
    rt.block_on(app.stop()).expect("stop");
    drop(app);

    let from_sender = format!("when forwarding peeled onion message from {}", scene.sender.node_id());
    let time_file = dir.path().join("time.txt");
    let mut doze = Vec::new();
    let mut ldk = Vec::new();
    for run_index in 0..runs * 2 {
        AsyncScene::wait_until_offline_at(lsp_a, phone_id, DEFAULT_WAIT);
        let before = interceptions.lock().expect("lock").iter().filter(|t| t.ends_with(&from_sender)).count();
        let payment_id = scene.sender.bolt12_payment().send_using_amount(&offer, AMOUNT_MSAT, None, None, None).expect("pay");
        wait_until("LSP-A holds the sender's held_htlc_available", DEFAULT_WAIT, || {
            interceptions.lock().expect("lock").iter().filter(|t| t.ends_with(&from_sender)).count() > before
        });
        scene.wait_for_held_htlcs_at_lsp_b(run_index as u64 + 1, DEFAULT_WAIT);
        let use_doze = run_index % 2 == 0;
        let mut command = Command::new("/usr/bin/time");
        command.args(["-f", "%M", "-o"]).arg(&time_file).env("DOZE_MNEMONIC", MNEMONIC);
        let (body, headers) = push(&scene);
        if use_doze {
            command.arg(bin_dir.join("doze-wake"))
                .args(["--storage", &config.storage_dir, "--esplora", &devnet.esplora_url()])
                .args(["--lsp-id", &lsp_a.node_id().to_string(), "--lsp-address", &lsp_a.p2p_address().to_string()]);
            for (name, value) in &headers {
                command.args(["--header", &format!("{name}:{value}")]);
            }
        } else {
            command.arg(bin_dir.join("ldk-wake")).arg(dir.path().join("node")).arg(devnet.esplora_url())
                .arg(lsp_a.node_id().to_string()).arg(lsp_a.p2p_address().to_string()).arg("25000");
        }
        let (sample, stdout) = run(command, body.as_bytes(), &time_file);
        let sent = expect_event(&scene.sender, DEFAULT_WAIT, |e| matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. }));
        let ok = matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id);
        eprintln!("run {run_index} {}: {:.0} ms, rss {:.1} MB, anon {:.1} MB, paid {} sender ok {ok} {}", if use_doze { "doze" } else { "ldk-node" }, sample.wall_ms, sample.max_rss_kb / 1024.0, sample.max_anon_kb / 1024.0, sample.paid, stdout.trim());
        if use_doze { doze.push(sample) } else { ldk.push(sample) }
    }
    let summary = |samples: &[Sample]| json!({
        "runs": samples.len(),
        "paid": samples.iter().filter(|s| s.paid).count(),
        "median_wall_ms": median(samples.iter().map(|s| s.wall_ms).collect()),
        "median_peak_rss_mb": median(samples.iter().map(|s| s.max_rss_kb / 1024.0).collect()),
        "median_peak_anon_mb_sampled": median(samples.iter().map(|s| s.max_anon_kb / 1024.0).collect()),
    });
    println!("{}", json!({ "binaries": bin_dir.display().to_string(), "doze_wake": summary(&doze), "stock_ldk_node": summary(&ldk) }));
}
