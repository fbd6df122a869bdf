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

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_bench::keyspace::{Keyspace, DOZE_STORE_ID};
use doze_bench::{median, percentile};
use doze_core::{
    BackupAuth, BackupConfig, ChannelState, EventListener, Network, Wallet, WalletConfig,
    WalletEvent, WalletEventKind, WordCount,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::latency_proxy::LatencyProxy;
use doze_testkit::lsp::open_channel_from_lsp;
use doze_testkit::Scene;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::config::{AnchorChannelsConfig, AsyncPaymentsRole, Config, EsploraSyncConfig};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::io;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::util::async_poll::AsyncResult;
use ldk_node::lightning::util::persist::{KVStore, KVStoreSync};
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::{Event, Node};
use serde_json::{json, Value};
use tempfile::TempDir;

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

/// A Doze wallet's events as its listener got them, with when.
#[derive(Default)]
struct TimedEvents {
    events: Mutex<Vec<(Instant, WalletEvent)>>,
    changed: Condvar,
}

impl EventListener for TimedEvents {
    fn on_event(&self, event: WalletEvent) {
        let at = Instant::now();
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push((at, event));
        self.changed.notify_all();
    }
}

impl TimedEvents {
    /// When the first event `wanted` picks arrived (waiting for it), and the event.
    fn wait(
        &self,
        what: &str,
        wanted: impl Fn(&WalletEventKind) -> bool,
    ) -> (Instant, WalletEvent) {
        self.wait_unless(what, &AtomicBool::new(false), wanted)
            .unwrap_or_else(|| unreachable!("nothing cancels it"))
    }

    /// [`TimedEvents::wait`], given up (`None`) once `cancel` is set.
    fn wait_unless(
        &self,
        what: &str,
        cancel: &AtomicBool,
        wanted: impl Fn(&WalletEventKind) -> bool,
    ) -> Option<(Instant, WalletEvent)> {
        let deadline = Instant::now() + DEFAULT_WAIT;
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((at, event)) = events.iter().find(|(_, e)| wanted(&e.kind)) {
                return Some((*at, event.clone()));
            }
            if cancel.load(Ordering::SeqCst) {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            events = self
                .changed
                .wait_timeout(events, left.min(CANCEL_CHECK))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// When `node`'s next event that `wanted` picks came off its queue (before `event_handled`,
/// which persists the queue), and the event. Every event on the way is marked handled.
fn stock_event(node: &Node, what: &str, wanted: impl Fn(&Event) -> bool) -> (Instant, Event) {
    stock_event_unless(node, what, &AtomicBool::new(false), wanted)
        .unwrap_or_else(|| unreachable!("nothing cancels it"))
}

/// [`stock_event`], given up (`None`) once `cancel` is set.
fn stock_event_unless(
    node: &Node,
    what: &str,
    cancel: &AtomicBool,
    wanted: impl Fn(&Event) -> bool,
) -> Option<(Instant, Event)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime to wait for events");
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        // In slices, to see `cancel`.
        let slice = left.min(CANCEL_CHECK);
        let Ok(event) =
            runtime.block_on(async { tokio::time::timeout(slice, node.next_event_async()).await })
        else {
            continue;
        };
        let at = Instant::now();
        node.event_handled().expect("event_handled");
        if wanted(&event) {
            return Some((at, event));
        }
    }
}

/// How often a cancellable wait looks at its flag.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

fn description() -> Bolt11InvoiceDescription {
    Bolt11InvoiceDescription::Direct(Description::new("bench".into()).expect("a description"))
}

/// Where a phone keeps its node's state.
#[derive(Clone)]
enum Store {
    Local,
    /// A VSS server at this URL (the server itself or a proxy in front of it).
    Remote(String),
}

/// How a start went: its total and, for stock ldk-node, its parts.
struct StartTiming {
    total_ms: f64,
    parts: Vec<(&'static str, f64)>,
}

/// A phone of either kind.
enum Phone {
    Doze(DozePhone),
    Stock(StockPhone),
}

struct DozePhone {
    config: WalletConfig,
    mnemonic: String,
    wallet: Option<Wallet>,
    events: Arc<TimedEvents>,
    rt: tokio::runtime::Runtime,
    dir: TempDir,
}

struct StockPhone {
    mnemonic: ldk_node::bip39::Mnemonic,
    store: Store,
    esplora: String,
    lsp_id: PublicKey,
    lsp_address: SocketAddress,
    node: Option<Node>,
    dir: TempDir,
    /// With a local store: every write the node makes, by object (see [`CountingStore`]).
    writes: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// ldk-node's own SQLite store (what `Builder::build` opens), counting every write and remove
/// by object: what the node asks of its store, which a backed-up store sends to the server
/// (all but the objects Doze keeps local: graph, scores, metrics).
struct CountingStore {
    inner: SqliteStore,
    writes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CountingStore {
    fn count(&self, primary: &str, key: &str) {
        // Monitor updates are named by their channel's monitor: one name for all of them.
        let object = if primary.is_empty() { key } else { primary };
        *self.writes.lock().unwrap_or_else(|p| p.into_inner()).entry(object.into()).or_default() +=
            1;
    }
}

impl KVStoreSync for CountingStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&self.inner, primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        self.count(primary, key);
        KVStoreSync::write(&self.inner, primary, secondary, key, buf)
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        self.count(primary, key);
        KVStoreSync::remove(&self.inner, primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&self.inner, primary, secondary)
    }
}

impl KVStore for CountingStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let result = KVStoreSync::read(self, primary, secondary, key);
        Box::pin(async move { result })
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let result = KVStoreSync::write(self, primary, secondary, key, buf);
        Box::pin(async move { result })
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let result = KVStoreSync::remove(self, primary, secondary, key, lazy);
        Box::pin(async move { result })
    }

    fn list(&self, primary: &str, secondary: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let result = KVStoreSync::list(self, primary, secondary);
        Box::pin(async move { result })
    }
}

impl DozePhone {
    fn new(scene: &Scene, store: &Store) -> DozePhone {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = scene.phone_config(dir.path());
        if let Store::Remote(url) = store {
            config.backup = Some(BackupConfig { url: url.clone() });
        }
        let mnemonic = doze_core::generate_mnemonic(WordCount::Words12).to_string();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let mut phone =
            DozePhone { config, mnemonic, wallet: None, events: Arc::default(), rt, dir };
        phone.start();
        phone
    }

    fn wallet(&self) -> &Wallet {
        self.wallet.as_ref().expect("the wallet runs")
    }

    fn start(&mut self) -> StartTiming {
        let started = Instant::now();
        let wallet = Wallet::new(self.config.clone(), &self.mnemonic, None).expect("the wallet");
        wallet.set_event_listener(self.events.clone());
        self.rt.block_on(wallet.start()).expect("the wallet starts");
        self.wallet = Some(wallet);
        StartTiming { total_ms: ms(started.elapsed()), parts: Vec::new() }
    }

    fn stop(&mut self) {
        if let Some(wallet) = self.wallet.take() {
            self.rt.block_on(wallet.stop()).expect("the wallet stops");
        }
    }

    /// Starts on a new, empty directory: a restore from the backup.
    fn restore(&mut self) -> StartTiming {
        self.stop();
        self.dir = tempfile::tempdir().expect("a temporary directory");
        self.config.storage_dir = self.dir.path().to_string_lossy().into_owned();
        self.start()
    }
}

impl StockPhone {
    fn new(scene: &Scene, store: &Store, writes: Arc<Mutex<BTreeMap<String, u64>>>) -> StockPhone {
        let lsp = scene.lsp_config();
        let mut phone = StockPhone {
            mnemonic: doze_core::generate_mnemonic(WordCount::Words12),
            store: store.clone(),
            esplora: scene.devnet.esplora_url(),
            lsp_id: PublicKey::from_str(&lsp.node_id).expect("the LSP's id"),
            lsp_address: SocketAddress::from_str(&lsp.address).expect("the LSP's address"),
            node: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            writes,
        };
        phone.start();
        phone
    }

    fn node(&self) -> &Node {
        self.node.as_ref().expect("the node runs")
    }

    /// The node Doze would build, stock.
    fn build(&self, dir: &Path) -> Node {
        let config = Config {
            network: ldk_node::bitcoin::Network::Regtest,
            storage_dir_path: dir.to_string_lossy().into_owned(),
            anchor_channels_config: Some(AnchorChannelsConfig {
                trusted_peers_no_reserve: vec![self.lsp_id],
                ..AnchorChannelsConfig::default()
            }),
            ..Config::default()
        };
        let mut builder = ldk_node::Builder::from_config(config);
        builder.set_chain_source_esplora(
            self.esplora.clone(),
            Some(EsploraSyncConfig { background_sync_config: None }),
        );
        builder.set_entropy_bip39_mnemonic(self.mnemonic.clone(), None);
        builder.set_log_facade_logger();
        builder.set_gossip_source_p2p();
        builder.set_liquidity_source_lsps2(self.lsp_id, self.lsp_address.clone(), None);
        builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
        match &self.store {
            Store::Local => {
                let inner = SqliteStore::new(
                    dir.to_path_buf(),
                    Some(SQLITE_DB_FILE_NAME.into()),
                    Some(KV_TABLE_NAME.into()),
                )
                .expect("the node's store");
                let writes = Arc::clone(&self.writes);
                builder.build_with_store(Arc::new(CountingStore { inner, writes }))
            }
            Store::Remote(url) => {
                let auth =
                    BackupAuth::from_mnemonic(&self.mnemonic.to_string(), None, Network::Regtest)
                        .expect("the backup key");
                builder.build_with_vss_store_and_header_provider(
                    url.clone(),
                    STOCK_STORE_ID.into(),
                    Arc::new(auth),
                )
            }
        }
        .expect("the stock node builds")
    }

    fn start(&mut self) -> StartTiming {
        let started = Instant::now();
        let node = self.build(self.dir.path());
        let built = started.elapsed();
        node.start().expect("the stock node starts");
        let node_started = started.elapsed();
        node.connect(self.lsp_id, self.lsp_address.clone(), true).expect("connects to the LSP");
        let connected = started.elapsed();
        node.sync_wallets().expect("the stock node syncs");
        let total = started.elapsed();
        self.node = Some(node);
        StartTiming {
            total_ms: ms(total),
            parts: vec![
                ("build", ms(built)),
                ("start", ms(node_started - built)),
                ("connect", ms(connected - node_started)),
                ("sync", ms(total - connected)),
            ],
        }
    }

    fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop().expect("the stock node stops");
        }
    }

    fn restore(&mut self) -> StartTiming {
        self.stop();
        self.dir = tempfile::tempdir().expect("a temporary directory");
        self.start()
    }
}

