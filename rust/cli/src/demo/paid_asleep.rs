//! Chapter 5, paid while asleep: the phone registers for push notifications with its LSP and
//! gets a reusable BOLT 12 offer, then the app goes away. A friend pays the offer from his own
//! node (stock ldk-node, always online): the LSP answers for the phone with its static
//! invoice, keeps the friend's `held_htlc_available` in the phone's mailbox and pushes a
//! notification. A fresh `doze wake` process, the stand-in for the phone's notification
//! extension, verifies the push, opens the wallet's channels with the wake engine, tells the
//! friend to send the payment, takes it, stops, and prints its `WakeOutcome` with timings. The
//! app then opens again and finds the payment in its history.
//!
//! Two things the scene needs, found building it (LDK 0.2.7):
//! - The LSP must be a node of the public graph (a public channel): LDK builds no blinded
//!   paths to a node with only private channels and several peers, and the phone's offer
//!   starts at the LSP. So the LSP opens a public channel to the merchant first.
//! - A payer whose HTLC the LSP should hold (`AsyncPaymentsRole::Client`) must be behind a
//!   different LSP than the recipient: an LSP fails a held HTLC whose next hop is its own
//!   offline peer ("ChannelNotReady") before it gets to hold it. The end-to-end tests cover
//!   that topology; here the friend is always online and keeps the payment himself until the
//!   phone asks for it (LDK's `ToUs` reply path).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use doze_core::{PushTarget, WalletConfig};
use doze_testkit::lsp::{is_connected, open_channel_to_lsp};
use doze_testkit::phone::wake_args;
use doze_testkit::{ReceivedPush, WebhookReceiver};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::Event;
use serde_json::Value;
use tokio::runtime::Runtime;

use super::first_payment::Phone;
use doze_devnet::nodes::TestNode;
use doze_devnet::nodes::{try_expect_event, try_wait_until};
use doze_testkit::Scene;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, secs, Failed};

/// What the friend pays the phone's offer. Below a tenth of the phone's smaller channel: LDK
/// lets at most 10 % of an inbound channel be in flight.
pub const GIFT_SAT: u64 = 9_000;
const FRIEND_FUNDS_SAT: u64 = 300_000;
const FRIEND_CHANNEL_SAT: u64 = 200_000;
const LSP_PUBLIC_CHANNEL_SAT: u64 = 500_000;

/// The notification extension's time budget on iOS is 30 s; the wake stops well before.
const WAKE_DEADLINE: Duration = Duration::from_secs(25);

