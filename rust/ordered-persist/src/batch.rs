//! Batched rounds: a round's writes collected while it makes them, and handed to the store at
//! once ([`OrderedPersister::persist_round_batched`]).
//!
//! A round writes the manager, then each monitor write of the round, and each write waits for
//! the store. On a phone whose store is backed up to a server, that is a round trip per write:
//! a wake's commitment dance made about seventeen at 100 ms each. The order is what keeps a
//! kill safe, not the waiting: a store that makes the round's writes in one request (atomic on
//! the server) and applies them locally in the order given keeps the rule that no monitor on
//! disk is ahead of the manager on disk, in one round trip.
//!
//! [`OrderedPersister::persist_round_batched`]: crate::OrderedPersister::persist_round_batched

use std::ops::Deref;
use std::sync::Mutex;
use std::thread::ThreadId;

use lightning::io;
use lightning::util::persist::KVStoreSync;

use crate::lock;

/// One change a round makes to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChange {
    /// The key's primary namespace.
    pub primary_namespace: String,
    /// The key's secondary namespace.
    pub secondary_namespace: String,
    /// The key.
    pub key: String,
    /// The new value; `None` removes the key.
    pub value: Option<Vec<u8>>,
}

/// A store that can take several changes at once.
pub trait WriteAll {
    /// Makes `changes` durable before returning. A store may send them together (one request
    /// to a server), but where they are applied one by one, it applies them in the order given:
    /// a kill part-way leaves a prefix of them, never a later change without an earlier one.
    fn write_all(&self, changes: Vec<StoreChange>) -> io::Result<()>;
}

/// What collects a batched round's writes.
pub trait RoundBatch {
    /// Why a commit failed.
    type Error;
    /// From now on, this thread's writes are collected instead of made.
    fn begin(&self);
    /// Makes the collected writes (in the order they were made) and stops collecting.
    fn commit(&self) -> Result<(), Self::Error>;
    /// Drops the collected writes and stops collecting.
    fn abandon(&self);
}

/// Writes being collected, and the thread whose writes they are.
struct Collecting {
    thread: ThreadId,
    changes: Vec<StoreChange>,
}

/// A store whose writes made on a round's thread between [`RoundBatch::begin`] and
/// [`RoundBatch::commit`] are collected and made at the commit in one
/// [`WriteAll::write_all`]. Other threads' writes pass straight through meanwhile (the app's
/// other records do not wait for a round). Give it to the monitor persister, and write the
/// manager through it in the round.
pub struct BatchedStore<S: Deref>
where
    S::Target: KVStoreSync + WriteAll,
{
    inner: S,
    collecting: Mutex<Option<Collecting>>,
}

impl<S: Deref> BatchedStore<S>
where
    S::Target: KVStoreSync + WriteAll,
{
    /// Batches rounds over `inner`.
    pub fn new(inner: S) -> Self {
        BatchedStore { inner, collecting: Mutex::new(None) }
    }

    /// Collects `change` if this thread is collecting; gives it back otherwise.
    fn collect(&self, change: StoreChange) -> Option<StoreChange> {
        let mut collecting = lock(&self.collecting);
        match collecting.as_mut() {
            Some(c) if c.thread == std::thread::current().id() => {
                c.changes.push(change);
                None
            }
            _ => Some(change),
        }
    }

    /// The newest collected value of a key, if this thread collected one (`Some(None)`: it
    /// removed the key).
    fn collected(&self, primary: &str, secondary: &str, key: &str) -> Option<Option<Vec<u8>>> {
        let collecting = lock(&self.collecting);
        let c = collecting.as_ref().filter(|c| c.thread == std::thread::current().id())?;
        c.changes
            .iter()
            .rev()
            .find(|c| {
                c.primary_namespace == primary && c.secondary_namespace == secondary && c.key == key
            })
            .map(|c| c.value.clone())
    }
}

fn change(primary: &str, secondary: &str, key: &str, value: Option<Vec<u8>>) -> StoreChange {
    StoreChange {
        primary_namespace: primary.to_string(),
        secondary_namespace: secondary.to_string(),
        key: key.to_string(),
        value,
    }
}

impl<S: Deref> RoundBatch for BatchedStore<S>
where
    S::Target: KVStoreSync + WriteAll,
{
    type Error = io::Error;

    fn begin(&self) {
        let thread = std::thread::current().id();
        *lock(&self.collecting) = Some(Collecting { thread, changes: Vec::new() });
    }

    fn commit(&self) -> Result<(), io::Error> {
        let changes = lock(&self.collecting).take().map(|c| c.changes).unwrap_or_default();
        if changes.is_empty() {
            return Ok(());
        }
        self.inner.write_all(changes)
    }

    fn abandon(&self) {
        lock(&self.collecting).take();
    }
}

