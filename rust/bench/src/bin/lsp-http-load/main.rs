//! LSP HTTP load benchmark: the reference LSP's HTTP endpoint under a bounded loopback load
//! and under the half-sent-header attack, with the LSP running as a process of its own
//! (`doze-lsp --config <file>` on the embedded devnet) so that its memory is its own
//! (`VmRSS`/`VmHWM` from `/proc/<pid>/status`, sampled every 50 ms).
//!
//! 1. **Mixed load** for `--secs` (20): `--clients` (64) tasks, each one request at a time on a
//!    keep-alive connection: `GET /health`, `GET /v1/lsps2/fees`, a 404 path, valid signed
//!    registrations by 4096 distinct keys without a channel (403) and by `--phones` (1) stock
//!    ldk-node phone with a channel to the LSP (200 until the per-phone bound, then 429),
//!    registrations that are not JSON (400), changed after signing (401) or over the body
//!    limit (413). Every registration carries `X-Forwarded-For` (the config trusts it from
//!    loopback): half from `--hot-sources` (4) addresses, which run out of their allowance
//!    (429), half from 65 536 others, which do not. Reports requests/s overall and by outcome,
//!    p50/p99 latency, and the LSP's RSS before, at peak and after.
//! 2. **Half-sent-header attack**, once per `--attack-conns` entry (900, then 480: over and
//!    under the 512-connection cap): that many connections each send half a request header
//!    and stall. Reports how many the server still holds at the header-read timeout + 1 s
//!    (counted from when all were open; a close is a read returning EOF or a reset), when the
//!    last was closed, the open count and the RSS over time, and `GET /health` on a fresh
//!    connection every 500 ms meanwhile (status, latency).
//! 3. A summary table, the checks of each limit, and the figures as JSON. Exit status 1 if the
//!    server fell over (the process died, or `GET /health` fails after the run), 3 if a limit
//!    did not hold, 2 for a usage error.
//!
//! One phone, because the devnet's LSP is not announced: LDK then builds an async recipient's
//! blinded path through a peer only if that peer is its only one (or in its graph), so with
//! two phones connected every valid registration is answered 500 (`no blinded paths`).
//!
//! The LSP runs with `[http]` from the flags (defaults as in `lsp.example.toml`:
//! `--header-timeout` 10 s, `--max-connections` 512, `--per-source` 30 a minute) and logs at
//! `$DOZE_LSP_LOG` (default info) to a file in the run's directory, kept if the run fails.
//! The `doze-lsp` binary is taken from `--lsp-bin`, `$DOZE_LSP_BIN`, or beside this one; build
//! both with the same profile:
//!
//! ```text
//! cargo build --release -p doze-lsp --bin doze-lsp -p doze-bench --bin lsp-http-load
//! ~/.cache/doze-target/release/lsp-http-load --secs 20
//! ```
//!
//! (`scripts/build` builds the debug pair, `~/.cache/doze-target/debug/lsp-http-load`.) The
//! load's clients share the machine with the LSP: requests/s is what one machine does serving
//! and sending both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_bench::http_load::{
    half_header_attack, mixed_load, read_mem, wait_healthy, AttackReport, Class, Kind, LoadConfig,
    LoadReport, Mem, MemWatch,
};
use doze_devnet::nodes::{TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{devnet_config, LspConfig, Observers};
use doze_testkit::lsp::{open_channel_from_lsp, try_fund_lsp, try_start_lsp};
use ldk_node::bitcoin::Amount;
use ldk_node::Node;

mod report;

use report::{mib, print_summary};

const USAGE: &str = "usage: lsp-http-load [--secs N] [--clients N] [--attack-conns N,N..]
       [--phones N] [--header-timeout SECS] [--max-connections N] [--per-source N]
       [--hot-sources N] [--lsp-bin PATH]";

/// The header the LSP is told to take the client's address from.
const FORWARDED_FOR: &str = "X-Forwarded-For";

/// The run's parameters.
#[derive(Debug, Clone)]
struct Args {
    secs: u64,
    clients: usize,
    attack_conns: Vec<usize>,
    phones: usize,
    header_timeout: u64,
    max_connections: usize,
    per_source: u32,
    hot_sources: u32,
    lsp_bin: Option<PathBuf>,
}

impl Args {
    /// `Ok(None)` asks for the usage text.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut parsed = Args {
            secs: 20,
            clients: 64,
            attack_conns: vec![900, 480],
            phones: 1,
            header_timeout: 10,
            max_connections: 512,
            per_source: 30,
            hot_sources: 4,
            lsp_bin: std::env::var_os("DOZE_LSP_BIN").map(PathBuf::from),
        };
        fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
            let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
            value.parse().map_err(|_| format!("{flag}: `{value}` is not a number"))
        }
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--secs" => parsed.secs = number(&arg, args.next())?,
                "--clients" => parsed.clients = number(&arg, args.next())?,
                "--phones" => parsed.phones = number(&arg, args.next())?,
                "--header-timeout" => parsed.header_timeout = number(&arg, args.next())?,
                "--max-connections" => parsed.max_connections = number(&arg, args.next())?,
                "--per-source" => parsed.per_source = number(&arg, args.next())?,
                "--hot-sources" => parsed.hot_sources = number(&arg, args.next())?,
                "--lsp-bin" => {
                    parsed.lsp_bin = Some(args.next().ok_or("--lsp-bin needs a path")?.into())
                }
                "--attack-conns" => {
                    let list = args.next().ok_or("--attack-conns needs a list")?;
                    parsed.attack_conns = list
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| number(&arg, Some(s.trim().to_string())))
                        .collect::<Result<_, _>>()?;
                }
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        if parsed.secs == 0 || parsed.clients == 0 || parsed.header_timeout == 0 {
            return Err("--secs, --clients and --header-timeout must be at least 1".into());
        }
        Ok(Some(parsed))
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("lsp-http-load: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let work_dir = std::env::temp_dir().join(format!("doze-lsp-http-load-{}", std::process::id()));
    let code = match run(&args, &work_dir) {
        Ok(verdict) => verdict,
        Err(message) => {
            eprintln!("lsp-http-load: {message}");
            1
        }
    };
    if code == 0 {
        let _ = std::fs::remove_dir_all(&work_dir);
    } else {
        eprintln!("lsp-http-load: the run's files (the LSP's log) are in {}", work_dir.display());
    }
    ExitCode::from(code)
}

