//! A phone gets its first channel from the LSP by being paid (LSPS2 JIT), pays a merchant, and
//! keeps its balances and history across a restart.

use doze_core::{
    LifecycleState, PaymentDirection, PaymentKind, PaymentStatus, WalletError, WalletEventKind,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Scene};

#[test]
fn jit_receive_pay_out_and_restart_with_balances_and_history_intact() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    assert_eq!(phone.state(), LifecycleState::Running);
    let empty = phone.balances().unwrap();
    assert_eq!((empty.lightning_spendable_sat, empty.onchain_confirmed_sat), (0, 0));

    let invoice =
        rt.block_on(phone.receive_bolt11(Some(50_000_000), "first sats".into(), 3600)).unwrap();
    assert!(invoice.via_jit_channel, "no channel yet: the LSP opens one");
    assert!(scene.merchant_pays(&invoice.bolt11));
    let received = recorder
        .wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    assert!(
        matches!(received.kind, WalletEventKind::PaymentReceived { amount_msat: 50_000_000, .. }),
        "{received:?}"
    );
    recorder.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::ChannelReady { .. }));
    // The claim settles with the LSP's next commitment update, a moment after the event.
    wait_until("the received sats are spendable", DEFAULT_WAIT, || {
        phone.balances().unwrap().lightning_spendable_sat > 45_000
    });
    let after_receive = phone.balances().unwrap();
    assert!(after_receive.lightning_inbound_sat > 0, "over-provisioned JIT channel has inbound");

    // A second payment fits the channel the LSP opened: no new JIT channel.
    let second = rt.block_on(phone.receive_bolt11(Some(5_000_000), "more".into(), 3600)).unwrap();
    assert!(!second.via_jit_channel);
    assert!(scene.merchant_pays(&second.bolt11));

    let invoice = scene.merchant_invoice(20_000_000);
    let pay_id = rt.block_on(phone.pay_bolt11(&invoice, None)).unwrap();
    let sent = recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(
            &e.kind,
            WalletEventKind::PaymentSent { payment_id, .. } if *payment_id == pay_id
        )
    });
    assert_eq!(sent.id, format!("payment-sent:{pay_id}"));
    assert_eq!(
        rt.block_on(phone.pay_bolt11(&invoice, None)),
        Err(WalletError::DuplicatePayment),
        "an invoice is paid once"
    );

    wait_until("history shows three settled payments", DEFAULT_WAIT, || {
        phone
            .list_payments()
            .unwrap()
            .iter()
            .filter(|p| p.status == PaymentStatus::Succeeded)
            .count()
            == 3
    });
    let history = phone.list_payments().unwrap();
    let outbound = history.iter().find(|p| p.direction == PaymentDirection::Outbound).unwrap();
    assert_eq!((outbound.kind, outbound.amount_msat), (PaymentKind::Bolt11, Some(20_000_000)));
    assert!(history
        .iter()
        .any(|p| p.kind == PaymentKind::Bolt11Jit && p.direction == PaymentDirection::Inbound));
    // The outgoing HTLC counts as pending until the LSP's commitment update removes it.
    wait_until("nothing is in flight", DEFAULT_WAIT, || phone.balances().unwrap().pending_sat == 0);
    let balances = phone.balances().unwrap();

    rt.block_on(phone.stop()).unwrap();
    assert_eq!(phone.state(), LifecycleState::Stopped);
    drop(phone);

    let (restarted, _) = start_phone(&scene, dir.path(), &rt);
    assert_eq!(restarted.list_payments().unwrap(), history, "history intact");
    wait_until("the channel is usable again", DEFAULT_WAIT, || {
        restarted.balances().unwrap().lightning_spendable_sat == balances.lightning_spendable_sat
    });
    let after = restarted.balances().unwrap();
    assert_eq!(
        (
            after.lightning_spendable_sat,
            after.max_sendable_lightning_sat,
            after.onchain_confirmed_sat,
            after.pending_sat
        ),
        (
            balances.lightning_spendable_sat,
            balances.max_sendable_lightning_sat,
            balances.onchain_confirmed_sat,
            0
        ),
        "balances intact"
    );
    // Inbound grows by the last payment once the LSP's final commitment update lands, which
    // may be before or after the restart.
    assert!(after.lightning_inbound_sat >= balances.lightning_inbound_sat);
    rt.block_on(restarted.stop()).unwrap();
}

#[test]
fn onchain_receive_and_send() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, _recorder) = start_phone(&scene, dir.path(), &rt);
    let address: ldk_node::bitcoin::Address = phone
        .new_onchain_address()
        .unwrap()
        .parse::<ldk_node::bitcoin::Address<_>>()
        .unwrap()
        .assume_checked();
    scene.devnet.fund(&address, ldk_node::bitcoin::Amount::from_sat(300_000)).unwrap();
    wait_until("the phone sees it unconfirmed", DEFAULT_WAIT, || {
        rt.block_on(phone.sync()).is_ok()
            && phone.balances().unwrap().onchain_unconfirmed_sat == 300_000
    });
    scene.devnet.mine(1);
    rt.block_on(phone.sync()).unwrap();
    let balances = phone.balances().unwrap();
    assert_eq!(
        (balances.onchain_confirmed_sat, balances.onchain_spendable_sat),
        (300_000, 300_000)
    );

    let merchant_address = scene.merchant.onchain_payment().new_address().unwrap();
    let txid = rt
        .block_on(phone.send_onchain(&merchant_address.to_string(), Some(100_000), None))
        .unwrap();
    let sent = phone.list_payments().unwrap();
    assert!(
        sent.iter().any(|p| p.txid.as_deref() == Some(txid.as_str())
            && p.status == PaymentStatus::Pending
            && p.amount_msat == Some(100_000_000)),
        "the send is in the history at once: {sent:?}"
    );
    assert!(scene.devnet.wait_for_mempool(&txid.parse().unwrap(), DEFAULT_WAIT));
    scene.devnet.mine(1);
    rt.block_on(phone.sync()).unwrap();
    let after = phone.balances().unwrap();
    assert!(
        after.onchain_confirmed_sat < 200_000 && after.onchain_confirmed_sat > 190_000,
        "{after:?}"
    );
    let payments = phone.list_payments().unwrap();
    assert!(payments.iter().any(|p| p.kind == PaymentKind::Onchain
        && p.direction == PaymentDirection::Outbound
        && p.txid.as_deref() == Some(txid.as_str())));
    rt.block_on(phone.stop()).unwrap();
}
