//! Waking on a push: the one call a notification service extension (iOS) or a foreground
//! service / WorkManager job (Android) makes.
//!
//! payload → verify (LSP key, LSPS5 signature, timestamp window, replay) → storage lock (or
//! "the app holds the wallet") → node started lean → connect to the LSP → wait for the held
//! HTLC to be announced, released and claimed, or for the deadline → clean stop → outcome.
//! Nothing is started for a push that fails verification; a kill at any point loses nothing
//! (the claim is ldk-node's, persisted before it is acknowledged, and is finished on the next
//! start).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::{WebhookNotification, WebhookNotificationMethod};
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
use ldk_node::payment::{PaymentDirection, PaymentStatus};
use ldk_node::{Event, Node};

use crate::config::ParsedLsp;
use crate::connect::connect_before;
use crate::error::WalletError;
use crate::events::{from_node_event, WalletEventKind};
use crate::store::WalletDb;
use crate::wake_rule::{next_step, payments_pending, WakeProgress, WakeStep};
use crate::wake_signals::WakeSignals;
use crate::wallet::{Inner, StartProfile, Wallet};

/// A push is accepted this long either side of its timestamp (as for push registration).
const PUSH_WINDOW: Duration = Duration::from_secs(600);

/// Why a wake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeEnd {
    /// Every held payment that was announced has been received.
    Paid,
    /// The LSP had nothing waiting for this wallet.
    NothingPending,
    /// The deadline came first; anything unfinished completes on a later start.
    Deadline,
    /// The LSP could not be reached before the deadline.
    LspUnreachable,
    /// The app runs the wallet itself and will handle the payment.
    AppHoldsWallet,
}

/// A payment received during the wake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakePayment {
    /// The payment's id in the history.
    pub payment_id: String,
    /// The amount received.
    pub amount_msat: u64,
}

/// Milliseconds from the call to each milestone (`None`: not reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WakeTimings {
    /// The push was verified.
    pub verified_ms: u64,
    /// The node was started.
    pub node_started_ms: Option<u64>,
    /// The LSP connection was up.
    pub lsp_connected_ms: Option<u64>,
    /// A held HTLC was announced to us (the mailbox flushed).
    pub held_htlc_announced_ms: Option<u64>,
    /// Our `release_held_htlc` was queued.
    pub release_sent_ms: Option<u64>,
    /// The (last) payment was claimed.
    pub payment_received_ms: Option<u64>,
    /// The node was stopped and the call returned.
    pub total_ms: u64,
}

/// What a wake did, for the app's notification and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeOutcome {
    /// Why it ended.
    pub ended: WakeEnd,
    /// Payments received.
    pub payments: Vec<WakePayment>,
    /// A line an app can show as the notification's body.
    pub notification_text: String,
    /// Identifies what this notification is about, so that an app showing the payment from a
    /// wake and again from its own event listener shows it once: the payment's event id, or
    /// the push's signature when nothing was paid.
    pub dedup_key: String,
    /// When each milestone was reached.
    pub timings: WakeTimings,
}

fn ms_since(start: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(start).as_millis() as u64
}

fn header<'a>(headers: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

fn refuse(reason: impl Into<String>) -> WalletError {
    WalletError::InvalidPush { reason: reason.into() }
}

/// Checks a push against the LSP's key, the time window and the replay store; returns its
/// signature (the replay key).
pub(crate) fn verify_push(
    lsp: &ParsedLsp, payload: &[u8], headers: &HashMap<String, String>, db: &WalletDb,
) -> Result<String, WalletError> {
    let timestamp = header(headers, "x-lsps5-timestamp").ok_or_else(|| refuse("no x-lsps5-timestamp header"))?;
    let signature = header(headers, "x-lsps5-signature").ok_or_else(|| refuse("no x-lsps5-signature header"))?;
    let sent_at = LSPSDateTime::from_str(timestamp).map_err(|_| refuse("x-lsps5-timestamp is not an RFC 3339 time"))?;
    let now = LSPSDateTime::new_from_duration_since_epoch(
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
    );
    let skew = now.duration_since(&sent_at);
    if skew > PUSH_WINDOW {
        return Err(refuse(format!("expired: sent {} s away from now (window ±{} s)", skew.as_secs(), PUSH_WINDOW.as_secs())));
    }
    let notification: WebhookNotification = serde_json::from_slice(payload)
        .map_err(|e| refuse(format!("the body is not an LSPS5 notification ({e})")))?;
    match notification.method {
        WebhookNotificationMethod::LSPS5OnionMessageIncoming
        | WebhookNotificationMethod::LSPS5PaymentIncoming => {}
        ref other => return Err(refuse(format!("nothing to do for {other:?}"))),
    }
    LSPS5Validator::new()
        .validate(lsp.node_id, &sent_at, signature, &notification)
        .map_err(|_| refuse("the signature is not the LSP's"))?;
    if !db.record_push(signature)? {
        return Err(refuse("replayed: this notification was already handled"));
    }
    Ok(signature.to_ascii_lowercase())
}

