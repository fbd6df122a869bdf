//! Chapter 2, the phone's first payment: a brand-new wallet with no channel asks for 50 000
//! sat; the merchant pays; the LSP opens a channel to the phone just in time (LSPS2) and
//! forwards the payment through it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_core::{
    generate_mnemonic, ChainSource, LspConfig, Network, Wallet, WalletConfig, WalletEventKind,
    WordCount,
};
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::Event;
use tokio::runtime::Runtime;

use doze_devnet::nodes::{try_expect_event, try_wait_until};
use doze_testkit::Recorder;
use doze_testkit::Scene;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, secs, short, Failed};

pub const FIRST_PAYMENT_SAT: u64 = 50_000;

/// The phone: a doze-core wallet, as an app holds it.
pub struct Phone {
    pub wallet: Wallet,
    pub events: Arc<Recorder>,
    /// How long `Wallet::start()` took.
    pub start_time: Duration,
    /// What the app and its notification extension both open the wallet with.
    pub config: WalletConfig,
    /// The recovery phrase, as the app keeps it in the Keychain/Keystore (shared with its
    /// extension). Never printed.
    pub mnemonic: String,
}

impl Phone {
    /// Opens and starts the wallet the way the app does at launch.
    pub fn open(rt: &Runtime, config: WalletConfig, mnemonic: String) -> Result<Phone, String> {
        let wallet = Wallet::new(config.clone(), &mnemonic, None).map_err(|e| e.to_string())?;
        let events = Recorder::new();
        wallet.set_event_listener(events.clone());
        let started = Instant::now();
        rt.block_on(wallet.start()).map_err(|e| e.to_string())?;
        Ok(Phone { wallet, events, start_time: started.elapsed(), config, mnemonic })
    }
}

/// A new wallet (fresh recovery phrase, never shown), started against the scene's chain and
/// LSP.
pub fn start_phone(rt: &Runtime, scene: &Scene, dir: &Path) -> Result<Phone, Failed> {
    progress::chapter("The phone's first payment");
    progress::step(
        "start the phone's wallet",
        || -> Result<Phone, String> {
            let config = WalletConfig {
                network: Network::Regtest,
                storage_dir: dir.to_string_lossy().into_owned(),
                chain_source: ChainSource::Esplora { url: scene.devnet.esplora_url() },
                lsp: Some(LspConfig {
                    node_id: scene.lsp.node_id().to_string(),
                    address: scene.lsp.p2p_address().to_string(),
                    token: None,
                    api_url: Some(scene.lsp.http_url()),
                }),
                max_jit_fee_msat: None,
                rgs_url: None,
                background_sync: false,
                additional_lsps: Vec::new(),
                backup: None,
                name_resolution: None,
            };
            Phone::open(rt, config, generate_mnemonic(WordCount::Words12).to_string())
        },
        |phone| {
            let id = phone.wallet.node_id().unwrap_or_default();
            format!(
                "phone wallet started in {} (new 12-word wallet, node {}, no channel, 0 sat)",
                secs(phone.start_time),
                short(&id)
            )
        },
    )
}

pub fn receive_first_payment(rt: &Runtime, scene: &Scene, phone: &Phone) -> Result<(), Failed> {
    let invoice = progress::step(
        "the phone asks for its first sats",
        || -> Result<_, String> {
            let invoice = rt
                .block_on(phone.wallet.receive_bolt11(
                    Some(FIRST_PAYMENT_SAT * 1000),
                    "first sats".into(),
                    3600,
                ))
                .map_err(|e| e.to_string())?;
            if !invoice.via_jit_channel {
                return Err(
                    "the invoice does not go through a JIT channel, but the phone has no channel"
                        .into(),
                );
            }
            Ok(invoice)
        },
        |invoice| {
            format!(
                "phone invoiced {} sat; no channel yet, so the LSP will open one just in time \
                 ({}…)",
                sat(FIRST_PAYMENT_SAT),
                invoice.bolt11.get(..24).unwrap_or(&invoice.bolt11)
            )
        },
    )?;

    let merchant = &scene.merchant.node;
    let paid_at = Instant::now();
    progress::step(
        "the merchant pays the phone's invoice",
        || -> Result<u64, String> {
            let invoice: Bolt11Invoice =
                invoice.bolt11.parse().map_err(|e| format!("unreadable invoice: {e}"))?;
            merchant
                .bolt11_payment()
                .send(&invoice, None)
                .map_err(|e| format!("the merchant could not pay: {e}"))?;
            phone.events.try_wait_for(
                "the phone's new channel to be ready",
                STEP_TIMEOUT,
                |e| matches!(e.kind, WalletEventKind::ChannelReady { .. }),
            )?;
            let phone_id = phone.wallet.node_id().map_err(|e| e.to_string())?;
            Ok(scene
                .lsp
                .node()
                .list_channels()
                .iter()
                .filter(|c| c.counterparty_node_id.to_string() == phone_id)
                .map(|c| c.channel_value_sats)
                .sum())
        },
        |capacity| {
            format!(
                "merchant paid; the LSP opened a {} sat channel to the phone, just in time",
                sat(*capacity)
            )
        },
    )?;

    progress::step(
        "the phone receives the payment",
        || -> Result<u64, String> {
            let event = phone.events.try_wait_for("the payment to arrive", STEP_TIMEOUT, |e| {
                matches!(e.kind, WalletEventKind::PaymentReceived { .. })
            })?;
            match event.kind {
                WalletEventKind::PaymentReceived { amount_msat, .. } => Ok(amount_msat),
                _ => Err("not a payment".into()),
            }
        },
        |amount_msat| {
            format!(
                "phone received {} sat, {} after the merchant paid",
                sat(amount_msat / 1000),
                secs(paid_at.elapsed())
            )
        },
    )?;

    progress::step(
        "the merchant's payment settles",
        || -> Result<Option<u64>, String> {
            let outcome = try_expect_event(
                merchant,
                "the merchant's payment to settle",
                STEP_TIMEOUT,
                |e| matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. }),
            )?;
            match outcome {
                Event::PaymentSuccessful { fee_paid_msat, .. } => Ok(fee_paid_msat),
                Event::PaymentFailed { reason, .. } => {
                    Err(format!("the merchant's payment failed: {reason:?}"))
                }
                _ => Err("unexpected event".into()),
            }
        },
        |fee| match fee {
            Some(fee) => {
                format!("merchant's payment settled (routing fee {} sat)", sat(fee / 1000))
            }
            None => "merchant's payment settled".to_string(),
        },
    )?;

    progress::step(
        "the received sats become spendable",
        || -> Result<u64, String> {
            // The claim settles with the LSP's next commitment update, a moment after the event.
            let mut spendable = 0;
            try_wait_until("the phone can spend what it received", STEP_TIMEOUT, || {
                spendable = phone.wallet.balances().map(|b| b.lightning_spendable_sat).unwrap_or(0);
                spendable > FIRST_PAYMENT_SAT * 9 / 10
            })?;
            Ok(spendable)
        },
        |spendable| {
            let reserve = FIRST_PAYMENT_SAT.saturating_sub(*spendable);
            let note = if reserve > 0 {
                format!(" ({} sat stay in the channel as its reserve)", sat(reserve))
            } else {
                String::new()
            };
            format!("phone can spend {} sat over Lightning{note}", sat(*spendable))
        },
    )?;
    Ok(())
}
