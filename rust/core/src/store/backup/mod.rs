//! Remote backup on LDK's VSS server (docs/decisions/0005): the node's store is kept on the
//! phone and on the server, so a lost phone loses nothing and a new phone restores from the
//! recovery phrase alone.
//!
//! - **What is remote**: everything ldk-node stores (channel manager and monitors, the on-chain
//!   wallet, payments, peers, events), encrypted and with obfuscated names, except gossip,
//!   scores and sync times, which are rebuilt. **What stays local**: Doze's `doze.sqlite`
//!   (history, push replay store, outbox, address book), the lock, and this device's id.
//! - **One device at a time**: the server's global version moves on with every write, and
//!   every write names the version it expects; a device holds the wallet while it is the
//!   latest writer. A device id in the backup names that device: a restore on a new phone
//!   takes the wallet over, and the old phone is refused at its next start, wake or sync
//!   ([`WalletError::WalletMoved`]), and at its next write even if it never checked.
//! - The app's node and the wake engine open the same store through [`open`].

mod auth;
mod journal;
pub(crate) mod remote;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::config::BackupConfig;
pub use auth::BackupAuth;
use ldk_node::bitcoin::bip32::ChildNumber;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::Secp256k1;
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::util::persist::KVStoreSync;
use remote::{ObjectName, Remote, RemoteError};
pub(crate) use store::BackedUpStore;
use store::{is_local_only, LOCAL_NAMESPACE};

use crate::config::Network;
use crate::error::WalletError;
use crate::mnemonic::{master_key, Mnemonic};

/// Who opens the store: the app may restore and take the wallet over; a wake only runs a
/// wallet this device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    App,
    Wake,
}

/// The backup's name for this device's claim on the wallet.
fn device_object() -> ObjectName {
    ObjectName::new("doze", "", "device")
}

/// ldk-node's `VssStore` schema marker for V1 (its `VssSchemaVersion::V1`, an LDK TLV enum:
/// the variant's id, then an empty TLV stream), written so that ldk-node reads Doze's backup as
/// its own.
const VSS_SCHEMA_V1: [u8; 2] = [1, 0];

fn schema_object() -> ObjectName {
    ObjectName::new("", "", "vss_schema_version")
}