/// The `doze-lsp` process; killed if still running when dropped.
struct LspProcess {
    child: Option<Child>,
    pid: u32,
}

impl LspProcess {
    fn spawn(bin: &Path, config: &Path, log: &Path) -> Result<LspProcess, String> {
        let log = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let level = std::env::var("DOZE_LSP_LOG").unwrap_or_else(|_| "info".into());
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .env("DOZE_LSP_LOG", level)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot launch {}: {e}", bin.display()))?;
        Ok(LspProcess { pid: child.id(), child: Some(child) })
    }

    /// SIGTERM, then SIGKILL if it has not exited within 30 s; how it ended.
    fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "not running".into();
        };
        if let Ok(Some(status)) = child.try_wait() {
            return format!("had exited ({status})");
        }
        if let Err(e) = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status() {
            eprintln!("lsp-http-load: kill -TERM {}: {e}", self.pid);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) => return format!("stopped on SIGTERM ({status})"),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return format!("cannot wait for it: {e}"),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        "killed: did not stop within 30 s of SIGTERM".into()
    }
}

impl Drop for LspProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where the `doze-lsp` binary is: the flag, else beside this binary.
fn lsp_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(path) = &args.lsp_bin {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let beside = exe.with_file_name("doze-lsp");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(format!(
            "no doze-lsp beside {}: build it with the same profile (cargo build [--release] \
             -p doze-lsp --bin doze-lsp) or name it with --lsp-bin",
            exe.display()
        ))
    }
}

/// Starts the LSP in this process on `config`, funds it, opens a channel to each of `count`
/// new phones and stops it again; the config then names the HTTP port it had.
fn set_up_phones(
    devnet: &Devnet,
    config: &mut LspConfig,
    count: usize,
) -> Result<Vec<TestNode>, String> {
    let wanted = config.clone();
    let storage = config.storage_dir.clone();
    let lsp = try_start_lsp(devnet, &storage, Observers::new(), move |c| *c = wanted)?;
    let funds = Amount::from_sat(500_000 + 250_000 * count as u64);
    try_fund_lsp(devnet, &lsp, funds, DEFAULT_WAIT)?;
    let mut phones = Vec::new();
    for i in 0..count {
        let phone = devnet.try_start_node_with(&format!("phone-{i}"), |_| {})?;
        // ldk-node accepts an anchor channel only with on-chain funds for its reserve.
        devnet.try_fund_node(&phone, Amount::from_sat(100_000), DEFAULT_WAIT)?;
        let address = Some(phone.address.clone());
        open_channel_from_lsp(devnet, &lsp, phone.node_id(), address, 200_000, &[&phone]);
        phones.push(phone);
    }
    *config = lsp.config().clone();
    config.http_listen = lsp.http_addr();
    lsp.stop().map_err(|e| format!("the in-process LSP did not stop: {e}"))?;
    Ok(phones)
}

