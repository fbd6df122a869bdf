//! Push registration and the offline offer. The phone tells its LSP where to push (signed with
//! its node key), receives the blinded paths to the LSP's static-invoice server, and from then
//! on has a BOLT 12 offer that stays payable while it sleeps: the LSP serves the static invoice,
//! holds the payer's HTLC and pushes the phone awake (see `wake`).
//!
//! Wire contract with `doze-lsp` (`POST /v1/push/register`): the signed message is the UTF-8 of
//! `doze-push-register|v1|{node_id}|{app_name}|{kind}|{value}|{timestamp}|{nonce}`; the answer
//! carries `paths`, the hex of LDK's encoding of `Vec<BlindedMessagePath>`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::hex::{DisplayHex, FromHex};
use ldk_node::bitcoin::secp256k1::rand;
use ldk_node::lightning::blinded_path::message::BlindedMessagePath;
use ldk_node::lightning::util::ser::Readable;
use serde::Deserialize;

use crate::config::ParsedLsp;
use crate::error::WalletError;
use crate::net::connect::connect_before;
use crate::store::WalletDb;
use crate::wallet::Wallet;

/// Where the LSP delivers push notifications for this wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PushTarget {
    /// An HTTP(S) webhook (tests, self-hosted setups).
    Webhook {
        /// The URL the LSP POSTs to.
        url: String,
    },
    /// An APNs device token (iOS), delivered through the LSP's push gateway.
    Apns {
        /// The device token, hex.
        device_token: String,
    },
    /// An FCM registration token (Android), delivered through the LSP's push gateway.
    Fcm {
        /// The registration token.
        device_token: String,
    },
}

impl PushTarget {
    fn kind_and_value(&self) -> (&'static str, &str) {
        match self {
            PushTarget::Webhook { url } => ("webhook", url),
            PushTarget::Apns { device_token } => ("apns", device_token),
            PushTarget::Fcm { device_token } => ("fcm", device_token),
        }
    }
}

/// The result of a push registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PushRegistration {
    /// The LSP that will push (its pushes are verified against this key).
    pub lsp_node_id: String,
    /// When the registration was made, seconds since the Unix epoch.
    pub registered_at_secs: u64,
}

#[derive(Deserialize)]
struct RegisterResponse {
    paths: String,
    lsp_node_id: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
}

/// The settings key of the cached offline offer.
const OFFER_KEY: &str = "offline_offer";
/// How long one registration request may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(20);

/// The exact message a registration signs.
pub(crate) fn registration_message(
    node_id: &str,
    app_name: &str,
    kind: &str,
    value: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    format!("doze-push-register|v1|{node_id}|{app_name}|{kind}|{value}|{timestamp}|{nonce}")
}

/// How long [`reconnect`] keeps trying.
const RECONNECT_PATIENCE: Duration = Duration::from_secs(3);

/// Drops and re-opens the connection to the LSP: LDK asks the static-invoice server for offer
/// paths when a peer connects. The LSP may not have seen the old connection go yet, and then
/// drops the new one as a duplicate ("Network connection closed"): it tries again for a moment.
fn reconnect(node: &Arc<ldk_node::Node>, lsp: &ParsedLsp) {
    let _ = node.disconnect(lsp.node_id);
    if !connect_before(
        node,
        lsp,
        true,
        Instant::now() + RECONNECT_PATIENCE,
        Duration::from_millis(25),
    ) {
        log::warn!("could not reconnect to the LSP {}", lsp.node_id);
    }
}

/// How long `receive_offer` waits before asking the LSP again.
const OFFER_NUDGE_INTERVAL: Duration = Duration::from_secs(10);

