//! Waking on a push: the one call a notification service extension (iOS) or a foreground
//! service / WorkManager job (Android) makes.
//!
//! This folder is the whole wake: this module (the push's entry point: verify, lock, run,
//! report), the [`outcome`] it reports, the stopping [`rule`], the [`engine`] beneath them (a
//! minimal LDK stack over the wallet's store), and the push [`registration`] that makes the
//! LSP wake this phone at all. Imports point down: this module → engine → rule → outcome.
//!
//! What a wake must never do: run while another process holds the storage lock (one node per
//! store, ever); start anything for a push that fails verification; take a payment it cannot
//! persist before acknowledging it; leave a channel monitor on disk ahead of the channel
//! manager (LDK would force-close the channel; the order of a persistence round is in
//! `engine/persist.rs` and `doze-ordered-persist`); leave a state the app's ldk-node cannot
//! read (what it does not handle, it leaves to the app and says so: [`WakeEnd::NeedsApp`]);
//! outlive its deadline by more than a clean stop.
//!
//! payload → verify (LSP key, LSPS5 signature, timestamp window, replay) → storage lock (or
//! "the app holds the wallet") → the wake engine opens the wallet's store (no ldk-node `Node`,
//! see `engine/`) → connect to the LSP → the held HTLC announced, released, received, claimed
//! and settled with the LSP, or the deadline → manager persisted → outcome. Nothing is started
//! for a push that fails verification; a kill at any point loses nothing (the claim is
//! persisted in the channel monitor before it is acknowledged, and finished on the next start,
//! by a wake or by the app).

pub(crate) mod engine;
pub(crate) mod outcome;
pub(crate) mod registration;
pub(crate) mod rule;

pub use outcome::{ChainTipCheck, ChainTipStatus, WakeEnd, WakeOutcome, WakePayment, WakeTimings};

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::{WebhookNotification, WebhookNotificationMethod};
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;

use crate::config::{ChainSource, ParsedLsp};
use crate::error::WalletError;
use crate::store::WalletDb;
use crate::wake::engine::{Milestones, StackConfig, WakeEngine};
use crate::wallet::storage_lock::StorageLock;
use crate::wallet::{Inner, Wallet};

/// A push is accepted this long either side of its timestamp (as for push registration).
const PUSH_WINDOW: Duration = Duration::from_secs(600);

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
    lsp: &ParsedLsp,
    payload: &[u8],
    headers: &HashMap<String, String>,
    db: &WalletDb,
) -> Result<String, WalletError> {
    let timestamp = header(headers, "x-lsps5-timestamp")
        .ok_or_else(|| refuse("no x-lsps5-timestamp header"))?;
    let signature = header(headers, "x-lsps5-signature")
        .ok_or_else(|| refuse("no x-lsps5-signature header"))?;
    let sent_at = LSPSDateTime::from_str(timestamp)
        .map_err(|_| refuse("x-lsps5-timestamp is not an RFC 3339 time"))?;
    let now = LSPSDateTime::new_from_duration_since_epoch(
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
    );
    let skew = now.duration_since(&sent_at);
    if skew > PUSH_WINDOW {
        return Err(refuse(format!(
            "expired: sent {} s away from now (window ±{} s)",
            skew.as_secs(),
            PUSH_WINDOW.as_secs()
        )));
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
        &self,
        payload: Vec<u8>,
        headers: HashMap<String, String>,
        deadline: Duration,
    ) -> Result<WakeOutcome, WalletError> {
        let called = Instant::now();
        let runtime = self.runtime_handle()?;
        self.blocking(move |inner| {
            wake(inner, runtime, &payload, &headers, called, called + deadline)
        })
        .await
    }
}

