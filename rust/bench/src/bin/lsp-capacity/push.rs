//! Parts 2 and 3: pushes dispatched per second to the loopback gateway, and registration
//! latency over HTTP meanwhile.
//!
//! Synthetic phones are registered straight into the LSP's store (a real registration over
//! HTTP needs a channel per phone); then `PushService::notify` signals each of them, as an
//! interception would: the dispatcher's lookup, the per-phone rate limit, LSPS5 signing with
//! the node key, the POST and its retries all run. The driver keeps at most `WINDOW` signals
//! unanswered (an interception rate the LSP keeps up with), and the burst variant signals all
//! at once to show the queue's bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use doze_bench::percentile;
use doze_devnet::nodes::TestNode;
use doze_lsp::push::registration::VerifiedRequest;
use doze_lsp::push::{PushStats, PushTarget, RegistrationWindow, TargetKind};
use doze_lsp::Lsp;
use doze_testkit::register::{post_register, signed_request, unix_now};
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
use serde::Serialize;

use crate::gateway::Gateway;
use crate::stores::{nonce, Phone, WINDOW_SECS};

/// Signals in flight at most in the paced variants.
const WINDOW: u64 = 128;

/// How long one variant may take before the bench gives up on it.
const VARIANT_TIMEOUT: Duration = Duration::from_secs(300);

/// One variant's result.
#[derive(Debug, Clone, Serialize)]
pub struct PushRun {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// How the signals and the gateway went.
    pub variant: &'static str,
    /// Signals the LSP saw, and how long until each was answered.
    pub signals: u64,
    pub secs: f64,
    /// Signals handled per second (delivered, rate-limited or dropped, as the variant goes).
    pub handled_per_sec: f64,
    /// Notifications the gateway accepted, in all and per second.
    pub delivered: u64,
    pub delivered_per_sec: f64,
    /// HTTP attempts, 503s from the gateway, and the dispatcher's other outcomes.
    pub attempts: u64,
    pub gateway_refused: u64,
    pub rate_limited: u64,
    pub queue_full: u64,
    pub failed: u64,
    /// From the signal to the gateway's answer, for delivered pushes.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

/// Registers `phones` for APNs pushes straight into the LSP's store.
pub fn register_synthetic(lsp: &Lsp, phones: &[Phone]) {
    let store = lsp.push().store();
    let now = unix_now();
    for phone in phones {
        let request = VerifiedRequest {
            node_id: phone.node_id,
            app_name: "doze-bench".into(),
            target: PushTarget { kind: TargetKind::Apns, value: phone.token.clone() },
            timestamp: now,
            nonce: nonce(phone, 1),
        };
        let window = RegistrationWindow { since: now - WINDOW_SECS, max: 10 };
        store.register(&request, now, window).expect("a synthetic phone is stored");
    }
}

fn handled(stats: &PushStats) -> u64 {
    stats.delivered
        + stats.failed
        + stats.rate_limited
        + stats.unregistered
        + stats.no_gateway
        + stats.queue_full
}

fn diff(after: PushStats, before: PushStats) -> PushStats {
    PushStats {
        signals: after.signals - before.signals,
        queue_full: after.queue_full - before.queue_full,
        unregistered: after.unregistered - before.unregistered,
        rate_limited: after.rate_limited - before.rate_limited,
        attempts: after.attempts - before.attempts,
        delivered: after.delivered - before.delivered,
        failed: after.failed - before.failed,
        no_gateway: after.no_gateway - before.no_gateway,
    }
}

/// How the gateway answers in a variant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answers {
    /// Refuse the first attempt of every this-many-th phone (0: none).
    pub fail_every: u64,
    /// Answer after this long.
    pub delay_ms: u64,
}

