//! The fuzz corpora (`fuzz/corpus/<target>`: seeds, every input a fuzzing run kept, crashes
//! fixed included), replayed on stable through the entry points the libFuzzer targets call:
//! a regression a fuzzer once found stays found. `scripts/fuzz` runs the real fuzzing.

use std::path::PathBuf;

/// Every input of `target`'s corpus, in name order; fewer than four means it went missing.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("a corpus entry: {e}")).path())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "{target}'s corpus has {} inputs", inputs.len());
    inputs
}

/// Runs `entry` on every input of `target`'s corpus; fails naming the first input it panics on.
pub fn replay(target: &str, entry: impl Fn(&[u8])) {
    for (path, input) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(&input)));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
}
