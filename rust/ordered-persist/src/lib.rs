//! `doze-ordered-persist`: channel-monitor persistence in an order that survives a kill at any
//! instant. Used by Doze's wake engine and, through Doze's patch of ldk-node 0.7.1
//! (`vendor/ldk-node`), by the app's node and the reference LSP's.
//!
//! # The rule
//!
//! On disk, every channel monitor state must be known to the channel manager on disk. LDK
//! 0.2.7 force-closes, at the next start, a channel whose monitor is ahead of the manager
//! (`ChannelManager::read`: "A ChannelManager is stale compared to the current
//! ChannelMonitor!", `ClosureReason::OutdatedChannelManager`). The other way round is safe: a
//! manager that records a monitor update as *in flight* (generated, not reported complete)
//! replays it into the monitor at load (`handle_in_flight_updates` in `ChannelManager::read`),
//! so an in-flight update may be missing from disk.
//!
//! Stock ldk-node persists synchronously: each monitor update is written before LDK goes on,
//! and the manager moments later by the background processor. A kill between the two leaves
//! the monitor ahead and costs the channel (rust-lightning#4286, ldk-node#451).
//!
//! # The order
//!
//! [`OrderedPersister`] uses LDK's asynchronous persistence instead. Every monitor write is
//! answered `InProgress` (LDK then holds back every message that depends on it, so the peer
//! sees nothing that needs it durable) and deferred. [`OrderedPersister::persist_round`] then
//! makes one round:
//!
//! 1. it **takes** the deferred writes, and copies the monitors that a write of the round
//!    stores whole;
//! 2. it **writes the manager**, encoded after the take: every update in the round was handed
//!    to the chain monitor by the manager, which records it as in flight first, so the
//!    encoding knows it;
//! 3. it **writes the round's monitor updates**, and only then tells LDK they are complete,
//!    which lets the held messages out.
//!
//! Killed before step 3, the manager on disk replays the round's updates; killed during or
//! after it, every monitor on disk is one the manager on disk knows. Updates that arrive after
//! the take (peer messages are handled on other threads meanwhile) wait for the next round.
//!
//! [`OrderedPersister::persist_round_batched`] makes the same round with its writes collected
//! and committed at once, manager first ([`BatchedStore`]): one request to a remote store a
//! round instead of one per write (see `batch.rs`).
//!
//! Two races this order closes, both seen as force-closes after kills:
//! - taking the writes *after* encoding the manager: an update handled in between was written
//!   and completed unknown to the manager just written;
//! - writing a whole monitor from the *live* monitor (LDK's `MonitorUpdatingPersister` does so
//!   at every 100th update, and for chain-sync and new-channel writes): the live monitor may
//!   already hold updates newer than the manager just written. A round writes whole monitors
//!   from the copies it made in step 1.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::{ChannelMonitorUpdateStatus, Filter};
use lightning::ln::types::ChannelId;
use lightning::sign::{EntropySource, InMemorySigner};
use lightning::util::logger::Logger;
use lightning::util::persist::MonitorName;

mod batch;
mod sync_kv;

pub use batch::{BatchedStore, RoundBatch, StoreChange, WriteAll};

/// The LDK crate [`kv_store_via_sync!`] names its paths through.
#[doc(hidden)]
pub use lightning as __lightning;

/// A channel monitor as LDK and ldk-node keep it.
pub type Monitor = ChannelMonitor<InMemorySigner>;

/// A monitor write waiting for the manager to be written first.
enum DeferredWrite {
    /// A new channel's monitor (`watch_channel`), written whole.
    NewChannel { name: MonitorName, channel_id: ChannelId, update_id: u64 },
    /// An update (or, without one, a chain-sync rewrite of the whole monitor).
    Update { name: MonitorName, channel_id: ChannelId, update: Option<ChannelMonitorUpdate> },
}

impl DeferredWrite {
    fn channel_id(&self) -> ChannelId {
        match self {
            DeferredWrite::NewChannel { channel_id, .. }
            | DeferredWrite::Update { channel_id, .. } => *channel_id,
        }
    }

    /// Whether the persister writes the whole monitor for it.
    fn is_whole(&self) -> bool {
        match self {
            DeferredWrite::NewChannel { .. } => true,
            DeferredWrite::Update { update, .. } => writes_whole_monitor(update.as_ref()),
        }
    }
}