impl Phone {
    fn node_id(&self) -> PublicKey {
        match self {
            Phone::Doze(p) => p.wallet().node_id().expect("node id").parse().expect("a key"),
            Phone::Stock(p) => p.node().node_id(),
        }
    }

    fn sync(&self) {
        match self {
            Phone::Doze(p) => p.rt.block_on(p.wallet().sync()).expect("the wallet syncs"),
            Phone::Stock(p) => p.node().sync_wallets().expect("the node syncs"),
        }
    }

    fn has_usable_channel(&self) -> bool {
        match self {
            Phone::Doze(p) => p
                .wallet()
                .list_channels()
                .expect("channels")
                .iter()
                .any(|c| c.state == ChannelState::Usable),
            Phone::Stock(p) => p.node().list_channels().iter().any(|c| c.is_usable),
        }
    }

    /// A BOLT11 invoice of this phone and its payment hash (hex).
    fn invoice(&self, amount_msat: u64) -> (Bolt11Invoice, String) {
        let invoice: Bolt11Invoice = match self {
            Phone::Doze(p) => {
                let invoice = p
                    .rt
                    .block_on(p.wallet().receive_bolt11(Some(amount_msat), "bench".into(), 3600))
                    .expect("the phone's invoice");
                assert!(!invoice.via_jit_channel, "the phone's channel takes it");
                invoice.bolt11.parse().expect("an invoice")
            }
            Phone::Stock(p) => p
                .node()
                .bolt11_payment()
                .receive(amount_msat, &description(), 3600)
                .expect("the stock phone's invoice"),
        };
        let hash = invoice.payment_hash().to_string();
        (invoice, hash)
    }

