//! The old phone keeps running while the wallet is restored on a new one, both on the same
//! backup server (a real `vss-server` on PostgreSQL, on loopback). The old phone's next write
//! is refused by the server; ldk-node would panic on it (a failed monitor write is fatal to
//! LDK), so Doze answers it, cuts the old phone off from its LSP first, and stops its node:
//! nothing the old phone did after the takeover reaches the LSP, the new phone's channel goes
//! on undisturbed, and every path of the old phone answers `WalletMoved`, without a panic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doze_core::{
    BackupConfig, ChannelState, LifecycleState, LogEntry, LogLevel, LogListener, Wallet,
    WalletConfig, WalletError, WalletEventKind,
};
use doze_devnet::nodes::{try_wait_until, wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::phone::{assert_paid, start_wallet, Recorder};
use doze_testkit::{runtime, Scene, MNEMONIC};

fn backed_up(scene: &Scene, dir: &std::path::Path, server: &BackupServer) -> WalletConfig {
    WalletConfig { backup: Some(BackupConfig { url: server.url() }), ..scene.phone_config(dir) }
}

/// Prints the wallets' logs (info and up, with the time), shown for a test that fails.
struct Stderr(std::time::Instant);

impl LogListener for Stderr {
    fn log(&self, entry: LogEntry) {
        let at = self.0.elapsed().as_millis();
        eprintln!("{at:>6} {:?} {}: {}", entry.level, entry.target, entry.message);
    }
}

/// Counts the panics of this process (any thread) from now on, and prints the logs.
fn count_panics() -> Arc<AtomicUsize> {
    doze_core::init_logging(LogLevel::Info, Arc::new(Stderr(std::time::Instant::now())));
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&panics);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
    panics
}

/// A backed-up phone in `dir` with a channel from the LSP (a JIT payment in), running.
fn running_phone_with_channel(
    scene: &Scene,
    server: &BackupServer,
    dir: &std::path::Path,
    rt: &tokio::runtime::Runtime,
) -> (Wallet, Arc<Recorder>) {
    let (phone, events) = start_wallet(backed_up(scene, dir, server), rt);
    let invoice = rt.block_on(phone.receive_bolt11(Some(60_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    events.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone.balances().map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0).unwrap()
    });
    // The app goes to the background and back: its node's last writes are on the server, and
    // the takeover starts from a quiet channel (these tests are about what comes after; with
    // kill-safe persistence the backup never holds a monitor newer than its manager either
    // way: README, "Kill safety").
    rt.block_on(phone.pause()).unwrap();
    rt.block_on(phone.resume()).unwrap();
    wait_until("the phone's channel is usable again", DEFAULT_WAIT, || {
        phone.balances().map(|b| b.lightning_spendable_sat > 0).unwrap()
    });
    (phone, events)
}

/// Every path of a phone that lost the wallet to another device answers `WalletMoved`.
fn assert_moved_everywhere(
    scene: &Scene,
    server: &BackupServer,
    dir: &std::path::Path,
    old: &Wallet,
) {
    let rt = runtime();
    wait_until("the old phone stops", DEFAULT_WAIT, || old.state() == LifecycleState::Moved);
    let invoice = scene.merchant_invoice(1_000_000);
    assert_eq!(rt.block_on(old.pay_bolt11(&invoice, None)), Err(WalletError::WalletMoved));
    let receive = rt.block_on(old.receive_bolt11(Some(1_000_000), "no".into(), 60));
    assert_eq!(receive.map(|i| i.bolt11), Err(WalletError::WalletMoved));
    assert_eq!(rt.block_on(old.sync()), Err(WalletError::WalletMoved));
    assert_eq!(old.balances().map(|b| b.lightning_spendable_sat), Err(WalletError::WalletMoved));
    assert_eq!(rt.block_on(old.resume()), Err(WalletError::WalletMoved));
    assert_eq!(rt.block_on(old.start()), Err(WalletError::WalletMoved));
    assert_eq!(old.state(), LifecycleState::Moved);
    // Its wakes: through the app's wallet object, and through the extension's own.
    let (payload, headers) = scene.push();
    let wake = rt.block_on(old.handle_push(payload, headers, Duration::from_secs(10)));
    assert_eq!(wake.map(|o| o.ended), Err(WalletError::WalletMoved));
    let extension = Wallet::new(backed_up(scene, dir, server), MNEMONIC, None).unwrap();
    let (payload, headers) = scene.push();
    let wake = rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(10)));
    assert_eq!(wake.map(|o| o.ended), Err(WalletError::WalletMoved));
    // The message says what to do, and names no secret.
    let message = WalletError::WalletMoved.to_string();
    assert!(message.contains("another device"), "{message}");
    assert!(!MNEMONIC.split(' ').any(|w| message.split(' ').any(|m| m == w)));
}

/// Waits for the new phone's channel `channel_id` to be usable (once the LSP let go of the old
/// phone's connection and took the new phone's); on a timeout, says what the phone saw.
fn wait_for_usable_channel(new: &Wallet, events: &Recorder, channel_id: &str) {
    let usable = || {
        new.list_channels().unwrap().iter().any(|c| {
            c.channel_id == channel_id && c.state == ChannelState::Usable && c.outbound_sat > 0
        })
    };
    if let Err(e) = try_wait_until("the new phone's channel is usable", DEFAULT_WAIT, usable) {
        panic!("{e}; channels {:?}; events {:?}", new.list_channels(), events.events());
    }
}

