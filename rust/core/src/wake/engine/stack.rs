//! The wake's LDK stack, assembled over the wallet's ldk-node store the way ldk-node 0.7.1's
//! `builder.rs` assembles its own, minus everything a wake does not need (graph, scorer, chain
//! sync, on-chain wallet, gossip, liquidity, sweeper). What must be the same is the same: the
//! store and its keys, the LDK seed, the `UserConfig`, the monitor persister's parameters, the
//! LDK crates themselves (taken through ldk-node's re-exports, so their versions cannot drift
//! from the node's), and the very types the node instantiates LDK with (`doze_stack`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::bip39::Mnemonic;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::BlockHash;
use ldk_node::doze_stack::{
    ChainSource, KeysManager, Logger, NodeCustomMessageHandler, NodeMessageRouter, NodeRouter,
    OnchainFeeEstimator, TransactionBroadcaster,
};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::chain::ChannelMonitorUpdateStatus;
use ldk_node::lightning::io::Cursor;
use ldk_node::lightning::ln::channelmanager::ChannelManagerReadArgs;
use ldk_node::lightning::ln::msgs::RoutingMessageHandler;
use ldk_node::lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use ldk_node::lightning::sign::{EntropySource, NodeSigner};
use ldk_node::lightning::util::config::{
    ChannelHandshakeConfig, ChannelHandshakeLimits, UserConfig,
};
use ldk_node::lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use ldk_node::lightning::util::ser::{ReadableArgs, Writeable};
use ldk_node::DynStore;

use super::message_router::AddressBookRouter;
use super::observer::{Milestones, ObservedAsyncPayments};
use super::offers::NoInvoicesDuringAWake;
use super::persist::{RoundStore, RoundTarget};
use super::plumbing::{ChainBroadcaster, NoRoutes};
use crate::error::WalletError;
use crate::kill_points::{self, points};
use crate::logging::LdkLogForwarder;
use crate::store::address_book::AddressBook;
use crate::store::WalletDb;
use doze_ordered_persist::RoundError;

/// ldk-node's `PERSISTER_MAX_PENDING_UPDATES`: a monitor is rewritten in full after this many
/// incremental updates. Another value would not corrupt anything, but the app's node and the
/// wake would consolidate at different points.
const PERSISTER_MAX_PENDING_UPDATES: u64 = 100;

// The wake's LDK stack is ldk-node's own types: LDK's generic manager, monitor, messenger and
// peer handler are then compiled once in the phone's library, not once for the node and again
// for the wake (ldk-node's `doze_stack`, DOZE-PATCH.md).
pub(crate) use ldk_node::doze_stack::{
    ChainMonitor, ChannelManager, OnionMessenger, OrderedPersister, PeerManager, Persister,
};

/// What the wake needs to know about the wallet to open its stack.
pub(crate) struct StackConfig<'a> {
    /// The ldk-node storage directory (`<storage>/node`).
    pub node_dir: std::path::PathBuf,
    /// The Doze storage directory (address book).
    pub storage_dir: &'a std::path::Path,
    /// The wallet's network.
    pub network: crate::config::Network,
    /// The wallet's backup, if it has one: the wake writes through it like the app.
    pub backup: Option<&'a crate::store::backup::BackupConfig>,
    /// The recovery phrase and passphrase.
    pub mnemonic: &'a Mnemonic,
    /// The BIP39 passphrase.
    pub passphrase: Option<&'a str>,
    /// The primary LSP.
    pub lsp: PublicKey,
    /// Where to broadcast (Esplora), if anywhere.
    pub esplora_url: Option<String>,
}

/// The assembled stack.
pub(crate) struct Stack {
    /// The node store.
    pub store: Arc<DynStore>,
    /// The node store as persistence rounds write it (batched).
    pub round_store: Arc<RoundStore>,
    /// The chain monitor.
    pub chain_monitor: Arc<ChainMonitor>,
    /// Monitor writes, deferred until the manager is written.
    pub persister: Arc<OrderedPersister>,
    /// The channel manager.
    pub manager: Arc<ChannelManager>,
    /// The onion messenger.
    pub messenger: Arc<OnionMessenger>,
    /// The peer manager.
    pub peers: Arc<PeerManager>,
    /// Broadcasts (a closing channel).
    pub broadcaster: Arc<ChainBroadcaster>,
    /// How many channel monitors were loaded.
    pub monitors: usize,
}

fn read_failed(what: &str, e: impl std::fmt::Display) -> WalletError {
    WalletError::Storage(format!("the wake cannot read the wallet's {what} (open the app): {e}"))
}

