//! Every record of the run: the app's, the LSP's and the stock nodes' logs, and the other
//! strings searched.

use super::*;

/// Every log record of the run, by where it came from.
#[derive(Default)]
pub struct Capture {
    lines: Mutex<Vec<(String, String)>>,
    /// Trace-level records of LDK and ldk-node logged on the wallet's own threads (`doze…`).
    pub wallet_ldk_trace: AtomicUsize,
}

impl Capture {
    pub fn add(&self, source: &str, text: String) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push((source.to_string(), text));
    }

    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// An LSP's observers keeping its records (every level) as `source`.
    pub fn lsp_observers(self: &Arc<Self>, source: &'static str) -> Observers {
        let capture = Arc::clone(self);
        Observers::new().on_log(move |record| {
            let text = format!(
                "{} [{}:{}] {}",
                record.level, record.module_path, record.line, record.args
            );
            capture.add(source, text);
        })
    }

    /// A stock node's log writer keeping its records (every level) as `stock <name>`.
    pub fn node_log(self: &Arc<Self>, name: &str) -> Arc<NodeLog> {
        Arc::new(NodeLog { capture: Arc::clone(self), source: format!("stock {name}") })
    }
}

/// The app's log listener: every record of the process's `log` facade.
pub struct AppLog(pub Arc<Capture>);

impl LogListener for AppLog {
    fn log(&self, entry: LogEntry) {
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("?");
        let ldk = entry.target.starts_with("lightning") || entry.target.starts_with("ldk_node");
        if entry.level == LogLevel::Trace && ldk && thread.starts_with("doze") {
            self.0.wallet_ldk_trace.fetch_add(1, Ordering::Relaxed);
        }
        let text = format!("{:?} [{thread}] {}: {}", entry.level, entry.target, entry.message);
        self.0.add("log facade", text);
    }
}

/// A stock ldk-node node's log writer.
pub struct NodeLog {
    capture: Arc<Capture>,
    source: String,
}

impl LogWriter for NodeLog {
    fn log(&self, record: LogRecord<'_>) {
        let text =
            format!("{} [{}:{}] {}", record.level, record.module_path, record.line, record.args);
        self.capture.add(&self.source, text);
    }
}

/// What the flows returned and received, as strings: errors' `Display` and `Debug`, events'
/// and values' `Debug`.
#[derive(Default)]
pub struct Seen(pub Vec<(String, String)>);

impl Seen {
    pub fn debug(&mut self, what: &str, value: &impl Debug) {
        self.0.push((format!("Debug of {what}"), format!("{value:?}")));
    }

    pub fn error(&mut self, what: &str, error: &(impl Display + Debug)) {
        self.0.push((format!("Display of the error {what}"), error.to_string()));
        self.0.push((format!("Debug of the error {what}"), format!("{error:?}")));
    }

    /// The error of `result`, which must have failed; recorded.
    pub fn expect_error<T: Debug, E: Display + Debug>(
        &mut self,
        what: &str,
        result: Result<T, E>,
    ) -> E {
        let error = result.map(|v| panic!("{what} should fail, got {v:?}")).unwrap_err();
        self.error(what, &error);
        error
    }

    pub fn events(&mut self, whose: &str, recorder: &Recorder) {
        for event in recorder.events() {
            self.debug(&format!("an event of {whose}"), &event);
        }
    }
}
