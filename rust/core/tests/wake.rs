//! Wakes that end without a held payment: nothing pending, the app holding the wallet, the LSP
//! down or never answering. Each ends by its deadline and loses nothing.

use std::time::{Duration, Instant};

use doze_core::{LifecycleState, WakeEnd, Wallet};
use doze_testkit::phone::{phone_with_channel, start_phone};
use doze_testkit::{runtime, Scene, MNEMONIC};

#[test]
fn a_push_with_nothing_waiting_ends_as_nothing_pending() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, 40_000_000);

    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    let outcome =
        rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20))).unwrap();
    assert_eq!(outcome.ended, WakeEnd::NothingPending, "{outcome:?}");
    assert!(outcome.payments.is_empty());
    assert!(outcome.timings.lsp_connected_ms.is_some());
    assert!(outcome.timings.total_ms < 10_000, "{:?}", outcome.timings);
    assert_eq!(extension.state(), LifecycleState::Stopped);
    assert!(outcome.dedup_key.starts_with("push:"));
}

#[test]
fn a_push_while_the_app_holds_the_wallet_returns_at_once() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (app, _recorder) = start_phone(&scene, dir.path(), &rt);

    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    let started = Instant::now();
    let outcome =
        rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20))).unwrap();
    assert_eq!(outcome.ended, WakeEnd::AppHoldsWallet);
    assert!(started.elapsed() < Duration::from_secs(2), "returns at once");
    assert_eq!(extension.state(), LifecycleState::Created, "never started");
    assert_eq!(app.state(), LifecycleState::Running, "the app is undisturbed");

    // The same wallet object running in the app process answers the same way.
    let (payload, headers) = scene.push();
    let outcome = rt.block_on(app.handle_push(payload, headers, Duration::from_secs(20))).unwrap();
    assert_eq!(outcome.ended, WakeEnd::AppHoldsWallet);
    rt.block_on(app.stop()).unwrap();
}

#[test]
fn a_push_with_the_lsp_down_ends_by_the_deadline_and_loses_nothing() {
    wake_without_the_lsp(false);
}

#[test]
fn a_push_with_an_lsp_that_never_answers_ends_by_the_deadline_and_loses_nothing() {
    wake_without_the_lsp(true);
}

/// A phone with a channel gets a push, and the LSP is gone: stopped, and with `silent` its
/// address leads to a listener that accepts connections and never says a word (the noise
/// handshake never completes). The wake ends `LspUnreachable` by its deadline, and the wallet
/// then opens with its history.
fn wake_without_the_lsp(silent: bool) {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, 40_000_000);
    let (payload, headers) = scene.push();
    let address = scene.lsp.p2p_address().to_string();
    scene.lsp.stop().unwrap();
    let accepted = silent.then(|| {
        let listener = std::net::TcpListener::bind(&address).unwrap();
        std::thread::spawn(move || {
            listener.incoming().take(4).filter_map(Result::ok).collect::<Vec<_>>()
        })
    });

    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let deadline = Duration::from_secs(4);
    let started = Instant::now();
    let outcome = rt.block_on(extension.handle_push(payload, headers, deadline)).unwrap();
    let took = started.elapsed();
    assert_eq!(outcome.ended, WakeEnd::LspUnreachable, "{outcome:?}");
    assert!(took < deadline + Duration::from_secs(3), "deadline plus a clean stop, took {took:?}");
    assert_eq!(extension.state(), LifecycleState::Stopped);
    drop(extension);
    drop(accepted);

    // Nothing lost: the wallet opens with its channel balance and history.
    let (phone, _) = start_phone(&scene, dir.path(), &rt);
    assert_eq!(phone.list_payments().unwrap().len(), 1);
    rt.block_on(phone.stop()).unwrap();
}

/// A state the wake does not handle: the LSP force-closed the phone's channel while the phone
/// was away. On reconnection the LSP's error closes the channel on our side too; the wake
/// leaves that to the app (the close is replayed to ldk-node), persists and ends `NeedsApp`
/// with a line asking the user to open the app. The app then opens the store as before: the
/// closed channel is gone, its history intact, and its node reports the closure once.
#[test]
fn a_push_to_a_wallet_whose_channel_the_lsp_closed_is_left_to_the_app() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, 40_000_000);
    let lsp = scene.lsp.node();
    let channel = lsp
        .list_channels()
        .into_iter()
        .find(|c| c.counterparty_node_id != scene.merchant.node_id())
        .unwrap();
    lsp.force_close_channel(&channel.user_channel_id, channel.counterparty_node_id, None).unwrap();

    let extension = Wallet::new(scene.phone_config(dir.path()), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    let outcome =
        rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20))).unwrap();
    assert_eq!(outcome.ended, WakeEnd::NeedsApp, "{outcome:?}");
    assert!(outcome.notification_text.starts_with("Open the app"), "{outcome:?}");
    assert!(outcome.payments.is_empty());
    drop(extension);

    // The app's node handles the close the wake left to it.
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    recorder.wait_for(Duration::from_secs(30), |e| {
        matches!(e.kind, doze_core::WalletEventKind::ChannelClosed { .. })
    });
    assert_eq!(phone.list_payments().unwrap().len(), 1, "the history is intact");
    rt.block_on(phone.stop()).unwrap();
}
