//! One balance over two LSPs: a phone with a JIT channel from its LSP and a channel from a
//! second LSP (configured in `additional_lsps`) pays one invoice larger than either channel,
//! and the payment leaves through both; after a restart the phone is back with both LSPs. An
//! additional LSP that never answers does not hold up the start. A channel from the second LSP
//! receives at most a tenth of its size at once: an invoice for more comes through a JIT
//! channel from the phone's LSP.

use doze_core::{ChannelInfo, ChannelState, LspConfig, Wallet, WalletConfig, WalletEventKind};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_lsp::Lsp;
use doze_testkit::lsp::{
    fund_lsp, has_usable_channel, is_connected, open_channel_to_lsp, start_lsp,
};
use doze_testkit::phone::{assert_paid, largest_channel_msat, start_wallet, Recorder};
use doze_testkit::{runtime, Scene, MNEMONIC};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::Event;

/// What the LSP's side of its channels with `phone` holds (grows as the phone pays through it).
fn lsp_side_msat(lsp: &Lsp, phone: PublicKey) -> u64 {
    lsp.node()
        .list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == phone)
        .map(|c| c.outbound_capacity_msat)
        .sum()
}

#[test]
fn channels_to_two_lsps_carry_one_payment() {
    let scene = Scene::new();
    let lsp2_dir = tempfile::tempdir().unwrap();
    let lsp2 = start_lsp(&scene.devnet, lsp2_dir.path(), doze_lsp::Observers::default(), |_| {});
    fund_lsp(&scene.devnet, &lsp2, Amount::from_sat(1_000_000));

    // The merchant is reachable through both LSPs: an announced channel to the second one too,
    // half of it on the LSP's side.
    scene
        .merchant
        .open_announced_channel(
            lsp2.node_id(),
            lsp2.p2p_address(),
            600_000,
            Some(300_000_000),
            None,
        )
        .expect("merchant opens a channel to the second LSP");
    expect_event(&scene.merchant, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
    assert!(scene.devnet.wait_for_mempool_len(1, DEFAULT_WAIT));
    scene.devnet.mine(6);
    wait_until("the merchant's channel to the second LSP is usable", DEFAULT_WAIT, || {
        scene.merchant.sync_wallets().is_ok()
            && lsp2.sync().is_ok()
            && scene.merchant.list_channels().iter().filter(|c| c.is_usable).count() == 2
    });

    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        additional_lsps: vec![LspConfig {
            node_id: lsp2.node_id().to_string(),
            address: lsp2.p2p_address().to_string(),
            token: None,
            api_url: None,
        }],
        ..scene.phone_config(dir.path())
    };
    let (phone, recorder) = start_wallet(config.clone(), &rt);
    let phone_id: PublicKey = phone.node_id().unwrap().parse().unwrap();

    // Channel 1: JIT from the primary LSP. Channel 2: the second LSP opens one with part of it
    // on the phone's side (as when liquidity is bought from another provider).
    let invoice =
        rt.block_on(phone.receive_bolt11(Some(50_000_000), "first".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    wait_until("the phone is connected to the second LSP", DEFAULT_WAIT, || {
        is_connected(&lsp2.node(), phone_id)
    });
    // The address is unused.
    let connected =
        ldk_node::lightning::ln::msgs::SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    lsp2.node()
        .open_channel(phone_id, connected, 100_000, Some(45_000_000), None)
        .expect("the second LSP opens a channel to the phone");
    assert!(scene.devnet.wait_for_mempool_len(2, DEFAULT_WAIT), "JIT and second funding broadcast");
    scene.devnet.mine(6);
    wait_until("two usable channels, and a route through the second LSP", DEFAULT_WAIT, || {
        lsp2.sync().is_ok()
            && scene.lsp.sync().is_ok()
            && rt.block_on(phone.sync()).is_ok()
            && phone.balances().unwrap().lightning_spendable_sat > 85_000
            && phone.balances().unwrap().pending_sat == 0
            && phone.knows_node(&lsp2.node_id().to_string()).unwrap()
    });

    // 70 000 sat: more than either channel holds.
    assert!(largest_channel_msat(&scene.lsp, &phone) < 70_000_000);
    assert!(largest_channel_msat(&lsp2, &phone) < 70_000_000);
    let (via_lsp1, via_lsp2) =
        (lsp_side_msat(&scene.lsp, phone_id), lsp_side_msat(&lsp2, phone_id));
    let quote = phone.prepare_send(&scene.merchant_invoice(70_000_000), None, None).unwrap();
    assert!(quote.payable(), "{quote:?}");
    let id = rt.block_on(phone.send(quote)).unwrap();
    assert_paid(&recorder, &id);
    wait_until("both LSPs forwarded a part", DEFAULT_WAIT, || {
        lsp_side_msat(&scene.lsp, phone_id) > via_lsp1 && lsp_side_msat(&lsp2, phone_id) > via_lsp2
    });
    let moved = (lsp_side_msat(&scene.lsp, phone_id) - via_lsp1)
        + (lsp_side_msat(&lsp2, phone_id) - via_lsp2);
    assert!(moved >= 70_000_000, "the parts add up to the payment and its fees: {moved} msat");

    // After a restart the wallet is with both LSPs again, on its own.
    rt.block_on(phone.stop()).unwrap();
    drop(phone);
    let phone = Wallet::new(config, MNEMONIC, None).unwrap();
    rt.block_on(phone.start()).unwrap();
    wait_until("reconnected to both LSPs", DEFAULT_WAIT, || {
        is_connected(&scene.lsp.node(), phone_id) && is_connected(&lsp2.node(), phone_id)
    });
    rt.block_on(phone.stop()).unwrap();
}

/// The amounts of the `PaymentReceived` events of `hash` recorded so far.
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

/// Waits until the phone received the invoice `hash` and its channels settled; returns what
/// arrived, once per `PaymentReceived`.
fn wait_received(phone: &Wallet, recorder: &Recorder, hash: &str) -> Vec<u64> {
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::PaymentReceived { payment_hash, .. }
            if payment_hash == hash)
    });
    wait_until("the phone's channels settle", DEFAULT_WAIT, || {
        phone.balances().is_ok_and(|b| b.pending_sat == 0)
    });
    received(recorder, hash)
}

