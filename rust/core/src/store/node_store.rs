//! The store the app's ldk-node writes through: ldk-node's own SQLite store (or the backed-up
//! store around it), with two things ldk-node cannot do itself.
//!
//! - **Closed on pause and stop.** ldk-node holds its store for as long as anything holds the
//!   node, and an operation still running when the app goes to the background would keep the
//!   SQLite file open: iOS kills a suspended app that holds a lock on a file in a shared
//!   container (crash code 0xdead10cc). [`NodeStore::close`] drops the store once the writes
//!   in progress are done, whoever still holds the node.
//! - **A failed write never reaches LDK.** LDK cannot go on without persisting: a failed
//!   monitor write panics (`ChannelMonitor[Update] persistence failed unrecoverably`), and so
//!   does ldk-node's background processor on a failed manager write. So a write the store
//!   cannot make durable (the backup server refused it because another device restored the
//!   wallet, it cannot be reached, the disk is full) is answered as done, after the session's
//!   [`Fence`] was cut: nothing LDK sends from then on reaches a peer, so the peer's view of
//!   every channel stays the one on disk (and in the backup, which is what the other device
//!   restored). From the first failure on, no write is made at all, so what is on disk is
//!   every write up to that one, as after a kill at that instant; the session hears of it
//!   ([`NodeStore::failure`]) and stops the node.
//!
//! Writes after [`NodeStore::close`] are dropped the same way: the node is stopped and its
//! peers are cut off by then, so nothing depends on them.
//!
//! Where ldk-node 0.7.1 writes, all through this store, and what a failed write did before:
//! - channel monitors (`MonitorUpdatingPersister`): on a connection's task when a peer's
//!   `update_add_htlc`/`commitment_signed`/`revoke_and_ack` arrives (a payment arriving), on
//!   the app's thread when it sends, closes or splices, in the background processor when it
//!   forwards or claims, and during a chain sync: LDK panicked (and poisoned its locks);
//! - the channel manager, the network graph, the scorer and the output sweeper, in the
//!   background processor: ldk-node panicked ("Failed to process events"), and again in
//!   `stop()`;
//! - the event queue and the payment store, in the event handler and the payment calls: the
//!   event was replayed without end, or the call failed after the payment was handed to LDK;
//! - the on-chain wallet (BDK) during syncs and sends, and the peer list on connects: errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use ldk_node::lightning::io;
use ldk_node::lightning::util::async_poll::AsyncResult;
use ldk_node::lightning::util::persist::{KVStore, KVStoreSync};
use ldk_node::DynStore;
use tokio::sync::watch;

use crate::error::WalletError;
use crate::mutex::lock;
use crate::net::relay::Fence;
use crate::store::backup::BackedUpStore;

struct Shared {
    /// `None` once closed.
    store: RwLock<Option<Arc<DynStore>>>,
    /// The backed-up store inside `store`, if any: it tells a takeover from other failures.
    backup: Mutex<Option<Arc<BackedUpStore>>>,
    fence: Arc<Fence>,
    /// The first failure, for the session to act on.
    failure: watch::Sender<Option<WalletError>>,
    /// Writes in progress, and a signal when there are none.
    writes: Mutex<usize>,
    idle: Condvar,
    dropped: AtomicUsize,
}

/// See the module docs.
#[derive(Clone)]
pub(crate) struct NodeStore {
    shared: Arc<Shared>,
}

/// A write in progress; counted until dropped.
struct Writing(Arc<Shared>);

