//! Backup benchmark: what the remote store costs a phone's payments and starts, Doze beside
//! stock ldk-node, in one run on one devnet scene (devnet, Doze LSP, stock merchant with an
//! announced channel to the LSP; `doze_testkit::Scene`) and one backup server (PostgreSQL and
//! LDK's `vss-server` on loopback; `doze_testkit::backup_server`). Six configurations run side
//! by side, each with phones of its own (own recovery phrases) with 200 000 sat channels the
//! LSP opened to them (each phone first receives 10 000 sat, to be above its channel reserve):
//!
//! | configuration | node | store |
//! | --- | --- | --- |
//! | `doze_local` | Doze `Wallet` | ldk-node's SQLite store, no backup |
//! | `doze_backup_loopback` | Doze `Wallet` | `backup: Some(BackupConfig { url })`, loopback |
//! | `doze_backup_rtt100` | Doze `Wallet` | the same through a `LatencyProxy` (+50 ms each way) |
//! | `stock_local` | stock ldk-node `Node` | `build()`: its SQLite store |
//! | `stock_vss_loopback` | stock ldk-node `Node` | ldk-node's `VssStore` (see below), loopback |
//! | `stock_vss_rtt100` | stock ldk-node `Node` | the same through its own `LatencyProxy` |
//!
//! The stock VSS phones are built with `build_with_vss_store_and_header_provider`, signed in
//! with Doze's `BackupAuth` of their own phrase, in a keyspace of their own.
//!
//! Each configuration is one phone; `DOZE_BENCH_PAYMENTS_PER_PHONE=<n>` spreads its payments
//! over as many phones as it takes for none to make more than `n`, the phones taking turns.
//! A payment is about five monitor updates of the phone's channel; at the 100th, LDK's
//! `MonitorUpdatingPersister` writes the whole monitor and deletes the range of update objects
//! (101 deletes, two of objects never written), which a phone's 20th payment or so crosses.
//! (Before 929d01e this ended a Doze backed-up wallet: the server answers the delete of a
//! missing object with a conflict, which the store took for another device's takeover.)
//!
//! The stock phones are configured as Doze configures its node (LSPS2 client of the LSP, the
//! LSP trusted for the anchor reserve, async-payments client, background sync off, logs to the
//! `log` facade, which nothing here prints).
//!
//! Measured, the phones taking turns payment by payment (after `WARMUP` unmeasured payments
//! each way):
//! - **receive**: the merchant pays a phone's BOLT11 invoice of 1 000 sat: from the merchant's
//!   `send` to the phone's `PaymentReceived` (Doze: the listener's event; stock: the event
//!   taken from the queue, before `event_handled`), and to the merchant's `PaymentSuccessful`;
//! - **send**: the phone pays a merchant invoice of 1 000 sat: from the call (`pay_bolt11`,
//!   `bolt11_payment().send`) to `PaymentSent` / `PaymentSuccessful`, and to the merchant's
//!   `PaymentReceived`;
//! - **start**: stop, then `Wallet::new` + `Wallet::start()` (which takes the lock, opens the
//!   store and its backup, builds and starts the node, waits for the LSP connection and syncs
//!   the chain); stock: `build` + `start` + `connect(LSP)` + `sync_wallets`, the same work;
//! - **restore** (remote stores only): the same start on a new, empty directory. Doze downloads
//!   the backup into a local store and takes the wallet over; stock ldk-node keeps nothing
//!   locally, so its restore is its start on an empty directory;
//! - **remote requests**: the server's global version of each Doze backup (every Doze write is
//!   one put that moves it on by one) before and after each phase, and the HTTP requests
//!   through each proxy by path, per payment; and what a payment writes, by object: the
//!   `stock_local` phone's store is ldk-node's SQLite store behind a counting wrapper.
//!
//! Prints JSON with the median, p90, min and max of every measure per phone.
//!
//! ```text
//! cargo build --release -p doze-bench --bin backup
//! target/release/backup [PAYMENTS_PER_DIRECTION (20)] [RESTARTS (5)] [RESTORES (3)]
//! ```
//!
//! The wallets' warnings and errors go to stderr (stock ldk-node's too: both log through the
//! `log` facade); `DOZE_BENCH_LOG=1` adds their own account of their starts and restores.
//!
//! Here: the run and its phases; `phone.rs` the two kinds of phone, `bench.rs` a
//! configuration's phones and samples, `events.rs` waiting for and timing events,
//! `counting_store.rs` the stock phone's counted store.

