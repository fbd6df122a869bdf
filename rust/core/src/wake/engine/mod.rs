//! The wake engine: a second, minimal LDK stack over the wallet's ldk-node store, run by a push
//! wake instead of a whole ldk-node `Node`. ldk-node stays the app's node; the engine is a
//! short-lived reader and writer of the same channel state under the same cross-process lock.
//!
//! Why not a `Node`: ldk-node's `build()` reads the whole stored network graph (~119 MB once
//! read at mainnet size, against the iOS extension's 24 MB) and its background processor waits
//! a fixed 2 s before its first forwarding batch. The engine holds no graph, scorer, chain
//! sync, on-chain wallet, gossip or timer; it processes forwards as soon as LDK reports them
//! pending, and learns what happens from typed signals (its own event handler and the
//! async-payments handler it gives the onion messenger), never from log texts.
//!
//! Persistence survives a kill at any point: monitor updates are written through ldk-node's
//! `MonitorUpdatingPersister` (same parameters) only after the manager that records them as
//! in flight (`persist.rs`), and the manager whenever LDK asks and before the engine exits.
//!
//! The store's best block is where the app last synced, possibly weeks ago: the engine asks the
//! chain source for the tip as it connects to the LSP and brings the manager up to it before it
//! processes arrived HTLCs (`tip.rs`).

mod events;
mod message_router;
mod net;
mod node_records;
mod observer;
mod offers;
mod persist;
mod plumbing;
mod stack;
mod tip;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::lightning::events::EventsProvider;
use ldk_node::lightning::ln::channel_state::{ChannelShutdownState, InboundHTLCStateDetails};
use ldk_node::lightning_types::payment::PaymentHash;

pub(crate) use observer::Milestones;
pub(crate) use stack::StackConfig;

use crate::config::ParsedLsp;
use crate::error::WalletError;
use crate::events::EventListener;
use crate::net::release::{send_release, NotSent};
use crate::store::history::History;
use crate::store::WalletDb;
use crate::wake::outcome::{ChainTipCheck, WakeEnd, WakePayment};
use crate::wake::rule::{next_step, WakeProgress, WakeStep};
use events::WakeEvents;
use stack::Stack;
use tip::TipLookup;

/// Without a signal, the loop looks again this often (LDK signals everything the wake waits
/// for; this only bounds the cost of a missed wake-up).
const SAFETY_TICK: Duration = Duration::from_millis(100);

/// A held HTLC announced later than this before the deadline is not released but kept for the
/// next wake (`Milestones::release_by`): its HTLC crosses two LSPs after the release (about
/// 0.3 s on loopback, a few round trips on a phone's network) and must arrive before the wake
/// ends, or the phone's LSP fails it back to the payer.
const RELEASE_MARGIN: Duration = Duration::from_secs(3);

/// The setting a running wake holds in `doze.sqlite`; still there at the next wake, it tells
/// that a wake was killed.
const WAKE_MARK: &str = "wake_in_progress";

/// How long after its last payment a wake waits for the LSP to acknowledge the claims (a
/// round trip or two on any network).
const SETTLE_WAIT: Duration = Duration::from_secs(5);

fn settle_by(received_at: Option<Instant>, deadline: Instant) -> Instant {
    received_at.map_or(deadline, |at| (at + SETTLE_WAIT).min(deadline))
}

/// What the engine's run ended with.
pub(crate) struct EngineRun {
    /// Why it ended.
    pub ended: WakeEnd,
    /// Payments received.
    pub payments: Vec<WakePayment>,
    /// When the LSP connection was up.
    pub lsp_connected: Option<Instant>,
    /// When the last payment was received.
    pub received_at: Option<Instant>,
    /// Why the rest was left to the app, if it was.
    pub left_to_app: Option<String>,
    /// What the wake learned of the chain's tip.
    pub chain_tip: ChainTipCheck,
    /// When it learned the tip, if it did.
    pub tip_learned_at: Option<Instant>,
}

/// An opened wake engine.
pub(crate) struct WakeEngine {
    stack: Stack,
    db: WalletDb,
    events: WakeEvents,
    milestones: Arc<Milestones>,
    lsp: ParsedLsp,
    /// The LSP's connection, dialled as the engine opened (see `net::EarlyConnection`).
    early_lsp: std::sync::Mutex<Option<net::EarlyConnection>>,
    esplora_url: Option<String>,
    runtime: tokio::runtime::Handle,
}

