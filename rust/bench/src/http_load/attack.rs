//! The half-sent-header attack: connections that send part of a request's header and stall,
//! and `/health` probed while they do, to show none is held past the header timeout.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{error_chain, read_mem, Mem};

/// How one attacking connection ended.
#[derive(Debug, Clone)]
enum ConnEnd {
    /// It could not connect (or write its half header).
    Failed(String),
    /// The server closed it `after` the attack started, having sent `answer` (its status
    /// line, if any).
    Closed { after: Duration, answer: Option<String> },
}

/// One sample of the attack's timeline.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the attack started.
    pub t: f64,
    /// Attacking connections the server still holds open.
    pub open: usize,
    /// The LSP's resident memory, KiB.
    pub rss_kib: u64,
}

/// A `GET /health` during the attack, on a fresh connection.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Seconds since the attack started.
    pub t: f64,
    /// The status, or what failed.
    pub answer: Result<u16, String>,
    /// Milliseconds to the answer (or the failure).
    pub latency_ms: f64,
}

/// What the half-sent-header attack measured.
#[derive(Debug, Default)]
pub struct AttackReport {
    /// Connections attempted.
    pub connections: usize,
    /// Connections that failed to open.
    pub connect_failures: usize,
    /// Connections answered 503 (over `max_connections`).
    pub refused_503: usize,
    /// Connections closed within a second of the attack's start without a 503 read (a 503
    /// lost to the reset of a connection whose half header the server never read, or a
    /// close at once).
    pub closed_at_once: usize,
    /// Connections closed later without an answer or with one other than 503 (the
    /// header-read timeout).
    pub cut_off: usize,
    /// Status lines other than 503 that cut-off connections received.
    pub other_answers: BTreeMap<String, usize>,
    /// Time to open all of them.
    pub opened_in: Duration,
    /// Open connections at the header timeout + 1 s, counted from when all were opened.
    pub held_at_timeout_plus_1s: Option<usize>,
    /// When the last one was closed, since the attack started (`None`: some still open).
    pub all_closed_after: Option<Duration>,
    /// Open connections and memory over time.
    pub timeline: Vec<Sample>,
    /// `GET /health` during the attack.
    pub probes: Vec<Probe>,
    /// The LSP's memory before, the most sampled during, and after.
    pub mem_before: Mem,
    /// The largest `VmRSS` sampled during the attack.
    pub rss_peak_kib: u64,
    /// After the last connection closed.
    pub mem_after: Mem,
    /// Whether the LSP process vanished.
    pub process_died: bool,
    /// The first few connect failures.
    pub failures: Vec<String>,
}

/// What one attacking connection sends: a request line and part of a header, no end.
const HALF_HEADER: &[u8] = b"GET /health HTTP/1.1\r\nHost: lsp\r\nUser-Agent: slow\r\nX-Slow: a";

