//! The wake's typed view of the async-payment messages: the onion messenger hands every
//! async-payments message to this wrapper around the channel manager, which counts the
//! `held_htlc_available` announcements and our `release_held_htlc` answers before and after
//! the manager handles them. A wake that saw an announcement must not stop until the payment
//! arrives: stopping between the mailbox flush and the release strands the payment until it
//! times out (DESIGN.md). A release is kept on disk before it is answered (`store/releases.rs`), so
//! that a wake killed in between is made good by the next one.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ldk_node::lightning::blinded_path::message::AsyncPaymentsContext;
use ldk_node::lightning::onion_message::async_payments::{
    AsyncPaymentsMessage, AsyncPaymentsMessageHandler, HeldHtlcAvailable, OfferPaths,
    OfferPathsRequest, ReleaseHeldHtlc, ServeStaticInvoice, StaticInvoicePersisted,
};
use ldk_node::lightning::onion_message::messenger::{
    MessageSendInstructions, Responder, ResponseInstruction,
};
use ldk_node::lightning::util::ser::Writeable;
use tokio::sync::Notify;

use crate::kill_points::{self, points};
use crate::store::WalletDb;

/// Milestones of one wake: what was announced and released, and when first.
#[derive(Default)]
pub(crate) struct Milestones {
    announced: AtomicU32,
    first_announced: Mutex<Option<Instant>>,
    first_released: Mutex<Option<Instant>>,
    /// Reply paths of the releases sent (or sent again) in this wake.
    sent: Mutex<Vec<Vec<u8>>>,
    /// Reply paths of the held HTLCs released in answer to an announcement in this wake. The
    /// payer sends one announcement along each of the static invoice's message paths, all
    /// with one reply path: a held HTLC is one reply path, however many copies arrive.
    released_paths: Mutex<HashSet<Vec<u8>>>,
    /// Reply paths of earlier wakes' releases sent again in this one.
    resent_paths: Mutex<HashSet<Vec<u8>>>,
    /// When the last release went out (ours, or one sent again).
    last_release: Mutex<Option<Instant>>,
    /// After this instant a held HTLC is not released but kept for the next wake (see
    /// [`Milestones::release_by`]).
    release_by: Mutex<Option<Instant>>,
    /// Releases kept for the next wake instead of sent (too close to the deadline).
    withheld: AtomicU32,
    /// Woken on every milestone.
    pub(crate) changed: Notify,
}

impl Milestones {
    /// How many held HTLCs were announced to us.
    pub(crate) fn announced(&self) -> u32 {
        self.announced.load(Ordering::SeqCst)
    }

    /// How many held HTLCs we released in answer to an announcement in this wake (distinct
    /// reply paths, and not among those sent again: each such HTLC arrives once).
    pub(crate) fn released(&self) -> usize {
        let resent = self.resent_paths.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.released_paths.lock().unwrap_or_else(|p| p.into_inner()).difference(&resent).count()
    }

    /// Notes an earlier wake's release sent again in this one.
    pub(crate) fn resent(&self, reply_path: Vec<u8>) {
        self.resent_paths.lock().unwrap_or_else(|p| p.into_inner()).insert(reply_path.clone());
        self.sent(reply_path);
    }

    /// Releases a held HTLC only until `at`: a release whose HTLC could not arrive before the
    /// wake ends makes the phone's LSP fail that HTLC back to the payer (it cannot forward to
    /// an offline peer, and LDK 0.2 gives it no way to hold one for it), while a release kept
    /// for the next wake leaves the HTLC held at the payer's LSP, where the next wake frees
    /// it. A wake ended by its deadline (iOS ends an extension at 30 s) then loses nothing.
    pub(crate) fn release_by(&self, at: Instant) {
        *self.release_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn too_late_to_release(&self) -> bool {
        self.release_by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|by| Instant::now() >= by)
    }

    /// How many releases were kept for the next wake instead of sent.
    pub(crate) fn withheld(&self) -> u32 {
        self.withheld.load(Ordering::SeqCst)
    }

    /// When the first announcement and the first release were seen.
    pub(crate) fn times(&self) -> (Option<Instant>, Option<Instant>) {
        let get = |m: &Mutex<Option<Instant>>| *m.lock().unwrap_or_else(|p| p.into_inner());
        (get(&self.first_announced), get(&self.first_released))
    }

