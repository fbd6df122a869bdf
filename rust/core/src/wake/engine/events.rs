//! What the wake does with LDK's events. It handles what receiving needs (claim, record) and
//! what a payment the app sent may finish with during a wake (sent, failed), writing for each
//! ldk-node's record, Doze's history and the app's event outbox before LDK forgets the event.
//! Anything about a channel's life (opening, closing, sweeping, fee bumping) is left to the
//! app's node: the event is replayed (LDK keeps it in the channel manager, which ldk-node reads
//! at its next start) and the wake ends.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::events::{Event, PaymentPurpose, ReplayEvent};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_types::payment::PaymentHash;
use ldk_node::payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::DynStore;

use super::node_records::{self, RecordUpdate};
use super::stack::ChannelManager;
use crate::error::WalletError;
use crate::events::{from_node_event, EventListener, WalletEvent};
use crate::kill_points::{self, points};
use crate::store::history::History;
use crate::store::payments::PaymentInfo;
use crate::store::WalletDb;
use crate::wake::outcome::WakePayment;

/// What the events told the wake so far.
#[derive(Default)]
pub(crate) struct EventState {
    /// Payments received (claimed and recorded), in order.
    pub received: Vec<WakePayment>,
    /// Hashes the wake asked LDK to claim.
    pub claiming: HashSet<PaymentHash>,
    /// Hashes whose claim completed during this wake: new payments, and claims an earlier
    /// start made whose completion LDK replayed.
    pub finished: HashSet<PaymentHash>,
    /// How many HTLCs (parts) each payment claimed in this wake arrived in.
    pub claimed_htlcs: HashMap<PaymentHash, usize>,
    /// Connections the onion messenger asked for.
    pub connections_needed: Vec<(PublicKey, Vec<SocketAddress>)>,
    /// Why the wake must leave the rest to the app, if it must.
    pub leave_to_app: Option<String>,
}

/// Handles LDK events for one wake.
pub(crate) struct WakeEvents {
    manager: Arc<ChannelManager>,
    store: Arc<DynStore>,
    db: WalletDb,
    history: Option<History>,
    listener: Option<Arc<dyn EventListener>>,
    state: Mutex<EventState>,
}

impl WakeEvents {
    /// Events for a wake over `manager` and `store`; records go to `db` (outbox), `history`
    /// and the extension's `listener`, if set.
    pub(crate) fn new(
        manager: Arc<ChannelManager>,
        store: Arc<DynStore>,
        db: WalletDb,
        history: Option<History>,
        listener: Option<Arc<dyn EventListener>>,
    ) -> Self {
        WakeEvents {
            manager,
            store,
            db,
            history,
            listener,
            state: Mutex::new(EventState::default()),
        }
    }

