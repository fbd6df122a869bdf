//! Sending the store's changes to the server: one request at a time (the writer lock), the
//! newest change per key, each request recorded in the journal before it leaves (`journal.rs`)
//! and applied to the phone's copy once the server has it. Writes that arrive while a request is
//! on its way go together in the next (a group commit). A request whose answer is lost is
//! settled by reading back the id of the last request the server committed; a device that is no
//! longer the wallet's latest writer is refused ([`MOVED`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ldk_node::io::sqlite_store::SqliteStore;
use ldk_node::lightning::io;
use ldk_node::lightning::util::persist::KVStoreSync;

use super::journal::{self, Journal};
use super::remote::{ObjectName, Remote, RemoteError, MAX_OBJECTS_PER_REQUEST};

pub(super) fn other(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message.to_string())
}

/// The message of a write refused because another device took the wallet over.
const MOVED: &str = "this wallet now runs on another device";
/// The message of a write refused because the app's session closed the store.
const CLOSED: &str = "the wallet's store is closed";

/// The serialized writer: the server's global version this device expects, and the newest
/// write applied per key.
pub(super) struct Writer {
    pub(super) global_version: i64,
    pub(super) applied: HashMap<ObjectName, u64>,
    /// A request's outcome is unknown (the server could not say): settled before the next.
    pub(super) unresolved: bool,
}

/// A change waiting for the next request to the server.
pub(super) struct Pending {
    pub(super) sequence: u64,
    pub(super) name: ObjectName,
    pub(super) value: Option<Vec<u8>>,
    pub(super) done: tokio::sync::oneshot::Sender<io::Result<()>>,
}

/// The phone's copy, until the app's session lets go of it (a pause): from then on it is
/// closed, and what would read or write it fails.
pub(super) struct Local(pub(super) std::sync::RwLock<Option<SqliteStore>>);

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

/// What the store's handles share: the phone's copy, the server, and the queue of changes.
pub(super) struct Shared {
    pub(super) local: Local,
    pub(super) remote: Arc<Remote>,
    /// Changes not yet sent.
    pub(super) queue: std::sync::Mutex<Vec<Pending>>,
    /// Held by whoever sends the queue: one request at a time.
    pub(super) writer: tokio::sync::Mutex<Writer>,
    pub(super) moved: AtomicBool,
    /// Closed by the app's session (a pause, a stop, a failed write): nothing more is sent to
    /// the server or applied locally.
    pub(super) closed: AtomicBool,
}

impl Shared {
    /// Queues changes (sequence, name, value) together and returns once they are on the
    /// server and on the phone, sent with whatever else was queued meanwhile; the first error.
    pub(super) async fn apply(
        &self,
        changes: Vec<(u64, ObjectName, Option<Vec<u8>>)>,
    ) -> io::Result<()> {
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
        in_sequence(&mut batch);
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
        in_sequence(&mut changes);
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
        self.check_open()?;
        self.settle_unresolved(writer).await?;
        let changes: Vec<_> = chunk.iter().map(|c| (c.name.clone(), c.value.clone())).collect();
        match self.commit(writer, changes).await {
            Ok(()) => {}
            // The phone and the server disagreeing on an object is not expected; the changes
            // then go one by one, a delete of an object the server lacks counting as done.
            Err(RemoteError::Conflict) if chunk.iter().any(|c| c.value.is_none()) => {
                self.check_conflict(writer).await?;
                return self.send_one_by_one(writer, chunk).await;
            }
            Err(RemoteError::Conflict) => return Err(self.mark_moved()),
            Err(e) => return Err(e.to_string()),
        }
        self.apply_locally(writer, chunk)
    }

    /// The slow path of [`Shared::send_chunk`]: each change alone, committed and applied before
    /// the next, a delete of an object the server lacks counting as done.
    async fn send_one_by_one(&self, writer: &mut Writer, chunk: &[Pending]) -> Result<(), String> {
        for change in chunk {
            let one = vec![(change.name.clone(), change.value.clone())];
            match self.commit(writer, one).await {
                Ok(()) => {}
                Err(RemoteError::Conflict) if change.value.is_none() => {
                    self.check_conflict(writer).await?;
                    journal::clear(&self.local).map_err(|e| self.local_failed(e))?;
                }
                Err(RemoteError::Conflict) => return Err(self.mark_moved()),
                Err(e) => return Err(e.to_string()),
            }
            self.apply_locally(writer, std::slice::from_ref(change))?;
        }
        Ok(())
    }

