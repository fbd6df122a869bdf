//! A backup server that answers slowly, answers garbage, damages the objects it returns or
//! serves another wallet's keyspace (a proxy in front of a real vss-server): the app's start,
//! a wake and a restore on a new phone each end with [`WalletError::BackupUnavailable`] within
//! a few seconds, and nothing is written, neither to the phone's stores nor to the server.
//! When the server is honest again, the wallet goes on with the channel it had.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_core::{BackupAuth, BackupConfig, Network, Wallet, WalletConfig, WalletError};
use doze_core::{LifecycleState, WalletEventKind};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::backup_server::BackupServer;
use doze_testkit::hostile_backup::{HostileBackup, Hostility};
use doze_testkit::phone::start_wallet;
use doze_testkit::{runtime, Scene, MNEMONIC};
use ldk_node::io::sqlite_store::{KV_TABLE_NAME, SQLITE_DB_FILE_NAME};

/// Another wallet's phrase (BIP 39's second test vector).
const OTHER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// How long a refusal may take: the backup client's quick deadline (4 s) and a margin.
const REFUSED_WITHIN: Duration = Duration::from_secs(8);

fn backed_up(scene: &Scene, dir: &Path, url: String) -> WalletConfig {
    WalletConfig { backup: Some(BackupConfig { url }), ..scene.phone_config(dir) }
}

/// Every row of the node store (ldk-node's key-value table), to show that nothing changed.
fn node_rows(dir: &Path) -> BTreeMap<(String, String, String), Vec<u8>> {
    let conn = rusqlite::Connection::open(dir.join("node").join(SQLITE_DB_FILE_NAME)).unwrap();
    let mut statement = conn
        .prepare(&format!(
            "SELECT primary_namespace, secondary_namespace, key, value FROM {KV_TABLE_NAME}"
        ))
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get::<_, Vec<u8>>(3)?))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    hostility: &Hostility,
    started: Instant,
    result: Result<T, WalletError>,
) {
    let took = started.elapsed();
    match result {
        Err(WalletError::BackupUnavailable(why)) => {
            assert!(!why.is_empty() && why.len() < 400, "{what} under {hostility:?}: {why}");
        }
        other => panic!("{what} under {hostility:?} must be refused, got {other:?}"),
    }
    assert!(took < REFUSED_WITHIN, "{what} under {hostility:?} took {took:?}");
}

#[test]
fn a_hostile_backup_server_is_refused_at_start_wake_and_restore_and_changes_nothing() {
    let scene = Scene::new();
    let server = BackupServer::start();
    let proxy = HostileBackup::start(&server);
    let rt = runtime();

    // Another wallet with a backup of its own on the same server.
    let other_dir = tempfile::tempdir().unwrap();
    let other_config = WalletConfig {
        backup: Some(BackupConfig { url: server.url() }),
        ..scene.phone_config(other_dir.path())
    };
    let other = Wallet::new(other_config, OTHER_MNEMONIC, None).unwrap();
    rt.block_on(other.start()).unwrap();
    let other_node_id = other.node_id().unwrap();
    rt.block_on(other.stop()).unwrap();
    drop(other);

    // The phone: a JIT channel from a payment in, backed up through the proxy while honest.
    let dir = tempfile::tempdir().unwrap();
    let config = backed_up(&scene, dir.path(), proxy.url());
    let (phone, events) = start_wallet(config.clone(), &rt);
    let invoice = rt.block_on(phone.receive_bolt11(Some(40_000_000), "in".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    events.wait_for(DEFAULT_WAIT, |e| matches!(e.kind, WalletEventKind::PaymentReceived { .. }));
    wait_until("the phone's channel settles", DEFAULT_WAIT, || {
        phone.balances().map(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0).unwrap()
    });
    let channels = phone.list_channels().unwrap();
    let spendable = phone.balances().unwrap().lightning_spendable_sat;
    rt.block_on(phone.stop()).unwrap();
    drop(phone);
    let rows = node_rows(dir.path());

    let other_auth = BackupAuth::from_mnemonic(OTHER_MNEMONIC, None, Network::Regtest).unwrap();
    for hostility in [
        Hostility::Slow(Duration::from_secs(60)),
        Hostility::Garbage,
        Hostility::DamagedObjects,
        Hostility::AnotherWallet(Arc::new(other_auth)),
    ] {
        proxy.set(hostility.clone());

        // The app's start.
        let app = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
        let started = Instant::now();
        assert_unavailable("the app's start", &hostility, started, rt.block_on(app.start()));
        assert_ne!(app.state(), LifecycleState::Running);
        drop(app);

        // A wake.
        let extension = Wallet::new(config.clone(), MNEMONIC, None).unwrap();
        let (payload, headers) = scene.push();
        let started = Instant::now();
        let woke = rt.block_on(extension.handle_push(payload, headers, Duration::from_secs(20)));
        assert_unavailable("a wake", &hostility, started, woke);
        drop(extension);

        // A restore on a new phone: no node store, no half-restored one beside it.
        let new_dir = tempfile::tempdir().unwrap();
        let new =
            Wallet::new(backed_up(&scene, new_dir.path(), proxy.url()), MNEMONIC, None).unwrap();
        let started = Instant::now();
        assert_unavailable("a restore", &hostility, started, rt.block_on(new.start()));
        drop(new);
        let left: Vec<_> = std::fs::read_dir(new_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("node"))
            .collect();
        assert!(left.is_empty(), "under {hostility:?} a restore left {left:?}");

        assert_eq!(node_rows(dir.path()), rows, "under {hostility:?} the node store changed");
        let requests = proxy.requests();
        assert_eq!(
            requests.get("putObjects"),
            None,
            "under {hostility:?} the wallet wrote to the server: {requests:?}"
        );
    }

    // Honest again: the phone starts with its channel and balance, and the other wallet's
    // backup was never touched (it still restores as its own).
    proxy.set(Hostility::Honest);
    let (phone, _) = start_wallet(config, &rt);
    let again = phone.list_channels().unwrap();
    assert_eq!(
        again.iter().map(|c| &c.channel_id).collect::<Vec<_>>(),
        channels.iter().map(|c| &c.channel_id).collect::<Vec<_>>()
    );
    assert_eq!(phone.balances().unwrap().lightning_spendable_sat, spendable);
    rt.block_on(phone.stop()).unwrap();

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_config = WalletConfig {
        backup: Some(BackupConfig { url: server.url() }),
        ..scene.phone_config(restored_dir.path())
    };
    let restored = Wallet::new(restored_config, OTHER_MNEMONIC, None).unwrap();
    rt.block_on(restored.start()).unwrap();
    assert_eq!(restored.node_id().unwrap(), other_node_id);
    rt.block_on(restored.stop()).unwrap();
}