/// The phone's only channel is from a second LSP, which it accepts with LDK's default limit on
/// HTLCs in flight to it: a tenth of the channel (only its LSPS2 LSP's channels get all of it).
/// An invoice for more than that but less than the channel's inbound capacity cannot come over
/// it (the LSP forwards nothing above the limit, and the invoice's route hint says so), so it
/// must be made for a JIT channel from the phone's LSP; one under the limit uses the channel.
#[test]
fn an_invoice_above_a_channels_in_flight_limit_comes_through_a_jit_channel() {
    /// The second LSP's channel to the phone, all of it on the LSP's side.
    const CHANNEL_SAT: u64 = 600_000;
    /// What the phone accepts in flight on it: 10 % (LDK's default).
    const IN_FLIGHT_SAT: u64 = CHANNEL_SAT / 10;
    const UNDER_MSAT: u64 = 40_000_000;
    const OVER_MSAT: u64 = 100_000_000;

    let scene = Scene::new();
    let lsp2_dir = tempfile::tempdir().unwrap();
    let lsp2 = start_lsp(&scene.devnet, lsp2_dir.path(), doze_lsp::Observers::default(), |_| {});
    fund_lsp(&scene.devnet, &lsp2, Amount::from_sat(1_000_000));
    // The merchant reaches the second LSP's channel to the phone through its own channel to
    // that LSP (unannounced: the phone's invoice names the LSP in its route hint).
    open_channel_to_lsp(&scene.devnet, &scene.merchant, &lsp2, 200_000, 0, false, DEFAULT_WAIT)
        .unwrap_or_else(|e| panic!("{e}"));

    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        additional_lsps: vec![LspConfig {
            node_id: lsp2.node_id().to_string(),
            address: lsp2.p2p_address().to_string(),
            token: None,
            api_url: None,
        }],
        ..scene.phone_config(dir.path())
    };
    let (phone, recorder) = start_wallet(config, &rt);
    let phone_id: PublicKey = phone.node_id().unwrap().parse().unwrap();
    wait_until("the phone is connected to the second LSP", DEFAULT_WAIT, || {
        is_connected(&lsp2.node(), phone_id)
    });
    // Already connected: the address is unused.
    let connected =
        ldk_node::lightning::ln::msgs::SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    let mempool_before = scene.devnet.mempool_len();
    lsp2.node()
        .open_channel(phone_id, connected, CHANNEL_SAT, None, None)
        .expect("the second LSP opens a channel to the phone");
    assert!(scene.devnet.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT), "funding");
    scene.devnet.mine(6);
    wait_until("the second LSP's channel is usable", DEFAULT_WAIT, || {
        lsp2.sync().is_ok()
            && rt.block_on(phone.sync()).is_ok()
            && phone.list_channels().unwrap().iter().any(|c| c.state == ChannelState::Usable)
            && has_usable_channel(&lsp2.node(), phone_id)
    });
    let channel = phone.list_channels().unwrap().remove(0);
    assert!(channel.inbound_sat * 1000 > OVER_MSAT, "room for either amount: {channel:?}");
    let balances = phone.balances().unwrap();
    assert_eq!(balances.lightning_inbound_sat, IN_FLIGHT_SAT, "{balances:?}");

    // Under the limit: over the existing channel.
    let under = rt.block_on(phone.receive_bolt11(Some(UNDER_MSAT), "under".into(), 3600)).unwrap();
    assert!(!under.via_jit_channel, "{under:?}");
    assert!(scene.merchant_pays(&under.bolt11), "the merchant pays the invoice under the limit");
    assert_eq!(wait_received(&phone, &recorder, &under.payment_hash), vec![UNDER_MSAT]);
    assert_eq!(phone.list_channels().unwrap().len(), 1, "no new channel");
    // The phone's side of the second LSP's channel, its reserve included (the LSP pays the
    // channel's fees: only payments move it).
    let lsp2_id = lsp2.node_id().to_string();
    let phone_side_sat = |channels: &[ChannelInfo]| {
        channels.iter().find(|c| c.peer_node_id == lsp2_id).map(|c| c.outbound_sat + c.reserve_sat)
    };
    wait_until("the payment is the phone's on the second LSP's channel", DEFAULT_WAIT, || {
        phone_side_sat(&phone.list_channels().unwrap()) == Some(UNDER_MSAT / 1000)
    });

    // Above it (and under the channel's inbound capacity): through a JIT channel, whole (the
    // devnet LSP charges nothing to open it).
    let over = rt.block_on(phone.receive_bolt11(Some(OVER_MSAT), "over".into(), 3600)).unwrap();
    assert!(over.via_jit_channel, "{over:?}");
    assert_eq!(over.lsp_fee_msat, Some(0), "{over:?}");
    assert!(scene.merchant_pays(&over.bolt11), "the merchant pays the invoice above the limit");
    assert_eq!(wait_received(&phone, &recorder, &over.payment_hash), vec![OVER_MSAT]);
    let channels = phone.list_channels().unwrap();
    assert_eq!(channels.len(), 2, "the JIT channel: {channels:?}");
    assert!(channels.iter().any(|c| c.peer_node_id == scene.lsp.node_id().to_string()));
    let lsp2_side = phone_side_sat(&channels);
    assert_eq!(lsp2_side, Some(UNDER_MSAT / 1000), "all of it came over the JIT channel");
    rt.block_on(phone.stop()).unwrap();
}

/// An additional LSP that accepts the TCP connection and then never says a word (the noise
/// handshake never completes) must not hold up the wallet's start: ldk-node's `connect` would
/// wait on it for good.
#[test]
fn an_additional_lsp_that_never_answers_does_not_hold_up_start() {
    let scene = Scene::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    // Keep accepted connections open and silent until the test ends.
    let accepted = std::thread::spawn(move || {
        silent.incoming().take(4).filter_map(Result::ok).collect::<Vec<_>>()
    });
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig {
        additional_lsps: vec![LspConfig {
            node_id: "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619".into(),
            address: silent_address,
            token: None,
            api_url: None,
        }],
        ..scene.phone_config(dir.path())
    };
    let phone = Wallet::new(config, MNEMONIC, None).unwrap();
    let started = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), phone.start()).await
    });
    assert!(matches!(started, Ok(Ok(()))), "start() did not return: {started:?}");
    let phone_id: PublicKey = phone.node_id().unwrap().parse().unwrap();
    wait_until("the phone is connected to its primary LSP", DEFAULT_WAIT, || {
        is_connected(&scene.lsp.node(), phone_id)
    });
    rt.block_on(phone.stop()).unwrap();
    drop(accepted);
}