/// Runs the chapter with the running app `phone`; returns the app opened again afterwards.
pub fn paid_while_asleep(rt: &Runtime, scene: &Scene, phone: Phone) -> Result<Phone, Failed> {
    progress::chapter("Paid while asleep");
    progress::step(
        "the LSP opens a public channel",
        || go_public(scene),
        |_| {
            format!(
                "LSP opened an announced {} sat channel to the merchant: it is in the public \
                 graph now",
                sat(LSP_PUBLIC_CHANNEL_SAT)
            )
        },
    )?;
    let friend = progress::step(
        "a friend's node joins",
        || -> Result<TestNode, String> {
            let devnet = &scene.devnet;
            let friend = devnet.try_start_node_with("friend", |_| {})?;
            devnet.try_fund_node(&friend, Amount::from_sat(FRIEND_FUNDS_SAT), STEP_TIMEOUT)?;
            open_channel_to_lsp(
                devnet,
                &friend,
                &scene.lsp,
                FRIEND_CHANNEL_SAT,
                0,
                false,
                STEP_TIMEOUT,
            )?;
            Ok(friend)
        },
        |_| {
            format!(
                "friend's node ready (stock ldk-node) with a {} sat channel to the LSP",
                sat(FRIEND_CHANNEL_SAT)
            )
        },
    )?;
    // The stand-in for APNs/FCM: the LSP POSTs the push here, and the demo hands it to a
    // fresh process as iOS hands a notification to the app's extension.
    let gateway = WebhookReceiver::start();
    progress::step(
        "the phone registers for push notifications",
        || {
            rt.block_on(
                phone.wallet.register_for_push(
                    "doze-demo".into(),
                    PushTarget::Webhook { url: gateway.url() },
                ),
            )
            .map_err(|e| e.to_string())
        },
        |_| {
            format!(
                "registered with the LSP; pushes go to {} (standing in for APNs/FCM)",
                gateway.url()
            )
        },
    )?;
    let offer = progress::step(
        "the phone gets its offline offer",
        || rt.block_on(phone.wallet.receive_offer(STEP_TIMEOUT)).map_err(|e| e.to_string()),
        |offer| {
            format!(
                "reusable BOLT 12 offer {}… (the LSP keeps the phone's static invoice, so it is \
                 payable while the phone sleeps)",
                offer.get(..24).unwrap_or(offer)
            )
        },
    )?;

    let Phone { config, mnemonic, .. } = go_to_sleep(rt, scene, phone)?;

    let payer = &friend.node;
    let push = progress::step(
        "the friend pays the sleeping phone's offer",
        || -> Result<(ReceivedPush, Duration), String> {
            let offer: Offer = offer.parse().map_err(|e| format!("unreadable offer: {e:?}"))?;
            let paid_at = Instant::now();
            payer
                .bolt12_payment()
                .send_using_amount(
                    &offer,
                    GIFT_SAT * 1000,
                    None,
                    Some("for the coffee".into()),
                    None,
                )
                .map_err(|e| format!("the friend could not pay: {e}"))?;
            let push = gateway.try_wait_for(1, STEP_TIMEOUT)?.remove(0);
            Ok((push, paid_at.elapsed()))
        },
        |(_, took)| {
            format!(
                "friend is paying {} sat; {} later the LSP had answered for the phone and \
                 pushed a notification",
                sat(GIFT_SAT),
                secs(*took)
            )
        },
    )?
    .0;

    let outcome = progress::step(
        "the push wakes the phone: a fresh `doze wake` process",
        || wake(&config, &mnemonic, &push),
        |outcome| {
            format!(
                "woken, paid and stopped in {} ms: {} ({})",
                outcome["timings_ms"]["total"],
                outcome["notification_text"].as_str().unwrap_or("?"),
                outcome["ended"].as_str().unwrap_or("?")
            )
        },
    )?;
    progress::text(&timings_table(&outcome));

    progress::step(
        "the friend's payment settles",
        || -> Result<(), String> {
            match try_expect_event(payer, "the friend's payment to settle", STEP_TIMEOUT, |e| {
                matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
            })? {
                Event::PaymentFailed { reason, .. } => {
                    Err(format!("the friend's payment failed: {reason:?}"))
                }
                _ => Ok(()),
            }
        },
        |_| "friend's payment settled: he sees it paid".to_string(),
    )?;
    if let Err(e) = friend.node.stop() {
        progress::text(&format!("        (the friend's node did not stop cleanly: {e})"));
    }

    progress::step(
        "the app opens again",
        || Phone::open(rt, config, mnemonic),
        |phone| format!("app's wallet started in {}", secs(phone.start_time)),
    )
}

/// Has the LSP open an announced channel to the merchant and waits until the LSP's own graph
/// has it (so that the LSP counts as a public node when it builds blinded paths).
fn go_public(scene: &Scene) -> Result<(), String> {
    let lsp = scene.lsp.node();
    let merchant = &scene.merchant;
    let mempool_before = scene.devnet.mempool_len();
    lsp.open_announced_channel(
        merchant.node.node_id(),
        merchant.address.clone(),
        LSP_PUBLIC_CHANNEL_SAT,
        None,
        None,
    )
    .map_err(|e| format!("the LSP could not open the channel: {e}"))?;
    try_expect_event(&merchant.node, "the merchant to accept the channel", STEP_TIMEOUT, |e| {
        matches!(e, Event::ChannelPending { .. })
    })?;
    if !scene.devnet.wait_for_mempool_len(mempool_before + 1, STEP_TIMEOUT) {
        return Err("the funding transaction never reached the mempool".into());
    }
    scene.devnet.mine(6);
    let lsp_id = NodeId::from_pubkey(&lsp.node_id());
    try_wait_until("the LSP's public channel is announced", STEP_TIMEOUT, || {
        lsp.sync_wallets().is_ok()
            && merchant.node.sync_wallets().is_ok()
            && lsp.network_graph().node(&lsp_id).is_some()
    })
}

