//! Fills a wallet storage directory with the mainnet-size fixture (`doze_bench::fixture`) and
//! measures, in a fresh process, what its graph costs once read (as ldk-node's `build()` reads
//! it) and how long building the address book from it takes. Prints JSON.
//!
//! `cargo run --release -p doze-bench --bin mainnet-fixture -- DIR [PAYMENTS] [NETWORK]`
//! (NETWORK: regtest (default), signet, testnet, bitcoin). A fresh DIR works too.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use doze_bench::fixture::{decode_graph, fill_mainnet_store, open_node_store, read_graph_bytes};
use doze_bench::median;
use ldk_node::bitcoin::Network;
use serde_json::json;

/// This process's anonymous resident memory (kB), from /proc/self/status.
fn rss_anon_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Run in a process of its own, so that what the fill allocated and freed does not hide what
/// reading the graph costs.
fn measure(dir: &Path) -> serde_json::Value {
    let store = open_node_store(dir).expect("node store");
    let before_kb = rss_anon_kb();
    let t = Instant::now();
    let bytes = read_graph_bytes(&store).expect("read").expect("a graph in the store");
    let read_ms = ms(t);
    let bytes_kb = rss_anon_kb();
    let t = Instant::now();
    let graph = decode_graph(&bytes).expect("decode");
    let decode_ms = ms(t);
    let graph_kb = rss_anon_kb();
    let graph_bytes = bytes.len();
    drop(bytes);
    let dropped_kb = rss_anon_kb();

    let refresh: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            doze_core::refresh_address_book(dir, &graph.read_only()).expect("refresh");
            ms(t)
        })
        .collect();
    // What a wake pays for one address: open the database, read one row.
    let lookup_id = graph
        .read_only()
        .nodes()
        .unordered_iter()
        .find(|(_, n)| {
            n.announcement_info.as_ref().is_some_and(|a| {
                a.features().supports_onion_messages() && !a.addresses().is_empty()
            })
        })
        .map(|(id, _)| id.as_slice().to_vec())
        .expect("a node with addresses");
    let lookups: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let conn = rusqlite::Connection::open(dir.join("doze.sqlite")).expect("open");
            let text: String = conn
                .query_row(
                    "SELECT addresses FROM node_addresses WHERE node_id = ?1",
                    [&lookup_id],
                    |r| r.get(0),
                )
                .expect("row");
            assert!(!text.is_empty());
            ms(t)
        })
        .collect();
    json!({
        "graph_bytes": graph_bytes,
        "read_from_store_ms": read_ms,
        "decode_ms": decode_ms,
        "rss_anon_kb": {
            "before": before_kb,
            "bytes_read": bytes_kb,
            "graph_decoded": graph_kb,
            "bytes_dropped": dropped_kb,
        },
        "graph_once_read_mb": (dropped_kb.saturating_sub(before_kb)) as f64 / 1024.0,
        "refresh_address_book_ms": { "first": refresh[0], "median_of_5": median(refresh.clone()) },
        "address_book_open_and_lookup_ms_median_of_21": median(lookups),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        let dir = args.get(2).expect("--measure DIR");
        println!("{}", measure(Path::new(dir)));
        return;
    }
    let dir = args.get(1).expect("usage: mainnet-fixture DIR [PAYMENTS] [NETWORK]");
    let payments: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let network = match args.get(3).map(String::as_str).unwrap_or("regtest") {
        "bitcoin" => Network::Bitcoin,
        "testnet" => Network::Testnet,
        "signet" => Network::Signet,
        _ => Network::Regtest,
    };
    let t = Instant::now();
    let stats = fill_mainnet_store(Path::new(dir), network, payments).expect("fixture");
    let fill_ms = ms(t);
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe).arg("--measure").arg(dir).output().expect("measure");
    assert!(out.status.success(), "measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let measured: serde_json::Value = serde_json::from_slice(&out.stdout).expect("measure JSON");
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({ "fill_ms": fill_ms, "store": stats.to_json(), "read_back": measured })
        )
        .expect("json")
    );
}
