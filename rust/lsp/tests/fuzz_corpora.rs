//! Replays the fuzz corpora of doze-lsp's targets (`fuzz/corpus/<target>`: seeds and every input
//! a fuzzing run kept, crashes fixed included) through the entry points the libFuzzer targets
//! call, on stable. `scripts/fuzz` runs the real fuzzing.

use doze_lsp::fuzz::{self, HttpHarness};
use doze_testkit::fuzz_corpus::replay;

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
