//! The node's store with a backup: ldk-node's SQLite store on the phone, every write also on
//! the VSS server. Reads and lists are local (a wake reads the channel state in milliseconds,
//! offline or not); a write is done only when the server has it, and the server has it only if
//! this device is still the wallet's latest writer (the global version, see `mod.rs`). So a
//! channel update LDK considers persisted is always in the backup, and an old phone's update is
//! refused instead of overwriting the new phone's.
//!
//! Writes are applied in the order they were called, per key, as LDK requires: each call takes
//! a sequence number when it is made, and a write older than the last one applied to its key is
//! skipped (ldk-node's `VssStore` does the same). Each remote write moves the global version on,
//! so they cannot run side by side; instead writes that arrive while one is on its way go
//! together in the next request (a group commit: one round trip for many objects, as when LDK
//! deletes a hundred monitor updates at once; `writer.rs`). Each request is recorded on the
//! phone before it leaves, so that one the server took and the phone did not is applied at the
//! next open (`journal.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ldk_node::io::sqlite_store::SqliteStore;
use ldk_node::lightning::io;
use ldk_node::lightning::util::async_poll::AsyncResult;
use ldk_node::lightning::util::persist::{
    KVStore, KVStoreSync, NETWORK_GRAPH_PERSISTENCE_KEY, SCORER_PERSISTENCE_KEY,
};

use super::remote::{ObjectName, Remote};
use super::writer::{other, Local, Shared, Writer};

/// The namespace of this device's own records (its device id): never backed up.
pub(crate) const LOCAL_NAMESPACE: &str = "doze_local";

/// What is not worth a round trip to the server: gossip and scores are rebuilt after a restore,
/// and sync times only make the first sync after a restore a full one. The peer list holds this
/// device's own relay addresses for its LSPs (`net/relay.rs`), rewritten at every start.
pub(crate) fn is_local_only(primary: &str, secondary: &str, key: &str) -> bool {
    primary == LOCAL_NAMESPACE
        || (primary.is_empty()
            && secondary.is_empty()
            && matches!(
                key,
                NETWORK_GRAPH_PERSISTENCE_KEY
                    | SCORER_PERSISTENCE_KEY
                    | "external_pathfinding_scores_cache"
                    | "node_metrics"
                    | crate::net::relay::PEERS_KEY
            ))
}

/// ldk-node's store, backed up. See the module docs.
pub(crate) struct BackedUpStore {
    shared: Arc<Shared>,
    next_sequence: AtomicU64,
    // Remote calls run here, not on the caller's runtime: a sync write blocks its caller until
    // the server answers, which must not stall the runtime that answers it.
    runtime: Option<tokio::runtime::Runtime>,
}