impl Wallet {
    /// Handles a push notification from the LSP within `deadline` (the time the OS gives the
    /// extension, minus a margin for showing the notification). Verifies it before anything
    /// else ([`WalletError::InvalidPush`] if forged, expired, replayed or malformed), then
    /// receives whatever the LSP holds for this wallet and stops. Returns at the deadline at
    /// the latest, plus the time a clean stop takes.
    pub async fn handle_push(
        &self, payload: Vec<u8>, headers: HashMap<String, String>, deadline: Duration,
    ) -> Result<WakeOutcome, WalletError> {
        let called = Instant::now();
        let runtime = self.runtime_handle()?;
        self.blocking(move |inner| wake(inner, runtime, &payload, &headers, called, called + deadline)).await
    }
}

fn wake(
    inner: &Inner, runtime: tokio::runtime::Handle, payload: &[u8], headers: &HashMap<String, String>,
    called: Instant, deadline: Instant,
) -> Result<WakeOutcome, WalletError> {
    let lsp = inner.lsp.clone().ok_or(WalletError::NoLsp)?;
    let db = WalletDb::open(&inner.storage_dir())?;
    let signature = verify_push(&lsp, payload, headers, &db)?;
    let mut timings = WakeTimings { verified_ms: ms_since(called, Instant::now()), ..WakeTimings::default() };
    let push_key = format!("push:{}", signature.get(..32).unwrap_or(&signature));

    let app_holds = |timings: WakeTimings| WakeOutcome {
        ended: WakeEnd::AppHoldsWallet,
        payments: Vec::new(),
        notification_text: String::new(),
        dedup_key: push_key.clone(),
        timings: WakeTimings { total_ms: ms_since(called, Instant::now()), ..timings },
    };
    if inner.is_running() {
        return Ok(app_holds(timings));
    }
    let signals = Arc::new(WakeSignals::default());
    let node = match inner.start_with(runtime.clone(), StartProfile::Wake(Arc::clone(&signals))) {
        Ok(node) => node,
        Err(WalletError::StorageLocked { .. }) | Err(WalletError::AlreadyRunning) => return Ok(app_holds(timings)),
        Err(e) => return Err(e),
    };
    let node_started = Instant::now();
    timings.node_started_ms = Some(ms_since(called, node_started));

    let result = watch(inner, &runtime, &node, &lsp, &signals, &db, called, node_started, deadline, &mut timings);
    inner.reconcile_history(&node);
    let stop = inner.stop();
    let (ended, payments) = result?;
    if let Err(e) = stop {
        log::warn!("stopping after the wake: {e}");
    }
    let (announced, released) = signals.times();
    timings.held_htlc_announced_ms = announced.map(|t| ms_since(called, t));
    timings.release_sent_ms = released.map(|t| ms_since(called, t));
    timings.total_ms = ms_since(called, Instant::now());
    let total_msat: u64 = payments.iter().map(|p| p.amount_msat).sum();
    let notification_text = match ended {
        WakeEnd::Paid => format!("Received {} sats", group_thousands(total_msat / 1000)),
        WakeEnd::NothingPending => "No payment was waiting".into(),
        WakeEnd::Deadline if signals.announced() > 0 => {
            "A payment is on its way: open the app to finish receiving it".into()
        }
        WakeEnd::Deadline => "Could not finish in time: open the app to check for payments".into(),
        WakeEnd::LspUnreachable => "Could not reach your Lightning service provider".into(),
        WakeEnd::AppHoldsWallet => String::new(),
    };
    let dedup_key = payments.first().map(|p| format!("payment-received:{}", p.payment_id)).unwrap_or(push_key);
    log::info!("wake ended: {ended:?} after {} ms ({} payments)", timings.total_ms, payments.len());
    Ok(WakeOutcome { ended, payments, notification_text, dedup_key, timings })
}

