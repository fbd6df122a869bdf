//! The run's tables (markdown, as the README quotes them) and the trend of part 4.

use serde::Serialize;

use crate::channels::{fit, ChannelStep};
use crate::push::PushRun;
use crate::stores::SizeStep;

/// Registration latency over HTTP from real phones, idle and under push load.
#[derive(Debug, Clone, Serialize)]
pub struct HttpLatency {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// `idle`, or the push variant running meanwhile.
    pub load: &'static str,
    /// Latency of one registration, median and p99, and how many were made.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub registrations: usize,
}

/// The lines fitted through part 4's steps.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    /// The manager's size: per channel and fixed.
    pub manager_bytes_per_channel: f64,
    pub manager_bytes_fixed: f64,
    /// The monitors' size per channel.
    pub monitor_bytes_per_channel: f64,
    /// Encode and write time per 1000 channels.
    pub encode_ms_per_1000_channels: f64,
    pub write_ms_per_1000_channels: f64,
    /// Channels at which one persist (encode + write) would take 100 ms, on this line.
    pub channels_at_100_ms_persist: f64,
}

/// Fits part 4's steps.
pub fn trend(steps: &[ChannelStep]) -> Option<Trend> {
    if steps.len() < 2 {
        return None;
    }
    let line = |y: fn(&ChannelStep) -> f64| {
        fit(&steps.iter().map(|s| (s.channels as f64, y(s))).collect::<Vec<_>>())
    };
    let (manager_fixed, manager_slope) = line(|s| s.manager_bytes as f64);
    let (_, monitor_slope) = line(|s| s.monitors_bytes as f64);
    let (encode_fixed, encode_slope) = line(|s| s.encode_p50_ms);
    let (write_fixed, write_slope) = line(|s| s.write_p50_ms);
    let per_channel = encode_slope + write_slope;
    Some(Trend {
        manager_bytes_per_channel: manager_slope,
        manager_bytes_fixed: manager_fixed,
        monitor_bytes_per_channel: monitor_slope,
        encode_ms_per_1000_channels: encode_slope * 1000.0,
        write_ms_per_1000_channels: write_slope * 1000.0,
        channels_at_100_ms_persist: if per_channel > 0.0 {
            (100.0 - encode_fixed - write_fixed) / per_channel
        } else {
            f64::INFINITY
        },
    })
}

/// Prints every table.
pub fn print(
    stores: &[SizeStep],
    pushes: &[PushRun],
    http: &[HttpLatency],
    channels: &[ChannelStep],
    trend: Option<&Trend>,
) {
    if !stores.is_empty() {
        println!("\n### 1. Registrations stored (verify + store, one at a time)\n");
        println!(
            "| store | registrations | registrations/s | verify p50 | store p50 / p99 / max | \
             on disk (per registration) | lookup p50 / p99 |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for s in stores {
            println!(
                "| {} | {} | {:.0} | {:.0} µs | {:.2} / {:.2} / {:.1} ms | {:.1} MB ({:.0} B) | \
                 {:.0} / {:.0} µs |",
                s.store,
                s.registrations,
                s.per_sec,
                s.verify_p50_us,
                s.store_p50_ms,
                s.store_p99_ms,
                s.store_max_ms,
                s.bytes_on_disk as f64 / 1e6,
                s.bytes_per_registration,
                s.lookup_p50_us,
                s.lookup_p99_us
            );
        }
    }
    if !pushes.is_empty() {
        println!("\n### 2. Pushes dispatched to a loopback gateway\n");
        println!(
            "| store | variant | signals | handled/s | delivered (/s) | attempts | refused by \
             gateway | rate-limited | queue full | failed | signal → gateway p50 / p99 |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for p in pushes {
            println!(
                "| {} | {} | {} | {:.0} | {} ({:.0}) | {} | {} | {} | {} | {} | {:.1} / {:.1} ms |",
                p.store,
                p.variant,
                p.signals,
                p.handled_per_sec,
                p.delivered,
                p.delivered_per_sec,
                p.attempts,
                p.gateway_refused,
                p.rate_limited,
                p.queue_full,
                p.failed,
                p.latency_p50_ms,
                p.latency_p99_ms
            );
        }
    }
    if !http.is_empty() {
        println!("\n### 3. Registration over HTTP from real phones\n");
        println!("| store | load | registrations | p50 | p99 |");
        println!("| --- | --- | --- | --- | --- |");
        for h in http {
            println!(
                "| {} | {} | {} | {:.1} ms | {:.1} ms |",
                h.store, h.load, h.registrations, h.p50_ms, h.p99_ms
            );
        }
    }
    if !channels.is_empty() {
        println!("\n### 4. The LSP's ChannelManager vs its channels\n");
        println!(
            "| channels | manager | monitors | encode p50 / max (samples) | write p50 | \
             opened in |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for c in channels {
            println!(
                "| {} | {:.1} kB | {:.1} MB | {:.2} / {:.2} ms ({}) | {:.2} ms | {:.0} s |",
                c.channels,
                c.manager_bytes as f64 / 1e3,
                c.monitors_bytes as f64 / 1e6,
                c.encode_p50_ms,
                c.encode_max_ms,
                c.encode_samples,
                c.write_p50_ms,
                c.open_secs
            );
        }
        if let Some(t) = trend {
            println!(
                "\ntrend: manager {:.0} B + {:.0} B/channel; monitors {:.0} B/channel; encode \
                 {:.2} ms and write {:.2} ms per 1000 channels; one persist reaches 100 ms at \
                 ~{:.0} channels",
                t.manager_bytes_fixed,
                t.manager_bytes_per_channel,
                t.monitor_bytes_per_channel,
                t.encode_ms_per_1000_channels,
                t.write_ms_per_1000_channels,
                t.channels_at_100_ms_persist
            );
        }
    }
}
