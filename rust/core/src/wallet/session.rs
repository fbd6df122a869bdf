//! A session: one run of the app's node, from `start()` or `resume()` to `stop()`, `pause()`,
//! or the stop that follows a write the store could not make durable.
//!
//! A session owns everything that must go when the app goes to the background: the storage
//! lock, the node and its store, the relays to the LSPs (`net/relay.rs`) and the event pump with
//! its `doze.sqlite` connections. iOS kills a suspended app that still holds a lock on a file
//! in a shared container (crash code 0xdead10cc), and SQLite holds one on its files for as long
//! as a connection is open; so [`Session::end`] lets go of each, in an order that keeps the
//! channels safe, within a budget the caller gives.
//!
//! Operations on the node go through a [`NodeRef`], which counts them: ending a session waits
//! (up to its budget) for those in flight, so that a payment handed to LDK is on disk, with its
//! channel manager, before the node stops.

use std::ops::Deref;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::{DynStore, Node};

use crate::config::ParsedLsp;
use crate::error::WalletError;
use crate::net::relay::{self, Fence};
use crate::store::backup::{BackedUpStore, Opener};
use crate::store::node_store::NodeStore;
use crate::wallet::activity::{Activity, Kind, Operation};
use crate::wallet::pump::EventPump;
use crate::wallet::releases::SessionReleases;
use crate::wallet::storage_lock::StorageLock;
use crate::wallet::Inner;

/// How long to wait for what is in flight when a session ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// For the operations on the node in flight, but those that change a channel: a payment
    /// being sent, a close, a splice. Those are always waited for, so that their channel
    /// update is on disk before the node writes its channel manager a last time.
    pub operations: Duration,
    /// For the listener to finish the event in hand (counted from the start, alongside the
    /// operations).
    pub listener: Duration,
    /// For ldk-node's `stop()`, which writes the channel manager a last time (and waits for a
    /// background chain sync in progress).
    pub node_stop: Duration,
    /// For the store's writes in progress once the node has stopped.
    pub writes: Duration,
}

/// A pause: the lock and every SQLite handle let go of within about a second, the most iOS
/// allows an app entering the background before it must hold no lock in a shared container.
pub(crate) const PAUSE: Budget = Budget {
    operations: Duration::from_millis(300),
    listener: Duration::from_millis(150),
    node_stop: Duration::from_millis(400),
    writes: Duration::from_millis(150),
};

/// The most a session's end waits for an operation that changes a channel (a send whose
/// backup server does not answer retries for 30 s; iOS may kill a suspended app before: that
/// is as safe as any kill).
const CHANNEL_UPDATE_WAIT: Duration = Duration::from_secs(35);

/// A stop the app asked for: it may wait longer for what is in flight.
pub(crate) const STOP: Budget = Budget {
    operations: Duration::from_secs(2),
    listener: Duration::from_secs(5),
    node_stop: Duration::from_secs(40),
    writes: Duration::from_secs(2),
};

/// The running node, for one operation. Derefs to the node; counted by the session until
/// dropped (see the module docs).
pub(crate) struct NodeRef {
    node: Arc<Node>,
    store: NodeStore,
    backup: Option<Arc<BackedUpStore>>,
    primary_lsp: Option<ParsedLsp>,
    _operation: Operation,
}

impl Deref for NodeRef {
    type Target = Arc<Node>;
    fn deref(&self) -> &Arc<Node> {
        &self.node
    }
}

impl NodeRef {
    /// `result`, unless the node's store failed meanwhile: then that failure (a write this
    /// operation made may not have counted, and the node is stopping).
    pub(crate) fn settle<T>(&self, result: Result<T, WalletError>) -> Result<T, WalletError> {
        match self.store.failure() {
            Some(failure) => Err(failure),
            None => result,
        }
    }