/// Stops the app's wallet (its process goes away) and waits until the LSP sees the phone
/// offline, so that it keeps messages for it instead of forwarding them.
fn go_to_sleep(rt: &Runtime, scene: &Scene, phone: Phone) -> Result<Phone, Failed> {
    progress::step(
        "the app closes; the phone sleeps",
        || -> Result<Phone, String> {
            let node_id = phone.wallet.node_id().map_err(|e| e.to_string())?;
            rt.block_on(phone.wallet.stop()).map_err(|e| e.to_string())?;
            let lsp = scene.lsp.node();
            try_wait_until("the LSP sees the phone offline", STEP_TIMEOUT, || {
                node_id.parse().map(|id| !is_connected(&lsp, id)).unwrap_or(false)
            })?;
            Ok(phone)
        },
        |_| "app's wallet stopped; the LSP sees the phone offline".to_string(),
    )
}

/// Launches `doze wake` (this very binary) with `push`, as a notification extension would be
/// launched, and returns its outcome JSON.
fn wake(config: &WalletConfig, mnemonic: &str, push: &ReceivedPush) -> Result<Value, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the doze binary to launch: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg("wake")
        .args(wake_args(config, WAKE_DEADLINE, push))
        // The extension reads the phrase from the Keychain shared with the app.
        .env("DOZE_MNEMONIC", mnemonic)
        .env_remove("DOZE_LOG")
        // `DOZE_DEMO_WAKE_LOG=<level>`: the wake's log, shown when it fails.
        .envs(std::env::var("DOZE_DEMO_WAKE_LOG").ok().map(|level| ("DOZE_LOG", level)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("cannot launch `doze wake`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(push.body.as_bytes())
            .map_err(|e| format!("cannot hand the push to `doze wake`: {e}"))?;
    }
    let output =
        child.wait_with_output().map_err(|e| format!("`doze wake` did not finish: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("`doze wake` failed ({}): {}", output.status, stderr.trim()));
    }
    let outcome: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!("`doze wake` printed no outcome ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })?;
    if outcome["ended"] != "Paid" {
        return Err(format!(
            "the wake ended {} without the payment: {outcome}\n{}",
            outcome["ended"],
            stderr.trim()
        ));
    }
    Ok(outcome)
}

/// The wake's timeline, in milliseconds since the process started handling the push.
fn timings_table(outcome: &Value) -> String {
    let t = &outcome["timings_ms"];
    let rows = [
        ("push verified", "verified"),
        ("channels loaded (wake engine)", "node_started"),
        ("the chain's tip learned", "chain_tip"),
        ("connected to the LSP", "lsp_connected"),
        ("the held payment announced", "held_htlc_announced"),
        ("release sent to the payer", "release_sent"),
        ("payment received", "payment_received"),
        ("persisted, outcome returned", "total"),
    ];
    let mut out =
        String::from("\n  The wake, step by step (ms since the push reached handle_push)\n");
    for (label, key) in rows {
        let value = match t[key].as_u64() {
            Some(ms) => format!("{ms:>6}"),
            None => "     –".into(),
        };
        out.push_str(&format!("    {label:<38} {value}\n"));
    }
    let payments = outcome["payments"].as_array().map(Vec::len).unwrap_or(0);
    out.push_str(&format!(
        "  {payments} payment(s); the app shows \"{}\" (dedup key {})",
        outcome["notification_text"].as_str().unwrap_or(""),
        outcome["dedup_key"].as_str().unwrap_or("")
    ));
    out
}
