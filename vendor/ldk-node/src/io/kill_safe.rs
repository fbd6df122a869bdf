// Doze's patch of ldk-node 0.7.1 (see DOZE-PATCH.md): kill-safe persistence ordering.

//! Kill-safe persistence: monitor writes ordered after the channel manager's, so that a process
//! killed at any instant leaves no channel monitor ahead of the manager on disk (which LDK
//! force-closes at the next start). The order itself, and why it is safe, is
//! `doze_ordered_persist`'s; this module runs its rounds for a [`Node`]:
//!
//! - a flusher thread, started and stopped with the node, runs a round whenever monitor writes
//!   are deferred (LDK holds back the messages that depend on them until the round completes
//!   them);
//! - [`ManagerWritesAsRounds`] turns every manager write of the background processor into a
//!   round, so that no manager encoded before a round's take can be written after the round's
//!   monitors.
//!
//! [`Node`]: crate::Node

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lightning::io;
use lightning::util::persist::{
	KVStore, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
	CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;

use crate::logger::{log_error, log_info, LdkLogger, Logger};
use crate::types::{ChainMonitor, ChannelManager, DynStore, OrderedPersister};

/// How long the flusher waits for deferred writes before it looks at its stop signal again.
const FLUSHER_TICK: Duration = Duration::from_millis(100);
/// How long the flusher waits before retrying a round that failed (the store is down).
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Everything a persistence round needs.
#[derive(Clone)]
pub(crate) struct Rounds {
	pub(crate) persister: Arc<OrderedPersister>,
	pub(crate) chain_monitor: Arc<ChainMonitor>,
	pub(crate) channel_manager: Arc<ChannelManager>,
	pub(crate) kv_store: Arc<DynStore>,
	pub(crate) logger: Arc<Logger>,
}

impl Rounds {
	/// One round: the deferred monitor writes taken, the manager encoded and written, then the
	/// monitor writes, then their completion.
	pub(crate) fn run(&self) -> Result<(), io::Error> {
		self.persister
			.persist_round(&*self.chain_monitor, || {
				KVStoreSync::write(
					&*self.kv_store,
					CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
					CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
					CHANNEL_MANAGER_PERSISTENCE_KEY,
					self.channel_manager.encode(),
				)
			})
			.map(|_| ())
			.map_err(|e| match e {
				doze_ordered_persist::RoundError::Manager(e) => e,
				other => io::Error::new(io::ErrorKind::Other, other.to_string()),
			})
	}
}

/// The thread that runs rounds while monitor writes are deferred.
pub(crate) struct Flusher {
	stop: mpsc::Sender<()>,
	thread: JoinHandle<()>,
}

impl Flusher {
	/// Starts the flusher thread.
	pub(crate) fn start(rounds: Rounds) -> io::Result<Flusher> {
		let (stop, stopped) = mpsc::channel();
		let thread = std::thread::Builder::new()
			.name("ldk-node-persist".into())
			.spawn(move || loop {
				match stopped.try_recv() {
					Ok(()) | Err(mpsc::TryRecvError::Disconnected) => return,
					Err(mpsc::TryRecvError::Empty) => {},
				}
				if !rounds.persister.wait_for_deferred(FLUSHER_TICK) {
					continue;
				}
				if let Err(e) = rounds.run() {
					log_error!(rounds.logger, "Failed to persist channel state: {}", e);
					// Back off, unless told to stop meanwhile: the writes stay deferred and
					// the messages that need them stay held.
					match stopped.recv_timeout(RETRY_AFTER) {
						Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
						Err(RecvTimeoutError::Timeout) => {},
					}
				}
			})?;
		Ok(Flusher { stop, thread })
	}

	/// Stops the flusher thread and waits for it.
	pub(crate) fn stop(self) {
		let _ = self.stop.send(());
		let _ = self.thread.join();
	}
}

/// The node's store, as the background processor sees it: a write of the channel manager runs
/// a round instead (the bytes it was given, encoded before the round's take, could be older
/// than the monitors the round writes, so they are not written). Everything else passes
/// through.
pub(crate) struct ManagerWritesAsRounds {
	pub(crate) rounds: Rounds,
}

fn is_manager(primary_namespace: &str, secondary_namespace: &str, key: &str) -> bool {
	primary_namespace == CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE
		&& secondary_namespace == CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE
		&& key == CHANNEL_MANAGER_PERSISTENCE_KEY
}

impl KVStoreSync for ManagerWritesAsRounds {
	fn read(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str,
	) -> io::Result<Vec<u8>> {
		KVStoreSync::read(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key)
	}

	fn write(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str, buf: Vec<u8>,
	) -> io::Result<()> {
		if is_manager(primary_namespace, secondary_namespace, key) {
			return self.rounds.run();
		}
		KVStoreSync::write(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key, buf)
	}

	fn remove(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str, lazy: bool,
	) -> io::Result<()> {
		KVStoreSync::remove(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key, lazy)
	}

	fn list(&self, primary_namespace: &str, secondary_namespace: &str) -> io::Result<Vec<String>> {
		KVStoreSync::list(&*self.rounds.kv_store, primary_namespace, secondary_namespace)
	}
}

impl KVStore for ManagerWritesAsRounds {
	fn read(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str,
	) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, io::Error>> + Send>> {
		KVStore::read(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key)
	}

	fn write(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str, buf: Vec<u8>,
	) -> Pin<Box<dyn Future<Output = Result<(), io::Error>> + Send>> {
		if is_manager(primary_namespace, secondary_namespace, key) {
			// Off the async worker: a round writes synchronously (as `SqliteStore` does in a
			// blocking task).
			let rounds = self.rounds.clone();
			return Box::pin(async move {
				tokio::task::spawn_blocking(move || rounds.run()).await.unwrap_or_else(|e| {
					Err(io::Error::new(io::ErrorKind::Other, format!("persistence task: {}", e)))
				})
			});
		}
		KVStore::write(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key, buf)
	}

	fn remove(
		&self, primary_namespace: &str, secondary_namespace: &str, key: &str, lazy: bool,
	) -> Pin<Box<dyn Future<Output = Result<(), io::Error>> + Send>> {
		KVStore::remove(&*self.rounds.kv_store, primary_namespace, secondary_namespace, key, lazy)
	}

	fn list(
		&self, primary_namespace: &str, secondary_namespace: &str,
	) -> Pin<Box<dyn Future<Output = Result<Vec<String>, io::Error>> + Send>> {
		KVStore::list(&*self.rounds.kv_store, primary_namespace, secondary_namespace)
	}
}

/// Fails the outbound Lightning payments the payment store records as pending but LDK does not
/// know: ldk-node writes a payment's record when it hands the payment to LDK, and LDK's own
/// record of it reaches disk with the next channel-manager write, so a process killed between
/// the two leaves a payment that never went out and that nothing would ever finish. Nothing
/// left the wallet for it (no HTLC without LDK's record); it is marked failed and a
/// `PaymentFailed` event tells the app. Called once at start, before events are processed.
pub(crate) fn fail_payments_unknown_to_ldk(
	channel_manager: &ChannelManager, payment_store: &crate::types::PaymentStore,
	event_queue: &crate::event::EventQueue<Arc<Logger>>, runtime: &crate::runtime::Runtime,
	logger: &Logger,
) {
	use crate::payment::store::{PaymentDetailsUpdate, PaymentDirection, PaymentStatus};
	let known: std::collections::HashSet<_> = channel_manager
		.list_recent_payments()
		.into_iter()
		.map(|p| match p {
			lightning::ln::channelmanager::RecentPaymentDetails::AwaitingInvoice {
				payment_id,
				..
			}
			| lightning::ln::channelmanager::RecentPaymentDetails::Pending { payment_id, .. }
			| lightning::ln::channelmanager::RecentPaymentDetails::Fulfilled {
				payment_id, ..
			}
			| lightning::ln::channelmanager::RecentPaymentDetails::Abandoned {
				payment_id, ..
			} => payment_id,
		})
		.collect();
	let orphans = payment_store.list_filter(|p| {
		p.direction == PaymentDirection::Outbound
			&& p.status == PaymentStatus::Pending
			&& p.kind.is_lightning_payment()
			&& !known.contains(&p.id)
	});
	for payment in orphans {
		log_info!(
			logger,
			"Payment with ID {} never reached LDK before the node stopped; marking it failed.",
			payment.id
		);
		let update = PaymentDetailsUpdate {
			status: Some(PaymentStatus::Failed),
			..PaymentDetailsUpdate::new(payment.id)
		};
		if let Err(e) = payment_store.update(&update) {
			log_error!(logger, "Failed to update payment {}: {}", payment.id, e);
			continue;
		}
		let event = crate::Event::PaymentFailed {
			payment_id: Some(payment.id),
			payment_hash: None,
			reason: None,
		};
		if let Err(e) = runtime.block_on(event_queue.add_event(event)) {
			log_error!(logger, "Failed to queue the failure of payment {}: {}", payment.id, e);
		}
	}
}