    /// Fails if the session is ending or its store failed: call before writing to
    /// `doze.sqlite` after a slow call on the node, so that an operation the session stopped
    /// waiting for opens no database once the wallet is paused.
    pub(crate) fn still_running(&self) -> Result<(), WalletError> {
        if let Some(failure) = self.store.failure() {
            return Err(failure);
        }
        match self._operation.ended() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// The primary LSP as this session's node reaches it (through its relay).
    pub(crate) fn primary_lsp(&self) -> Option<&ParsedLsp> {
        self.primary_lsp.as_ref()
    }

    /// Stops this session's node if another device took the wallet over (see `backup`), so that
    /// this one writes nothing more, and says so.
    pub(crate) fn check_backup_holder(&self) -> Result<(), WalletError> {
        let Some(backup) = &self.backup else { return Ok(()) };
        match crate::store::backup::check_holder(backup) {
            Err(WalletError::WalletMoved) => {
                self.store.fail(WalletError::WalletMoved);
                Err(WalletError::WalletMoved)
            }
            other => other,
        }
    }
}

/// A running node and what it holds; see the module docs.
pub(crate) struct Session {
    /// Tells this session from the next (the stop after a failure is for one session only).
    pub id: u64,
    node: Arc<Node>,
    store: NodeStore,
    backup: Option<Arc<BackedUpStore>>,
    fence: Arc<Fence>,
    primary_lsp: Option<ParsedLsp>,
    activity: Arc<Activity>,
    pump: Option<EventPump>,
    /// The releases a killed wake kept, sent again by this session.
    releases: Arc<SessionReleases>,
    lock: StorageLock,
    storage_dir: std::path::PathBuf,
}

impl Session {
    /// The first write of the node's store that failed, as the app sees it, if one did.
    pub(crate) fn failure(&self) -> Option<WalletError> {
        self.store.failure()
    }

    /// The node for one operation of `kind`, unless the session is ending or its store failed.
    pub(crate) fn node(&self, kind: Kind) -> Result<NodeRef, WalletError> {
        if let Some(failure) = self.store.failure() {
            return Err(failure);
        }
        Ok(NodeRef {
            node: Arc::clone(&self.node),
            store: self.store.clone(),
            backup: self.backup.clone(),
            primary_lsp: self.primary_lsp.clone(),
            _operation: self.activity.enter(kind)?,
        })
    }