    /// When this phone had the payment with hash `hash` (hex).
    fn received(&self, hash: &str, who: &str, cancel: &AtomicBool) -> Option<Instant> {
        let at = match self {
            Phone::Doze(p) => p
                .events
                .wait_unless(&format!("{who}: PaymentReceived"), cancel, |e| {
                    matches!(e, WalletEventKind::PaymentReceived { payment_hash, .. }
                            if payment_hash == hash)
                })
                .map(|(at, _)| at),
            Phone::Stock(p) => {
                stock_event_unless(p.node(), &format!("{who}: PaymentReceived"), cancel, |e| {
                    matches!(e, Event::PaymentReceived { payment_hash, .. }
                        if payment_hash.0.to_lower_hex_string() == hash)
                })
                .map(|(at, _)| at)
            }
        };
        at
    }

    /// The phone's channels and its LSP connection, for a failure's message.
    fn state(&self) -> String {
        match self {
            Phone::Doze(p) => format!("channels {:?}", p.wallet().list_channels()),
            Phone::Stock(p) => format!(
                "peers {:?}, channels usable {:?}",
                p.node().list_peers().iter().map(|x| x.is_connected).collect::<Vec<_>>(),
                p.node().list_channels().iter().map(|c| c.is_usable).collect::<Vec<_>>()
            ),
        }
    }

