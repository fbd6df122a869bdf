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
//! deletes a hundred monitor updates at once).

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

use super::remote::{ObjectName, Remote, RemoteError, MAX_OBJECTS_PER_REQUEST};

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

fn other(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message.to_string())
}

/// The message of a write refused because another device took the wallet over.
pub(crate) const MOVED: &str = "this wallet now runs on another device";
/// The message of a write refused because the app's session closed the store.
const CLOSED: &str = "the wallet's store is closed";

/// The serialized writer: the server's global version this device expects, and the newest
/// write applied per key.
struct Writer {
    global_version: i64,
    applied: HashMap<ObjectName, u64>,
}

/// A change waiting for the next request to the server.
struct Pending {
    sequence: u64,
    name: ObjectName,
    value: Option<Vec<u8>>,
    done: tokio::sync::oneshot::Sender<io::Result<()>>,
}

/// The phone's copy, until the app's session lets go of it (a pause): from then on it is
/// closed, and what would read or write it fails.
struct Local(std::sync::RwLock<Option<SqliteStore>>);

impl Local {
    fn with<T>(&self, f: impl FnOnce(&SqliteStore) -> io::Result<T>) -> io::Result<T> {
        let local = self.0.read().unwrap_or_else(|p| p.into_inner());
        f(local.as_ref().ok_or_else(|| other("the wallet's local store is closed"))?)
    }
}

impl KVStoreSync for Local {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        self.with(|l| KVStoreSync::read(l, primary, secondary, key))
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        self.with(|l| KVStoreSync::write(l, primary, secondary, key, buf))
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        self.with(|l| KVStoreSync::remove(l, primary, secondary, key, lazy))
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        self.with(|l| KVStoreSync::list(l, primary, secondary))
    }
}

struct Shared {
    local: Local,
    remote: Arc<Remote>,
    /// Changes not yet sent.
    queue: std::sync::Mutex<Vec<Pending>>,
    /// Held by whoever sends the queue: one request at a time.
    writer: tokio::sync::Mutex<Writer>,
    moved: AtomicBool,
    /// Closed by the app's session (a pause, a stop, a failed write): nothing more is sent to
    /// the server or applied locally.
    closed: AtomicBool,
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
        runtime.spawn(async move {
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
            handle
                .spawn(async move { shared.apply(changes).await })
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
    /// Queues changes (sequence, name, value) together and returns once they are on the
    /// server and on the phone, sent with whatever else was queued meanwhile; the first error.
    async fn apply(&self, changes: Vec<(u64, ObjectName, Option<Vec<u8>>)>) -> io::Result<()> {
        let mut results = Vec::with_capacity(changes.len());
        {
            let mut queue = crate::mutex::lock(&self.queue);
            for (sequence, name, value) in changes {
                let (done, result) = tokio::sync::oneshot::channel();
                queue.push(Pending { sequence, name, value, done });
                results.push(result);
            }
        }
        let mut outcome = Ok(());
        while !results.is_empty() {
            let mut writer = self.writer.lock().await;
            let mut waiting = Vec::new();
            for mut result in results {
                match result.try_recv() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => outcome = outcome.and(Err(e)),
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        outcome = outcome.and(Err(other("backup write lost")))
                    }
                    // Still queued: this caller sends the queue.
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => waiting.push(result),
                }
            }
            results = waiting;
            if !results.is_empty() {
                let batch = std::mem::take(&mut *crate::mutex::lock(&self.queue));
                self.send(&mut writer, batch).await;
            }
        }
        outcome
    }