/// Opens the node store in `node_dir` with its backup: restores it from the server first when
/// the app starts on an empty directory, takes the wallet over for this device when it is new
/// here, and refuses with [`WalletError::WalletMoved`] when another device holds it.
pub(crate) fn open(
    node_dir: &Path,
    config: &BackupConfig,
    mnemonic: &Mnemonic,
    passphrase: Option<&str>,
    network: Network,
    opener: Opener,
) -> Result<BackedUpStore, WalletError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("doze-backup")
        .enable_all()
        .build()
        .map_err(|e| WalletError::Node(format!("cannot start the backup client: {e}")))?;
    let auth = BackupAuth::from_parsed(mnemonic, passphrase, network)?;
    let store_id = format!("doze-{}", network.to_bitcoin());
    let seed = vss_seed(mnemonic, passphrase, network)?;
    let remote = Arc::new(Remote::new(&config.url, &store_id, seed, Arc::new(auth)));

    // Only an app starting on an empty directory needs the list of objects (to restore them);
    // every other start and wake asks for the global version alone. The device holding the
    // wallet is asked for in the same round trip.
    let listing = opener == Opener::App && !node_dir.join(SQLITE_DB_FILE_NAME).exists();
    let asker = Arc::clone(&remote);
    let ((global_version, names), holder) = run(&runtime, async move {
        let device = device_object();
        let holder = asker.get_quick(&device);
        if listing {
            tokio::try_join!(asker.list(), holder)
        } else {
            let version = async { Ok((asker.global_version_quick().await?, Vec::new())) };
            tokio::try_join!(version, holder)
        }
    })?;
    if !names.is_empty() {
        // Take the wallet over first, so that the old device, if it still runs, can write
        // nothing more: what is then downloaded is the last state.
        let started = std::time::Instant::now();
        let id = new_device_id();
        let global_version = claim(&runtime, &remote, global_version, &id)?;
        let (_, names) = run(&runtime, Arc::clone(&remote).list_owned())?;
        let count = restore(&runtime, &remote, names, node_dir, id)?;
        let local = open_local(node_dir)?;
        log::info!("backup: restored {count} objects in {} ms", started.elapsed().as_millis());
        return Ok(BackedUpStore::new(local, remote, global_version, runtime));
    }
    let local = open_local(node_dir)?;
    let ours = match KVStoreSync::read(&local, LOCAL_NAMESPACE, "", DEVICE_KEY) {
        Ok(id) => Some(id),
        Err(e) if e.kind() == ldk_node::lightning::io::ErrorKind::NotFound => None,
        Err(e) => return Err(WalletError::Storage(format!("cannot read the device id: {e}"))),
    };
    let global_version = match (ours, holder) {
        (Some(ours), Some(holder)) if ours == holder => {
            settle_journal(&runtime, &remote, &local)?;
            global_version
        }
        // Another device holds it; this one's state may be behind the backup's.
        (_, Some(_)) => return Err(WalletError::WalletMoved),
        // A wake never sets a backup up: the app does that at its start.
        (_, None) if opener == Opener::Wake => {
            return Err(WalletError::BackupUnavailable(
                "this wallet's backup is not set up yet: open the app first".into(),
            ))
        }
        (ours, None) => {
            // The first start with a backup (or the server lost it): upload everything, then
            // name this device as the holder. Listed first: a server serving another wallet's
            // keyspace shows no holder either, and must not be written to as if it were ours.
            run(&runtime, Arc::clone(&remote).list_owned())?;
            // Everything the phone holds goes up now: a request it may have sent before is moot.
            journal::clear(&local)
                .map_err(|e| WalletError::Storage(format!("cannot read the node store: {e}")))?;
            let uploads = local_objects(node_dir)?;
            let count = uploads.len();
            let uploader = Arc::clone(&remote);
            let version =
                run(&runtime, async move { uploader.put_all(global_version, uploads).await })?;
            // Kept before the claim: a device killed in between must find its own id named.
            let id = new_device_id();
            keep_device_id(&local, id.clone())?;
            let version = claim(&runtime, &remote, version, &id)?;
            log::info!(
                "backup: {count} objects uploaded ({})",
                if ours.is_some() { "the server had lost them" } else { "the first backup" }
            );
            version
        }
    };
    Ok(BackedUpStore::new(local, remote, global_version, runtime))
}

/// Brings the phone's copy up to the server if a kill (or a lost answer) left the server
/// ahead by the phone's last request (`journal.rs`), before LDK reads anything from it. Costs a
/// round trip only when there is such a request.
fn settle_journal(
    runtime: &tokio::runtime::Runtime,
    remote: &Arc<Remote>,
    local: &SqliteStore,
) -> Result<(), WalletError> {
    let storage = |e: &dyn std::fmt::Display| {
        WalletError::Storage(format!("cannot bring the phone's copy up to its backup: {e}"))
    };
    let Some(record) = journal::read(local).map_err(|e| storage(&e))? else {
        return Ok(());
    };
    let reader = Arc::clone(remote);
    let last =
        run(runtime, async move { reader.get_quick(&journal::last_request_object()).await })?;
    match journal::resolve(local, &record, last.as_deref()).map_err(|e| storage(&e))? {
        journal::Resolution::RolledForward { objects } => log::info!(
            "backup: the last write reached the server but not the phone; {objects} applied"
        ),
        journal::Resolution::Dropped => {
            log::info!("backup: the last write never reached the server; dropped")
        }
    }
    Ok(())
}

/// Whether this device still holds the wallet: the device named in the backup is this one.
/// A running app checks at each sync; a takeover also shows at the next write.
pub(crate) fn check_holder(store: &BackedUpStore) -> Result<(), WalletError> {
    if store.moved() {
        return Err(WalletError::WalletMoved);
    }
    let ours = KVStoreSync::read(store.local(), LOCAL_NAMESPACE, "", DEVICE_KEY)
        .map_err(|e| WalletError::Storage(format!("cannot read the device id: {e}")))?;
    let holder = store
        .block_on(read_holder(store.remote()))
        .map_err(|e| WalletError::BackupUnavailable(e.to_string()))?
        .map_err(remote_error)?;
    if holder.as_ref() != Some(&ours) {
        store.set_moved();
        return Err(WalletError::WalletMoved);
    }
    Ok(())
}

