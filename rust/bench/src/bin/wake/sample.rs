//! One wake process measured: wall time, peak memory, its own timings; and a side's summary.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use doze_bench::{median, percentile};
use serde_json::json;

/// One wake's measures.
pub(crate) struct Sample {
    pub(crate) wall_ms: f64,
    pub(crate) max_rss_kb: f64,
    pub(crate) max_anon_kb: f64,
    pub(crate) paid: bool,
    /// The wake's own account of its time (its JSON's millisecond fields).
    pub(crate) timings: BTreeMap<String, f64>,
    /// Doze's writes to the backup during the wake (its global version's move).
    pub(crate) doze_writes: Option<f64>,
    /// The requests through the proxy during the wake, by path.
    pub(crate) requests: BTreeMap<String, u64>,
}

fn anon_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("RssAnon:"))?.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn run(mut command: Command, stdin: &[u8], time_file: &Path) -> (Sample, String) {
    // `DOZE_BENCH_LOG=<level>`: the wake processes log at that level, and each line is printed
    // with the milliseconds since the spawn at which it arrived.
    let log_level = std::env::var("DOZE_BENCH_LOG").ok();
    let stderr = if log_level.is_some() { Stdio::piped() } else { Stdio::null() };
    if let Some(level) = &log_level {
        command.env("DOZE_LOG", level).env("RUST_LOG", level);
    }
    let started = Instant::now();
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let log_reader = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.push(format!("{:>6} ms {line}", started.elapsed().as_millis()));
            }
            lines
        })
    });
    // `/usr/bin/time` is the child; the measured process is its child.
    let mut max_anon: f64 = 0.0;
    let time_pid = child.id();
    let breakdown = std::env::var_os("DOZE_BENCH_SMAPS").is_some();
    let mut last_smaps = String::new();
    let mut sampled_at = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let children =
            std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
                .unwrap_or_default();
        for pid in children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
            max_anon = max_anon.max(anon_kb(pid).unwrap_or(0.0));
            if breakdown && sampled_at.elapsed() > Duration::from_millis(50) {
                if let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) {
                    last_smaps = smaps;
                }
                sampled_at = Instant::now();
            }
        }
        std::thread::park_timeout(Duration::from_millis(5)); // sampling period
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let max_rss_kb = std::fs::read_to_string(time_file)
        .ok()
        .and_then(|t| t.trim().lines().last()?.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let paid = stdout.contains("\"Paid\"") || stdout.contains("\"paid\": true");
    if breakdown {
        eprintln!("{}", smaps_breakdown(&last_smaps));
    }
    if let Some(lines) = log_reader.and_then(|reader| reader.join().ok()) {
        eprintln!("{}", lines.join("\n"));
    }
    let timings = wake_timings(&stdout);
    let sample = Sample {
        wall_ms,
        max_rss_kb,
        max_anon_kb: max_anon,
        paid,
        timings,
        doze_writes: None,
        requests: BTreeMap::new(),
    };
    (sample, stdout)
}

/// The millisecond fields of a wake's outcome JSON: `doze-wake`'s `timings_ms`, `ldk-wake`'s
/// `*_ms`.
fn wake_timings(stdout: &str) -> BTreeMap<String, f64> {
    let Ok(outcome) = serde_json::from_str::<serde_json::Value>(stdout.trim()) else {
        return BTreeMap::new();
    };
    let (fields, suffix) = match outcome.get("timings_ms").and_then(|t| t.as_object()) {
        Some(timings) => (timings.clone(), ""),
        None => (outcome.as_object().cloned().unwrap_or_default(), "_ms"),
    };
    fields
        .into_iter()
        .filter(|(name, _)| name.ends_with(suffix))
        .filter_map(|(name, value)| {
            Some((name.trim_end_matches("_ms").to_string(), value.as_f64()?))
        })
        .collect()
}

/// Resident memory by mapping (kB), largest first: where a process's RSS comes from
/// (`DOZE_BENCH_SMAPS=1`, from its last `/proc/<pid>/smaps` sample).
fn smaps_breakdown(smaps: &str) -> String {
    let mut by_name: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            name = fields.nth(4).unwrap_or("[anon]").to_string();
            continue;
        }
        let kb: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let entry = by_name.entry(name.clone()).or_default();
        match first {
            "Rss:" => entry.0 += kb,
            "Anonymous:" => entry.1 += kb,
            _ => {}
        }
    }
    let mut rows: Vec<_> = by_name.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .0));
    let total: u64 = rows.iter().map(|r| r.1 .0).sum();
    let mut out = format!("  rss {total} kB at the last sample:");
    for (name, (rss, anon)) in rows.iter().take(8) {
        out.push_str(&format!("\n    {rss:>6} kB (anon {anon:>5}) {name}"));
    }
    out
}

/// A side's samples in JSON: medians and extremes.
pub(crate) fn summary(samples: &[Sample]) -> serde_json::Value {
    let mut out = json!({
        "runs": samples.len(),
        "paid": samples.iter().filter(|s| s.paid).count(),
        "median_wall_ms": median(samples.iter().map(|s| s.wall_ms).collect()),
        "p90_wall_ms": percentile(samples.iter().map(|s| s.wall_ms).collect(), 0.9),
        "max_wall_ms": samples.iter().map(|s| s.wall_ms).fold(0.0, f64::max),
        "median_peak_rss_mb": median(samples.iter().map(|s| s.max_rss_kb / 1024.0).collect()),
        "max_peak_rss_mb": samples.iter().map(|s| s.max_rss_kb / 1024.0).fold(0.0, f64::max),
        "median_peak_anon_mb_sampled":
            median(samples.iter().map(|s| s.max_anon_kb / 1024.0).collect()),
        "max_peak_anon_mb_sampled":
            samples.iter().map(|s| s.max_anon_kb / 1024.0).fold(0.0, f64::max),
    });
    let mut timings: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut requests: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for sample in samples {
        for (name, ms) in &sample.timings {
            timings.entry(name).or_default().push(*ms);
        }
        for (path, count) in &sample.requests {
            requests.entry(path).or_default().push(*count as f64);
        }
    }
    let medians = |values: BTreeMap<&str, Vec<f64>>| -> serde_json::Map<String, serde_json::Value> {
        values.into_iter().map(|(k, v)| (k.to_string(), json!(median(v)))).collect()
    };
    out["median_wake_timings_ms"] = medians(timings).into();
    let writes: Vec<f64> = samples.iter().filter_map(|s| s.doze_writes).collect();
    if !writes.is_empty() {
        out["median_doze_backup_writes"] = json!(median(writes.clone()));
        out["max_doze_backup_writes"] = json!(writes.iter().copied().fold(0.0, f64::max));
    }
    if !requests.is_empty() {
        out["median_proxied_requests"] = medians(requests).into();
    }
    out
}