    /// Takes the storage lock, builds and starts the node behind relays to the LSPs, connects
    /// them and starts delivering events (those a wake kept for the app first). `inner` is
    /// told when the node's store fails, so that it stops the session.
    pub(crate) fn start(
        inner: &Arc<Inner>,
        id: u64,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Session, WalletError> {
        let started = Instant::now();
        let storage_lock = StorageLock::try_acquire(&inner.storage_dir())?;
        match crate::store::node_payments::prune_settled(&inner.storage_dir()) {
            Ok(0) => {}
            Ok(removed) => log::info!("removed {removed} settled payments from the node's store"),
            Err(e) => log::warn!("settled payments not pruned from the node's store: {e}"),
        }
        let pruned = started.elapsed();
        let fence = Fence::new();
        // Until the session is running, a failure lets go of the relays again.
        let cut_on_failure = CutOnDrop(Some(Arc::clone(&fence)));
        let (ended_tx, ended) = tokio::sync::mpsc::unbounded_channel();
        let relay = |lsp: &ParsedLsp| -> ParsedLsp {
            match relay::start(
                runtime,
                lsp.node_id,
                &lsp.address,
                Arc::clone(&fence),
                ended_tx.clone(),
            ) {
                Ok(relay) => ParsedLsp { address: relay.local, ..lsp.clone() },
                Err(e) => {
                    log::warn!("{e}; connecting to it directly");
                    lsp.clone()
                }
            }
        };
        let primary = inner.lsp.as_ref().map(relay);
        let additional: Vec<ParsedLsp> = inner.additional_lsps.iter().map(relay).collect();
        drop(ended_tx);
        let relays: Vec<relay::LspRelay> = primary
            .iter()
            .chain(&additional)
            .map(|l| relay::LspRelay { node_id: l.node_id, local: l.address.clone() })
            .collect();

        let (store, backup) = open_store(inner, &fence)?;
        relay::point_peers_at(&store, &relays)?;
        if let Some(failure) = store.failure() {
            return Err(failure);
        }
        let node = Arc::new(crate::wallet::node::build_node(
            inner,
            runtime.clone(),
            primary.as_ref(),
            &store,
        )?);
        let built = started.elapsed();
        node.start()?;
        let node_started = started.elapsed();
        inner.reconcile_history(&node);
        let reconciled = started.elapsed();

        let activity = Activity::new();
        // The address book is rewritten in the background, as an operation a pause waits for.
        if let Ok(operation) = activity.enter(Kind::Other) {
            let (dir, graph_node) = (inner.storage_dir(), Arc::clone(&node));
            let refresh: crate::tasks::BlockingWork = Box::new(move || {
                let _operation = operation;
                crate::store::address_book::refresh_from_node(&dir, &graph_node);
            });
            runtime.spawn_blocking(refresh);
        }
        crate::net::connect::connect_lsps(&node, primary.as_ref(), &additional);
        if !inner.config.background_sync {
            // Without the timer nobody else brings the node to the chain tip, and a node that
            // believes an old height builds payments whose timelocks the recipient refuses.
            if let Err(e) = node.sync_wallets() {
                log::warn!("initial chain sync failed (will retry on sync()): {e}");
            }
        }
        let pump = inner
            .listener()
            .map(|listener| EventPump::start(inner, Arc::clone(&node), listener, runtime));
        // Releases a killed wake kept: their payments wait at the payer's LSP until someone
        // sends them (`wallet/releases.rs`). After the LSP connection, and after the first sync
        // of a wallet that syncs on demand: the HTLCs they free need a usable channel, and LDK
        // fails an HTLC whose expiry looks too far ahead of a height weeks old.
        let releases =
            SessionReleases::read(&inner.storage_dir(), primary.as_ref().map(|l| l.node_id));
        if releases.has_unsent() {
            let send = Arc::clone(&releases).send_when_ready(Arc::clone(&node), Arc::clone(&fence));
            crate::tasks::spawn(runtime, send);
        }
        let lsps: Vec<ParsedLsp> = primary.iter().chain(&additional).cloned().collect();
        let ends = Arc::clone(&releases);
        crate::tasks::spawn(
            runtime,
            crate::net::connect::keep_connected(
                Arc::clone(&node),
                lsps,
                ended,
                Arc::clone(&fence),
                move |lsp| ends.connection_ended(lsp),
            ),
        );
        crate::tasks::spawn(
            runtime,
            stop_after_failure(store.failures(), Arc::downgrade(inner), id),
        );
        if let Some(backup) = &backup {
            let watch = watch_holder(Arc::clone(backup), store.clone(), Arc::clone(&fence));
            crate::tasks::spawn(runtime, watch);
        }
        cut_on_failure.disarm();
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
        Ok(Session {
            id,
            node,
            store,
            backup,
            fence,
            primary_lsp: primary,
            activity,
            pump,
            releases,
            lock: storage_lock,
            storage_dir: inner.storage_dir(),
        })
    }

    /// Ends the session within `budget`, refusing new operations with `why`: waits for the
    /// operations in flight, cuts the LSPs off, lets the listener finish its event, keeps the
    /// graph's addresses for the wakes, stops the node (which writes its channel manager a last
    /// time), closes the store and releases the lock. Returns the store's failure, if it had
    /// one (the caller then reports it rather than the state it asked for).
    pub(crate) fn end(self, why: WalletError, budget: Budget) -> Option<WalletError> {
        let started = Instant::now();
        let Session {
            node, store, backup, fence, activity, pump, releases, lock, storage_dir, ..
        } = self;
        if let Some(pump) = &pump {
            pump.ask_to_stop();
        }
        // A payment handed to LDK before this point is written, with its channel manager, by
        // the node's stop below; one that is not in flight by now is refused.
        let running = activity.close(why, budget.operations, CHANNEL_UPDATE_WAIT);
        if running > 0 {
            log::warn!("{running} operations on the node still running; not waiting for them");
        }
        let drained = started.elapsed();
        // Judged while the connections are up; only at a clean end (a session whose store
        // failed is stopping on an error, and keeps them for the next start).
        if store.failure().is_none() {
            releases.forget_those_sent(&node);
        }
        // From here on the LSPs hear nothing from this node, and a connection that completes
        // on another thread cannot outlive the node.
        fence.cut();
        let pump_closed = pump.is_none_or(|p| p.finish(started + budget.listener, budget.listener));
        // The last graph the app had, for the wakes that come while it is away.
        crate::store::address_book::refresh_from_node(&storage_dir, &node);
        let kept = started.elapsed();
        stop_node(&node, budget.node_stop);
        let stopped = started.elapsed();
        let writing = store.close(budget.writes);
        if writing > 0 {
            log::warn!("{writing} writes of the node's store were in progress when it closed");
        }
        let failure = store.failure();
        drop((backup, store, node));
        drop(lock);
        log::info!(
            "wallet stopped in {} ms (operations {} ms, address book {} ms, node stop {} ms; \
             event pump {})",
            started.elapsed().as_millis(),
            drained.as_millis(),
            (kept - drained).as_millis(),
            (stopped - kept).as_millis(),
            if pump_closed { "closed" } else { "still closing" },
        );
        failure
    }
}

/// Stops `node`, waiting up to `timeout`. A stop that takes longer (ldk-node waits for a
/// background chain sync in progress, up to 5 s, and for its background processor, up to
/// 30 s) goes on on its own thread while the session closes the store: what the node writes
/// from then on is dropped, as if the app were killed at that instant, which loses nothing (its
/// peers were cut off before the stop, and its background processor has written the channel
/// manager after every update it saw).
fn stop_node(node: &Arc<Node>, timeout: Duration) {
    let (stopped, result) = crate::tasks::answer();
    let stopping = Arc::clone(node);
    let spawned = crate::tasks::thread("doze-node-stop", move || stopped.give(stopping.stop()));
    if let Err(e) = spawned {
        log::warn!("cannot stop the node on a thread of its own ({e}); stopping it here");
        if let Err(e) = node.stop() {
            log::warn!("the node did not stop cleanly: {e}");
        }
        return;
    }
    match result.wait_for(timeout) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("the node did not stop cleanly: {e}"),
        Err(crate::tasks::NoAnswer::Stopped) => log::warn!("the node's stop panicked"),
        Err(crate::tasks::NoAnswer::TimedOut) => log::warn!(
            "the node did not stop within {} ms; closing its store while it finishes",
            timeout.as_millis()
        ),
    }
}

/// Cuts a fence when dropped, unless disarmed.
struct CutOnDrop(Option<Arc<Fence>>);

impl CutOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CutOnDrop {
    fn drop(&mut self) {
        if let Some(fence) = self.0.take() {
            fence.cut();
        }
    }
}

/// ldk-node's store in the node's directory, with its backup if the wallet has one, behind a
/// [`NodeStore`] whose failures cut `fence`.
fn open_store(
    inner: &Inner,
    fence: &Arc<Fence>,
) -> Result<(NodeStore, Option<Arc<BackedUpStore>>), WalletError> {
    let node_dir = crate::store::node_payments::node_dir(&inner.storage_dir());
    match &inner.config.backup {
        None => {
            std::fs::create_dir_all(&node_dir).map_err(|e| {
                WalletError::Storage(format!("cannot create {}: {e}", node_dir.display()))
            })?;
            // What ldk-node's own `build()` opens.
            let sqlite = SqliteStore::new(
                node_dir,
                Some(SQLITE_DB_FILE_NAME.into()),
                Some(KV_TABLE_NAME.into()),
            )
            .map_err(|e| WalletError::Storage(format!("cannot open the node: {e}")))?;
            Ok((NodeStore::new(Arc::new(sqlite), None, Arc::clone(fence)), None))
        }
        Some(config) => {
            let backup = Arc::new(crate::store::backup::open(
                &node_dir,
                config,
                &inner.mnemonic,
                inner.passphrase.as_deref(),
                inner.config.network,
                Opener::App,
            )?);
            let store = Arc::clone(&backup) as Arc<DynStore>;
            Ok((NodeStore::new(store, Some(Arc::clone(&backup)), Arc::clone(fence)), Some(backup)))
        }
    }
}

/// Waits for the session's store to fail, then has `inner` stop the session `id`.
async fn stop_after_failure(
    mut failures: tokio::sync::watch::Receiver<Option<WalletError>>,
    inner: Weak<Inner>,
    id: u64,
) {
    if failures.wait_for(Option::is_some).await.is_err() {
        return;
    }
    if let Some(inner) = inner.upgrade() {
        // Stopping blocks (ldk-node's stop): off the runtime's workers.
        let _ = crate::tasks::run_blocking_here(move || inner.end_after_failure(id)).await;
    }
}

/// How often a running backed-up wallet asks the server which device holds it.
const HOLDER_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Asks the backup server now and then whether this device still holds the wallet, and stops
/// the session if another device took it over. A write finds out by itself; this is for a
/// phone left open with nothing to write: the LSP keeps its connection (and refuses the new
/// phone's) for as long as it stays, so without this the new phone could not reach its LSP
/// until the old one writes, syncs or pauses. Ends when the session's fence is cut.
async fn watch_holder(backup: Arc<BackedUpStore>, store: NodeStore, fence: Arc<Fence>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOLDER_CHECK_INTERVAL) => {}
            _ = fence.wait() => return,
        }
        let asked = Arc::clone(&backup);
        match crate::tasks::run_blocking_here(move || crate::store::backup::check_holder(&asked))
            .await
        {
            Ok(Err(WalletError::WalletMoved)) => {
                store.fail(WalletError::WalletMoved);
                return;
            }
            Ok(Err(e)) => log::debug!("backup holder not checked: {e}"),
            _ => {}
        }
    }
}