impl WakeEngine {
    /// Opens the wallet's store and assembles the stack. Writes nothing.
    pub(crate) fn open(
        config: &StackConfig<'_>,
        lsp: ParsedLsp,
        db: WalletDb,
        listener: Option<Arc<dyn EventListener>>,
        milestones: Arc<Milestones>,
        runtime: tokio::runtime::Handle,
    ) -> Result<WakeEngine, WalletError> {
        let early_lsp = std::sync::Mutex::new(Some(net::dial_early(&runtime, &lsp)));
        let stack = stack::open(config, Arc::clone(&milestones), runtime.clone())?;
        // Its marks and kept releases need to survive a kill, not a power loss: no fsync.
        let releases_db = WalletDb::open(config.storage_dir)?;
        releases_db.survive_kills_only()?;
        let history = History::open(config.storage_dir)
            .map_err(|e| log::warn!("wake: no history ({e})"))
            .ok();
        let events = WakeEvents::new(
            Arc::clone(&stack.manager),
            Arc::clone(&stack.store),
            db,
            history,
            listener,
        );
        log::info!("wake engine opened: {} channel monitor(s)", stack.monitors);
        let esplora_url = config.esplora_url.clone();
        Ok(WakeEngine {
            stack,
            db: releases_db,
            events,
            milestones,
            lsp,
            early_lsp,
            esplora_url,
            runtime,
        })
    }

    /// Payments whose HTLCs were committed to our channels, unclaimed, when the engine opened:
    /// a wake before this one was killed after they arrived. Counted by payment hash (a
    /// multi-part payment has several HTLCs).
    fn pending_at_start(&self) -> HashSet<PaymentHash> {
        self.stack
            .manager
            .list_channels()
            .iter()
            .flat_map(|c| c.pending_inbound_htlcs.iter())
            .filter(|h| {
                !matches!(
                    h.state,
                    Some(InboundHTLCStateDetails::AwaitingRemoteRevokeToRemoveFulfill)
                        | Some(InboundHTLCStateDetails::AwaitingRemoteRevokeToRemoveFail)
                )
            })
            .map(|h| h.payment_hash)
            .collect()
    }

    /// The payment hashes of every HTLC to us still in a channel, whatever its state.
    fn inbound_hashes(&self) -> HashSet<PaymentHash> {
        self.stack
            .manager
            .list_channels()
            .iter()
            .flat_map(|c| c.pending_inbound_htlcs.iter())
            .map(|h| h.payment_hash)
            .collect()
    }

    /// Whether any of `hashes` is still in a channel's pending inbound HTLCs: our claim is
    /// settled with the LSP once the HTLC left both commitments.
    fn claims_unsettled(&self, hashes: &HashSet<PaymentHash>) -> bool {
        !self.inbound_hashes().is_disjoint(hashes)
    }

    /// A channel state the wake leaves to the app, if any. Sends what LDK queued for
    /// broadcast on the way (a closing channel's transactions).
    fn channel_needs_app(&self) -> Option<String> {
        if self.stack.broadcaster.flush() > 0 {
            return Some("a channel is being closed".into());
        }
        self.stack.manager.list_channels().iter().find_map(|c| match c.channel_shutdown_state {
            None | Some(ChannelShutdownState::NotShuttingDown) => None,
            Some(state) => Some(format!("channel {} is closing ({state:?})", c.channel_id)),
        })
    }

    /// Runs the wake: connects to the LSP, receives what is held for us, settles the claims,
    /// and stops at `deadline` at the latest. Persists the manager before returning.
    pub(crate) fn run(&self, deadline: Instant) -> Result<EngineRun, WalletError> {
        let result = self.runtime.block_on(self.run_async(deadline));
        if result.is_ok() {
            // Ended cleanly (whatever it ended with): the next wake need not be cautious.
            if let Err(e) = self.db.clear_setting(WAKE_MARK) {
                log::warn!("wake: {e}");
            }
        }
        if let Ok(EngineRun { ended: WakeEnd::Paid | WakeEnd::NothingPending, .. }) = &result {
            // The releases went out (the wake did not stop before the connections were up).
            if let Err(e) = self.db.forget_releases(&self.milestones.sent_releases()) {
                log::warn!("wake: {e}");
            }
        }
        let withheld = self.milestones.withheld();
        if withheld > 0 {
            log::info!("wake: {withheld} release(s) kept for the next wake (announced too late)");
        }
        self.stack.peers.disconnect_all_peers();
        // One last round: events LDK queued as the peers went away, then the manager, always.
        self.process(true);
        let persisted = self.stack.persist();
        let run = result?;
        persisted?;
        Ok(run)
    }