/// Signals every phone (at most `window` unanswered at once) and waits until each signal is
/// answered, the gateway answering as `answers` says.
pub fn run(
    lsp: &Lsp,
    gateway: &Gateway,
    (store, variant): (&'static str, &'static str),
    phones: &[Phone],
    window: Option<u64>,
    answers: Answers,
) -> PushRun {
    gateway.reset(answers.fail_every, answers.delay_ms);
    let (_, refused_before) = gateway.counts();
    let before = lsp.push_stats();
    let mut sent_at = Vec::with_capacity(phones.len());
    let started = Instant::now();
    for phone in phones {
        if let Some(window) = window {
            let mut spins = 0u32;
            while sent_at.len() as u64 - handled(&diff(lsp.push_stats(), before)) >= window {
                // A condition, polled: the dispatcher answers a signal every few ms.
                spins += 1;
                std::thread::park_timeout(Duration::from_micros(100));
                assert!(spins < 10_000_000, "the dispatcher stalled");
            }
        }
        sent_at.push((phone.token.clone(), Instant::now()));
        lsp.push().notify(phone.node_id);
    }
    let deadline = started + VARIANT_TIMEOUT;
    while handled(&diff(lsp.push_stats(), before)) < phones.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "{variant}: signals unanswered after {VARIANT_TIMEOUT:?}: {:?}",
            diff(lsp.push_stats(), before)
        );
        std::thread::park_timeout(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = diff(lsp.push_stats(), before);
    let arrivals = gateway.arrivals();
    let latencies: Vec<f64> = sent_at
        .iter()
        .filter_map(|(token, at)| {
            arrivals.get(token).map(|a| (a.duration_since(*at)).as_secs_f64())
        })
        .map(|s| s * 1e3)
        .collect();
    let run = PushRun {
        store,
        variant,
        signals: stats.signals,
        secs,
        handled_per_sec: phones.len() as f64 / secs,
        delivered: stats.delivered,
        delivered_per_sec: stats.delivered as f64 / secs,
        attempts: stats.attempts,
        gateway_refused: gateway.counts().1 - refused_before,
        rate_limited: stats.rate_limited,
        queue_full: stats.queue_full,
        failed: stats.failed,
        latency_p50_ms: percentile(latencies.clone(), 0.5),
        latency_p99_ms: percentile(latencies, 0.99),
    };
    eprintln!("push: {run:?}");
    run
}

/// The paced window, for [`run`].
pub fn paced() -> Option<u64> {
    Some(WINDOW)
}

/// Checks that the gateway's first notification is signed by the LSP, the way a phone does.
pub fn check_signed(lsp: &Lsp, gateway: &Gateway) {
    let first = gateway.first().expect("the gateway received a push");
    let timestamp: LSPSDateTime =
        first.headers["x-lsps5-timestamp"].parse().expect("an RFC 3339 timestamp");
    let body = serde_json::to_string(&first.notification).expect("the notification");
    let notification: WebhookNotification = serde_json::from_str(&body).expect("LSPS5");
    LSPS5Validator::new()
        .validate(lsp.node_id(), &timestamp, &first.headers["x-lsps5-signature"], &notification)
        .expect("the push is signed by the LSP's node key");
}

/// Real phones registering over HTTP (`POST /v1/push/register`, signed by their node keys),
/// each one request after the other, every `PACE` at most, until stopped.
pub struct Registrars {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<f64>>>,
}

/// One registration per phone per this long.
const PACE: Duration = Duration::from_millis(50);

impl Registrars {
    /// Starts one registering thread per phone against the LSP's API at `url`.
    pub fn start(url: &str, phones: &[&TestNode]) -> Registrars {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = phones
            .iter()
            .enumerate()
            .map(|(i, phone)| {
                let (url, stop, node) =
                    (url.to_string(), Arc::clone(&stop), Arc::clone(&phone.node));
                std::thread::spawn(move || {
                    let target = PushTarget { kind: TargetKind::Apns, value: format!("phone-{i}") };
                    let mut times = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let next = Instant::now() + PACE;
                        let request = signed_request(&node, target.clone());
                        let t = Instant::now();
                        let answer = post_register(&url, &request);
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                        if let Err((status, error)) = answer {
                            panic!("phone-{i}'s registration refused: {status} {}", error.error);
                        }
                        // Paced, not waiting for a condition: a phone registers now and then.
                        std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                    }
                    times
                })
            })
            .collect();
        Registrars { stop, threads }
    }

    /// Stops them and returns every registration's latency, in ms.
    pub fn stop(self) -> Vec<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().flat_map(|t| t.join().expect("a registering phone")).collect()
    }
}

/// Registration latency over HTTP (p50, p99, count) from `times`.
pub fn latency(times: Vec<f64>) -> (f64, f64, usize) {
    (percentile(times.clone(), 0.5), percentile(times.clone(), 0.99), times.len())
}
