//! Shared helpers of the bench binaries: timing statistics and JSON output.

use std::time::{Duration, Instant};

pub mod fixture;
pub mod http_load;
pub mod keyspace;
pub mod server;

/// Runs `f` `runs` times and returns the median duration in milliseconds (fractional).
pub fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// The median of already-measured samples.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `p` quantile (0.0 to 1.0) of already-measured samples, nearest rank.
pub fn percentile(mut samples: Vec<f64>, p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() as f64 - 1.0) * p).round();
    samples.get(rank.max(0.0) as usize).copied().unwrap_or(f64::NAN)
}
