//! Waiting for the story to move on, with deadlines that end in an error (the step's `✗`
//! line), never a panic. Nothing here sleeps a fixed time: every wait re-checks a condition
//! or listens for an event.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_core::{EventListener, WalletEvent};
use ldk_node::{Event, Node};
use tokio::runtime::Runtime;

/// How long one step may wait before it fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Re-checks `condition` until it holds; an error naming `what` after `timeout`. The
/// condition does the work of moving things forward (syncing, reading balances).
pub fn until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if condition() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {} s waiting until {what}", timeout.as_secs()));
        }
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Waits for the next event of a stock ldk-node `node` that `wanted` picks, marking every
/// event handled on the way. Runs on `rt` (a current-thread runtime driven from this thread).
pub fn node_event(
    rt: &Runtime,
    node: &Node,
    what: &str,
    timeout: Duration,
    wanted: impl Fn(&Event) -> bool,
) -> Result<Event, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = rt
            .block_on(async { tokio::time::timeout(left, node.next_event_async()).await })
            .map_err(|_| format!("timed out after {} s waiting for {what}", timeout.as_secs()))?;
        node.event_handled().map_err(|e| format!("could not mark an event handled: {e}"))?;
        if wanted(&event) {
            return Ok(event);
        }
    }
}

/// The phone's events as the app would receive them, kept so that steps can wait for one.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<WalletEvent>>,
    changed: Condvar,
}

impl EventListener for Recorder {
    fn on_event(&self, event: WalletEvent) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
        self.changed.notify_all();
    }
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The first recorded event that `wanted` picks, waiting up to `timeout` for it.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&WalletEvent) -> bool,
    ) -> Result<WalletEvent, String> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(event) = events.iter().find(|e| wanted(e)) {
                return Ok(event.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("timed out after {} s waiting for {what}", timeout.as_secs()));
            }
            events = self.changed.wait_timeout(events, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}
