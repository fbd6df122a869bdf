//! The backup server the reference deployment runs (PostgreSQL and LDK's `vss-server` with its
//! signature authorizer), started for real on loopback, and a wallet's credentials derived from
//! its recovery phrase: what a wallet writes, only it reads back; a stale writer is refused by
//! the server's versioning.

use doze_testkit::phone::config_without_lsp;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use doze_core::{BackupAuth, BackupConfig, Network, Wallet, WalletConfig, WalletError};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::{runtime, MNEMONIC};
use ldk_node::vss_client::client::VssClient;
use ldk_node::vss_client::error::VssError;
use ldk_node::vss_client::headers::FixedHeaders;
use ldk_node::vss_client::types::{GetObjectRequest, KeyValue, PutObjectRequest};
use ldk_node::vss_client::util::retry::{ExponentialBackoffRetryPolicy, RetryPolicy};

const OTHER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

fn client(server: &BackupServer, auth: BackupAuth) -> VssClient<impl RetryPolicy<E = VssError>> {
    let retry = ExponentialBackoffRetryPolicy::new(Duration::from_millis(10)).with_max_attempts(3);
    VssClient::new_with_headers(server.url(), retry, Arc::new(auth))
}

fn put(key: &str, version: i64, value: &[u8]) -> PutObjectRequest {
    PutObjectRequest {
        store_id: "doze".into(),
        global_version: None,
        transaction_items: vec![KeyValue { key: key.into(), version, value: value.to_vec() }],
        delete_items: vec![],
    }
}

fn get(key: &str) -> GetObjectRequest {
    GetObjectRequest { store_id: "doze".into(), key: key.into() }
}

#[test]
fn a_wallet_reads_back_only_its_own_backup_and_a_stale_writer_is_refused() {
    let server = BackupServer::start();
    let rt = runtime();
    let auth = || BackupAuth::from_mnemonic(MNEMONIC, None, Network::Regtest).unwrap();
    let phone = client(&server, auth());

    rt.block_on(phone.put_object(&put("channel", 0, b"state 1"))).unwrap();
    let stored = rt.block_on(phone.get_object(&get("channel"))).unwrap().value.unwrap();
    assert_eq!((stored.value.as_slice(), stored.version), (&b"state 1"[..], 1));

    // A second phone restored from the same phrase has the same key: it reads the same backup
    // and moves it on.
    let new_phone = client(&server, auth());
    rt.block_on(new_phone.put_object(&put("channel", 1, b"state 2"))).unwrap();
    // The old phone, still at version 1, is refused.
    match rt.block_on(phone.put_object(&put("channel", 1, b"stale state"))) {
        Err(VssError::ConflictError(_)) => {}
        other => panic!("a stale write must be refused, got {other:?}"),
    }
    let stored = rt.block_on(new_phone.get_object(&get("channel"))).unwrap().value.unwrap();
    assert_eq!((stored.value.as_slice(), stored.version), (&b"state 2"[..], 2));

    // Another wallet's key sees none of it.
    let stranger =
        client(&server, BackupAuth::from_mnemonic(OTHER_MNEMONIC, None, Network::Regtest).unwrap());
    match rt.block_on(stranger.get_object(&get("channel"))) {
        Err(VssError::NoSuchKeyError(_)) => {}
        other => panic!("another wallet must not read this backup, got {other:?}"),
    }

    // Claiming the wallet's key without its signature is refused.
    let forged = format!(
        "{}{}{}",
        auth().public_key_hex(),
        "00".repeat(64),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    );
    let retry = ExponentialBackoffRetryPolicy::new(Duration::from_millis(10)).with_max_attempts(1);
    let forger = VssClient::new_with_headers(
        server.url(),
        retry,
        Arc::new(FixedHeaders::new(HashMap::from([("Authorization".to_string(), forged)]))),
    );
    match rt.block_on(forger.get_object(&get("channel"))) {
        Err(VssError::AuthError(_)) => {}
        other => panic!("a forged signature must be refused, got {other:?}"),
    }
}

#[test]
fn a_wallet_whose_backup_server_is_unreachable_does_not_start_and_writes_nothing() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = WalletConfig {
        backup: Some(BackupConfig { url: format!("http://{closed}/vss") }),
        ..config_without_lsp(&format!("http://{closed}"), dir.path())
    };
    let wallet = Wallet::new(config, MNEMONIC, None).unwrap();
    match rt.block_on(wallet.start()) {
        Err(e @ WalletError::BackupUnavailable(_)) => {
            assert!(e.to_string().contains("backup server is unavailable"), "{e}");
            assert!(!e.to_string().contains("abandon"), "no secret in the message: {e}");
        }
        other => panic!("a start without its backup must be refused, got {other:?}"),
    }
    let node_store = dir.path().join("node").join("ldk_node_data.sqlite");
    assert!(!node_store.exists(), "no node store is created before the backup answers");
}
