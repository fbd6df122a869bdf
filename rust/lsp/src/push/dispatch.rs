//! The dispatcher: a thread with its own small runtime that takes interception signals from a
//! bounded queue, looks the peer up, rate-limits, signs and delivers with retries.
//!
//! Nothing here runs on ldk-node's threads except [`Intake::offer`], which only does a
//! `try_send` on the queue and bumps counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};

use super::notify::{GatewayRequest, SignedNotification};
use super::registration::TargetKind;
use super::store::{Outcome, PushStore, Registration};
use crate::config::PushConfig;
use crate::worker::Worker;

/// Deliveries in flight at once; more wait their turn.
const MAX_CONCURRENT_DELIVERIES: usize = 16;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Signs a message with the LSP's node key (zbase32), i.e. `Node::sign_message`.
pub type Signer = Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// Counters of what the push machinery did since the LSP started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushStats {
    /// Interception signals seen (log records, or [`super::PushService::notify`] calls).
    pub signals: u64,
    /// Signals dropped because the queue was full.
    pub queue_full: u64,
    /// Signals for peers with no registration (ignored).
    pub unregistered: u64,
    /// Signals within `min_interval_secs` of the peer's previous push (ignored).
    pub rate_limited: u64,
    /// HTTP attempts made.
    pub attempts: u64,
    /// Notifications delivered (a 2xx answer).
    pub delivered: u64,
    /// Notifications given up after `max_attempts`.
    pub failed: u64,
    /// `apns`/`fcm` notifications dropped for want of a gateway.
    pub no_gateway: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    signals: AtomicU64,
    queue_full: AtomicU64,
    unregistered: AtomicU64,
    rate_limited: AtomicU64,
    attempts: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    no_gateway: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> PushStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PushStats {
            signals: get(&self.signals),
            queue_full: get(&self.queue_full),
            unregistered: get(&self.unregistered),
            rate_limited: get(&self.rate_limited),
            attempts: get(&self.attempts),
            delivered: get(&self.delivered),
            failed: get(&self.failed),
            no_gateway: get(&self.no_gateway),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The producer side of the queue; cheap to call from a `LogWriter`.
pub(crate) struct Intake {
    queue: mpsc::Sender<PublicKey>,
    counters: Arc<Counters>,
}

impl Intake {
    pub(crate) fn new(
        capacity: usize,
        counters: Arc<Counters>,
    ) -> (Intake, mpsc::Receiver<PublicKey>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        (Intake { queue, counters }, receiver)
    }

    /// Queues a signal for `peer` without waiting; returns whether it was queued.
    pub(crate) fn offer(&self, peer: PublicKey) -> bool {
        bump(&self.counters.signals);
        match self.queue.try_send(peer) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&self.counters.queue_full);
                log::warn!(
                    target: "doze_lsp::push",
                    "push queue full: dropped the signal for {peer}"
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// When each peer was last pushed to, for the rate limit.
pub(crate) type LastPush = Mutex<HashMap<PublicKey, Instant>>;

/// What a delivery needs, shared by the dispatcher's tasks.
struct Context {
    config: PushConfig,
    store: Arc<PushStore>,
    counters: Arc<Counters>,
    sign: Signer,
    http: reqwest::Client,
    /// When each peer was last pushed to (the start of its last delivery).
    last_push: Arc<LastPush>,
    deliveries: Semaphore,
}

/// The running dispatcher thread.
pub(crate) struct Dispatcher {
    worker: Worker,
}

impl Dispatcher {
    pub(crate) fn spawn(
        config: PushConfig,
        store: Arc<PushStore>,
        counters: Arc<Counters>,
        last_push: Arc<LastPush>,
        sign: Signer,
        mut queue: mpsc::Receiver<PublicKey>,
    ) -> std::io::Result<Dispatcher> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs))
            .connect_timeout(Duration::from_secs(config.request_timeout_secs))
            .user_agent(concat!("doze-lsp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        let context = Arc::new(Context {
            config,
            store,
            counters,
            sign,
            http,
            last_push,
            deliveries: Semaphore::new(MAX_CONCURRENT_DELIVERIES),
        });
        let worker = Worker::spawn("lsp-push", move |mut stopped| {
            runtime.block_on(async {
                loop {
                    tokio::select! {
                        biased;
                        _ = &mut stopped => break,
                        peer = queue.recv() => match peer {
                            Some(peer) => context.clone().dispatch(peer),
                            None => break,
                        },
                    }
                }
            });
            // Deliveries still in flight are abandoned.
            runtime.shutdown_timeout(Duration::from_millis(500));
            log::debug!(target: "doze_lsp::push", "push dispatcher stopped");
        })?;
        Ok(Dispatcher { worker })
    }

    pub(crate) fn stop(self) {
        self.worker.stop();
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Context {
    /// Decides about one signal (on the dispatcher's loop: quick) and spawns the delivery.
    fn dispatch(self: Arc<Self>, peer: PublicKey) {
        let registration = match self.store.registration(&peer) {
            Ok(Some(registration)) => registration,
            Ok(None) => {
                bump(&self.counters.unregistered);
                log::debug!(
                    target: "doze_lsp::push",
                    "onion message held for {peer}, which has no push registration"
                );
                return;
            }
            Err(e) => {
                bump(&self.counters.failed);
                log::error!(
                    target: "doze_lsp::push",
                    "cannot look up the push registration of {peer}: {e}"
                );
                return;
            }
        };
        let now = Instant::now();
        {
            let mut last_push = self.last_push.lock().unwrap_or_else(|p| p.into_inner());
            let interval = Duration::from_secs(self.config.min_interval_secs);
            if let Some(last) = last_push.get(&peer) {
                if now.duration_since(*last) < interval {
                    bump(&self.counters.rate_limited);
                    log::debug!(
                        target: "doze_lsp::push",
                        "not pushing {peer} again within {interval:?}"
                    );
                    return;
                }
            }
            last_push.insert(peer, now);
        }
        log::info!(
            target: "doze_lsp::push",
            "onion message held for {peer}: pushing to its {} target",
            registration.target.kind
        );
        tokio::spawn(async move {
            let (outcome, attempts, detail) = self.deliver(&registration).await;
            if outcome != Outcome::Delivered {
                // Let the next interception try again rather than wait out the interval.
                let mut last_push = self.last_push.lock().unwrap_or_else(|p| p.into_inner());
                if last_push.get(&peer) == Some(&now) {
                    last_push.remove(&peer);
                }
            }
            // Recorded before counted, so that a count seen implies the row is there.
            let store = Arc::clone(&self.store);
            let row = detail.clone();
            let logged = tokio::task::spawn_blocking(move || {
                store.log_outcome(&peer, unix_now(), outcome, attempts, &row)
            })
            .await;
            if let Ok(Err(e)) = logged {
                log::error!(target: "doze_lsp::push", "cannot record a push outcome: {e}");
            }
            match outcome {
                Outcome::Delivered => {
                    bump(&self.counters.delivered);
                    log::info!(target: "doze_lsp::push", "pushed {peer} ({attempts} attempt(s))");
                }
                Outcome::Failed => {
                    bump(&self.counters.failed);
                    log::warn!(
                        target: "doze_lsp::push",
                        "could not push {peer} after {attempts} attempt(s): {detail}"
                    );
                }
                Outcome::NoGateway => {
                    bump(&self.counters.no_gateway);
                    log::warn!(target: "doze_lsp::push", "{detail}");
                }
            }
        });
    }

    /// Delivers with retries; returns the outcome, the attempts made and the last detail.
    async fn deliver(&self, registration: &Registration) -> (Outcome, u32, String) {
        let Ok(_permit) = self.deliveries.acquire().await else {
            return (Outcome::Failed, 0, "the dispatcher is stopping".into());
        };
        let platform = registration.target.kind;
        let url = match platform {
            TargetKind::Webhook => registration.target.value.clone(),
            TargetKind::Apns | TargetKind::Fcm => match &self.config.gateway_url {
                Some(url) => url.clone(),
                None => {
                    let detail = format!(
                        "no push.gateway_url configured: dropped the {platform} notification \
                         for {}",
                        registration.node_id
                    );
                    return (Outcome::NoGateway, 0, detail);
                }
            },
        };
        let mut detail = String::new();
        let mut backoff = Duration::from_millis(self.config.retry_backoff_ms);
        for attempt in 1..=self.config.max_attempts {
            // Signed afresh for every attempt: the timestamp stays current.
            let signed =
                SignedNotification::sign_now(WebhookNotification::onion_message_incoming(), |m| {
                    (self.sign)(m)
                });
            let request = match platform {
                TargetKind::Webhook => {
                    let mut request = self
                        .http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(signed.body.clone());
                    for (name, value) in signed.lsps5_headers() {
                        request = request.header(name, value);
                    }
                    request
                }
                TargetKind::Apns | TargetKind::Fcm => self.http.post(&url).json(
                    &GatewayRequest::new(platform.as_str(), &registration.target.value, &signed),
                ),
            };
            bump(&self.counters.attempts);
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return (
                        Outcome::Delivered,
                        attempt,
                        format!("HTTP {}", response.status().as_u16()),
                    );
                }
                Ok(response) => {
                    detail = format!("HTTP {} from {}", response.status().as_u16(), host_of(&url))
                }
                // reqwest's message names the whole URL, and a webhook's path may be a secret.
                Err(e) => {
                    detail =
                        format!("{} unreachable: {}", host_of(&url), error_chain(&e.without_url()))
                }
            }
            log::debug!(
                target: "doze_lsp::push",
                "push attempt {attempt} to {} failed: {detail}",
                registration.node_id
            );
            if attempt < self.config.max_attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        (Outcome::Failed, self.config.max_attempts, detail)
    }
}

/// A URL's host and port only (paths and tokens may be secrets).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| {
            format!(
                "{}{}",
                u.host_str().unwrap_or("?"),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            )
        })
        .unwrap_or_else(|_| "?".into())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
