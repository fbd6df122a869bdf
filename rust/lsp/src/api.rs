//! The JSON bodies of the operator HTTP API (server side in `http`, parsed back by clients and
//! tests with the same types).

use ldk_node::{ChannelDetails, Node};
use serde::{Deserialize, Serialize};

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` while the server answers and the node runs.
    pub status: String,
}

/// `GET /v1/node`: who the node is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node id (hex public key).
    pub node_id: String,
    /// The announced alias.
    pub alias: Option<String>,
    /// `bitcoin`, `testnet`, `signet`, `regtest`...
    pub network: String,
    /// Where the node listens for peers.
    pub listening_addresses: Vec<String>,
    /// What the node tells peers to dial.
    pub announcement_addresses: Vec<String>,
    /// Whether the node runs.
    pub is_running: bool,
    /// Height of the best block the Lightning wallet is synced to.
    pub best_block_height: u32,
    /// Hash of that block.
    pub best_block_hash: String,
    /// On-chain balances.
    pub onchain: OnchainBalance,
    /// Sum of what the node could claim from its channels, in satoshis.
    pub lightning_balance_sats: u64,
    /// Number of channels (any state).
    pub channel_count: usize,
}

/// On-chain wallet balances, in satoshis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnchainBalance {
    /// Everything, confirmed or not.
    pub total_sats: u64,
    /// Spendable now (confirmed, less the anchor reserve).
    pub spendable_sats: u64,
    /// Kept back to bump anchor-channel closes.
    pub anchor_reserve_sats: u64,
}

/// `GET /v1/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelList {
    /// All channels, in ldk-node's order.
    pub channels: Vec<ChannelInfo>,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// The channel id (hex).
    pub channel_id: String,
    /// ldk-node's local id for the channel (decimal u128).
    pub user_channel_id: String,
    /// The peer's node id.
    pub counterparty_node_id: String,
    /// `txid:vout` of the funding output, once known.
    pub funding_txo: Option<String>,
    /// The confirmed short channel id, if any.
    pub short_channel_id: Option<u64>,
    /// Channel capacity, in satoshis.
    pub capacity_sats: u64,
    /// What the LSP can send on it now, in millisatoshis.
    pub outbound_capacity_msat: u64,
    /// What the LSP can receive on it now, in millisatoshis.
    pub inbound_capacity_msat: u64,
    /// Whether the LSP opened it.
    pub is_outbound: bool,
    /// Whether it is ready and the peer connected.
    pub is_usable: bool,
    /// Whether both sides exchanged `channel_ready`.
    pub is_channel_ready: bool,
    /// Whether it is announced to the network.
    pub is_announced: bool,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations required before it is ready (0 for JIT channels).
    pub confirmations_required: Option<u32>,
}

/// `GET /v1/lsps2/fees`: the channel-opening fee terms this LSP's LSPS2 service quotes (the
/// fields of bLIP-52's `opening_fee_params`, less the per-request `valid_until` and `promise`).
///
/// LSPS2 itself hands these to a client only inside ldk-node (`lsps2.get_info` is private to
/// its liquidity source in 0.7.1, which reports nothing before it buys a channel). A wallet
/// reads them here to name the fee when it refuses a channel over its limit and to learn the
/// minimum fee, which ldk-node never reports. The quote a channel is bought on is still
/// LSPS2's; these are the same numbers, from the same configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningFeeTerms {
    /// The fee for any channel, however small the payment, in millisatoshis.
    pub min_fee_msat: u64,
    /// The fee as a share of the payment, in parts per million.
    pub proportional: u32,
    /// The smallest payment that opens a channel, in millisatoshis.
    pub min_payment_size_msat: u64,
    /// The largest payment that opens a channel, in millisatoshis.
    pub max_payment_size_msat: u64,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for a human.
    pub error: String,
}

impl NodeInfo {
    /// Gathers the node's description (fast, non-blocking ldk-node calls only).
    pub fn of(node: &Node) -> NodeInfo {
        let status = node.status();
        let balances = node.list_balances();
        let strings = |addrs: Option<Vec<_>>| {
            addrs.unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<String>>()
        };
        NodeInfo {
            node_id: node.node_id().to_string(),
            alias: node.node_alias().map(|a| a.to_string()),
            network: node.config().network.to_string(),
            listening_addresses: strings(node.listening_addresses()),
            announcement_addresses: strings(node.announcement_addresses()),
            is_running: status.is_running,
            best_block_height: status.current_best_block.height,
            best_block_hash: status.current_best_block.block_hash.to_string(),
            onchain: OnchainBalance {
                total_sats: balances.total_onchain_balance_sats,
                spendable_sats: balances.spendable_onchain_balance_sats,
                anchor_reserve_sats: balances.total_anchor_channels_reserve_sats,
            },
            lightning_balance_sats: balances.total_lightning_balance_sats,
            channel_count: node.list_channels().len(),
        }
    }
}

impl From<&ChannelDetails> for ChannelInfo {
    fn from(c: &ChannelDetails) -> Self {
        ChannelInfo {
            channel_id: c.channel_id.to_string(),
            user_channel_id: c.user_channel_id.0.to_string(),
            counterparty_node_id: c.counterparty_node_id.to_string(),
            funding_txo: c.funding_txo.map(|o| o.to_string()),
            short_channel_id: c.short_channel_id,
            capacity_sats: c.channel_value_sats,
            outbound_capacity_msat: c.outbound_capacity_msat,
            inbound_capacity_msat: c.inbound_capacity_msat,
            is_outbound: c.is_outbound,
            is_usable: c.is_usable,
            is_channel_ready: c.is_channel_ready,
            is_announced: c.is_announced,
            confirmations: c.confirmations,
            confirmations_required: c.confirmations_required,
        }
    }
}