/// Opens `connections` to `addr` that each send half a header and stall, probes
/// `GET /health` on `base_url` every 500 ms, and follows the LSP process `pid` until every
/// connection is closed (or `header_timeout` + 30 s).
pub async fn half_header_attack(
    addr: SocketAddr,
    base_url: &str,
    pid: u32,
    connections: usize,
    header_timeout: Duration,
) -> AttackReport {
    let mut report = AttackReport {
        connections,
        mem_before: read_mem(pid).unwrap_or_default(),
        ..AttackReport::default()
    };
    let open = Arc::new(AtomicUsize::new(0));
    let settled = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (open, settled) = (Arc::clone(&open), Arc::clone(&settled));
            tokio::spawn(async move { stall(addr, &open, &settled, start).await })
        })
        .collect();
    let stop_probes = Arc::new(AtomicBool::new(false));
    let probes = tokio::spawn(probe_health(base_url.to_string(), start, Arc::clone(&stop_probes)));

    // Every connection opened and its half header sent (or failed): the timeouts run from here.
    let give_up = start + Duration::from_secs(30);
    while settled.load(Ordering::Relaxed) < connections && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opened = Instant::now();
    report.opened_in = opened - start;
    let held_at = opened + header_timeout + Duration::from_secs(1);
    let deadline = opened + header_timeout + Duration::from_secs(30);
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        let rss_kib = match read_mem(pid) {
            Some(mem) => mem.rss_kib,
            None => {
                report.process_died = true;
                0
            }
        };
        let open_now = open.load(Ordering::Relaxed);
        report.rss_peak_kib = report.rss_peak_kib.max(rss_kib);
        report.timeline.push(Sample { t: (now - start).as_secs_f64(), open: open_now, rss_kib });
        if report.held_at_timeout_plus_1s.is_none() && now >= held_at {
            report.held_at_timeout_plus_1s = Some(open_now);
        }
        let all_done = tasks.iter().all(|t| t.is_finished());
        if (all_done && now >= held_at) || now >= deadline || report.process_died {
            break;
        }
        next += Duration::from_millis(250);
        // The held-at instant is sampled exactly.
        let wake = if report.held_at_timeout_plus_1s.is_none() { next.min(held_at) } else { next };
        tokio::time::sleep_until(wake.into()).await;
    }
    stop_probes.store(true, Ordering::Relaxed);
    let mut last_close = Duration::ZERO;
    let mut all_closed = true;
    for task in tasks {
        if !task.is_finished() {
            all_closed = false;
            task.abort();
            continue;
        }
        match task.await {
            Ok(ConnEnd::Failed(e)) => {
                report.connect_failures += 1;
                if report.failures.len() < 4 && !report.failures.contains(&e) {
                    report.failures.push(e);
                }
            }
            Ok(ConnEnd::Closed { after, answer }) => {
                last_close = last_close.max(after);
                match answer.as_deref() {
                    Some(line) if line.starts_with("HTTP/1.1 503") => report.refused_503 += 1,
                    None if after < Duration::from_secs(1) => report.closed_at_once += 1,
                    other => {
                        report.cut_off += 1;
                        if let Some(line) = other {
                            *report.other_answers.entry(line.to_string()).or_default() += 1;
                        }
                    }
                }
            }
            Err(e) => report.failures.push(format!("a connection task failed: {e}")),
        }
    }
    report.all_closed_after = all_closed.then_some(last_close);
    report.probes = probes.await.unwrap_or_default();
    report.mem_after = read_mem(pid).unwrap_or_default();
    report
}

/// One attacking connection: open, half a header, then read until the server closes it.
async fn stall(
    addr: SocketAddr,
    open: &AtomicUsize,
    settled: &AtomicUsize,
    start: Instant,
) -> ConnEnd {
    let connected = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await;
    let mut stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            settled.fetch_add(1, Ordering::Relaxed);
            return ConnEnd::Failed(format!("connect: {e}"));
        }
        Err(_) => {
            settled.fetch_add(1, Ordering::Relaxed);
            return ConnEnd::Failed("connect: timed out after 10 s".into());
        }
    };
    open.fetch_add(1, Ordering::Relaxed);
    // A write refused by a connection the server already closed is the close, read below.
    let _ = stream.write_all(HALF_HEADER).await;
    settled.fetch_add(1, Ordering::Relaxed);
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if received.len() < 4096 => received.extend_from_slice(&buf[..n]),
            Ok(_) => {}
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
    let answer = (!received.is_empty()).then(|| {
        let text = String::from_utf8_lossy(&received);
        text.lines().next().unwrap_or_default().trim().to_string()
    });
    ConnEnd::Closed { after: start.elapsed(), answer }
}

/// `GET /health` on a fresh connection every 500 ms until `stop`.
async fn probe_health(base_url: String, start: Instant, stop: Arc<AtomicBool>) -> Vec<Probe> {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            let answer = Err(format!("no HTTP client: {}", error_chain(&e)));
            return vec![Probe { t: 0.0, answer, latency_ms: 0.0 }];
        }
    };
    let url = format!("{base_url}/health");
    let mut probes = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let sent = Instant::now();
        let answer = match client.get(&url).send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(error_chain(&e)),
        };
        probes.push(Probe {
            t: (sent - start).as_secs_f64(),
            answer,
            latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
        });
    }
    probes
}