    /// Notes that the release with this (serialized) reply path was sent in this wake.
    fn sent(&self, reply_path: Vec<u8>) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(reply_path);
        *self.last_release.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// When the last release went out.
    pub(crate) fn last_release(&self) -> Option<Instant> {
        *self.last_release.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reply paths of the releases sent in this wake.
    pub(crate) fn sent_releases(&self) -> Vec<Vec<u8>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stamps the first time of a milestone and wakes the loop.
    fn record(&self, first: &Mutex<Option<Instant>>) {
        let mut first = first.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert_with(Instant::now);
        drop(first);
        self.changed.notify_one();
    }
}

/// The channel manager's async-payments handler, observed.
pub(crate) struct ObservedAsyncPayments<H> {
    inner: Arc<H>,
    milestones: Arc<Milestones>,
    keeper: Option<Mutex<WalletDb>>,
}

impl<H> ObservedAsyncPayments<H> {
    /// Observes `inner`, counting into `milestones` and keeping releases in `keeper` (`None`:
    /// the database could not be opened; releases are then only sent).
    pub(crate) fn new(
        inner: Arc<H>,
        milestones: Arc<Milestones>,
        keeper: Option<WalletDb>,
    ) -> Self {
        ObservedAsyncPayments { inner, milestones, keeper: keeper.map(Mutex::new) }
    }
}

impl<H> ObservedAsyncPayments<H> {
    /// Keeps a release for the next wake instead of sending it (see
    /// [`Milestones::release_by`]); whether it was kept (if not, it must be sent now).
    fn withhold(&self, reply_path: &[u8]) -> bool {
        let Some(keeper) = &self.keeper else { return false };
        match keeper.lock().unwrap_or_else(|p| p.into_inner()).keep_release(reply_path) {
            Ok(()) => {
                log::info!(
                    "wake: a held HTLC announced too close to the deadline is kept for the next \
                     wake"
                );
                self.milestones.withheld.fetch_add(1, Ordering::SeqCst);
                self.milestones.changed.notify_one();
                true
            }
            Err(e) => {
                log::warn!("wake: release not kept ({e}); sending it now");
                false
            }
        }
    }
}

impl<H: AsyncPaymentsMessageHandler> AsyncPaymentsMessageHandler for ObservedAsyncPayments<H> {
    fn handle_offer_paths_request(
        &self,
        message: OfferPathsRequest,
        context: AsyncPaymentsContext,
        responder: Option<Responder>,
    ) -> Option<(OfferPaths, ResponseInstruction)> {
        self.inner.handle_offer_paths_request(message, context, responder)
    }

    fn handle_offer_paths(
        &self,
        message: OfferPaths,
        context: AsyncPaymentsContext,
        responder: Option<Responder>,
    ) -> Option<(ServeStaticInvoice, ResponseInstruction)> {
        self.inner.handle_offer_paths(message, context, responder)
    }

    fn handle_serve_static_invoice(
        &self,
        message: ServeStaticInvoice,
        context: AsyncPaymentsContext,
        responder: Option<Responder>,
    ) {
        self.inner.handle_serve_static_invoice(message, context, responder)
    }

    fn handle_static_invoice_persisted(
        &self,
        message: StaticInvoicePersisted,
        context: AsyncPaymentsContext,
    ) {
        self.inner.handle_static_invoice_persisted(message, context)
    }

    fn handle_held_htlc_available(
        &self,
        message: HeldHtlcAvailable,
        context: AsyncPaymentsContext,
        responder: Option<Responder>,
    ) -> Option<(ReleaseHeldHtlc, ResponseInstruction)> {
        self.milestones.announced.fetch_add(1, Ordering::SeqCst);
        self.milestones.record(&self.milestones.first_announced);
        let reply_path = responder.as_ref().map(Writeable::encode);
        let answer = self.inner.handle_held_htlc_available(message, context, responder);
        if let (Some(_), Some(reply_path)) = (&answer, &reply_path) {
            if self.milestones.too_late_to_release() && self.withhold(reply_path) {
                return None;
            }
        }
        match (&answer, reply_path) {
            (Some(_), Some(reply_path)) => {
                // Kept before the release can leave: it leaves when this returns.
                if let Some(keeper) = &self.keeper {
                    match keeper.lock().unwrap_or_else(|p| p.into_inner()).keep_release(&reply_path)
                    {
                        Ok(()) => kill_points::reached(points::RELEASE_KEPT),
                        Err(e) => log::warn!(
                            "wake: release not kept ({e}); a kill now would strand the payment"
                        ),
                    }
                }
                self.milestones
                    .released_paths
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(reply_path.clone());
                self.milestones.sent(reply_path);
                self.milestones.record(&self.milestones.first_released);
            }
            _ => log::warn!(
                "wake: a held HTLC was announced but not released (not ours, or no reply path)"
            ),
        }
        answer
    }

    fn handle_release_held_htlc(&self, message: ReleaseHeldHtlc, context: AsyncPaymentsContext) {
        self.inner.handle_release_held_htlc(message, context)
    }

    fn release_pending_messages(&self) -> Vec<(AsyncPaymentsMessage, MessageSendInstructions)> {
        self.inner.release_pending_messages()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_count_and_keep_the_first_time() {
        let m = Milestones::default();
        assert_eq!((m.announced(), m.released()), (0, 0));
        m.released_paths.lock().expect("lock").extend([b"a".to_vec(), b"b".to_vec()]);
        m.resent(b"b".to_vec());
        assert_eq!(m.released(), 1, "a path sent again is not a new release");
        m.announced.fetch_add(1, Ordering::SeqCst);
        m.record(&m.first_announced);
        let (first, _) = m.times();
        m.announced.fetch_add(1, Ordering::SeqCst);
        m.record(&m.first_announced);
        assert_eq!(m.announced(), 2);
        assert_eq!(m.times().0, first);
        assert!(m.times().1.is_none());
    }
}