    /// Pays `invoice`; when the phone learnt it was paid, or why it failed.
    fn pay(&self, invoice: &Bolt11Invoice) -> Result<Instant, String> {
        match self {
            Phone::Doze(p) => {
                let id =
                    p.rt.block_on(p.wallet().pay_bolt11(&invoice.to_string(), None))
                        .map_err(|e| e.to_string())?;
                let (at, event) = p.events.wait("the payment's outcome", |e| match e {
                    WalletEventKind::PaymentSent { payment_id, .. }
                    | WalletEventKind::PaymentFailed { payment_id, .. } => *payment_id == id,
                    _ => false,
                });
                match event.kind {
                    WalletEventKind::PaymentSent { .. } => Ok(at),
                    other => Err(format!("{other:?}")),
                }
            }
            Phone::Stock(p) => {
                let id =
                    p.node().bolt11_payment().send(invoice, None).map_err(|e| e.to_string())?;
                let (at, event) = stock_event(p.node(), "the payment's outcome", |e| match e {
                    Event::PaymentSuccessful { payment_id, .. }
                    | Event::PaymentFailed { payment_id, .. } => *payment_id == Some(id),
                    _ => false,
                });
                match event {
                    Event::PaymentSuccessful { .. } => Ok(at),
                    other => Err(format!("{other:?}")),
                }
            }
        }
    }

    fn stop(&mut self) {
        match self {
            Phone::Doze(p) => p.stop(),
            Phone::Stock(p) => p.stop(),
        }
    }

    fn start(&mut self) -> StartTiming {
        match self {
            Phone::Doze(p) => p.start(),
            Phone::Stock(p) => p.start(),
        }
    }

    fn restore(&mut self) -> StartTiming {
        match self {
            Phone::Doze(p) => p.restore(),
            Phone::Stock(p) => p.restore(),
        }
    }
}

/// What a phone had asked of its stores at one point: the Doze backup's global version, the
/// requests through its proxy by path, its local store's writes by object (`stock_local`).
type Snapshot = (Option<i64>, BTreeMap<String, u64>, Option<BTreeMap<String, u64>>);

/// The objects Doze's backed-up store keeps local only (`backup/store.rs`, `is_local_only`).
const DOZE_LOCAL_ONLY: [&str; 4] =
    ["network_graph", "scorer", "external_pathfinding_scores_cache", "node_metrics"];

/// One configuration of the bench: its phones (taking turns) and what was measured of them.
struct Bench {
    name: &'static str,
    phones: Vec<Phone>,
    /// The phone whose turn it is.
    turn: usize,
    store: Store,
    /// Each phone's keyspace on the server, if the store is remote.
    keyspaces: Vec<Keyspace>,
    /// `stock_local`: its phones' store writes by object.
    writes: Option<Arc<Mutex<BTreeMap<String, u64>>>>,
    /// The proxy in front of the server, if this phone's store goes through one.
    proxy: Option<Arc<LatencyProxy>>,
    samples: BTreeMap<&'static str, Vec<f64>>,
    start_parts: BTreeMap<&'static str, Vec<f64>>,
    restore_parts: BTreeMap<&'static str, Vec<f64>>,
    /// Per phase: the global version's moves and the proxy's requests.
    remote: BTreeMap<&'static str, Value>,
    /// Payments that failed (not measured): which way, which phone, why.
    failures: Vec<String>,
}

impl Bench {
    fn record(&mut self, what: &'static str, value: f64) {
        self.samples.entry(what).or_default().push(value);
    }