    /// Sends `batch`: the newest change per key, in requests of up to
    /// [`MAX_OBJECTS_PER_REQUEST`] objects, each then applied to the local store; every
    /// change's caller gets its result.
    async fn send(&self, writer: &mut Writer, mut batch: Vec<Pending>) {
        batch.sort_by_key(|p| p.sequence);
        let mut newest: HashMap<ObjectName, Pending> = HashMap::new();
        for change in batch {
            // An older change than one already applied, or than a later one in this batch,
            // is skipped: the later value is what LDK wants stored.
            if writer.applied.get(&change.name).is_some_and(|&n| n > change.sequence) {
                let _ = change.done.send(Ok(()));
                continue;
            }
            if let Some(older) = newest.insert(change.name.clone(), change) {
                let _ = older.done.send(Ok(()));
            }
        }
        let mut changes: Vec<Pending> = newest.into_values().collect();
        changes.sort_by_key(|p| p.sequence);
        // The server holds what the phone holds: a delete of an object the phone does not
        // have needs no request (LDK deletes ranges of monitor updates, some never written).
        let (changes, absent): (Vec<_>, Vec<_>) =
            changes.into_iter().partition(|c| c.value.is_some() || self.exists_locally(&c.name));
        for change in absent {
            let _ = change.done.send(Ok(()));
        }
        let mut changes = changes.into_iter().peekable();
        while changes.peek().is_some() {
            let chunk: Vec<Pending> = changes.by_ref().take(MAX_OBJECTS_PER_REQUEST).collect();
            let result = self.send_chunk(writer, &chunk).await;
            for change in chunk {
                let _ = change.done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(other(e)),
                });
            }
        }
    }

    fn exists_locally(&self, name: &ObjectName) -> bool {
        KVStoreSync::read(&self.local, &name.primary, &name.secondary, &name.key)
            .map_or_else(|e| e.kind() != io::ErrorKind::NotFound, |_| true)
    }

    /// One request for `chunk`, then the local store. The error is the one every change of
    /// the chunk answers.
    async fn send_chunk(&self, writer: &mut Writer, chunk: &[Pending]) -> Result<(), String> {
        if self.moved.load(Ordering::SeqCst) {
            return Err(MOVED.into());
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(CLOSED.into());
        }
        let puts: Vec<_> = chunk
            .iter()
            .filter_map(|c| c.value.as_ref().map(|v| (c.name.clone(), v.clone())))
            .collect();
        let deletes: Vec<_> =
            chunk.iter().filter(|c| c.value.is_none()).map(|c| c.name.clone()).collect();
        match self.remote.put(writer.global_version, puts, &deletes).await {
            Ok(()) => writer.global_version += 1,
            // The phone and the server disagreeing on an object is not expected; the changes
            // then go one by one, a delete of an object the server lacks counting as done.
            Err(RemoteError::Conflict) if !deletes.is_empty() => {
                self.check_conflict(writer).await?;
                return self.send_one_by_one(writer, chunk).await;
            }
            Err(RemoteError::Conflict) => return Err(self.mark_moved()),
            Err(e) => return Err(e.to_string()),
        }
        self.apply_locally(writer, chunk)
    }

    /// The slow path of [`Shared::send_chunk`]: each change alone, a delete of an object the
    /// server lacks counting as done.
    async fn send_one_by_one(&self, writer: &mut Writer, chunk: &[Pending]) -> Result<(), String> {
        for change in chunk {
            let name = std::slice::from_ref(&change.name);
            let sent = match &change.value {
                Some(v) => self.remote.put(
                    writer.global_version,
                    vec![(change.name.clone(), v.clone())],
                    &[],
                ),
                None => self.remote.put(writer.global_version, Vec::new(), name),
            }
            .await;
            match sent {
                Ok(()) => writer.global_version += 1,
                Err(RemoteError::Conflict) if change.value.is_none() => {
                    self.check_conflict(writer).await?
                }
                Err(RemoteError::Conflict) => return Err(self.mark_moved()),
                Err(e) => return Err(e.to_string()),
            }
        }
        self.apply_locally(writer, chunk)
    }

    /// After a conflict on a request with deletes: vss-server answers a delete of an object it
    /// does not have with the same conflict as a stale global version, so only a version that
    /// moved on means another device wrote ([`MOVED`]).
    async fn check_conflict(&self, writer: &Writer) -> Result<(), String> {
        let current = self.remote.global_version().await.map_err(|e| e.to_string())?;
        if current == writer.global_version {
            Ok(())
        } else {
            Err(self.mark_moved())
        }
    }

    /// Refuses every later write of this device; returns the reason.
    fn mark_moved(&self) -> String {
        if !self.moved.swap(true, Ordering::SeqCst) {
            log::error!("backup: {MOVED}; this device's writes are refused from now on");
        }
        MOVED.into()
    }

    fn apply_locally(&self, writer: &mut Writer, chunk: &[Pending]) -> Result<(), String> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(CLOSED.into());
        }
        for change in chunk {
            let (p, s, k) = (&change.name.primary, &change.name.secondary, &change.name.key);
            match &change.value {
                Some(value) => KVStoreSync::write(&self.local, p, s, k, value.clone()),
                None => KVStoreSync::remove(&self.local, p, s, k, false),
            }
            .map_err(|e| e.to_string())?;
            writer.applied.insert(change.name.clone(), change.sequence);
            if chunk.len() > 1 {
                crate::kill_points::reached(crate::kill_points::points::BACKUP_PART_APPLIED);
            }
        }
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
