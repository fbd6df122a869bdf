//! Chaos benchmark: the long seeded chaos run (`doze_testkit::chaos`, `ChaosConfig::long`): the
//! phone's app and its wakes killed with SIGKILL at least 200 times in all and the phone's LSP
//! at least 20 times, every invariant checked after every start and at the end (no channel
//! force-closed, both sides' final states agree, nothing paid twice, every payment's event
//! heard, the channels' sats conserved). Prints the run's report as one JSON object; exits
//! non-zero (a panic naming the seed and the journal's directory) if an invariant fails.
//!
//! ```sh
//! scripts/build && ~/.cache/doze-target/debug/chaos [seed]
//! ```
//!
//! Seeds: the argument, else `DOZE_CHAOS_SEED`, else 1. The journal and every process's log
//! stay in `$TMPDIR/doze-chaos-bench-<seed>`.

use doze_testkit::chaos::{self, ChaosConfig};

fn main() {
    let seed = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DOZE_CHAOS_SEED").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let work_dir = std::env::temp_dir().join(format!("doze-chaos-bench-{seed}"));
    let _ = std::fs::remove_dir_all(&work_dir);
    let report = chaos::run(ChaosConfig::long(seed, work_dir));
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
}
