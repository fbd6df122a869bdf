//! Delivering node events to the app's listener while a session runs: one at a time, each
//! marked handled only after the listener returned, events a wake kept for the app first.
//!
//! The pump holds two connections to `doze.sqlite` for its whole life (delivered ids, and the
//! history it brings up to date before the app hears of a payment). A pause must know when
//! they are closed (iOS kills a suspended app that holds a lock on a file in a shared
//! container, 0xdead10cc), so the pump says it has ended only after they are: see
//! [`EventPump::finish`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::Node;
use tokio::task::JoinHandle;

use crate::events::{from_node_event, EventListener, WalletEventKind};
use crate::store::history::History;
use crate::store::payments::reconcile;
use crate::store::WalletDb;
use crate::wallet::Inner;

/// The task delivering events, and how to stop it between two events.
pub(crate) struct EventPump {
    task: JoinHandle<()>,
    shutdown: Arc<tokio::sync::Notify>,
    finished: std::sync::mpsc::Receiver<()>,
}

impl EventPump {
    /// Starts delivering `node`'s events to `listener` on `runtime`.
    pub(crate) fn start(
        inner: &Inner,
        node: Arc<Node>,
        listener: Arc<dyn EventListener>,
        runtime: &tokio::runtime::Handle,
    ) -> EventPump {
        let shutdown = Arc::new(tokio::sync::Notify::new());
        let (done, finished) = std::sync::mpsc::channel();
        let db = WalletDb::open(&inner.storage_dir());
        let history = History::open(&inner.storage_dir());
        let pump = pump_events(node, listener, db, history, Arc::clone(&shutdown), done);
        let task = crate::tasks::spawn(runtime, pump);
        EventPump { task, shutdown, finished }
    }

    /// Asks the pump to stop once the event in hand (if any) is processed and marked handled.
    pub(crate) fn ask_to_stop(&self) {
        self.shutdown.notify_one();
    }

    /// Waits until `deadline` for the pump to stop; a listener that has not returned by then is
    /// cut off (its event is delivered again at the next start). Returns once the pump's
    /// database connections are closed, or after a further `grace` if the runtime has not
    /// dropped the cut-off task by then; whether they are.
    pub(crate) fn finish(self, deadline: Instant, grace: Duration) -> bool {
        self.ask_to_stop();
        let left = deadline.saturating_duration_since(Instant::now());
        if self.finished.recv_timeout(left).is_ok() {
            return true;
        }
        log::warn!("the event listener did not return in time; its event will be redelivered");
        self.task.abort();
        self.finished.recv_timeout(grace).is_ok()
    }
}

/// Delivers node events to the listener one at a time, marking each handled only after the
/// listener returned, and skipping events the app was already given (ldk-node can replay them).
async fn pump_events(
    node: Arc<Node>,
    listener: Arc<dyn EventListener>,
    db: Result<crate::store::WalletDb, crate::error::WalletError>,
    history: Result<History, crate::error::WalletError>,
    shutdown: Arc<tokio::sync::Notify>,
    finished: std::sync::mpsc::Sender<()>,
) {
    // Declared first, so dropped last: the signal goes out after the connections below close.
    let _finished = DropSignal(finished);
    let mut history = history.map_err(|e| log::warn!("payment history not kept: {e}")).ok();
    let db = match db {
        Ok(db) => Some(db),
        Err(e) => {
            log::error!("events may be delivered twice: {e}");
            None
        }
    };
    // Events a wake kept for the app (see `store/outbox.rs`) come first, oldest first, each once.
    let kept = db.as_ref().map(|db| db.outbox()).transpose().unwrap_or_else(|e| {
        log::warn!("events kept by a wake not delivered now: {e}");
        None
    });
    for event in kept.unwrap_or_default() {
        let id = event.id.clone();
        if !db.as_ref().is_some_and(|db| db.was_delivered(&id).unwrap_or(false)) {
            let listener = Arc::clone(&listener);
            if crate::tasks::run_blocking_here(move || listener.on_event(event)).await.is_err() {
                log::error!("the event listener panicked; the event will be delivered again");
                return;
            }
        }
        if let Some(Err(e)) = db.as_ref().map(|db| db.outbox_delivered(&id)) {
            log::warn!("{e}");
        }
    }
    loop {
        let event = tokio::select! {
            event = node.next_event_async() => event,
            _ = shutdown.notified() => return,
        };
        if let Some(wallet_event) = from_node_event(&event) {
            let payment_event = matches!(
                wallet_event.kind,
                WalletEventKind::PaymentReceived { .. }
                    | WalletEventKind::PaymentSent { .. }
                    | WalletEventKind::PaymentFailed { .. }
            );
            if let (true, Some(history)) = (payment_event, history.as_mut()) {
                // The history is current before the app hears of the payment.
                let outcome = match &wallet_event.kind {
                    WalletEventKind::PaymentSent { payment_id, .. } => {
                        Some((payment_id, "succeeded".to_string()))
                    }
                    WalletEventKind::PaymentFailed { payment_id, reason, .. } => {
                        Some((payment_id, format!("failed: {reason}")))
                    }
                    _ => None,
                };
                let result = reconcile(&node, history).and_then(|()| match outcome {
                    Some((id, outcome)) => history.finish_attempt(id, &outcome),
                    None => Ok(()),
                });
                if let Err(e) = result {
                    log::warn!("payment history not updated: {e}");
                }
            }
            let id = wallet_event.id.clone();
            let seen =
                db.as_ref().map(|db| db.was_delivered(&id)).transpose().unwrap_or_else(|e| {
                    log::warn!("{e}");
                    None
                });
            if seen == Some(true) {
                log::debug!("skipping event {id}: already delivered");
            } else {
                let listener = Arc::clone(&listener);
                if crate::tasks::run_blocking_here(move || listener.on_event(wallet_event))
                    .await
                    .is_err()
                {
                    log::error!("the event listener panicked; the event will be delivered again");
                    return;
                }
                if let Some(Err(e)) = db.as_ref().map(|db| db.mark_delivered(&id)) {
                    log::warn!("{e}");
                }
            }
        }
        if let Err(e) = node.event_handled() {
            log::error!("could not mark an event handled: {e}");
            return;
        }
    }
}

/// Signals [`EventPump::finish`] when the pump ends, however it ends.
struct DropSignal(std::sync::mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
