//! The wallet's lifecycle: created with a recovery phrase, started (taking the storage lock and
//! building the node), stopped (stopping the node and releasing the lock), restartable.
//!
//! The node is built only while the storage lock is held: ldk-node's `build()` reads the channel
//! state from disk, and state read while another process runs the node would be stale.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldk_node::bip39::Mnemonic;
use ldk_node::config::{
    AnchorChannelsConfig, AsyncPaymentsRole, BackgroundSyncConfig, Config, ElectrumSyncConfig,
    EsploraSyncConfig,
};
use ldk_node::{DynStore, Node};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::address_book::AddressBook;
use crate::backup::{BackedUpStore, Opener};
use crate::config::{ChainSource, ParsedLsp, WalletConfig};
use crate::connect::connect_alongside;
use crate::error::WalletError;
use crate::events::{from_node_event, EventListener, WalletEvent, WalletEventKind};
use crate::history::History;
use crate::lock::StorageLock;
use crate::logging::LdkLogForwarder;
use crate::mnemonic::parse_mnemonic;
use crate::payments::reconcile;
use crate::store::WalletDb;

/// Where a wallet is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum LifecycleState {
    /// Created, never started.
    Created,
    /// The node runs; payments can be made and received.
    Running,
    /// Stopped; `start()` runs it again.
    Stopped,
}

struct Running {
    node: Arc<Node>,
    /// The node's store when it is backed up: checked at each sync for a takeover.
    backup: Option<Arc<BackedUpStore>>,
    pump: Option<EventPump>,
    _lock: StorageLock,
}

/// The task delivering events, and how to stop it between two events.
struct EventPump {
    task: JoinHandle<()>,
    shutdown: Arc<tokio::sync::Notify>,
    finished: std::sync::mpsc::Receiver<()>,
}

/// How long `stop()` lets the listener finish the event it is processing.
const PUMP_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

enum State {
    Created,
    Running(Running),
    Stopped,
}

pub(crate) struct Inner {
    pub(crate) config: WalletConfig,
    pub(crate) lsp: Option<ParsedLsp>,
    additional_lsps: Vec<ParsedLsp>,
    pub(crate) mnemonic: Mnemonic,
    pub(crate) passphrase: Option<String>,
    state: Mutex<State>,
    listener: Mutex<Option<Arc<dyn EventListener>>>,
}

/// A Lightning wallet. Cheap to share between threads; every method is safe to call at any
/// time and answers [`WalletError::NotRunning`] when it needs a running node.
pub struct Wallet {
    pub(crate) inner: Arc<Inner>,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints the recovery phrase.
        f.debug_struct("Wallet").field("storage_dir", &self.inner.config.storage_dir).finish()
    }
}

impl Wallet {
    /// Creates (or restores: it is the same thing) a wallet from a recovery phrase the app
    /// holds. Checks the phrase and the configuration; touches neither disk nor network.
    pub fn new(
        config: WalletConfig,
        mnemonic: &str,
        passphrase: Option<String>,
    ) -> Result<Wallet, WalletError> {
        let mnemonic = parse_mnemonic(mnemonic)?;
        let lsps = config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("doze")
            .enable_all()
            .build()
            .map_err(|e| WalletError::Node(format!("cannot start the wallet's runtime: {e}")))?;
        let inner = Inner {
            config,
            lsp: lsps.primary,
            additional_lsps: lsps.additional,
            mnemonic,
            passphrase,
            state: Mutex::new(State::Created),
            listener: Mutex::new(None),
        };
        Ok(Wallet { inner: Arc::new(inner), runtime: Some(runtime) })
    }

    /// Sets the listener that receives [`WalletEvent`]s. Set it before `start()`: node events
    /// wait in the persisted queue until a listener has taken them.
    pub fn set_event_listener(&self, listener: Arc<dyn EventListener>) {
        *lock(&self.inner.listener) = Some(listener);
    }

    /// The lifecycle state.
    pub fn state(&self) -> LifecycleState {
        match &*lock(&self.inner.state) {
            State::Created => LifecycleState::Created,
            State::Running(_) => LifecycleState::Running,
            State::Stopped => LifecycleState::Stopped,
        }
    }

    /// Starts the node: takes the storage lock ([`WalletError::StorageLocked`] if another
    /// process runs this wallet), builds and starts ldk-node, connects to the LSP and starts
    /// delivering events.
    pub async fn start(&self) -> Result<(), WalletError> {
        let handle = self.runtime_handle()?;
        self.blocking(move |inner| inner.start(handle)).await
    }