impl Writing {
    fn start(shared: &Arc<Shared>) -> Writing {
        *lock(&shared.writes) += 1;
        Writing(Arc::clone(shared))
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        let mut writes = lock(&self.0.writes);
        *writes -= 1;
        if *writes == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl NodeStore {
    /// `store` as the app's node sees it, cut off from its peers by `fence` on a failure;
    /// `backup` is the backed-up store inside it, if any.
    pub(crate) fn new(
        store: Arc<DynStore>,
        backup: Option<Arc<BackedUpStore>>,
        fence: Arc<Fence>,
    ) -> NodeStore {
        NodeStore {
            shared: Arc::new(Shared {
                store: RwLock::new(Some(store)),
                backup: Mutex::new(backup),
                fence,
                failure: watch::Sender::new(None),
                writes: Mutex::new(0),
                idle: Condvar::new(),
                dropped: AtomicUsize::new(0),
            }),
        }
    }

    /// The first write that failed, as the error the app sees ([`WalletError::WalletMoved`]
    /// for a takeover), if one did.
    pub(crate) fn failure(&self) -> Option<WalletError> {
        self.shared.failure.borrow().clone()
    }

    /// Hears of the first failure.
    pub(crate) fn failures(&self) -> watch::Receiver<Option<WalletError>> {
        self.shared.failure.subscribe()
    }

    /// Refuses every later write because of `error` found outside a write (a sync that found
    /// another device holding the wallet): the same as a failed write.
    pub(crate) fn fail(&self, error: WalletError) {
        self.shared.fail(error);
    }

    /// Closes the store: later writes are dropped, later reads fail. Waits up to `timeout` for
    /// the writes in progress, then lets go of the store (its SQLite connection closes with
    /// the last writer still holding it). Returns how many writes were still in progress.
    pub(crate) fn close(&self, timeout: Duration) -> usize {
        let store = self.shared.store.write().unwrap_or_else(|p| p.into_inner()).take();
        let deadline = Instant::now() + timeout;
        let mut writes = lock(&self.shared.writes);
        while *writes > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            writes =
                self.shared.idle.wait_timeout(writes, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        let in_progress = *writes;
        drop(writes);
        if let Some(backup) = lock(&self.shared.backup).take() {
            backup.close();
            // Whoever still holds the backed-up store (a check of the holder in flight) no
            // longer holds its SQLite file.
            backup.release_local();
        }
        drop(store);
        let dropped = self.shared.dropped.load(Ordering::SeqCst);
        if dropped > 0 {
            log::info!("node store closed; {dropped} writes after the node stopped were dropped");
        }
        in_progress
    }

    /// The store, unless closed or failed; counts a write until the guard drops.
    fn for_write(&self) -> Option<(Arc<DynStore>, Writing)> {
        let store = self.shared.store.read().unwrap_or_else(|p| p.into_inner()).clone();
        match store {
            Some(store) if self.failure().is_none() => Some((store, Writing::start(&self.shared))),
            _ => {
                self.shared.dropped.fetch_add(1, Ordering::SeqCst);
                None
            }
        }
    }

    fn for_read(&self) -> io::Result<Arc<DynStore>> {
        self.shared.store.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(|| {
            io::Error::new(io::ErrorKind::Other, "the wallet's node store is closed")
        })
    }
}

impl Shared {
    fn fail(&self, error: WalletError) {
        // First the peers, then anything else: LDK goes on as soon as the write returns.
        self.fence.cut();
        if let Some(backup) = lock(&self.backup).as_ref() {
            backup.close();
        }
        self.failure.send_if_modified(|failure| {
            if failure.is_some() {
                return false;
            }
            log::error!("the node's store failed ({error}); stopping the node");
            *failure = Some(error);
            true
        });
    }

    /// What a write's `error` means for the app.
    fn classify(&self, error: &io::Error) -> WalletError {
        let backup = lock(&self.backup);
        match backup.as_ref() {
            Some(backup) if backup.moved() => WalletError::WalletMoved,
            Some(_) => WalletError::BackupUnavailable(error.to_string()),
            None => WalletError::Storage(format!("cannot write the node's store: {error}")),
        }
    }

    /// A write failed: see the module docs for why it is answered as done.
    fn failed(&self, error: io::Error, key: &str) -> io::Result<()> {
        log::error!("a write of the node's store ({key}) failed: {error}");
        let error = self.classify(&error);
        self.fail(error);
        Ok(())
    }
}

impl KVStoreSync for NodeStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&*self.for_read()?, primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        let Some((store, _writing)) = self.for_write() else { return Ok(()) };
        match KVStoreSync::write(&*store, primary, secondary, key, buf) {
            Ok(()) => Ok(()),
            Err(e) => self.shared.failed(e, key),
        }
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        let Some((store, _writing)) = self.for_write() else { return Ok(()) };
        match KVStoreSync::remove(&*store, primary, secondary, key, lazy) {
            Ok(()) => Ok(()),
            Err(e) => self.shared.failed(e, key),
        }
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&*self.for_read()?, primary, secondary)
    }
}

