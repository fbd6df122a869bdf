//! Monitor persistence in the order that survives a kill at any point. ldk-node writes each
//! channel-monitor update synchronously and the channel manager moments later; a process
//! killed between the two leaves a manager older than a monitor, and LDK force-closes that
//! channel at the next start. A wake is killed by the OS whenever it overruns, so it uses
//! LDK's asynchronous persistence instead: a monitor update is reported `InProgress` (LDK then
//! holds back every message that depends on it), the engine writes the channel manager, which
//! records the update as in flight, then the update itself, and only then tells LDK it is
//! complete. Killed before the monitor write, the next start (a wake, or ldk-node) replays the
//! update from the manager; killed after, the manager is not behind any monitor.

use std::sync::{Arc, Mutex};

use ldk_node::lightning::chain::chainmonitor::Persist;
use ldk_node::lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use ldk_node::lightning::chain::ChannelMonitorUpdateStatus;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::lightning::sign::InMemorySigner;
use ldk_node::lightning::util::persist::MonitorName;

use super::stack::{ChainMonitor, Persister};
use crate::error::WalletError;

/// A monitor write waiting for the manager to be written first.
struct DeferredWrite {
    name: MonitorName,
    channel_id: ChannelId,
    update: Option<ChannelMonitorUpdate>,
    update_id: u64,
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

    /// Whether monitor writes wait for the manager.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.deferred.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Writes the deferred monitor updates and tells LDK they are complete. Call only after
    /// writing the channel manager. Returns how many were written.
    pub(crate) fn write_deferred(
        &self,
        chain_monitor: &ChainMonitor,
    ) -> Result<usize, WalletError> {
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        let count = deferred.len();
        for write in deferred {
            let status = {
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