    async fn run_async(&self, deadline: Instant) -> Result<EngineRun, WalletError> {
        self.milestones.release_by(deadline.checked_sub(RELEASE_MARGIN).unwrap_or(deadline));
        // Asked first, answered while the LSP connection comes up.
        let mut tip = TipLookup::start(self.esplora_url.as_deref(), &self.stack.manager, deadline);
        let mut run = EngineRun {
            ended: WakeEnd::Deadline,
            payments: Vec::new(),
            lsp_connected: None,
            received_at: None,
            left_to_app: None,
            chain_tip: ChainTipCheck::default(),
            tip_learned_at: None,
        };
        let result = self.receive(deadline, &mut tip, &mut run).await;
        (run.chain_tip, run.tip_learned_at) = tip.finish(&self.stack.manager);
        result.map(|()| run)
    }

    /// Connects to the LSP and receives until the stopping rule or the deadline says stop;
    /// what happened goes into `run`.
    async fn receive(
        &self,
        deadline: Instant,
        tip: &mut TipLookup,
        run: &mut EngineRun,
    ) -> Result<(), WalletError> {
        let leftovers = self.pending_at_start();
        if !leftovers.is_empty() {
            log::info!(
                "wake: {} payment(s) left unfinished by an earlier start pending",
                leftovers.len()
            );
        }
        // A wake that did not end cleanly left its mark (see `run`).
        let after_a_kill = self.db.setting(WAKE_MARK).ok().flatten().is_some();
        if after_a_kill {
            log::info!("wake: the wake before this one did not end cleanly");
        }
        self.db.set_setting(WAKE_MARK, &crate::store::now_secs().to_string())?;
        // Read before the LSP's mailbox can flush: this wake's own releases are not resent.
        let kept = self.db.kept_releases().unwrap_or_else(|e| {
            log::warn!("wake: kept releases not read: {e}");
            Vec::new()
        });
        let early = crate::mutex::lock(&self.early_lsp).take();
        if !net::connect_lsp(&self.stack.peers, &self.lsp, early, deadline).await {
            log::info!("wake: the LSP could not be reached before the deadline");
            run.ended = WakeEnd::LspUnreachable;
            return Ok(());
        }
        let connected_at = Instant::now();
        run.lsp_connected = Some(connected_at);
        let resent = self.send_kept_releases(kept);
        let mut received_count = 0;
        loop {
            // The tip first, if it came: what arrived is checked against it.
            tip.poll(&self.stack.manager);
            let manager = &self.stack.manager;
            let forwards =
                tip.forwards_may_run(manager.needs_pending_htlc_processing(), Instant::now());
            // A manager change without a monitor write (a peer connected, an event handled)
            // waits for the next round or the last one (`run`): with a backup every round is
            // a round trip, and a manager on disk older than the live one is always safe (at
            // worst LDK replays events the wake handled; they are handled once).
            self.process(forwards);
            if self.stack.persister.has_deferred() && self.stack.persist()? {
                // Monitor updates completed: LDK has the messages they held back to send.
                continue;
            }
            let (progress, left_to_app) = {
                let mut state = self.events.state();
                for (node, addresses) in std::mem::take(&mut state.connections_needed) {
                    crate::tasks::spawn_here(net::connect_peer(
                        Arc::clone(&self.stack.peers),
                        node,
                        addresses,
                        deadline,
                    ));
                }
                if state.received.len() > received_count {
                    received_count = state.received.len();
                    run.received_at = Some(Instant::now());
                }
                run.payments.clone_from(&state.received);
                // A leftover that left the channel another way (failed back: not ours to
                // claim) is finished too.
                let in_channels = self.inbound_hashes();
                let mut finished = state.finished.clone();
                finished.extend(leftovers.iter().filter(|h| !in_channels.contains(*h)));
                let arrived_htlcs = state
                    .claiming
                    .difference(&leftovers)
                    .map(|h| state.claimed_htlcs.get(h).copied().unwrap_or(0))
                    .sum();
                let progress = WakeProgress {
                    after_a_kill,
                    connected_at: Some(connected_at),
                    released: self.milestones.released(),
                    resent,
                    last_release_at: self.milestones.last_release(),
                    arrived_htlcs,
                    leftovers: leftovers.clone(),
                    claiming: state.claiming.clone(),
                    finished,
                    received: state.received.len(),
                };
                (progress, state.leave_to_app.clone())
            };
            if let Some(why) = left_to_app.or_else(|| self.channel_needs_app()) {
                run.left_to_app = Some(why);
                run.ended = if run.payments.is_empty() { WakeEnd::NeedsApp } else { WakeEnd::Paid };
                return Ok(());
            }
            let now = Instant::now();
            let wait_until = match next_step(&progress, connected_at, now, deadline) {
                // Received: stay until the LSP has acknowledged our claims, so that the payer
                // is paid now rather than at our next start, but not for ever: the preimage is
                // in our channel monitor, and any start finishes the claim.
                WakeStep::Stop(WakeEnd::Paid)
                    if self.claims_unsettled(&progress.claiming)
                        && now < settle_by(run.received_at, deadline) =>
                {
                    settle_by(run.received_at, deadline)
                }
                WakeStep::Stop(end) => {
                    if end == WakeEnd::Deadline {
                        self.log_unfinished(&progress);
                    }
                    run.ended = end;
                    return Ok(());
                }
                WakeStep::WaitUntil(at) => at,
            };
            self.wait(wait_until.min(now + SAFETY_TICK), tip).await;
        }
    }

