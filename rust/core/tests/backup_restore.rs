//! A lost phone loses nothing: a wallet backed up to a real `vss-server` (on PostgreSQL, on
//! loopback) is restored from its recovery phrase on an empty directory with the same node id,
//! channels, balances and history, then receives and pays; the old phone, back online, is
//! refused at its start and at its wakes with a typed error. A wallet that turns backup on
//! later uploads what it has; its extension wakes through the same backed-up store.

use doze_core::{
    BackupAuth, BackupConfig, ChannelState, Network, PaymentFilter, WakeEnd, Wallet, WalletConfig,
    WalletError, WalletEventKind,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::phone::{assert_paid, start_wallet};
use doze_testkit::{runtime, Scene, MNEMONIC};
use std::time::Duration;

fn backed_up(scene: &Scene, dir: &std::path::Path, server: &BackupServer) -> WalletConfig {
    WalletConfig { backup: Some(BackupConfig { url: server.url() }), ..scene.phone_config(dir) }
}

fn history_ids(wallet: &doze_core::Wallet) -> Vec<(String, Option<u64>)> {
    let page = wallet.list_payments_page(PaymentFilter::default(), None, 100).unwrap();
    let mut ids: Vec<_> = page.payments.iter().map(|p| (p.id.clone(), p.amount_msat)).collect();
    ids.sort();
    ids
}

#[test]
fn a_restore_brings_back_channels_balances_and_history_and_the_old_phone_is_refused() {
    let scene = Scene::new();
    let server = BackupServer::start();
    let rt = runtime();

    // The old phone: a JIT channel from a payment in, then a payment out.
    let old_dir = tempfile::tempdir().unwrap();
    let (old, old_events) = start_wallet(backed_up(&scene, old_dir.path(), &server), &rt);
    let invoice = rt.block_on(old.receive_bolt11(Some(60_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    old_events
        .wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    wait_until("the old phone's channel settles", DEFAULT_WAIT, || {
        old.balances().map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0).unwrap()
    });
    let sent = rt.block_on(old.pay_bolt11(&scene.merchant_invoice(5_000_000), None)).unwrap();
    assert_paid(&old_events, &sent);
    wait_until("the payment out settles", DEFAULT_WAIT, || {
        old.list_channels().unwrap().iter().all(|c| c.state == ChannelState::Usable)
            && old.balances().unwrap().lightning_spendable_sat < 55_000
    });
    let node_id = old.node_id().unwrap();
    let channels = old.list_channels().unwrap();
    let balances = old.balances().unwrap();
    let history = history_ids(&old);
    assert_eq!(history.len(), 2, "{history:?}");

    // The phone is lost (stopped: a phone lost while it writes may leave a channel monitor
    // newer than the channel manager in the backup, which LDK answers by closing the channel,
    // funds safe on-chain); the phrase goes into a new one.
    rt.block_on(old.stop()).unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let (new, new_events) = start_wallet(backed_up(&scene, new_dir.path(), &server), &rt);
    assert_eq!(new.node_id().unwrap(), node_id);
    let restored = new.list_channels().unwrap();
    assert_eq!(
        restored.iter().map(|c| (&c.channel_id, c.capacity_sat)).collect::<Vec<_>>(),
        channels.iter().map(|c| (&c.channel_id, c.capacity_sat)).collect::<Vec<_>>()
    );
    wait_until("the restored channel is usable", DEFAULT_WAIT, || {
        new.list_channels().unwrap().iter().any(|c| c.state == ChannelState::Usable)
    });
    let restored_balances = new.balances().unwrap();
    assert_eq!(restored_balances.lightning_spendable_sat, balances.lightning_spendable_sat);
    assert_eq!(history_ids(&new), history, "the history comes back from the node's records");

    // The restored phone receives and pays.
    let invoice = rt.block_on(new.receive_bolt11(Some(7_000_000), "again".into(), 3600)).unwrap();
    assert!(!invoice.via_jit_channel, "the restored channel takes it");
    assert!(scene.merchant_pays(&invoice.bolt11));
    new_events
        .wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    let sent = rt.block_on(new.pay_bolt11(&scene.merchant_invoice(3_000_000), None)).unwrap();
    assert_paid(&new_events, &sent);
    assert_eq!(history_ids(&new).len(), 4);

    // Found again and started, the old phone is refused before its node runs.
    match rt.block_on(old.start()) {
        Err(e @ WalletError::WalletMoved) => {
            assert!(e.to_string().contains("another device"), "{e}")
        }
        other => panic!("the old phone must be refused, got {other:?}"),
    }
    rt.block_on(new.stop()).unwrap();

    // The backup is in ldk-node's own VSS format: stock ldk-node, given the same phrase and
    // server, reads the same node and channel from it.
    let stock_dir = tempfile::tempdir().unwrap();
    let config = ldk_node::config::Config {
        network: ldk_node::bitcoin::Network::Regtest,
        storage_dir_path: stock_dir.path().to_string_lossy().into_owned(),
        ..Default::default()
    };
    let mut builder = ldk_node::Builder::from_config(config);
    builder.set_entropy_bip39_mnemonic(MNEMONIC.parse().unwrap(), None);
    builder.set_chain_source_esplora(scene.devnet.esplora_url(), None);
    let auth = BackupAuth::from_mnemonic(MNEMONIC, None, Network::Regtest).unwrap();
    let stock = builder
        .build_with_vss_store_and_header_provider(
            server.url(),
            "doze-regtest".into(),
            std::sync::Arc::new(auth),
        )
        .unwrap();
    assert_eq!(stock.node_id().to_string(), node_id);
    let stock_channels: Vec<_> =
        stock.list_channels().iter().map(|c| c.channel_id.to_string()).collect();
    assert_eq!(stock_channels, vec![channels[0].channel_id.clone()]);
}

#[test]
fn a_wallet_that_turns_backup_on_uploads_its_channel_and_restores_with_it() {
    let scene = Scene::new();
    let server = BackupServer::start();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // A wallet that has run without a backup, with a channel.
    doze_testkit::phone::phone_with_channel(&scene, dir.path(), &rt, 40_000_000);
    let (phone, _) = start_wallet(backed_up(&scene, dir.path(), &server), &rt);
    let channels: Vec<_> =
        phone.list_channels().unwrap().into_iter().map(|c| c.channel_id).collect();
    let spendable = phone.balances().unwrap().lightning_spendable_sat;
    assert_eq!(channels.len(), 1);
    rt.block_on(phone.stop()).unwrap();

    // The notification extension wakes through the same backed-up store.
    let extension = Wallet::new(backed_up(&scene, dir.path(), &server), MNEMONIC, None).unwrap();
    let wake = || {
        let (payload, headers) = scene.push();
        rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20)))
    };
    assert_eq!(wake().unwrap().ended, WakeEnd::NothingPending);

    let new_dir = tempfile::tempdir().unwrap();
    let (restored, _) = start_wallet(backed_up(&scene, new_dir.path(), &server), &rt);
    let restored_channels: Vec<_> =
        restored.list_channels().unwrap().into_iter().map(|c| c.channel_id).collect();
    assert_eq!(restored_channels, channels);
    assert_eq!(restored.balances().unwrap().lightning_spendable_sat, spendable);
    rt.block_on(restored.stop()).unwrap();

    // The old phone's extension, woken after the restore, runs nothing.
    assert!(matches!(wake(), Err(WalletError::WalletMoved)));
}

