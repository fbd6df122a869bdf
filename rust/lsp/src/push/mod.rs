//! Push registration and dispatch: how an offline phone learns that an onion message (an
//! async payment's `held_htlc_available`) waits for it at the LSP.
//!
//! - **Registration** ([`registration`]): `POST /v1/push/register`, signed with the phone's
//!   node key; the LSP checks the signature, a ±`timestamp_window_secs` window, nonce reuse
//!   and that it has a channel with the phone (bLIP-55 asks for prior activity), stores it
//!   ([`store`]: SQLite, or PostgreSQL shared by several LSP nodes) and answers the phone's
//!   blinded paths to this static-invoice server.
//! - **Signal** ([`intercept`]): ldk-node 0.7.1 only *logs* that its onion messenger
//!   intercepted a message for an offline peer; an observer on the LSP's [`crate::LogHub`]
//!   matches that record and queues the peer (a bounded queue; when full, the signal is
//!   dropped and counted, never waited for).
//! - **Dispatch**: a `lsp-push` thread with its own runtime looks the peer up (unregistered:
//!   ignored), sends at most one notification per peer per `min_interval_secs`, POSTs the
//!   LSPS5 `lsps5.onion_message_incoming` notification ([`notify`]) to the webhook, or to the
//!   push gateway for `apns`/`fcm` targets, retries with a doubling pause, and records the
//!   outcome ([`PushStats`], and the `push_log` table).

pub mod config;
pub mod intercept;
pub mod notify;
pub mod registration;
pub mod store;

mod dispatch;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::util::ser::Writeable;
use ldk_node::logger::LogRecord;
use ldk_node::Node;
use tokio::sync::mpsc;

use dispatch::{Counters, Dispatcher, Intake, LastPush};
pub use dispatch::{PushStats, Signer};
pub use registration::{
    ErrorCode, PushApiError, PushLog, PushTarget, RegisterRequest, RegisterResponse,
    RegistrationInfo, RegistrationPage, TargetKind, REGISTER_PATH, REGISTRATIONS_PATH,
    REGISTRATION_PATH,
};
pub use store::{
    DbError, Outcome, PushLogEntry, PushStore, Registration, RegistrationWindow, StoreError,
};

use config::PushConfig;

