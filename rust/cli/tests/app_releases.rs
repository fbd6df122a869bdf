//! A release a killed wake kept is sent by the app, not only by the next wake. The sender pays
//! the offline phone's offer; the push launches a `doze wake` that dies right after keeping its
//! `release_held_htlc` in `doze.sqlite` and before the release leaves (`kill_points`'s
//! `release-kept`): the phone's LSP has handed the announcement over and will not again, and the
//! HTLC stays held at the sender's LSP. Then the user opens the app instead of waiting for
//! another push: the app's start sends the kept release, the payment arrives (event, history,
//! balance), the sender sees it succeed and no channel closes. The stop closes the connection
//! the app's node made to the payer's LSP for the release. After that clean stop nothing is
//! kept, and a second start sends nothing again.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use doze_core::kill_points::points;
use doze_core::{
    init_logging, LogEntry, LogLevel, LogListener, PaymentDirection, PaymentStatus, Wallet,
    WalletEventKind,
};
use doze_devnet::nodes::{wait_for_state, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::kills::{app_start_and_stop, kept_releases, poll_state, AppState};
use doze_testkit::lsp::is_connected;
use doze_testkit::{AsyncScene, PhoneScene, Recorder, MNEMONIC};
use ldk_node::payment::PaymentStatus as NodeStatus;

/// What the sender pays: within the phone channel's in-flight limit (10 % of 200 000 sat) and
/// above its reserve, so that the phone can spend some of it.
const AMOUNT_MSAT: u64 = 10_000_000;
/// What the phone cannot spend of what it holds: 1 % of the LSP's 200 000 sat channel.
const PHONE_RESERVE_SAT: u64 = 2_000;
/// What the app logs for each kept release it sends again (`wallet/releases.rs`).
const RESENT: &str = "sending again a release a killed wake kept";

/// Counts the app's log records that say it sent a kept release again. The app runs in this
/// process (the wake in its own): the count is the app's alone.
#[derive(Default)]
struct Resent(AtomicU64);

impl LogListener for Resent {
    fn log(&self, entry: LogEntry) {
        if entry.target.starts_with("doze_core") && entry.message.contains(RESENT) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Resent {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The succeeded inbound payments in the app's history, by amount.
fn received_amounts(app: &Wallet) -> Vec<u64> {
    let page = app
        .list_payments_page(
            doze_core::PaymentFilter {
                direction: Some(PaymentDirection::Inbound),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap_or_else(|e| panic!("the history reads: {e}"));
    page.payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .filter_map(|p| p.amount_msat)
        .collect()
}

#[test]
fn a_release_kept_by_a_killed_wake_is_sent_by_the_app() {
    let resent = Arc::new(Resent::default());
    assert!(init_logging(LogLevel::Info, resent.clone()), "the test's log listener");
    let doze = Path::new(env!("CARGO_BIN_EXE_doze"));
    let (phone, webhook, offer) = PhoneScene::start_offline(doze, Observers::new());
    let (scene, config, rt) = (&phone.scene, &phone.config, &phone.rt);
    let storage = Path::new(&config.storage_dir);
    let sender_status = |id| scene.sender.payment(id).map(|p| p.status);

    // The wake dies between keeping its release and sending it.
    let (id, push) = phone.pay_offer(&webhook, &offer, AMOUNT_MSAT, &mut 0);
    let env = [("DOZE_KILL_AT", points::RELEASE_KEPT), ("DOZE_LOG", "info")];
    let output = phone
        .launch(&push, &env, Stdio::piped())
        .wait_with_output()
        .unwrap_or_else(|e| panic!("the wake did not finish: {e}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        log.contains("the process dies here"),
        "the wake did not die keeping its release:\n{log}"
    );
    assert_eq!(kept_releases(storage), 1, "the wake kept its release before it died:\n{log}");
    assert_eq!(sender_status(&id), Some(NodeStatus::Pending), "the release never left");

    // The app starts instead of a wake.
    let app = Wallet::new(config.clone(), MNEMONIC, None)
        .unwrap_or_else(|e| panic!("the app's wallet builds: {e}"));
    let events = Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    rt.block_on(app.start()).unwrap_or_else(|e| panic!("the app starts: {e}"));
    let received = events.try_wait_for("the held payment", DEFAULT_WAIT, |e| match e.kind {
        WalletEventKind::PaymentReceived { amount_msat, .. } => amount_msat == AMOUNT_MSAT,
        _ => false,
    });
    let (state, status) = (AppState::of(&app, &events), sender_status(&id));
    received.unwrap_or_else(|e| panic!("{e}\nthe sender's payment: {status:?}; {state:?}"));
    let succeeded = wait_for_state(
        "the sender sees its payment end",
        DEFAULT_WAIT,
        || sender_status(&id),
        |s| *s != Some(NodeStatus::Pending),
    );
    assert_eq!(succeeded, Some(NodeStatus::Succeeded), "the sender's payment");
    // Settled: what arrived is spendable (beyond the reserve), and no close at any point.
    let spendable = AMOUNT_MSAT / 1000 - PHONE_RESERVE_SAT;
    let state = poll_state(
        DEFAULT_WAIT,
        || AppState::of(&app, &events),
        |s| {
            !s.closes.is_empty()
                || s.balances
                    .as_ref()
                    .is_ok_and(|b| b.lightning_spendable_sat == spendable && b.pending_sat == 0)
        },
    );
    assert!(state.closes.is_empty(), "a channel was closed: {state:?}");
    assert_eq!(
        state.balances.as_ref().map(|b| b.lightning_spendable_sat).ok(),
        Some(spendable),
        "the balance grew by what arrived: {state:?}"
    );
    assert_eq!(received_amounts(&app), vec![AMOUNT_MSAT], "the history has the payment once");
    assert_eq!(resent.count(), 1, "the app sent the kept release once");
    let phone_id = app
        .node_id()
        .ok()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the app has a node id"));
    // The release reached the payer's LSP over a connection the app's node made for it.
    assert!(is_connected(&scene.lsp_b.node(), phone_id), "the app is connected to the payer's LSP");
    rt.block_on(app.stop()).unwrap_or_else(|e| panic!("the app stops: {e}"));
    // No connection outlives the stop (with the runtime still up): the payer's LSP would refuse
    // a wake's connection from the same node id while it counts this one as open.
    AsyncScene::wait_until_offline_at(&scene.lsp_b, phone_id, DEFAULT_WAIT);
    drop(app);
    assert_eq!(kept_releases(storage), 0, "a clean stop after the release went out forgets it");

    // A second start after that clean stop sends nothing again.
    let state = app_start_and_stop(scene, config, rt);
    assert!(state.closes.is_empty(), "a channel was closed at the second start: {state:?}");
    assert_eq!(resent.count(), 1, "the second start sent no release");
    assert_eq!(kept_releases(storage), 0);
    let app = Wallet::new(config.clone(), MNEMONIC, None)
        .unwrap_or_else(|e| panic!("the app's wallet builds: {e}"));
    assert_eq!(received_amounts(&app), vec![AMOUNT_MSAT], "the history has the payment once");
}
