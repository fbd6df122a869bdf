//! The chaos run's app: a process that is the phone's app, driven through doze-core as an app
//! would drive it, doing a seeded mix of what users do until it is killed (or asked to stop).
//! Everything it does and everything its event listener hears goes to the journal, with a
//! snapshot of its state after every start, for the supervisor to check.
//!
//! `doze-chaos-app --args <json>`; the JSON is [`AppArgs`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_core::{
    BackupConfig, ChainSource, EventListener, LspConfig, Network, PaymentDirection, Wallet,
    WalletConfig, WalletEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::journal::Journal;
use super::ChaosRng;
use crate::MNEMONIC;

/// What the supervisor tells an app process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppArgs {
    /// The wallet's storage directory.
    pub storage_dir: String,
    /// The devnet's Esplora URL.
    pub esplora_url: String,
    /// The LSP (node id, address, API URL).
    pub lsp_node_id: String,
    /// The LSP's peer address.
    pub lsp_address: String,
    /// The LSP's HTTP API.
    pub lsp_api_url: String,
    /// The backup server, if the wallet has one.
    pub backup_url: Option<String>,
    /// The run's seed; with the incarnation, it seeds this process's actions.
    pub seed: u64,
    /// How many times the app has started before (this process's number).
    pub incarnation: u64,
    /// The journal file.
    pub journal: PathBuf,
    /// An offer of the payer's that the app pays (any amount).
    pub payee_offer: String,
    /// An on-chain address the app sends to.
    pub payee_address: String,
    /// When this file exists, the app stops cleanly and exits.
    pub stop_file: PathBuf,
    /// Do nothing but sync and report the state (the run's last start, to check on).
    #[serde(default)]
    pub quiet: bool,
}

impl AppArgs {
    /// The wallet's configuration.
    pub fn wallet_config(&self) -> WalletConfig {
        WalletConfig {
            network: Network::Regtest,
            storage_dir: self.storage_dir.clone(),
            chain_source: ChainSource::Esplora { url: self.esplora_url.clone() },
            lsp: Some(LspConfig {
                node_id: self.lsp_node_id.clone(),
                address: self.lsp_address.clone(),
                token: None,
                api_url: Some(self.lsp_api_url.clone()),
            }),
            max_jit_fee_msat: None,
            rgs_url: None,
            background_sync: false,
            additional_lsps: Vec::new(),
            backup: self.backup_url.clone().map(|url| BackupConfig { url }),
            name_resolution: None,
        }
    }
}

/// The listener: every event to the journal, as the app's own storage would take it.
struct JournalListener(Arc<Journal>);

impl EventListener for JournalListener {
    fn on_event(&self, event: WalletEvent) {
        self.0.record(json!({"kind": "event", "event": event}));
    }
}

/// The app's state, for the journal: balances, channels, and every payment of the history.
pub fn snapshot(wallet: &Wallet) -> Value {
    let balances = wallet.balances().ok();
    let channels = wallet.list_channels().unwrap_or_default();
    let payments = wallet.list_payments().unwrap_or_default();
    json!({
        "balances": balances.map(|b| json!({
            "lightning_sat": b.lightning_sat,
            "spendable_sat": b.lightning_spendable_sat,
            "inbound_sat": b.lightning_inbound_sat,
            "onchain_sat": b.onchain_confirmed_sat + b.onchain_unconfirmed_sat,
            "onchain_spendable_sat": b.onchain_spendable_sat,
            "pending_sat": b.pending_sat,
        })),
        "channels": channels.iter().map(|c| json!({
            "channel_id": c.channel_id,
            "peer": c.peer_node_id,
            "capacity_sat": c.capacity_sat,
            "outbound_sat": c.outbound_sat,
            "state": format!("{:?}", c.state),
            "funding_txid": c.funding_txid,
        })).collect::<Vec<_>>(),
        "payments": payments.iter().map(|p| json!({
            "id": p.id,
            "kind": format!("{:?}", p.kind),
            "inbound": p.direction == PaymentDirection::Inbound,
            "status": format!("{:?}", p.status),
            "amount_msat": p.amount_msat,
            "fee_msat": p.fee_msat,
            "hash": p.payment_hash,
        })).collect::<Vec<_>>(),
    })
}