mod bench;
mod counting_store;
mod events;
mod phone;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_bench::keyspace::{Keyspace, DOZE_STORE_ID};
use doze_bench::{median, percentile};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::latency_proxy::LatencyProxy;
use doze_testkit::lsp::open_channel_from_lsp;
use doze_testkit::Scene;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::{Event, Node};
use serde_json::{json, Value};

use bench::Bench;
use events::{stock_event, stock_event_unless};
use phone::{DozePhone, Phone, StockPhone, Store};

/// Each payment, both ways.
const AMOUNT_MSAT: u64 = 1_000_000;
/// Unmeasured payments each way before the measured ones (connections, caches, routes).
const WARMUP: usize = 2;
/// The channel the LSP opens to each phone (all on the LSP's side at first).
const PHONE_CHANNEL_SAT: u64 = 200_000;
/// What each phone receives before the bench, to be above its channel reserve.
const SETUP_RECEIVE_MSAT: u64 = 10_000_000;
/// The delay the proxies add each way: a 100 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(50);
/// The stock phones' keyspace.
const STOCK_STORE_ID: &str = "stock-regtest";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(samples: &[f64]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    json!({
        "runs": samples.len(),
        "median_ms": round(median(samples.to_vec())),
        "p90_ms": round(percentile(samples.to_vec(), 0.9)),
        "min_ms": round(samples.iter().copied().fold(f64::INFINITY, f64::min)),
        "max_ms": round(samples.iter().copied().fold(0.0, f64::max)),
    })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn description() -> Bolt11InvoiceDescription {
    Bolt11InvoiceDescription::Direct(Description::new("bench".into()).expect("a description"))
}

/// Prints the wallets' warnings and errors (a failed backup write shows there first) and,
/// with `DOZE_BENCH_LOG=1`, their accounts of their starts and restores.
struct BenchLog {
    starts: bool,
}

impl doze_core::LogListener for BenchLog {
    fn log(&self, entry: doze_core::LogEntry) {
        let start =
            entry.message.starts_with("wallet started") || entry.message.starts_with("backup:");
        let problem = matches!(entry.level, doze_core::LogLevel::Error | doze_core::LogLevel::Warn);
        if problem || (self.starts && start) {
            eprintln!("    [{:?} {}] {}", entry.level, entry.target, entry.message);
        }
    }
}

fn main() {
    let starts = std::env::var_os("DOZE_BENCH_LOG").is_some();
    let level = if starts { doze_core::LogLevel::Info } else { doze_core::LogLevel::Warn };
    doze_core::init_logging(level, Arc::new(BenchLog { starts }));
    let arg = |i: usize, default: usize| {
        std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    let (payments, restarts, restores) = (arg(1, 20), arg(2, 5), arg(3, 3));
    let began = Instant::now();
    let scene = Scene::new();
    let server = BackupServer::start();
    let (server_url, server_addr) = (server.url(), server.addr());
    let _server = doze_bench::server::stop_on_panic(server);
    let doze_proxy = Arc::new(LatencyProxy::start(server_addr, ONE_WAY));
    let stock_proxy = Arc::new(LatencyProxy::start(server_addr, ONE_WAY));
    eprintln!("scene and backup server up in {:?}", began.elapsed());

    let direct = Store::Remote(server_url.clone());
    let setups: [(&'static str, bool, Store, Option<Arc<LatencyProxy>>); 6] = [
        ("doze_local", true, Store::Local, None),
        ("stock_local", false, Store::Local, None),
        ("doze_backup_loopback", true, direct.clone(), None),
        ("stock_vss_loopback", false, direct, None),
        (
            "doze_backup_rtt100",
            true,
            Store::Remote(doze_proxy.url(&server_url)),
            Some(Arc::clone(&doze_proxy)),
        ),
        (
            "stock_vss_rtt100",
            false,
            Store::Remote(stock_proxy.url(&server_url)),
            Some(Arc::clone(&stock_proxy)),
        ),
    ];
    // One phone per configuration, or as many as `DOZE_BENCH_PAYMENTS_PER_PHONE` asks.
    let per_config = std::env::var("DOZE_BENCH_PAYMENTS_PER_PHONE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(1, |per_phone| (2 * (WARMUP + payments)).div_ceil(per_phone.max(1)));
    let mut benches: Vec<Bench> = setups
        .into_iter()
        .map(|(name, doze, store, proxy)| {
            let writes = (!doze && matches!(store, Store::Local)).then(Arc::default);
            let mut phones = Vec::new();
            let mut keyspaces = Vec::new();
            for _ in 0..per_config {
                let started = Instant::now();
                let phone = if doze {
                    Phone::Doze(DozePhone::new(&scene, &store))
                } else {
                    Phone::Stock(StockPhone::new(
                        &scene,
                        &store,
                        writes.clone().unwrap_or_default(),
                    ))
                };
                eprintln!("{name}: a phone's first start in {:?}", started.elapsed());
                let keyspace = match (&phone, &store) {
                    (Phone::Doze(p), Store::Remote(_)) => {
                        Some(Keyspace::new(&server_url, DOZE_STORE_ID, &p.mnemonic))
                    }
                    (Phone::Stock(p), Store::Remote(_)) => {
                        Some(Keyspace::new(&server_url, STOCK_STORE_ID, &p.mnemonic.to_string()))
                    }
                    (_, Store::Local) => None,
                };
                keyspaces.extend(keyspace.map(|k| k.expect("the phone's keyspace")));
                phones.push(phone);
            }
            Bench {
                name,
                phones,
                turn: 0,
                store,
                keyspaces,
                writes,
                proxy,
                samples: BTreeMap::new(),
                start_parts: BTreeMap::new(),
                restore_parts: BTreeMap::new(),
                remote: BTreeMap::new(),
                failures: Vec::new(),
            }
        })
        .collect();

    // Channels: the LSP opens one to each phone over the phone's connection.
    for bench in &mut benches {
        let before = bench.snapshot();
        for phone in &bench.phones {
            let id = phone.node_id();
            open_channel_from_lsp(&scene.devnet, &scene.lsp, id, None, PHONE_CHANNEL_SAT, &[]);
            wait_until(&format!("{}'s channel is usable", bench.name), DEFAULT_WAIT, || {
                phone.sync();
                phone.has_usable_channel()
            });
        }
        bench.account("channel_open", before, bench.phones.len());
    }
    // Every channel opened mined blocks: everyone to the tip (a payment whose sender or
    // recipient believes an old height is refused for its timelocks).
    scene.merchant.sync_wallets().expect("the merchant syncs");
    scene.lsp.sync().expect("the LSP syncs");
    for phone in benches.iter().flat_map(|b| &b.phones) {
        phone.sync();
    }
    eprintln!("channels usable after {:?}", began.elapsed());

    // Warm-up, then the measured payments, the phones taking turns payment by payment.
    let merchant = &scene.merchant;
    let phase = |benches: &mut Vec<Bench>,
                 name: &'static str,
                 rounds: usize,
                 step: &dyn Fn(&mut Bench, bool)| {
        let before: Vec<_> = benches.iter().map(Bench::snapshot).collect();
        for _ in 0..rounds {
            for bench in benches.iter_mut() {
                step(bench, !name.starts_with("warmup"));
            }
        }
        for (bench, before) in benches.iter_mut().zip(before) {
            bench.account(name, before, rounds);
        }
        eprintln!("{name}: {rounds} round(s) done after {:?}", began.elapsed());
    };
    let receive =
        |bench: &mut Bench, measured: bool| receive_one(merchant, bench, AMOUNT_MSAT, measured);
    // Above the channel reserve (1 % of the channel) first, so that what the phones then
    // receive they can send back.
    for bench in &mut benches {
        for _ in 0..bench.phones.len() {
            receive_one(merchant, bench, SETUP_RECEIVE_MSAT, false);
        }
    }
    let send = |bench: &mut Bench, measured: bool| send_one(&scene, bench, measured);
    phase(&mut benches, "warmup_receives", WARMUP, &receive);
    phase(&mut benches, "receives", payments, &receive);
    // The first payment out may find no route until the phone has the merchant's channel
    // from the LSP's gossip.
    for bench in &benches {
        for phone in &bench.phones {
            let mut last_error = String::new();
            wait_until(
                &format!("{} can pay the merchant", bench.name),
                DEFAULT_WAIT,
                || match phone.pay(&merchant_invoice(&scene)) {
                    Ok(_) => true,
                    Err(e) => {
                        if e != last_error {
                            eprintln!("{}: cannot pay the merchant yet: {e}", bench.name);
                            last_error = e;
                        }
                        false
                    }
                },
            );
        }
    }
    phase(&mut benches, "warmup_sends", WARMUP, &send);
    phase(&mut benches, "sends", payments, &send);

    phase(&mut benches, "restarts", restarts, &|bench: &mut Bench, _| {
        let phone = bench.next();
        bench.phones[phone].stop();
        let timing = bench.phones[phone].start();
        bench.record("start", timing.total_ms);
        for (part, value) in timing.parts {
            bench.start_parts.entry(part).or_default().push(value);
        }
    });
    let mut remote: Vec<Bench> = Vec::new();
    let mut local: Vec<Bench> = Vec::new();
    for bench in benches {
        match bench.store {
            Store::Remote(_) => remote.push(bench),
            Store::Local => local.push(bench),
        }
    }
    phase(&mut remote, "restores", restores, &|bench: &mut Bench, _| {
        let phone = bench.next();
        let timing = bench.phones[phone].restore();
        bench.record("restore", timing.total_ms);
        for (part, value) in timing.parts {
            bench.restore_parts.entry(part).or_default().push(value);
        }
    });
    // The phones still pay after their restarts and restores (which brought the channel back).
    for bench in &remote {
        for phone in &bench.phones {
            wait_until(&format!("{} pays after its restore", bench.name), DEFAULT_WAIT, || {
                phone.has_usable_channel() && phone.pay(&merchant_invoice(&scene)).is_ok()
            });
        }
    }

    let mut keyspaces = serde_json::Map::new();
    for bench in &remote {
        let counts: Vec<_> = bench
            .keyspaces
            .iter()
            .map(|k| {
                let (objects, pages) = k.count().expect("the keyspace's objects");
                json!({"objects": objects, "list_pages": pages})
            })
            .collect();
        keyspaces.insert(bench.name.into(), json!(counts));
    }
    let mut phones = serde_json::Map::new();
    for bench in local.iter().chain(&remote) {
        phones.insert(bench.name.into(), bench.summary());
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "payments_per_direction": payments,
            "warmup_payments_per_direction": WARMUP,
            "amount_msat": AMOUNT_MSAT,
            "restarts": restarts,
            "restores": restores,
            "phones_per_configuration": per_config,
            "injected_rtt_ms": ms(ONE_WAY * 2),
            "phones": phones,
            "backup_keyspaces_at_the_end": keyspaces,
            "wall_s": began.elapsed().as_secs(),
        }))
        .expect("JSON")
    );
    eprintln!("{}", table(local.iter().chain(&remote)));
    for bench in local.iter_mut().chain(&mut remote) {
        for phone in &mut bench.phones {
            phone.stop();
        }
    }
}

/// The medians (p90) of the main measures, one row per phone, as a Markdown table.
fn table<'a>(benches: impl Iterator<Item = &'a Bench>) -> String {
    let columns = [
        ("merchant pays: phone has it", "receive_phone_received"),
        ("merchant pays: merchant knows", "receive_merchant_successful"),
        ("phone pays: phone knows", "send_payment_sent"),
        ("start", "start"),
        ("restore", "restore"),
    ];
    let mut out = String::from("| phone (median / p90 ms) |");
    for (title, _) in columns {
        out.push_str(&format!(" {title} |"));
    }
    out.push_str(" Doze writes per payment in / out | failed payments |\n|---|");
    out.push_str(&"---|".repeat(columns.len() + 2));
    for bench in benches {
        out.push_str(&format!("\n| {} |", bench.name));
        for (_, key) in columns {
            match bench.samples.get(key) {
                Some(v) => out.push_str(&format!(
                    " {:.0} / {:.0} |",
                    median(v.clone()),
                    percentile(v.clone(), 0.9)
                )),
                None => out.push_str(" – |"),
            }
        }
        let per = |phase: &str| {
            bench.remote.get(phase).and_then(|r| r.get("doze_writes_per_operation").cloned())
        };
        match (per("receives"), per("sends")) {
            (Some(i), Some(o)) => out.push_str(&format!(" {i} / {o} |")),
            _ => out.push_str(" – |"),
        }
        out.push_str(&format!(" {} |", bench.failures.len()));
    }
    out
}