/// A free loopback port (bound and released).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Runs everything; the exit status.
fn run(args: &Args, work_dir: &Path) -> Result<u8, String> {
    let bin = lsp_binary(args)?;
    std::fs::create_dir_all(work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
    eprintln!("lsp-http-load: {args:?}, doze-lsp {}", bin.display());
    let setup = Instant::now();
    let devnet = Devnet::start().map_err(|e| format!("the devnet did not start: {e}"))?;
    let mut config = devnet_config(&devnet.esplora_url(), &work_dir.join("lsp"));
    config.http.header_read_timeout_secs = args.header_timeout;
    config.http.max_connections = args.max_connections;
    config.http.registrations_per_minute_per_source = args.per_source;
    config.http.forwarded_for_header = Some(FORWARDED_FOR.into());
    let phones = if args.phones > 0 {
        set_up_phones(&devnet, &mut config, args.phones)?
    } else {
        config.http_listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
        Vec::new()
    };
    let config_path = work_dir.join("lsp.toml");
    std::fs::write(&config_path, config.to_toml())
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let mut lsp = LspProcess::spawn(&bin, &config_path, &work_dir.join("lsp.log"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no tokio runtime: {e}"))?;
    let nodes: Vec<_> = phones.iter().map(|p| Arc::clone(&p.node)).collect();
    let result = runtime.block_on(measure(args, &config, lsp.pid, nodes, setup));
    let stopped = lsp.stop();
    for phone in &phones {
        let _ = phone.stop();
    }
    let run = result?;
    print_summary(args, &config, &run, &stopped);
    let fell_over = run.died || run.final_health.is_err();
    let limits_held = run.checks.iter().all(|(_, ok)| *ok);
    Ok(if fell_over {
        1
    } else if !limits_held {
        3
    } else {
        0
    })
}

/// Everything measured.
struct Run {
    pid: u32,
    setup: Duration,
    ready_in: Duration,
    idle: Mem,
    load: LoadReport,
    load_before: Mem,
    load_peak_kib: u64,
    load_end: Mem,
    load_after: Mem,
    attacks: Vec<AttackReport>,
    final_health: Result<Duration, String>,
    final_mem: Option<Mem>,
    died: bool,
    checks: Vec<(String, bool)>,
}

async fn measure(
    args: &Args,
    config: &LspConfig,
    pid: u32,
    phones: Vec<Arc<Node>>,
    setup: Instant,
) -> Result<Run, String> {
    let base = format!("http://{}", config.http_listen);
    let ready_in = wait_healthy(&base, pid, Duration::from_secs(120))
        .await
        .map_err(|e| format!("the LSP process did not come up: {e}"))?;
    let setup = setup.elapsed();
    if !phones.is_empty() {
        if let Err(e) = wait_channels_usable(&base, &phones, Duration::from_secs(60)).await {
            eprintln!("lsp-http-load: warning: {e}; the phones' registrations may fail");
        }
    }
    let idle = read_mem(pid).ok_or("the LSP process is gone")?;
    let mut died = false;

    eprintln!("lsp-http-load: mixed load, {} clients for {} s", args.clients, args.secs);
    let load_before = read_mem(pid).unwrap_or_default();
    let watch = MemWatch::start(pid, Duration::from_millis(50));
    let load = mixed_load(LoadConfig {
        base_url: base.clone(),
        clients: args.clients,
        duration: Duration::from_secs(args.secs),
        forwarded_for: FORWARDED_FOR.into(),
        hot_sources: args.hot_sources,
        stranger_keys: 4096,
        phones,
        oversized_bytes: 2 * config.http.max_body_bytes,
    })
    .await?;
    let (load_peak_kib, vanished) = watch.finish().await;
    died |= vanished;
    let load_end = read_mem(pid).unwrap_or_default();
    let health_after_load = wait_healthy(&base, pid, Duration::from_secs(15)).await;
    let load_after = read_mem(pid).unwrap_or_default();

    let mut attacks = Vec::new();
    let mut health_after_attacks = Vec::new();
    for &connections in &args.attack_conns {
        eprintln!("lsp-http-load: half-sent-header attack, {connections} connections");
        let timeout = Duration::from_secs(args.header_timeout);
        let report = half_header_attack(config.http_listen, &base, pid, connections, timeout).await;
        died |= report.process_died;
        attacks.push(report);
        health_after_attacks.push(wait_healthy(&base, pid, Duration::from_secs(15)).await);
    }
    let final_health = wait_healthy(&base, pid, Duration::from_secs(15)).await;
    let final_mem = read_mem(pid);
    died |= final_mem.is_none();

    let mut checks = Vec::new();
    let mut check = |name: String, ok: bool| checks.push((name, ok));
    let sent = |kind: Kind, hot: Option<bool>| -> u64 {
        Class::ALL.iter().map(|&c| load.count(c, Some(kind), hot)).sum()
    };
    // Of the requests answered (those that failed without an answer have their own check).
    let all = |class: Class, kind: Kind, hot: Option<bool>| {
        load.count(class, Some(kind), hot) + load.count(Class::Error, Some(kind), hot)
            == sent(kind, hot)
    };
    check("mixed load: no request failed without an answer".into(), {
        load.count(Class::Error, None, None) == 0
    });
    check("mixed load: GET /health and /v1/lsps2/fees all 200".into(), {
        all(Class::Ok, Kind::Health, None) && all(Class::Ok, Kind::Fees, None)
    });
    check(
        "mixed load: the unknown path all 404".into(),
        all(Class::NotFound, Kind::NotFound, None),
    );
    check(
        "per-source limit: the hot sources were answered 429".into(),
        load.count(Class::LimitedSource, None, Some(true)) > 0,
    );
    check(
        "per-source limit: the other sources never 429".into(),
        load.count(Class::LimitedSource, None, Some(false)) == 0,
    );
    let allowed = Some(false);
    check(
        "registrations within their source's allowance: bad JSON 400, bad signature 401, \
         no channel 403, oversized 413"
            .into(),
        all(Class::BadRequest, Kind::BadJson, allowed)
            && all(Class::Refused, Kind::BadSignature, allowed)
            && all(Class::Refused, Kind::Stranger, allowed)
            && all(Class::TooLarge, Kind::Oversized, allowed),
    );
    check(
        "mixed load: no answer outside the expected statuses (e.g. 500)".into(),
        load.count(Class::Other, None, None) == 0,
    );
    check("every 429 has Retry-After".into(), load.missing_retry_after == 0);
    check("every error answer is JSON {\"error\"}".into(), load.non_json_errors == 0);
    if args.phones > 0 {
        let bound = u64::from(config.push.max_registrations_per_window);
        let taken: Vec<u64> =
            (0..args.phones).map(|i| *load.phone_ok.get(&i).unwrap_or(&0)).collect();
        check(format!("phones' registrations taken: {taken:?}"), taken.iter().all(|&n| n > 0));
        check(
            format!("per-phone bound: at most {bound} taken per phone"),
            taken.iter().all(|&n| n <= bound),
        );
    }
    check("GET /health answers 200 after the load".into(), health_after_load.is_ok());
    for (attack, health) in attacks.iter().zip(&health_after_attacks) {
        let n = attack.connections;
        check(
            format!("{n} half headers: none held at the header timeout + 1 s"),
            attack.held_at_timeout_plus_1s == Some(0),
        );
        check(format!("{n} half headers: all closed by the server"), {
            attack.all_closed_after.is_some() && attack.connect_failures == 0
        });
        if n < args.max_connections {
            check(
                format!("{n} half headers (under the cap): GET /health 200 throughout"),
                attack.probes.iter().all(|p| p.answer == Ok(200)),
            );
        }
        // A held connection costs its 8 KiB read buffer and its task: 16 KiB a slot is ample.
        let growth = attack.rss_peak_kib.saturating_sub(attack.mem_before.rss_kib);
        let bound = (args.max_connections.min(n) as u64) * 16;
        check(
            format!(
                "{n} half headers: RSS grew {:.1} MiB (< 16 KiB per connection held: {:.1} MiB)",
                mib(growth),
                mib(bound)
            ),
            growth < bound,
        );
        check(format!("{n} half headers: GET /health 200 after"), health.is_ok());
    }
    check("the LSP process is alive and healthy at the end".into(), {
        !died && final_health.is_ok()
    });
    Ok(Run {
        pid,
        setup,
        ready_in,
        idle,
        load,
        load_before,
        load_peak_kib,
        load_end,
        load_after,
        attacks,
        final_health,
        final_mem,
        died,
        checks,
    })
}

/// Waits until the LSP reports a usable channel with each of `phones`.
async fn wait_channels_usable(
    base: &str,
    phones: &[Arc<Node>],
    within: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let wanted: Vec<String> = phones.iter().map(|p| p.node_id().to_string()).collect();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < within {
        match client.get(format!("{base}/v1/channels")).send().await {
            Ok(response) => match response.json::<serde_json::Value>().await {
                Ok(list) => {
                    let usable = |id: &String| {
                        list["channels"].as_array().is_some_and(|channels| {
                            channels.iter().any(|c| {
                                c["counterparty_node_id"].as_str() == Some(id.as_str())
                                    && c["is_usable"].as_bool() == Some(true)
                            })
                        })
                    };
                    if wanted.iter().all(usable) {
                        return Ok(());
                    }
                    last = format!("{list}");
                }
                Err(e) => last = format!("not JSON: {e}"),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the phones' channels are not usable at the LSP within {within:?}: {last}"))
}