/// Registrations, the interception signal's queue and the dispatcher of one LSP.
pub struct PushService {
    config: PushConfig,
    store: Arc<PushStore>,
    counters: Arc<Counters>,
    last_push: Arc<LastPush>,
    intake: Arc<Intake>,
    queue: Mutex<Option<mpsc::Receiver<PublicKey>>>,
    dispatcher: Mutex<Option<Dispatcher>>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl PushService {
    /// Opens the push database: PostgreSQL at `push.postgres_url` if set, else SQLite in
    /// `storage_dir`. Signals queue up until [`Self::start`].
    pub fn open(config: &PushConfig, storage_dir: &Path) -> Result<Arc<PushService>, DbError> {
        let store = match &config.postgres_url {
            Some(url) => PushStore::postgres(url)?,
            None => PushStore::open(storage_dir)?,
        };
        Ok(Self::with_store(config, store))
    }

    /// A service over `store`.
    pub fn with_store(config: &PushConfig, store: PushStore) -> Arc<PushService> {
        let counters = Arc::new(Counters::default());
        let (intake, queue) = Intake::new(config.queue_capacity, Arc::clone(&counters));
        Arc::new(PushService {
            config: config.clone(),
            store: Arc::new(store),
            counters,
            last_push: Arc::default(),
            intake: Arc::new(intake),
            queue: Mutex::new(Some(queue)),
            dispatcher: Mutex::new(None),
        })
    }

    /// The observer to subscribe to the node's [`crate::LogHub`]: it queues every peer an
    /// interception record names, without blocking.
    pub fn log_observer(&self) -> impl Fn(&LogRecord<'_>) + Send + Sync + 'static {
        let intake = Arc::clone(&self.intake);
        move |record| {
            if let Some(peer) = intercept::intercepted_peer(record) {
                intake.offer(peer);
            }
        }
    }

    /// Starts the dispatcher for the LSP node `lsp` (whose registrations a shared store holds
    /// apart from other nodes'), signing with `sign` (the node's `sign_message`). Starting
    /// twice does nothing.
    pub fn start(&self, lsp: PublicKey, sign: Signer) -> std::io::Result<()> {
        self.store.bind(lsp);
        let Some(queue) = lock(&self.queue).take() else {
            return Ok(());
        };
        let dispatcher = Dispatcher::spawn(
            self.config.clone(),
            Arc::clone(&self.store),
            Arc::clone(&self.counters),
            Arc::clone(&self.last_push),
            sign,
            queue,
        )?;
        *lock(&self.dispatcher) = Some(dispatcher);
        Ok(())
    }

    /// Stops the dispatcher (deliveries in flight are abandoned).
    pub fn stop(&self) {
        if let Some(dispatcher) = lock(&self.dispatcher).take() {
            dispatcher.stop();
        }
    }

    /// Queues a notification for `peer` as if an onion message for it had been intercepted
    /// (the same lookup, rate limit and retries apply). Returns whether it was queued.
    pub fn notify(&self, peer: PublicKey) -> bool {
        self.intake.offer(peer)
    }

    /// What the push machinery did so far.
    pub fn stats(&self) -> PushStats {
        self.counters.snapshot()
    }

    /// The database.
    pub fn store(&self) -> &PushStore {
        &self.store
    }

    /// The stored registration of `node_id`.
    pub fn registration(&self, node_id: &PublicKey) -> Result<Option<Registration>, DbError> {
        self.store.registration(node_id)
    }

    /// The latest `limit` delivery outcomes, newest first.
    pub fn push_log(&self, limit: u32) -> Result<Vec<PushLogEntry>, DbError> {
        self.store.push_log(limit)
    }

    /// Handles a registration body for `node` (blocking: SQLite and node queries). Checks, in
    /// order: the request's shape (400), the signature (401), the timestamp window (400), the
    /// nonce (409), the phone's registrations in the window (429), a channel with the phone
    /// (403); then builds the blinded paths and stores the registration, checking in the
    /// store's transaction the nonce again, the phone's registrations in the window (429) and
    /// that it is not older than the phone's current registration (400).
    pub fn register(&self, node: &Node, body: &[u8]) -> Result<RegisterResponse, PushApiError> {
        let now = unix_now();
        let window = self.config.timestamp_window_secs;
        let request = registration::verify(body, now, window)?;
        let internal = |e: &dyn std::fmt::Display| {
            log::error!(
                target: "doze_lsp::push",
                "registration of {} failed: {e}",
                request.node_id
            );
            PushApiError::new(
                ErrorCode::Internal,
                format!("the LSP could not store the registration: {e}"),
            )
        };
        let replayed = || {
            PushApiError::new(
                ErrorCode::ReplayedNonce,
                "this nonce was used before; sign a new request",
            )
        };
        let too_many = |recent: u64, oldest: Option<u64>| {
            let retry = oldest.map_or(window, |t| (t + window + 1).saturating_sub(now));
            PushApiError::rate_limited(
                format!(
                    "{} registered {recent} times in the last {window} s, the most the LSP \
                     takes; the current registration stays in force",
                    request.node_id
                ),
                retry,
            )
        };
        if self.store.nonce_seen(&request.node_id, &request.nonce).map_err(|e| internal(&e))? {
            return Err(replayed());
        }
        // Each registration keeps its nonce for the window: the store bounds them per node,
        // so that one phone (or one stolen key) cannot grow it without end. Checked here
        // first, before the work below, and again where the registration is stored.
        let bound = RegistrationWindow {
            since: now.saturating_sub(window),
            max: self.config.max_registrations_per_window,
        };
        let (recent, oldest) =
            self.store.signed_since(&request.node_id, bound.since).map_err(|e| internal(&e))?;
        if recent >= u64::from(bound.max) {
            return Err(too_many(recent, oldest));
        }
        let has_channel = node
            .list_channels()
            .iter()
            .any(|c| c.counterparty_node_id == request.node_id && c.is_channel_ready);
        if !has_channel {
            return Err(PushApiError::new(
                ErrorCode::NoChannel,
                format!(
                    "the LSP has no open channel with {}; open one (or receive a JIT payment) \
                     first",
                    request.node_id
                ),
            ));
        }
        let paths = node
            .bolt12_payment()
            .blinded_paths_for_async_recipient(request.node_id.serialize().to_vec())
            .map_err(|e| internal(&format!("no blinded paths for the async recipient: {e}")))?;
        match self.store.register(&request, now, bound) {
            Ok(()) => {}
            Err(StoreError::ReplayedNonce) => return Err(replayed()),
            Err(StoreError::TooMany { recent, oldest }) => return Err(too_many(recent, oldest)),
            Err(StoreError::Older { current }) => {
                return Err(PushApiError::new(
                    ErrorCode::StaleTimestamp,
                    format!(
                        "timestamp {} is older than the current registration's ({current})",
                        request.timestamp
                    ),
                ));
            }
            Err(StoreError::Database(e)) => return Err(internal(&e)),
        }
        // A new target has not been pushed to yet.
        lock(&self.last_push).remove(&request.node_id);
        log::info!(
            target: "doze_lsp::push",
            "registered {} ({}, {} target {})",
            request.node_id,
            request.app_name,
            request.target.kind,
            registration::target_hint(&request.target)
        );
        Ok(RegisterResponse {
            paths: hex::encode(paths.encode()),
            lsp_node_id: node.node_id().to_string(),
        })
    }

    /// The operator's view of a registration (no secrets).
    pub fn registration_info(
        &self,
        node_id: &PublicKey,
    ) -> Result<Option<RegistrationInfo>, DbError> {
        Ok(self.store.registration(node_id)?.map(RegistrationInfo::of))
    }

    /// The operator's view of up to `limit` registrations after `after`, in node-id order.
    pub fn registration_infos(
        &self,
        after: Option<&PublicKey>,
        limit: u32,
    ) -> Result<Vec<RegistrationInfo>, DbError> {
        Ok(self.store.registrations(after, limit)?.into_iter().map(RegistrationInfo::of).collect())
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::registration::VerifiedRequest;
    use super::*;
    use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use std::time::{Duration, Instant};

    fn peer(byte: u8) -> PublicKey {
        PublicKey::from_secret_key(
            &Secp256k1::new(),
            &SecretKey::from_slice(&[byte; 32]).expect("key"),
        )
    }

    fn wait(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::park_timeout(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_full_queue_drops_signals_without_waiting() {
        let config = PushConfig { queue_capacity: 2, ..PushConfig::default() };
        let push = PushService::with_store(&config, PushStore::in_memory().expect("db"));
        // No dispatcher: nothing drains the queue.
        let started = Instant::now();
        let queued: Vec<bool> = (0..5).map(|_| push.notify(peer(1))).collect();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(queued, [true, true, false, false, false]);
        let stats = push.stats();
        assert_eq!((stats.signals, stats.queue_full), (5, 3));
    }

    /// Registers `node_id` to push to `target`, and starts the dispatcher.
    fn register_and_start(push: &PushService, node_id: PublicKey, target: PushTarget) {
        let request = VerifiedRequest {
            node_id,
            app_name: "app".into(),
            target,
            timestamp: 1,
            nonce: "aa".into(),
        };
        push.store()
            .register(&request, 1, RegistrationWindow { since: 0, max: 1 })
            .expect("stored");
        push.start(peer(9), Arc::new(|_: &[u8]| String::from("sig"))).expect("dispatcher");
    }

    #[test]
    fn a_failed_push_is_logged_by_host_never_by_the_webhooks_secret_path() {
        let config = PushConfig { max_attempts: 2, retry_backoff_ms: 1, ..PushConfig::default() };
        let push = PushService::with_store(&config, PushStore::in_memory().expect("db"));
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("address");
        drop(closed);
        let target = PushTarget::webhook(format!("http://{addr}/hooks/secret-capability-0123"));
        register_and_start(&push, peer(4), target);
        assert!(push.notify(peer(4)));
        wait("the push fails", || push.stats().failed == 1);
        let log = push.push_log(1).expect("log");
        assert_eq!((log[0].outcome, log[0].attempts), (Outcome::Failed, 2), "{log:?}");
        assert!(log[0].detail.contains(&addr.to_string()), "{log:?}");
        assert!(!log[0].detail.contains("secret-capability"), "{log:?}");
        push.stop();
    }

    #[test]
    fn device_tokens_without_a_gateway_are_dropped_and_unregistered_peers_ignored() {
        let push =
            PushService::with_store(&PushConfig::default(), PushStore::in_memory().expect("db"));
        register_and_start(
            &push,
            peer(2),
            PushTarget { kind: TargetKind::Apns, value: "token".into() },
        );
        assert!(push.notify(peer(2)));
        assert!(push.notify(peer(3)));
        wait("both signals are handled", || {
            let stats = push.stats();
            stats.no_gateway == 1 && stats.unregistered == 1
        });
        assert_eq!(push.stats().attempts, 0);
        let log = push.push_log(10).expect("log");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].outcome, Outcome::NoGateway);
        push.stop();
    }
}
