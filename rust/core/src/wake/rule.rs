//! When a wake may stop. Two pitfalls (DESIGN.md) shape it: stopping between the mailbox flush
//! and our `release_held_htlc` strands the payment until it times out, so once we released a
//! held HTLC only its payment or the deadline ends the wake; and a payment left half-received
//! by a killed wake (its HTLC committed to our channel, not yet claimed) is finished by the
//! next start, so a wake that finds one waits for it as well as for what is released now.
//!
//! Payments are matched by payment hash: LDK replays the completion of earlier claims at start
//! (the app's, or a killed wake's), and such a replay must neither end a wake that still waits
//! for its own payment nor count as a new payment.
//!
//! Each release frees one HTLC (a payment split in parts sends one announcement per part), so
//! arrivals are counted in HTLCs. Nothing ties an arriving HTLC to the release that freed it,
//! and the count can be off both ways: an earlier, killed wake's HTLC can arrive (its release
//! sent again, or delivered by the LSP on reconnection), and an announcement can come twice.
//! So once every release may be answered (as many HTLCs arrived as releases and earlier
//! releases sent again) the wake stops; once at least one HTLC arrived and none for
//! [`ARRIVAL_WINDOW`] after the last release, it stops too; with releases and no arrival at
//! all it waits for the deadline (stopping then would strand the payment).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ldk_node::lightning_types::payment::PaymentHash;

use crate::wake::outcome::WakeEnd;

/// Connected to the LSP this long with nothing released or arriving: nothing is waiting. The
/// LSP flushes its mailbox within milliseconds of the connection.
pub(crate) const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// How long after its last release (or an earlier wake's release sent again) a wake that has
/// received something waits for more HTLCs: a release reaches the payer's LSP and its HTLC us
/// within a second on a good network.
pub(crate) const ARRIVAL_WINDOW: Duration = Duration::from_secs(5);

/// What a wake has seen so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct WakeProgress {
    /// Held HTLCs we released during this wake (each becomes one arriving payment).
    pub released: usize,
    /// Releases of earlier wakes sent again in this one (each may free one HTLC).
    pub resent: usize,
    /// When the last release was sent (ours, or an earlier wake's again).
    pub last_release_at: Option<Instant>,
    /// HTLCs of new payments (not leftovers) claimed in this wake.
    pub arrived_htlcs: usize,
    /// The wake before this one was killed: an HTLC it released may still arrive, unannounced,
    /// and must not stand for one this wake released.
    pub after_a_kill: bool,
    /// When the LSP connection came up.
    pub connected_at: Option<Instant>,
    /// Payments whose HTLCs were committed to our channels, unclaimed, when the wake opened
    /// the store.
    pub leftovers: HashSet<PaymentHash>,
    /// Payments whose HTLCs arrived and that the wake claims.
    pub claiming: HashSet<PaymentHash>,
    /// Payments whose claim completed during this wake (new, or an earlier claim replayed).
    pub finished: HashSet<PaymentHash>,
    /// New payments received during this wake.
    pub received: usize,
}

/// What the wake does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeStep {
    /// Stop and report.
    Stop(WakeEnd),
    /// Wait for an event, a milestone, or this instant, then ask again.
    WaitUntil(Instant),
}