    /// The state so far.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, EventState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One LDK event.
    pub(crate) fn handle(&self, event: Event) -> Result<(), ReplayEvent> {
        match event {
            Event::PaymentClaimable {
                payment_hash,
                purpose,
                amount_msat,
                counterparty_skimmed_fee_msat,
                onion_fields,
                ..
            } => {
                let unknown_even_tlv = onion_fields
                    .as_ref()
                    .is_some_and(|f| f.custom_tlvs().iter().any(|(id, _)| id % 2 == 0));
                self.on_claimable(
                    payment_hash,
                    purpose,
                    amount_msat,
                    counterparty_skimmed_fee_msat,
                    unknown_even_tlv,
                )
            }
            Event::PaymentClaimed { payment_hash, purpose, amount_msat, htlcs, .. } => {
                self.state().claimed_htlcs.insert(payment_hash, htlcs.len().max(1));
                self.on_claimed(payment_hash, purpose, amount_msat)
            }
            Event::PaymentSent {
                payment_id: Some(id),
                payment_hash,
                payment_preimage,
                fee_paid_msat,
                ..
            } => {
                let update = RecordUpdate {
                    hash: Some(payment_hash),
                    preimage: Some(payment_preimage),
                    fee_paid_msat,
                    status: Some(PaymentStatus::Succeeded),
                    ..RecordUpdate::default()
                };
                let event = ldk_node::Event::PaymentSuccessful {
                    payment_id: Some(id),
                    payment_hash,
                    payment_preimage: Some(payment_preimage),
                    fee_paid_msat,
                };
                self.record(id, None, &update, &event, Some("succeeded".into()))
            }
            Event::PaymentFailed { payment_id, payment_hash, reason } => {
                let late =
                    node_records::read(&*self.store, &payment_id).ok().flatten().is_some_and(|p| {
                        p.direction == PaymentDirection::Outbound
                            && p.status == PaymentStatus::Succeeded
                    });
                if late {
                    return Ok(());
                }
                let update = RecordUpdate {
                    hash: payment_hash,
                    status: Some(PaymentStatus::Failed),
                    ..RecordUpdate::default()
                };
                let event = ldk_node::Event::PaymentFailed {
                    payment_id: Some(payment_id),
                    payment_hash,
                    reason,
                };
                let outcome = format!(
                    "failed: {}",
                    reason.map(|r| format!("{r:?}")).unwrap_or_else(|| "unknown".into())
                );
                self.record(payment_id, None, &update, &event, Some(outcome))
            }
            Event::ConnectionNeeded { node_id, addresses } => {
                self.state().connections_needed.push((node_id, addresses));
                Ok(())
            }
            Event::OpenChannelRequest { counterparty_node_id, .. } => {
                // Not accepted: the LSP's attempt times out; it opens the channel when the app
                // runs.
                log::info!(
                    "wake: not accepting a channel from {counterparty_node_id} (the app does that)"
                );
                Ok(())
            }
            Event::PaymentPathSuccessful { .. }
            | Event::PaymentPathFailed { .. }
            | Event::ProbeSuccessful { .. }
            | Event::ProbeFailed { .. }
            | Event::HTLCHandlingFailed { .. }
            | Event::PaymentForwarded { .. }
            | Event::HTLCIntercepted { .. }
            | Event::OnionMessageIntercepted { .. }
            | Event::OnionMessagePeerConnected { .. }
            | Event::PersistStaticInvoice { .. }
            | Event::StaticInvoiceRequested { .. } => Ok(()),
            other => {
                let what = format!("{other:?}");
                let name = what.split([' ', '(', '{']).next().unwrap_or("an event").to_string();
                self.leave_to_app(format!("the node has to handle {name}"));
                Err(ReplayEvent())
            }
        }
    }

    fn leave_to_app(&self, why: String) {
        log::info!("wake: leaving the rest to the app: {why}");
        self.state().leave_to_app.get_or_insert(why);
    }

    fn on_claimable(
        &self,
        payment_hash: PaymentHash,
        purpose: PaymentPurpose,
        amount_msat: u64,
        skimmed_msat: u64,
        unknown_even_tlv: bool,
    ) -> Result<(), ReplayEvent> {
        let id = PaymentId(payment_hash.0);
        if unknown_even_tlv {
            log::info!("wake: refusing payment {payment_hash}: unknown required TLVs");
            self.manager.fail_htlc_backwards(&payment_hash);
            return Ok(());
        }
        let known = node_records::read(&*self.store, &id).map_err(|e| self.storage_failed(e))?;
        if let Some(info) = &known {
            if info.direction == PaymentDirection::Outbound
                || info.status == PaymentStatus::Succeeded
                || matches!(info.kind, PaymentKind::Spontaneous { .. })
            {
                log::info!("wake: refusing payment {payment_hash}: circular or a duplicate");
                self.manager.fail_htlc_backwards(&payment_hash);
                return Ok(());
            }
            if skimmed_msat > allowed_skim_msat(info, amount_msat) {
                log::info!(
                    "wake: refusing payment {payment_hash}: the LSP withheld {skimmed_msat} msat, \
                     more than agreed"
                );
                self.manager.fail_htlc_backwards(&payment_hash);
                let update = RecordUpdate {
                    hash: Some(payment_hash),
                    status: Some(PaymentStatus::Failed),
                    ..RecordUpdate::default()
                };
                let written =
                    self.updated_node_record(id, None, &update).and_then(|details| match details {
                        Some(mut details) => node_records::write(&*self.store, &mut details),
                        None => Ok(()),
                    });
                return written.map_err(|e| self.storage_failed(e));
            }
            let invoice_for_hash =
                matches!(info.kind, PaymentKind::Bolt11 { .. } | PaymentKind::Bolt11Jit { .. });
            if invoice_for_hash && purpose.preimage().is_none() {
                // An invoice the app registered by hash: only the app can claim it.
                self.leave_to_app("a payment to an invoice the app claims itself arrived".into());
                return Err(ReplayEvent());
            }
        } else if skimmed_msat > 0 {
            log::info!(
                "wake: refusing payment {payment_hash}: a fee was withheld without a JIT channel"
            );
            self.manager.fail_htlc_backwards(&payment_hash);
            return Ok(());
        }
        let Some(preimage) = purpose.preimage() else {
            log::warn!("wake: payment {payment_hash} has no known preimage; failing it back");
            self.manager.fail_htlc_backwards(&payment_hash);
            return Ok(());
        };
        // A payment ldk-node did not know gets its record when the claim completes
        // (`PaymentClaimed`, see `record`), not now: a wake killed before the claim is
        // persisted leaves ldk-node a claimable payment, which it records itself; one killed
        // after leaves LDK to replay `PaymentClaimed` there, which Doze's ldk-node patch
        // records (ldk-node would `debug_assert` on a record we wrote first).
        log::info!("wake: claiming payment {payment_hash} ({amount_msat} msat)");
        self.state().claiming.insert(payment_hash);
        self.manager.claim_funds(preimage);
        Ok(())
    }

