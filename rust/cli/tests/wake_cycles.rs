//! Twenty alternating cycles on one store: a fresh `doze wake` process receives a payment to
//! the phone's offer, then the app (ldk-node) starts on the same store and pays the sender an
//! invoice, stops, and the next wake receives again. Both sides' balances are checked at
//! every step, to the satoshi: the wake engine and ldk-node hand the channel back and forth
//! without losing, doubling or closing anything.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{go_offline_with_offer, Collected, PhoneScene, MNEMONIC};
use doze_core::{PaymentDirection, PaymentStatus, Wallet, WalletEventKind};
use doze_devnet::nodes::{wait_for_state, wait_until, DEFAULT_WAIT};
use doze_lsp::testing::{AsyncScene, WebhookReceiver};
use doze_lsp::Observers;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::payment::PaymentStatus as NodeStatus;
use ldk_node::Node;

const CYCLES: u64 = 20;
/// What the phone cannot spend of what it holds: 1 % of the LSP's 200 000 sat channel.
const PHONE_RESERVE_SAT: u64 = 2_000;

/// The sender's Lightning balance in msat, once nothing is in flight.
fn lightning_msat(node: &Node) -> u64 {
    node.list_channels().iter().map(|c| c.outbound_capacity_msat + c.unspendable_punishment_reserve.unwrap_or(0) * 1000).sum()
}

#[test]
fn twenty_wakes_and_app_runs_alternate_on_one_store() {
    let started = Instant::now();
    let (phone, app) = PhoneScene::start(Observers::new());
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
    let mut held = 0;

    for i in 0..CYCLES {
        // A wake receives.
        // Under the 10 % of the channel an HTLC to the phone may carry. The phone pays back
        // half: the sender's own channel has only what it paid out as room to receive (less
        // its LSP's reserve), and the phone the first time all but its reserve.
        let amount = 12_000_000 + i * 100_000;
        let sender_before = lightning_msat(sender);
        let (id, push) = phone.pay_offer(&webhook, &offer, amount, &mut held);
        let (outcome, log) = phone.wake(&push, "info");
        assert_eq!(outcome["ended"], "Paid", "cycle {i}: {outcome}\n{log}");
        assert_eq!(outcome["payments"][0]["amount_msat"], amount, "cycle {i}: {outcome}");
        let status = wait_for_state("the sender's payment settles", DEFAULT_WAIT, || sender.payment(&id).map(|p| p.status), |s| *s != Some(NodeStatus::Pending));
        assert_eq!(status, Some(NodeStatus::Succeeded), "cycle {i}");
        let fee = sender.payment(&id).and_then(|p| p.fee_paid_msat).unwrap_or(0);
        wait_until("the sender's channel settles", DEFAULT_WAIT, || lightning_msat(sender) == sender_before - amount - fee);
        phone_msat += amount;

        // The app starts on the same store: the wake's payment is there, once, and the balance
        // is what the wake left; then it pays the sender.
        let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
        let events = Arc::new(Collected::default());
        app.set_event_listener(events.clone());
        rt.block_on(app.start()).unwrap();
        wait_until("the app's listener has the wake's payment", DEFAULT_WAIT, || !events.received_ids().is_empty());
        assert_eq!(events.received_ids().len(), 1, "cycle {i}: the wake's payment, once");
        assert_eq!(app.balances().unwrap().lightning_spendable_sat, spendable_sat(phone_msat), "cycle {i}: after the wake");
        let pay_back = 6_000_000 + i * 50_000;
        let description = Bolt11InvoiceDescription::Direct(Description::new(format!("cycle {i}")).unwrap());
        let invoice = sender.bolt11_payment().receive(pay_back, &description, 3600).unwrap();
        let sender_before = lightning_msat(sender);
        let quote = app.prepare_send(&invoice.to_string(), None, None).unwrap();
        let payment_id = rt.block_on(app.send(quote)).unwrap();
        let sent = wait_for_state("the app's payment ends", DEFAULT_WAIT, || app.list_payments().unwrap().into_iter().find(|p| p.id == payment_id && p.status != PaymentStatus::Pending), |p| p.is_some());
        let sent = sent.unwrap_or_else(|| unreachable!());
        assert_eq!((sent.direction, sent.status), (PaymentDirection::Outbound, PaymentStatus::Succeeded), "cycle {i}: {sent:?}");
        phone_msat -= pay_back + sent.fee_msat.unwrap_or(0);
        wait_until("the sender has the app's payment", DEFAULT_WAIT, || lightning_msat(sender) == sender_before + pay_back);
        wait_until("the phone's channel settles", DEFAULT_WAIT, || {
            app.balances().is_ok_and(|b| b.pending_sat == 0 && b.lightning_spendable_sat == spendable_sat(phone_msat))
        });
        let closed = events.0.lock().unwrap().iter().any(|e| matches!(e.kind, WalletEventKind::ChannelClosed { .. }));
        assert!(!closed, "cycle {i}: a channel closed");
        rt.block_on(app.stop()).unwrap();
        drop(app);
        AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
        eprintln!("cycle {i}: ok ({:?})", started.elapsed());
    }

    // Every payment in the history once: 20 received by wakes, 20 sent by the app.
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
    let page = app.list_payments_page(doze_core::PaymentFilter::default(), None, 100).unwrap();
    let inbound = page.payments.iter().filter(|p| p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded).count();
    let outbound = page.payments.iter().filter(|p| p.direction == PaymentDirection::Outbound && p.status == PaymentStatus::Succeeded).count();
    // The app also received its channel's first payment (start_app) before the cycles.
    assert!(inbound as u64 >= CYCLES && outbound as u64 == CYCLES, "{inbound} in, {outbound} out: {page:?}");
    eprintln!("{CYCLES} cycles in {:?}", started.elapsed());
}
