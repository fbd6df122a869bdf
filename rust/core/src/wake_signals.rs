//! What a wake learns from LDK's own records. ldk-node 0.7.1 has no event for "a held HTLC was
//! announced to us" or "we answered release_held_htlc"; LDK's onion messenger logs both (at
//! trace level, which a custom `LogWriter` always receives). A wake that saw the announcement
//! must not stop until the payment arrives: stopping between the mailbox flush and the release
//! strands the payment until it times out (DESIGN.md). The test `wake_signals_fire` pins these
//! texts so that an LDK upgrade that changes them fails loudly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

/// The messenger's module path prefix.
const MESSENGER_MODULE: &str = "lightning::onion_message";
/// Logged when an onion message arrives: `Received an onion message with a reply_path: HeldHtlcAvailable(...)`.
const RECEIVED_PREFIX: &str = "Received an onion message";
const HELD_HTLC_AVAILABLE: &str = "HeldHtlcAvailable";
/// Logged when our answer is queued: `Buffered onion message [waiting on peer connection ]when responding with Release Held HTLC ...`.
const BUFFERED_PREFIX: &str = "Buffered onion message";
const RELEASE_HELD_HTLC: &str = "Release Held HTLC";
/// The channel's module: logs ` ...removing inbound LocalRemoved <payment hash>` when the LSP
/// has revoked the last commitment holding an HTLC we fulfilled (our claim is settled with it).
const CHANNEL_MODULE: &str = "lightning::ln::channel";
const CLAIM_SETTLED_PREFIX: &str = " ...removing inbound LocalRemoved ";

/// Whether records of `module_path` may carry a milestone (formatting is skipped otherwise).
pub(crate) fn is_watched(module_path: &str) -> bool {
    module_path.starts_with(MESSENGER_MODULE) || module_path == CHANNEL_MODULE
}

/// Milestones of one wake, counted as LDK logs them.
#[derive(Default)]
pub(crate) struct WakeSignals {
    announced: AtomicU32,
    released: AtomicU32,
    first_announced: Mutex<Option<Instant>>,
    first_released: Mutex<Option<Instant>>,
    settled_claims: Mutex<HashSet<String>>,
    pub(crate) changed: Notify,
}

impl WakeSignals {
    /// Looks at one LDK record.
    pub(crate) fn observe(&self, module_path: &str, message: &str) {
        if !is_watched(module_path) {
            return;
        }
        if module_path == CHANNEL_MODULE {
            if let Some(hash) = message.strip_prefix(CLAIM_SETTLED_PREFIX) {
                self.settled_claims.lock().unwrap_or_else(|p| p.into_inner()).insert(hash.trim().to_string());
                self.changed.notify_one();
            }
            return;
        }
        if message.starts_with(RECEIVED_PREFIX) && message.contains(HELD_HTLC_AVAILABLE) {
            self.announced.fetch_add(1, Ordering::SeqCst);
            stamp(&self.first_announced);
            self.changed.notify_one();
        } else if message.starts_with(BUFFERED_PREFIX) && message.contains(RELEASE_HELD_HTLC) {
            self.released.fetch_add(1, Ordering::SeqCst);
            stamp(&self.first_released);
            self.changed.notify_one();
        }
    }

    /// How many held HTLCs were announced to us.
    pub(crate) fn announced(&self) -> u32 {
        self.announced.load(Ordering::SeqCst)
    }

    /// How many `release_held_htlc` answers were queued.
    #[cfg(test)]
    pub(crate) fn released(&self) -> u32 {
        self.released.load(Ordering::SeqCst)
    }

    /// Whether the LSP has acknowledged our claim of the payment with `payment_hash` (hex).
    pub(crate) fn claim_settled(&self, payment_hash: &str) -> bool {
        self.settled_claims.lock().unwrap_or_else(|p| p.into_inner()).contains(payment_hash)
    }

    /// When the first announcement and release were seen.
    pub(crate) fn times(&self) -> (Option<Instant>, Option<Instant>) {
        let get = |m: &Mutex<Option<Instant>>| *m.lock().unwrap_or_else(|p| p.into_inner());
        (get(&self.first_announced), get(&self.first_released))
    }
}

fn stamp(slot: &Mutex<Option<Instant>>) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_signals_fire_on_the_messenger_texts() {
        let signals = WakeSignals::default();
        signals.observe("lightning::onion_message::messenger", "Received an onion message with a reply_path: HeldHtlcAvailable(HeldHtlcAvailable)");
        signals.observe("lightning::onion_message::messenger", "Buffered onion message waiting on peer connection when responding with Release Held HTLC to an onion message: 02ab");
        signals.observe("lightning::ln::channelmanager", "Received an onion message with a reply_path: HeldHtlcAvailable");
        assert_eq!((signals.announced(), signals.released()), (1, 1));
        signals.observe("lightning::ln::channel", " ...removing inbound LocalRemoved 3db471cef16810fcb3f326a1b9c2cd5ffdf2ba7674b02811556725a372dcde6a");
        assert!(signals.claim_settled("3db471cef16810fcb3f326a1b9c2cd5ffdf2ba7674b02811556725a372dcde6a"));
        assert!(!signals.claim_settled("5bf23a711c72ac0d37cc8cc9f98203c287c0a6abe3173c3c9a13f3e400853882"));
    }
}