impl BackedUpStore {
    /// `local` backed up to `remote`, whose global version is `global_version`.
    pub(crate) fn new(
        local: SqliteStore,
        remote: Arc<Remote>,
        global_version: i64,
        runtime: tokio::runtime::Runtime,
    ) -> BackedUpStore {
        let writer = Writer { global_version, applied: HashMap::new(), unresolved: false };
        BackedUpStore {
            shared: Arc::new(Shared {
                local: Local(std::sync::RwLock::new(Some(local))),
                remote,
                queue: std::sync::Mutex::new(Vec::new()),
                writer: tokio::sync::Mutex::new(writer),
                moved: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
            next_sequence: AtomicU64::new(1),
            runtime: Some(runtime),
        }
    }

    /// Whether the server refused a write because another device took the wallet over.
    pub(crate) fn moved(&self) -> bool {
        self.shared.moved.load(Ordering::SeqCst)
    }

    /// Marks the wallet as taken over: every later write is refused here.
    pub(crate) fn set_moved(&self) {
        self.shared.mark_moved();
    }

    /// Refuses every later write, and applies no write in progress locally once its request
    /// returns: what is on the phone stops at the last write that completed.
    pub(crate) fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
    }

    /// Closes the local store once what uses it now is done: iOS kills a suspended app that
    /// holds a lock on a file in a shared container (0xdead10cc), and the app's session lets go
    /// of every database when it pauses. Reads and writes fail from then on.
    pub(crate) fn release_local(&self) {
        self.shared.local.0.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The local store (reads, and this device's own records).
    pub(crate) fn local(&self) -> &dyn KVStoreSync {
        &self.shared.local
    }

    /// Runs `future` on the store's runtime and waits for it.
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> io::Result<T> {
        let runtime = self.runtime.as_ref().ok_or_else(|| other("store closed"))?;
        block_on(runtime, future)
    }

    /// The server side.
    pub(crate) fn remote(&self) -> Arc<Remote> {
        Arc::clone(&self.shared.remote)
    }

    /// A lazy remove (LDK's word: it may be lost in a crash, and nothing waits for it): queued
    /// for the next request, which it joins with the removes around it.
    fn remove_lazily(&self, name: ObjectName) -> io::Result<()> {
        let runtime = self.runtime.as_ref().ok_or_else(|| other("store closed"))?;
        let change = self.change(name, None);
        crate::tasks::spawn(runtime.handle(), async move {
            if let Err(e) = change.await {
                log::warn!("backup: a lazy remove failed: {e}");
            }
        });
        Ok(())
    }

    fn change(
        &self,
        name: ObjectName,
        value: Option<Vec<u8>>,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        self.changes(vec![(name, value)])
    }

    /// Queues `changes` together, in order (consecutive sequence numbers, so they go in the
    /// same request and are applied locally in this order); done when all are.
    fn changes(
        &self,
        changes: Vec<(ObjectName, Option<Vec<u8>>)>,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let first = self.next_sequence.fetch_add(changes.len() as u64, Ordering::SeqCst);
        let changes: Vec<_> = (first..).zip(changes).map(|(n, (name, v))| (n, name, v)).collect();
        let shared = Arc::clone(&self.shared);
        let handle = self.runtime.as_ref().map(|r| r.handle().clone());
        async move {
            let handle = handle.ok_or_else(|| other("store closed"))?;
            crate::tasks::run(&handle, async move { shared.apply(changes).await })
                .await
                .map_err(|e| other(format!("backup write stopped: {e}")))?
        }
    }
}

impl doze_ordered_persist::WriteAll for BackedUpStore {
    /// A persistence round's changes (the channel manager, then its monitor writes) in one
    /// request: one round trip to the server, atomic there, applied locally in order.
    fn write_all(&self, changes: Vec<doze_ordered_persist::StoreChange>) -> io::Result<()> {
        let (local, remote): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .partition(|c| is_local_only(&c.primary_namespace, &c.secondary_namespace, &c.key));
        let remote = remote
            .into_iter()
            .map(|c| {
                (ObjectName::new(&c.primary_namespace, &c.secondary_namespace, &c.key), c.value)
            })
            .collect();
        self.block_on(self.changes(remote))??;
        for c in local {
            let (p, s, k) = (&c.primary_namespace, &c.secondary_namespace, &c.key);
            match c.value {
                Some(value) => KVStoreSync::write(&self.shared.local, p, s, k, value),
                None => KVStoreSync::remove(&self.shared.local, p, s, k, false),
            }?;
        }
        Ok(())
    }
}

/// Runs `future` on `runtime` and waits for it, from any thread: a plain one, a runtime's
/// blocking thread or a runtime worker.
pub(crate) fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> io::Result<T> {
    let (answer, awaited) = crate::tasks::answer();
    crate::tasks::spawn(runtime.handle(), async move { answer.give(future.await) });
    let wait = move || awaited.wait().map_err(|_| other("store closed"));
    match tokio::runtime::Handle::try_current() {
        // Let the caller's runtime move its other tasks off this thread meanwhile.
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

impl Drop for BackedUpStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which an async context forbids.
            runtime.shutdown_background();
        }
    }
}

impl KVStoreSync for BackedUpStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&self.shared.local, primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        if is_local_only(primary, secondary, key) {
            return KVStoreSync::write(&self.shared.local, primary, secondary, key, buf);
        }
        let change = self.change(ObjectName::new(primary, secondary, key), Some(buf));
        self.block_on(change)?
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        if is_local_only(primary, secondary, key) {
            return KVStoreSync::remove(&self.shared.local, primary, secondary, key, lazy);
        }
        let name = ObjectName::new(primary, secondary, key);
        if lazy {
            return self.remove_lazily(name);
        }
        self.block_on(self.change(name, None))?
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&self.shared.local, primary, secondary)
    }
}

impl KVStore for BackedUpStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let result = KVStoreSync::read(&self.shared.local, primary, secondary, key);
        Box::pin(async move { result })
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        if is_local_only(primary, secondary, key) {
            let result = KVStoreSync::write(&self.shared.local, primary, secondary, key, buf);
            return Box::pin(async move { result });
        }
        Box::pin(self.change(ObjectName::new(primary, secondary, key), Some(buf)))
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        if is_local_only(primary, secondary, key) {
            let result = KVStoreSync::remove(&self.shared.local, primary, secondary, key, lazy);
            return Box::pin(async move { result });
        }
        let name = ObjectName::new(primary, secondary, key);
        if lazy {
            let result = self.remove_lazily(name);
            return Box::pin(async move { result });
        }
        Box::pin(self.change(name, None))
    }

    fn list(&self, primary: &str, secondary: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let result = KVStoreSync::list(&self.shared.local, primary, secondary);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gossip_scores_sync_times_and_the_device_id_stay_on_the_phone() {
        for key in ["network_graph", "scorer", "node_metrics", "external_pathfinding_scores_cache"]
        {
            assert!(is_local_only("", "", key), "{key}");
        }
        assert!(is_local_only(LOCAL_NAMESPACE, "", "device"));
        assert!(is_local_only("", "", "peers"), "relay addresses are this device's own");
        for (p, s, k) in [("", "", "manager"), ("monitors", "", "x"), ("payments", "", "y")] {
            assert!(!is_local_only(p, s, k), "{p}/{s}/{k} is channel or wallet state");
        }
        // A key named like a local one in another namespace is backed up.
        assert!(!is_local_only("payments", "", "scorer"));
    }
}