    /// Stops the node cleanly and releases the storage lock.
    pub async fn stop(&self) -> Result<(), WalletError> {
        self.blocking(|inner| inner.stop()).await
    }

    /// Syncs the on-chain wallet and the channels with the chain source, and brings the
    /// history up to date with what the on-chain wallet saw: receives, sends, and the funds of
    /// closed channels arriving on-chain, each pending until confirmed. A transaction the
    /// wallet broadcasts during the sync (a sweep of a force-closed channel's funds) shows at
    /// the next sync; until then [`Wallet::balances`] counts it as pending.
    pub async fn sync(&self) -> Result<(), WalletError> {
        self.blocking(|inner| inner.sync()).await
    }

    /// This wallet's Lightning node id (hex).
    pub fn node_id(&self) -> Result<String, WalletError> {
        Ok(self.inner.node()?.node_id().to_string())
    }

    /// Runs blocking node work on the wallet's runtime; the returned future can be awaited
    /// from any executor (a Swift/Kotlin one included).
    pub(crate) async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<R, WalletError> + Send + 'static,
    ) -> Result<R, WalletError> {
        let inner = Arc::clone(&self.inner);
        let handle = self.runtime_handle()?;
        handle
            .spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| WalletError::Node(format!("wallet task failed: {e}")))?
    }

    /// Runs a future on the wallet's runtime (HTTP and timers need tokio); awaitable from any
    /// executor.
    pub(crate) async fn on_runtime<F>(&self, future: F) -> Result<F::Output, WalletError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime_handle()?
            .spawn(future)
            .await
            .map_err(|e| WalletError::Node(format!("wallet task failed: {e}")))
    }

    pub(crate) fn runtime_handle(&self) -> Result<tokio::runtime::Handle, WalletError> {
        self.runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| WalletError::Node("the wallet's runtime is gone".into()))
    }
}

