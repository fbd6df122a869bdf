//! When a wake may stop. Two pitfalls (DESIGN.md) shape it: stopping between the mailbox flush
//! and our `release_held_htlc` strands the payment until it times out, so once a held HTLC was
//! announced only its payment or the deadline ends the wake; and a payment left half-received
//! by a killed wake (its HTLC committed to our channel, not yet claimed) is finished by the
//! next start, so a wake that finds one waits for it as well as for what is announced now.
//! Replayed events of earlier payments never count (the caller filters them).

use std::time::{Duration, Instant};

use crate::wake::WakeEnd;

/// Connected to the LSP this long with no held HTLC announced: nothing is waiting. The LSP
/// flushes its mailbox within milliseconds of the connection.
pub(crate) const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// What a wake has seen so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WakeProgress {
    /// Held HTLCs announced to us, and released, during this wake.
    pub announced: usize,
    /// New payments received during this wake.
    pub received: usize,
    /// Payments whose claim completed during this wake: the new ones, and claims an earlier
    /// start made that LDK replayed.
    pub finished: usize,
    /// Payments being claimed (arrived, whether announced or not).
    pub claiming: usize,
    /// Payments whose HTLCs were already committed to our channels, unclaimed, when the
    /// wake opened the store.
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
    let expected = (progress.announced + progress.pending_at_start).max(progress.claiming);
    if expected > 0 && progress.finished >= expected {
        let end = if progress.received > 0 { WakeEnd::Paid } else { WakeEnd::NothingPending };
        return WakeStep::Stop(end);
    }
    if now >= deadline {
        return WakeStep::Stop(WakeEnd::Deadline);
    }
    let idle_until = progress.connected_at + IDLE_WINDOW;
    if expected == 0 {
        if now >= idle_until {
            return WakeStep::Stop(WakeEnd::NothingPending);
        }
        return WakeStep::WaitUntil(idle_until.min(deadline));
    }
    WakeStep::WaitUntil(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(announced: usize, received: usize, pending_at_start: usize, connected_at: Instant) -> WakeProgress {
        WakeProgress { announced, received, finished: received, claiming: received, pending_at_start, connected_at }
    }

    #[test]
    fn a_payment_being_claimed_keeps_the_wake_up_even_unannounced() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // An HTLC the LSP re-sent on reconnection (a release from an earlier wake): nothing
        // announced now, but it is being claimed, so the idle window does not end the wake.
        let claiming = WakeProgress { announced: 0, received: 0, finished: 0, claiming: 1, pending_at_start: 0, connected_at: t0 };
        assert_eq!(next_step(&claiming, t0 + IDLE_WINDOW * 2, deadline), WakeStep::WaitUntil(deadline));
        let claimed = WakeProgress { received: 1, finished: 1, ..claiming };
        assert_eq!(next_step(&claimed, t0 + IDLE_WINDOW * 2, deadline), WakeStep::Stop(WakeEnd::Paid));
    }

    #[test]
    fn a_replayed_claim_is_not_a_new_payment() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // LDK replayed the completion of a claim the app already recorded: nothing expected,
        // nothing new; the wake ends after the idle window as NothingPending.
        let replayed = WakeProgress { announced: 0, received: 0, finished: 1, claiming: 0, pending_at_start: 0, connected_at: t0 };
        assert_eq!(next_step(&replayed, t0, deadline), WakeStep::WaitUntil(t0 + IDLE_WINDOW));
        assert_eq!(next_step(&replayed, t0 + IDLE_WINDOW, deadline), WakeStep::Stop(WakeEnd::NothingPending));
        // A killed wake's payment, already recorded by it, completed now: the wake's work is
        // done, with nothing new to show.
        let leftover = WakeProgress { pending_at_start: 1, ..replayed };
        assert_eq!(next_step(&leftover, t0, deadline), WakeStep::Stop(WakeEnd::NothingPending));
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
}
