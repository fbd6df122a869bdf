//! The drivers of the `lsp-http-load` bench (`src/bin/lsp-http-load.rs`): a mixed request load
//! on the LSP's HTTP endpoint, the half-sent-header attack, and the LSP process's memory read
//! from `/proc/<pid>/status` while they run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use doze_lsp::push::{PushTarget, RegisterRequest, REGISTER_PATH};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::lightning::util::message_signing;
use ldk_node::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// A small fast PRNG (xorshift64*): the load's mix needs no cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What a load request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `GET /health`.
    Health,
    /// `GET /v1/lsps2/fees`.
    Fees,
    /// `GET` of a path that does not exist.
    NotFound,
    /// A valid signed registration by a key the LSP has no channel with (403 no_channel).
    Stranger,
    /// A valid signed registration by a phone with a channel (200, then the per-phone 429).
    Phone,
    /// A registration that is not JSON, or misses fields (400).
    BadJson,
    /// A registration changed after signing (401).
    BadSignature,
    /// A body over `max_body_bytes` (413).
    Oversized,
}

impl Kind {
    /// Every kind, in the order of the summary.
    pub const ALL: [Kind; 8] = [
        Kind::Health,
        Kind::Fees,
        Kind::NotFound,
        Kind::Stranger,
        Kind::Phone,
        Kind::BadJson,
        Kind::BadSignature,
        Kind::Oversized,
    ];

    /// A short name for the summary.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Health => "GET /health",
            Kind::Fees => "GET /v1/lsps2/fees",
            Kind::NotFound => "GET 404 path",
            Kind::Stranger => "reg. no channel",
            Kind::Phone => "reg. phone",
            Kind::BadJson => "reg. bad JSON",
            Kind::BadSignature => "reg. bad sig",
            Kind::Oversized => "reg. oversized",
        }
    }

    /// Whether it goes to the registration endpoint (and so counts for its source's limit).
    pub fn registers(self) -> bool {
        !matches!(self, Kind::Health | Kind::Fees | Kind::NotFound)
    }

    /// Its share of the mix, in percent (phones' share goes to strangers without phones).
    fn weight(self, phones: bool) -> usize {
        match self {
            Kind::Health | Kind::Fees => 15,
            Kind::NotFound | Kind::BadJson | Kind::BadSignature => 10,
            Kind::Stranger if phones => 25,
            Kind::Stranger => 30,
            Kind::Phone if phones => 5,
            Kind::Phone => 0,
            Kind::Oversized => 5,
        }
    }
}

/// How a request ended, by the classes of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// 200 or 201.
    Ok,
    /// 400.
    BadRequest,
    /// 401 or 403.
    Refused,
    /// 404.
    NotFound,
    /// 413.
    TooLarge,
    /// 429 from the per-source limit.
    LimitedSource,
    /// 429 from the per-phone bound.
    LimitedPhone,
    /// 503.
    Unavailable,
    /// Any other status.
    Other,
    /// No answer: connection refused, reset, timed out.
    Error,
}

impl Class {
    /// Every class, in the order of the summary.
    pub const ALL: [Class; 10] = [
        Class::Ok,
        Class::BadRequest,
        Class::Refused,
        Class::NotFound,
        Class::TooLarge,
        Class::LimitedSource,
        Class::LimitedPhone,
        Class::Unavailable,
        Class::Other,
        Class::Error,
    ];

    /// The column header of the summary.
    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "200/201",
            Class::BadRequest => "400",
            Class::Refused => "401/403",
            Class::NotFound => "404",
            Class::TooLarge => "413",
            Class::LimitedSource => "429src",
            Class::LimitedPhone => "429ph",
            Class::Unavailable => "503",
            Class::Other => "other",
            Class::Error => "error",
        }
    }
}

/// The mixed load's parameters.
pub struct LoadConfig {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Concurrent clients, each one request at a time on a keep-alive connection.
    pub clients: usize,
    /// How long they send.
    pub duration: Duration,
    /// The header the LSP takes a loopback proxy's client address from.
    pub forwarded_for: String,
    /// Sources (addresses in the header) that send half the registrations, so that they run
    /// out of allowance; the other half come from 65 536 others, which do not.
    pub hot_sources: u32,
    /// Distinct phone keys without a channel to sign registrations with.
    pub stranger_keys: usize,
    /// Phones with a channel to the LSP (their registrations succeed up to the per-phone bound).
    pub phones: Vec<Arc<Node>>,
    /// The size of an oversized body.
    pub oversized_bytes: usize,
}

/// One kind's requests, from the hot sources or not.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Requests by how they ended.
    pub by_class: BTreeMap<Class, u64>,
}

