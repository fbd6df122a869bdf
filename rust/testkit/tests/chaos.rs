//! The short chaos run CI makes (the long one is `doze-bench`'s `chaos` binary): the phone's
//! app and its wakes killed at random instants at least 20 times in all, every invariant
//! checked after every start and at the end (`doze_testkit::chaos`). The seed is
//! `DOZE_CHAOS_SEED` (default 1); a failure names it and the directory with the journal and
//! the processes' logs.

use doze_testkit::chaos::{self, ChaosConfig};

#[test]
fn the_app_and_its_wakes_killed_at_random_lose_nothing_and_close_no_channel() {
    let seed = std::env::var("DOZE_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let work_dir = std::env::temp_dir().join(format!("doze-chaos-{seed}-{}", std::process::id()));
    let report = chaos::run(ChaosConfig::short(seed, work_dir.clone()));
    eprintln!("chaos run: {report:#?}");
    assert!(report.kills() >= 20, "a short run kills at least 20 times: {report:?}");
    assert!(report.lsp_kills >= 1, "a short run kills the LSP: {report:?}");
    assert_eq!(report.force_closes, 0);
    let _ = std::fs::remove_dir_all(&work_dir);
}
