//! A wake killed at each of its own writes closes no channel. The wake engine persists in
//! rounds (take the deferred monitor updates, write the channel manager, write the updates);
//! each wake here pauses after writing the manager, so that the LSP's next message is handled
//! on another thread meanwhile (the race that force-closed channels: see
//! `doze-core/src/wake/engine/persist.rs`), and dies (`kill_points`) right after the `k`th round's
//! monitor writes, for every round a wake makes. Then the wake that writes the 100th update,
//! where LDK's persister writes the whole monitor, dies right after that write. After each
//! kill the app starts on the same store: no channel may be closed, and at the end the
//! phone's balance is exactly what the sender saw succeed. A last wake dies between its claim
//! of a payment and its record of it: the history still gets the payment.

use std::process::Stdio;
use std::time::{Duration, Instant};

use doze_core::kill_points::points;
use doze_core::{BackupConfig, PaymentDirection, PaymentStatus, Wallet, WalletConfig};
use doze_devnet::nodes::DEFAULT_WAIT;
use doze_lsp::Observers;
use doze_testkit::backup_server::BackupServer;
use doze_testkit::kills::{
    app_start_and_stop_once, backup_request_unsettled, newest_monitor_update_id, poll_state,
    AppState,
};
use doze_testkit::{PhoneScene, ReceivedPush, Recorder, MNEMONIC};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::payment::{PaymentKind, PaymentStatus as NodeStatus};

/// Rounds of monitor writes to kill after, one wake each: more than a wake makes (receiving
/// one payment takes four or five), so the last kills find the wake already ended.
const ROUNDS: usize = 5;
/// How long each wake pauses after writing the manager.
const PAUSE: &str = "manager-written:150";
/// What the phone cannot spend of what it holds: 1 % of the LSP's 200 000 sat channel.
const PHONE_RESERVE_SAT: u64 = 2_000;
/// LDK's persister writes the whole monitor at every multiple of this update id.
const CONSOLIDATION: u64 = 100;