fn merchant_invoice(scene: &Scene) -> Bolt11Invoice {
    scene.merchant_invoice(AMOUNT_MSAT).parse().expect("the merchant's invoice")
}

/// The merchant pays the phone once; measured: until the phone has it, until the merchant
/// knows.
fn receive_one(merchant: &Node, bench: &mut Bench, amount_msat: u64, measured: bool) {
    let turn = bench.next();
    let phone = &bench.phones[turn];
    let (invoice, hash) = phone.invoice(amount_msat);
    let sent_at = Instant::now();
    let id = merchant.bolt11_payment().send(&invoice, None).expect("the merchant pays");
    let who = format!("{} phone {turn}", bench.name);
    let cancel = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let received = s.spawn(|| phone.received(&hash, &who, &cancel));
        let (merchant_at, outcome) = stock_event(merchant, "the merchant's outcome", |e| match e {
            Event::PaymentSuccessful { payment_id, .. }
            | Event::PaymentFailed { payment_id, .. } => *payment_id == Some(id),
            _ => false,
        });
        if !matches!(outcome, Event::PaymentSuccessful { .. }) {
            cancel.store(true, Ordering::SeqCst);
            let _ = received.join();
            return Err(format!("the merchant's payment failed: {outcome:?}"));
        }
        let received_at = received.join().expect("the phone's wait").expect("not cancelled");
        Ok((received_at, merchant_at))
    });
    let (received_at, merchant_at) = match result {
        Ok(times) => times,
        Err(why) => return bench.failed("receive", &who, turn, why),
    };
    if measured {
        bench.record("receive_phone_received", ms(received_at - sent_at));
        bench.record("receive_merchant_successful", ms(merchant_at - sent_at));
    }
}

