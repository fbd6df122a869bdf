//! Monitor persistence in an order that survives a kill at any instant.
//!
//! # The rule
//!
//! On disk, every channel monitor state must be known to the channel manager on disk: LDK
//! 0.2.7 force-closes, at the next start, a channel whose monitor is ahead of the manager
//! (`ChannelManager::read`, "A ChannelManager is stale compared to the current
//! ChannelMonitor!", `ClosureReason::OutdatedChannelManager`). The other way round is safe:
//! a manager that records a monitor update as *in flight* (generated, not reported complete)
//! replays it into the monitor at load (`handle_in_flight_updates`), so the update may be
//! missing from disk.
//!
//! ldk-node writes each monitor update synchronously, before it writes the manager, so its
//! own node has a window where a kill leaves the monitor ahead. The wake closes it with LDK's
//! asynchronous persistence: every monitor update is reported `InProgress` (LDK then holds
//! back every message that depends on it, so the peer sees nothing that needs it durable) and
//! deferred here; [`OrderedPersister::take_round`], the manager's encoding and write, then
//! [`OrderedPersister::write_round`] make one round, and only after its writes does LDK hear
//! that the updates are complete and let the held messages out. A kill before a round's
//! monitor writes leaves a manager that replays them; a kill after leaves monitors the manager
//! already knows.
//!
//! # The race this order fixes
//!
//! Peer messages are handled on the runtime's other threads while the engine persists. The
//! engine used to encode the manager first and only then take the deferred updates: a
//! `commitment_signed` (or `revoke_and_ack`) handled between the two had its update written
//! and completed although the manager just written did not know it, and a kill before the next
//! manager write left that monitor ahead: the force-close the kill test saw after kills early
//! in a wake (the LSP re-sends its last commitment on reconnection) and after a claim (the
//! LSP's `revoke_and_ack` and `commitment_signed` arrive together). Now a round is taken
//! *before* the manager is encoded: every update in it was handed to the chain monitor by the
//! manager, which records it as in flight first, so the encoding after it knows it. Updates
//! that arrive after the take wait for the next round.
//!
//! Every 100th update (and every update without an id) LDK's `MonitorUpdatingPersister` writes
//! the whole monitor instead of the update, from the monitor it is given. The live monitor
//! may already hold updates newer than the manager just written, so a round passes a copy of
//! the monitor made when the round was taken, before the manager's encoding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ldk_node::lightning::chain::chainmonitor::Persist;
use ldk_node::lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use ldk_node::lightning::chain::ChannelMonitorUpdateStatus;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::lightning::sign::InMemorySigner;
use ldk_node::lightning::util::persist::MonitorName;

use super::stack::{ChainMonitor, Persister, PERSISTER_MAX_PENDING_UPDATES};
use crate::error::WalletError;
use crate::kill_points::{self, points};

/// A monitor write waiting for the manager to be written first.
struct DeferredWrite {
    name: MonitorName,
    channel_id: ChannelId,
    update: Option<ChannelMonitorUpdate>,
    update_id: u64,
}

/// Whether LDK 0.2.7's `MonitorUpdatingPersister` writes the whole monitor for `update`
/// rather than the update alone (its `update_persisted_channel`): no update, a legacy closed
/// channel's update, or a multiple of the consolidation interval.
fn writes_whole_monitor(update: Option<&ChannelMonitorUpdate>) -> bool {
    update
        .is_none_or(|u| u.update_id == u64::MAX || u.update_id % PERSISTER_MAX_PENDING_UPDATES == 0)
}

/// One round of monitor writes, taken before the manager that covers them is encoded.
pub(crate) struct Round {
    writes: Vec<DeferredWrite>,
    /// Copies of the monitors a round writes whole, as they were when the round was taken.
    snapshots: HashMap<ChannelId, ChannelMonitor<InMemorySigner>>,
}

/// ldk-node's monitor persister, its writes deferred until the manager is on disk.
pub(crate) struct OrderedPersister {
    inner: Arc<Persister>,
    deferred: Mutex<Vec<DeferredWrite>>,
}

