//! Part 4: the LSP's ChannelManager, persisted, as its channel count grows.
//!
//! The LSP opens real channels on the devnet to the few phones (several per phone; LDK takes
//! at most `MAX_UNFUNDED_CHANS_PER_PEER` = 4 unconfirmed inbound channels per peer, so they go
//! in rounds of 4 per phone, a block mined after each round). At each step:
//! - **size**: the `manager` row of ldk-node's SQLite store (`ldk_node_data.sqlite`, table
//!   `ldk_node_data`: `io::sqlite_store::{SQLITE_DB_FILE_NAME, KV_TABLE_NAME}` in ldk-node
//!   0.7.1; empty namespaces, key `manager`), and the monitors' rows beside it;
//! - **encode**: the background processor logs "Persisting ChannelManager..." and then "Done
//!   persisting ChannelManager." at trace level around `ChannelManager::encode()` and the start
//!   of the store's write. With Doze's kill-safe persistence (which the LSP runs), the write is
//!   a persistence round on a blocking task that the processor does not wait for, so the
//!   bracket is the encode (the processor's own bytes, which the round then encodes again and
//!   writes); it is timed from the LSP's log hub, with no change to the LSP;
//! - **write**: the manager's bytes written, the way ldk-node writes them (`INSERT OR REPLACE`
//!   into its table, SQLite's default rollback journal, synchronous writes), to a copy of the
//!   LSP's store file in the same directory.
//!
//! Each step mines blocks (a connected block changes the manager: its best block) and keeps
//! the brackets of the persists that follow.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use doze_bench::{median, percentile};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_lsp::Observers;
use ldk_node::logger::LogRecord;
use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use crate::scene::Scene;

/// Each extra channel's capacity.
const CHANNEL_SATS: u64 = 100_000;

/// Inbound channels a peer takes unconfirmed (LDK's `MAX_UNFUNDED_CHANS_PER_PEER`).
const UNCONFIRMED_PER_PEER: usize = 4;

/// ldk-node's store file in its storage directory (its table is `ldk_node_data`).
const LDK_DB: &str = "ldk_node_data.sqlite";

/// Persists sampled per step.
const SAMPLES: usize = 7;

