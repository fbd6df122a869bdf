//! THE PIN TEST: with real nodes on the devnet, an async payment to an offline phone makes
//! LSP-A's onion messenger log the interception record that the LSP's push dispatch listens
//! for (ldk-node 0.7.1 has no event for it), and thus a signed bLIP-55 push to the phone's
//! webhook. If a dependency upgrade changes or drops that record, this test fails here.
//!
//! It then goes on: the phone comes back, the held HTLC is released and the payment completes.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::init_logs;
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::push::intercept::{peer_in, INTERCEPT_MODULE_SUFFIX, INTERCEPT_PREFIX};
use doze_lsp::push::PushTarget;
use doze_lsp::Observers;
use doze_testkit::lsp::is_connected;
use doze_testkit::{AsyncScene, WebhookReceiver};
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
use ldk_node::Event;

const AMOUNT_MSAT: u64 = 20_000_000;

#[test]
fn pin_an_offline_async_recipient_makes_the_lsp_log_the_interception_and_push() {
    init_logs();
    let started = Instant::now();
    let devnet = Devnet::start().expect("devnet");

    // Every record of LSP-A's onion messenger that mentions an interception, as written.
    let (records_tx, records) = mpsc::channel::<(String, String)>();
    let observers = Observers::new().on_log(move |record| {
        if record.module_path.contains("onion_message") {
            let text = record.args.to_string();
            if text.contains("Intercepted") {
                let _ = records_tx.send((record.module_path.to_string(), text));
            }
        }
    });
    let scene = AsyncScene::start(&devnet, observers, |_| {});
    eprintln!("scene (LSP-A, LSP-B, sender, gossip) ready after {:?}", started.elapsed());
    let phone = scene.start_phone(&devnet, "phone");
    eprintln!("phone with a channel and gossip after {:?}", started.elapsed());

    let webhook = WebhookReceiver::start();
    let offer = scene.set_up_async_receive(
        &phone,
        PushTarget::webhook(webhook.url()),
        Duration::from_secs(120),
    );
    eprintln!("async offer {offer} after {:?}", started.elapsed());

    // The phone goes offline; LSP-A must notice before the payment, or it would forward.
    let phone_id = phone.node_id();
    phone.stop().expect("the phone stops");
    AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
    assert!(webhook.received().is_empty(), "no push before the payment");

    let paid_at = Instant::now();
    let payment_id = scene
        .sender
        .bolt12_payment()
        .send_using_amount(&offer, AMOUNT_MSAT, None, None, None)
        .expect("the sender pays the async offer");

    // The pinned record: module path and text prefix, naming the phone.
    let deadline = paid_at + Duration::from_secs(60);
    let (module, text) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (module, text) = records.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "LSP-A logged no onion-message interception for the offline phone within 60 s: \
                 the record `{INTERCEPT_PREFIX}<peer>` in `*{INTERCEPT_MODULE_SUFFIX}` \
                 may have changed (push stats {:?})",
                scene.lsp_a.push_stats()
            )
        });
        if peer_in(&text) == Some(phone_id) {
            break (module, text);
        }
        eprintln!("other interception record: [{module}] {text}");
    };
    eprintln!("LSP-A logged [{module}] {text:?} {:?} after paying", paid_at.elapsed());
    assert!(module.ends_with(INTERCEPT_MODULE_SUFFIX), "{module}");
    assert!(text.starts_with(INTERCEPT_PREFIX), "{text}");

    // ... and the LSP pushed, signed the LSPS5 way with its node key.
    let pushes = webhook.wait_for(1, Duration::from_secs(30));
    eprintln!("push received {:?} after paying", paid_at.elapsed());
    let notification = pushes[0]
        .validate(scene.lsp_a.node_id(), &LSPS5Validator::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(notification, WebhookNotification::onion_message_incoming());
    wait_until("LSP-A counts the delivery", DEFAULT_WAIT, || {
        scene.lsp_a.push_stats().delivered == 1
    });

    // The first interception is usually LSP-A forwarding the sender's invoice_request to the
    // phone "in case it is online" (LDK's respond_to_static_invoice_request), which LSP-A has
    // already answered with the static invoice: it pushes nothing for that one. The push comes
    // with the sender's held_htlc_available, sent once its HTLC is locked in at LSP-B, which
    // LSP-A peels and intercepts in turn.
    let sender_id = scene.sender.node_id();
    let held_suffix = format!("when forwarding peeled onion message from {sender_id}");
    let mut seen = vec![text.clone()];
    while !seen.iter().any(|t| t.ends_with(&held_suffix)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, text) = records.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "LSP-A never intercepted the sender's held_htlc_available for the phone; \
                 records: {seen:#?}"
            )
        });
        if peer_in(&text) == Some(phone_id) {
            seen.push(text);
        }
    }
    eprintln!(
        "held_htlc_available intercepted {:?} after paying; interception records: {seen:#?}",
        paid_at.elapsed()
    );
    let stats = scene.lsp_a.push_stats();
    assert_eq!(
        stats.delivered, 1,
        "one push per minute at most, however many messages wait: {stats:?}"
    );
    assert_eq!(webhook.requests(), 1);

    // LDK drops a release_held_htlc that reaches LSP-B before the HTLC is held there (see
    // AsyncScene::wait_for_held_htlcs_at_lsp_b); a real wake takes far longer than this.
    scene.wait_for_held_htlcs_at_lsp_b(1, DEFAULT_WAIT);
    eprintln!("LSP-B holds the HTLC {:?} after paying", paid_at.elapsed());

    // The phone wakes: it reconnects, LSP-A flushes its mailbox, the phone releases the HTLC
    // held at LSP-B, and claims it.
    let woke_at = Instant::now();
    phone.start().expect("the phone starts again");
    let received =
        expect_event(&phone, DEFAULT_WAIT, |e| matches!(e, Event::PaymentReceived { .. }));
    eprintln!("phone: {received:?} {:?} after starting", woke_at.elapsed());
    assert!(
        matches!(received, Event::PaymentReceived { amount_msat: AMOUNT_MSAT, .. }),
        "{received:?}"
    );
    let sent = expect_event(&scene.sender, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id),
        "{sent:?}"
    );
    eprintln!("sender: payment successful {:?} after the phone started", woke_at.elapsed());
    assert!(is_connected(&phone, scene.lsp_a.node_id()));
    let stats = scene.lsp_a.push_stats();
    eprintln!(
        "LSP-A push stats {stats:?}; further interception records: {:?}",
        records.try_iter().collect::<Vec<_>>()
    );

    phone.stop().expect("phone stops");
    eprintln!("whole pin test {:?}", started.elapsed());
}