impl OrderedPersister {
    /// Defers `inner`'s writes.
    pub(crate) fn new(inner: Arc<Persister>) -> Self {
        OrderedPersister { inner, deferred: Mutex::new(Vec::new()) }
    }

    fn deferred(&self) -> std::sync::MutexGuard<'_, Vec<DeferredWrite>> {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether monitor writes wait for the manager.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.deferred().is_empty()
    }

    /// Takes the monitor writes deferred so far. Call *before* encoding the manager that is
    /// to cover them (see the module's docs), then [`OrderedPersister::write_round`] once it
    /// is written, or [`OrderedPersister::put_back`] if it could not be.
    pub(crate) fn take_round(&self, chain_monitor: &ChainMonitor) -> Round {
        let writes = std::mem::take(&mut *self.deferred());
        let mut snapshots = HashMap::new();
        for write in writes.iter().filter(|w| writes_whole_monitor(w.update.as_ref())) {
            if let Ok(monitor) = chain_monitor.get_monitor(write.channel_id) {
                snapshots.entry(write.channel_id).or_insert_with(|| (*monitor).clone());
            }
        }
        Round { writes, snapshots }
    }

    /// Defers a round again, ahead of what came since: its manager was not written.
    pub(crate) fn put_back(&self, round: Round) {
        let mut deferred = self.deferred();
        let later = std::mem::replace(&mut *deferred, round.writes);
        deferred.extend(later);
    }

    /// Writes a round's monitor updates and tells LDK they are complete. Call only after
    /// writing the channel manager encoded after [`OrderedPersister::take_round`]. Returns how
    /// many were written.
    pub(crate) fn write_round(
        &self,
        round: Round,
        chain_monitor: &ChainMonitor,
    ) -> Result<usize, WalletError> {
        let count = round.writes.len();
        let mut whole = false;
        for write in round.writes {
            let status = if let Some(snapshot) = round.snapshots.get(&write.channel_id) {
                whole |= writes_whole_monitor(write.update.as_ref());
                self.inner.update_persisted_channel(write.name, write.update.as_ref(), snapshot)
            } else {
                // An update written on its own: the persister reads nothing of the monitor.
                let monitor = chain_monitor.get_monitor(write.channel_id).map_err(|()| {
                    WalletError::Storage(format!(
                        "no channel monitor for channel {}",
                        write.channel_id
                    ))
                })?;
                self.inner.update_persisted_channel(write.name, write.update.as_ref(), &monitor)
            };
            if status != ChannelMonitorUpdateStatus::Completed {
                return Err(WalletError::Storage(format!(
                    "cannot write the monitor of channel {}",
                    write.channel_id
                )));
            }
            chain_monitor
                .channel_monitor_updated(write.channel_id, write.update_id)
                .map_err(|e| WalletError::Node(format!("monitor update not completed: {e:?}")))?;
        }
        if whole {
            kill_points::reached(points::WHOLE_MONITOR_WRITTEN);
        }
        if count > 0 {
            kill_points::reached(points::MONITORS_WRITTEN);
        }
        Ok(count)
    }
}

impl Persist<InMemorySigner> for OrderedPersister {
    fn persist_new_channel(
        &self,
        name: MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        // A wake opens no channel (it accepts none); written at once if LDK ever asks.
        self.inner.persist_new_channel(name, monitor)
    }

    fn update_persisted_channel(
        &self,
        name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        let update_id = update.map_or_else(|| monitor.get_latest_update_id(), |u| u.update_id);
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).push(DeferredWrite {
            name,
            channel_id: monitor.channel_id(),
            update: update.cloned(),
            update_id,
        });
        ChannelMonitorUpdateStatus::InProgress
    }

    fn archive_persisted_channel(&self, name: MonitorName) {
        Persist::<InMemorySigner>::archive_persisted_channel(&*self.inner, name)
    }
}
