//! Named instants in the wallet's write paths where a test can pause the process or have it
//! die, to prove that a kill there loses nothing (the kill tests in doze-cli). Compiled in only
//! with the `kill-points` feature, which the test builds turn on and a phone's build never
//! does; without it `reached` is an empty inline function.
//!
//! With the feature, two environment variables drive it:
//! - `DOZE_KILL_AT=<point>[:<n>][,<point>[:<n>]...]`: the process aborts (no destructor, no
//!   flush: what SIGKILL leaves on disk) the `n`th time (default 1) it reaches a `point`;
//! - `DOZE_PAUSE_AT=<point>:<ms>`: every time it reaches `point`, the calling thread sleeps
//!   `ms` milliseconds while the rest of the process (peer connections on other threads) goes
//!   on, to widen a race window on purpose.

/// The points, for tests to name them without typos.
pub mod points {
    /// The wake engine wrote the channel manager; the monitor updates it covers are not
    /// written yet.
    pub const MANAGER_WRITTEN: &str = "manager-written";
    /// The wake engine wrote a round of monitor updates (not yet reported complete to LDK).
    pub const MONITORS_WRITTEN: &str = "monitors-written";
    /// The wake engine wrote a whole channel monitor (LDK's persister consolidates its
    /// updates every 100th update).
    pub const WHOLE_MONITOR_WRITTEN: &str = "whole-monitor-written";
    /// The wake engine's claim of a payment completed (its preimage is in the monitor on
    /// disk and on its way to the LSP); the payment is not recorded yet.
    pub const CLAIM_UNRECORDED: &str = "claim-unrecorded";
    /// The wake engine kept a release in `doze.sqlite` (`store/releases.rs`) and has not sent
    /// it yet: it leaves when the async-payments handler returns it to the onion messenger.
    pub const RELEASE_KEPT: &str = "release-kept";
    /// A backed-up store applied one change of a request the server accepted to the phone's
    /// copy, and has more of that request to apply: the server is ahead of the phone.
    pub const BACKUP_PART_APPLIED: &str = "backup-part-applied";
}

/// The process reached `point`: pause or die there if a test asked for it.
#[cfg(feature = "kill-points")]
pub(crate) fn reached(point: &str) {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static COUNTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

    // `point[:n]` entries of `var` that name this point, with their `n`.
    let wanted = |var: &str| -> Vec<Option<u64>> {
        let value = std::env::var(var).unwrap_or_default();
        value
            .split(',')
            .filter_map(|entry| {
                let (name, n) = entry.split_once(':').unwrap_or((entry, ""));
                (name.trim() == point).then(|| n.trim().parse().ok())
            })
            .collect()
    };
    for ms in wanted("DOZE_PAUSE_AT").into_iter().flatten() {
        log::info!("kill point {point}: pausing {ms} ms");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let kill_at = wanted("DOZE_KILL_AT");
    if kill_at.is_empty() {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    let count = counts.get_or_insert_with(HashMap::new).entry(point.to_string()).or_insert(0);
    *count += 1;
    if kill_at.iter().any(|n| *count == n.unwrap_or(1)) {
        eprintln!("kill point {point} (#{count}): the process dies here");
        std::process::abort();
    }
}

/// The process reached `point` (kill points are compiled out).
#[cfg(not(feature = "kill-points"))]
#[inline(always)]
pub(crate) fn reached(_point: &str) {}