/// The `UserConfig` ldk-node 0.7.1 builds for this wallet (config.rs `default_user_config`,
/// builder.rs: no alias or listening address, so nothing announced; the async-payments client
/// role). Anchor channels are on in ldk-node's default `Config` and in Doze's; reading an
/// anchor channel without the flag fails (`UnknownRequiredFeature`).
pub(crate) fn user_config() -> UserConfig {
    UserConfig {
        channel_handshake_config: ChannelHandshakeConfig {
            negotiate_anchors_zero_fee_htlc_tx: true,
            announce_for_forwarding: false,
            ..ChannelHandshakeConfig::default()
        },
        channel_handshake_limits: ChannelHandshakeLimits {
            force_announced_channel_preference: true,
            ..ChannelHandshakeLimits::default()
        },
        manually_accept_inbound_channels: true,
        reject_inbound_splices: false,
        accept_forwards_to_priv_channels: false,
        hold_outbound_htlcs_at_next_hop: true,
        ..UserConfig::default()
    }
}

/// ldk-node's LDK seed for `mnemonic`: the BIP32 master private key of the BIP39 seed.
fn ldk_seed(
    mnemonic: &Mnemonic,
    passphrase: Option<&str>,
    network: ldk_node::bitcoin::Network,
) -> Result<[u8; 32], WalletError> {
    Ok(crate::mnemonic::master_key(mnemonic, passphrase, network)?.private_key.secret_bytes())
}