/// Names the device `id` as the wallet's holder, taking it over from any other device: the
/// write goes through at the server's current global version, whatever another device wrote
/// meanwhile. Returns the global version after it.
fn claim(
    runtime: &tokio::runtime::Runtime,
    remote: &Arc<Remote>,
    mut global_version: i64,
    id: &[u8],
) -> Result<i64, WalletError> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let claim = vec![(device_object(), id.to_vec()), (schema_object(), VSS_SCHEMA_V1.to_vec())];
        let claimer = Arc::clone(remote);
        let put =
            store::block_on(runtime, async move { claimer.put(global_version, claim, &[]).await })
                .map_err(|e| WalletError::BackupUnavailable(e.to_string()))?;
        match put {
            Ok(()) => return Ok(global_version + 1),
            // The old device wrote in between: try again at the version it left.
            Err(RemoteError::Conflict) => {
                global_version = run(runtime, global_version_of(Arc::clone(remote)))?;
            }
            Err(e) => return Err(remote_error(e)),
        }
    }
    Err(WalletError::BackupUnavailable(format!(
        "another device kept writing to this backup; {ATTEMPTS} attempts to take it over failed"
    )))
}

fn keep_device_id(local: &SqliteStore, id: Vec<u8>) -> Result<(), WalletError> {
    KVStoreSync::write(local, LOCAL_NAMESPACE, "", DEVICE_KEY, id)
        .map_err(|e| WalletError::Storage(format!("cannot keep the device id: {e}")))
}

/// Objects a restore downloads at once.
const RESTORE_PARALLELISM: usize = 16;

/// This device's key for its own id, in the local-only namespace.
const DEVICE_KEY: &str = "device";

fn remote_error(e: RemoteError) -> WalletError {
    match e {
        RemoteError::Conflict => WalletError::WalletMoved,
        RemoteError::Failed(why) => WalletError::BackupUnavailable(why),
    }
}

/// Runs a remote call on the backup runtime and waits for it.
fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl std::future::Future<Output = Result<T, RemoteError>> + Send + 'static,
) -> Result<T, WalletError> {
    store::block_on(runtime, future)
        .map_err(|e| WalletError::BackupUnavailable(e.to_string()))?
        .map_err(remote_error)
}

/// The server's global version for this wallet.
async fn global_version_of(remote: Arc<Remote>) -> Result<i64, RemoteError> {
    remote.global_version_quick().await
}

/// The id of the device the backup names as the wallet's holder, if any.
async fn read_holder(remote: Arc<Remote>) -> Result<Option<Vec<u8>>, RemoteError> {
    remote.get_quick(&device_object()).await
}

/// Downloads every backed-up object into a new store beside `node_dir`, with `device_id` as
/// this device's id, then moves it into place: a restore cut short leaves no half-restored
/// store behind, and a restored store always knows it holds the wallet. Returns how many
/// objects.
fn restore(
    runtime: &tokio::runtime::Runtime,
    remote: &Arc<Remote>,
    names: Vec<ObjectName>,
    node_dir: &Path,
    device_id: Vec<u8>,
) -> Result<usize, WalletError> {
    let staging = staging_dir(node_dir);
    let restored = restore_into(runtime, remote, names, node_dir, &staging, device_id);
    if restored.is_err() && staging.exists() {
        // Nothing half-restored stays behind; a later start begins again from the server.
        if let Err(e) = std::fs::remove_dir_all(&staging) {
            log::warn!("backup: cannot remove an unfinished restore: {e}");
        }
    }
    restored
}

