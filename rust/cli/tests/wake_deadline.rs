//! A wake that is announced a held HTLC too close to its deadline keeps the release for the
//! next wake rather than sending it: released, the HTLC would reach the phone's LSP after the
//! wake ended, and the LSP would fail it back to the payer (it cannot forward to an offline
//! peer). Kept, the HTLC stays held at the payer's LSP; the next wake (the next push) sends
//! the release and both payments arrive.

use std::process::{Command, Stdio};
use std::time::Duration;

use doze_devnet::nodes::{wait_for_state, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::phone::{outcome_and_log, wake_args};
use doze_testkit::{PhoneScene, MNEMONIC};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::payment::PaymentStatus as NodeStatus;

/// Shorter than the wake engine's release margin (3 s): every announcement is too late.
const SHORT_DEADLINE: Duration = Duration::from_millis(2_000);

#[test]
fn a_held_htlc_announced_near_the_deadline_is_released_by_the_next_wake() {
    let doze = std::path::Path::new(env!("CARGO_BIN_EXE_doze"));
    let (phone, webhook, offer) = PhoneScene::start_offline(doze, Observers::new());
    let mut held = 0;

    let (first, push) = phone.pay_offer(&webhook, &offer, 3_000_000, &mut held);
    let mut child = Command::new(&phone.doze)
        .arg("wake")
        .args(wake_args(&phone.config, SHORT_DEADLINE, &push))
        .env("DOZE_MNEMONIC", MNEMONIC)
        .env("DOZE_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot launch the wake: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, push.body.as_bytes())
            .unwrap_or_else(|e| panic!("the push: {e}"));
    }
    let (outcome, log) = outcome_and_log(child);
    assert_ne!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert!(log.contains("kept for the next wake"), "the release was kept:\n{log}");
    // Still held at the payer's LSP, not failed back.
    let status = |id: &PaymentId| phone.scene.sender.payment(id).map(|p| p.status);
    assert_eq!(status(&first), Some(NodeStatus::Pending), "{log}");

    // The next push: that wake sends the kept release and its own.
    let (second, push) = phone.pay_offer(&webhook, &offer, 4_000_000, &mut held);
    let (outcome, log) = phone.wake(&push, "info");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    for id in &[first, second] {
        let ended = wait_for_state(
            "the payer's payment ends",
            DEFAULT_WAIT,
            || status(id),
            |s| matches!(s, Some(NodeStatus::Succeeded | NodeStatus::Failed)),
        );
        assert_eq!(ended, Some(NodeStatus::Succeeded), "payment {id}:\n{log}");
    }
}
