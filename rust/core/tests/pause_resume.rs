//! The app goes to the background with a payment in flight: iOS kills a suspended app that
//! still holds a lock on a file in a shared container (crash code 0xdead10cc), so `pause()`
//! must let go of the storage lock and of every SQLite file within a second (with a backup: its
//! local copy too), and the payment must not be lost: it completes after `resume()`, and the
//! payer's and the payee's records of it agree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doze_core::{
    BackupConfig, LifecycleState, PaymentDirection, PaymentFilter, PaymentStatus, StorageLock,
    WalletConfig, WalletError,
};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::phone::{assert_paid, start_wallet};
use doze_testkit::{runtime, Scene};
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::Event;

/// What `pause()` may take: the most iOS allows before a suspended app must hold no lock.
const PAUSE_BOUND: Duration = Duration::from_secs(1);

/// The files of `dir` this process has open, read from `/proc/self/fd`.
fn open_files_under(dir: &Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .collect()
}

#[test]
fn pause_lets_go_of_the_lock_and_every_database_and_a_payment_in_flight_completes_on_resume() {
    let scene = Scene::new();
    let dir = tempfile::tempdir().unwrap();
    pause_with_a_payment_in_flight(&scene, dir.path(), scene.phone_config(dir.path()));
}

#[test]
fn a_backed_up_wallet_lets_go_of_its_backup_store_too() {
    // The backed-up store keeps its own copy of the node's store on the phone (and talks to
    // the server from a runtime of its own).
    let scene = Scene::new();
    let server = BackupServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        backup: Some(BackupConfig { url: server.url() }),
        ..scene.phone_config(dir.path())
    };
    pause_with_a_payment_in_flight(&scene, dir.path(), config);
}

/// A phone of `scene` in `dir` (configured by `config`) gets a channel, sends a payment the
/// merchant holds, pauses, and resumes after the merchant took it.
fn pause_with_a_payment_in_flight(scene: &Scene, dir: &Path, config: WalletConfig) {
    let rt = runtime();
    let (phone, events) = start_wallet(config, &rt);
    let invoice = rt.block_on(phone.receive_bolt11(Some(60_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone.balances().is_ok_and(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
    });
    assert!(!open_files_under(dir).is_empty(), "a running wallet holds its files");

    // The merchant holds the payment (an invoice for a hash only the test can claim), so that
    // it is still in flight when the app goes to the background.
    let preimage = PaymentPreimage([7; 32]);
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    let description =
        Bolt11InvoiceDescription::Direct(Description::new("held coffee".into()).unwrap());
    let amount_msat = 20_000_000;
    let invoice = scene
        .merchant
        .bolt11_payment()
        .receive_for_hash(amount_msat, &description, 3600, hash)
        .unwrap();
    let payment_id = rt.block_on(phone.pay_bolt11(&invoice.to_string(), None)).unwrap();
    expect_event(
        &scene.merchant,
        DEFAULT_WAIT,
        |e| matches!(e, Event::PaymentClaimable { payment_hash, .. } if *payment_hash == hash),
    );

    let pausing = Instant::now();
    rt.block_on(phone.pause()).unwrap();
    let paused_in = pausing.elapsed();
    eprintln!("pause() took {paused_in:?}");
    assert!(paused_in <= PAUSE_BOUND, "pause() took {paused_in:?}");
    assert_eq!(phone.state(), LifecycleState::Paused);
    // The lock is free for the notification extension (or another wallet object)...
    drop(StorageLock::try_acquire(dir).expect("the storage lock is free while paused"));
    // ...and no file of the wallet is open: not doze.sqlite (history, outbox, address book,
    // delivered events), not ldk-node's store, not the lock file.
    let open = open_files_under(dir);
    assert!(open.is_empty(), "files still open while paused: {open:?}");
    assert_eq!(phone.balances(), Err(WalletError::Paused), "the node is not running");
    let pending = phone.list_payments_page(PaymentFilter::default(), None, 10).unwrap();
    let sent = pending.payments.iter().find(|p| p.id == payment_id).expect("in the history");
    assert_eq!(sent.status, PaymentStatus::Pending, "the history stays readable");
    // A second pause, as a lifecycle callback may make, does nothing.
    rt.block_on(phone.pause()).unwrap();

    // The merchant takes the payment while the phone is away; its LSP keeps the preimage for
    // the phone.
    scene.merchant.bolt11_payment().claim_for_hash(hash, amount_msat, preimage).unwrap();
    expect_event(
        &scene.merchant,
        DEFAULT_WAIT,
        |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if *payment_hash == hash),
    );

    rt.block_on(phone.resume()).unwrap();
    assert_eq!(phone.state(), LifecycleState::Running);
    assert_paid(&events, &payment_id);

    // Both sides agree on what happened.
    wait_until("the phone's history shows the payment settled", DEFAULT_WAIT, || {
        phone
            .list_payments_page(PaymentFilter::default(), None, 10)
            .unwrap()
            .payments
            .iter()
            .any(|p| p.id == payment_id && p.status == PaymentStatus::Succeeded)
    });
    let page = phone.list_payments_page(PaymentFilter::default(), None, 10).unwrap();
    let ours = page.payments.iter().find(|p| p.id == payment_id).unwrap();
    let theirs = scene.merchant.payment(&PaymentId(hash.0)).expect("the merchant's record");
    assert_eq!(ours.direction, PaymentDirection::Outbound);
    assert_eq!(ours.amount_msat, Some(amount_msat));
    assert_eq!(theirs.amount_msat, Some(amount_msat));
    assert_eq!(theirs.status, ldk_node::payment::PaymentStatus::Succeeded);
    assert_eq!(ours.payment_hash.as_deref(), Some(hash.to_string().as_str()));
    rt.block_on(phone.stop()).unwrap();
}

#[test]
fn a_send_racing_a_pause_is_either_sent_and_completed_after_resume_or_refused_and_never_sent() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, events) = start_wallet(scene.phone_config(dir.path()), &rt);
    let invoice = rt.block_on(phone.receive_bolt11(Some(60_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone.balances().is_ok_and(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
    });
    for round in 0..3 {
        // The app is sent to the background while a payment is being sent: either the send
        // was handed to LDK first (then the pause waited for it, and it completes once the
        // wallet resumes), or the pause came first and nothing was sent.
        let invoice = scene.merchant_invoice(1_000_000 + round * 1_000);
        let (sent, paused) =
            rt.block_on(async { tokio::join!(phone.pay_bolt11(&invoice, None), phone.pause()) });
        paused.unwrap();
        let open = open_files_under(dir.path());
        assert!(open.is_empty(), "round {round}: files still open while paused: {open:?}");
        rt.block_on(phone.resume()).unwrap();
        eprintln!("round {round}: {}", if sent.is_ok() { "sent, then paused" } else { "refused" });
        match sent {
            Ok(id) => assert_paid(&events, &id),
            Err(WalletError::Paused) => {
                // Not sent: the same invoice is paid now, once.
                let id = rt.block_on(phone.pay_bolt11(&invoice, None)).unwrap();
                assert_paid(&events, &id);
            }
            Err(e) => panic!("round {round}: the send failed otherwise: {e}"),
        }
    }
    rt.block_on(phone.stop()).unwrap();
}