    /// Records a failed payment (said at once, with the phone's state; not measured).
    fn failed(&mut self, way: &str, who: &str, turn: usize, why: String) {
        let state = self.phones[turn].state();
        eprintln!("{who}: a {way} failed: {why}; {state}");
        self.failures.push(format!("{way} by phone {turn}: {why}"));
    }

    /// The index of the phone whose turn it is, and moves the turn on.
    fn next(&mut self) -> usize {
        let index = self.turn % self.phones.len();
        self.turn += 1;
        index
    }

    fn doze(&self) -> bool {
        matches!(self.phones.first(), Some(Phone::Doze(_)))
    }

    fn snapshot(&self) -> Snapshot {
        // Only Doze's writes move the global version on; stock ldk-node's do not.
        let version = (self.doze() && !self.keyspaces.is_empty()).then(|| {
            self.keyspaces
                .iter()
                .map(|k| k.global_version().expect("the backup's global version"))
                .sum()
        });
        let requests = self.proxy.as_ref().map(|p| p.requests()).unwrap_or_default();
        let writes =
            self.writes.as_ref().map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).clone());
        (version, requests, writes)
    }

    /// Records what the phone asked of the server between `before` (a [`Bench::snapshot`])
    /// and now, over `count` operations of `phase`.
    fn account(&mut self, phase: &'static str, before: Snapshot, count: usize) {
        if self.proxy.is_none() && before.0.is_none() && before.2.is_none() {
            return;
        }
        let (version, requests, writes) = self.snapshot();
        let per = |n: f64| round(n / count.max(1) as f64 * 100.0) / 100.0;
        let mut entry = serde_json::Map::new();
        entry.insert("operations".into(), json!(count));
        if let (Some(after), Some(before)) = (version, before.0) {
            entry.insert("doze_writes".into(), json!(after - before));
            entry.insert("doze_writes_per_operation".into(), json!(per((after - before) as f64)));
        }
        if self.proxy.is_some() {
            let mut by_path = serde_json::Map::new();
            for (path, n) in &requests {
                let n = n - before.1.get(path).copied().unwrap_or(0);
                if n > 0 {
                    by_path
                        .insert(path.clone(), json!({"total": n, "per_operation": per(n as f64)}));
                }
            }
            entry.insert("proxied_requests".into(), Value::Object(by_path));
        }
        if let (Some(after), Some(before)) = (writes, before.2) {
            let (mut all, mut backed_up) = (0, 0);
            let mut by_object = serde_json::Map::new();
            for (object, n) in &after {
                let n = n - before.get(object).copied().unwrap_or(0);
                if n > 0 {
                    all += n;
                    if !DOZE_LOCAL_ONLY.contains(&object.as_str()) {
                        backed_up += n;
                    }
                    by_object.insert(object.clone(), json!(per(n as f64)));
                }
            }
            entry.insert("store_writes_per_operation".into(), json!(per(all as f64)));
            entry.insert(
                "of_which_doze_would_back_up_per_operation".into(),
                json!(per(backed_up as f64)),
            );
            entry.insert("store_writes_per_operation_by_object".into(), Value::Object(by_object));
        }
        self.remote.insert(phase, Value::Object(entry));
    }

    fn summary(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("phones".into(), json!(self.phones.len()));
        out.insert(
            "store".into(),
            json!(match (&self.store, &self.proxy) {
                (Store::Local, _) => "local SQLite".to_string(),
                (Store::Remote(_), None) => "VSS on loopback".to_string(),
                (Store::Remote(_), Some(p)) =>
                    format!("VSS through a proxy adding {} ms each way", p.one_way().as_millis()),
            }),
        );
        for (what, samples) in &self.samples {
            out.insert(what.to_string(), stats(samples));
        }
        for (prefix, parts) in [("start", &self.start_parts), ("restore", &self.restore_parts)] {
            if !parts.is_empty() {
                let parts: serde_json::Map<_, _> =
                    parts.iter().map(|(k, v)| (k.to_string(), stats(v))).collect();
                out.insert(format!("{prefix}_parts"), Value::Object(parts));
            }
        }
        if !self.remote.is_empty() {
            out.insert("remote".into(), json!(self.remote));
        }
        out.insert("failed_payments".into(), json!(self.failures));
        Value::Object(out)
    }
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
