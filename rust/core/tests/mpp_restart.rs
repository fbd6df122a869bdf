//! A multi-part payment received across a restart. The phone has a channel from its LSP and
//! one from a second LSP; a payer whose two channels (one to each LSP) each hold less than the
//! invoice pays it, so the payment comes in parts through both LSPs. The link to the second
//! LSP is frozen before the payer pays (the connection stays open, so that LSP forwards its
//! part into it, but nothing crosses), which makes the order certain: the first LSP's part
//! arrives, LDK keeps it as an incomplete claimable set and the app's node persists that,
//! while the second part is held. The phone's process is then SIGKILLed. At the next start the
//! app claims every part at once: LDK reads the incomplete set back from the channel manager,
//! and the second LSP retransmits its uncommitted part on `channel_reestablish`. The payer sees
//! success once, the phone's history one payment of the full amount, no channel closes, and a
//! further restart claims nothing again.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use doze_core::{
    ChannelState, LspConfig, PaymentDirection, PaymentStatus, Wallet, WalletConfig, WalletEventKind,
};
use doze_devnet::nodes::{expect_event, wait_until, ANCHOR_RESERVE, DEFAULT_WAIT};
use doze_lsp::Lsp;
use doze_testkit::kills::{invoice_preimage, stored_manager};
use doze_testkit::link::Link;
use doze_testkit::lsp::{fund_lsp, has_usable_channel, is_connected, start_lsp};
use doze_testkit::phone::{config_without_lsp, start_wallet, Recorder};
use doze_testkit::{runtime, Scene, MNEMONIC};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::Event;

const CHILD: &str = "DOZE_MPP_CHILD";
const TEST: &str = "a_payment_in_parts_is_claimed_whole_after_the_phone_is_killed_mid_set";
/// Each LSP's channel to the phone. The phone takes at most 10 % of a channel from an LSP that
/// is not its LSPS2 provider in flight (LDK's default): 60 000 sat, room for any part.
const CHANNEL_SAT: u64 = 600_000;
/// Each of the payer's channels: less than the invoice can leave through either.
const PAYER_CHANNEL_SAT: u64 = 50_000;
const AMOUNT_MSAT: u64 = 60_000_000;

/// The phone's configuration: the scene's LSP, and the second LSP in `additional_lsps`,
/// reached at `lsp2_address` (the link).
fn phone_config(scene_config: WalletConfig, lsp2_id: &str, lsp2_address: &str) -> WalletConfig {
    let lsp2 = LspConfig {
        node_id: lsp2_id.into(),
        address: lsp2_address.into(),
        token: None,
        api_url: None,
    };
    WalletConfig { additional_lsps: vec![lsp2], ..scene_config }
}

/// The phone process that gets killed: starts the wallet from its parent's configuration
/// (without a listener: the events stay for the app's next start) and waits to be killed.
fn child_phone() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let lsp = LspConfig {
        node_id: var("DOZE_LSP1_ID"),
        address: var("DOZE_LSP1_ADDR"),
        token: None,
        api_url: Some(var("DOZE_LSP1_API")),
    };
    let config = phone_config(
        WalletConfig {
            lsp: Some(lsp),
            ..config_without_lsp(&var("DOZE_ESPLORA"), std::path::Path::new(&var("DOZE_STORAGE")))
        },
        &var("DOZE_LSP2_ID"),
        &var("DOZE_LSP2_ADDR"),
    );
    let rt = runtime();
    let wallet = Wallet::new(config, MNEMONIC, None).unwrap();
    rt.block_on(wallet.start()).unwrap();
    println!("STARTED");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::process::abort();
}

/// What `lsp`'s side of its channels with `phone` holds.
fn lsp_side_msat(lsp: &Lsp, phone: PublicKey) -> u64 {
    lsp.node()
        .list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == phone)
        .map(|c| c.outbound_capacity_msat)
        .sum()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn received(recorder: &Recorder, hash: &str) -> Vec<u64> {
    recorder
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            WalletEventKind::PaymentReceived { payment_hash, amount_msat, .. }
                if payment_hash == hash =>
            {
                Some(amount_msat)
            }
            _ => None,
        })
        .collect()
}

fn closes(recorder: &Recorder) -> Vec<WalletEventKind> {
    recorder
        .events()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| matches!(k, WalletEventKind::ChannelClosed { .. }))
        .collect()
}

