//! A BOLT 12 refund paid to the phone (issue 21, the seeds' refund row): the phone buys from a
//! shop (stock ldk-node behind the LSP), the shop refunds part of it with a BOLT 12 refund, the
//! phone claims it, the shop pays the phone's invoice, and the phone's history has the refund
//! once, inbound, succeeded. What cannot be claimed is a typed error and sends nothing.

use doze_core::{PaymentDirection, PaymentKind, PaymentStatus, WalletError, WalletEventKind};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Scene};
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::Event;

const REFUND_MSAT: u64 = 5_000_000;

fn description(text: &str) -> Bolt11InvoiceDescription {
    Bolt11InvoiceDescription::Direct(Description::new(text.into()).expect("a description"))
}

#[test]
fn a_refund_claimed_by_the_phone_is_paid_and_recorded_once() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);

    // The phone's first sats open its channel (LSPS2): a refund needs a channel to arrive on.
    let first = rt.block_on(phone.receive_bolt11(Some(50_000_000), "first".into(), 3600));
    assert!(scene.merchant_pays(&first.expect("invoice").bolt11));
    recorder.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::ChannelReady { .. }));
    wait_until("the channel has inbound room", DEFAULT_WAIT, || {
        phone.balances().expect("balances").lightning_inbound_sat * 1000 > REFUND_MSAT
    });

    // The purchase: the shop's only money is what the phone pays it.
    let shop = scene.start_shop();
    let bill = shop.bolt11_payment().receive(30_000_000, &description("a kettle"), 3600);
    let bill = bill.expect("the shop's invoice").to_string();
    let bought = rt.block_on(phone.pay_bolt11(&bill, None)).expect("the phone pays the shop");
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentSent { payment_id, .. } if *payment_id == bought)
    });
    // The shop can pay once its side of the purchase is settled in the channel.
    wait_until("the shop can send the refund", DEFAULT_WAIT, || {
        shop.list_channels().iter().any(|c| c.is_usable && c.outbound_capacity_msat > REFUND_MSAT)
    });

    // Not a refund: nothing is sent.
    let invoice = scene.merchant_invoice(1_000_000);
    let not_a_refund = rt.block_on(phone.claim_refund(&invoice));
    assert!(matches!(not_a_refund, Err(WalletError::InvalidInvoice(_))), "{not_a_refund:?}");
    // More than any channel can take: refused before an invoice goes out.
    let huge = shop.bolt12_payment().initiate_refund(5_000_000_000, 3600, None, None, None);
    let too_big = rt.block_on(phone.claim_refund(&huge.expect("refund").to_string()));
    assert!(matches!(too_big, Err(WalletError::InvalidAmount(_))), "{too_big:?}");

    // The shop's refund introduces at the LSP (the shop is unannounced), which the phone
    // reaches directly.
    let refund = shop
        .bolt12_payment()
        .initiate_refund(REFUND_MSAT, 3600, None, None, None)
        .expect("the shop issues a refund");
    let claim = rt.block_on(phone.claim_refund(&format!("lightning:{refund}"))).expect("claimed");
    assert_eq!(claim.amount_msat, REFUND_MSAT);

    // The shop pays the phone's invoice on its own; the phone hears it once.
    let paid = expect_event(&shop, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(
            &paid,
            Event::PaymentSuccessful { payment_hash, .. }
                if payment_hash.to_string() == claim.payment_hash
        ),
        "{paid:?}"
    );
    let received = recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(
            &e.kind,
            WalletEventKind::PaymentReceived { payment_hash, .. }
                if *payment_hash == claim.payment_hash
        )
    });
    assert!(
        matches!(received.kind, WalletEventKind::PaymentReceived { amount_msat: REFUND_MSAT, .. }),
        "{received:?}"
    );
    wait_until("the refund is in the history, succeeded", DEFAULT_WAIT, || {
        phone.list_payments().expect("history").iter().any(|p| {
            p.payment_hash.as_deref() == Some(claim.payment_hash.as_str())
                && p.status == PaymentStatus::Succeeded
        })
    });
    let rows: Vec<_> = phone
        .list_payments()
        .expect("history")
        .into_iter()
        .filter(|p| p.payment_hash.as_deref() == Some(claim.payment_hash.as_str()))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].kind, rows[0].direction, rows[0].amount_msat),
        (PaymentKind::Bolt12Refund, PaymentDirection::Inbound, Some(REFUND_MSAT))
    );

    // An expired refund is refused before anything goes out.
    let short = shop.bolt12_payment().initiate_refund(1_000_000, 1, None, None, None);
    let short = short.expect("a one-second refund");
    wait_until("the refund expires", DEFAULT_WAIT, || short.is_expired());
    let expired = rt.block_on(phone.claim_refund(&short.to_string()));
    assert!(matches!(expired, Err(WalletError::InvalidRequest(_))), "{expired:?}");
    rt.block_on(phone.stop()).expect("stops");
}
