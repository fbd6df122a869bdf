//! The mixed load: registrations (valid, replayed, over the phone's bound), bad requests and
//! operator calls from many clients and many sources, each answer classed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use doze_lsp::push::{PushTarget, RegisterRequest, REGISTER_PATH};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::lightning::util::message_signing;
use ldk_node::Node;

use super::error_chain;

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