/// Launches a wake for `push` that pauses after each manager write and dies at `kill_at`;
/// whether it died there, and its log.
fn wake_killed_at(phone: &PhoneScene, push: &ReceivedPush, kill_at: &str) -> (bool, String) {
    let env = [("DOZE_KILL_AT", kill_at), ("DOZE_PAUSE_AT", PAUSE), ("DOZE_LOG", "info")];
    let output = phone
        .launch(push, &env, Stdio::piped())
        .wait_with_output()
        .unwrap_or_else(|e| panic!("the wake did not finish: {e}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    let died = log.contains("the process dies here");
    assert!(died || output.status.success(), "the wake failed: {:?}\n{log}", output.status);
    (died, log)
}

/// How long the app, started after a kill, waits for the killed wake's payment to end. An
/// online phone ends one in seconds (a release the killed wake kept, the app's start sends); a
/// payment whose held HTLC the killed wake neither released nor kept stays held at the payer's
/// LSP until it times out, and waiting longer for it would only spend the test's time.
const PAYMENT_END_WAIT: Duration = Duration::from_secs(20);

/// The sender's word on `id` now.
fn sender_status(phone: &PhoneScene, id: &PaymentId) -> Option<NodeStatus> {
    phone.scene.sender.payment(id).map(|p| p.status)
}

/// Starts the app after a kill and keeps it running until what the killed wake was receiving,
/// `id`, has ended at its sender, or for [`PAYMENT_END_WAIT`] (see `app_start_and_stop_once`).
fn app_start_and_stop_after(phone: &PhoneScene, id: &PaymentId) -> AppState {
    let give_up = Instant::now() + PAYMENT_END_WAIT;
    let ended =
        || Instant::now() >= give_up || sender_status(phone, id) != Some(NodeStatus::Pending);
    app_start_and_stop_once(&phone.scene, &phone.config, &phone.rt, ended)
}

/// The sender's final word on `id` (a killed wake's payment may take a while to end).
fn final_status(phone: &PhoneScene, id: &PaymentId) -> Option<NodeStatus> {
    poll_state(DEFAULT_WAIT, || sender_status(phone, id), |s| *s != Some(NodeStatus::Pending))
}

/// What of `payments` the sender saw succeed, once each has ended or [`DEFAULT_WAIT`] has
/// passed for them all (a payment still held at the payer's LSP stays pending).
fn succeeded_msat(phone: &PhoneScene, payments: &[(PaymentId, u64)]) -> u64 {
    let statuses = poll_state(
        DEFAULT_WAIT,
        || payments.iter().map(|(id, _)| sender_status(phone, id)).collect::<Vec<_>>(),
        |all| all.iter().all(|s| *s != Some(NodeStatus::Pending)),
    );
    payments
        .iter()
        .zip(statuses)
        .filter(|(_, status)| *status == Some(NodeStatus::Succeeded))
        .map(|((_, amount), _)| amount)
        .sum()
}

fn assert_no_close(state: &AppState, what: &str, log: &str) {
    assert!(state.closes.is_empty(), "{what}: a channel was closed: {state:?}\n{log}");
}

/// Starts the app with `config` and checks, once its channel settled, that no channel was
/// closed and that it can spend exactly what the sender saw succeed of `payments`.
fn assert_holds_what_succeeded(
    phone: &PhoneScene,
    config: WalletConfig,
    payments: &[(PaymentId, u64)],
    what: &str,
) {
    let succeeded = succeeded_msat(phone, payments);
    let rt = &phone.rt;
    let app = Wallet::new(config, MNEMONIC, None).unwrap_or_else(|e| panic!("{e}"));
    let events = std::sync::Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    rt.block_on(app.start()).unwrap_or_else(|e| panic!("the app starts ({what}): {e}"));
    // Settled, and nothing claimed still in flight: a claim whose commitment dance is not done
    // is in `lightning_sat` but not yet spendable.
    let all_spendable = |s: &AppState| {
        s.settled()
            && s.balances
                .as_ref()
                .is_ok_and(|b| b.lightning_sat == b.lightning_spendable_sat + PHONE_RESERVE_SAT)
    };
    let state = poll_state(
        DEFAULT_WAIT,
        || AppState::of(&app, &events),
        |s| all_spendable(s) || !s.closes.is_empty(),
    );
    assert_no_close(&state, what, "");
    assert_eq!(
        state.balances.as_ref().map(|b| b.lightning_spendable_sat).ok(),
        Some(succeeded / 1000 - PHONE_RESERVE_SAT),
        "{what}: no sat lost or counted twice ({} payments)",
        payments.len()
    );
    rt.block_on(app.stop()).unwrap_or_else(|e| panic!("the app stops: {e}"));
}

#[test]
fn a_wake_killed_after_any_of_its_writes_closes_no_channel() {
    let doze = std::path::Path::new(env!("CARGO_BIN_EXE_doze"));
    let (phone, webhook, offer) = PhoneScene::start_offline(doze, Observers::new());
    let config = &phone.config;
    let mut held = 0;
    let mut payments = Vec::new();
    let mut kills = 0;

    for k in 1..=ROUNDS {
        let amount = 1_000_000 + k as u64 * 10_000;
        let (id, push) = phone.pay_offer(&webhook, &offer, amount, &mut held);
        let kill_at = format!("{}:{k}", points::MONITORS_WRITTEN);
        let (died, log) = wake_killed_at(&phone, &push, &kill_at);
        kills += usize::from(died);
        let state = app_start_and_stop_after(&phone, &id);
        assert_no_close(&state, &format!("killed after round {k} ({died})"), &log);
        eprintln!("round {k}: died {died}, the payment {:?}", sender_status(&phone, &id));
        payments.push((id, amount));
    }
    assert!(kills >= 3, "the wakes died at {kills} of {ROUNDS} rounds: a wake writes in rounds");

    // Wakes that die right after writing a whole monitor, if they write one: the update ids
    // climb about six a payment, and most of a payment's updates are the wake's (the app's
    // start may write the 100th instead: then the next hundred).
    let storage = std::path::Path::new(&config.storage_dir);
    let newest = || newest_monitor_update_id(storage).unwrap_or(0);
    let give_up_at = (newest() / CONSOLIDATION + 3) * CONSOLIDATION;
    loop {
        let before = newest();
        assert!(before < give_up_at, "no wake wrote a whole monitor up to update {before}");
        let amount = 1_500_000 + payments.len() as u64 * 1_000;
        let (id, push) = phone.pay_offer(&webhook, &offer, amount, &mut held);
        let (died, log) = wake_killed_at(&phone, &push, points::WHOLE_MONITOR_WRITTEN);
        let state = app_start_and_stop_after(&phone, &id);
        assert_no_close(&state, &format!("from update {before} ({died})"), &log);
        payments.push((id, amount));
        if died {
            eprintln!("killed after writing a whole monitor, from update {before}: {:?}", {
                sender_status(&phone, &id)
            });
            break;
        }
    }

    // What the sender saw succeed is what the phone holds, and no close at any start.
    assert_holds_what_succeeded(&phone, config.clone(), &payments, "at the end");
    eprintln!(
        "{kills} kills after rounds, 1 after a whole-monitor write, {} payments",
        payments.len()
    );
}

/// The same with the wallet backed up: a round's writes go to the server in one request and
/// are then applied to the phone's copy in order, so a kill can also leave the server ahead of
/// the phone (the manager applied, the round's monitor updates not yet). Wakes die after each
/// round and part-way through applying a round locally; after each kill the app starts with no
/// channel closed, and at the end a restore from the backup alone holds exactly what the sender
/// saw succeed.
#[test]
fn a_backed_up_wake_killed_after_a_round_or_while_applying_one_closes_no_channel() {
    let doze = std::path::Path::new(env!("CARGO_BIN_EXE_doze"));
    let server = BackupServer::start();
    let backup = BackupConfig { url: server.url() };
    let (phone, webhook, offer) =
        PhoneScene::start_offline_with_backup(doze, Observers::new(), Some(backup.clone()));
    let config = &phone.config;
    let mut held = 0;
    let mut payments = Vec::new();
    let mut kills = 0;
    let kill_points = (1..=ROUNDS)
        .map(|k| format!("{}:{k}", points::MONITORS_WRITTEN))
        .chain((1..=3).map(|k| format!("{}:{k}", points::BACKUP_PART_APPLIED)));
    for (n, kill_at) in kill_points.enumerate() {
        let amount = 1_000_000 + n as u64 * 10_000;
        let (id, push) = phone.pay_offer(&webhook, &offer, amount, &mut held);
        let (died, log) = wake_killed_at(&phone, &push, &kill_at);
        kills += usize::from(died);
        if died && kill_at.starts_with(points::BACKUP_PART_APPLIED) {
            // The server is ahead of the phone by the round; the phone's record of it is what
            // the app's start applies before LDK reads the store.
            let storage = std::path::Path::new(&config.storage_dir);
            assert!(backup_request_unsettled(storage), "killed at {kill_at}: no record\n{log}");
        }
        let state = app_start_and_stop_after(&phone, &id);
        assert_no_close(&state, &format!("killed at {kill_at} ({died})"), &log);
        eprintln!("{kill_at}: died {died}, the payment {:?}", sender_status(&phone, &id));
        payments.push((id, amount));
    }
    assert!(kills >= 6, "the wakes died at {kills} of {} points", ROUNDS + 3);

    // A new phone restored from the backup holds what the sender saw succeed.
    let restored_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a directory: {e}"));
    let restored = WalletConfig {
        storage_dir: restored_dir.path().display().to_string(),
        backup: Some(backup),
        ..config.clone()
    };
    assert_holds_what_succeeded(&phone, restored, &payments, "restored from the backup");
}

/// A wake killed after its claim of a payment completed and before it recorded the payment:
/// the payer's payment succeeds, and the app's next start records it (LDK replays the claim
/// and Doze's ldk-node patch records a claim it had no record of), so the history has it,
/// once, as received.
#[test]
fn a_wake_killed_between_its_claim_and_its_record_leaves_the_payment_in_the_history() {
    let doze = std::path::Path::new(env!("CARGO_BIN_EXE_doze"));
    let (phone, webhook, offer) = PhoneScene::start_offline(doze, Observers::new());
    let (scene, config) = (&phone.scene, &phone.config);
    let amount_msat = 1_200_000;
    let (id, push) = phone.pay_offer(&webhook, &offer, amount_msat, &mut 0);
    let (died, log) = wake_killed_at(&phone, &push, points::CLAIM_UNRECORDED);
    assert!(died, "the wake did not reach its claim's record:\n{log}");
    let state = app_start_and_stop_after(&phone, &id);
    assert_no_close(&state, "after the kill", &log);
    assert_eq!(final_status(&phone, &id), Some(NodeStatus::Succeeded));

    let hash = match scene.sender.payment(&id).map(|p| p.kind) {
        Some(PaymentKind::Bolt12Offer { hash: Some(hash), .. }) => hash.to_string(),
        other => panic!("the sender's payment has no hash: {other:?}"),
    };
    let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap_or_else(|e| panic!("{e}"));
    let history = app.list_payments().unwrap_or_else(|e| panic!("the history reads: {e}"));
    let received: Vec<_> =
        history.iter().filter(|p| p.payment_hash.as_deref() == Some(hash.as_str())).collect();
    assert_eq!(received.len(), 1, "the payment is in the history once: {history:?}");
    assert_eq!(received[0].status, PaymentStatus::Succeeded, "{:?}", received[0]);
    assert_eq!(received[0].direction, PaymentDirection::Inbound);
    assert_eq!(received[0].amount_msat, Some(amount_msat));
}
