//! The ldk-node `Node` the app runs, built from the wallet's configuration over its store.

use std::sync::Arc;

use ldk_node::config::{
    AnchorChannelsConfig, AsyncPaymentsRole, BackgroundSyncConfig, Config, ElectrumSyncConfig,
    EsploraSyncConfig,
};
use ldk_node::{DynStore, Node};

use crate::config::{ChainSource, ParsedLsp};
use crate::error::WalletError;
use crate::logging::LdkLogForwarder;
use crate::store::node_store::NodeStore;
use crate::wallet::Inner;

/// Builds the app's node for `inner`'s configuration over `store`, reaching the primary LSP at
/// `primary` (its relay, see `net/relay.rs`).
pub(crate) fn build_node(
    inner: &Inner,
    runtime: tokio::runtime::Handle,
    primary: Option<&ParsedLsp>,
    store: &NodeStore,
) -> Result<Node, WalletError> {
    let mut config = Config::default();
    config.network = inner.config.network.to_bitcoin();
    config.storage_dir_path =
        crate::store::node_payments::node_dir(&inner.storage_dir()).to_string_lossy().into_owned();
    if inner.lsp.is_some() || !inner.additional_lsps.is_empty() {
        // LSPs open our channels and we have no on-chain funds to reserve for anchor fee
        // bumps of channels we did not fund; trust them for that. (Zero-conf trust goes
        // to the primary LSP only, through LSPS2.)
        config.anchor_channels_config = Some(AnchorChannelsConfig {
            trusted_peers_no_reserve: inner
                .lsp
                .iter()
                .chain(&inner.additional_lsps)
                .map(|l| l.node_id)
                .collect(),
            ..AnchorChannelsConfig::default()
        });
    }
    let mut builder = ldk_node::Builder::from_config(config);
    builder.set_runtime(runtime);
    builder.set_entropy_bip39_mnemonic(inner.mnemonic.clone(), inner.passphrase.clone());
    builder.set_custom_logger(Arc::new(LdkLogForwarder));
    // Monitor writes after the manager's (Doze's ldk-node patch, vendor/ldk-node): an app
    // killed at any instant leaves no channel for LDK to force-close at the next start.
    builder.set_kill_safe_persistence(true);
    let background = inner.config.background_sync.then(BackgroundSyncConfig::default);
    match &inner.config.chain_source {
        ChainSource::Esplora { url } => {
            builder.set_chain_source_esplora(
                url.clone(),
                Some(EsploraSyncConfig { background_sync_config: background }),
            );
        }
        ChainSource::Electrum { url } => {
            builder.set_chain_source_electrum(
                url.clone(),
                Some(ElectrumSyncConfig { background_sync_config: background }),
            );
        }
    }
    match &inner.config.rgs_url {
        Some(url) => builder.set_gossip_source_rgs(url.clone()),
        None => builder.set_gossip_source_p2p(),
    };
    if let Some(lsp) = primary {
        builder.set_liquidity_source_lsps2(lsp.node_id, lsp.address.clone(), lsp.token.clone());
    }
    builder
        .set_async_payments_role(Some(AsyncPaymentsRole::Client))
        .map_err(|e| WalletError::InvalidConfig(e.to_string()))?;
    builder
        .build_with_store(Arc::new(store.clone()) as Arc<DynStore>)
        .map_err(|e| WalletError::Storage(format!("cannot open the node: {e}")))
}