/// The new phone's channel is the one the old phone had, usable, never closed, and pays.
fn assert_new_phone_goes_on(scene: &Scene, new: &Wallet, events: &Recorder, channel_id: &str) {
    let rt = runtime();
    wait_for_usable_channel(new, events, channel_id);
    let sent = rt.block_on(new.pay_bolt11(&scene.merchant_invoice(2_000_000), None)).unwrap();
    assert_paid(events, &sent);
    let closed = events.events().into_iter().filter(|e| {
        matches!(e.kind, WalletEventKind::ChannelClosed { .. } | WalletEventKind::WalletMoved)
    });
    assert_eq!(closed.count(), 0, "{:?}", events.events());
}

#[test]
fn a_payment_arriving_at_the_old_phone_after_a_restore_stops_it_and_reaches_the_new_one() {
    let panics = count_panics();
    let scene = Scene::new();
    let server = BackupServer::start();
    let rt = runtime();
    let old_dir = tempfile::tempdir().unwrap();
    let (old, old_events) = running_phone_with_channel(&scene, &server, old_dir.path(), &rt);
    let channel_id = old.list_channels().unwrap()[0].channel_id.clone();
    // An invoice of the old phone, in the backup, that the merchant pays after the restore.
    let later = rt.block_on(old.receive_bolt11(Some(5_000_000), "later".into(), 3600)).unwrap();
    assert!(!later.via_jit_channel);

    // The wallet is restored on a new phone while the old one runs, connected to the LSP (which
    // keeps the old phone's connection and refuses the new phone's for now).
    let node_id = old.node_id().unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let (new, new_events) = start_wallet(backed_up(&scene, new_dir.path(), &server), &rt);
    // (The old phone may already have stopped: ldk-node writes in the background too.)
    assert_eq!(new.node_id().unwrap(), node_id);

    // The LSP hands the payment to the old phone: its channel update is refused by the server,
    // and the old phone stops without acknowledging it. The LSP gives it to the new phone once
    // that one connects, and the payment arrives there.
    assert!(scene.merchant_pays(&later.bolt11), "the merchant's payment succeeds");
    let received = new_events.wait_for(DEFAULT_WAIT, |e| match &e.kind {
        WalletEventKind::PaymentReceived { payment_hash, .. } => {
            *payment_hash == later.payment_hash
        }
        _ => false,
    });
    assert!(matches!(received.kind, WalletEventKind::PaymentReceived { amount_msat, .. }
        if amount_msat == 5_000_000));
    old_events.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::WalletMoved));
    let took = |e: &doze_core::WalletEvent| {
        matches!(&e.kind, WalletEventKind::PaymentReceived { payment_hash, .. }
            if *payment_hash == later.payment_hash)
    };
    assert!(!old_events.events().iter().any(took), "the old phone never took the payment");

    assert_moved_everywhere(&scene, &server, old_dir.path(), &old);
    assert_new_phone_goes_on(&scene, &new, &new_events, &channel_id);
    rt.block_on(new.stop()).unwrap();
    drop(old);
    assert_eq!(panics.load(Ordering::SeqCst), 0, "nothing panicked");
}

#[test]
fn a_send_from_the_old_phone_after_a_restore_is_refused_and_never_reaches_the_lsp() {
    let panics = count_panics();
    let scene = Scene::new();
    let server = BackupServer::start();
    let rt = runtime();
    let old_dir = tempfile::tempdir().unwrap();
    let (old, old_events) = running_phone_with_channel(&scene, &server, old_dir.path(), &rt);
    let channel_id = old.list_channels().unwrap()[0].channel_id.clone();
    let spendable = old.balances().unwrap().lightning_spendable_sat;

    let new_dir = tempfile::tempdir().unwrap();
    let (new, new_events) = start_wallet(backed_up(&scene, new_dir.path(), &server), &rt);

    // The old phone pays: LDK hands the payment to the store, which the server refuses; the
    // payment never leaves the phone and the call says why.
    let invoice = scene.merchant_invoice(3_000_000);
    assert_eq!(rt.block_on(old.pay_bolt11(&invoice, None)), Err(WalletError::WalletMoved));
    old_events.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::WalletMoved));
    assert_moved_everywhere(&scene, &server, old_dir.path(), &old);

    // The new phone holds what the old one had before the takeover, and the invoice is still
    // unpaid: the new phone pays it, once.
    wait_for_usable_channel(&new, &new_events, &channel_id);
    assert_eq!(new.balances().unwrap().lightning_spendable_sat, spendable);
    let sent = rt.block_on(new.pay_bolt11(&invoice, None)).unwrap();
    assert_paid(&new_events, &sent);
    assert_new_phone_goes_on(&scene, &new, &new_events, &channel_id);
    rt.block_on(new.stop()).unwrap();
    drop(old);
    assert_eq!(panics.load(Ordering::SeqCst), 0, "nothing panicked");
}