#[test]
fn a_backed_up_wallet_pays_past_the_monitor_persisters_cleanup() {
    // ldk-node's monitor persister writes each channel update as its own object and, every 100
    // updates, the whole monitor, then deletes the updates, some of which it never wrote.
    let scene = Scene::new();
    let server = BackupServer::start();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, events) = start_wallet(backed_up(&scene, dir.path(), &server), &rt);
    let invoice = rt.block_on(phone.receive_bolt11(Some(80_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    events.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    wait_until("the channel settles", DEFAULT_WAIT, || {
        phone.balances().map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0).unwrap()
    });
    const PAYMENTS: usize = 30;
    for _ in 0..PAYMENTS {
        let id = rt.block_on(phone.pay_bolt11(&scene.merchant_invoice(1_000_000), None)).unwrap();
        assert_paid(&events, &id);
    }
    wait_until("the last payment settles", DEFAULT_WAIT, || {
        phone.balances().map(|b| b.pending_sat == 0).unwrap()
    });
    let spendable = phone.balances().unwrap().lightning_spendable_sat;
    rt.block_on(phone.stop()).unwrap();

    let new_dir = tempfile::tempdir().unwrap();
    let (restored, _) = start_wallet(backed_up(&scene, new_dir.path(), &server), &rt);
    assert_eq!(restored.balances().unwrap().lightning_spendable_sat, spendable);
    assert_eq!(history_ids(&restored).len(), PAYMENTS + 1);
    rt.block_on(restored.stop()).unwrap();
}