/// What a round needs of the chain monitor.
pub trait Monitors {
    /// A copy of the channel's monitor as it is now.
    fn copy_of(&self, channel_id: ChannelId) -> Option<Monitor>;
    /// Runs `write` with the channel's live monitor.
    fn with_live(
        &self,
        channel_id: ChannelId,
        write: &mut dyn FnMut(&Monitor) -> ChannelMonitorUpdateStatus,
    ) -> Option<ChannelMonitorUpdateStatus>;
    /// Tells LDK that the channel's update `update_id` is durable.
    fn completed(&self, channel_id: ChannelId, update_id: u64) -> Result<(), String>;
}

impl<C: Deref, T: Deref, F: Deref, L: Deref, P: Deref, ES: Deref> Monitors
    for ChainMonitor<InMemorySigner, C, T, F, L, P, ES>
where
    C::Target: Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<InMemorySigner>,
    ES::Target: EntropySource,
{
    fn copy_of(&self, channel_id: ChannelId) -> Option<Monitor> {
        self.get_monitor(channel_id).ok().map(|monitor| (*monitor).clone())
    }

    fn with_live(
        &self,
        channel_id: ChannelId,
        write: &mut dyn FnMut(&Monitor) -> ChannelMonitorUpdateStatus,
    ) -> Option<ChannelMonitorUpdateStatus> {
        self.get_monitor(channel_id).ok().map(|monitor| write(&monitor))
    }

    fn completed(&self, channel_id: ChannelId, update_id: u64) -> Result<(), String> {
        self.channel_monitor_updated(channel_id, update_id).map_err(|e| format!("{e:?}"))
    }
}

/// Why a round stopped. Its unwritten monitor writes are deferred again, for the next round.
#[derive(Debug)]
pub enum RoundError<E> {
    /// The manager could not be written.
    Manager(E),
    /// A batched round's writes could not be committed (see [`RoundBatch`]).
    Commit(E),
    /// A monitor write failed.
    Monitor(ChannelId),
    /// LDK refused the completion of a written update.
    Completion(ChannelId, String),
}

impl<E: std::fmt::Display> std::fmt::Display for RoundError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoundError::Manager(e) => write!(f, "cannot write the channel manager: {e}"),
            RoundError::Commit(e) => write!(f, "cannot write the channel state: {e}"),
            RoundError::Monitor(id) => write!(f, "cannot write the monitor of channel {id}"),
            RoundError::Completion(id, e) => {
                write!(f, "the monitor update of channel {id} was not completed: {e}")
            }
        }
    }
}

/// What a round wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// Monitor writes (updates, and whole monitors).
    pub monitor_writes: usize,
    /// Whether a whole monitor was among them.
    pub whole_monitor: bool,
}

