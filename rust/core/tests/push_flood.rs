//! Pushes that are genuine (signed by the LSP) and still hostile in number or in what they
//! ask: a flood of them at once, one push replayed to many extensions at once, a push for a
//! wallet the LSP holds nothing for. One node at a time runs on the wallet's store, a push is
//! taken once, and nothing the wallet has changes.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use doze_core::{LifecycleState, WakeEnd, WakeOutcome, Wallet, WalletError};
use doze_testkit::phone::{phone_with_channel, start_phone};
use doze_testkit::{runtime, Scene, MNEMONIC};

/// Extensions woken at once (iOS starts one per notification, each a process of its own).
const EXTENSIONS: usize = 8;

type Push = (Vec<u8>, std::collections::HashMap<String, String>);

/// Hands `pushes[i]` to a wallet object of its own on `dir`, all released at once; returns
/// each result with the instant its call began.
fn all_at_once(
    scene: &Scene,
    dir: &std::path::Path,
    rt: &tokio::runtime::Runtime,
    pushes: Vec<Push>,
) -> Vec<(Instant, Result<WakeOutcome, WalletError>)> {
    let barrier = Arc::new(Barrier::new(pushes.len()));
    std::thread::scope(|s| {
        let calls: Vec<_> = pushes
            .into_iter()
            .map(|(payload, headers)| {
                let barrier = Arc::clone(&barrier);
                let extension = Wallet::new(scene.phone_config(dir), MNEMONIC, None).unwrap();
                s.spawn(move || {
                    barrier.wait();
                    let called = Instant::now();
                    let deadline = Duration::from_secs(20);
                    (called, rt.block_on(extension.handle_push(payload, headers, deadline)))
                })
            })
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    })
}

#[test]
fn a_flood_of_pushes_runs_one_node_at_a_time_and_a_replayed_push_is_taken_once() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, 40_000_000);

    // Distinct genuine pushes, all at once.
    let pushes: Vec<Push> = (0..EXTENSIONS).map(|_| scene.push()).collect();
    let mut signatures: Vec<_> =
        pushes.iter().map(|(_, h)| h["x-lsps5-signature"].clone()).collect();
    signatures.sort();
    signatures.dedup();
    assert_eq!(signatures.len(), EXTENSIONS, "the pushes are distinct");
    let results = all_at_once(&scene, dir.path(), &rt, pushes);
    let mut nodes = Vec::new();
    for (called, result) in results {
        let outcome = result.unwrap_or_else(|e| panic!("a genuine push is handled: {e}"));
        match outcome.ended {
            WakeEnd::NothingPending => {
                let started = outcome.timings.node_started_ms.unwrap_or_else(|| {
                    panic!("a wake that ran has its node's start time: {outcome:?}")
                });
                let ran_from = called + Duration::from_millis(started);
                let ran_to = called + Duration::from_millis(outcome.timings.total_ms);
                nodes.push((ran_from, ran_to));
            }
            // Another extension runs the wallet: this one returns at once.
            WakeEnd::AppHoldsWallet => {
                assert!(outcome.timings.total_ms < 2_000, "{outcome:?}");
                assert!(outcome.payments.is_empty());
            }
            other => panic!("a push with nothing held ends {other:?}: {outcome:?}"),
        }
    }
    assert!(!nodes.is_empty(), "one extension ran the wallet");
    // The store's lock is taken before the node starts and let go after it stopped: the
    // extensions that ran it ran one after another, never side by side.
    nodes.sort();
    for pair in nodes.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "two nodes ran on one store at once: {nodes:?}");
    }

    // One push handed to every extension at once: taken once, refused as a replay elsewhere.
    let push = scene.push();
    let results = all_at_once(&scene, dir.path(), &rt, vec![push; EXTENSIONS]);
    let mut taken = 0;
    for (_, result) in results {
        match result {
            Ok(outcome) => {
                assert_eq!(outcome.ended, WakeEnd::NothingPending, "{outcome:?}");
                taken += 1;
            }
            Err(WalletError::InvalidPush { reason }) => {
                assert!(reason.contains("replayed"), "{reason}");
            }
            Err(e) => panic!("a replayed push is refused as one, not with {e}"),
        }
    }
    assert_eq!(taken, 1, "a push is taken once");

    // Nothing changed: the app opens with its channel and its one payment.
    let (phone, _) = start_phone(&scene, dir.path(), &rt);
    assert_eq!(phone.list_channels().unwrap().len(), 1);
    assert_eq!(phone.list_payments().unwrap().len(), 1);
    rt.block_on(phone.stop()).unwrap();
}

#[test]
fn a_genuine_push_for_a_wallet_the_lsp_holds_nothing_for_changes_nothing() {
    let scene = Scene::new();
    let rt = runtime();

    // A wallet that never ran on this phone: refused, and no node store is made for it.
    let dir = tempfile::tempdir().unwrap();
    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    match rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20))) {
        Err(e @ WalletError::Storage(_)) => assert!(e.to_string().contains("never run"), "{e}"),
        other => panic!("a wallet that never ran cannot wake, got {other:?}"),
    }
    assert_eq!(extension.state(), LifecycleState::Created);
    assert!(!dir.path().join("node").exists(), "no node store for a wallet that never ran");
    drop(extension);

    // A wallet that ran but has no channel at the LSP: the LSP holds nothing for it.
    let (app, _) = start_phone(&scene, dir.path(), &rt);
    let node_id = app.node_id().unwrap();
    rt.block_on(app.stop()).unwrap();
    drop(app);
    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    let outcome =
        rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20))).unwrap();
    assert_eq!(outcome.ended, WakeEnd::NothingPending, "{outcome:?}");
    assert!(outcome.payments.is_empty());
    assert_eq!(extension.state(), LifecycleState::Stopped);
    drop(extension);

    let (app, _) = start_phone(&scene, dir.path(), &rt);
    assert_eq!(app.node_id().unwrap(), node_id);
    assert!(app.list_channels().unwrap().is_empty());
    assert!(app.list_payments().unwrap().is_empty());
    assert_eq!(app.balances().unwrap().lightning_spendable_sat, 0);
    rt.block_on(app.stop()).unwrap();
}