#[test]
fn a_payment_in_parts_is_claimed_whole_after_the_phone_is_killed_mid_set() {
    if std::env::var(CHILD).is_ok() {
        return child_phone();
    }
    let scene = Scene::new();
    let lsp2_dir = tempfile::tempdir().unwrap();
    let lsp2 = start_lsp(&scene.devnet, lsp2_dir.path(), doze_lsp::Observers::default(), |_| {});
    fund_lsp(&scene.devnet, &lsp2, Amount::from_sat(1_000_000));
    let link = Link::start(lsp2.p2p_address().to_string().parse().unwrap());

    // The payer: a channel to each LSP, each funded from its own coin (and the anchor reserve
    // ldk-node keeps for each).
    let payer = scene.devnet.start_node("payer");
    for _ in 0..2 {
        scene.devnet.fund_node(&payer, ANCHOR_RESERVE + Amount::from_sat(PAYER_CHANNEL_SAT * 2));
    }

    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (lsp2_id, link_addr) = (lsp2.node_id().to_string(), link.addr().to_string());
    let config = phone_config(scene.phone_config(dir.path()), &lsp2_id, &link_addr);
    let lsp1 = config.lsp.clone().unwrap();

    // Setup, in this process: a channel from each LSP, all of it on the LSP's side, and the
    // invoice.
    let (phone, _) = start_wallet(config.clone(), &rt);
    let phone_id: PublicKey = phone.node_id().unwrap().parse().unwrap();
    wait_until("the phone is connected to both LSPs", DEFAULT_WAIT, || {
        is_connected(&scene.lsp.node(), phone_id) && is_connected(&lsp2.node(), phone_id)
    });
    // Already connected: the address is unused.
    let connected = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    for lsp in [&scene.lsp, &lsp2] {
        let mempool_before = scene.devnet.mempool_len();
        lsp.node()
            .open_channel(phone_id, connected.clone(), CHANNEL_SAT, None, None)
            .expect("the LSP opens a channel to the phone");
        payer
            .open_channel(lsp.node_id(), lsp.p2p_address(), PAYER_CHANNEL_SAT, None, None)
            .expect("the payer opens a channel to the LSP");
        assert!(scene.devnet.wait_for_mempool_len(mempool_before + 2, DEFAULT_WAIT), "fundings");
        // Confirmed before the payer's next funding, which must not pick the same coin
        // (ldk-node's wallet learns of its funding transaction at its next sync).
        scene.devnet.mine(1);
        payer.sync_wallets().unwrap();
    }
    scene.devnet.mine(6);
    wait_until("every channel is usable", DEFAULT_WAIT, || {
        scene.lsp.sync().is_ok()
            && lsp2.sync().is_ok()
            && payer.sync_wallets().is_ok()
            && rt.block_on(phone.sync()).is_ok()
            && phone
                .list_channels()
                .unwrap()
                .iter()
                .filter(|c| matches!(c.state, ChannelState::Usable))
                .count()
                == 2
            && has_usable_channel(&scene.lsp.node(), phone_id)
            && has_usable_channel(&lsp2.node(), phone_id)
            && payer.list_channels().iter().filter(|c| c.is_usable).count() == 2
    });
    // Neither of the payer's channels can carry the payment alone.
    assert!(payer.list_channels().iter().all(|c| c.outbound_capacity_msat < AMOUNT_MSAT));
    let invoice =
        rt.block_on(phone.receive_bolt11(Some(AMOUNT_MSAT), "split".into(), 3600)).unwrap();
    assert!(!invoice.via_jit_channel, "{invoice:?}");
    let lightning_before = phone.balances().unwrap().lightning_sat;
    let (lsp1_before, lsp2_before) =
        (lsp_side_msat(&scene.lsp, phone_id), lsp_side_msat(&lsp2, phone_id));
    rt.block_on(phone.stop()).unwrap();
    drop(phone);
    let preimage = invoice_preimage(dir.path(), &invoice.payment_hash);
    let manager = stored_manager(dir.path()).expect("the phone's node wrote its manager");
    assert!(!contains(&manager, &preimage), "nothing claimable before the payment");

    // The phone runs in its own process, to be killed.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD, "1")
        .env("DOZE_STORAGE", dir.path())
        .env("DOZE_ESPLORA", scene.devnet.esplora_url())
        .env("DOZE_LSP1_ID", &lsp1.node_id)
        .env("DOZE_LSP1_ADDR", &lsp1.address)
        .env("DOZE_LSP1_API", lsp1.api_url.as_deref().unwrap_or_default())
        .env("DOZE_LSP2_ID", &lsp2_id)
        .env("DOZE_LSP2_ADDR", &link_addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the kill: a child writing to a closed pipe would die of it first.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        stdout.by_ref().map_while(Result::ok).any(|line| line == "STARTED"),
        "the phone process starts"
    );
    wait_until("both LSPs can forward to the phone", DEFAULT_WAIT, || {
        has_usable_channel(&scene.lsp.node(), phone_id)
            && has_usable_channel(&lsp2.node(), phone_id)
    });

    // The second LSP's part is held on the way; the first LSP's arrives.
    link.freeze();
    let bolt11: Bolt11Invoice = invoice.bolt11.parse().unwrap();
    let payment_id = payer.bolt11_payment().send(&bolt11, None).expect("the payer pays");
    // LDK writes a claimable payment's purpose, with the preimage it derived from the
    // invoice's secret, into the channel manager (`claimable_htlc_purposes`); before a part
    // is claimable, and while the set is incomplete, nothing else there carries the preimage.
    wait_until(
        "the phone's manager on disk holds the first part as claimable",
        DEFAULT_WAIT,
        || stored_manager(dir.path()).is_some_and(|m| contains(&m, &preimage)),
    );
    child.kill().unwrap(); // SIGKILL: no stop, no last write
    child.wait().unwrap();
    drop(stdout);
    // The phone's end of the held connection is gone: the second LSP hears of it now, and
    // what the link held (its part, sent into the frozen link) is never delivered.
    link.cut();
    link.thaw();
    wait_until("both LSPs see the phone offline", DEFAULT_WAIT, || {
        !is_connected(&scene.lsp.node(), phone_id) && !is_connected(&lsp2.node(), phone_id)
    });
    let pending = payer.payment(&payment_id).expect("the payer's payment");
    assert_eq!(
        pending.status,
        ldk_node::payment::PaymentStatus::Pending,
        "nothing settled or failed while the phone was down: {pending:?}"
    );

    // Each LSP still has its part on its channel to the phone (an HTLC in flight is not in
    // the LSP's outbound capacity): the first committed, the second sent into the link and
    // kept for retransmission (a disconnect drops only HTLCs the peer announced, not ours).
    assert!(lsp_side_msat(&scene.lsp, phone_id) < lsp1_before, "the first part is in flight");
    assert!(lsp_side_msat(&lsp2, phone_id) < lsp2_before, "the second LSP holds its part");

    // The app's next start claims every part.
    let (app, recorder) = start_wallet(config.clone(), &rt);
    let outcome = expect_event(&payer, DEFAULT_WAIT, |e| match e {
        Event::PaymentSuccessful { payment_id: id, .. }
        | Event::PaymentFailed { payment_id: id, .. } => *id == Some(payment_id),
        _ => false,
    });
    assert!(matches!(outcome, Event::PaymentSuccessful { .. }), "{outcome:?}");
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentReceived { payment_hash, .. }
            if *payment_hash == invoice.payment_hash)
    });
    wait_until("the phone's channels settle", DEFAULT_WAIT, || {
        app.balances().is_ok_and(|b| b.pending_sat == 0)
    });
    assert_eq!(received(&recorder, &invoice.payment_hash), vec![AMOUNT_MSAT], "one receive, whole");
    let balances = app.balances().unwrap();
    assert_eq!(balances.lightning_sat, lightning_before + AMOUNT_MSAT / 1000, "{balances:?}");
    // Both LSPs carried a part, and together exactly the payment (their fees came from the
    // payer's side).
    let (lsp1_after, lsp2_after) =
        (lsp_side_msat(&scene.lsp, phone_id), lsp_side_msat(&lsp2, phone_id));
    assert!(lsp1_after < lsp1_before && lsp2_after < lsp2_before, "a part through each LSP");
    assert_eq!((lsp1_before - lsp1_after) + (lsp2_before - lsp2_after), AMOUNT_MSAT);
    let inbound: Vec<_> = app
        .list_payments()
        .unwrap()
        .into_iter()
        .filter(|p| p.direction == PaymentDirection::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert_eq!(inbound[0].status, PaymentStatus::Succeeded, "{inbound:?}");
    assert_eq!(inbound[0].amount_msat, Some(AMOUNT_MSAT), "{inbound:?}");
    assert_eq!(inbound[0].payment_hash.as_deref(), Some(invoice.payment_hash.as_str()));
    let payer_record = payer.payment(&payment_id).expect("the payer's payment");
    assert_eq!(payer_record.status, ldk_node::payment::PaymentStatus::Succeeded);
    assert_eq!(payer_record.amount_msat, Some(AMOUNT_MSAT));
    // No channel closed, on either side.
    assert_eq!(closes(&recorder), vec![], "no channel closed");
    let channels = app.list_channels().unwrap();
    assert_eq!(channels.len(), 2, "{channels:?}");
    assert!(
        has_usable_channel(&scene.lsp.node(), phone_id)
            && has_usable_channel(&lsp2.node(), phone_id)
    );
    rt.block_on(app.stop()).unwrap();
    drop(app);

    // Claimed once: a further start replays nothing.
    let (again, recorder) = start_wallet(config, &rt);
    rt.block_on(again.sync()).unwrap();
    wait_until("reconnected to both LSPs", DEFAULT_WAIT, || {
        has_usable_channel(&scene.lsp.node(), phone_id)
            && has_usable_channel(&lsp2.node(), phone_id)
    });
    assert_eq!(received(&recorder, &invoice.payment_hash), Vec::<u64>::new(), "no second receive");
    let inbound = again
        .list_payments()
        .unwrap()
        .into_iter()
        .filter(|p| p.direction == PaymentDirection::Inbound)
        .count();
    assert_eq!(inbound, 1);
    assert_eq!(again.balances().unwrap().lightning_sat, lightning_before + AMOUNT_MSAT / 1000);
    rt.block_on(again.stop()).unwrap();
    // The payer heard of its payment's outcome once.
    while let Some(event) = payer.next_event() {
        if let Event::PaymentSuccessful { payment_id: Some(id), .. }
        | Event::PaymentFailed { payment_id: Some(id), .. } = &event
        {
            assert_ne!(*id, payment_id, "a second outcome: {event:?}");
        }
        payer.event_handled().unwrap();
    }
}