/// What the mixed load measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// By kind and whether from a hot source.
    pub tallies: BTreeMap<(Kind, bool), Tally>,
    /// Every request's latency, sorted, in microseconds (errors included, until they failed).
    pub latencies_us: Vec<u32>,
    /// `GET /health`'s latencies, sorted, in microseconds.
    pub health_latencies_us: Vec<u32>,
    /// 429 answers without a `Retry-After` header.
    pub missing_retry_after: u64,
    /// Error answers (4xx/5xx) whose body is not `{"error": "..."}`.
    pub non_json_errors: u64,
    /// The first few failures (errors, and statuses of the "other" class), for the log.
    pub samples: Vec<String>,
    /// Registrations taken (200) per phone with a channel, by its index.
    pub phone_ok: BTreeMap<usize, u64>,
}

impl LoadReport {
    /// Requests in all.
    pub fn total(&self) -> u64 {
        self.tallies.values().flat_map(|t| t.by_class.values()).sum()
    }

    /// Requests that ended in `class`, of every kind (or of `kind` only).
    pub fn count(&self, class: Class, kind: Option<Kind>, hot: Option<bool>) -> u64 {
        self.tallies
            .iter()
            .filter(|((k, h), _)| kind.is_none_or(|kind| kind == *k) && hot.is_none_or(|x| x == *h))
            .filter_map(|(_, tally)| tally.by_class.get(&class))
            .sum()
    }

    fn merge(&mut self, other: LoadReport) {
        for (key, tally) in other.tallies {
            let mine = self.tallies.entry(key).or_default();
            for (class, n) in tally.by_class {
                *mine.by_class.entry(class).or_default() += n;
            }
        }
        self.latencies_us.extend(other.latencies_us);
        self.health_latencies_us.extend(other.health_latencies_us);
        self.missing_retry_after += other.missing_retry_after;
        self.non_json_errors += other.non_json_errors;
        for (phone, n) in other.phone_ok {
            *self.phone_ok.entry(phone).or_default() += n;
        }
        for sample in other.samples {
            if self.samples.len() < 8 && !self.samples.contains(&sample) {
                self.samples.push(sample);
            }
        }
    }
}

/// What the clients share: the keys and a nonce counter.
struct Shared {
    config: LoadConfig,
    strangers: Vec<(SecretKey, PublicKey)>,
    nonce_salt: u64,
    nonces: AtomicU64,
    webhook: PushTarget,
}

impl Shared {
    fn nonce(&self) -> String {
        format!("{:016x}{:016x}", self.nonce_salt, self.nonces.fetch_add(1, Ordering::Relaxed))
    }

