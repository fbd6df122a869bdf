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

impl LogListener for Stderr {
    fn log(&self, entry: LogEntry) {
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
