//! The wallet's channels on the devnet: listed with what each holds, closed cooperatively with
//! the LSP or forced closed alone, and the balance back in the on-chain wallet.

use doze_core::{ChannelState, WalletError, WalletEventKind};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::{phone_with_channel, start_phone};
use doze_testkit::{runtime, Scene};

const RECEIVED_MSAT: u64 = 40_000_000;

#[test]
fn a_channel_is_listed_then_closed_cooperatively_and_its_balance_comes_back_on_chain() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, RECEIVED_MSAT);
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    wait_until("the channel is usable", DEFAULT_WAIT, || {
        phone.list_channels().unwrap().iter().any(|c| c.state == ChannelState::Usable)
    });
    let channels = phone.list_channels().unwrap();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel = &channels[0];
    assert_eq!(channel.peer_node_id, scene.lsp.node().node_id().to_string());
    assert!(channel.outbound_sat + channel.reserve_sat <= RECEIVED_MSAT / 1000);
    assert!(channel.outbound_sat > 0 && channel.inbound_sat > 0, "{channel:?}");
    assert!(channel.capacity_sat >= channel.outbound_sat + channel.inbound_sat);

    assert!(matches!(
        rt.block_on(phone.close_channel("00".repeat(32).as_str())),
        Err(WalletError::UnknownChannel(_))
    ));
    rt.block_on(phone.close_channel(&channel.channel_id)).unwrap();
    let closed = recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::ChannelClosed { channel_id, .. }
            if *channel_id == channel.channel_id)
    });
    assert!(matches!(closed.kind, WalletEventKind::ChannelClosed { .. }));
    assert!(phone.list_channels().unwrap().is_empty());
    let expected = channel.outbound_sat + channel.reserve_sat;
    wait_until("the closing transaction pays the phone on-chain", DEFAULT_WAIT, || {
        scene.devnet.mine(1);
        rt.block_on(phone.sync()).is_ok() && {
            let b = phone.balances().unwrap();
            // The LSP opened the channel and pays the closing fee: the phone gets its whole
            // balance, reserve included.
            b.onchain_confirmed_sat >= expected - 1
        }
    });
    rt.block_on(phone.stop()).unwrap();
}

#[test]
fn a_forced_close_returns_the_balance_after_the_timelock() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, RECEIVED_MSAT);
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    // Fee bumps of the commitment come from the phone's on-chain funds.
    let address = phone.new_onchain_address().unwrap();
    let address = address.parse::<ldk_node::bitcoin::Address<_>>().unwrap().assume_checked();
    scene.devnet.fund(&address, ldk_node::bitcoin::Amount::from_sat(50_000)).unwrap();
    scene.devnet.mine(1);
    wait_until("the channel is usable and the funds seen", DEFAULT_WAIT, || {
        rt.block_on(phone.sync()).is_ok()
            && phone.balances().unwrap().onchain_confirmed_sat == 50_000
            && phone.list_channels().unwrap().iter().any(|c| c.state == ChannelState::Usable)
    });
    let channel = phone.list_channels().unwrap().remove(0);
    rt.block_on(phone.force_close_channel(&channel.channel_id, Some("test".into()))).unwrap();
    recorder.wait_for(DEFAULT_WAIT, |e| {
        matches!(&e.kind, WalletEventKind::ChannelClosed { channel_id, .. }
            if *channel_id == channel.channel_id)
    });
    let before = phone.balances().unwrap().onchain_confirmed_sat;
    wait_until("the swept balance is on-chain after the timelock", DEFAULT_WAIT, || {
        scene.devnet.mine(20);
        rt.block_on(phone.sync()).is_ok()
            && phone.balances().unwrap().onchain_confirmed_sat > before + channel.outbound_sat / 2
    });
    rt.block_on(phone.stop()).unwrap();
}

#[test]
fn a_splice_out_moves_funds_on_chain_and_keeps_the_channel() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    phone_with_channel(&scene, dir.path(), &rt, RECEIVED_MSAT);
    let (phone, _) = start_phone(&scene, dir.path(), &rt);
    wait_until("the channel is usable", DEFAULT_WAIT, || {
        phone.list_channels().unwrap().iter().any(|c| c.state == ChannelState::Usable)
    });
    let channel = phone.list_channels().unwrap().remove(0);
    let address = phone.new_onchain_address().unwrap();

    for (amount, wrong) in [(0, "zero"), (channel.outbound_sat + 1, "more than the channel has")] {
        let refused = rt.block_on(phone.splice_out(&channel.channel_id, &address, amount));
        assert!(
            matches!(
                refused,
                Err(WalletError::InvalidAmount(_) | WalletError::InsufficientFunds(_))
            ),
            "{wrong}: {refused:?}"
        );
    }
    assert!(matches!(
        rt.block_on(phone.splice_out(&channel.channel_id, "not an address", 1_000)),
        Err(WalletError::InvalidAddress(_))
    ));

    const MOVED_SAT: u64 = 10_000;
    rt.block_on(phone.splice_out(&channel.channel_id, &address, MOVED_SAT)).unwrap();
    wait_until("the splice confirms and pays the address", DEFAULT_WAIT, || {
        scene.devnet.mine(1);
        rt.block_on(phone.sync()).is_ok()
            && phone.balances().unwrap().onchain_confirmed_sat == MOVED_SAT
    });
    wait_until("the channel is usable with less in it", DEFAULT_WAIT, || {
        let channels = phone.list_channels().unwrap();
        channels.len() == 1
            && channels[0].state == ChannelState::Usable
            && channels[0].capacity_sat < channel.capacity_sat
            && channels[0].outbound_sat <= channel.outbound_sat - MOVED_SAT
    });
    let after = phone.list_channels().unwrap().remove(0);
    println!(
        "splice out: capacity {} -> {} sat, outbound {} -> {} sat, {MOVED_SAT} sat on-chain",
        channel.capacity_sat, after.capacity_sat, channel.outbound_sat, after.outbound_sat
    );
    rt.block_on(phone.stop()).unwrap();
}
