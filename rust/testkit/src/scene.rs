//! The plain scene: a devnet, a Doze LSP with on-chain funds, and a merchant (stock ldk-node)
//! with a channel to the LSP, half of it on each side; phones are `doze_core::Wallet`s pointed
//! at them. Core's end-to-end tests, the FFI example that the Python and Kotlin suites drive,
//! and `doze demo` all build it from the steps here: each step is a fallible function (so
//! that the demo can narrate it and report a failure), and [`Scene::new`] runs them in order
//! for tests, panicking on the first that fails.

use std::collections::HashMap;
use std::time::Duration;

use doze_core::WalletConfig;
use doze_devnet::nodes::{expect_event, wait_until, TestNode, ANCHOR_RESERVE, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{Lsp, LspConfig, Observers};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::Event;
use tempfile::TempDir;

use crate::lsp::{open_channel_from_lsp, open_channel_to_lsp, try_fund_lsp, try_start_lsp};
use crate::phone::{lsp_config, wallet_config};
use crate::webhook::ReceivedPush;

/// The LSP's on-chain funds, to open channels to phones.
pub const LSP_FUNDS_SAT: u64 = 5_000_000;
/// The merchant's on-chain funds.
pub const MERCHANT_FUNDS_SAT: u64 = 2_000_000;
/// The merchant's channel to the LSP (half of it pushed to the LSP's side).
pub const MERCHANT_CHANNEL_SAT: u64 = 1_000_000;

/// Everything around the phone. Fields drop in order: the merchant and the LSP stop (their
/// `Drop`s stop the nodes) before the chain they read goes away, and the LSP's storage last.
pub struct Scene {
    /// A stock ldk-node merchant with a channel to the LSP.
    pub merchant: TestNode,
    /// The Doze LSP, funded on-chain.
    pub lsp: Lsp,
    /// The regtest chain.
    pub devnet: Devnet,
    /// The LSP's storage.
    pub lsp_dir: TempDir,
}

impl Scene {
    /// Devnet, funded LSP, funded merchant with a 1 000 000 sat announced channel to the LSP
    /// (announced, so that the LSP is a public node: BOLT 12 blinded paths start there), half
    /// of it on each side so that the merchant can pay and be paid.
    #[allow(clippy::new_without_default)] // starting a devnet is no default value
    pub fn new() -> Scene {
        Scene::with_lsp(|_| {})
    }

    /// [`Scene::new`] with `configure` applied to the LSP's devnet configuration (e.g. its
    /// LSPS2 fees: the devnet LSP's are 0).
    pub fn with_lsp(configure: impl FnOnce(&mut LspConfig)) -> Scene {
        let devnet = Devnet::start().unwrap_or_else(|e| panic!("the devnet starts: {e}"));
        let (lsp, lsp_dir) =
            Scene::start_lsp_with(&devnet, configure).unwrap_or_else(|e| panic!("{e}"));
        try_fund_lsp(&devnet, &lsp, Amount::from_sat(LSP_FUNDS_SAT), DEFAULT_WAIT)
            .unwrap_or_else(|e| panic!("{e}"));
        let merchant = devnet.start_node("merchant");
        devnet.fund_node(&merchant, Amount::from_sat(MERCHANT_FUNDS_SAT));
        Scene::open_merchant_channel(&devnet, &merchant, &lsp, true, DEFAULT_WAIT)
            .unwrap_or_else(|e| panic!("{e}"));
        Scene { merchant, lsp, devnet, lsp_dir }
    }

    /// Starts the scene's LSP (the devnet configuration) storing in a new temporary directory.
    pub fn start_lsp(devnet: &Devnet) -> Result<(Lsp, TempDir), String> {
        Scene::start_lsp_with(devnet, |_| {})
    }

    /// [`Scene::start_lsp`] with `configure` applied to the LSP's configuration.
    pub fn start_lsp_with(
        devnet: &Devnet,
        configure: impl FnOnce(&mut LspConfig),
    ) -> Result<(Lsp, TempDir), String> {
        let dir = tempfile::Builder::new()
            .prefix("doze-lsp-")
            .tempdir()
            .map_err(|e| format!("cannot create the LSP's directory: {e}"))?;
        let lsp = try_start_lsp(devnet, dir.path(), Observers::new(), configure)?;
        Ok((lsp, dir))
    }

    /// The merchant opens its [`MERCHANT_CHANNEL_SAT`] channel to the LSP, half of it on the
    /// LSP's side, and waits until it is usable.
    pub fn open_merchant_channel(
        devnet: &Devnet,
        merchant: &TestNode,
        lsp: &Lsp,
        announced: bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let half_msat = MERCHANT_CHANNEL_SAT * 1000 / 2;
        open_channel_to_lsp(
            devnet,
            merchant,
            lsp,
            MERCHANT_CHANNEL_SAT,
            half_msat,
            announced,
            timeout,
        )
    }

    /// Stops the merchant and the LSP, then the devnet, and removes the LSP's storage.
    pub fn stop(self) -> Result<(), String> {
        let Scene { merchant, lsp, devnet, lsp_dir } = self;
        merchant.stop().map_err(|e| format!("the merchant's node did not stop cleanly: {e}"))?;
        drop(merchant);
        lsp.stop().map_err(|e| e.to_string())?;
        drop(lsp);
        drop(devnet);
        lsp_dir.close().map_err(|e| format!("cannot remove the LSP's directory: {e}"))
    }

    /// The phone's view of the scene's LSP.
    pub fn lsp_config(&self) -> doze_core::LspConfig {
        lsp_config(&self.lsp)
    }

    /// A phone's configuration: this chain, this LSP, storage in `storage_dir`.
    pub fn phone_config(&self, storage_dir: &std::path::Path) -> WalletConfig {
        wallet_config(&self.devnet, &self.lsp, storage_dir)
    }

    /// The merchant pays `bolt11` and waits for the outcome; returns whether it succeeded.
    pub fn merchant_pays(&self, bolt11: &str) -> bool {
        let invoice: Bolt11Invoice =
            bolt11.parse().unwrap_or_else(|e| panic!("not an invoice ({e}): {bolt11}"));
        let id = self
            .merchant
            .bolt11_payment()
            .send(&invoice, None)
            .unwrap_or_else(|e| panic!("the merchant cannot send: {e}"));
        let outcome = expect_event(&self.merchant, DEFAULT_WAIT, |e| match e {
            Event::PaymentSuccessful { payment_id, .. }
            | Event::PaymentFailed { payment_id, .. } => *payment_id == Some(id),
            _ => false,
        });
        matches!(outcome, Event::PaymentSuccessful { .. })
    }

    /// A merchant invoice for `amount_msat`.
    pub fn merchant_invoice(&self, amount_msat: u64) -> String {
        self.merchant
            .bolt11_payment()
            .receive(amount_msat, &description("coffee"), 3600)
            .unwrap_or_else(|e| panic!("the merchant's invoice: {e}"))
            .to_string()
    }

    /// A merchant BOLT11 invoice without an amount.
    pub fn merchant_open_invoice(&self) -> String {
        self.merchant
            .bolt11_payment()
            .receive_variable_amount(&description("anything"), 3600)
            .unwrap_or_else(|e| panic!("the merchant's invoice: {e}"))
            .to_string()
    }

    /// A merchant BOLT 12 offer (any amount when `None`).
    pub fn merchant_offer(&self, amount_msat: Option<u64>) -> String {
        let payment = self.merchant.bolt12_payment();
        match amount_msat {
            Some(amount) => payment.receive(amount, "coffee", None, None),
            None => payment.receive_variable_amount("coffee", None),
        }
        .unwrap_or_else(|e| panic!("the merchant's offer: {e}"))
        .to_string()
    }

    /// A stock ldk-node shop behind the LSP on an unannounced channel the LSP opened, the way a
    /// small merchant or another phone sits: its BOLT 12 offers introduce at the LSP, which the
    /// phone reaches directly (an announced merchant's offers introduce at the merchant itself,
    /// which a phone only reaches once that merchant's node announcement has gossiped to it).
    pub fn start_shop(&self) -> TestNode {
        let shop = self.devnet.start_node("shop");
        // ldk-node keeps an on-chain reserve for each anchor channel it accepts.
        self.devnet.fund_node(&shop, ANCHOR_RESERVE * 2);
        self.lsp.sync().unwrap_or_else(|e| panic!("LSP sync: {e}"));
        open_channel_from_lsp(
            &self.devnet,
            &self.lsp,
            shop.node_id(),
            Some(shop.address.clone()),
            // LDK accepts at most 10 % of an inbound channel in flight: room for 100 000 sat.
            1_000_000,
            &[&shop.node],
        );
        wait_until("the shop's channel is usable", DEFAULT_WAIT, || {
            shop.sync_wallets().is_ok() && shop.list_channels().iter().any(|c| c.is_usable)
        });
        shop
    }

    /// A push notification signed by the scene's LSP the LSPS5 way, as its dispatcher sends it:
    /// the payload and the headers, as `Wallet::handle_push` takes them.
    pub fn push(&self) -> (Vec<u8>, HashMap<String, String>) {
        let push = ReceivedPush::signed_by(&self.lsp.node());
        (push.body.clone().into_bytes(), push.lsps5_headers())
    }
}

fn description(text: &str) -> Bolt11InvoiceDescription {
    Bolt11InvoiceDescription::Direct(
        Description::new(text.into()).unwrap_or_else(|e| panic!("a description: {e:?}")),
    )
}
