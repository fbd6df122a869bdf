//! LSP capacity benchmark: how many phones the reference LSP (`doze-lsp`: ldk-node in the
//! server role, LSPS2, push registration and dispatch) serves on one machine.
//!
//! 1. **Registrations stored** (`--sizes`, 1000,10000,50000): synthetic phones, each with a
//!    real secp256k1 key, sign registrations that the LSP's own checks verify and its push
//!    store keeps, in SQLite and in PostgreSQL; registrations/s, latency, size on disk and
//!    lookup latency at each size ([`stores`]).
//! 2. **Pushes dispatched per second** (`--push`, 5000 phones per variant): a real `Lsp` on the
//!    devnet with that many synthetic phones registered, each signalled as an interception
//!    would, delivering LSPS5-signed notifications to a loopback gateway: all answered 200;
//!    every 10th phone's first attempt refused (retries); the same phones again within
//!    `min_interval_secs` (rate-limited); a burst of `--burst` (2000) at once against the
//!    queue; and `--burst` phones through a gateway that answers in 50 ms. On the SQLite
//!    store, then on PostgreSQL (the same node restarted) ([`push`]).
//! 3. **Registration latency under that load**: `--phones` (3) stock ldk-node phones with a
//!    channel from the LSP register over HTTP, idle and while part 2's first variant runs.
//! 4. **ChannelManager size and persist time vs channels** (`--channels`, 10,50,100,200): the
//!    LSP opens real channels to the phones; manager size, encode and write time, and the
//!    trend ([`channels`]).
//!
//! The bench's LSP config differs from the defaults in: `push.gateway_url` (the loopback
//! gateway), `push.retry_backoff_ms` = 10, and the per-phone and per-source registration bounds
//! raised (`push.max_registrations_per_window`, `http.registrations_per_minute_per_source`), so
//! that part 3's phones can register again and again.
//!
//! ```text
//! cargo build --release -p doze-bench --bin lsp-capacity
//! $CARGO_TARGET_DIR/release/lsp-capacity [--parts store,push,channels] [--json FILE]
//! ```
//!
//! Prints the tables (markdown) and then the figures as one line of JSON.

mod channels;
mod gateway;
mod pg;
mod push;
mod report;
mod scene;
mod stores;

use std::time::{Duration, Instant};

use doze_lsp::push::PushStore;
use doze_testkit::postgres::Postgres;
use report::HttpLatency;

const USAGE: &str = "usage: lsp-capacity [--parts store,push,channels] [--sizes N,N..] \
                     [--push N] [--burst N] [--phones N] [--channels N,N..] [--json FILE]";

/// The slow gateway's answer time: one across the Internet.
const GATEWAY_RTT_MS: u64 = 50;

/// How long the phones register with no push load, for the baseline.
const IDLE_REGISTRATION: Duration = Duration::from_secs(3);

struct Args {
    parts: Vec<String>,
    sizes: Vec<usize>,
    push: usize,
    burst: usize,
    phones: usize,
    channels: Vec<usize>,
    json: Option<String>,
}

fn list(value: &str) -> Vec<usize> {
    value.split(',').map(|v| v.trim().parse().unwrap_or_else(|_| usage())).collect()
}

/// Prints the usage and exits 2 (a bad or missing flag, or `--help`).
fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}

fn args() -> Args {
    let mut args = Args {
        parts: vec!["store".into(), "push".into(), "channels".into()],
        sizes: vec![1_000, 10_000, 50_000],
        push: 5_000,
        burst: 2_000,
        phones: 3,
        channels: vec![10, 50, 100, 200],
        json: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let Some(value) = given.next() else { usage() };
        let number = |value: &str| value.parse().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--parts" => args.parts = value.split(',').map(str::to_string).collect(),
            "--sizes" => args.sizes = list(&value),
            "--push" => args.push = number(&value),
            "--burst" => args.burst = number(&value),
            "--phones" => args.phones = number(&value),
            "--channels" => args.channels = list(&value),
            "--json" => args.json = Some(value),
            _ => usage(),
        }
    }
    args
}

/// The key the part-1 stores are bound to (a shared PostgreSQL store keys rows by LSP node).
fn bench_lsp_id() -> ldk_node::bitcoin::secp256k1::PublicKey {
    stores::phones("bench-lsp", 1).remove(0).node_id
}