    /// Sends `changes` in one request at the writer's global version, recorded in the journal
    /// first with the request's id, which the request also writes (`journal.rs`); `Ok` once the
    /// server has them, the version then moved on. An answer lost on the way (a timeout, or a
    /// retry of a request that did commit, which the server refuses as stale) is settled by
    /// reading back the id of the last request the server committed.
    async fn commit(
        &self,
        writer: &mut Writer,
        changes: Vec<(ObjectName, Option<Vec<u8>>)>,
    ) -> Result<(), RemoteError> {
        let record = Journal::new(changes);
        journal::keep(&self.local, &record)
            .map_err(|e| RemoteError::Failed(self.local_failed(e)))?;
        // Recorded: the values move on into the request, no second copy.
        let Journal { request, changes } = record;
        let mut puts = vec![(journal::last_request_object(), request.to_vec())];
        let mut deletes = Vec::new();
        for (name, value) in changes {
            match value {
                Some(value) => puts.push((name, value)),
                None => deletes.push(name),
            }
        }
        let sent = self.remote.put(writer.global_version, puts, &deletes).await;
        let committed = match &sent {
            Ok(()) => true,
            Err(_) => self.committed_anyway(writer, &request).await,
        };
        if committed {
            writer.global_version += 1;
            return Ok(());
        }
        sent
    }

    /// After a request failed: whether the server has it all the same (it names the request as
    /// its last). If the server cannot say, the outcome stays open: the journal keeps the
    /// request, and the next request, or the next open, settles it first.
    async fn committed_anyway(&self, writer: &mut Writer, request: &[u8; 16]) -> bool {
        match self.remote.get_quick(&journal::last_request_object()).await {
            Ok(last) => journal::committed(request, last.as_deref()),
            Err(e) => {
                log::warn!("backup: a write's outcome is unknown ({e}); settled at the next one");
                writer.unresolved = true;
                false
            }
        }
    }

    /// Settles a request whose outcome was left open (see [`Shared::committed_anyway`])
    /// before the journal records another: applied on the phone if the server has it.
    async fn settle_unresolved(&self, writer: &mut Writer) -> Result<(), String> {
        if !writer.unresolved {
            return Ok(());
        }
        let Some(record) = journal::read(&self.local).map_err(|e| self.local_failed(e))? else {
            writer.unresolved = false;
            return Ok(());
        };
        let last = self.remote.get_quick(&journal::last_request_object()).await;
        let last = last.map_err(|e| e.to_string())?;
        let settled = journal::resolve(&self.local, &record, last.as_deref());
        if let journal::Resolution::RolledForward { objects } =
            settled.map_err(|e| self.local_failed(e))?
        {
            log::info!("backup: an earlier write did reach the server; {objects} applied");
            writer.global_version += 1;
        }
        writer.unresolved = false;
        Ok(())
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
    pub(super) fn mark_moved(&self) -> String {
        if !self.moved.swap(true, Ordering::SeqCst) {
            log::error!("backup: {MOVED}; this device's writes are refused from now on");
        }
        MOVED.into()
    }

    /// Applies a committed `chunk` to the phone's copy in order, then clears its journal.
    fn apply_locally(&self, writer: &mut Writer, chunk: &[Pending]) -> Result<(), String> {
        // A store closed meanwhile leaves the journal: the next open applies the request.
        self.check_open()?;
        for change in chunk {
            let one = [(change.name.clone(), change.value.clone())];
            journal::apply(&self.local, &one).map_err(|e| self.local_failed(e))?;
            writer.applied.insert(change.name.clone(), change.sequence);
            if chunk.len() > 1 {
                crate::kill_points::reached(crate::kill_points::points::BACKUP_PART_APPLIED);
            }
        }
        journal::clear(&self.local).map_err(|e| self.local_failed(e))
    }

    fn check_open(&self) -> Result<(), String> {
        if self.moved.load(Ordering::SeqCst) {
            return Err(MOVED.into());
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(CLOSED.into());
        }
        Ok(())
    }

    /// The phone's copy failed a write: nothing more is sent, so that the journal keeps the
    /// request the phone may lack for the next open to apply. Returns the reason.
    fn local_failed(&self, e: io::Error) -> String {
        self.closed.store(true, Ordering::SeqCst);
        log::error!("backup: the phone's copy failed a write ({e}); the store is closed");
        format!("the phone's store failed a write: {e}")
    }
}

/// Orders changes as their callers made them. One function for both sorts in `send`: each
/// sort closure compiles the whole sorting algorithm again (the phone library's size).
fn in_sequence(changes: &mut [Pending]) {
    changes.sort_by_key(|p| p.sequence);
}
