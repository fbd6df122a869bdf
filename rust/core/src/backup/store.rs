//! The node's store with a backup: ldk-node's SQLite store on the phone, every write also on
//! the VSS server. Reads and lists are local (a wake reads the channel state in milliseconds,
//! offline or not); a write is done only when the server has it, and the server has it only if
//! this device is still the wallet's latest writer (the global version, see `device.rs`). So a
//! channel update LDK considers persisted is always in the backup, and an old phone's update is
//! refused instead of overwriting the new phone's.
//!
//! Writes are applied in the order they were called, per key, as LDK requires: each call takes
//! a sequence number when it is made, and a write older than the last one applied to its key is
//! skipped (ldk-node's `VssStore` does the same). Remote writes are serialized, since each moves
//! the global version on.

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

use super::remote::{ObjectName, Remote, RemoteError};

/// The namespace of this device's own records (its device id): never backed up.
pub(crate) const LOCAL_NAMESPACE: &str = "doze_local";

/// What is not worth a round trip to the server: gossip and scores are rebuilt after a restore,
/// and sync times only make the first sync after a restore a full one.
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
            ))
}

fn other(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message.to_string())
}

/// The message of a write refused because another device took the wallet over.
pub(crate) const MOVED: &str = "this wallet now runs on another device";

/// The serialized writer: the server's global version this device expects, and the newest
/// write applied per key.
struct Writer {
    global_version: i64,
    applied: HashMap<ObjectName, u64>,
}

struct Shared {
    local: SqliteStore,
    remote: Arc<Remote>,
    writer: tokio::sync::Mutex<Writer>,
    moved: AtomicBool,
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
        let writer = Writer { global_version, applied: HashMap::new() };
        BackedUpStore {
            shared: Arc::new(Shared {
                local,
                remote,
                writer: tokio::sync::Mutex::new(writer),
                moved: AtomicBool::new(false),
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
        self.shared.moved.store(true, Ordering::SeqCst);
    }

    /// The local store (reads, and this device's own records).
    pub(crate) fn local(&self) -> &SqliteStore {
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

    fn change(
        &self,
        name: ObjectName,
        value: Option<Vec<u8>>,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let sequence = self.next_sequence.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&self.shared);
        let handle = self.runtime.as_ref().map(|r| r.handle().clone());
        async move {
            let handle = handle.ok_or_else(|| other("store closed"))?;
            handle
                .spawn(async move { shared.apply(sequence, name, value).await })
                .await
                .map_err(|e| other(format!("backup write stopped: {e}")))?
        }
    }
}

/// Runs `future` on `runtime` and waits for it, from any thread: a plain one, a runtime's
/// blocking thread or a runtime worker.
pub(crate) fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> io::Result<T> {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(future.await);
    });
    let wait = move || result.recv().map_err(|_| other("store closed"));
    match tokio::runtime::Handle::try_current() {
        // Let the caller's runtime move its other tasks off this thread meanwhile.
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

impl Shared {
    async fn apply(
        &self,
        sequence: u64,
        name: ObjectName,
        value: Option<Vec<u8>>,
    ) -> io::Result<()> {
        if self.moved.load(Ordering::SeqCst) {
            return Err(other(MOVED));
        }
        let mut writer = self.writer.lock().await;
        if writer.applied.get(&name).is_some_and(|&newest| newest > sequence) {
            // A newer write to this key is already applied (LDK's eventual-consistency rule).
            return Ok(());
        }
        let result = match &value {
            Some(value) => {
                self.remote.put(writer.global_version, vec![(name.clone(), value.clone())], &[])
            }
            None => self.remote.put(writer.global_version, Vec::new(), std::slice::from_ref(&name)),
        }
        .await;
        // vss-server answers a delete of a missing key with the same conflict as a stale global
        // version (LDK deletes ranges of monitor updates, some never written): only a global
        // version that moved on means another device wrote.
        let missing_key = match (&result, &value) {
            (Err(RemoteError::Conflict), None) => {
                self.remote.global_version().await? == writer.global_version
            }
            _ => false,
        };
        match result {
            Ok(()) => writer.global_version += 1,
            // Already gone: nothing written, the global version did not move.
            Err(RemoteError::Conflict) if missing_key => {}
            Err(RemoteError::Conflict) => {
                self.moved.store(true, Ordering::SeqCst);
                log::error!("backup: {MOVED}; this device's writes are refused from now on");
                return Err(other(MOVED));
            }
            Err(e) => return Err(e.into()),
        }
        let (p, s, k) = (&name.primary, &name.secondary, &name.key);
        match value {
            Some(value) => KVStoreSync::write(&self.local, p, s, k, value)?,
            None => KVStoreSync::remove(&self.local, p, s, k, false)?,
        }
        writer.applied.insert(name, sequence);
        Ok(())
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
        let change = self.change(ObjectName::new(primary, secondary, key), None);
        self.block_on(change)?
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
        Box::pin(self.change(ObjectName::new(primary, secondary, key), None))
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
        for (p, s, k) in [("", "", "manager"), ("monitors", "", "x"), ("payments", "", "y")] {
            assert!(!is_local_only(p, s, k), "{p}/{s}/{k} is channel or wallet state");
        }
        // A key named like a local one in another namespace is backed up.
        assert!(!is_local_only("payments", "", "scorer"));
    }
}
