//! ldk-node's SQLite store, counting what a node writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ldk_node::io::sqlite_store::SqliteStore;
use ldk_node::lightning::io;
use ldk_node::lightning::util::persist::KVStoreSync;

/// ldk-node's own SQLite store (what `Builder::build` opens), counting every write and remove
/// by object: what the node asks of its store, which a backed-up store sends to the server
/// (all but the objects Doze keeps local: graph, scores, metrics).
pub(crate) struct CountingStore {
    pub(crate) inner: SqliteStore,
    pub(crate) writes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CountingStore {
    pub(crate) fn count(&self, primary: &str, key: &str) {
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

doze_ordered_persist::kv_store_via_sync!(impl [] for CountingStore);
