//! Twenty alternating cycles on one store: a fresh `doze wake` process receives a payment to
//! the phone's offer from a sender behind another LSP, then the app (ldk-node) starts on the
//! same store and pays an invoice of its LSP, stops, and the next wake receives again. Both
//! sides of the phone's channel are checked at every step, to the millisatoshi (the phone's
//! spendable balance, and the LSP's side of the same channel), and the sender's balance after
//! each payment: the wake engine and ldk-node hand the channel back and forth without losing,
//! doubling or closing anything.

use std::sync::Arc;
use std::time::Instant;

use doze_core::{PaymentDirection, PaymentStatus, Wallet, WalletEventKind};
use doze_devnet::nodes::{wait_for_state, wait_until, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::phone::go_offline_with_offer;
use doze_testkit::{AsyncScene, WebhookReceiver};
use doze_testkit::{PhoneScene, Recorder, MNEMONIC};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::payment::PaymentStatus as NodeStatus;
use ldk_node::Node;

const CYCLES: u64 = 20;
/// What the phone cannot spend of what it holds: 1 % of the LSP's 200 000 sat channel.
const PHONE_RESERVE_SAT: u64 = 2_000;

/// A node's side of its channels with `peer` (all its channels when `None`), in msat, once
/// nothing is in flight and its side is above its reserve.
fn side_msat(node: &Node, peer: Option<PublicKey>) -> u64 {
    node.list_channels()
        .iter()
        .filter(|c| peer.is_none_or(|p| c.counterparty_node_id == p))
        .map(|c| c.outbound_capacity_msat + c.unspendable_punishment_reserve.unwrap_or(0) * 1000)
        .sum()
}

#[test]
fn twenty_wakes_and_app_runs_alternate_on_one_store() {
    let started = Instant::now();
    let (phone, app) =
        PhoneScene::start(std::path::Path::new(env!("CARGO_BIN_EXE_doze")), Observers::new());
    let (scene, config, rt) = (&phone.scene, &phone.config, &phone.rt);
    let phone_id = app.node_id().unwrap().parse().unwrap();
    // What the phone holds in its channel (it starts with nothing on its side); it can spend
    // all but its reserve.
    assert_eq!(app.balances().unwrap().lightning_spendable_sat, 0);
    let mut phone_msat: u64 = 0;
    let spendable_sat = |phone_msat: u64| (phone_msat / 1000).saturating_sub(PHONE_RESERVE_SAT);
    let webhook = WebhookReceiver::start();
    let offer: Offer = go_offline_with_offer(scene, app, &webhook, rt).parse().unwrap();
    let sender = &scene.sender;
    let lsp_a = scene.lsp_a.node();
    let mut held = 0;

    for i in 0..CYCLES {
        // A wake receives.
        // Under the 10 % of the channel an HTLC to the phone may carry. The phone pays half of
        // it on (the first time it can spend all but its reserve).
        let amount = 12_000_000 + i * 100_000;
        let sender_before = side_msat(sender, None);
        let lsp_before = side_msat(&lsp_a, Some(phone_id));
        let (id, push) = phone.pay_offer(&webhook, &offer, amount, &mut held);
        let (outcome, log) = phone.wake(&push, "info");
        assert_eq!(outcome["ended"], "Paid", "cycle {i}: {outcome}\n{log}");
        assert_eq!(outcome["payments"][0]["amount_msat"], amount, "cycle {i}: {outcome}");
        let status = wait_for_state(
            "the sender's payment settles",
            DEFAULT_WAIT,
            || sender.payment(&id).map(|p| p.status),
            |s| *s != Some(NodeStatus::Pending),
        );
        assert_eq!(status, Some(NodeStatus::Succeeded), "cycle {i}");
        let fee = sender.payment(&id).and_then(|p| p.fee_paid_msat).unwrap_or(0);
        wait_until("the sender's channel settles", DEFAULT_WAIT, || {
            side_msat(sender, None) == sender_before - amount - fee
        });
        wait_until("the LSP's side of the phone's channel settles", DEFAULT_WAIT, || {
            side_msat(&lsp_a, Some(phone_id)) == lsp_before - amount
        });
        phone_msat += amount;

        // The app starts on the same store: the wake's payment is there, once, and the balance
        // is what the wake left; then it pays its LSP.
        let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
        let events = Arc::new(Recorder::default());
        app.set_event_listener(events.clone());
        rt.block_on(app.start()).unwrap();
        wait_until("the app's listener has the wake's payment", DEFAULT_WAIT, || {
            !events.received_ids().is_empty()
        });
        assert_eq!(events.received_ids().len(), 1, "cycle {i}: the wake's payment, once");
        assert_eq!(
            app.balances().unwrap().lightning_spendable_sat,
            spendable_sat(phone_msat),
            "cycle {i}: after the wake"
        );
        let pay_back = amount / 2;
        let description =
            Bolt11InvoiceDescription::Direct(Description::new(format!("cycle {i}")).unwrap());
        let invoice = lsp_a.bolt11_payment().receive(pay_back, &description, 3600).unwrap();
        let lsp_before = side_msat(&lsp_a, Some(phone_id));
        let quote = app.prepare_send(&invoice.to_string(), None, None).unwrap();
        let payment_id = rt.block_on(app.send(quote)).unwrap();
        let sent = wait_for_state(
            "the app's payment ends",
            DEFAULT_WAIT,
            || {
                app.list_payments()
                    .unwrap()
                    .into_iter()
                    .find(|p| p.id == payment_id && p.status != PaymentStatus::Pending)
            },
            |p| p.is_some(),
        );
        let sent = sent.unwrap_or_else(|| unreachable!());
        assert_eq!(
            (sent.direction, sent.status),
            (PaymentDirection::Outbound, PaymentStatus::Succeeded),
            "cycle {i}: {sent:?} {:?}",
            events.events()
        );
        phone_msat -= pay_back + sent.fee_msat.unwrap_or(0);
        wait_until("the LSP has the app's payment", DEFAULT_WAIT, || {
            side_msat(&lsp_a, Some(phone_id)) == lsp_before + pay_back + sent.fee_msat.unwrap_or(0)
        });
        wait_until("the phone's channel settles", DEFAULT_WAIT, || {
            app.balances().is_ok_and(|b| {
                b.pending_sat == 0 && b.lightning_spendable_sat == spendable_sat(phone_msat)
            })
        });
        let closed =
            events.events().iter().any(|e| matches!(e.kind, WalletEventKind::ChannelClosed { .. }));
        assert!(!closed, "cycle {i}: a channel closed");
        rt.block_on(app.stop()).unwrap();
        drop(app);
        AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
        eprintln!("cycle {i}: ok ({:?})", started.elapsed());
    }

    // Every payment in the history once: 20 received by wakes, 20 sent by the app.
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
    let page = app.list_payments_page(doze_core::PaymentFilter::default(), None, 100).unwrap();
    let inbound = page
        .payments
        .iter()
        .filter(|p| {
            p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
        })
        .count();
    let outbound = page
        .payments
        .iter()
        .filter(|p| {
            p.direction == PaymentDirection::Outbound && p.status == PaymentStatus::Succeeded
        })
        .count();
    // The app also received its channel's first payment (start_app) before the cycles.
    assert!(
        inbound as u64 >= CYCLES && outbound as u64 == CYCLES,
        "{inbound} in, {outbound} out: {page:?}"
    );
    eprintln!("{CYCLES} cycles in {:?}", started.elapsed());
}