    fn on_claimed(
        &self,
        payment_hash: PaymentHash,
        purpose: PaymentPurpose,
        amount_msat: u64,
    ) -> Result<(), ReplayEvent> {
        let id = PaymentId(payment_hash.0);
        // LDK replays `PaymentClaimed` at start while a claim is not settled in the channel;
        // ldk-node's record tells whether this payment was already received (by the app's
        // node or by an earlier wake, which writes that record last).
        let known = node_records::read(&*self.store, &id).map_err(|e| self.storage_failed(e))?;
        if known.is_some_and(|d| {
            d.direction == PaymentDirection::Inbound && d.status == PaymentStatus::Succeeded
        }) {
            log::info!("wake: payment {payment_hash} was already received (a replayed claim)");
            // ldk-node writes its record before it queues the app's event, so an app killed
            // between the two leaves a received payment the app never heard of, and this
            // replay is the last chance to tell it. The app drops an event id it was already
            // given, so keeping the event again never delivers it twice.
            let event = received_event(id, payment_hash, amount_msat);
            if let Some(wallet_event) = from_node_event(&event) {
                self.db.push_outbox(&wallet_event).map_err(|e| self.storage_failed(e))?;
            }
            self.state().finished.insert(payment_hash);
            return Ok(());
        }
        kill_points::reached(points::CLAIM_UNRECORDED);
        let update = RecordUpdate {
            preimage: purpose.preimage(),
            secret: match &purpose {
                PaymentPurpose::Bolt11InvoicePayment { payment_secret, .. }
                | PaymentPurpose::Bolt12OfferPayment { payment_secret, .. }
                | PaymentPurpose::Bolt12RefundPayment { payment_secret, .. } => {
                    Some(*payment_secret)
                }
                PaymentPurpose::SpontaneousPayment(_) => None,
            },
            amount_msat: Some(amount_msat),
            status: Some(PaymentStatus::Succeeded),
            ..RecordUpdate::default()
        };
        let event = received_event(id, payment_hash, amount_msat);
        let fallback = || PaymentKind::of_claim(payment_hash, &purpose);
        self.record(id, Some(&fallback), &update, &event, None)?;
        let mut state = self.state();
        if state.finished.insert(payment_hash) {
            log::info!("wake: payment {payment_hash} received ({amount_msat} msat)");
            state
                .received
                .push(WakePayment { payment_id: id.0.to_lower_hex_string(), amount_msat });
        }
        Ok(())
    }