impl Wallet {
    /// Registers this wallet for push notifications with its LSP and hands the LSP's
    /// static-invoice paths to the node, after which [`Wallet::receive_offer`] yields an offer
    /// that is payable while the phone is offline. The wallet must be running and have a
    /// channel with the LSP. Registering again replaces the target.
    pub async fn register_for_push(
        &self,
        app_name: String,
        target: PushTarget,
    ) -> Result<PushRegistration, WalletError> {
        let lsp = self.inner.lsp.clone().ok_or(WalletError::NoLsp)?;
        let api_url = lsp.api_url.clone().ok_or_else(|| {
            WalletError::InvalidConfig("lsp.api_url is needed to register for push".into())
        })?;
        if app_name.is_empty() || app_name.len() > 64 {
            return Err(WalletError::InvalidConfig("app_name must be 1 to 64 bytes".into()));
        }
        let node = self.inner.node()?;
        let node_id = node.node_id().to_string();
        let (kind, value) = target.kind_and_value();
        let timestamp =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let nonce = rand::random::<[u8; 16]>().to_lower_hex_string();
        let message = registration_message(&node_id, &app_name, kind, value, timestamp, &nonce);
        let body = serde_json::json!({
            "node_id": node_id,
            "app_name": app_name,
            "target": { "kind": kind, "value": value },
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": node.sign_message(message.as_bytes()),
        });
        let url = format!("{api_url}/v1/push/register");
        // Built and sent on the wallet's runtime: reqwest needs a tokio reactor, and the caller
        // may be a Swift, Kotlin or Python executor.
        let request_url = url.clone();
        let exchange = async move {
            let client = reqwest::Client::builder().timeout(REGISTER_TIMEOUT).build()?;
            let response = client.post(&request_url).json(&body).send().await?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, text))
        };
        let (status, text) = self
            .on_runtime(exchange)
            .await?
            .map_err(|e| WalletError::LspUnavailable(format!("cannot reach {url}: {e}")))?;
        if !status.is_success() {
            let reason =
                serde_json::from_str::<ErrorResponse>(&text).map(|e| e.error).unwrap_or(text);
            return Err(WalletError::PushRegistrationFailed(format!(
                "the LSP answered {status}: {reason}"
            )));
        }
        let answer: RegisterResponse = serde_json::from_str(&text).map_err(|e| {
            WalletError::PushRegistrationFailed(format!("unexpected answer from the LSP: {e}"))
        })?;
        if answer.lsp_node_id != lsp.node_id.to_string() {
            return Err(WalletError::PushRegistrationFailed(
                "the API answered for a different LSP node than the one configured".into(),
            ));
        }
        let paths_bytes = Vec::<u8>::from_hex(&answer.paths).map_err(|_| {
            WalletError::PushRegistrationFailed("the LSP sent paths that are not hex".into())
        })?;
        let paths =
            <Vec<BlindedMessagePath> as Readable>::read(&mut &paths_bytes[..]).map_err(|_| {
                WalletError::PushRegistrationFailed("the LSP sent paths that do not decode".into())
            })?;
        node.settle(
            node.bolt12_payment().set_paths_to_static_invoice_server(paths).map_err(Into::into),
        )?;
        drop(node);
        // LDK builds the offer when a peer connects (or on a 60 s timer): reconnect now so the
        // offer is ready in a moment rather than a minute. (`connect` blocks: off this task.)
        self.blocking(move |inner| {
            let node = inner.node()?;
            if let Some(lsp) = node.primary_lsp() {
                reconnect(&node, lsp);
            }
            node.settle(Ok(()))
        })
        .await?;
        log::info!("registered for push with LSP {}", lsp.node_id);
        Ok(PushRegistration { lsp_node_id: answer.lsp_node_id, registered_at_secs: timestamp })
    }

    /// The offline BOLT 12 offer, waiting up to `timeout` for the LSP to store the static
    /// invoice after [`Wallet::register_for_push`]. The offer is reusable and stays payable
    /// while the phone is offline; it is also cached for [`Wallet::cached_offer`].
    pub async fn receive_offer(&self, timeout: Duration) -> Result<String, WalletError> {
        let storage = self.inner.config.storage_dir.clone();
        self.blocking(move |inner| {
            let node = inner.node()?;
            let deadline = Instant::now() + timeout;
            let mut pause = Duration::from_millis(20);
            let mut nudge_at = Instant::now() + OFFER_NUDGE_INTERVAL;
            let offer = loop {
                // ldk-node answers an error until the static invoice is persisted by the LSP;
                // nothing signals that moment, so this re-asks with a growing pause.
                if let Ok(offer) = node.bolt12_payment().receive_async() {
                    break offer;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(WalletError::OfferNotReady);
                }
                // A pause or a failed store ends the wait.
                node.still_running()?;
                if now >= nudge_at {
                    // LDK asks the LSP for offer paths when a peer connects (at most 3 times a
                    // minute) and otherwise once a minute; a lost request or answer would
                    // leave us waiting that long. Reconnecting asks again.
                    if let Some(lsp) = node.primary_lsp() {
                        log::info!("offer not ready yet; reconnecting to the LSP to ask again");
                        reconnect(&node, lsp);
                    }
                    nudge_at = now + OFFER_NUDGE_INTERVAL;
                }
                std::thread::park_timeout(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(500));
            };
            let text = offer.to_string();
            node.still_running()?;
            WalletDb::open(std::path::Path::new(&storage))?.set_setting(OFFER_KEY, &text)?;
            Ok(text)
        })
        .await
    }

    /// Whether this wallet's network graph has `node_id`'s node announcement. A phone releasing
    /// a held payment connects straight to the sender's LSP by its announcement; production
    /// phones get the whole graph from RGS, devnet phones learn it by gossip from their LSP.
    pub fn knows_node(&self, node_id: &str) -> Result<bool, WalletError> {
        let key = ldk_node::bitcoin::secp256k1::PublicKey::from_str(node_id.trim())
            .map_err(|_| WalletError::InvalidConfig(format!("{node_id:?} is not a node id")))?;
        let node = self.inner.node()?;
        let id = ldk_node::lightning::routing::gossip::NodeId::from_pubkey(&key);
        Ok(node.network_graph().node(&id).is_some_and(|n| n.announcement_info.is_some()))
    }

    /// The last offline offer this wallet obtained, readable without starting the node (for
    /// a receive screen shown while the wallet sleeps).
    pub fn cached_offer(&self) -> Result<Option<String>, WalletError> {
        WalletDb::open(std::path::Path::new(&self.inner.config.storage_dir))?.setting(OFFER_KEY)
    }
}