/// Runs the app until killed or asked to stop; the process's exit code.
pub fn run(args: AppArgs) -> std::process::ExitCode {
    let journal = match Journal::open(&args.journal, args.incarnation) {
        Ok(j) => Arc::new(j),
        Err(e) => {
            eprintln!("doze-chaos-app: cannot open the journal: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doze-chaos-app: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    journal.record(json!({"kind": "starting"}));
    let wallet = match Wallet::new(args.wallet_config(), MNEMONIC, None) {
        Ok(w) => w,
        Err(e) => {
            journal.record(json!({"kind": "start_failed", "error": e.to_string()}));
            return std::process::ExitCode::FAILURE;
        }
    };
    wallet.set_event_listener(Arc::new(JournalListener(Arc::clone(&journal))));
    if let Err(e) = runtime.block_on(wallet.start()) {
        journal.record(json!({"kind": "start_failed", "error": e.to_string()}));
        return std::process::ExitCode::FAILURE;
    }
    let _ = runtime.block_on(wallet.sync());
    journal.record(json!({"kind": "started", "state": snapshot(&wallet)}));
    let mut rng = ChaosRng::for_incarnation(args.seed, args.incarnation);
    let app = App { wallet: &wallet, args: &args, journal: &journal, runtime: &runtime };
    loop {
        if args.stop_file.exists() {
            journal.record(json!({"kind": "stopping", "state": snapshot(&wallet)}));
            let stopped = runtime.block_on(wallet.stop());
            journal.record(json!({"kind": "stopped", "ok": stopped.is_ok()}));
            return std::process::ExitCode::SUCCESS;
        }
        if args.quiet {
            let _ = runtime.block_on(wallet.sync());
            journal.record(json!({"kind": "state", "state": snapshot(&wallet)}));
            app.pause(Duration::from_millis(300));
        } else {
            app.act(&mut rng);
        }
    }
}

struct App<'a> {
    wallet: &'a Wallet,
    args: &'a AppArgs,
    journal: &'a Journal,
    runtime: &'a tokio::runtime::Runtime,
}

impl App<'_> {
    /// One action, chosen by `rng`, recorded before and after.
    fn act(&self, rng: &mut ChaosRng) {
        let balances = self.wallet.balances().unwrap_or_default();
        match rng.below(100) {
            // Pay the payer's offer: a split send over the wallet's channels when it has several.
            0..=29 if balances.max_sendable_lightning_sat > 3_000 => {
                let most = (balances.max_sendable_lightning_sat / 2).clamp(1_000, 40_000);
                let amount_sat = 1_000 + rng.below(most);
                self.send("offer", || {
                    self.wallet.prepare_send(&self.args.payee_offer, Some(amount_sat * 1000), None)
                });
            }
            // Send everything to the payer (rarely: it empties the wallet).
            30..=32 if balances.max_sendable_lightning_sat > 3_000 => {
                self.send("send_max", || {
                    self.wallet.prepare_send_max(&self.args.payee_offer, None)
                });
            }
            // Ask to be paid: an invoice the supervisor pays (a JIT channel when the inbound
            // capacity is short).
            33..=54 => {
                let amount_msat = (5_000 + rng.below(60_000)) * 1000;
                self.journal.record(json!({"kind": "intent", "action": "invoice"}));
                let invoice = self.runtime.block_on(self.wallet.receive_bolt11(
                    Some(amount_msat),
                    "chaos".into(),
                    3600,
                ));
                match invoice {
                    Ok(i) => self.journal.record(json!({
                        "kind": "invoice",
                        "bolt11": i.bolt11,
                        "hash": i.payment_hash,
                        "amount_msat": amount_msat,
                        "jit": i.via_jit_channel,
                    })),
                    Err(e) => self.failed("invoice", &e.to_string()),
                }
            }
            // An on-chain address for the supervisor to fund.
            55..=59 => match self.wallet.new_onchain_address() {
                Ok(address) => self.journal.record(json!({"kind": "address", "address": address})),
                Err(e) => self.failed("address", &e.to_string()),
            },
            // Send on-chain.
            60..=64 if balances.onchain_spendable_sat > 30_000 => {
                let amount_sat = 5_000 + rng.below(10_000);
                self.send("onchain", || {
                    self.wallet.prepare_send(
                        &self.args.payee_address,
                        Some(amount_sat * 1000),
                        None,
                    )
                });
            }
            65..=74 => {
                let synced = self.runtime.block_on(self.wallet.sync());
                self.journal.record(json!({"kind": "synced", "ok": synced.is_ok()}));
            }
            75..=79 => {
                self.journal.record(json!({"kind": "state", "state": snapshot(self.wallet)}))
            }
            // What users do most: nothing for a moment.
            _ => self.pause(Duration::from_millis(50 + rng.below(400))),
        }
    }

    /// Idles for `pause`, or until asked to stop.
    fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while Instant::now() < until && !self.args.stop_file.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(
        &self,
        action: &str,
        quote: impl FnOnce() -> Result<doze_core::SendQuote, doze_core::WalletError>,
    ) {
        self.journal.record(json!({"kind": "intent", "action": action}));
        let quote = match quote() {
            Ok(q) if q.payable() => q,
            Ok(q) => return self.failed(action, &format!("not payable: {:?}", q.blocker)),
            Err(e) => return self.failed(action, &e.to_string()),
        };
        let amount_msat = quote.amount_msat;
        match self.runtime.block_on(self.wallet.send(quote)) {
            Ok(id) => self.journal.record(json!({
                "kind": "sent", "action": action, "id": id, "amount_msat": amount_msat,
            })),
            Err(e) => self.failed(action, &e.to_string()),
        }
    }

    fn failed(&self, action: &str, error: &str) {
        self.journal.record(json!({"kind": "refused", "action": action, "error": error}));
    }
}