    fn stranger_request(&self, rng: &mut Rng) -> RegisterRequest {
        let (secret, public) = &self.strangers[rng.below(self.strangers.len())];
        RegisterRequest::signed(
            *public,
            "doze-load",
            self.webhook.clone(),
            unix_now(),
            &self.nonce(),
            |m| message_signing::sign(m, secret),
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Runs the mixed load: `clients` tasks, each sending one request at a time until the
/// duration is over.
pub async fn mixed_load(config: LoadConfig) -> Result<LoadReport, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.clients)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("no HTTP client: {}", error_chain(&e)))?;
    let secp = Secp256k1::new();
    let strangers = (0..config.stranger_keys.max(1))
        .map(|i| {
            let mut bytes = [0x5au8; 32];
            bytes[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let secret = SecretKey::from_slice(&bytes).map_err(|e| format!("a key: {e}"))?;
            Ok((secret, PublicKey::from_secret_key(&secp, &secret)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let nonce_salt =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let shared = Arc::new(Shared {
        strangers,
        nonce_salt,
        nonces: AtomicU64::new(0),
        webhook: PushTarget::webhook("http://127.0.0.1:9/hook"),
        config,
    });
    let started = Instant::now();
    let deadline = started + shared.config.duration;
    let tasks: Vec<_> = (0..shared.config.clients)
        .map(|i| {
            let shared = Arc::clone(&shared);
            let client = client.clone();
            tokio::spawn(async move { client_loop(&shared, &client, i as u64, deadline).await })
        })
        .collect();
    let mut report = LoadReport::default();
    for task in tasks {
        let part = task.await.map_err(|e| format!("a load client panicked: {e}"))?;
        report.merge(part);
    }
    report.elapsed = started.elapsed();
    report.latencies_us.sort_unstable();
    report.health_latencies_us.sort_unstable();
    Ok(report)
}

/// A request of the mix: method, path, body, the proxy header's address.
struct Planned {
    kind: Kind,
    hot: bool,
    path: &'static str,
    body: Option<Vec<u8>>,
    source: Option<String>,
    phone: Option<usize>,
}

fn plan(shared: &Shared, rng: &mut Rng) -> Planned {
    let phones = !shared.config.phones.is_empty();
    let total: usize = Kind::ALL.iter().map(|k| k.weight(phones)).sum();
    let mut pick = rng.below(total);
    let kind = Kind::ALL
        .into_iter()
        .find(|k| {
            let w = k.weight(phones);
            if pick < w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .unwrap_or(Kind::Health);
    // Half the registrations from a few hot sources, the others from many (a phone's from many:
    // its own bound is what it meets).
    let hot = kind.registers() && kind != Kind::Phone && rng.below(2) == 0;
    let source = kind.registers().then(|| {
        if hot {
            format!("203.0.113.{}", 1 + rng.below(shared.config.hot_sources.max(1) as usize))
        } else {
            let n = rng.below(1 << 16);
            format!("10.77.{}.{}", n >> 8, n & 0xff)
        }
    });
    let json = |request: &RegisterRequest| serde_json::to_vec(request).unwrap_or_default();
    let mut phone = None;
    let (path, body) = match kind {
        Kind::Health => ("/health", None),
        Kind::Fees => ("/v1/lsps2/fees", None),
        Kind::NotFound => ("/v1/no-such-endpoint", None),
        Kind::Stranger => (REGISTER_PATH, Some(json(&shared.stranger_request(rng)))),
        Kind::Phone => {
            let index = rng.below(shared.config.phones.len());
            phone = Some(index);
            let node = &shared.config.phones[index];
            let request = RegisterRequest::signed(
                node.node_id(),
                "doze-load",
                shared.webhook.clone(),
                unix_now(),
                &shared.nonce(),
                |m| node.sign_message(m),
            );
            (REGISTER_PATH, Some(json(&request)))
        }
        Kind::BadJson => {
            let body: &[u8] = if rng.below(2) == 0 { b"{not json" } else { br#"{"node_id":"02"}"# };
            (REGISTER_PATH, Some(body.to_vec()))
        }
        Kind::BadSignature => {
            let mut request = shared.stranger_request(rng);
            request.target = PushTarget::webhook("http://evil.example/hook");
            (REGISTER_PATH, Some(json(&request)))
        }
        Kind::Oversized => (REGISTER_PATH, Some(vec![b'x'; shared.config.oversized_bytes])),
    };
    Planned { kind, hot, path, body, source, phone }
}

async fn client_loop(
    shared: &Shared,
    client: &reqwest::Client,
    id: u64,
    deadline: Instant,
) -> LoadReport {
    let mut rng = Rng::new(id + 1);
    let mut report = LoadReport::default();
    let base = &shared.config.base_url;
    while Instant::now() < deadline {
        let planned = plan(shared, &mut rng);
        let url = format!("{base}{}", planned.path);
        let mut request = match planned.body {
            Some(body) => client.post(url).header("content-type", "application/json").body(body),
            None => client.get(url),
        };
        if let Some(source) = &planned.source {
            request = request.header(shared.config.forwarded_for.as_str(), source.as_str());
        }
        let sent = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                response.bytes().await.map(|body| (status, retry_after, body))
            }
            Err(e) => Err(e),
        };
        let latency = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        report.latencies_us.push(latency);
        if planned.kind == Kind::Health {
            report.health_latencies_us.push(latency);
        }
        let class = match answer {
            Ok((status, retry_after, body)) => {
                let error = (status >= 400)
                    .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
                    .map(|v| v.and_then(|v| v.get("error")?.as_str().map(String::from)));
                if let Some(None) = error {
                    report.non_json_errors += 1;
                }
                if status == 429 && !retry_after {
                    report.missing_retry_after += 1;
                }
                let class = classify(status, error.flatten().as_deref());
                if class == Class::Other && report.samples.len() < 4 {
                    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    report.samples.push(format!("{}: {status} {text}", planned.kind.name()));
                }
                class
            }
            Err(e) => {
                if report.samples.len() < 4 {
                    report.samples.push(format!("{}: {}", planned.kind.name(), error_chain(&e)));
                }
                Class::Error
            }
        };
        if let (Class::Ok, Some(phone)) = (class, planned.phone) {
            *report.phone_ok.entry(phone).or_default() += 1;
        }
        let tally = report.tallies.entry((planned.kind, planned.hot)).or_default();
        *tally.by_class.entry(class).or_default() += 1;
    }
    report
}

fn classify(status: u16, error: Option<&str>) -> Class {
    match status {
        200 | 201 => Class::Ok,
        400 => Class::BadRequest,
        401 | 403 => Class::Refused,
        404 => Class::NotFound,
        413 => Class::TooLarge,
        429 if error.is_some_and(|e| e.starts_with("too many registrations from")) => {
            Class::LimitedSource
        }
        429 => Class::LimitedPhone,
        503 => Class::Unavailable,
        _ => Class::Other,
    }
}

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
