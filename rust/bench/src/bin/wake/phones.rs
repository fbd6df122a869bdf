//! The phones the wakes take payments for: Doze apps (local store or backed up), and a stock
//! ldk-node phone on ldk-node's VSS store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use doze_core::{BackupAuth, PushTarget, Wallet, WalletConfig, WordCount};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_testkit::async_scene::{PHONE_CHANNEL, PHONE_RESERVE_FUNDS};
use doze_testkit::lsp::has_usable_channel;
use doze_testkit::{AsyncScene, WebhookReceiver};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::config::AsyncPaymentsRole;
use ldk_node::lightning::offers::offer::Offer;

use crate::STOCK_STORE_ID;

/// A phone the wakes take payments for.
pub(crate) struct WakePhone {
    /// Its Doze configuration (a Doze phone), or its storage only (the stock VSS phone).
    pub(crate) config: WalletConfig,
    pub(crate) mnemonic: String,
    pub(crate) offer: Offer,
    pub(crate) id: PublicKey,
    /// The ldk-node storage directory `ldk-wake` opens.
    pub(crate) node_dir: PathBuf,
}

/// A Doze app with `config`: a channel of `channel_sat` from LSP-A, LSP-B known, registered
/// for pushes to `webhook`, its offer, stopped.
pub(crate) fn doze_phone(
    scene: &AsyncScene,
    devnet: &Devnet,
    config: WalletConfig,
    mnemonic: &str,
    channel_sat: u64,
    webhook: &WebhookReceiver,
    rt: &tokio::runtime::Runtime,
) -> WakePhone {
    let app = Wallet::new(config.clone(), mnemonic, None).expect("wallet");
    rt.block_on(app.start()).expect("start");
    let id: PublicKey = app.node_id().expect("id").parse().expect("key");
    scene.open_channel_to_phone(devnet, id, None, channel_sat, &[]);
    wait_until("phone ready", Duration::from_secs(120), || {
        rt.block_on(app.sync()).is_ok()
            && app.balances().map(|b| b.lightning_inbound_sat > 0).unwrap_or(false)
            && app.knows_node(&scene.lsp_b.node_id().to_string()).unwrap_or(false)
    });
    rt.block_on(app.register_for_push("bench".into(), PushTarget::Webhook { url: webhook.url() }))
        .expect("register");
    let offer: Offer = rt
        .block_on(app.receive_offer(Duration::from_secs(120)))
        .expect("offer")
        .parse()
        .expect("offer");
    rt.block_on(app.stop()).expect("stop");
    drop(app);
    let node_dir = Path::new(&config.storage_dir).join("node");
    WakePhone { config, mnemonic: mnemonic.into(), offer, id, node_dir }
}

/// A stock ldk-node phone on ldk-node's VSS store at `url` (storage for its logs in `dir`),
/// configured as `ldk-wake` builds it: its anchor reserve funded, a channel from LSP-A, the
/// LSPs' gossip, registered for pushes to `webhook`, its offer, stopped.
pub(crate) fn stock_vss_phone(
    scene: &AsyncScene,
    devnet: &Devnet,
    url: &str,
    dir: &Path,
    webhook: &WebhookReceiver,
) -> WakePhone {
    let mnemonic = doze_core::generate_mnemonic(WordCount::Words12);
    let (mut builder, address) = devnet.node_builder("stock-vss-phone", dir);
    builder.set_entropy_bip39_mnemonic(mnemonic.clone(), None);
    builder.set_liquidity_source_lsps2(scene.lsp_a.node_id(), scene.lsp_a.p2p_address(), None);
    builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
    let auth = BackupAuth::from_mnemonic(&mnemonic.to_string(), None, doze_core::Network::Regtest)
        .expect("the backup key");
    let node = builder
        .build_with_vss_store_and_header_provider(url.into(), STOCK_STORE_ID.into(), Arc::new(auth))
        .expect("the stock VSS phone builds");
    node.start().expect("the stock VSS phone starts");
    let funds = node.onchain_payment().new_address().expect("an address");
    devnet.fund_confirmed(&funds, Amount::from_sat(PHONE_RESERVE_FUNDS)).expect("funded");
    wait_until("the stock VSS phone sees its funds", DEFAULT_WAIT, || {
        node.sync_wallets().is_ok()
            && node.list_balances().spendable_onchain_balance_sats >= PHONE_RESERVE_FUNDS
    });
    let id = node.node_id();
    scene.open_channel_to_phone(devnet, id, Some(address), PHONE_CHANNEL, &[&node]);
    wait_until("the stock VSS phone's channel is usable", DEFAULT_WAIT, || {
        node.sync_wallets().is_ok() && has_usable_channel(&node, scene.lsp_a.node_id())
    });
    scene.wait_for_gossip(devnet, "stock-vss-phone", &node, Duration::from_secs(120));
    let target = doze_lsp::push::PushTarget::webhook(webhook.url());
    let offer = scene.set_up_async_receive(&node, target, Duration::from_secs(120));
    // The set-up's events are not the wakes' to handle.
    while node.next_event().is_some() {
        node.event_handled().expect("event handled");
    }
    node.stop().expect("the stock VSS phone stops");
    let config = scene.phone_config(devnet, dir);
    WakePhone { config, mnemonic: mnemonic.to_string(), offer, id, node_dir: dir.to_path_buf() }
}
