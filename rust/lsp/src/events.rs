//! The LSP's event loop: takes every ldk-node event, logs it, shows it to observers and marks
//! it handled, so the node's queue never backs up. It waits on nothing but the node's queue
//! and its own stop signal.

use std::sync::Arc;
use std::time::Duration;

use ldk_node::{Event, Node};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::log_hooks::{Hub, ObserverId};
use crate::worker::Worker;

/// A function that sees every ldk-node event of the LSP, before it is marked handled.
///
/// It runs on the event-loop thread: keep it short and do not call `Node::event_handled` or
/// wait on the node from it (send the event to a channel instead).
pub type EventObserver = dyn Fn(&Event) + Send + Sync;

/// The observers of the LSP's ldk-node events.
#[derive(Default)]
pub struct EventHub {
    observers: Hub<EventObserver>,
}

impl EventHub {
    /// A hub with no observers.
    pub fn new() -> Arc<EventHub> {
        Arc::new(EventHub::default())
    }

    /// Adds an observer of every later event.
    pub fn subscribe(&self, observer: impl Fn(&Event) + Send + Sync + 'static) -> ObserverId {
        self.observers.add(Arc::new(observer))
    }

    /// Adds an already shared observer.
    pub fn subscribe_arc(&self, observer: Arc<EventObserver>) -> ObserverId {
        self.observers.add(observer)
    }

    /// Removes an observer; returns whether it was subscribed.
    pub fn unsubscribe(&self, id: ObserverId) -> bool {
        self.observers.remove(id)
    }

    fn notify(&self, event: &Event) {
        self.observers.notify("event", |observer| observer(event));
    }
}

/// The running event loop (a named thread); [`EventLoop::stop`] ends it.
pub(crate) struct EventLoop {
    worker: Worker,
}

impl EventLoop {
    /// Starts handling `node`'s events on a new thread, awaiting them on `runtime`.
    pub(crate) fn spawn(
        node: Arc<Node>,
        runtime: Handle,
        hub: Arc<EventHub>,
    ) -> std::io::Result<EventLoop> {
        let worker =
            Worker::spawn("lsp-events", move |stopped| run(&node, &runtime, &hub, stopped))?;
        Ok(EventLoop { worker })
    }

    /// Stops the loop and waits for it (at most one event's handling).
    pub(crate) fn stop(self) {
        self.worker.stop();
    }
}

fn run(node: &Node, runtime: &Handle, hub: &EventHub, mut stopped: oneshot::Receiver<()>) {
    loop {
        let next = runtime.block_on(async {
            tokio::select! {
                biased;
                _ = &mut stopped => None,
                event = node.next_event_async() => Some(event),
            }
        });
        let Some(event) = next else { break };
        log::info!(target: "doze_lsp::events", "{}", describe(&event));
        hub.notify(&event);
        // Called outside `block_on`: ldk-node blocks on its own runtime here.
        if let Err(e) = node.event_handled() {
            log::error!(
                target: "doze_lsp::events",
                "could not mark an event handled ({e}); it will be seen again"
            );
            // The same event comes back at once: pause rather than spin on a failing store.
            let stop_now = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(1), &mut stopped).await.is_ok()
            });
            if stop_now {
                break;
            }
        }
    }
    log::debug!(target: "doze_lsp::events", "event loop stopped");
}

/// A one-line summary of an event for the operator's log.
pub fn describe(event: &Event) -> String {
    match event {
        Event::ChannelPending { channel_id, counterparty_node_id, funding_txo, .. } => {
            format!(
                "channel {channel_id} with {counterparty_node_id} pending (funding {funding_txo})"
            )
        }
        Event::ChannelReady { channel_id, counterparty_node_id, .. } => {
            format!("channel {channel_id} with {} ready", peer(counterparty_node_id))
        }
        Event::ChannelClosed { channel_id, counterparty_node_id, reason, .. } => {
            let reason =
                reason.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "unknown reason".into());
            format!("channel {channel_id} with {} closed: {reason}", peer(counterparty_node_id))
        }
        Event::PaymentForwarded {
            prev_node_id,
            next_node_id,
            outbound_amount_forwarded_msat,
            total_fee_earned_msat,
            skimmed_fee_msat,
            ..
        } => format!(
            "forwarded {} msat from {} to {} (fee earned {} msat, skimmed {} msat)",
            opt(outbound_amount_forwarded_msat),
            peer(prev_node_id),
            peer(next_node_id),
            opt(total_fee_earned_msat),
            skimmed_fee_msat.unwrap_or(0)
        ),
        Event::PaymentReceived { payment_hash, amount_msat, .. } => {
            format!("received {amount_msat} msat (payment hash {payment_hash})")
        }
        Event::PaymentSuccessful { payment_hash, fee_paid_msat, .. } => {
            format!("payment {payment_hash} succeeded (fee {} msat)", opt(fee_paid_msat))
        }
        Event::PaymentFailed { payment_hash, reason, .. } => {
            format!(
                "payment {} failed: {reason:?}",
                payment_hash.map(|h| h.to_string()).unwrap_or_default()
            )
        }
        other => format!("{other:?}"),
    }
}

fn peer(id: &Option<ldk_node::bitcoin::secp256k1::PublicKey>) -> String {
    id.map(|id| id.to_string()).unwrap_or_else(|| "an unknown peer".into())
}

fn opt(value: &Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}
