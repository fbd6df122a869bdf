//! The two interfaces the app implements: the wallet's event listener and the log listener.
//!
//! Both are called from the wallet's background threads. A call into the app that throws comes
//! back to Rust as a panic (uniffi's rule for callbacks without an error type); the adapters
//! here catch it, so it never unwinds through doze-core, ldk-node or the runtime.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use doze_core as dc;

use doze_core::{LogEntry, LogLevel, WalletEvent};

/// Receives the wallet's events; implemented by the app and set with
/// `Wallet.set_event_listener` before `start()`.
///
/// Called from a background thread, one event at a time, in order: return when the event is
/// safely processed (the wallet then forgets it). If the app is killed before that, the event is
/// delivered again on the next start with the same `WalletEvent.id`. If `on_event` throws, the
/// exception is logged and the event counts as delivered (the history still has the payment).
#[uniffi::export(callback_interface)]
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: WalletEvent);
}

/// Receives log records; implemented by the app (forward them to OSLog or Logcat). Called from
/// any thread: keep it quick, and do not call back into the wallet from it.
#[uniffi::export(callback_interface)]
pub trait LogListener: Send + Sync {
    /// One record.
    fn log(&self, entry: LogEntry);
}

/// Hands doze-core the app's event listener.
pub(crate) struct EventAdapter(pub(crate) Box<dyn EventListener>);

impl dc::EventListener for EventAdapter {
    fn on_event(&self, event: dc::WalletEvent) {
        let id = event.id.clone();
        if catch_unwind(AssertUnwindSafe(|| self.0.on_event(event))).is_err() {
            // The app's exception stops here: it must not fail the call that produced the
            // event (a sync) nor stop the delivery of the next ones.
            log::error!("the app's event listener threw on {id}; the event counts as delivered");
        }
    }
}

struct LogAdapter(Box<dyn LogListener>);

impl dc::LogListener for LogAdapter {
    fn log(&self, entry: dc::LogEntry) {
        // A log call happens anywhere, on any thread: a listener that throws loses its record,
        // nothing else.
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.log(entry)));
    }
}

/// Sends every log record of Doze and ldk-node at `level` or above to `listener`, for the whole
/// process. Only the first call installs the listener (there is one logger per process); later
/// calls only change the level. Returns whether this call installed it.
#[uniffi::export]
pub fn init_logging(level: LogLevel, listener: Box<dyn LogListener>) -> bool {
    dc::init_logging(level, Arc::new(LogAdapter(listener)))
}