/// A monitor persister (LDK's `MonitorUpdatingPersister`, as ldk-node builds it) whose writes
/// wait for the channel manager (see the crate's docs). Give it to the `ChainMonitor`, and run
/// [`OrderedPersister::persist_round`] whenever it [`OrderedPersister::has_deferred`] writes
/// and whenever the manager needs persisting: every manager write must go through a round.
pub struct OrderedPersister<P: Deref>
where
    P::Target: Persist<InMemorySigner>,
{
    inner: P,
    /// Off: every write goes straight to `inner` (stock ldk-node's behaviour).
    ordered: bool,
    deferred: Mutex<Vec<DeferredWrite>>,
    deferred_added: Condvar,
    /// Rounds do not interleave: a round's manager must be encoded after its take, and written
    /// before its monitors.
    round: Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether LDK 0.2.7's `MonitorUpdatingPersister` writes the whole monitor for `update` rather
/// than the update alone (its `update_persisted_channel`): no update (a chain-sync rewrite), a
/// legacy closed channel's update, or a multiple of ldk-node's consolidation interval
/// (`PERSISTER_MAX_PENDING_UPDATES`, 100).
pub fn writes_whole_monitor(update: Option<&ChannelMonitorUpdate>) -> bool {
    const PERSISTER_MAX_PENDING_UPDATES: u64 = 100;
    update
        .is_none_or(|u| u.update_id == u64::MAX || u.update_id % PERSISTER_MAX_PENDING_UPDATES == 0)
}

impl<P: Deref> OrderedPersister<P>
where
    P::Target: Persist<InMemorySigner>,
{
    /// Defers `inner`'s writes.
    pub fn new(inner: P) -> Self {
        Self::with_order(inner, true)
    }

    /// Passes every write straight to `inner`, as stock ldk-node does (not kill-safe; for
    /// nodes that keep stock behaviour, e.g. a benchmark's anchor).
    pub fn pass_through(inner: P) -> Self {
        Self::with_order(inner, false)
    }

    fn with_order(inner: P, ordered: bool) -> Self {
        OrderedPersister {
            inner,
            ordered,
            deferred: Mutex::new(Vec::new()),
            deferred_added: Condvar::new(),
            round: Mutex::new(()),
        }
    }

    /// Whether writes are ordered (deferred until a round), not passed straight through.
    pub fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// Whether monitor writes wait for a round.
    pub fn has_deferred(&self) -> bool {
        !lock(&self.deferred).is_empty()
    }

    /// Waits up to `timeout` for a deferred write; whether there is one.
    pub fn wait_for_deferred(&self, timeout: Duration) -> bool {
        let deferred = lock(&self.deferred);
        let (deferred, _) = self
            .deferred_added
            .wait_timeout_while(deferred, timeout, |d| d.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        !deferred.is_empty()
    }

    fn defer(&self, write: DeferredWrite) -> ChannelMonitorUpdateStatus {
        lock(&self.deferred).push(write);
        self.deferred_added.notify_all();
        ChannelMonitorUpdateStatus::InProgress
    }

    /// Puts writes back ahead of those deferred since: a round could not write them.
    fn put_back(&self, writes: Vec<DeferredWrite>) {
        let mut deferred = lock(&self.deferred);
        let later = std::mem::replace(&mut *deferred, writes);
        deferred.extend(later);
    }

    /// One round: takes the deferred writes, runs `write_manager` (which must encode the
    /// channel manager *now* and write it durably), then writes the taken monitor writes and
    /// reports them complete to `monitors`. Never call it from inside LDK (a persister or event
    /// callback): encoding the manager waits for LDK's locks.
    pub fn persist_round<E>(
        &self,
        monitors: &impl Monitors,
        write_manager: impl FnOnce() -> Result<(), E>,
    ) -> Result<RoundReport, RoundError<E>> {
        let _round = lock(&self.round);
        // 1. Take, and copy what is written whole, before the manager is encoded.
        let (writes, copies) = self.take(monitors);
        // 2. The manager, which knows every update taken.
        if let Err(e) = write_manager() {
            self.put_back(writes);
            return Err(RoundError::Manager(e));
        }
        // 3. The monitors, then their completion.
        let mut report = RoundReport::default();
        let mut writes = writes.into_iter();
        while let Some(write) = writes.next() {
            let channel_id = write.channel_id();
            let (status, completes) = self.write_one(&write, copies.get(&channel_id), monitors);
            let failed = if status != Some(ChannelMonitorUpdateStatus::Completed) {
                Some(RoundError::Monitor(channel_id))
            } else {
                report.monitor_writes += 1;
                report.whole_monitor |= write.is_whole();
                completes.and_then(|update_id| {
                    monitors
                        .completed(channel_id, update_id)
                        .err()
                        .map(|e| RoundError::Completion(channel_id, e))
                })
            };
            if let Some(e) = failed {
                // The failed write is tried again by the next round; a written one whose
                // completion LDK refused is not (writing it again changes nothing).
                let mut rest = Vec::new();
                if matches!(e, RoundError::Monitor(_)) {
                    rest.push(write);
                }
                rest.extend(writes);
                self.put_back(rest);
                return Err(e);
            }
        }
        Ok(report)
    }

    /// A round whose writes reach the store in one go: the manager and the round's monitor
    /// writes are collected by `batch` while the round makes them (in the same order as
    /// [`OrderedPersister::persist_round`]: take, manager, monitors), then committed at once,
    /// and only then reported complete to LDK. Over a remote store that is one round trip a
    /// round instead of one per write. It is as kill-safe as the unbatched round provided the
    /// commit makes the writes in the order given (the manager first), or all at once.
    /// `write_manager` must write the manager to the store `batch` collects from, on this
    /// thread.
    pub fn persist_round_batched<B: RoundBatch>(
        &self,
        monitors: &impl Monitors,
        batch: &B,
        write_manager: impl FnOnce() -> Result<(), B::Error>,
    ) -> Result<RoundReport, RoundError<B::Error>> {
        let _round = lock(&self.round);
        let (writes, copies) = self.take(monitors);
        batch.begin();
        if let Err(e) = write_manager() {
            batch.abandon();
            self.put_back(writes);
            return Err(RoundError::Manager(e));
        }
        let mut report = RoundReport::default();
        let mut completions = Vec::new();
        for write in &writes {
            let channel_id = write.channel_id();
            let (status, completes) = self.write_one(write, copies.get(&channel_id), monitors);
            if status != Some(ChannelMonitorUpdateStatus::Completed) {
                batch.abandon();
                self.put_back(writes);
                return Err(RoundError::Monitor(channel_id));
            }
            report.monitor_writes += 1;
            report.whole_monitor |= write.is_whole();
            completions.extend(completes.map(|update_id| (channel_id, update_id)));
        }
        if let Err(e) = batch.commit() {
            // Written again by the next round, from the monitors as they are then (the same
            // updates, or newer whole copies): writing an update twice changes nothing.
            self.put_back(writes);
            return Err(RoundError::Commit(e));
        }
        // Every write is durable: a completion LDK refuses is not tried again.
        let mut refused = None;
        for (channel_id, update_id) in completions {
            if let Err(e) = monitors.completed(channel_id, update_id) {
                refused.get_or_insert(RoundError::Completion(channel_id, e));
            }
        }
        refused.map_or(Ok(report), Err)
    }

    /// A round's first step: takes the deferred writes, and copies the monitors that a write
    /// of them stores whole.
    fn take(&self, monitors: &impl Monitors) -> (Vec<DeferredWrite>, HashMap<ChannelId, Monitor>) {
        let writes = std::mem::take(&mut *lock(&self.deferred));
        let mut copies: HashMap<ChannelId, Monitor> = HashMap::new();
        for write in &writes {
            if write.is_whole() && !copies.contains_key(&write.channel_id()) {
                if let Some(copy) = monitors.copy_of(write.channel_id()) {
                    copies.insert(write.channel_id(), copy);
                }
            }
        }
        (writes, copies)
    }

    /// Writes one deferred write; its status, and the update id to report complete (none for
    /// a chain-sync rewrite, which LDK does not track).
    fn write_one(
        &self,
        write: &DeferredWrite,
        copy: Option<&Monitor>,
        monitors: &impl Monitors,
    ) -> (Option<ChannelMonitorUpdateStatus>, Option<u64>) {
        match write {
            DeferredWrite::NewChannel { name, update_id, .. } => {
                let status = copy.map(|monitor| self.inner.persist_new_channel(*name, monitor));
                (status, Some(*update_id))
            }
            DeferredWrite::Update { name, channel_id, update } => {
                let completes = update.as_ref().map(|u| u.update_id);
                let status = match copy {
                    Some(monitor) => {
                        Some(self.inner.update_persisted_channel(*name, update.as_ref(), monitor))
                    }
                    // Written alone: the persister reads nothing of the monitor.
                    None => monitors.with_live(*channel_id, &mut |monitor| {
                        self.inner.update_persisted_channel(*name, update.as_ref(), monitor)
                    }),
                };
                (status, completes)
            }
        }
    }
}

impl<P: Deref> Persist<InMemorySigner> for OrderedPersister<P>
where
    P::Target: Persist<InMemorySigner>,
{
    fn persist_new_channel(
        &self,
        name: MonitorName,
        monitor: &Monitor,
    ) -> ChannelMonitorUpdateStatus {
        if !self.ordered {
            return self.inner.persist_new_channel(name, monitor);
        }
        self.defer(DeferredWrite::NewChannel {
            name,
            channel_id: monitor.channel_id(),
            update_id: monitor.get_latest_update_id(),
        })
    }

    fn update_persisted_channel(
        &self,
        name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &Monitor,
    ) -> ChannelMonitorUpdateStatus {
        if !self.ordered {
            return self.inner.update_persisted_channel(name, update, monitor);
        }
        self.defer(DeferredWrite::Update {
            name,
            channel_id: monitor.channel_id(),
            update: update.cloned(),
        })
    }

    fn archive_persisted_channel(&self, name: MonitorName) {
        self.inner.archive_persisted_channel(name)
    }
}