fn part_stores(args: &Args, postgres: &Postgres) -> Vec<stores::SizeStep> {
    let max = args.sizes.iter().copied().max().unwrap_or(0);
    let phones = stores::phones("store", max);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = PushStore::open(dir.path()).expect("a SQLite push store");
    sqlite.bind(bench_lsp_id());
    let mut steps = stores::grow(
        &sqlite,
        "sqlite",
        &stores::Footprint::Sqlite(dir.path()),
        &phones,
        &args.sizes,
    );
    drop(sqlite);
    let url = pg::create_database(&postgres.url(), "capacity_store");
    let store = PushStore::postgres(&url).expect("a PostgreSQL push store");
    store.bind(bench_lsp_id());
    let footprint = stores::Footprint::Postgres(&url);
    steps.extend(stores::grow(&store, "postgres", &footprint, &phones, &args.sizes));
    steps
}

/// Parts 2 and 3 on the scene's LSP, with its push store as it is now (`kind`).
fn part_push(
    args: &Args,
    scene: &scene::Scene,
    gateway: &gateway::Gateway,
    kind: &'static str,
) -> (Vec<push::PushRun>, Vec<HttpLatency>) {
    let lsp = scene.lsp();
    assert_eq!(lsp.push().store().kind(), kind);
    let (steady, retried, burst, far) = (
        stores::phones(&format!("{kind}-steady"), args.push),
        stores::phones(&format!("{kind}-retried"), args.push),
        stores::phones(&format!("{kind}-burst"), args.burst),
        stores::phones(&format!("{kind}-far"), args.burst),
    );
    let t = Instant::now();
    for set in [&steady, &retried, &burst, &far] {
        push::register_synthetic(lsp, set);
    }
    let count = 2 * args.push + 2 * args.burst;
    eprintln!("push: {count} synthetic phones stored in {:?}", t.elapsed());
    let phones: Vec<_> = scene.phones.iter().collect();
    let registrars = push::Registrars::start(&lsp.http_url(), &phones);
    std::thread::sleep(IDLE_REGISTRATION);
    let idle = push::latency(registrars.stop());
    let registrars = push::Registrars::start(&lsp.http_url(), &phones);
    let run = |variant, phones: &[stores::Phone], window, answers| {
        push::run(lsp, gateway, (kind, variant), phones, window, answers)
    };
    let at_once = push::Answers::default();
    let mut runs = vec![run("200 at once", &steady, push::paced(), at_once)];
    let loaded = push::latency(registrars.stop());
    push::check_signed(lsp, gateway);
    let refusing = push::Answers { fail_every: 10, delay_ms: 0 };
    runs.push(run("1st attempt of every 10th refused", &retried, push::paced(), refusing));
    runs.push(run("again within min_interval", &steady, push::paced(), at_once));
    runs.push(run("burst, no pacing", &burst, None, at_once));
    let slow = push::Answers { fail_every: 0, delay_ms: GATEWAY_RTT_MS };
    runs.push(run("gateway answers in 50 ms", &far, push::paced(), slow));
    let http = [("idle", idle), ("during 200-at-once", loaded)]
        .into_iter()
        .map(|(load, (p50_ms, p99_ms, registrations))| HttpLatency {
            store: kind,
            load,
            p50_ms,
            p99_ms,
            registrations,
        })
        .collect();
    (runs, http)
}

fn main() {
    let args = args();
    let started = Instant::now();
    let wants = |part: &str| args.parts.iter().any(|p| p == part);
    let postgres = (wants("store") || wants("push")).then(Postgres::start);
    let stores = match (&postgres, wants("store")) {
        (Some(postgres), true) => part_stores(&args, postgres),
        _ => Vec::new(),
    };
    let (mut pushes, mut http, mut channel_steps) = (Vec::new(), Vec::new(), Vec::new());
    if wants("push") || wants("channels") {
        let gateway = gateway::Gateway::start();
        let mut scene = scene::Scene::start(args.phones, &gateway.url());
        if let (Some(postgres), true) = (&postgres, wants("push")) {
            let (runs, latencies) = part_push(&args, &scene, &gateway, "sqlite");
            pushes.extend(runs);
            http.extend(latencies);
            scene.restart(Some(pg::create_database(&postgres.url(), "capacity_push")));
            let (runs, latencies) = part_push(&args, &scene, &gateway, "postgres");
            pushes.extend(runs);
            http.extend(latencies);
        }
        if wants("channels") {
            channel_steps = channels::grow(&scene, &args.channels);
        }
    }
    let trend = report::trend(&channel_steps);
    report::print(&stores, &pushes, &http, &channel_steps, trend.as_ref());
    let json = serde_json::json!({
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "run_secs": started.elapsed().as_secs_f64(),
        "stores": stores,
        "pushes": pushes,
        "registration_http": http,
        "channels": channel_steps,
        "channels_trend": trend,
    });
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json).expect("JSON"))
            .unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
    println!("\n{json}");
    eprintln!("lsp-capacity: done in {:?}", started.elapsed());
}
