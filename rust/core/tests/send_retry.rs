//! A send whose first attempt fails at a hop and whose retry succeeds: the merchant behind the
//! LSP is offline, so the LSP fails the phone's HTLC back (and LDK's own retries then find no
//! route: `RouteNotFound`); once the merchant is back, the app sends the same invoice again.
//! Both attempts are in the payment's attempts, in order, with their outcomes, and the history
//! holds the payment once, succeeded.

use doze_core::{PaymentDirection, PaymentStatus, WalletEventKind};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Scene};

#[test]
fn a_send_failed_at_a_hop_and_retried_records_both_attempts_and_succeeds_once() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    let funds = rt
        .block_on(phone.receive_bolt11(Some(60_000_000), "funds".into(), 3600))
        .unwrap_or_else(|e| panic!("an invoice: {e}"));
    assert!(scene.merchant_pays(&funds.bolt11));
    wait_until("the phone's sats are spendable", DEFAULT_WAIT, || {
        phone.balances().is_ok_and(|b| b.lightning_spendable_sat > 50_000)
    });

    // The merchant's invoice, then the merchant goes offline: the LSP cannot forward to it.
    let bill = scene.merchant_invoice(12_000_000);
    scene.merchant.stop().unwrap_or_else(|e| panic!("the merchant stops: {e}"));
    let first = rt.block_on(phone.pay_bolt11(&bill, None)).unwrap_or_else(|e| panic!("{e}"));
    let failed = recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentFailed { payment_id, .. } if *payment_id == first)
    });
    eprintln!("first attempt: {failed:?}");
    let attempts = phone.payment_attempts(&first).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].outcome.starts_with("failed"), "{attempts:?}");

    // The merchant is back and its channel usable: the same invoice, sent again, is paid.
    scene.merchant.start().unwrap_or_else(|e| panic!("the merchant starts again: {e}"));
    wait_until("the merchant's channel is usable again", DEFAULT_WAIT, || {
        scene.merchant.list_channels().iter().any(|c| c.is_usable)
    });
    let second = rt
        .block_on(phone.pay_bolt11(&bill, None))
        .unwrap_or_else(|e| panic!("a failed invoice can be paid again: {e}"));
    assert_eq!(second, first, "the same payment (a BOLT11 payment's id is its hash)");
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentSent { payment_id, .. } if *payment_id == first)
    });

    let attempts = phone.payment_attempts(&first).unwrap_or_else(|e| panic!("{e}"));
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2], "{attempts:?}");
    assert!(attempts[0].outcome.starts_with("failed"), "the first stays failed: {attempts:?}");
    assert_eq!(attempts[1].outcome, "succeeded", "{attempts:?}");
    assert!(attempts[0].started_at_secs <= attempts[1].started_at_secs);

    wait_until("the history shows the payment succeeded", DEFAULT_WAIT, || {
        phone.list_payments().is_ok_and(|history| {
            history.iter().any(|p| p.id == first && p.status == PaymentStatus::Succeeded)
        })
    });
    let history = phone.list_payments().unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<_> = history.iter().filter(|p| p.id == first).collect();
    assert_eq!(rows.len(), 1, "once in the history: {rows:?}");
    assert_eq!(rows[0].direction, PaymentDirection::Outbound);
    assert_eq!(rows[0].amount_msat, Some(12_000_000));
    // Paid now: a third send is refused, not paid twice.
    assert!(rt.block_on(phone.pay_bolt11(&bill, None)).is_err(), "an invoice is paid once");
}
