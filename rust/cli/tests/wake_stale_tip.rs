//! A wake after weeks asleep: the phone went offline with its offer, the chain moved on by
//! three weeks of blocks while the phone's store kept the best block it was last synced to,
//! and then a payment came. The wake asks the chain source for its tip (one request) and
//! brings the channel manager up to it before it processes the HTLC; the payment is received,
//! the sender sees success, the next wake finds the manager at the tip in the store, and the
//! app's next start (ldk-node syncing the chain as usual) finds the channel open.
//!
//! Before the wake learned the tip, this scenario passed too: LDK 0.2.7 refuses a received
//! HTLC for expiring too *soon* for the height, never for too far ("far too far",
//! `CLTV_FAR_FAR_AWAY`, is checked for forwards), so a stale height took the payment, and
//! would have taken one expiring within blocks as well (`doze-core/src/wake/engine/tip.rs`).
//!
//! And a wake whose chain source does not answer (refused, or silent) still takes the payment
//! with the stored best block, says so, and holds the HTLC back no longer than its patience.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Instant;

use doze_core::{PaymentDirection, PaymentFilter, PaymentStatus, Wallet, WalletEventKind};
use doze_devnet::nodes::{wait_for_state, wait_until, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::phone::{go_offline_with_offer, launch_wake, outcome_and_log};
use doze_testkit::{PhoneScene, Recorder, WebhookReceiver, MNEMONIC};
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::payment::PaymentStatus as NodeStatus;

/// Three weeks of blocks (144 a day): past LDK's `CLTV_FAR_FAR_AWAY` (two weeks).
const THREE_WEEKS: u32 = 3 * 7 * 144;
/// A day of blocks.
const ONE_DAY: u32 = 144;
const AMOUNT_MSAT: u64 = 15_000_000;

/// Mines `blocks` while the phone sleeps, and brings the LSPs and the sender to the new tip
/// (the phone's store keeps its old best block). Returns the tip's height.
fn time_passes(phone: &PhoneScene, blocks: u32) -> u32 {
    let started = Instant::now();
    // At most 10 000 blocks per call of the devnet's control API; the library has no limit.
    phone.devnet.mine(blocks);
    let (tip, _) = phone.devnet.tip();
    let scene = &phone.scene;
    scene.lsp_a.sync().unwrap();
    scene.lsp_b.sync().unwrap();
    scene.sender.sync_wallets().unwrap();
    for (name, node) in [
        ("LSP-A", scene.lsp_a.node()),
        ("LSP-B", scene.lsp_b.node()),
        ("sender", scene.sender.node.clone()),
    ] {
        let height = node.status().current_best_block.height;
        assert_eq!(height, tip, "{name} synced to the new tip");
    }
    eprintln!("{blocks} blocks mined and synced in {:?} (tip {tip})", started.elapsed());
    tip
}

/// Waits until the sender's payment `id` is no longer pending; whether it succeeded.
fn sender_succeeds(phone: &PhoneScene, id: &ldk_node::lightning::ln::channelmanager::PaymentId) {
    let sender = &phone.scene.sender;
    let status = wait_for_state(
        "the sender's payment settles",
        DEFAULT_WAIT,
        || sender.payment(id).map(|p| p.status),
        |s| *s != Some(NodeStatus::Pending),
    );
    assert_eq!(status, Some(NodeStatus::Succeeded), "the sender's payment");
}

#[test]
fn a_phone_asleep_for_three_weeks_is_woken_and_paid() {
    let started = Instant::now();
    let (phone, app) =
        PhoneScene::start(std::path::Path::new(env!("CARGO_BIN_EXE_doze")), Observers::new());
    let webhook = WebhookReceiver::start();
    let offer: Offer =
        go_offline_with_offer(&phone.scene, app, &webhook, &phone.rt).parse().unwrap();
    let (stored, _) = phone.devnet.tip();
    let tip = time_passes(&phone, THREE_WEEKS);

    let mut held = 0;
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT, &mut held);
    let (outcome, log) = phone.wake(&push, "debug");
    eprintln!("wake after {THREE_WEEKS} blocks: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["payments"][0]["amount_msat"], AMOUNT_MSAT, "{outcome}");
    // The wake learned the tip with one request and brought the channel manager up to it
    // before it processed the HTLC.
    let chain_tip = &outcome["chain_tip"];
    assert_eq!(chain_tip["status"], "Advanced", "{outcome}\n{log}");
    assert_eq!(chain_tip["stored_height"], stored, "{outcome}");
    assert_eq!(chain_tip["tip_height"], tip, "{outcome}");
    assert_eq!(chain_tip["requests"], 1, "{outcome}");
    let learned = outcome["timings_ms"]["chain_tip"].as_u64().unwrap_or(u64::MAX);
    let received = outcome["timings_ms"]["payment_received"].as_u64().unwrap_or(0);
    assert!(learned <= received, "the tip was known before the payment: {outcome}");
    assert!(log.contains(&format!("wake: the chain moved on by {THREE_WEEKS} blocks")), "{log}");
    sender_succeeds(&phone, &id);

    // The manager went to the store at the tip: the next wake starts there.
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT + 1_000, &mut held);
    let (outcome, log) = phone.wake(&push, "debug");
    eprintln!("next wake: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["chain_tip"]["status"], "Current", "{outcome}");
    assert_eq!(outcome["chain_tip"]["stored_height"], tip, "{outcome}");
    sender_succeeds(&phone, &id);

    // The app's next start: the payment is in its history, ldk-node syncs the chain from
    // where the wake left the channel manager, and the channel stays open.
    let app = Wallet::new(phone.config.clone(), MNEMONIC, None).unwrap();
    let page = app
        .list_payments_page(
            PaymentFilter {
                direction: Some(PaymentDirection::Inbound),
                ..PaymentFilter::default()
            },
            None,
            10,
        )
        .unwrap();
    assert!(
        page.payments
            .iter()
            .any(|p| p.amount_msat == Some(AMOUNT_MSAT) && p.status == PaymentStatus::Succeeded),
        "{page:?}"
    );
    let events = std::sync::Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    phone.rt.block_on(app.start()).unwrap();
    phone.rt.block_on(app.sync()).unwrap();
    wait_until("the app's listener has the wakes' payments", DEFAULT_WAIT, || {
        events.received_ids().len() >= 2
    });
    wait_until("the app's channel is usable again", DEFAULT_WAIT, || {
        app.balances().is_ok_and(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
    });
    let closed =
        events.events().iter().any(|e| matches!(e.kind, WalletEventKind::ChannelClosed { .. }));
    assert!(!closed, "a channel closed: {:?}", events.events());
    phone.rt.block_on(app.stop()).unwrap();
    eprintln!("whole stale-tip test {:?}", started.elapsed());
}

/// Launches `doze wake` for `push` with the wallet's chain source at `esplora` instead.
fn wake_with_chain_source(
    phone: &PhoneScene,
    push: &doze_testkit::ReceivedPush,
    esplora: &str,
) -> (serde_json::Value, String) {
    let mut config = phone.config.clone();
    config.chain_source = doze_core::ChainSource::Esplora { url: esplora.to_string() };
    let child = launch_wake(&phone.doze, &config, push, &[("DOZE_LOG", "debug")], Stdio::piped());
    outcome_and_log(child)
}

#[test]
fn a_wake_whose_chain_source_does_not_answer_is_paid_with_the_stored_tip() {
    let (phone, app) =
        PhoneScene::start(std::path::Path::new(env!("CARGO_BIN_EXE_doze")), Observers::new());
    let webhook = WebhookReceiver::start();
    let offer: Offer =
        go_offline_with_offer(&phone.scene, app, &webhook, &phone.rt).parse().unwrap();
    let (stored, _) = phone.devnet.tip();
    let tip = time_passes(&phone, ONE_DAY);
    let mut held = 0;

    // Refused: nothing listens there.
    let refused = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT, &mut held);
    let (outcome, log) = wake_with_chain_source(&phone, &push, &refused);
    eprintln!("wake, chain source refused: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_unreachable(&outcome, stored);
    assert!(log.contains("wake: the chain's tip is unknown ("), "{log}");
    sender_succeeds(&phone, &id);

    // Silent: it accepts the connection (the kernel does, into the listener's backlog) and
    // never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT + 1_000, &mut held);
    let (outcome, log) = wake_with_chain_source(&phone, &push, &silent_url);
    eprintln!("wake, chain source silent: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_unreachable(&outcome, stored);
    // The HTLC waited for the tip, and no longer than the wake's patience (2 s from its start).
    let waited = outcome["chain_tip"]["htlcs_waited_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(waited <= 2_000, "{outcome}");
    sender_succeeds(&phone, &id);
    drop(silent);

    // With its chain source back, the next wake catches up.
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT + 2_000, &mut held);
    let (outcome, log) = phone.wake(&push, "debug");
    eprintln!("wake, chain source back: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["chain_tip"]["status"], "Advanced", "{outcome}");
    assert_eq!(outcome["chain_tip"]["stored_height"], stored, "{outcome}");
    assert_eq!(outcome["chain_tip"]["tip_height"], tip, "{outcome}");
    sender_succeeds(&phone, &id);
}

/// The outcome of a wake that could not learn the tip: it went on from `stored`.
fn assert_unreachable(outcome: &serde_json::Value, stored: u32) {
    let chain_tip = &outcome["chain_tip"];
    assert_eq!(chain_tip["status"], "Unreachable", "{outcome}");
    assert_eq!(chain_tip["stored_height"], stored, "{outcome}");
    assert_eq!(chain_tip["tip_height"], serde_json::Value::Null, "{outcome}");
    assert_eq!(chain_tip["requests"], 1, "{outcome}");
    assert_eq!(outcome["timings_ms"]["chain_tip"], serde_json::Value::Null, "{outcome}");
}
