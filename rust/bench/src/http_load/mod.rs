//! The drivers of the `lsp-http-load` bench (`src/bin/lsp-http-load/`): a mixed request load
//! on the LSP's HTTP endpoint ([`mixed_load`]), the half-sent-header attack
//! ([`half_header_attack`]), and the LSP process's memory read from `/proc/<pid>/status` while
//! they run (this module).

mod attack;
mod mixed;

pub use attack::*;
pub use mixed::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A process's memory from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mem {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most it was ever resident (`VmHWM`).
    pub hwm_kib: u64,
}

/// `pid`'s memory, or `None` if it is gone (a zombie has no `VmRSS` either).
pub fn read_mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|value| value.parse().ok())
    };
    Some(Mem { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// Samples a process's resident memory every `every` until [`MemWatch::finish`].
pub struct MemWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, bool)>,
}

impl MemWatch {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, every: Duration) -> MemWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            let mut ticks = tokio::time::interval(every);
            while !stopped.load(Ordering::Relaxed) {
                ticks.tick().await;
                match read_mem(pid) {
                    Some(mem) => peak = peak.max(mem.rss_kib),
                    None => return (peak, true),
                }
            }
            (peak, false)
        });
        MemWatch { stop, task }
    }

    /// The largest resident size sampled, and whether the process vanished meanwhile.
    pub async fn finish(self) -> (u64, bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or((0, false))
    }
}

/// The nearest-rank `q` quantile (0 to 1) of sorted microseconds, in milliseconds.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_us.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted_us[rank.min(sorted_us.len() - 1)]) / 1000.0
}

/// `e` and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `GET /health` until it answers 200 or `within` passes; the last failure otherwise.
pub async fn wait_healthy(base_url: &str, pid: u32, within: Duration) -> Result<Duration, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("no HTTP client: {}", error_chain(&e)))?;
    let started = Instant::now();
    let mut last = String::from("no attempt");
    while started.elapsed() < within {
        if read_mem(pid).is_none() {
            return Err(format!("the LSP process {pid} is gone"));
        }
        match client.get(format!("{base_url}/health")).send().await {
            Ok(response) if response.status().as_u16() == 200 => return Ok(started.elapsed()),
            Ok(response) => last = format!("status {}", response.status()),
            Err(e) => last = error_chain(&e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("GET /health did not answer 200 within {within:?} ({last})"))
}