/// The next step of a wake at `now`, connected to the LSP since `connected_at`.
pub(crate) fn next_step(
    progress: &WakeProgress,
    connected_at: Instant,
    now: Instant,
    deadline: Instant,
) -> WakeStep {
    let unfinished = progress
        .leftovers
        .union(&progress.claiming)
        .filter(|h| !progress.finished.contains(*h))
        .count();
    let waiting_for_something =
        progress.released > 0 || !progress.leftovers.is_empty() || !progress.claiming.is_empty();
    // After a kill, one more HTLC than released may come: wait for it, or for the window.
    let maybe_more = progress.resent.max(usize::from(progress.after_a_kill));
    let window_from = if progress.after_a_kill {
        progress.last_release_at.max(progress.connected_at)
    } else {
        progress.last_release_at
    };
    let window_end = window_from.map(|at| at + ARRIVAL_WINDOW);
    let arrived = progress.arrived_htlcs;
    let answered = arrived >= progress.released + maybe_more
        || ((arrived > 0 || progress.released == 0) && window_end.is_none_or(|end| now >= end));
    if waiting_for_something && unfinished == 0 && answered {
        return WakeStep::Stop(if progress.received > 0 {
            WakeEnd::Paid
        } else {
            WakeEnd::NothingPending
        });
    }
    if now >= deadline {
        return WakeStep::Stop(WakeEnd::Deadline);
    }
    if !waiting_for_something {
        let idle_until = connected_at + IDLE_WINDOW;
        if now >= idle_until {
            return WakeStep::Stop(WakeEnd::NothingPending);
        }
        return WakeStep::WaitUntil(idle_until.min(deadline));
    }
    match window_end {
        Some(end)
            if unfinished == 0 && (arrived > 0 || progress.released == 0) && end < deadline =>
        {
            WakeStep::WaitUntil(end)
        }
        _ => WakeStep::WaitUntil(deadline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(ids: &[u8]) -> HashSet<PaymentHash> {
        ids.iter().map(|i| PaymentHash([*i; 32])).collect()
    }

    /// `released` at `t0`; every new payment claimed arrived as one HTLC.
    fn progress(
        released: usize,
        leftovers: &[u8],
        claiming: &[u8],
        finished: &[u8],
        received: usize,
        t0: Instant,
    ) -> WakeProgress {
        let (leftovers, claiming, finished) =
            (hashes(leftovers), hashes(claiming), hashes(finished));
        let arrived_htlcs =
            claiming.difference(&leftovers).filter(|h| finished.contains(*h)).count();
        WakeProgress {
            released,
            resent: 0,
            last_release_at: (released > 0).then_some(t0),
            arrived_htlcs,
            after_a_kill: false,
            connected_at: Some(t0),
            leftovers,
            claiming,
            finished,
            received,
        }
    }

    #[test]
    fn a_released_htlc_keeps_the_wake_up_until_paid_or_deadline() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let later = t0 + IDLE_WINDOW * 3;
        // Released; the HTLC is still on its way.
        assert_eq!(
            next_step(&progress(1, &[], &[], &[], 0, t0), t0, later, deadline),
            WakeStep::WaitUntil(deadline)
        );
        assert_eq!(
            next_step(&progress(1, &[], &[], &[], 0, t0), t0, deadline, deadline),
            WakeStep::Stop(WakeEnd::Deadline)
        );
        // Arrived, being claimed: not yet.
        assert_eq!(
            next_step(&progress(1, &[], &[1], &[], 0, t0), t0, later, deadline),
            WakeStep::WaitUntil(deadline)
        );
        assert_eq!(
            next_step(&progress(1, &[], &[1], &[1], 1, t0), t0, later, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
        // Two released, one paid: wait for the second, for the arrival window (an announcement
        // can come twice).
        assert_eq!(
            next_step(&progress(2, &[], &[1], &[1], 1, t0), t0, t0, deadline),
            WakeStep::WaitUntil(t0 + ARRIVAL_WINDOW)
        );
    }

    #[test]
    fn nothing_released_ends_after_the_idle_window() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let idle = progress(0, &[], &[], &[], 0, t0);
        assert_eq!(next_step(&idle, t0, t0, deadline), WakeStep::WaitUntil(t0 + IDLE_WINDOW));
        assert_eq!(
            next_step(&idle, t0, t0 + IDLE_WINDOW, deadline),
            WakeStep::Stop(WakeEnd::NothingPending)
        );
        // A short deadline wins over the idle window.
        let short = t0 + Duration::from_secs(1);
        assert_eq!(next_step(&idle, t0, t0, short), WakeStep::WaitUntil(short));
        assert_eq!(next_step(&idle, t0, short, short), WakeStep::Stop(WakeEnd::Deadline));
    }

    #[test]
    fn a_payment_left_by_a_killed_wake_is_waited_for_too() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let later = t0 + IDLE_WINDOW * 2;
        // Only the leftover: its claim completing ends the wake.
        assert_eq!(
            next_step(&progress(0, &[1], &[], &[], 0, t0), t0, later, deadline),
            WakeStep::WaitUntil(deadline)
        );
        assert_eq!(
            next_step(&progress(0, &[1], &[1], &[1], 1, t0), t0, later, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
        // The leftover and a new release: the leftover alone is not enough.
        assert_eq!(
            next_step(&progress(1, &[1], &[1], &[1], 1, t0), t0, later, deadline),
            WakeStep::WaitUntil(deadline)
        );
        assert_eq!(
            next_step(&progress(1, &[1], &[1, 2], &[1, 2], 2, t0), t0, later, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
        // A leftover the killed wake had already recorded: its replayed claim ends the wake, with
        // nothing new to show.
        assert_eq!(
            next_step(&progress(0, &[1], &[], &[1], 0, t0), t0, t0, deadline),
            WakeStep::Stop(WakeEnd::NothingPending)
        );
    }

    #[test]
    fn a_replayed_claim_never_stands_for_the_payment_released_now() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // LDK replayed the completion of an earlier payment (hash 9) just as we released a new
        // one: the wake waits for the new one.
        assert_eq!(
            next_step(&progress(1, &[], &[], &[9], 0, t0), t0, t0, deadline),
            WakeStep::WaitUntil(deadline)
        );
        // With nothing released, a replay alone ends after the idle window as NothingPending.
        let replayed = progress(0, &[], &[], &[9], 0, t0);
        assert_eq!(next_step(&replayed, t0, t0, deadline), WakeStep::WaitUntil(t0 + IDLE_WINDOW));
        assert_eq!(
            next_step(&replayed, t0, t0 + IDLE_WINDOW, deadline),
            WakeStep::Stop(WakeEnd::NothingPending)
        );
    }

    #[test]
    fn an_unannounced_arrival_keeps_the_wake_up() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // An HTLC the LSP re-sent on reconnection (released by an earlier wake): nothing
        // released now, but it is being claimed, so the idle window does not end the wake.
        assert_eq!(
            next_step(&progress(0, &[], &[1], &[], 0, t0), t0, t0 + IDLE_WINDOW * 2, deadline),
            WakeStep::WaitUntil(deadline)
        );
        assert_eq!(
            next_step(&progress(0, &[], &[1], &[1], 1, t0), t0, t0 + IDLE_WINDOW * 2, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
    }

    #[test]
    fn an_earlier_wakes_release_sent_again_may_free_one_more_htlc() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        let resent = |claiming: &[u8], finished: &[u8], received| WakeProgress {
            resent: 1,
            ..progress(1, &[], claiming, finished, received, t0)
        };
        // The earlier payment's HTLC arrived first: it may not answer this wake's release.
        assert_eq!(
            next_step(&resent(&[1], &[1], 1), t0, t0, deadline),
            WakeStep::WaitUntil(t0 + ARRIVAL_WINDOW)
        );
        // Both arrived: done at once.
        assert_eq!(
            next_step(&resent(&[1, 2], &[1, 2], 2), t0, t0, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
        // The release sent again freed nothing (that HTLC had gone already): done after the window.
        assert_eq!(
            next_step(&resent(&[1], &[1], 1), t0, t0 + ARRIVAL_WINDOW, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
    }

    #[test]
    fn a_payment_in_parts_is_answered_by_all_its_htlcs() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // Two parts held, two announcements, one payment hash: two HTLCs answer them.
        let parts = WakeProgress { arrived_htlcs: 2, ..progress(2, &[], &[1], &[1], 1, t0) };
        assert_eq!(next_step(&parts, t0, t0, deadline), WakeStep::Stop(WakeEnd::Paid));
        // An announcement that came twice: one HTLC, then the window.
        let twice = progress(2, &[], &[1], &[1], 1, t0);
        assert_eq!(next_step(&twice, t0, t0, deadline), WakeStep::WaitUntil(t0 + ARRIVAL_WINDOW));
        assert_eq!(
            next_step(&twice, t0, t0 + ARRIVAL_WINDOW, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
        // Released and nothing arrived: only the payment or the deadline ends the wake.
        assert_eq!(
            next_step(&progress(2, &[], &[], &[], 0, t0), t0, t0 + ARRIVAL_WINDOW * 2, deadline),
            WakeStep::WaitUntil(deadline)
        );
    }

    #[test]
    fn after_a_kill_an_early_arrival_does_not_answer_this_wakes_release() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(25);
        // The killed wake's HTLC arrived (unannounced now), and this wake released its own.
        let early = WakeProgress { after_a_kill: true, ..progress(1, &[], &[1], &[1], 1, t0) };
        assert_eq!(next_step(&early, t0, t0, deadline), WakeStep::WaitUntil(t0 + ARRIVAL_WINDOW));
        // Its own arrives: done.
        let both = WakeProgress {
            after_a_kill: true,
            arrived_htlcs: 2,
            ..progress(1, &[], &[1, 2], &[1, 2], 2, t0)
        };
        assert_eq!(next_step(&both, t0, t0, deadline), WakeStep::Stop(WakeEnd::Paid));
        // Nothing more came: the window ends it.
        assert_eq!(
            next_step(&early, t0, t0 + ARRIVAL_WINDOW, deadline),
            WakeStep::Stop(WakeEnd::Paid)
        );
    }
}