fn wake(
    inner: &Inner,
    runtime: tokio::runtime::Handle,
    payload: &[u8],
    headers: &HashMap<String, String>,
    called: Instant,
    deadline: Instant,
) -> Result<WakeOutcome, WalletError> {
    let lsp = inner.lsp.clone().ok_or(WalletError::NoLsp)?;
    let storage_dir = inner.storage_dir();
    let db = WalletDb::open(&storage_dir)?;
    let signature = verify_push(&lsp, payload, headers, &db)?;
    let mut timings =
        WakeTimings { verified_ms: ms_since(called, Instant::now()), ..WakeTimings::default() };
    let push_key = format!("push:{}", signature.get(..32).unwrap_or(&signature));

    let app_holds = |timings: WakeTimings| WakeOutcome {
        ended: WakeEnd::AppHoldsWallet,
        payments: Vec::new(),
        notification_text: String::new(),
        dedup_key: push_key.clone(),
        timings: WakeTimings { total_ms: ms_since(called, Instant::now()), ..timings },
        chain_tip: None,
    };
    if inner.is_running() {
        return Ok(app_holds(timings));
    }
    if inner.is_moved() {
        // This object's node stopped because another device took the wallet over.
        return Err(WalletError::WalletMoved);
    }
    let _lock = match StorageLock::try_acquire(&storage_dir) {
        Ok(lock) => lock,
        Err(WalletError::StorageLocked { .. }) => return Ok(app_holds(timings)),
        Err(e) => return Err(e),
    };
    let milestones = Arc::new(Milestones::default());
    let config = StackConfig {
        node_dir: crate::store::node_payments::node_dir(&storage_dir),
        storage_dir: &storage_dir,
        network: inner.config.network,
        backup: inner.config.backup.as_ref(),
        mnemonic: &inner.mnemonic,
        passphrase: inner.passphrase.as_deref(),
        lsp: lsp.node_id,
        esplora_url: match &inner.config.chain_source {
            ChainSource::Esplora { url } => Some(url.trim_end_matches('/').to_string()),
            ChainSource::Electrum { .. } => None,
        },
    };
    let engine =
        WakeEngine::open(&config, lsp, db, inner.listener(), Arc::clone(&milestones), runtime)?;
    timings.node_started_ms = Some(ms_since(called, Instant::now()));
    let result = engine.run(deadline);
    drop(engine);
    inner.woke();
    let run = result?;

    timings.lsp_connected_ms = run.lsp_connected.map(|t| ms_since(called, t));
    timings.chain_tip_ms = run.tip_learned_at.map(|t| ms_since(called, t));
    let (announced, released) = milestones.times();
    timings.held_htlc_announced_ms = announced.map(|t| ms_since(called, t));
    timings.release_sent_ms = released.map(|t| ms_since(called, t));
    timings.payment_received_ms = run.received_at.map(|t| ms_since(called, t));
    timings.total_ms = ms_since(called, Instant::now());
    let total_msat: u64 = run.payments.iter().map(|p| p.amount_msat).sum();
    let notification_text = match run.ended {
        WakeEnd::Paid => format!("Received {} sats", crate::amounts::grouped(total_msat / 1000)),
        WakeEnd::NothingPending => "No payment was waiting".into(),
        WakeEnd::Deadline if milestones.announced() > 0 => {
            "A payment is on its way: open the app to finish receiving it".into()
        }
        WakeEnd::Deadline => "Could not finish in time: open the app to check for payments".into(),
        WakeEnd::LspUnreachable => "Could not reach your Lightning service provider".into(),
        WakeEnd::NeedsApp => "Open the app: your wallet needs it to finish an update".into(),
        WakeEnd::AppHoldsWallet => String::new(),
    };
    if let Some(why) = &run.left_to_app {
        log::info!("wake: left to the app: {why}");
    }
    let dedup_key = run
        .payments
        .first()
        .map(|p| format!("payment-received:{}", p.payment_id))
        .unwrap_or(push_key);
    log::info!(
        "wake ended: {:?} after {} ms ({} payments; chain tip {:?})",
        run.ended,
        timings.total_ms,
        run.payments.len(),
        run.chain_tip.status
    );
    Ok(WakeOutcome {
        ended: run.ended,
        payments: run.payments,
        notification_text,
        dedup_key,
        timings,
        chain_tip: Some(run.chain_tip),
    })
}
