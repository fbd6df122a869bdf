//! The app goes to the background with a payment in flight: iOS kills a suspended app that
//! still holds a lock on a file in a shared container (crash code 0xdead10cc), so `pause()`
//! must let go of the storage lock and of every SQLite file within a second, and the payment
//! must not be lost: it completes after `resume()`, and the payer's and the payee's records of
//! it agree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doze_core::{
    LifecycleState, PaymentDirection, PaymentFilter, PaymentStatus, StorageLock, WalletError,
};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_testkit::phone::{assert_paid, phone_with_channel, start_phone};
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
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, 60_000_000);
    let (phone, events) = start_phone(&scene, dir.path(), &rt);
    assert!(!open_files_under(dir.path()).is_empty(), "a running wallet holds its files");

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
    drop(StorageLock::try_acquire(dir.path()).expect("the storage lock is free while paused"));
    // ...and no file of the wallet is open: not doze.sqlite (history, outbox, address book,
    // delivered events), not ldk-node's store, not the lock file.
    let open = open_files_under(dir.path());
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