    /// Writes what a payment event means: the app's event (outbox), the history, and last
    /// ldk-node's record, which tells a replay of the event that all of it was done. Then
    /// tells the extension's listener. `fallback` makes a record ldk-node did not have (an
    /// inbound payment); `attempt` is a send attempt's outcome.
    fn record(
        &self,
        id: PaymentId,
        fallback: Option<&dyn Fn() -> PaymentKind>,
        update: &RecordUpdate,
        event: &ldk_node::Event,
        attempt: Option<String>,
    ) -> Result<(), ReplayEvent> {
        let details =
            self.updated_node_record(id, fallback, update).map_err(|e| self.storage_failed(e))?;
        let wallet_event = from_node_event(event);
        if let Some(wallet_event) = &wallet_event {
            self.db.push_outbox(wallet_event).map_err(|e| self.storage_failed(e))?;
        }
        if let Some(history) = &self.history {
            let mut written = details
                .as_ref()
                .map_or(Ok(()), |d| history.upsert(&PaymentInfo::from(d), None, None));
            if let (Ok(()), Some(outcome)) = (&written, &attempt) {
                written = history.finish_attempt(&id.0.to_lower_hex_string(), outcome);
            }
            if let Err(e) = written {
                // The app's start reconciles the history with ldk-node's records.
                log::warn!("wake: payment history not updated: {e}");
            }
        }
        if let Some(mut details) = details {
            node_records::write(&*self.store, &mut details).map_err(|e| self.storage_failed(e))?;
        }
        if let (Some(listener), Some(wallet_event)) = (&self.listener, wallet_event) {
            deliver(listener, wallet_event);
        }
        Ok(())
    }

    /// ldk-node's record of `id` with `update` applied (made from `fallback` if there was
    /// none), not yet written.
    fn updated_node_record(
        &self,
        id: PaymentId,
        fallback: Option<&dyn Fn() -> PaymentKind>,
        update: &RecordUpdate,
    ) -> Result<Option<PaymentDetails>, WalletError> {
        let details = match (node_records::read(&*self.store, &id)?, fallback) {
            (Some(details), _) => Some(details),
            (None, Some(kind)) => Some(PaymentDetails {
                id,
                kind: kind(),
                amount_msat: None,
                fee_paid_msat: None,
                direction: PaymentDirection::Inbound,
                status: PaymentStatus::Pending,
                latest_update_timestamp: 0,
            }),
            (None, None) => None,
        };
        let Some(mut details) = details else {
            log::warn!("wake: the node has no record of payment {}", id.0.to_lower_hex_string());
            return Ok(None);
        };
        node_records::apply(&mut details, update);
        details.latest_update_timestamp = crate::store::now_secs();
        Ok(Some(details))
    }

    fn storage_failed(&self, e: WalletError) -> ReplayEvent {
        self.leave_to_app(format!("storage failed: {e}"));
        ReplayEvent()
    }
}

/// The extension's listener, kept from unwinding into LDK's event processing.
fn deliver(listener: &Arc<dyn EventListener>, event: WalletEvent) {
    let listener = Arc::clone(listener);
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener.on_event(event))).is_err()
    {
        log::error!("wake: the event listener panicked; the app's listener still gets the event");
    }
}

/// The fee an LSP may withhold from a payment to `info` (ldk-node's rule: only for a JIT
/// invoice, up to its agreed limits).
fn allowed_skim_msat(info: &PaymentDetails, amount_msat: u64) -> u64 {
    match &info.kind {
        PaymentKind::Bolt11Jit { lsp_fee_limits, .. } => lsp_fee_limits
            .max_total_opening_fee_msat
            .or_else(|| {
                lsp_fee_limits.max_proportional_opening_fee_ppm_msat.map(|ppm| {
                    (amount_msat as u128 * ppm as u128).div_ceil(1_000_000).min(u64::MAX as u128)
                        as u64
                })
            })
            .unwrap_or(0),
        _ => 0,
    }
}

/// The app's event for a payment the wake received.
fn received_event(id: PaymentId, payment_hash: PaymentHash, amount_msat: u64) -> ldk_node::Event {
    ldk_node::Event::PaymentReceived {
        payment_id: Some(id),
        payment_hash,
        amount_msat,
        custom_records: Vec::new(),
    }
}
