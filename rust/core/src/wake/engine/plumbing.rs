//! The small parts LDK asks every node for, in the form a wake needs them: a logger into the
//! `log` facade, ldk-node's fallback fee rates, a broadcaster that hands transactions to the
//! chain source, a payment router that finds nothing (a wake sends no payment), and a signer
//! provider that refuses to name on-chain destinations (a wake opens and closes no channel).

use std::sync::{Arc, Mutex};

use ldk_node::bitcoin::consensus::encode::serialize_hex;
use ldk_node::bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use ldk_node::bitcoin::{ScriptBuf, Transaction};
use ldk_node::lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use ldk_node::lightning::chain::chaininterface::{
    BroadcasterInterface, ConfirmationTarget, FeeEstimator,
};
use ldk_node::lightning::ln::channel_state::ChannelDetails;
use ldk_node::lightning::ln::script::ShutdownScript;
use ldk_node::lightning::routing::router::{InFlightHtlcs, Route, RouteParameters, Router};
use ldk_node::lightning::sign::{InMemorySigner, KeysManager, SignerProvider};
use ldk_node::lightning::util::logger::{Level, Logger, Record};

/// LDK's records into the `log` facade as ldk-node's own are forwarded (module paths,
/// preimages redacted), so an app's log listener sees a wake's records like a node's.
pub(crate) struct EngineLogger;

impl Logger for EngineLogger {
    fn log(&self, record: Record) {
        let level = match record.level {
            Level::Gossip | Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        crate::logging::forward_ldk_record(level, record.module_path, record.line, &record.args);
    }
}

/// ldk-node 0.7.1's fallback rates (`fee_estimator.rs`), which its node uses until its first
/// fee fetch. A wake fetches nothing; these accept the LSP's `update_fee` as the app's node
/// would before its first sync, and a wake builds no transaction that pays them.
pub(crate) struct FallbackFees;

impl FeeEstimator for FallbackFees {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        // ldk-node's FEERATE_FLOOR_SATS_PER_KW.
        const FLOOR: u32 = 253;
        match target {
            ConfirmationTarget::MaximumFeeEstimate => 8000,
            ConfirmationTarget::UrgentOnChainSweep => 5000,
            ConfirmationTarget::MinAllowedAnchorChannelRemoteFee => FLOOR,
            ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => FLOOR,
            ConfirmationTarget::AnchorChannelFee => 500,
            ConfirmationTarget::NonAnchorChannelFee => 1000,
            ConfirmationTarget::ChannelCloseMinimum => 500,
            ConfirmationTarget::OutputSpendingFee => 1000,
        }
    }
}

/// Hands transactions LDK broadcasts to the chain source, and remembers that it did: a wake
/// broadcasts only when a channel is being closed (the manager on disk was stale, or the LSP
/// failed the channel), a state the wake leaves to the app.
pub(crate) struct ChainBroadcaster {
    esplora_url: Option<String>,
    runtime: tokio::runtime::Handle,
    broadcast: Mutex<usize>,
}

impl ChainBroadcaster {
    /// Broadcasts through the Esplora server at `esplora_url` (`None`: only logs; the app's
    /// node rebroadcasts what its monitors still need at its next start).
    pub(crate) fn new(esplora_url: Option<String>, runtime: tokio::runtime::Handle) -> Self {
        ChainBroadcaster { esplora_url, runtime, broadcast: Mutex::new(0) }
    }

    /// How many transactions LDK asked to broadcast.
    pub(crate) fn broadcast_count(&self) -> usize {
        *self.broadcast.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BroadcasterInterface for ChainBroadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        *self.broadcast.lock().unwrap_or_else(|p| p.into_inner()) += txs.len();
        log::warn!("wake: LDK broadcasts {} transaction(s): a channel is closing", txs.len());
        let Some(url) = self.esplora_url.clone() else { return };
        for tx in txs {
            let (url, body, txid) = (format!("{url}/tx"), serialize_hex(*tx), tx.compute_txid());
            self.runtime.spawn(async move {
                let client = reqwest::Client::new();
                match client.post(url).body(body).send().await {
                    Ok(r) if r.status().is_success() => log::info!("wake: broadcast {txid}"),
                    Ok(r) => log::warn!("wake: the chain source refused {txid}: {}", r.status()),
                    Err(e) => log::warn!("wake: could not broadcast {txid}: {e}"),
                }
            });
        }
    }
}

/// A router that finds no route: a wake sends no payment, and reading the channel manager
/// never asks for one.
pub(crate) struct NoRoutes;

impl Router for NoRoutes {
    fn find_route(
        &self,
        _payer: &PublicKey,
        _params: &RouteParameters,
        _first_hops: Option<&[&ChannelDetails]>,
        _inflight: InFlightHtlcs,
    ) -> Result<Route, &'static str> {
        Err("a wake sends no payments")
    }

    fn create_blinded_payment_paths<T: secp256k1::Signing + secp256k1::Verification>(
        &self,
        _recipient: PublicKey,
        _first_hops: Vec<ChannelDetails>,
        _tlvs: ReceiveTlvs,
        _amount_msats: Option<u64>,
        _secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedPaymentPath>, ()> {
        Err(())
    }
}

/// The channel signers of ldk-node's keys manager (same seed, same derivation: they sign
/// identically), without its on-chain destinations: ldk-node sends closing funds to fresh
/// addresses of its BDK wallet, which a wake does not load. Asked for one, a wake answers
/// "no": LDK then opens no channel and does not agree to a cooperative close, which the app
/// finishes later.
pub(crate) struct WakeSigners {
    keys: Arc<KeysManager>,
}

impl WakeSigners {
    /// Signers from `keys`.
    pub(crate) fn new(keys: Arc<KeysManager>) -> Self {
        WakeSigners { keys }
    }
}

impl SignerProvider for WakeSigners {
    type EcdsaSigner = InMemorySigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        self.keys.generate_channel_keys_id(inbound, user_channel_id)
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> InMemorySigner {
        self.keys.derive_channel_signer(channel_keys_id)
    }

    fn get_destination_script(&self, _channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        log::info!("wake: refusing an on-chain destination (channels are opened by the app)");
        Err(())
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<ShutdownScript, ()> {
        log::info!("wake: refusing a shutdown script (channels are closed by the app)");
        Err(())
    }
}
