//! Chapter 1, setting the scene: a regtest chain, an LSP with on-chain funds, and a merchant
//! (stock ldk-node) with a channel to the LSP. The phone comes next.

use std::path::Path;
use std::sync::Arc;

use doze_devnet::Devnet;
use doze_lsp::Lsp;
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::{Builder, Event, Node};
use tokio::runtime::Runtime;

use super::wait::{self, STEP_TIMEOUT};
use crate::progress::{self, sat, short, Failed};

pub const LSP_FUNDS_SAT: u64 = 5_000_000;
pub const MERCHANT_FUNDS_SAT: u64 = 2_000_000;
pub const MERCHANT_CHANNEL_SAT: u64 = 1_000_000;

/// A stock ldk-node node: the merchant who sells coffee, or the friend who pays the phone.
pub struct StockNode {
    pub node: Arc<Node>,
    pub address: SocketAddress,
}

/// Everything around the phone. Fields drop in order: the merchant and the LSP stop (their
/// `Drop`s stop the nodes) before the chain they read goes away.
pub struct Scene {
    pub merchant: StockNode,
    pub lsp: Lsp,
    pub devnet: Devnet,
}

impl Scene {
    /// Starts the devnet, the LSP and the merchant under `dir`, funds them and opens the
    /// merchant's channel to the LSP.
    pub fn set_up(rt: &Runtime, dir: &Path) -> Result<Scene, Failed> {
        progress::chapter("Setting the scene");
        let devnet = progress::step("start the devnet", Devnet::start, |devnet| {
            format!(
                "devnet up: a regtest chain at {} ({} blocks)",
                devnet.esplora_url(),
                devnet.tip().0
            )
        })?;

        let lsp = progress::step(
            "start the LSP",
            || Lsp::start(doze_lsp::devnet_config(&devnet.esplora_url(), &dir.join("lsp"))),
            |lsp| {
                format!(
                    "LSP ready (node {}, peers at {}, operator API {})",
                    short(&lsp.node_id().to_string()),
                    lsp.p2p_address(),
                    lsp.http_url()
                )
            },
        )?;
        progress::step(
            "fund the LSP",
            || -> Result<(), String> {
                let address = lsp.new_onchain_address().map_err(|e| e.to_string())?;
                devnet
                    .fund_confirmed(&address, Amount::from_sat(LSP_FUNDS_SAT))
                    .map_err(|e| format!("the faucet refused: {e}"))?;
                wait::until("the LSP sees its funds", STEP_TIMEOUT, || {
                    lsp.sync().is_ok()
                        && lsp.node().list_balances().spendable_onchain_balance_sats > 0
                })
            },
            |_| {
                format!(
                    "LSP funded with {} sat on-chain, to open channels to phones",
                    sat(LSP_FUNDS_SAT)
                )
            },
        )?;

        let merchant = progress::step(
            "start the merchant's node",
            || StockNode::start(&devnet, "merchant", &dir.join("merchant"), |_| Ok(())),
            |m| {
                format!(
                    "merchant's node ready (stock ldk-node {}, peers at {})",
                    short(&m.node.node_id().to_string()),
                    m.address
                )
            },
        )?;
        progress::step(
            "fund the merchant",
            || merchant.fund(&devnet, "the merchant", MERCHANT_FUNDS_SAT),
            |_| format!("merchant funded with {} sat on-chain", sat(MERCHANT_FUNDS_SAT)),
        )?;
        progress::step(
            "the merchant opens a channel to the LSP",
            // Half of it on the LSP's side, so that the merchant can be paid as well as pay.
            || {
                merchant.open_channel_to_lsp(
                    rt,
                    &devnet,
                    &lsp,
                    MERCHANT_CHANNEL_SAT,
                    MERCHANT_CHANNEL_SAT * 500,
                    false,
                )
            },
            |_| {
                format!(
                    "merchant opened a {} sat channel to the LSP (6 confirmations, usable)",
                    sat(MERCHANT_CHANNEL_SAT)
                )
            },
        )?;
        Ok(Scene { merchant, lsp, devnet })
    }
}

impl StockNode {
    /// Builds (after `configure` adjusts the builder) and starts a stock ldk-node node named
    /// `name` on the devnet, storing in `dir`.
    pub fn start(
        devnet: &Devnet,
        name: &str,
        dir: &Path,
        configure: impl FnOnce(&mut Builder) -> Result<(), String>,
    ) -> Result<StockNode, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (mut builder, address) = devnet.node_builder(name, dir);
        configure(&mut builder)?;
        let node =
            builder.build().map_err(|e| format!("ldk-node could not build the node: {e}"))?;
        node.start().map_err(|e| format!("ldk-node could not start: {e}"))?;
        Ok(StockNode { node: Arc::new(node), address })
    }

    /// Has the faucet send `sats` on-chain (confirmed) and waits until the node sees them.
    pub fn fund(&self, devnet: &Devnet, who: &str, sats: u64) -> Result<(), String> {
        let node = &self.node;
        let address = node.onchain_payment().new_address().map_err(|e| e.to_string())?;
        devnet
            .fund_confirmed(&address, Amount::from_sat(sats))
            .map_err(|e| format!("the faucet refused: {e}"))?;
        wait::until(&format!("{who} sees its funds"), STEP_TIMEOUT, || {
            node.sync_wallets().is_ok()
                && node.list_balances().spendable_onchain_balance_sats >= sats
        })
    }

    /// Opens a channel of `sats` to the LSP (`push_msat` of it on the LSP's side), announced
    /// or not, mines 6 blocks and waits until it is usable.
    pub fn open_channel_to_lsp(
        &self,
        rt: &Runtime,
        devnet: &Devnet,
        lsp: &Lsp,
        sats: u64,
        push_msat: u64,
        announced: bool,
    ) -> Result<(), String> {
        let node = &self.node;
        let mempool_before = devnet.mempool_len();
        let open = if announced { Node::open_announced_channel } else { Node::open_channel };
        open(node, lsp.node_id(), lsp.p2p_address(), sats, Some(push_msat), None)
            .map_err(|e| format!("open_channel failed: {e}"))?;
        wait::node_event(rt, node, "the channel to be negotiated", STEP_TIMEOUT, |e| {
            matches!(e, Event::ChannelPending { .. })
        })?;
        if !devnet.wait_for_mempool_len(mempool_before + 1, STEP_TIMEOUT) {
            return Err("the funding transaction never reached the mempool".into());
        }
        devnet.mine(6);
        let lsp_id = lsp.node_id();
        wait::until("the channel to the LSP is usable", STEP_TIMEOUT, || {
            node.sync_wallets().is_ok()
                && lsp.sync().is_ok()
                && node
                    .list_channels()
                    .iter()
                    .any(|c| c.counterparty_node_id == lsp_id && c.is_usable)
        })
    }
}
