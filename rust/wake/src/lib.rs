//! `doze wake`: one push notification handled the way a phone's notification extension does it
//! — a fresh process, the wallet opened from its shared storage, `handle_push`, the outcome
//! printed, exit. Tests launch it from a webhook receiver to stand in for iOS/Android.
//!
//! This crate is both the `doze wake` subcommand (doze-cli calls [`parse_options`] and
//! [`run`]) and the `doze-wake` binary, which links doze-core and nothing of the devnet, the
//! LSP or the test kit, as a phone's extension would (`scripts/check-phone-deps` checks it):
//! the wake benchmark measures its memory.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod logger;

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use doze_core::{BackupConfig, ChainSource, LspConfig, Network, Wallet, WalletConfig, WalletError};

/// What `doze wake` was asked.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    storage: String,
    esplora: String,
    lsp_id: String,
    lsp_address: String,
    network: Network,
    deadline: Duration,
    headers: Vec<(String, String)>,
    backup_url: Option<String>,
}

/// Parses the options after `wake`.
pub fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut storage, mut esplora, mut lsp_id, mut lsp_address) = (None, None, None, None);
    let mut network = Network::Regtest;
    let mut deadline = Duration::from_millis(25_000);
    let mut headers = Vec::new();
    let mut backup_url = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--storage" => storage = Some(value()?),
            "--esplora" => esplora = Some(value()?),
            "--lsp-id" => lsp_id = Some(value()?),
            "--lsp-address" => lsp_address = Some(value()?),
            // The wallet's backup server, as the app configured it (`WalletConfig::backup`).
            "--backup-url" => backup_url = Some(value()?),
            "--network" => {
                network = match value()?.as_str() {
                    "bitcoin" => Network::Bitcoin,
                    "testnet" => Network::Testnet,
                    "signet" => Network::Signet,
                    "regtest" => Network::Regtest,
                    other => return Err(format!("unknown network `{other}`")),
                }
            }
            "--deadline-ms" => {
                let v = value()?;
                deadline = Duration::from_millis(
                    v.parse()
                        .map_err(|_| format!("--deadline-ms wants milliseconds, not `{v}`"))?,
                );
            }
            "--header" => {
                let v = value()?;
                let (name, val) =
                    v.split_once(':').ok_or(format!("--header wants NAME:VALUE, not `{v}`"))?;
                headers.push((name.trim().to_string(), val.trim().to_string()));
            }
            other => return Err(format!("unexpected argument `{other}` for `doze wake`")),
        }
    }
    let need = |v: Option<String>, name: &str| v.ok_or(format!("`doze wake` needs {name}"));
    Ok(Options {
        storage: need(storage, "--storage")?,
        esplora: need(esplora, "--esplora")?,
        lsp_id: need(lsp_id, "--lsp-id")?,
        lsp_address: need(lsp_address, "--lsp-address")?,
        network,
        deadline,
        headers,
        backup_url,
    })
}

/// Runs the wake and prints the outcome as one JSON line.
pub fn run(options: Options) -> ExitCode {
    logger::init_level(logger::level_from_env(), || {});
    let Ok(mnemonic) = std::env::var("DOZE_MNEMONIC") else {
        eprintln!("doze wake: set DOZE_MNEMONIC to the wallet's recovery phrase");
        return ExitCode::from(2);
    };
    let mut payload = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut payload) {
        eprintln!("doze wake: cannot read the payload from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let config = WalletConfig {
        network: options.network,
        storage_dir: options.storage,
        chain_source: ChainSource::Esplora { url: options.esplora },
        lsp: Some(LspConfig {
            node_id: options.lsp_id,
            address: options.lsp_address,
            token: None,
            api_url: None,
        }),
        max_jit_fee_msat: None,
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
        backup: options.backup_url.map(|url| BackupConfig { url }),
        name_resolution: None,
    };
    let wallet = match Wallet::new(config, &mnemonic, None) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("doze wake: {e}");
            return ExitCode::FAILURE;
        }
    };
    let headers: HashMap<String, String> = options.headers.into_iter().collect();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doze wake: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wallet.handle_push(payload, headers, options.deadline)) {
        Ok(outcome) => {
            let payments: Vec<_> = outcome
                .payments
                .iter()
                .map(|p| {
                    serde_json::json!({"payment_id": p.payment_id, "amount_msat": p.amount_msat})
                })
                .collect();
            let t = outcome.timings;
            let chain_tip = outcome.chain_tip.map(|c| {
                serde_json::json!({
                    "status": format!("{:?}", c.status),
                    "stored_height": c.stored_height,
                    "tip_height": c.tip_height,
                    "requests": c.requests,
                    "request_ms": c.request_ms,
                    "htlcs_waited_ms": c.htlcs_waited_ms,
                })
            });
            println!(
                "{}",
                serde_json::json!({
                    "ended": format!("{:?}", outcome.ended),
                    "payments": payments,
                    "notification_text": outcome.notification_text,
                    "dedup_key": outcome.dedup_key,
                    "chain_tip": chain_tip,
                    "timings_ms": {
                        "verified": t.verified_ms,
                        "node_started": t.node_started_ms,
                        "lsp_connected": t.lsp_connected_ms,
                        "chain_tip": t.chain_tip_ms,
                        "held_htlc_announced": t.held_htlc_announced_ms,
                        "release_sent": t.release_sent_ms,
                        "payment_received": t.payment_received_ms,
                        "total": t.total_ms,
                    },
                })
            );
            ExitCode::SUCCESS
        }
        Err(WalletError::InvalidPush { reason }) => {
            eprintln!("doze wake: push refused: {reason}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("doze wake: {e}");
            ExitCode::FAILURE
        }
    }
}
