//! When a wake may stop. Two pitfalls (DESIGN.md) shape it: stopping between the mailbox flush
//! and our `release_held_htlc` strands the payment until it times out, so once a held HTLC was
//! announced only its payment or the deadline ends the wake; and a payment left half-received
//! by a killed wake (its HTLC committed to our channel, not yet claimed) is finished by the
//! next start, so a wake that finds one waits for it as well as for what is announced now.
//! Replayed events of earlier payments never count (the caller filters them).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ldk_node::LightningBalance;

use crate::wake::WakeEnd;

/// Connected to the LSP this long with no held HTLC announced: nothing is waiting. The LSP
/// flushes its mailbox within milliseconds of the connection.
pub(crate) const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// What a wake has seen so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WakeProgress {
    /// Held HTLCs announced to us during this wake.
    pub announced: usize,
    /// New payments received during this wake.
    pub received: usize,
    /// Payments whose HTLCs were already committed to our channels, unclaimed, when the node
    /// started (see [`payments_pending`]).
    pub pending_at_start: usize,
    /// When the LSP connection came up.
    pub connected_at: Instant,
}

/// What the wake does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeStep {
    /// Stop the node and report.
    Stop(WakeEnd),
    /// Wait for an event, a milestone, or this instant, then ask again.
    WaitUntil(Instant),
}

/// The next step of a wake at `now`.
pub(crate) fn next_step(progress: &WakeProgress, now: Instant, deadline: Instant) -> WakeStep {
    let expected = progress.announced + progress.pending_at_start;
    if progress.received > 0 && progress.received >= expected {
        return WakeStep::Stop(WakeEnd::Paid);
    }
    if now >= deadline {
        return WakeStep::Stop(WakeEnd::Deadline);
    }
    let idle_until = progress.connected_at + IDLE_WINDOW;
    if expected == 0 && progress.received == 0 {
        if now >= idle_until {
            return WakeStep::Stop(WakeEnd::NothingPending);
        }
        return WakeStep::WaitUntil(idle_until.min(deadline));
    }
    WakeStep::WaitUntil(deadline)
}

/// How many payments have HTLCs committed to our channels that we have not claimed, from the
/// node's balances at start: a wake before was killed after they arrived, and the node claims
/// them now. LDK lists each such HTLC with an output as `MaybePreimageClaimableHTLC` (one per
/// part, so distinct payment hashes are counted); dust HTLCs only add to
/// `inbound_htlc_rounded_msat`, which names no payment and counts as one.
pub(crate) fn payments_pending(balances: &[LightningBalance]) -> usize {
    let hashes: HashSet<_> = balances
        .iter()
        .filter_map(|b| match b {
            LightningBalance::MaybePreimageClaimableHTLC { payment_hash, .. } => Some(*payment_hash),
            _ => None,
        })
        .collect();
    let dust = balances.iter().any(|b| {
        matches!(b, LightningBalance::ClaimableOnChannelClose { inbound_htlc_rounded_msat, .. } if *inbound_htlc_rounded_msat > 0)
    });
    if hashes.is_empty() {
        usize::from(dust)
    } else {
        hashes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(announced: usize, received: usize, pending_at_start: usize, connected_at: Instant) -> WakeProgress {
        WakeProgress { announced, received, pending_at_start, connected_at }
    }

    #[test]
    fn an_announced_htlc_keeps_the_wake_up_until_paid_or_deadline() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let long_after_idle = t0 + IDLE_WINDOW * 3;
        // The mailbox was flushed (announced), the release or the HTLC is still on its way.
        let announced = progress(1, 0, 0, t0);
        assert_eq!(next_step(&announced, long_after_idle, deadline), WakeStep::WaitUntil(deadline));
        assert_eq!(next_step(&announced, deadline, deadline), WakeStep::Stop(WakeEnd::Deadline));
        assert_eq!(next_step(&progress(1, 1, 0, t0), long_after_idle, deadline), WakeStep::Stop(WakeEnd::Paid));
        // Two announced, one paid: wait for the second.
        assert_eq!(next_step(&progress(2, 1, 0, t0), long_after_idle, deadline), WakeStep::WaitUntil(deadline));
    }

    #[test]
    fn nothing_announced_ends_after_the_idle_window() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let idle = progress(0, 0, 0, t0);
        assert_eq!(next_step(&idle, t0, deadline), WakeStep::WaitUntil(t0 + IDLE_WINDOW));
        assert_eq!(next_step(&idle, t0 + IDLE_WINDOW, deadline), WakeStep::Stop(WakeEnd::NothingPending));
        // A short deadline wins over the idle window.
        let short = t0 + Duration::from_secs(1);
        assert_eq!(next_step(&idle, t0, short), WakeStep::WaitUntil(short));
        assert_eq!(next_step(&idle, short, short), WakeStep::Stop(WakeEnd::Deadline));
    }

    #[test]
    fn a_payment_left_by_a_killed_wake_is_waited_for_too() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let later = t0 + IDLE_WINDOW * 2;
        // Only the leftover: it alone ends the wake once received.
        assert_eq!(next_step(&progress(0, 0, 1, t0), later, deadline), WakeStep::WaitUntil(deadline));
        assert_eq!(next_step(&progress(0, 1, 1, t0), later, deadline), WakeStep::Stop(WakeEnd::Paid));
        // The leftover and a new announcement: the first payment in is not enough.
        assert_eq!(next_step(&progress(1, 1, 1, t0), later, deadline), WakeStep::WaitUntil(deadline));
        assert_eq!(next_step(&progress(1, 2, 1, t0), later, deadline), WakeStep::Stop(WakeEnd::Paid));
    }

    fn htlc(hash: u8) -> LightningBalance {
        LightningBalance::MaybePreimageClaimableHTLC {
            channel_id: ldk_node::lightning::ln::types::ChannelId([1; 32]),
            counterparty_node_id: "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619".parse().expect("key"),
            amount_satoshis: 21_000,
            expiry_height: 500,
            payment_hash: ldk_node::lightning_types::payment::PaymentHash([hash; 32]),
        }
    }

    #[test]
    fn committed_unclaimed_htlcs_are_counted_by_payment() {
        assert_eq!(payments_pending(&[]), 0);
        // A 21 000 sat HTLC has an output: it is listed with its hash, and adds nothing to
        // the rounded (dust) amount. (Reading only the rounded amount missed it.)
        assert_eq!(payments_pending(&[htlc(1)]), 1);
        // Two parts of one payment, and a second payment.
        assert_eq!(payments_pending(&[htlc(1), htlc(1), htlc(2)]), 2);
    }
}