/// The background processor's records around a manager persist, from the LSP's log hub.
#[derive(Default)]
pub struct PersistProbe {
    started: Mutex<Option<Instant>>,
    samples: Mutex<Vec<f64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl PersistProbe {
    /// A probe with no samples yet.
    pub fn new() -> Arc<PersistProbe> {
        Arc::default()
    }

    /// Observers for `start_lsp` that feed this probe.
    pub fn observers(self: &Arc<Self>) -> Observers {
        let probe = Arc::clone(self);
        Observers::new().on_log(move |record| probe.see(record))
    }

    fn see(&self, record: &LogRecord<'_>) {
        // Only the processor's records are formatted: the hub sees every trace record.
        if !record.module_path.starts_with("lightning_background_processor") {
            return;
        }
        let text = record.args.to_string();
        if text == "Persisting ChannelManager..." {
            *lock(&self.started) = Some(Instant::now());
        } else if text == "Done persisting ChannelManager." {
            if let Some(started) = lock(&self.started).take() {
                lock(&self.samples).push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }

    /// How many persists were seen so far.
    pub fn count(&self) -> usize {
        lock(&self.samples).len()
    }

    /// The durations (ms) of the persists after the first `from`.
    pub fn since(&self, from: usize) -> Vec<f64> {
        lock(&self.samples)[from..].to_vec()
    }
}

/// One step's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStep {
    /// The LSP's channels.
    pub channels: usize,
    /// The stored manager, and all monitors together.
    pub manager_bytes: u64,
    pub monitors_bytes: u64,
    /// The background processor's persist bracket (the encode): median, worst, how many.
    pub encode_p50_ms: f64,
    pub encode_max_ms: f64,
    pub encode_samples: usize,
    /// Writing the manager's bytes as ldk-node does, median.
    pub write_p50_ms: f64,
    /// Seconds it took to open this step's channels and see them usable.
    pub open_secs: f64,
}

/// Grows the LSP's channels to each of `targets` and measures.
pub fn grow(scene: &Scene, targets: &[usize]) -> Vec<ChannelStep> {
    let mut steps = Vec::new();
    for &target in targets {
        let started = Instant::now();
        let lsp = scene.lsp();
        loop {
            let have = lsp.node().list_channels().len();
            if have >= target {
                break;
            }
            // One round: up to 4 per phone, then a block so that they count as confirmed.
            let round = (target - have).min(UNCONFIRMED_PER_PEER * scene.phones.len());
            for i in 0..round {
                scene.open_channel(&scene.phones[i % scene.phones.len()], CHANNEL_SATS, false);
            }
            scene.devnet.mine(1);
            for phone in &scene.phones {
                phone.sync_wallets().expect("a phone syncs");
            }
            eprintln!("channels: {} of {target} opened", have + round);
        }
        scene.devnet.mine(5);
        scene.wait_usable(&format!("{target} channels are usable"), || true);
        let open_secs = started.elapsed().as_secs_f64();
        let from = scene.probe.count();
        for _ in 0..SAMPLES {
            let seen = scene.probe.count();
            scene.devnet.mine(1);
            lsp.sync().expect("the LSP syncs");
            wait_until("the LSP persists its manager after a block", DEFAULT_WAIT, || {
                scene.probe.count() > seen
            });
        }
        let encode = scene.probe.since(from);
        let (manager, monitors) = stored_sizes(scene.storage_dir());
        let step = ChannelStep {
            channels: lsp.node().list_channels().len(),
            manager_bytes: manager.len() as u64,
            monitors_bytes: monitors,
            encode_p50_ms: median(encode.clone()),
            encode_max_ms: percentile(encode.clone(), 1.0),
            encode_samples: encode.len(),
            write_p50_ms: write_time(scene.storage_dir(), &manager),
            open_secs,
        };
        eprintln!("channels: {step:?}");
        steps.push(step);
    }
    steps
}

/// The manager's bytes and the monitors' total size in ldk-node's store under `dir`.
fn stored_sizes(dir: &Path) -> (Vec<u8>, u64) {
    let db = Connection::open_with_flags(
        dir.join(LDK_DB),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("ldk-node's store opens");
    db.busy_timeout(Duration::from_secs(5)).expect("a busy timeout");
    let manager: Vec<u8> = db
        .query_row(
            "SELECT value FROM ldk_node_data WHERE primary_namespace = '' \
             AND secondary_namespace = '' AND key = 'manager'",
            [],
            |row| row.get(0),
        )
        .expect("the manager row");
    let monitors: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM ldk_node_data \
             WHERE primary_namespace = 'monitors'",
            [],
            |row| row.get(0),
        )
        .expect("the monitors' rows");
    (manager, monitors.max(0) as u64)
}

/// The median time (ms) to write `manager` the way ldk-node's `SqliteStore` does, into a copy
/// of the LSP's store file beside it (same disk, same page size and contents).
fn write_time(dir: &Path, manager: &[u8]) -> f64 {
    let copy = dir.join("bench-manager-write.sqlite");
    let _ = std::fs::remove_file(&copy);
    {
        let source = Connection::open(dir.join(LDK_DB)).expect("ldk-node's store");
        source.busy_timeout(Duration::from_secs(5)).expect("a busy timeout");
        source
            .execute("VACUUM INTO ?1", params![copy.to_string_lossy()])
            .expect("a copy of ldk-node's store");
    }
    let db = Connection::open(&copy).expect("the copy opens");
    let mut times = Vec::new();
    for _ in 0..SAMPLES {
        let t = Instant::now();
        db.execute(
            "INSERT OR REPLACE INTO ldk_node_data \
             (primary_namespace, secondary_namespace, key, value) VALUES ('', '', 'manager', ?1)",
            params![manager],
        )
        .expect("the manager is written");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(db);
    let _ = std::fs::remove_file(&copy);
    median(times)
}

/// A least-squares line through `(x, y)`: (intercept, slope).
pub fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}
