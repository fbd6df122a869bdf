//! Chapter 1, setting the scene: a regtest chain, an LSP with on-chain funds, and a merchant
//! (stock ldk-node) with a channel to the LSP. The phone comes next. Each step is one of
//! doze-testkit's scene steps, narrated; the merchant's channel is unannounced here (chapter
//! 5 makes the LSP public itself, to show why it must be).

use doze_devnet::Devnet;
use doze_testkit::scene::{LSP_FUNDS_SAT, MERCHANT_CHANNEL_SAT, MERCHANT_FUNDS_SAT};
use doze_testkit::Scene;
use ldk_node::bitcoin::Amount;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, short, Failed};

/// Starts the devnet, the LSP and the merchant, funds them and opens the merchant's channel
/// to the LSP.
pub fn set_up() -> Result<Scene, Failed> {
    progress::chapter("Setting the scene");
    let devnet = progress::step("start the devnet", Devnet::start, |devnet| {
        format!(
            "devnet up: a regtest chain at {} ({} blocks)",
            devnet.esplora_url(),
            devnet.tip().0
        )
    })?;

    let (lsp, lsp_dir) = progress::step(
        "start the LSP",
        || Scene::start_lsp(&devnet),
        |(lsp, _)| {
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
        || {
            doze_testkit::lsp::try_fund_lsp(
                &devnet,
                &lsp,
                Amount::from_sat(LSP_FUNDS_SAT),
                STEP_TIMEOUT,
            )
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
        || devnet.try_start_node_with("merchant", |_| {}),
        |m| {
            format!(
                "merchant's node ready (stock ldk-node {}, peers at {})",
                short(&m.node_id().to_string()),
                m.address
            )
        },
    )?;
    progress::step(
        "fund the merchant",
        || devnet.try_fund_node(&merchant, Amount::from_sat(MERCHANT_FUNDS_SAT), STEP_TIMEOUT),
        |_| format!("merchant funded with {} sat on-chain", sat(MERCHANT_FUNDS_SAT)),
    )?;
    progress::step(
        "the merchant opens a channel to the LSP",
        || Scene::open_merchant_channel(&devnet, &merchant, &lsp, false, STEP_TIMEOUT),
        |_| {
            format!(
                "merchant opened a {} sat channel to the LSP (6 confirmations, usable)",
                sat(MERCHANT_CHANNEL_SAT)
            )
        },
    )?;
    Ok(Scene { merchant, lsp, devnet, lsp_dir })
}
