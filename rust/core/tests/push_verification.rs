//! A push is verified before anything starts: forged, expired, replayed and malformed pushes
//! are refused with a reason, and the node is never built for them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doze_core::{
    ChainSource, LifecycleState, LspConfig, Network, Wallet, WalletConfig, WalletError,
};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::lightning::util::message_signing;
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn lsp_key() -> SecretKey {
    SecretKey::from_slice(&[42u8; 32]).unwrap()
}

fn wallet(dir: &std::path::Path) -> Wallet {
    let lsp = PublicKey::from_secret_key(&Secp256k1::new(), &lsp_key());
    let config = WalletConfig {
        network: Network::Regtest,
        storage_dir: dir.to_string_lossy().into_owned(),
        // Nothing listens there: a push that got past verification would fail loudly.
        chain_source: ChainSource::Esplora { url: "http://127.0.0.1:9".into() },
        lsp: Some(LspConfig {
            node_id: lsp.to_string(),
            address: "127.0.0.1:9".into(),
            token: None,
            api_url: None,
        }),
        max_jit_fee_msat: None,
        rgs_url: None,
        background_sync: false,
        additional_lsps: Vec::new(),
        backup: None,
        name_resolution: None,
    };
    Wallet::new(config, MNEMONIC, None).unwrap()
}

/// A push signed the LSPS5 way by `key`, `age` in the past.
fn push(key: &SecretKey, age: Duration) -> (Vec<u8>, HashMap<String, String>) {
    let notification = WebhookNotification::onion_message_incoming();
    let body = serde_json::to_string(&notification).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let timestamp = LSPSDateTime::new_from_duration_since_epoch(now - age).to_rfc3339();
    let message =
        format!("LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}");
    let signature = message_signing::sign(message.as_bytes(), key);
    let headers = HashMap::from([
        ("X-LSPS5-Timestamp".to_string(), timestamp),
        ("x-lsps5-signature".to_string(), signature),
        ("content-type".to_string(), "application/json".to_string()),
    ]);
    (body.into_bytes(), headers)
}

fn refused(result: Result<doze_core::WakeOutcome, WalletError>) -> String {
    match result {
        Err(WalletError::InvalidPush { reason }) => reason,
        other => panic!("expected a refused push, got {other:?}"),
    }
}

#[test]
fn forged_expired_replayed_and_malformed_pushes_are_refused_without_starting_the_node() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wallet = wallet(dir.path());
    let deadline = Duration::from_secs(5);
    let handle = |(payload, headers): (Vec<u8>, HashMap<String, String>)| {
        rt.block_on(wallet.handle_push(payload, headers, deadline))
    };

    let forged = push(&SecretKey::from_slice(&[7u8; 32]).unwrap(), Duration::ZERO);
    assert!(refused(handle(forged)).contains("signature"));

    let expired = push(&lsp_key(), Duration::from_secs(11 * 60));
    assert!(refused(handle(expired)).contains("expired"));

    let (payload, mut headers) = push(&lsp_key(), Duration::ZERO);
    headers.remove("x-lsps5-signature");
    assert!(refused(handle((payload, headers))).contains("x-lsps5-signature"));

    let (_, headers) = push(&lsp_key(), Duration::ZERO);
    assert!(refused(handle((b"{\"jsonrpc\":\"2.0\"".to_vec(), headers))).contains("not an LSPS5"));

    let (payload, headers) = push(&lsp_key(), Duration::ZERO);
    let mut tampered = String::from_utf8(payload.clone()).unwrap();
    tampered = tampered.replace("onion_message_incoming", "payment_incoming");
    assert!(refused(handle((tampered.into_bytes(), headers.clone()))).contains("signature"));

    // Nothing was built for the refused pushes.
    assert_eq!(wallet.state(), LifecycleState::Created);
    assert!(!dir.path().join("node").exists(), "no node storage for refused pushes");

    // A genuine push gets past verification (and then meets the unreachable LSP, which proves
    // verification came first); the same push again is a replay.
    let genuine = handle((payload.clone(), headers.clone()));
    assert!(!matches!(genuine, Err(WalletError::InvalidPush { .. })), "{genuine:?}");
    assert!(refused(handle((payload, headers))).contains("replayed"));
    assert_ne!(wallet.state(), LifecycleState::Running);
}