impl<S: Deref> KVStoreSync for BatchedStore<S>
where
    S::Target: KVStoreSync + WriteAll,
{
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        match self.collected(primary, secondary, key) {
            Some(Some(value)) => Ok(value),
            Some(None) => Err(io::Error::new(io::ErrorKind::NotFound, "removed in this round")),
            None => self.inner.read(primary, secondary, key),
        }
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        match self.collect(change(primary, secondary, key, Some(buf))) {
            None => Ok(()),
            Some(c) => self.inner.write(primary, secondary, key, c.value.unwrap_or_default()),
        }
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        match self.collect(change(primary, secondary, key, None)) {
            None => Ok(()),
            Some(_) => self.inner.remove(primary, secondary, key, lazy),
        }
    }

    /// The store's keys, without this round's collected changes (nothing in a round lists).
    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        self.inner.list(primary, secondary)
    }
}

// The same store to LDK's async callers, so that it fits where ldk-node takes a store with
// both faces (`DynStore`: the wake engine builds ldk-node's own monitor persister over it).
// Each call runs at once on the caller's thread, where a round collects, and returns a
// ready future; the monitor persister itself only makes the sync calls.
crate::kv_store_via_sync!(
    impl [S: Deref] for BatchedStore<S> where [S::Target: KVStoreSync + WriteAll]
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A store that records what reaches it.
    #[derive(Default)]
    struct Recording {
        keys: Mutex<BTreeMap<String, Vec<u8>>>,
        batches: Mutex<Vec<Vec<String>>>,
    }

    impl KVStoreSync for Recording {
        fn read(&self, _: &str, _: &str, key: &str) -> io::Result<Vec<u8>> {
            lock(&self.keys).get(key).cloned().ok_or_else(|| io::ErrorKind::NotFound.into())
        }
        fn write(&self, _: &str, _: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
            lock(&self.keys).insert(key.into(), buf);
            Ok(())
        }
        fn remove(&self, _: &str, _: &str, key: &str, _: bool) -> io::Result<()> {
            lock(&self.keys).remove(key);
            Ok(())
        }
        fn list(&self, _: &str, _: &str) -> io::Result<Vec<String>> {
            Ok(lock(&self.keys).keys().cloned().collect())
        }
    }

    impl WriteAll for Recording {
        fn write_all(&self, changes: Vec<StoreChange>) -> io::Result<()> {
            lock(&self.batches).push(changes.iter().map(|c| c.key.clone()).collect());
            for c in changes {
                match c.value {
                    Some(v) => self.write("", "", &c.key, v)?,
                    None => self.remove("", "", &c.key, false)?,
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_rounds_writes_reach_the_store_at_the_commit_in_order_and_others_pass_through() {
        let store = std::sync::Arc::new(Recording::default());
        let batched = std::sync::Arc::new(BatchedStore::new(std::sync::Arc::clone(&store)));
        batched.write("", "", "old-update", vec![0]).unwrap();
        batched.begin();
        batched.write("", "", "manager", vec![1]).unwrap();
        batched.write("", "", "monitor", vec![2]).unwrap();
        batched.remove("", "", "old-update", true).unwrap();
        assert_eq!(batched.read("", "", "manager").unwrap(), vec![1], "reads see the round");
        assert!(batched.read("", "", "old-update").is_err(), "removed in the round");
        // Another thread's write is not the round's.
        let other = std::sync::Arc::clone(&batched);
        std::thread::spawn(move || other.write("", "", "payment", vec![3]).unwrap())
            .join()
            .unwrap();
        assert!(store.read("", "", "payment").is_ok(), "passed straight through");
        assert!(store.read("", "", "manager").is_err(), "nothing of the round before the commit");
        batched.commit().unwrap();
        assert_eq!(*lock(&store.batches), vec![vec!["manager", "monitor", "old-update"]]);
        assert!(store.read("", "", "old-update").is_err());
        batched.write("", "", "after", vec![4]).unwrap();
        assert_eq!(lock(&store.batches).len(), 1, "the commit ended the collecting");
    }

    #[test]
    fn an_abandoned_round_writes_nothing() {
        let store = std::sync::Arc::new(Recording::default());
        let batched = BatchedStore::new(std::sync::Arc::clone(&store));
        batched.begin();
        batched.write("", "", "manager", vec![1]).unwrap();
        batched.abandon();
        batched.commit().unwrap();
        assert!(lock(&store.keys).is_empty());
        assert!(lock(&store.batches).is_empty());
    }
}
