//! The operations on a session's node in flight, counted so that the session's end can wait
//! for them, and refused once it has begun.
//!
//! Two kinds, because they are waited for differently. An operation that changes a channel (a
//! payment being sent, a close, a splice) makes LDK write a channel monitor update, and ldk-node
//! writes the channel manager that knows it moments later: an update written after the node's
//! last manager write (in its `stop()`) would leave a monitor ahead of the manager on disk,
//! which LDK answers with a force-close at the next start. So those are always waited for
//! (they take a write's time). Every other operation (a sync, an invoice, a wait for the LSP)
//! is waited for a moment only, then cut off: what it writes after the store closed is
//! dropped, and it answers why the session ended.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::WalletError;
use crate::mutex::lock;

/// What an operation does to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// It changes a channel: always waited for.
    ChannelUpdate,
    /// Anything else: waited for a moment.
    Other,
}

#[derive(Default)]
struct Count {
    ended: Option<WalletError>,
    channel_updates: usize,
    others: usize,
}

/// See the module docs.
pub(crate) struct Activity {
    count: Mutex<Count>,
    changed: Condvar,
}

impl Activity {
    /// No operation yet.
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity { count: Mutex::new(Count::default()), changed: Condvar::new() })
    }

    /// Counts an operation of `kind`, unless the session is ending (then why).
    pub(crate) fn enter(self: &Arc<Self>, kind: Kind) -> Result<Operation, WalletError> {
        let mut count = lock(&self.count);
        if let Some(ended) = &count.ended {
            return Err(ended.clone());
        }
        match kind {
            Kind::ChannelUpdate => count.channel_updates += 1,
            Kind::Other => count.others += 1,
        }
        Ok(Operation { activity: Arc::clone(self), kind })
    }

    /// Refuses new operations with `why`, then waits for those in flight: up to `others` for
    /// the others, up to `channel_updates` for those that change a channel. Returns how many
    /// are still running.
    pub(crate) fn close(
        &self,
        why: WalletError,
        others: Duration,
        channel_updates: Duration,
    ) -> usize {
        let started = Instant::now();
        let mut count = lock(&self.count);
        count.ended = Some(why);
        loop {
            let waited = started.elapsed();
            let running =
                |c: &Count| c.channel_updates + if waited < others { c.others } else { 0 };
            if running(&count) == 0 || waited >= channel_updates {
                return count.channel_updates + count.others;
            }
            let until = if count.others > 0 && waited < others { others } else { channel_updates };
            let left = until.saturating_sub(waited).max(Duration::from_millis(1));
            count = self.changed.wait_timeout(count, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// One operation in flight; counted until dropped.
pub(crate) struct Operation {
    activity: Arc<Activity>,
    kind: Kind,
}

impl Operation {
    /// Why the session is ending, if it is.
    pub(crate) fn ended(&self) -> Option<WalletError> {
        lock(&self.activity.count).ended.clone()
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        let mut count = lock(&self.activity.count);
        match self.kind {
            Kind::ChannelUpdate => count.channel_updates -= 1,
            Kind::Other => count.others -= 1,
        }
        self.activity.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_update_is_waited_for_and_others_only_a_moment() {
        let activity = Activity::new();
        let other = activity.enter(Kind::Other).unwrap();
        let update = activity.enter(Kind::ChannelUpdate).unwrap();
        let closing = Arc::clone(&activity);
        // No moment at all for the others.
        let closer = std::thread::spawn(move || {
            closing.close(WalletError::Paused, Duration::ZERO, Duration::from_secs(30))
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while other.ended().is_none() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(other.ended(), Some(WalletError::Paused));
        assert_eq!(activity.enter(Kind::Other).err(), Some(WalletError::Paused));
        assert!(!closer.is_finished(), "the channel update is waited for");
        drop(update);
        assert_eq!(closer.join().unwrap(), 1, "the other operation was cut off, still running");
    }
}
