//! ldk-node's log records, forwarded to the `log` facade and to observers.
//!
//! ldk-node 0.7.1 has no public event for some things an LSP must react to; notably the onion
//! messenger only *logs* that it generated `OnionMessageIntercepted` for an offline peer. A
//! [`LogHub`] is the [`LogWriter`] the LSP's node writes to; observers subscribed to it see
//! every record as it is written.
//!
//! Observers run on whatever ldk-node thread logs, often with LDK locks held: they must be
//! quick and must not call back into the node. Hand the record to a channel if there is work
//! to do. A panicking observer is contained and logged.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ldk_node::logger::{LogLevel, LogRecord, LogWriter};

/// A function that sees every ldk-node log record.
pub type LogObserver = dyn Fn(&LogRecord<'_>) + Send + Sync;

/// Identifies a subscription, to cancel it with `unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObserverId(u64);

/// A snapshot of the subscribed observers.
type Entries<F> = Arc<Vec<(ObserverId, Arc<F>)>>;

/// A copy-on-write list of observers: notifying takes a snapshot under a short lock and calls
/// the observers without it, so an observer may (un)subscribe without deadlocking.
pub(crate) struct Hub<F: ?Sized> {
    next_id: AtomicU64,
    list: Mutex<Entries<F>>,
}

impl<F: ?Sized> Default for Hub<F> {
    fn default() -> Self {
        Hub { next_id: AtomicU64::new(0), list: Mutex::new(Arc::new(Vec::new())) }
    }
}

impl<F: ?Sized> Hub<F> {
    pub(crate) fn add(&self, observer: Arc<F>) -> ObserverId {
        let id = ObserverId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = Vec::clone(&list);
        next.push((id, observer));
        *list = Arc::new(next);
        id
    }

    pub(crate) fn remove(&self, id: ObserverId) -> bool {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        let next: Vec<_> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
        let removed = next.len() != before;
        *list = Arc::new(next);
        removed
    }

    pub(crate) fn snapshot(&self) -> Entries<F> {
        Arc::clone(&self.list.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Calls `call` for every observer, containing panics.
    pub(crate) fn notify(&self, what: &str, call: impl Fn(&F)) {
        for (id, observer) in self.snapshot().iter() {
            if catch_unwind(AssertUnwindSafe(|| call(observer))).is_err() {
                log::error!(
                    target: "doze_lsp",
                    "{what} observer {id:?} panicked; it stays subscribed"
                );
            }
        }
    }
}

/// The LSP node's [`LogWriter`]: forwards every record to the `log` facade (target = the
/// record's module path, e.g. `lightning::onion_message::messenger`) and to its observers, its
/// text without the payment preimages and LSPS tokens LDK writes there (`doze_redact`).
#[derive(Default)]
pub struct LogHub {
    observers: Hub<LogObserver>,
}

impl LogHub {
    /// A hub with no observers, ready to give to `Builder::set_custom_logger`.
    pub fn new() -> Arc<LogHub> {
        Arc::new(LogHub::default())
    }

    /// Adds an observer of every later log record.
    pub fn subscribe(
        &self,
        observer: impl Fn(&LogRecord<'_>) + Send + Sync + 'static,
    ) -> ObserverId {
        self.observers.add(Arc::new(observer))
    }

    /// Adds an already shared observer.
    pub fn subscribe_arc(&self, observer: Arc<LogObserver>) -> ObserverId {
        self.observers.add(observer)
    }

    /// Removes an observer; returns whether it was subscribed.
    pub fn unsubscribe(&self, id: ObserverId) -> bool {
        self.observers.remove(id)
    }
}

impl LogWriter for LogHub {
    fn log(&self, record: LogRecord<'_>) {
        let text = Redacted(record.args);
        let level = facade_level(record.level);
        // `log::max_level` is one atomic load: records nobody listens to cost nothing more.
        if level <= log::max_level() {
            log::logger().log(
                &log::Record::builder()
                    .level(level)
                    .target(record.module_path)
                    .module_path(Some(record.module_path))
                    .line(Some(record.line))
                    .args(format_args!("{text}"))
                    .build(),
            );
        }
        self.observers.notify("log", |observer| {
            observer(&LogRecord {
                level: record.level,
                args: format_args!("{text}"),
                module_path: record.module_path,
                line: record.line,
            })
        });
    }
}

/// A record's text without the secrets LDK writes into it (`doze_redact`: payment preimages,
/// LSPS tokens), formatted only when someone reads it.
struct Redacted<'a>(std::fmt::Arguments<'a>);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        f.write_str(&doze_redact::redact_secrets(&text))
    }
}

/// The `log` facade level for an LDK level (LDK's `Gossip` is below `Trace`).
pub fn facade_level(level: LogLevel) -> log::Level {
    match level {
        LogLevel::Gossip | LogLevel::Trace => log::Level::Trace,
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Info => log::Level::Info,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Error => log::Level::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type TestHub = Hub<dyn Fn(&u32) + Send + Sync>;

    #[test]
    fn preimages_and_tokens_never_reach_the_facade_or_the_observers() {
        let preimage = "3f7d1e70ea3caf153cff56e548697071ab673e5c530c4919dc556cc2fa4a9f82";
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hub = LogHub::new();
        let kept = Arc::clone(&seen);
        hub.subscribe(move |record| {
            kept.lock().unwrap_or_else(|p| p.into_inner()).push(record.args.to_string())
        });
        let log = |args: std::fmt::Arguments<'_>| {
            hub.log(LogRecord { level: LogLevel::Debug, args, module_path: "test", line: 1 })
        };
        log(format_args!("Received message UpdateFulfillHTLC {{ payment_preimage: {preimage} }}"));
        log(format_args!("Handling event PaymentSent {{ payment_preimage: Some({preimage}) }}"));
        log(format_args!(
            r#"Received message RawLSPSMessage {{ payload: "{{\"token\":\"s3\"}}" }}"#
        ));
        log(format_args!(r#"{{"params":{{"token":"s3"}},"token_count":1}}"#));
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(
            *seen,
            [
                "Received message UpdateFulfillHTLC { payment_preimage: <redacted> }",
                "Handling event PaymentSent { payment_preimage: Some(<redacted>) }",
                r#"Received message RawLSPSMessage { payload: "{\"token\":\"<redacted>\"}" }"#,
                r#"{"params":{"token":"<redacted>"},"token_count":1}"#,
            ]
        );
    }

    #[test]
    fn a_panicking_observer_is_contained_and_others_still_run() {
        let hub = TestHub::default();
        let calls = Arc::new(AtomicUsize::new(0));
        hub.add(Arc::new(|_: &u32| panic!("observer bug")));
        let counted = Arc::clone(&calls);
        hub.add(Arc::new(move |_: &u32| {
            counted.fetch_add(1, Ordering::Relaxed);
        }));
        hub.notify("test", |observer| observer(&7));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_observer_may_unsubscribe_itself_while_notified() {
        let hub = Arc::new(TestHub::default());
        let own_id = Arc::new(Mutex::new(None::<ObserverId>));
        let (weak_hub, id_slot) = (Arc::downgrade(&hub), Arc::clone(&own_id));
        let id = hub.add(Arc::new(move |_: &u32| {
            if let (Some(hub), Some(id)) =
                (weak_hub.upgrade(), *id_slot.lock().unwrap_or_else(|p| p.into_inner()))
            {
                assert!(hub.remove(id));
            }
        }));
        *own_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
        hub.notify("test", |observer| observer(&1));
        assert!(hub.snapshot().is_empty());
        assert!(!hub.remove(id));
    }
}