/// The phone pays the merchant once; measured: until the phone knows, until the merchant has
/// it.
fn send_one(scene: &Scene, bench: &mut Bench, measured: bool) {
    let invoice = merchant_invoice(scene);
    let hash = invoice.payment_hash().to_string();
    let merchant = &scene.merchant;
    let turn = bench.next();
    let phone = &bench.phones[turn];
    let who = format!("{} phone {turn}", bench.name);
    let cancel = AtomicBool::new(false);
    let (sent, merchant_at, started) = std::thread::scope(|s| {
        let merchant_received = s.spawn(|| {
            stock_event_unless(merchant, "the merchant's PaymentReceived", &cancel, |e| {
                matches!(e, Event::PaymentReceived { payment_hash, .. }
                    if payment_hash.0.to_lower_hex_string() == hash)
            })
            .map(|(at, _)| at)
        });
        let started = Instant::now();
        let sent = phone.pay(&invoice);
        if sent.is_err() {
            cancel.store(true, Ordering::SeqCst);
        }
        let merchant_at = merchant_received.join().expect("the merchant's wait");
        (sent, merchant_at, started)
    });
    let sent_at = match sent {
        Ok(at) => at,
        Err(why) => return bench.failed("send", &who, turn, why),
    };
    if measured {
        bench.record("send_payment_sent", ms(sent_at - started));
        if let Some(at) = merchant_at {
            bench.record("send_merchant_received", ms(at - started));
        }
    }
}
