//! The heart of Doze, end to end: a phone registers and gets an offer, then its process is
//! gone. A sender behind its own LSP pays the offer; the phone's LSP pushes to a webhook, whose
//! receiver launches a fresh `doze wake` process (the notification extension's stand-in) with
//! the push. The wake engine sends the release to the sender's LSP at its address from the
//! app's address book (not a peer of the phone's); with the address unknown, through the
//! phone's LSP. Both payments are received, the sender sees success, and the app, started on
//! the same store, shows them in its history and gives its listener each event exactly once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use doze_core::{PaymentDirection, PaymentFilter, PaymentStatus, Wallet};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Observers;
use doze_testkit::phone::{
    forget_addresses, go_offline_with_offer, launch_wake, outcome_and_log, start_app,
};
use doze_testkit::{runtime, Recorder, MNEMONIC};
use doze_testkit::{AsyncScene, WebhookReceiver};
use ldk_node::Event;

const AMOUNT_MSAT: u64 = 21_000_000;
const SECOND_MSAT: u64 = 8_000_000;

#[test]
fn an_offline_phone_is_pushed_awake_by_a_fresh_process_and_paid() {
    let started = Instant::now();
    let devnet = Devnet::start().unwrap();
    // LSP-A's interception records: the wake is launched once the sender's held_htlc_available
    // is in the mailbox (see the note at the push below).
    let interceptions = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&interceptions);
    let observers = Observers::new().on_log(move |record| {
        if record.module_path.contains("onion_message") {
            let text = record.args.to_string();
            if text.contains("OnionMessageIntercepted") {
                seen.lock().unwrap().push(text);
            }
        }
    });
    // One push per interception: this test pays twice within a minute.
    let scene = AsyncScene::start(&devnet, observers, |c| c.push.min_interval_secs = 0);
    let dir = tempfile::tempdir().unwrap();
    let config = scene.phone_config(&devnet, dir.path());

    // The app: a channel from its LSP, the gossip to reach the sender's LSP, a push
    // registration and an offer to show as a QR code; then its process is gone.
    let rt = runtime();
    let app = start_app(&devnet, &scene, &config, &rt);
    let webhook = WebhookReceiver::start();
    let offer = go_offline_with_offer(&scene, app, &webhook, &rt);
    eprintln!("phone offline with its offer after {:?}", started.elapsed());

    // The sender pays the offer while the phone is offline.
    let offer: ldk_node::lightning::offers::offer::Offer = offer.parse().unwrap();
    let paid_at = Instant::now();
    let payment_id = scene
        .sender
        .bolt12_payment()
        .send_using_amount(&offer, AMOUNT_MSAT, None, None, None)
        .unwrap();

    // The LSP pushes; the webhook's receiver launches the extension stand-in.
    let push = webhook.wait_for(1, Duration::from_secs(60)).remove(0);
    eprintln!("push after {:?}", paid_at.elapsed());
    // The push goes out on the first interception, which can be the sender's invoice_request
    // that LSP-A forwards "in case the phone is online"; a phone would take longer than that to
    // start. A wake that starts within milliseconds can release before LSP-B holds the HTLC,
    // and that release is lost (README, known limits). Launch once LSP-A holds the sender's
    // held_htlc_available, as a real phone's start-up latency would.
    let from_sender =
        format!("when forwarding peeled onion message from {}", scene.sender.node_id());
    wait_until("LSP-A holds the sender's held_htlc_available", DEFAULT_WAIT, || {
        interceptions.lock().unwrap().iter().any(|t| t.ends_with(&from_sender))
    });
    // LDK 0.2.7 drops a release that reaches LSP-B before the sender's final revoke_and_ack.
    scene.wait_for_held_htlcs_at_lsp_b(1, DEFAULT_WAIT);
    let launched = Instant::now();
    let (outcome, log) = wake(&config, &push);
    let wake_took = launched.elapsed();
    eprintln!("wake process took {wake_took:?}: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["payments"][0]["amount_msat"], AMOUNT_MSAT);
    assert_eq!(outcome["notification_text"], "Received 21,000 sats");
    // The release went to the sender's LSP directly, at its address from the address book.
    let lsp_b = scene.lsp_b.node_id().to_string();
    assert!(
        log.contains(&format!(
            "wake: onion message to {lsp_b} at its address from the address book"
        )),
        "{log}"
    );

    let sent = expect_event(&scene.sender, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id),
        "{sent:?}"
    );

    // The same push again is refused by a fresh process (replay), exit status 3.
    let replay = launch_wake(
        std::path::Path::new(env!("CARGO_BIN_EXE_doze")),
        &config,
        &push,
        &[],
        Stdio::null(),
    );
    let output = replay.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "a replayed push is refused");

    // Second payment, with the sender's LSP unknown to the address book: the release goes
    // through the phone's LSP, which is connected to the sender's.
    forget_addresses(&config);
    let second_id = scene
        .sender
        .bolt12_payment()
        .send_using_amount(&offer, SECOND_MSAT, None, None, None)
        .unwrap();
    let push = webhook.wait_for(2, Duration::from_secs(60)).pop().unwrap();
    scene.wait_for_held_htlcs_at_lsp_b(2, DEFAULT_WAIT);
    let (outcome, log) = wake(&config, &push);
    eprintln!("second wake: {outcome}");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["payments"][0]["amount_msat"], SECOND_MSAT);
    assert!(
        log.contains(&format!("wake: onion message to {lsp_b} forwarded through the LSP")),
        "{log}"
    );
    assert!(!log.contains(&format!("wake: onion message to {lsp_b} at its address")), "{log}");
    let sent = expect_event(&scene.sender, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == second_id),
        "{sent:?}"
    );

    // The app, next time it opens: the history shows both before the node starts, its
    // listener gets each payment's event once, and a second start gives them no more.
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
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
    assert!(page.payments.iter().any(|p| p.amount_msat == Some(AMOUNT_MSAT)), "{page:?}");
    assert!(page.payments.iter().any(|p| p.amount_msat == Some(SECOND_MSAT)), "{page:?}");
    let events = std::sync::Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    rt.block_on(app.start()).unwrap();
    wait_until("the app's listener has both payments", DEFAULT_WAIT, || {
        events.received_ids().len() >= 2
    });
    // Spendable: the payments less the 1 % channel reserve of the 200 000 sat channel.
    assert!(
        app.balances().unwrap().lightning_spendable_sat
            >= (AMOUNT_MSAT + SECOND_MSAT) / 1000 - 2_000
    );
    // ldk-node knows them as received (it would refuse a second payment to the same hash).
    let node_payments = app.list_payments().unwrap();
    let received: Vec<_> = node_payments
        .iter()
        .filter(|p| {
            p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
        })
        .collect();
    assert_eq!(received.len(), 2, "{node_payments:?}");
    rt.block_on(app.stop()).unwrap();
    drop(app);
    let app = Wallet::new(config, MNEMONIC, None).unwrap();
    let again = std::sync::Arc::new(Recorder::default());
    app.set_event_listener(again.clone());
    rt.block_on(app.start()).unwrap();
    rt.block_on(app.sync()).unwrap();
    assert!(again.received_ids().is_empty(), "delivered twice: {:?}", again.received_ids());
    let mut ids = events.received_ids();
    ids.dedup();
    assert_eq!(ids.len(), 2, "each once: {:?}", events.received_ids());
    rt.block_on(app.stop()).unwrap();
    eprintln!("whole offline-receive test {:?}", started.elapsed());
}

/// Runs `doze wake` (the extension's stand-in) for `push`, with debug logs: its outcome and log.
fn wake(
    config: &doze_core::WalletConfig,
    push: &doze_testkit::ReceivedPush,
) -> (serde_json::Value, String) {
    let child = launch_wake(
        std::path::Path::new(env!("CARGO_BIN_EXE_doze")),
        config,
        push,
        &[("DOZE_LOG", "debug")],
        Stdio::piped(),
    );
    outcome_and_log(child)
}
