//! Log records to stderr, through doze-core's [`init_logging`] as an app would: warnings and
//! errors by default, info with `--verbose`. The phone and the LSP both log through the `log`
//! facade; the merchant (stock ldk-node) logs to a file in its temporary directory.

use std::io::Write;
use std::sync::Arc;

use doze_core::{init_logging, LogEntry, LogLevel, LogListener};

use crate::progress;

struct Stderr;

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
        progress::interrupt();
        let _ = writeln!(
            std::io::stderr().lock(),
            "        {level:<5} [{}] {}",
            entry.target,
            entry.message
        );
    }
}

/// Installs the stderr logger.
pub fn init(verbose: bool) {
    init_level(if verbose { LogLevel::Info } else { LogLevel::Warn });
}

/// Installs the stderr logger at `level`.
pub fn init_level(level: LogLevel) {
    init_logging(level, Arc::new(Stderr));
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
            "LSPS2 service failed to handle ChannelReady event: Misuse error: No counterparty state for: 03be"
        )));
        assert!(is_known_noise(&entry(
            "ldk_node::liquidity",
            "LSPS2 service failed to handle PaymentForwarded: Misuse error: No counterparty state for: 03be"
        )));
        assert!(!is_known_noise(&entry(
            "ldk_node::liquidity",
            "LSPS2 service failed to handle ChannelReady event: other"
        )));
        assert!(!is_known_noise(&entry("ldk_node::payment", "No counterparty state for: 03be")));
    }
}