impl KVStore for NodeStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        match self.for_read() {
            Ok(store) => KVStore::read(&*store, primary, secondary, key),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let Some((store, writing)) = self.for_write() else { return Box::pin(async { Ok(()) }) };
        // The write's place in its key's order is taken now, by the inner store.
        let write = KVStore::write(&*store, primary, secondary, key, buf);
        self.finish(write, writing, key)
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let Some((store, writing)) = self.for_write() else { return Box::pin(async { Ok(()) }) };
        let remove = KVStore::remove(&*store, primary, secondary, key, lazy);
        self.finish(remove, writing, key)
    }

    fn list(&self, primary: &str, secondary: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        match self.for_read() {
            Ok(store) => KVStore::list(&*store, primary, secondary),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

impl NodeStore {
    /// An asynchronous write, counted by `writing` until it completes (or is dropped), its
    /// failure handled as a sync one's.
    fn finish(
        &self,
        write: AsyncResult<'static, (), io::Error>,
        writing: Writing,
        key: &str,
    ) -> AsyncResult<'static, (), io::Error> {
        let shared = Arc::clone(&self.shared);
        let key = key.to_string();
        Box::pin(async move {
            let result = write.await;
            drop(writing);
            match result {
                Ok(()) => Ok(()),
                Err(e) => shared.failed(e, &key),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::io::sqlite_store::SqliteStore;

    fn store(dir: &std::path::Path) -> (NodeStore, Arc<Fence>) {
        let sqlite = SqliteStore::new(dir.to_path_buf(), None, None).unwrap();
        let fence = Fence::new();
        (NodeStore::new(Arc::new(sqlite), None, Arc::clone(&fence)), fence)
    }

    #[test]
    fn a_closed_store_drops_writes_and_refuses_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fence) = store(dir.path());
        KVStoreSync::write(&store, "a", "", "k", vec![1]).unwrap();
        assert_eq!(KVStoreSync::read(&store, "a", "", "k").unwrap(), vec![1]);
        assert_eq!(store.close(Duration::from_millis(10)), 0);
        KVStoreSync::write(&store, "a", "", "k", vec![2]).unwrap();
        assert!(KVStoreSync::read(&store, "a", "", "k").is_err());
        assert!(store.failure().is_none() && !fence.is_cut(), "closing is no failure");
        let (reopened, _) = self::store(dir.path());
        assert_eq!(KVStoreSync::read(&reopened, "a", "", "k").unwrap(), vec![1]);
    }

    #[test]
    fn after_a_failure_the_fence_is_cut_and_nothing_more_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fence) = store(dir.path());
        store.fail(WalletError::WalletMoved);
        assert!(fence.is_cut());
        assert_eq!(store.failure(), Some(WalletError::WalletMoved));
        KVStoreSync::write(&store, "a", "", "k", vec![1]).unwrap();
        assert!(KVStoreSync::read(&store, "a", "", "k").is_err(), "the write was dropped");
        // The first failure is the one the app hears of.
        store.fail(WalletError::Storage("later".into()));
        assert_eq!(store.failure(), Some(WalletError::WalletMoved));
    }
}