impl Drop for Wallet {
    fn drop(&mut self) {
        if let Err(e) = self.inner.stop() {
            if e != WalletError::NotRunning {
                log::warn!("stopping the wallet on drop failed: {e}");
            }
        }
        // Dropping a runtime from inside an async context panics; this never waits.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// The running node, or [`WalletError::NotRunning`].
    pub(crate) fn node(&self) -> Result<Arc<Node>, WalletError> {
        match &*lock(&self.state) {
            State::Running(running) => Ok(Arc::clone(&running.node)),
            _ => Err(WalletError::NotRunning),
        }
    }

    pub(crate) fn storage_dir(&self) -> PathBuf {
        PathBuf::from(&self.config.storage_dir)
    }

    /// Takes the storage lock, builds and starts the node, connects to the LSPs and starts
    /// delivering events (those a wake kept for the app first).
    fn start(&self, runtime: tokio::runtime::Handle) -> Result<(), WalletError> {
        let mut state = lock(&self.state);
        if matches!(*state, State::Running(_)) {
            return Err(WalletError::AlreadyRunning);
        }
        let started = Instant::now();
        let storage_lock = StorageLock::try_acquire(&self.storage_dir())?;
        match crate::node_payments::prune_settled(&self.storage_dir()) {
            Ok(0) => {}
            Ok(removed) => log::info!("removed {removed} settled payments from the node's store"),
            Err(e) => log::warn!("settled payments not pruned from the node's store: {e}"),
        }
        let pruned = started.elapsed();
        let (node, backup) = self.build_node(runtime.clone())?;
        let node = Arc::new(node);
        let built = started.elapsed();
        node.start()?;
        let node_started = started.elapsed();
        self.reconcile_history(&node);
        let reconciled = started.elapsed();
        let (dir, graph_node) = (self.storage_dir(), Arc::clone(&node));
        runtime.spawn_blocking(move || refresh_address_book(&dir, &graph_node));
        // Connections are persisted: ldk-node reconnects on its own after a disconnect. An
        // unreachable LSP costs a 10 s connect timeout, and one that accepts the connection
        // but never answers would hold `connect` for good. So every LSP connects on a thread
        // of its own; start() waits for the primary LSP only (receiving through it needs the
        // connection), and for at most `PRIMARY_LSP_CONNECT_WAIT`.
        for lsp in &self.additional_lsps {
            connect_alongside(&node, lsp, true, log::Level::Warn);
        }
        if let Some(done) =
            self.lsp.as_ref().and_then(|lsp| connect_alongside(&node, lsp, true, log::Level::Warn))
        {
            if done.recv_timeout(PRIMARY_LSP_CONNECT_WAIT).is_err() {
                log::warn!(
                    "the LSP did not answer within {} s; starting without it",
                    PRIMARY_LSP_CONNECT_WAIT.as_secs()
                );
            }
        }
        if !self.config.background_sync {
            // Without the timer nobody else brings the node to the chain tip, and a node that
            // believes an old height builds payments whose timelocks the recipient refuses.
            if let Err(e) = node.sync_wallets() {
                log::warn!("initial chain sync failed (will retry on sync()): {e}");
            }
        }
        let listener = lock(&self.listener).clone();
        let pump = listener.map(|listener| {
            let shutdown = Arc::new(tokio::sync::Notify::new());
            let (done, finished) = std::sync::mpsc::channel();
            let db = WalletDb::open(&self.storage_dir());
            let history = History::open(&self.storage_dir());
            let task = runtime.spawn(pump_events(
                Arc::clone(&node),
                listener,
                db,
                history,
                Arc::clone(&shutdown),
                done,
            ));
            EventPump { task, shutdown, finished }
        });
        log::info!(
            "wallet started in {} ms (node {}; lock and pruning {} ms, build {} ms, \
             node start {} ms, history {} ms)",
            started.elapsed().as_millis(),
            node.node_id(),
            pruned.as_millis(),
            (built - pruned).as_millis(),
            (node_started - built).as_millis(),
            (reconciled - node_started).as_millis(),
        );
        *state =
            State::Running(Running { node: Arc::clone(&node), backup, pump, _lock: storage_lock });
        Ok(())
    }

    /// Brings the payment history up to date with the node; a failure only delays it.
    pub(crate) fn reconcile_history(&self, node: &Node) {
        let result = History::open(&self.storage_dir()).and_then(|mut h| reconcile(node, &mut h));
        if let Err(e) = result {
            log::warn!("payment history not updated: {e}");
        }
    }

    /// Rewrites the address book a wake routes its onion messages with from the node's graph
    /// (see `address_book.rs`); a failure only means a wake goes through the LSP.
    pub(crate) fn refresh_address_book(&self, node: &Node) {
        refresh_address_book(&self.storage_dir(), node);
    }

    /// Records that a wake ran this wallet's channels and ended: a wallet never started is
    /// now stopped (a running one is left as it is).
    pub(crate) fn woke(&self) {
        let mut state = lock(&self.state);
        if matches!(*state, State::Created) {
            *state = State::Stopped;
        }
    }

    /// The listener the app set, if any.
    pub(crate) fn listener(&self) -> Option<Arc<dyn EventListener>> {
        lock(&self.listener).clone()
    }

    /// Whether this wallet object runs its node now.
    pub(crate) fn is_running(&self) -> bool {
        matches!(*lock(&self.state), State::Running(_))
    }

    pub(crate) fn stop(&self) -> Result<(), WalletError> {
        let mut state = lock(&self.state);
        let running = match std::mem::replace(&mut *state, State::Stopped) {
            State::Running(running) => running,
            other => {
                *state = other;
                return Err(WalletError::NotRunning);
            }
        };
        if let Some(pump) = running.pump {
            // Let the event in hand be processed and marked handled; a listener that does not
            // return in time is cut off, and its event is delivered again on the next start.
            pump.shutdown.notify_one();
            if pump.finished.recv_timeout(PUMP_STOP_GRACE).is_err() {
                log::warn!(
                    "the event listener did not return in time; its event will be redelivered"
                );
            }
            pump.task.abort();
        }
        // The last graph the app had, for the wakes that come while it is away.
        self.refresh_address_book(&running.node);
        let result = running.node.stop().map_err(WalletError::from);
        log::info!("wallet stopped");
        result
    }

    fn sync(&self) -> Result<(), WalletError> {
        let node = self.node()?;
        // A phone that lost the wallet to another device stops before it writes anything.
        self.check_backup_holder()?;
        let listener = lock(&self.listener).clone();
        let notify = |kind: WalletEventKind| {
            if let Some(l) = &listener {
                let id = format!(
                    "sync:{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                );
                l.on_event(WalletEvent { id, kind });
            }
        };
        notify(WalletEventKind::SyncStarted);
        match node.sync_wallets() {
            Ok(()) => {
                // ldk-node records the on-chain wallet's transactions in its payment store as
                // it syncs, but tells no event about them.
                self.reconcile_history(&node);
                self.refresh_address_book(&node);
                notify(WalletEventKind::SyncCompleted);
                Ok(())
            }
            Err(e) => {
                let error = WalletError::from(e);
                notify(WalletEventKind::SyncFailed { message: error.to_string() });
                Err(error)
            }
        }
    }

    fn build_node(
        &self,
        runtime: tokio::runtime::Handle,
    ) -> Result<(Node, Option<Arc<BackedUpStore>>), WalletError> {
        let mut config = Config::default();
        config.network = self.config.network.to_bitcoin();
        config.storage_dir_path =
            crate::node_payments::node_dir(&self.storage_dir()).to_string_lossy().into_owned();
        if self.lsp.is_some() || !self.additional_lsps.is_empty() {
            // LSPs open our channels and we have no on-chain funds to reserve for anchor fee
            // bumps of channels we did not fund; trust them for that. (Zero-conf trust goes
            // to the primary LSP only, through LSPS2.)
            config.anchor_channels_config = Some(AnchorChannelsConfig {
                trusted_peers_no_reserve: self
                    .lsp
                    .iter()
                    .chain(&self.additional_lsps)
                    .map(|l| l.node_id)
                    .collect(),
                ..AnchorChannelsConfig::default()
            });
        }
        let mut builder = ldk_node::Builder::from_config(config);
        builder.set_runtime(runtime);
        builder.set_entropy_bip39_mnemonic(self.mnemonic.clone(), self.passphrase.clone());
        builder.set_custom_logger(Arc::new(LdkLogForwarder));
        // Monitor writes after the manager's (Doze's ldk-node patch, vendor/ldk-node): an app
        // killed at any instant leaves no channel for LDK to force-close at the next start.
        builder.set_kill_safe_persistence(true);
        let background = self.config.background_sync.then(BackgroundSyncConfig::default);
        match &self.config.chain_source {
            ChainSource::Esplora { url } => {
                builder.set_chain_source_esplora(
                    url.clone(),
                    Some(EsploraSyncConfig { background_sync_config: background }),
                );
            }
            ChainSource::Electrum { url } => {
                builder.set_chain_source_electrum(
                    url.clone(),
                    Some(ElectrumSyncConfig { background_sync_config: background }),
                );
            }
        }
        match &self.config.rgs_url {
            Some(url) => builder.set_gossip_source_rgs(url.clone()),
            None => builder.set_gossip_source_p2p(),
        };
        if let Some(lsp) = &self.lsp {
            builder.set_liquidity_source_lsps2(lsp.node_id, lsp.address.clone(), lsp.token.clone());
        }
        builder
            .set_async_payments_role(Some(AsyncPaymentsRole::Client))
            .map_err(|e| WalletError::InvalidConfig(e.to_string()))?;
        let cannot_open = |e| WalletError::Storage(format!("cannot open the node: {e}"));
        match &self.config.backup {
            None => Ok((builder.build().map_err(cannot_open)?, None)),
            Some(backup) => {
                let store = Arc::new(crate::backup::open(
                    &crate::node_payments::node_dir(&self.storage_dir()),
                    backup,
                    &self.mnemonic,
                    self.passphrase.as_deref(),
                    self.config.network,
                    Opener::App,
                )?);
                let node = builder
                    .build_with_store(Arc::clone(&store) as Arc<DynStore>)
                    .map_err(cannot_open)?;
                Ok((node, Some(store)))
            }
        }
    }

    /// The backed-up store of the running node, if it has one.
    fn backup(&self) -> Option<Arc<BackedUpStore>> {
        match &*lock(&self.state) {
            State::Running(running) => running.backup.clone(),
            _ => None,
        }
    }

    /// Stops the node if another device took the wallet over (see `backup`), so that this one
    /// writes nothing more, and says so.
    fn check_backup_holder(&self) -> Result<(), WalletError> {
        let Some(store) = self.backup() else { return Ok(()) };
        match crate::backup::check_holder(&store) {
            Err(WalletError::WalletMoved) => {
                log::error!("another device took this wallet over; stopping it here");
                let _ = self.stop();
                Err(WalletError::WalletMoved)
            }
            other => other,
        }
    }
}

/// How long `start()` waits for the connection to the primary LSP.
const PRIMARY_LSP_CONNECT_WAIT: Duration = Duration::from_secs(12);

/// Delivers node events to the listener one at a time, marking each handled only after the
/// listener returned, and skipping events the app was already given (ldk-node can replay them).
async fn pump_events(
    node: Arc<Node>,
    listener: Arc<dyn EventListener>,
    db: Result<WalletDb, WalletError>,
    history: Result<History, WalletError>,
    shutdown: Arc<tokio::sync::Notify>,
    finished: std::sync::mpsc::Sender<()>,
) {
    let mut history = history.map_err(|e| log::warn!("payment history not kept: {e}")).ok();
    let _finished = DropSignal(finished);
    let db = match db {
        Ok(db) => Some(db),
        Err(e) => {
            log::error!("events may be delivered twice: {e}");
            None
        }
    };
    // Events a wake kept for the app (see `outbox.rs`) come first, oldest first, each once.
    let kept = db.as_ref().map(|db| db.outbox()).transpose().unwrap_or_else(|e| {
        log::warn!("events kept by a wake not delivered now: {e}");
        None
    });
    for event in kept.unwrap_or_default() {
        let id = event.id.clone();
        if !db.as_ref().is_some_and(|db| db.was_delivered(&id).unwrap_or(false)) {
            let listener = Arc::clone(&listener);
            if tokio::task::spawn_blocking(move || listener.on_event(event)).await.is_err() {
                log::error!("the event listener panicked; the event will be delivered again");
                return;
            }
        }
        if let Some(Err(e)) = db.as_ref().map(|db| db.outbox_delivered(&id)) {
            log::warn!("{e}");
        }
    }
    loop {
        let event = tokio::select! {
            event = node.next_event_async() => event,
            _ = shutdown.notified() => return,
        };
        if let Some(wallet_event) = from_node_event(&event) {
            let payment_event = matches!(
                wallet_event.kind,
                WalletEventKind::PaymentReceived { .. }
                    | WalletEventKind::PaymentSent { .. }
                    | WalletEventKind::PaymentFailed { .. }
            );
            if let (true, Some(history)) = (payment_event, history.as_mut()) {
                // The history is current before the app hears of the payment.
                let outcome = match &wallet_event.kind {
                    WalletEventKind::PaymentSent { payment_id, .. } => {
                        Some((payment_id, "succeeded".to_string()))
                    }
                    WalletEventKind::PaymentFailed { payment_id, reason, .. } => {
                        Some((payment_id, format!("failed: {reason}")))
                    }
                    _ => None,
                };
                let result = reconcile(&node, history).and_then(|()| match outcome {
                    Some((id, outcome)) => history.finish_attempt(id, &outcome),
                    None => Ok(()),
                });
                if let Err(e) = result {
                    log::warn!("payment history not updated: {e}");
                }
            }
            let id = wallet_event.id.clone();
            let seen =
                db.as_ref().map(|db| db.was_delivered(&id)).transpose().unwrap_or_else(|e| {
                    log::warn!("{e}");
                    None
                });
            if seen == Some(true) {
                log::debug!("skipping event {id}: already delivered");
            } else {
                let listener = Arc::clone(&listener);
                if tokio::task::spawn_blocking(move || listener.on_event(wallet_event))
                    .await
                    .is_err()
                {
                    log::error!("the event listener panicked; the event will be delivered again");
                    return;
                }
                if let Some(Err(e)) = db.as_ref().map(|db| db.mark_delivered(&id)) {
                    log::warn!("{e}");
                }
            }
        }
        if let Err(e) = node.event_handled() {
            log::error!("could not mark an event handled: {e}");
            return;
        }
    }
}

/// Rewrites the address book in `storage_dir` from `node`'s graph.
fn refresh_address_book(storage_dir: &std::path::Path, node: &Node) {
    let started = Instant::now();
    match AddressBook::open(storage_dir)
        .and_then(|mut book| book.refresh_from_graph(&node.network_graph()))
    {
        Ok(rows) => {
            log::debug!("address book: {rows} nodes in {} ms", started.elapsed().as_millis())
        }
        Err(e) => log::warn!("address book not updated: {e}"),
    }
}

/// Signals `stop()` when the pump ends, however it ends.
struct DropSignal(std::sync::mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
