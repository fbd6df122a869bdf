//! A minimal `log` implementation writing to stderr, for the `doze-lsp` binary.
//!
//! The level comes from `DOZE_LSP_LOG` (or `RUST_LOG`): `error`, `warn`, `info` (default),
//! `debug` or `trace`. LDK's own records below `info` are only shown at `trace`, since they are
//! very chatty.

use std::io::Write;

struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        let chatty = !metadata.target().starts_with("doze");
        let limit = if chatty && self.level < log::LevelFilter::Trace {
            self.level.min(log::LevelFilter::Info)
        } else {
            self.level
        };
        metadata.level() <= limit
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{now:.3} {:<5} [{}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger with the level from the environment; returns the level, or an
/// error if a logger was already installed.
pub fn init_from_env() -> Result<log::LevelFilter, log::SetLoggerError> {
    let level = std::env::var("DOZE_LSP_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|v| v.trim().parse::<log::LevelFilter>().ok())
        .unwrap_or(log::LevelFilter::Info);
    log::set_boxed_logger(Box::new(StderrLogger { level }))?;
    log::set_max_level(level);
    Ok(level)
}