#[allow(clippy::too_many_arguments)]
fn watch(
    inner: &Inner, runtime: &tokio::runtime::Handle, node: &Arc<Node>, lsp: &ParsedLsp,
    signals: &Arc<WakeSignals>, db: &WalletDb, called: Instant, node_started: Instant, deadline: Instant,
    timings: &mut WakeTimings,
) -> Result<(WakeEnd, Vec<WakePayment>), WalletError> {
    let mut nudges = FORWARD_NUDGES.iter().map(|after| node_started + *after).peekable();
    // Payments already received before this wake: ldk-node may replay their events at start.
    let known: HashSet<String> = node
        .list_payments_with_filter(|p| {
            p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
        })
        .iter()
        .map(|p| p.id.to_string())
        .collect();

    // HTLCs committed to our channels but never claimed: a wake before this one was killed
    // after the HTLC arrived. The node claims them now; they are part of this wake's work.
    let pending_at_start = payments_pending(&node.list_balances().lightning_balances);
    if pending_at_start > 0 {
        log::info!("wake: {pending_at_start} payment(s) left unfinished by an earlier start pending");
    }

    // Not persisted: the app's start persisted the LSP, and an attempt that outlives this wake
    // must not write to the store.
    if !connect_before(node, lsp, false, deadline, Duration::from_millis(50)) {
        log::info!("wake: the LSP could not be reached before the deadline");
        return Ok((WakeEnd::LspUnreachable, Vec::new()));
    }
    let connected_at = Instant::now();
    timings.lsp_connected_ms = Some(ms_since(called, connected_at));

    let listener = inner.listener();
    let mut payments = Vec::new();
    let mut payment_hashes = Vec::new();
    loop {
        while let Some(event) = node.next_event() {
            if let Event::PaymentReceived { payment_id, payment_hash, amount_msat, .. } = &event {
                let id = payment_id.map(|p| p.to_string()).unwrap_or_default();
                let wallet_event = from_node_event(&event);
                let event_id = wallet_event.as_ref().map(|e| e.id.clone()).unwrap_or_default();
                let stale = known.contains(&id) || db.was_delivered(&event_id).unwrap_or(false);
                if stale {
                    log::info!("wake: ignoring the replayed event of an earlier payment {id}");
                } else {
                    log::info!("wake: payment {id} received ({amount_msat} msat)");
                    payments.push(WakePayment { payment_id: id, amount_msat: *amount_msat });
                    payment_hashes.push(payment_hash.to_string());
                    timings.payment_received_ms = Some(ms_since(called, Instant::now()));
                    if let (Some(listener), Some(e)) = (&listener, wallet_event) {
                        listener.on_event(e);
                    }
                    db.mark_delivered(&event_id)?;
                }
            } else if let (Some(listener), Some(e)) = (&listener, from_node_event(&event)) {
                if !matches!(e.kind, WalletEventKind::PaymentReceived { .. }) {
                    listener.on_event(e);
                }
            }
            node.event_handled()?;
        }

        let progress = WakeProgress {
            announced: signals.announced() as usize,
            received: payments.len(),
            pending_at_start,
            connected_at,
        };
        let now = Instant::now();
        while nudges.next_if(|at| *at <= now).is_some() {
            if progress.received < progress.announced + progress.pending_at_start {
                nudge_forwarding(node);
            }
        }
        let wake_at = match next_step(&progress, now, deadline) {
            WakeStep::Stop(WakeEnd::Paid) => {
                settle_claims(runtime, signals, &payment_hashes, deadline);
                return Ok((WakeEnd::Paid, payments));
            }
            WakeStep::Stop(end) => return Ok((end, payments)),
            WakeStep::WaitUntil(at) => nudges.peek().map_or(at, |nudge| at.min(*nudge)),
        };
        runtime.block_on(async {
            tokio::select! {
                _ = node.next_event_async() => {}
                _ = signals.changed.notified() => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => {}
            }
        });
    }
}

/// When, after the node started, a wake that still waits for a payment nudges the background
/// processor (see [`nudge_forwarding`]): just after its first forwarding batch is due, and twice
/// more in case the first nudge came a moment too early.
const FORWARD_NUDGES: [Duration; 3] =
    [Duration::from_millis(2_010), Duration::from_millis(2_060), Duration::from_millis(2_300)];

/// Wakes lightning-background-processor's loop so that it runs its first forwarding batch now.
///
/// An HTLC that reaches us becomes a claimable payment only in `process_pending_htlc_forwards`,
/// which lightning-background-processor 0.2.3 first runs 2 s after the node started
/// (`INIT_FWD_DELAY`), and then only when its loop next wakes: with nothing else going on, the
/// loop sleeps ~2 s after its last activity (the HTLC's arrival), so the payment waited 50 ms to
/// 2 s longer than the 2 s. ldk-node offers no way to run the batch. Re-applying a channel's own
/// config changes nothing (LDK sends no update when the config is the same) but marks the
/// channel manager for persistence, which wakes the loop.
fn nudge_forwarding(node: &Node) {
    if let Some(channel) = node.list_channels().into_iter().find(|c| c.is_usable) {
        if let Err(e) = node.update_channel_config(&channel.user_channel_id, channel.counterparty_node_id, channel.config) {
            log::debug!("wake: could not nudge the background processor: {e}");
        }
    }
}

/// Waits (until `deadline` at the latest) until the LSP has acknowledged our claim of every
/// payment in `payment_hashes` (the preimage delivered, the HTLC gone from both commitments).
/// `PaymentReceived` comes as the claim starts; stopping then leaves the LSP, and the payer,
/// waiting for the preimage until our next start. Nothing is lost either way: the preimage is
/// in our channel monitor.
fn settle_claims(runtime: &tokio::runtime::Handle, signals: &WakeSignals, payment_hashes: &[String], deadline: Instant) {
    let started = Instant::now();
    while !payment_hashes.iter().all(|h| signals.claim_settled(h)) {
        if Instant::now() >= deadline {
            log::info!("wake: claims not settled with the LSP by the deadline; the next start finishes them");
            return;
        }
        runtime.block_on(async {
            tokio::select! {
                _ = signals.changed.notified() => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            }
        });
    }
    log::debug!("wake: claims settled with the LSP in {} ms", started.elapsed().as_millis());
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
