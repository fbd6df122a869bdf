//! The wallet's lifecycle: created with a recovery phrase, started (taking the storage lock and
//! building the node), paused when the app goes to the background and resumed when it comes
//! back, stopped, restartable; and stopped for good on this device when another device took
//! the wallet over.
//!
//! The node is built only while the storage lock is held: ldk-node's `build()` reads the channel
//! state from disk, and state read while another process runs the node would be stale. What a
//! run holds, and how it lets go of it, is in `session.rs`.

pub(crate) mod activity;
mod node;
pub(crate) mod pump;
pub(crate) mod releases;
pub(crate) mod session;
pub(crate) mod storage_lock;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ldk_node::bip39::Mnemonic;
use ldk_node::Node;

use crate::config::{ParsedLsp, WalletConfig};
use crate::error::WalletError;
use crate::events::{EventListener, WalletEvent, WalletEventKind};
use crate::mnemonic::parse_mnemonic;
use crate::mutex::lock;
use crate::store::history::History;
use crate::store::payments::reconcile;
use crate::wallet::activity::Kind;
use crate::wallet::session::{Budget, NodeRef, Session, PAUSE, STOP};

/// Where a wallet is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum LifecycleState {
    /// Created, never started.
    Created,
    /// The node runs; payments can be made and received.
    Running,
    /// The app is in the background: [`Wallet::pause`] stopped the node and let go of the
    /// storage lock and of every database file, so that iOS does not kill the suspended app
    /// for holding a lock in a shared container (crash code 0xdead10cc) and the notification
    /// extension can take the wallet. [`Wallet::resume`] runs it again; a payment that was in
    /// flight completes then (or during a wake meanwhile).
    Paused,
    /// Stopped; `start()` runs it again.
    Stopped,
    /// Another device restored this wallet and runs its channels now: this one stopped its
    /// node and refuses to run it ([`WalletError::WalletMoved`]). Use the wallet on the other
    /// device, or remove it from this one.
    Moved,
}

enum State {
    Created,
    Running(Box<Session>),
    Paused,
    Stopped,
    Moved,
}

pub(crate) struct Inner {
    pub(crate) config: WalletConfig,
    pub(crate) lsp: Option<ParsedLsp>,
    pub(crate) additional_lsps: Vec<ParsedLsp>,
    pub(crate) mnemonic: Mnemonic,
    pub(crate) passphrase: Option<String>,
    state: Mutex<State>,
    /// Held through each change of state that starts or ends a session (start, resume, stop,
    /// pause, and the stop after a failed write), so that they happen one after the other.
    transitions: Mutex<()>,
    sessions: AtomicU64,
    listener: Mutex<Option<Arc<dyn EventListener>>>,
}