fn restore_into(
    runtime: &tokio::runtime::Runtime,
    remote: &Arc<Remote>,
    names: Vec<ObjectName>,
    node_dir: &Path,
    staging: &Path,
    device_id: Vec<u8>,
) -> Result<usize, WalletError> {
    let storage = |e: &dyn std::fmt::Display| WalletError::Storage(format!("restore: {e}"));
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(|e| storage(&e))?;
    }
    std::fs::create_dir_all(staging).map_err(|e| storage(&e))?;
    let names: Vec<_> = names
        .into_iter()
        .filter(|n| {
            !is_local_only(&n.primary, &n.secondary, &n.key)
                && *n != device_object()
                && *n != journal::last_request_object()
        })
        .collect();
    let count = names.len();
    {
        let local = open_local(staging)?;
        let remote = Arc::clone(remote);
        let objects = run(runtime, async move {
            // A few requests in flight: a restore of many payments over a slow link is bound
            // by round trips.
            let mut objects = Vec::with_capacity(names.len());
            for chunk in names.chunks(RESTORE_PARALLELISM) {
                let mut gets = tokio::task::JoinSet::new();
                for name in chunk.iter().cloned() {
                    let remote = Arc::clone(&remote);
                    gets.spawn(async move { remote.get(&name).await.map(|v| (name, v)) });
                }
                while let Some(done) = gets.join_next().await {
                    let (name, value) = done.map_err(|e| RemoteError::Failed(e.to_string()))??;
                    if let Some(value) = value {
                        objects.push((name, value));
                    }
                }
            }
            Ok(objects)
        })?;
        for (name, value) in objects {
            KVStoreSync::write(&local, &name.primary, &name.secondary, &name.key, value)
                .map_err(|e| storage(&e))?;
        }
        keep_device_id(&local, device_id)?;
    }
    // The store is closed (its WAL checkpointed into the file): move the one file into place.
    std::fs::create_dir_all(node_dir).map_err(|e| storage(&e))?;
    std::fs::rename(staging.join(SQLITE_DB_FILE_NAME), node_dir.join(SQLITE_DB_FILE_NAME))
        .map_err(|e| storage(&e))?;
    std::fs::remove_dir_all(staging).map_err(|e| storage(&e))?;
    Ok(count)
}

fn staging_dir(node_dir: &Path) -> PathBuf {
    let mut name = node_dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    node_dir.with_file_name(name)
}

fn open_local(dir: &Path) -> Result<SqliteStore, WalletError> {
    SqliteStore::new(
        dir.to_path_buf(),
        Some(SQLITE_DB_FILE_NAME.into()),
        Some(KV_TABLE_NAME.into()),
    )
    .map_err(|e| WalletError::Storage(format!("cannot open the node store: {e}")))
}

/// Every object of the local store that is backed up.
fn local_objects(node_dir: &Path) -> Result<Vec<(ObjectName, Vec<u8>)>, WalletError> {
    let file = node_dir.join(SQLITE_DB_FILE_NAME);
    if !file.exists() {
        return Ok(Vec::new());
    }
    let failed =
        |e: rusqlite::Error| WalletError::Storage(format!("cannot read the node store: {e}"));
    let conn = rusqlite::Connection::open(&file).map_err(failed)?;
    let mut statement = conn
        .prepare(&format!(
            "SELECT primary_namespace, secondary_namespace, key, value FROM {KV_TABLE_NAME}"
        ))
        .map_err(failed)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                ObjectName { primary: row.get(0)?, secondary: row.get(1)?, key: row.get(2)? },
                row.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
            ))
        })
        .map_err(failed)?;
    let mut objects = Vec::new();
    for row in rows {
        let (name, value) = row.map_err(failed)?;
        if !is_local_only(&name.primary, &name.secondary, &name.key) {
            objects.push((name, value));
        }
    }
    Ok(objects)
}

fn new_device_id() -> Vec<u8> {
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
    id.to_lower_hex_string().into_bytes()
}

/// ldk-node's VSS seed: the m/877' private key.
fn vss_seed(
    mnemonic: &Mnemonic,
    passphrase: Option<&str>,
    network: Network,
) -> Result<[u8; 32], WalletError> {
    let key = master_key(mnemonic, passphrase, network.to_bitcoin())?
        .derive_priv(
            &Secp256k1::new(),
            &[ChildNumber::Hardened { index: auth::VSS_HARDENED_CHILD_INDEX }],
        )
        .map_err(|e| WalletError::Node(format!("cannot derive the backup keys: {e}")))?;
    Ok(key.private_key.secret_bytes())
}
