//! Logs. Doze and ldk-node log through the `log` facade; an app that is not Rust registers a
//! [`LogListener`] with [`init_logging`] to receive the records (Swift/Kotlin forward them to
//! OSLog/Logcat). Nothing the core logs contains a recovery phrase, seed or preimage.

use std::sync::{Arc, OnceLock};

use ldk_node::logger::{LogLevel as LdkLevel, LogRecord, LogWriter};

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal milestones.
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn to_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }

    fn from_log(level: log::Level) -> Self {
        match level {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

/// One log record as an app receives it. Nothing Doze logs contains a recovery phrase, seed or
/// preimage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LogEntry {
    /// Severity.
    pub level: LogLevel,
    /// Where it comes from (a Rust module path, e.g. `doze_core::wallet` or `ldk_node::...`).
    pub target: String,
    /// The message.
    pub message: String,
}

/// Receives log records; implemented by the app. Called from any thread: keep it quick.
pub trait LogListener: Send + Sync {
    /// One record.
    fn log(&self, entry: LogEntry);
}

struct ListenerLogger {
    listener: Arc<dyn LogListener>,
}

impl log::Log for ListenerLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.listener.log(LogEntry {
                level: LogLevel::from_log(record.level()),
                target: record.target().to_string(),
                message: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Sends every log record at `level` or above to `listener`, for the whole process. Only the
/// first call installs the listener (the `log` facade has one logger per process); later
/// calls only change the level. Returns whether this call installed it.
pub fn init_logging(level: LogLevel, listener: Arc<dyn LogListener>) -> bool {
    log::set_max_level(level.to_filter());
    let mut installed = false;
    INSTALLED.get_or_init(|| {
        installed = log::set_boxed_logger(Box::new(ListenerLogger { listener })).is_ok();
    });
    installed
}

/// ldk-node's records, re-emitted through the `log` facade under their module path.
pub(crate) struct LdkLogForwarder;

impl LogWriter for LdkLogForwarder {
    fn log(&self, record: LogRecord) {
        let level = match record.level {
            LdkLevel::Error => log::Level::Error,
            LdkLevel::Warn => log::Level::Warn,
            LdkLevel::Info => log::Level::Info,
            LdkLevel::Debug => log::Level::Debug,
            LdkLevel::Trace | LdkLevel::Gossip => log::Level::Trace,
        };
        forward_ldk_record(level, record.module_path, record.line, &record.args);
    }
}

/// Re-emits one LDK record (from ldk-node or from the wake engine's own LDK stack) through the
/// `log` facade: preimages and tokens redacted, expected errors downgraded.
pub(crate) fn forward_ldk_record(
    level: log::Level,
    module_path: &str,
    line: u32,
    args: &dyn std::fmt::Display,
) {
    if level > log::max_level() {
        return;
    }
    let message = doze_redact::redact_secrets(&args.to_string());
    let level = if level == log::Level::Error && is_offer_refresh_before_connect(&message) {
        log::Level::Info
    } else {
        level
    };
    log::logger().log(
        &log::Record::builder()
            .level(level)
            .target(module_path)
            .line(Some(line))
            .args(format_args!("{message}"))
            .build(),
    );
}

/// LDK asks the LSP for fresh offer paths the moment the LSP connects, before the channel with
/// it is re-established, and then logs at error level that it could build no reply path. Nothing
/// is lost: the offer the app holds stays payable, and LDK asks again on its next timer tick or
/// connection. Shown to the app at info level, so that starting a registered wallet does not
/// log an error.
fn is_offer_refresh_before_connect(message: &str) -> bool {
    message == "Failed to create blinded paths for OfferPathsRequest message"
        || message == "Failed to create blinded paths when requesting async receive offer paths"
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_early_offer_refresh_is_downgraded() {
        assert!(super::is_offer_refresh_before_connect(
            "Failed to create blinded paths when requesting async receive offer paths"
        ));
        assert!(super::is_offer_refresh_before_connect(
            "Failed to create blinded paths for OfferPathsRequest message"
        ));
        assert!(!super::is_offer_refresh_before_connect(
            "Failed to create blinded paths for an offer"
        ));
    }
}