/// Opens the wallet's node store and assembles the stack over it. Nothing is written: a wake
/// that fails here leaves the store as it found it.
pub(crate) fn open(
    config: &StackConfig<'_>,
    milestones: Arc<Milestones>,
    runtime: tokio::runtime::Handle,
) -> Result<Stack, WalletError> {
    let manager_file = config.node_dir.join(SQLITE_DB_FILE_NAME);
    if !manager_file.exists() {
        return Err(WalletError::Storage(
            "this wallet has never run: start it in the app first".into(),
        ));
    }
    let target = match config.backup {
        // The same store the app's node uses; it refuses a wallet another device took over.
        Some(backup) => RoundTarget::backed_up(Arc::new(crate::store::backup::open(
            &config.node_dir,
            backup,
            config.mnemonic,
            config.passphrase,
            config.network,
            crate::store::backup::Opener::Wake,
        )?)),
        None => RoundTarget::local(Arc::new(
            SqliteStore::new(
                config.node_dir.clone(),
                Some(SQLITE_DB_FILE_NAME.into()),
                Some(KV_TABLE_NAME.into()),
            )
            .map_err(|e| read_failed("node store", e))?,
        )),
    };
    let store = target.store();
    let round_store = Arc::new(RoundStore::new(Arc::new(target)));
    let logger = Arc::new(Logger::new_custom_writer(Arc::new(LdkLogForwarder)));
    let fees = Arc::new(OnchainFeeEstimator::new());
    let queue = Arc::new(TransactionBroadcaster::new(Arc::clone(&logger)));
    let broadcaster =
        Arc::new(ChainBroadcaster::new(Arc::clone(&queue), config.esplora_url.clone(), runtime));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let seed = ldk_seed(config.mnemonic, config.passphrase, config.network.to_bitcoin())?;
    // ldk-node's keys without its BDK wallet, which a wake does not load: asked for an
    // on-chain destination, they answer "no", so LDK opens no channel and agrees to no
    // cooperative close during a wake (the app finishes those).
    let keys = Arc::new(KeysManager::without_wallet(
        &seed,
        now.as_secs(),
        now.subsec_nanos(),
        Arc::clone(&logger),
    ));

    let persister = Arc::new(Persister::new(
        Arc::clone(&round_store) as Arc<DynStore>,
        Arc::clone(&logger),
        PERSISTER_MAX_PENDING_UPDATES,
        Arc::clone(&keys),
        Arc::clone(&keys),
        Arc::clone(&queue),
        Arc::clone(&fees),
    ));
    let monitors = persister
        .read_all_channel_monitors_with_updates()
        .map_err(|e| read_failed("channel monitors", e))?;
    let ordered = Arc::new(OrderedPersister::new(persister));
    let chain_monitor = Arc::new(ChainMonitor::new(
        None::<Arc<ChainSource>>,
        Arc::clone(&queue),
        Arc::clone(&logger),
        Arc::clone(&fees),
        Arc::clone(&ordered),
        Arc::clone(&keys),
        keys.get_peer_storage_key(),
    ));

    let book = AddressBook::open(config.storage_dir)
        .map_err(|e| log::warn!("wake: no address book ({e}); onion messages go through the LSP"))
        .ok();
    let message_router =
        Arc::new(NodeMessageRouter::new(Arc::new(AddressBookRouter::new(book, config.lsp))));
    let manager_bytes = KVStoreSync::read(
        &*store,
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    )
    .map_err(|e| read_failed("channel manager", e))?;
    let read_args = ChannelManagerReadArgs::new(
        Arc::clone(&keys),
        Arc::clone(&keys),
        Arc::clone(&keys),
        Arc::clone(&fees),
        Arc::clone(&chain_monitor),
        Arc::clone(&queue),
        Arc::new(NodeRouter::new(Arc::new(NoRoutes))),
        Arc::clone(&message_router),
        Arc::clone(&logger),
        user_config(),
        monitors.iter().map(|(_, monitor)| monitor).collect(),
    );
    // Read as ldk-node reads it (a `Cursor`): each reader type compiles LDK's decoders again.
    let (_best_block, manager) =
        <(BlockHash, ChannelManager)>::read(&mut Cursor::new(manager_bytes), read_args)
            .map_err(|e| read_failed("channel manager", format!("{e:?}")))?;
    let manager = Arc::new(manager);
    let count = monitors.len();
    for (_, monitor) in monitors {
        let channel_id = monitor.channel_id();
        // Not `watch_channel`: that rewrites every monitor in full.
        match chain_monitor.load_existing_monitor(channel_id, monitor) {
            Ok(ChannelMonitorUpdateStatus::Completed) => {}
            other => {
                return Err(read_failed(
                    "channel monitors",
                    format!("channel {channel_id}: {other:?}"),
                ))
            }
        }
    }

    let keeper = WalletDb::open(config.storage_dir)
        .and_then(|db| db.survive_kills_only().map(|()| db))
        .map_err(|e| log::warn!("wake: releases not kept: {e}"))
        .ok();
    let async_payments =
        Arc::new(ObservedAsyncPayments::new(Arc::clone(&manager), milestones, keeper));
    let messenger = Arc::new(OnionMessenger::new(
        Arc::clone(&keys),
        Arc::clone(&keys),
        Arc::clone(&logger),
        Arc::clone(&manager),
        message_router,
        Arc::new(NoInvoicesDuringAWake::new(Arc::clone(&manager))),
        async_payments,
        IgnoringMessageHandler {},
        IgnoringMessageHandler {},
    ));
    let no_gossip: Arc<dyn RoutingMessageHandler + Send + Sync> =
        Arc::new(IgnoringMessageHandler {});
    let handlers = MessageHandler {
        chan_handler: Arc::clone(&manager),
        route_handler: no_gossip,
        onion_message_handler: Arc::clone(&messenger),
        custom_message_handler: Arc::new(NodeCustomMessageHandler::new_ignoring()),
        send_only_message_handler: Arc::clone(&chain_monitor),
    };
    let ephemeral = keys.get_secure_random_bytes();
    let peers = Arc::new(PeerManager::new(
        handlers,
        now.as_secs() as u32,
        &ephemeral,
        logger,
        Arc::clone(&keys),
    ));
    Ok(Stack {
        store,
        round_store,
        chain_monitor,
        persister: ordered,
        manager,
        messenger,
        peers,
        broadcaster,
        monitors: count,
    })
}

impl Stack {
    /// One persistence round (see `doze-ordered-persist`): takes the monitor writes deferred
    /// so far, writes the channel manager where ldk-node reads it, then those writes, all in
    /// one batch (`persist.rs`); whether any monitor writes were made (LDK then has messages to
    /// release).
    pub(crate) fn persist(&self) -> Result<bool, WalletError> {
        let report = self
            .persister
            .persist_round_batched(&*self.chain_monitor, &*self.round_store, || {
                KVStoreSync::write(
                    &*self.round_store,
                    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                    CHANNEL_MANAGER_PERSISTENCE_KEY,
                    self.manager.encode(),
                )
            })
            .map_err(|e| match e {
                RoundError::Manager(e) | RoundError::Commit(e) => {
                    WalletError::Storage(format!("cannot write the channel state: {e}"))
                }
                other => WalletError::Storage(other.to_string()),
            })?;
        if report.whole_monitor {
            kill_points::reached(points::WHOLE_MONITOR_WRITTEN);
        }
        if report.monitor_writes > 0 {
            kill_points::reached(points::MONITORS_WRITTEN);
        }
        Ok(report.monitor_writes > 0)
    }
}
