//! Log records to stderr, through doze-core's [`init_logging`] as an app would, for the wake
//! and for `doze demo` (warnings and errors by default, info with `--verbose`). In the demo
//! the phone and the LSP both log through the `log` facade; stock ldk-node nodes log to files
//! in their temporary directories.

use std::io::Write;
use std::sync::Arc;

use doze_core::{init_logging, LogEntry, LogLevel, LogListener};

/// Writes records to stderr, calling `before_each` first (the demo ends its `…` progress line
/// there, so that a record starts on a line of its own).
struct Stderr {
    before_each: fn(),
}

/// Records that say nothing is wrong although they are logged as errors.
///
/// ldk-node 0.7.1 hands every `ChannelReady` and `PaymentForwarded` of an LSP to its LSPS2
/// service, which refuses channels that are not LSPS2 JIT channels ("No counterparty state
/// for" the peer), and logs the refusal at error level: the merchant's ordinary channel to the
/// LSP triggers both. Better filtered at the source (doze-lsp's log forwarding); until then,
/// the demo keeps them off the terminal.
fn is_known_noise(entry: &LogEntry) -> bool {
    entry.target.starts_with("ldk_node::liquidity")
        && entry.message.starts_with("LSPS2 service failed to handle")
        && (entry.message.contains("No counterparty state for")
            || entry.message.contains("Could not find a channel with that user_channel_id"))
}

impl LogListener for Stderr {
    fn log(&self, entry: LogEntry) {
        if is_known_noise(&entry) {
            return;
        }
        let level = match entry.level {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        };
        (self.before_each)();
        let _ = writeln!(
            std::io::stderr().lock(),
            "        {level:<5} [{}] {}",
            entry.target,
            entry.message
        );
    }
}

/// Installs the stderr logger at `level`; `before_each` runs before each record is written.
pub fn init_level(level: LogLevel, before_each: fn()) {
    init_logging(level, Arc::new(Stderr { before_each }));
}

/// The level named by `$DOZE_LOG` (error, warn, info, debug, trace), warn otherwise.
pub fn level_from_env() -> LogLevel {
    match std::env::var("DOZE_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
        "error" => LogLevel::Error,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => LogLevel::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str, message: &str) -> LogEntry {
        LogEntry { level: LogLevel::Error, target: target.into(), message: message.into() }
    }

    #[test]
    fn filters_only_the_lsps2_refusals_of_ordinary_channels() {
        assert!(is_known_noise(&entry(
            "ldk_node::liquidity",
            "LSPS2 service failed to handle ChannelReady event: Misuse error: \
             No counterparty state for: 03be"
        )));
        assert!(is_known_noise(&entry(
            "ldk_node::liquidity",
            "LSPS2 service failed to handle PaymentForwarded: Misuse error: \
             No counterparty state for: 03be"
        )));
        assert!(!is_known_noise(&entry(
            "ldk_node::liquidity",
            "LSPS2 service failed to handle ChannelReady event: other"
        )));
        assert!(!is_known_noise(&entry("ldk_node::payment", "No counterparty state for: 03be")));
    }
}