/// A Lightning wallet. Cheap to share between threads; every method is safe to call at any
/// time and answers [`WalletError::NotRunning`] (or [`WalletError::Paused`]) when it needs a
/// running node.
pub struct Wallet {
    pub(crate) inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
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
            transitions: Mutex::new(()),
            sessions: AtomicU64::new(0),
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
            State::Paused => LifecycleState::Paused,
            State::Stopped => LifecycleState::Stopped,
            State::Moved => LifecycleState::Moved,
        }
    }

    /// Starts the node: takes the storage lock ([`WalletError::StorageLocked`] if another
    /// process runs this wallet), builds and starts ldk-node, connects to the LSP and starts
    /// delivering events. On a paused wallet, the same as [`Wallet::resume`].
    pub async fn start(&self) -> Result<(), WalletError> {
        let (inner, runtime) = (Arc::clone(&self.inner), self.runtime_handle()?);
        self.blocking(move |_| inner.start(&runtime, false)).await
    }

    /// Stops the node cleanly and releases the storage lock. A paused wallet is stopped at
    /// once (it holds nothing).
    pub async fn stop(&self) -> Result<(), WalletError> {
        self.blocking(|inner| inner.stop()).await
    }

    /// Pauses the wallet when the app goes to the background. iOS kills a suspended app that
    /// still holds a lock on a file in a shared container (crash code 0xdead10cc), and the
    /// wallet's storage is shared with the notification extension: so within about a second
    /// this lets the operations in flight finish (a payment being sent is handed to the
    /// network and written to disk with its channel state; a slower call still running is cut
    /// off and answers [`WalletError::Paused`]), cuts the connections to the LSPs, stops the
    /// node, closes every database the wallet holds (ldk-node's store, the backup's local copy,
    /// the history, the event outbox, the address book) and releases the storage lock.
    ///
    /// A payment still in flight is not lost: its state is on disk, and it completes after
    /// [`Wallet::resume`] (or during a wake meanwhile: the extension can now take the wallet),
    /// reaching the history and the listener as `PaymentSent` or `PaymentFailed`.
    ///
    /// Does nothing on a wallet that is not running. The history, the cached offer and
    /// [`Wallet::state`] stay readable while paused; every call that needs the node answers
    /// [`WalletError::Paused`].
    pub async fn pause(&self) -> Result<(), WalletError> {
        self.blocking(|inner| inner.pause()).await
    }

    /// Runs a paused wallet again when the app returns to the foreground: takes the storage
    /// lock, starts the node, reconnects to the LSPs (a payment in flight then completes) and
    /// delivers the events that came meanwhile, including those of wakes. Fails with
    /// [`WalletError::StorageLocked`] while the notification extension finishes a wake: try
    /// again in a moment. Does nothing on a running wallet, nor on a stopped one (start it with
    /// [`Wallet::start`]); [`WalletError::WalletMoved`] if another device took it over.
    pub async fn resume(&self) -> Result<(), WalletError> {
        let (inner, runtime) = (Arc::clone(&self.inner), self.runtime_handle()?);
        self.blocking(move |_| inner.start(&runtime, true)).await
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
        crate::tasks::run_blocking(&handle, move || work(&inner))
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
        crate::tasks::run(&self.runtime_handle()?, future)
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

impl Inner {
    /// The running node for one operation, or why there is none: [`WalletError::NotRunning`],
    /// [`WalletError::Paused`], [`WalletError::WalletMoved`], or the failure that is stopping
    /// it.
    pub(crate) fn node(&self) -> Result<NodeRef, WalletError> {
        self.node_for(Kind::Other)
    }

    /// [`Inner::node`] for an operation that changes a channel (a send, a close, a splice):
    /// a pause waits for it to finish (see `activity.rs`).
    pub(crate) fn node_for_channel_update(&self) -> Result<NodeRef, WalletError> {
        self.node_for(Kind::ChannelUpdate)
    }

    fn node_for(&self, kind: Kind) -> Result<NodeRef, WalletError> {
        match &*lock(&self.state) {
            State::Running(session) => session.node(kind),
            State::Created | State::Stopped => Err(WalletError::NotRunning),
            State::Paused => Err(WalletError::Paused),
            State::Moved => Err(WalletError::WalletMoved),
        }
    }

    pub(crate) fn storage_dir(&self) -> PathBuf {
        PathBuf::from(&self.config.storage_dir)
    }

    /// Starts a session; with `resume`, only on a paused wallet (doing nothing on a running or
    /// stopped one).
    fn start(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        resume: bool,
    ) -> Result<(), WalletError> {
        let _transition = lock(&self.transitions);
        match (&*lock(&self.state), resume) {
            (State::Running(_), false) => return Err(WalletError::AlreadyRunning),
            (State::Running(_) | State::Created | State::Stopped, true) => return Ok(()),
            (State::Moved, true) => return Err(WalletError::WalletMoved),
            _ => {}
        }
        let id = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        match Session::start(self, id, runtime) {
            Ok(session) => {
                *lock(&self.state) = State::Running(Box::new(session));
                Ok(())
            }
            Err(WalletError::WalletMoved) => {
                *lock(&self.state) = State::Moved;
                Err(WalletError::WalletMoved)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn stop(&self) -> Result<(), WalletError> {
        let _transition = lock(&self.transitions);
        let session = {
            let mut state = lock(&self.state);
            match std::mem::replace(&mut *state, State::Stopped) {
                State::Running(session) => *session,
                State::Paused => return Ok(()),
                other => {
                    *state = other;
                    return Err(WalletError::NotRunning);
                }
            }
        };
        self.end(session, WalletError::NotRunning, STOP, State::Stopped);
        Ok(())
    }

    fn pause(&self) -> Result<(), WalletError> {
        let _transition = lock(&self.transitions);
        let session = {
            let mut state = lock(&self.state);
            match std::mem::replace(&mut *state, State::Paused) {
                State::Running(session) => *session,
                other => {
                    *state = other;
                    return Ok(());
                }
            }
        };
        self.end(session, WalletError::Paused, PAUSE, State::Paused);
        Ok(())
    }

    /// Ends `session` (already out of the state, which shows `then`), refusing what comes in
    /// meanwhile with `why`. A store that failed meanwhile decides the state instead.
    fn end(&self, session: Session, why: WalletError, budget: Budget, then: State) {
        let failure = session.end(why, budget);
        if let Some(failure) = failure {
            self.after_failure(failure, then);
        }
    }

    /// Stops session `id` because its store failed, if it is still the running one.
    pub(crate) fn end_after_failure(&self, id: u64) {
        let _transition = lock(&self.transitions);
        let session = {
            let mut state = lock(&self.state);
            let ours = matches!(&*state, State::Running(session) if session.id == id);
            if !ours {
                return;
            }
            // Operations that come meanwhile hear why.
            let why = match &*state {
                State::Running(session) => session.failure(),
                _ => None,
            };
            let meanwhile =
                if why == Some(WalletError::WalletMoved) { State::Moved } else { State::Stopped };
            match std::mem::replace(&mut *state, meanwhile) {
                State::Running(session) => *session,
                _ => return,
            }
        };
        let why = session.failure().unwrap_or(WalletError::NotRunning);
        let failure = session.end(why.clone(), STOP);
        self.after_failure(failure.unwrap_or(why), State::Stopped);
    }

    /// Records what a failed store means: a wallet another device took over is [`State::Moved`]
    /// for good; after another failure, `otherwise`. The listener hears of it.
    fn after_failure(&self, failure: WalletError, otherwise: State) {
        let moved = failure == WalletError::WalletMoved;
        *lock(&self.state) = if moved { State::Moved } else { otherwise };
        let kind = if moved {
            log::error!("another device took this wallet over; it stopped here");
            WalletEventKind::WalletMoved
        } else {
            WalletEventKind::StoppedOnError { message: failure.to_string() }
        };
        self.notify(kind);
    }

    /// Tells the listener, if any, of something that is not a node event.
    fn notify(&self, kind: WalletEventKind) {
        if let Some(listener) = self.listener() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let prefix = match &kind {
                WalletEventKind::WalletMoved => "wallet-moved",
                WalletEventKind::StoppedOnError { .. } => "stopped",
                _ => "sync",
            };
            listener.on_event(WalletEvent { id: format!("{prefix}:{nanos}"), kind });
        }
    }

    /// Brings the payment history up to date with the node; a failure only delays it.
    pub(crate) fn reconcile_history(&self, node: &Node) {
        let result = History::open(&self.storage_dir()).and_then(|mut h| reconcile(node, &mut h));
        if let Err(e) = result {
            log::warn!("payment history not updated: {e}");
        }
    }

    /// Records that a wake ran this wallet's channels and ended: a wallet never started is
    /// now stopped (a running or paused one is left as it is).
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

    /// Whether this wallet stopped because another device took it over.
    pub(crate) fn is_moved(&self) -> bool {
        matches!(*lock(&self.state), State::Moved)
    }

    fn sync(&self) -> Result<(), WalletError> {
        let node = self.node()?;
        // A phone that lost the wallet to another device stops before it writes anything.
        node.check_backup_holder()?;
        self.notify(WalletEventKind::SyncStarted);
        let result = node.settle(node.sync_wallets().map_err(WalletError::from));
        match result.and_then(|()| node.still_running()) {
            Ok(()) => {
                // ldk-node records the on-chain wallet's transactions in its payment store as
                // it syncs, but tells no event about them.
                self.reconcile_history(&node);
                crate::store::address_book::refresh_from_node(&self.storage_dir(), &node);
                self.notify(WalletEventKind::SyncCompleted);
                Ok(())
            }
            Err(error) => {
                self.notify(WalletEventKind::SyncFailed { message: error.to_string() });
                Err(error)
            }
        }
    }
}
