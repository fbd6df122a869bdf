//! The wake's monitor persistence: ldk-node's `MonitorUpdatingPersister` behind
//! `doze-ordered-persist`, so that a wake killed at any instant leaves no channel monitor
//! ahead of the channel manager on disk (LDK force-closes such a channel at the next start).
//! That crate's docs give the rule, the order of a persistence round, and the two races the
//! order closes; `Stack::persist` runs the rounds.
//!
//! A round's writes (the manager, then the round's monitor writes) are batched: collected
//! while the round makes them and committed at once. With a backup that is one request to the
//! server a round, atomic there and applied on the phone in order, instead of one round trip
//! per write (a wake on a phone 100 ms from its backup server waited for about seventeen).

use std::sync::Arc;

use doze_ordered_persist::{BatchedStore, StoreChange, WriteAll};
use ldk_node::lightning::io;
use ldk_node::lightning::util::persist::{KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY};
use ldk_node::DynStore;

use crate::kill_points::{self, points};
use crate::store::backup::BackedUpStore;

/// The node store as a round writes it: the monitor persister and the round's manager write
/// go through it, and a round's writes reach the node store at its commit.
pub(crate) type RoundStore = BatchedStore<Arc<RoundTarget>>;

/// Where a round's commit goes: the backup (one request) or the local store (in order).
pub(crate) struct RoundTarget {
    store: Arc<DynStore>,
    backed_up: Option<Arc<BackedUpStore>>,
}

impl RoundTarget {
    /// The wallet's node store without a backup.
    pub(crate) fn local(store: Arc<DynStore>) -> RoundTarget {
        RoundTarget { store, backed_up: None }
    }

    /// The wallet's node store with its backup.
    pub(crate) fn backed_up(store: Arc<BackedUpStore>) -> RoundTarget {
        RoundTarget { store: Arc::clone(&store) as Arc<DynStore>, backed_up: Some(store) }
    }

    /// The node store, for everything a round does not write.
    pub(crate) fn store(&self) -> Arc<DynStore> {
        Arc::clone(&self.store)
    }
}

fn is_manager(change: &StoreChange) -> bool {
    change.primary_namespace.is_empty()
        && change.secondary_namespace.is_empty()
        && change.key == CHANNEL_MANAGER_PERSISTENCE_KEY
}

impl WriteAll for RoundTarget {
    fn write_all(&self, changes: Vec<StoreChange>) -> io::Result<()> {
        if let Some(backed_up) = &self.backed_up {
            backed_up.write_all(changes)?;
            kill_points::reached(points::MANAGER_WRITTEN);
            return Ok(());
        }
        for change in changes {
            let manager = is_manager(&change);
            let (p, s, k) = (&change.primary_namespace, &change.secondary_namespace, &change.key);
            match change.value {
                Some(value) => KVStoreSync::write(&*self.store, p, s, k, value),
                None => KVStoreSync::remove(&*self.store, p, s, k, false),
            }?;
            if manager {
                // Killed here: the manager on disk holds the round's updates as in flight
                // and LDK replays them into the monitors at the next start.
                kill_points::reached(points::MANAGER_WRITTEN);
            }
        }
        Ok(())
    }
}

impl KVStoreSync for RoundTarget {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&*self.store, primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(&*self.store, primary, secondary, key, buf)
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(&*self.store, primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&*self.store, primary, secondary)
    }
}
