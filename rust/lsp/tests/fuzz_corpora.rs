//! Replays the fuzz corpora of doze-lsp's targets (`fuzz/corpus/<target>`: seeds and every input
//! a fuzzing run kept, crashes fixed included) through the entry points the libFuzzer targets
//! call, on stable. `scripts/fuzz` runs the real fuzzing.

use std::path::PathBuf;

use doze_lsp::fuzz::{self, HttpHarness};

/// Every input of `target`'s corpus; a corpus this small would mean it went missing.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a corpus file");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "{target}'s corpus has {} inputs", inputs.len());
    inputs
}

fn replay(target: &str, entry: impl Fn(&[u8])) {
    for (path, input) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(&input)));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn registration_body() {
    replay("registration_body", fuzz::registration_body);
}

#[test]
fn http_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = HttpHarness::new(dir.path());
    let answers = std::sync::Mutex::new(Vec::new());
    replay("http_connection", |data| {
        let answer = harness.connection(data);
        answers.lock().expect("answers").push(String::from_utf8_lossy(&answer).into_owned());
    });
    // The seeds reach the routes: a refused token, a missing path, a wrong method, a body too
    // large.
    let answers = answers.into_inner().expect("answers").join("\n");
    for status in ["HTTP/1.1 401", "HTTP/1.1 404", "HTTP/1.1 405", "HTTP/1.1 413"] {
        assert!(answers.contains(status), "no seed is answered {status}:\n{answers}");
    }
}