    /// Sends again the releases an earlier wake kept and did not see through (it was killed,
    /// or stopped by its deadline): otherwise their payments wait at the payer's LSP until they
    /// time out. They are not counted as released now: a payer's LSP that had already released
    /// the HTLC ignores them, and a payment they do release shows up as an arrival.
    fn send_kept_releases(&self, kept: Vec<Vec<u8>>) -> usize {
        let mut sent = 0;
        for reply_path in kept {
            match send_release(&self.stack.messenger, &reply_path) {
                Ok(_) => {
                    log::info!("wake: sending again a release an earlier wake kept");
                    self.milestones.resent(reply_path);
                    sent += 1;
                }
                Err(NotSent::Unreadable(e)) => {
                    log::warn!("wake: a kept release is unreadable: {e:?}")
                }
                Err(NotSent::Refused(e)) => {
                    log::info!("wake: a kept release could not be sent: {e:?}")
                }
            }
        }
        sent
    }

    /// What a wake that reached its deadline was still waiting for, for its log.
    fn log_unfinished(&self, progress: &WakeProgress) {
        let htlcs: Vec<String> = self
            .stack
            .manager
            .list_channels()
            .iter()
            .flat_map(|c| {
                c.pending_inbound_htlcs
                    .iter()
                    .map(move |h| format!("{} {:?} in {}", h.payment_hash, h.state, c.channel_id))
            })
            .collect();
        log::info!(
            "wake: at the deadline: released {}, sent again {}, leftovers {}, claiming {}, \
             finished {}, received {}; inbound HTLCs: {htlcs:?}",
            progress.released,
            progress.resent,
            progress.leftovers.len(),
            progress.claiming.len(),
            progress.finished.len(),
            progress.received
        );
    }

    /// One round of LDK work: forwards (arrived HTLCs, if `forwards`), events, messages.
    fn process(&self, forwards: bool) {
        let manager = &self.stack.manager;
        if forwards && manager.needs_pending_htlc_processing() {
            manager.process_pending_htlc_forwards();
        }
        let handler = |event| self.events.handle(event);
        manager.process_pending_events(&handler);
        self.stack.chain_monitor.process_pending_events(&handler);
        self.stack.messenger.process_pending_events(&handler);
        self.stack.peers.process_events();
        // Cleared, not acted on: the manager is written with the next round (see `receive`).
        manager.get_and_clear_needs_persistence();
    }

    /// Waits for LDK to signal work (a message handled, an event, a monitor update), a
    /// milestone, the chain's tip, or `until`.
    async fn wait(&self, until: Instant, tip: &mut TipLookup) {
        let manager_future = self.stack.manager.get_event_or_persistence_needed_future();
        let monitor_future = self.stack.chain_monitor.get_update_future();
        tokio::select! {
            _ = manager_future => {}
            _ = monitor_future => {}
            _ = self.milestones.changed.notified() => {}
            _ = tip.changed() => {}
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(until)) => {}
        }
    }
}
