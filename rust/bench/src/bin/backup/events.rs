//! Waiting for a phone's events and timing them: a Doze wallet's through its listener, stock
//! ldk-node's off its queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_core::{EventListener, WalletEvent, WalletEventKind};
use doze_devnet::nodes::DEFAULT_WAIT;
use ldk_node::{Event, Node};

/// A Doze wallet's events as its listener got them, with when.
#[derive(Default)]
pub(crate) struct TimedEvents {
    events: Mutex<Vec<(Instant, WalletEvent)>>,
    changed: Condvar,
}

impl EventListener for TimedEvents {
    fn on_event(&self, event: WalletEvent) {
        let at = Instant::now();
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push((at, event));
        self.changed.notify_all();
    }
}

impl TimedEvents {
    /// When the first event `wanted` picks arrived (waiting for it), and the event.
    pub(crate) fn wait(
        &self,
        what: &str,
        wanted: impl Fn(&WalletEventKind) -> bool,
    ) -> (Instant, WalletEvent) {
        self.wait_unless(what, &AtomicBool::new(false), wanted)
            .unwrap_or_else(|| unreachable!("nothing cancels it"))
    }

    /// [`TimedEvents::wait`], given up (`None`) once `cancel` is set.
    pub(crate) fn wait_unless(
        &self,
        what: &str,
        cancel: &AtomicBool,
        wanted: impl Fn(&WalletEventKind) -> bool,
    ) -> Option<(Instant, WalletEvent)> {
        let deadline = Instant::now() + DEFAULT_WAIT;
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((at, event)) = events.iter().find(|(_, e)| wanted(&e.kind)) {
                return Some((*at, event.clone()));
            }
            if cancel.load(Ordering::SeqCst) {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            events = self
                .changed
                .wait_timeout(events, left.min(CANCEL_CHECK))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// When `node`'s next event that `wanted` picks came off its queue (before `event_handled`,
/// which persists the queue), and the event. Every event on the way is marked handled.
pub(crate) fn stock_event(
    node: &Node,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> (Instant, Event) {
    stock_event_unless(node, what, &AtomicBool::new(false), wanted)
        .unwrap_or_else(|| unreachable!("nothing cancels it"))
}

/// [`stock_event`], given up (`None`) once `cancel` is set.
pub(crate) fn stock_event_unless(
    node: &Node,
    what: &str,
    cancel: &AtomicBool,
    wanted: impl Fn(&Event) -> bool,
) -> Option<(Instant, Event)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime to wait for events");
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        // In slices, to see `cancel`.
        let slice = left.min(CANCEL_CHECK);
        let Ok(event) =
            runtime.block_on(async { tokio::time::timeout(slice, node.next_event_async()).await })
        else {
            continue;
        };
        let at = Instant::now();
        node.event_handled().expect("event_handled");
        if wanted(&event) {
            return Some((at, event));
        }
    }
}

/// How often a cancellable wait looks at its flag.
pub(crate) const CANCEL_CHECK: Duration = Duration::from_millis(50);
