//! Replays the fuzz corpora of doze-core's targets (`fuzz/corpus/<target>`, seeds and every
//! input a fuzzing run found worth keeping, crashes fixed included) through the same entry
//! points the libFuzzer targets call, on stable: a regression a fuzzer once found stays found.
//! `scripts/fuzz` runs the real fuzzing.

use doze_core::fuzz::{self, Harness};
use doze_testkit::fuzz_corpus::replay;

#[test]
fn payment_input() {
    replay("payment_input", fuzz::payment_input);
}

#[test]
fn recovery_phrase() {
    replay("recovery_phrase", fuzz::recovery_phrase);
}

#[test]
fn peer_list() {
    replay("peer_list", fuzz::peer_list);
}

#[test]
fn push_notification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = Harness::new(dir.path());
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    replay("push_notification", |data| {
        if harness.push_notification(data) {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // The LSP-signed seeds that ask for a wake (a payment, an onion message) get through.
    assert!(accepted.into_inner() >= 2, "no signed push seed was accepted");
}

#[test]
fn address_book_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = Harness::new(dir.path());
    replay("address_book_row", |data| harness.address_book_row(data));
}

#[test]
fn backup_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = Harness::new(dir.path());
    replay("backup_object", |data| harness.backup_object(data));
}
