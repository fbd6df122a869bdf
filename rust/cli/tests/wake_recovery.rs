//! A wake killed at any point loses nothing. Twenty times: the sender pays the phone's offer,
//! the push launches a fresh `doze wake` process, and the test kills it (SIGKILL, as iOS kills
//! an extension that overruns) at a point spread over a wake's run, from before the store is
//! open to after the claim; then the app starts on the same store and stops, the sender pays
//! again and an unkilled wake receives it. Every payment the sender sees succeed is in the
//! phone's history and ldk-node's records once, one that did not (failed back, or still held
//! at the sender's LSP) is in neither, no channel is closed, and the phone's balance grew by
//! exactly what it received. The test prints how the killed wakes' payments ended.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_core::{PaymentDirection, PaymentStatus, Wallet, WalletEventKind};
use doze_devnet::nodes::{wait_for_state, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::kills::{app_start_and_stop, poll_state, AppState};
use doze_testkit::phone::go_offline_with_offer;
use doze_testkit::WebhookReceiver;
use doze_testkit::{PhoneScene, Recorder, MNEMONIC};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::payment::PaymentStatus as NodeStatus;

const KILLS: u64 = 20;
/// How long after the next wake a killed wake's payment may take to end before the test counts
/// it as held at the sender's LSP.
const STRANDED_AFTER: Duration = Duration::from_secs(5);
/// What the phone cannot spend of what it holds: 1 % of the LSP's 200 000 sat channel.
const PHONE_RESERVE_SAT: u64 = 2_000;

#[test]
fn a_wake_killed_at_twenty_points_loses_nothing() {
    let started = Instant::now();
    let (phone, app) =
        PhoneScene::start(std::path::Path::new(env!("CARGO_BIN_EXE_doze")), Observers::new());
    let (scene, config, rt) = (&phone.scene, &phone.config, &phone.rt);
    assert_eq!(
        app.balances().unwrap().lightning_spendable_sat,
        0,
        "the LSP opened the channel with nothing on our side"
    );
    let webhook = WebhookReceiver::start();
    let offer: Offer = go_offline_with_offer(scene, app, &webhook, rt).parse().unwrap();
    let mut held = 0;

    // An unkilled wake first: how long a whole wake takes here, to spread the kills over.
    let (first, push) = phone.pay_offer(&webhook, &offer, 1_500_000, &mut held);
    let launched = Instant::now();
    let (outcome, log) = phone.wake(&push, "info");
    // The wake's own run (the process can take longer to start and exit on a loaded machine).
    let whole = launched
        .elapsed()
        .min(Duration::from_millis(outcome["timings_ms"]["total"].as_u64().unwrap_or(300) + 30));
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    eprintln!("an unkilled wake takes {whole:?}: {outcome}");
    let mut payments = vec![(first, 1_500_000)];

    for i in 0..KILLS {
        let kill_after = whole.mul_f64((i as f64 + 0.5) / KILLS as f64);
        let killed_amount = 1_000_000 + i * 10_000;
        let (killed_id, push) = phone.pay_offer(&webhook, &offer, killed_amount, &mut held);
        let mut wake = phone.launch(&push, &[], Stdio::null());
        std::thread::sleep(kill_after);
        let exited_by_itself = wake.try_wait().unwrap().is_some();
        wake.kill().unwrap();
        let _ = wake.wait();
        let state = app_start_and_stop(scene, config, rt);
        assert!(state.closes.is_empty(), "after kill {i} at {kill_after:?}: {state:?}");

        let next_amount = 2_000_000 + i * 10_000;
        let (next_id, push) = phone.pay_offer(&webhook, &offer, next_amount, &mut held);
        let (outcome, log) = phone.wake(&push, "info");
        for line in log.lines().filter(|l| l.contains("doze_core")) {
            eprintln!("    {line}");
        }
        assert!(
            matches!(outcome["ended"].as_str(), Some("Paid" | "NothingPending")),
            "after a kill at {kill_after:?}: {outcome}\n{log}"
        );
        assert!(
            !log.contains("force-clos") && !log.contains("ChannelClosed"),
            "a channel was closed:\n{log}"
        );
        let status = |id: &PaymentId| scene.sender.payment(id).map(|p| p.status);
        let what = format!(
            "kill {i} at {kill_after:?}{}",
            if exited_by_itself { " (after it ended)" } else { "" }
        );
        // The unkilled wake's own payment can fail back too: an HTLC released earlier (by the
        // killed wake, or by the app's node before it stopped) can arrive first and stand for
        // the one this wake released (README, known limits).
        let next = wait_for_state(
            &format!("{what}: the unkilled wake's payment ends"),
            DEFAULT_WAIT,
            || status(&next_id),
            |s| matches!(s, Some(NodeStatus::Succeeded) | Some(NodeStatus::Failed)),
        );
        let killed =
            poll_state(STRANDED_AFTER, || status(&killed_id), |s| *s != Some(NodeStatus::Pending));
        eprintln!("{what}: the killed wake's payment {killed:?}, the next wake's {next:?}");
        payments.push((killed_id, killed_amount));
        payments.push((next_id, next_amount));
    }

    // What became of the killed wakes' payments: succeeded (received, once), failed back to the
    // sender (the HTLC was released but could not reach the phone), or still held at the
    // sender's LSP (the LSP handed the announcement over just before the kill and the wake had
    // not kept its release yet: it waits there until it times out, hours later).
    let statuses: Vec<_> =
        payments.iter().map(|(id, _)| scene.sender.payment(id).map(|p| p.status)).collect();
    let count = |wanted: NodeStatus| statuses.iter().filter(|s| **s == Some(wanted)).count();
    eprintln!(
        "of {} payments ({KILLS} to killed wakes): {} succeeded, {} failed back, \
         {} held at the sender's LSP",
        payments.len(),
        count(NodeStatus::Succeeded),
        count(NodeStatus::Failed),
        count(NodeStatus::Pending)
    );
    let mut expected: Vec<u64> = payments
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == Some(NodeStatus::Succeeded))
        .map(|((_, amount), _)| *amount)
        .collect();
    expected.sort_unstable();

    // The app: every succeeded payment once, in its history and in ldk-node's records, the
    // balance up by exactly their sum, and no channel closed.
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
    let events = Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    rt.block_on(app.start()).unwrap();
    let _ = wait_for_state(
        "the channel is settled",
        DEFAULT_WAIT,
        || AppState::of(&app, &events),
        AppState::settled,
    );
    let received: Vec<_> = app
        .list_payments()
        .unwrap()
        .into_iter()
        .filter(|p| {
            p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
        })
        .collect();
    let mut amounts: Vec<u64> = received.iter().filter_map(|p| p.amount_msat).collect();
    amounts.sort_unstable();
    assert_eq!(amounts, expected, "each payment received once");
    let total_sat: u64 = expected.iter().sum::<u64>() / 1000;
    assert_eq!(
        app.balances().unwrap().lightning_spendable_sat,
        total_sat - PHONE_RESERVE_SAT,
        "no sat lost or counted twice"
    );
    let history = app
        .list_payments_page(
            doze_core::PaymentFilter {
                direction: Some(PaymentDirection::Inbound),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap();
    let mut history_amounts: Vec<u64> = history
        .payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .filter_map(|p| p.amount_msat)
        .collect();
    history_amounts.sort_unstable();
    assert_eq!(history_amounts, expected, "the history has each payment once");
    let closed: Vec<_> = events
        .events()
        .iter()
        .filter(|e| matches!(e.kind, WalletEventKind::ChannelClosed { .. }))
        .cloned()
        .collect();
    assert!(closed.is_empty(), "no channel closed: {closed:?}");
    rt.block_on(app.stop()).unwrap();
    eprintln!("{KILLS} kills in {:?}", started.elapsed());
}
