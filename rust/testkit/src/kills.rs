//! What the kill tests check after a process died: the app started on the same store, let
//! settle and stopped, with every channel close its listener heard; and how far the phone's
//! channel monitor is (to aim a kill at LDK's whole-monitor write).

use std::path::Path;
use std::sync::Arc;

use doze_core::{Balances, ChannelInfo, Wallet, WalletConfig, WalletError, WalletEventKind};
use doze_devnet::nodes::DEFAULT_WAIT;

use crate::async_scene::AsyncScene;
use crate::phone::Recorder;
use crate::MNEMONIC;

/// The app's state while it settles after a kill: balances, channels, and the closes its
/// listener heard.
#[derive(Debug)]
pub struct AppState {
    /// `Wallet::balances`.
    pub balances: Result<Balances, WalletError>,
    /// `Wallet::list_channels`.
    pub channels: Result<Vec<ChannelInfo>, WalletError>,
    /// Every `ChannelClosed` the listener heard.
    pub closes: Vec<WalletEventKind>,
}

impl AppState {
    /// The app's state now.
    pub fn of(app: &Wallet, events: &Recorder) -> AppState {
        AppState { balances: app.balances(), channels: app.list_channels(), closes: closes(events) }
    }

    /// Spendable on Lightning with nothing in flight (what a killed wake left has settled).
    pub fn settled(&self) -> bool {
        self.balances.as_ref().is_ok_and(|b| b.lightning_spendable_sat > 0 && b.pending_sat == 0)
    }
}

/// The `ChannelClosed` events `events` recorded.
pub fn closes(events: &Recorder) -> Vec<WalletEventKind> {
    events
        .events()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| matches!(k, WalletEventKind::ChannelClosed { .. }))
        .collect()
}

/// Starts the app on the phone's store (recovery phrase [`MNEMONIC`]), lets it finish what a
/// killed process left until settled (or [`DEFAULT_WAIT`]), stops it, and waits until LSP-A
/// sees the phone offline. Returns the state it stopped in; its `closes` must be empty.
pub fn app_start_and_stop(
    scene: &AsyncScene,
    config: &WalletConfig,
    rt: &tokio::runtime::Runtime,
) -> AppState {
    app_start_and_stop_once(scene, config, rt, || true)
}

/// [`app_start_and_stop`], the app kept running until `done` too (e.g. the payment a killed
/// wake was receiving has ended at its sender): a payment in flight when the app stops waits
/// for the phone's next time online, which a test that only starts the app never brings.
pub fn app_start_and_stop_once(
    scene: &AsyncScene,
    config: &WalletConfig,
    rt: &tokio::runtime::Runtime,
    done: impl Fn() -> bool,
) -> AppState {
    let app = Wallet::new(config.clone(), MNEMONIC, None)
        .unwrap_or_else(|e| panic!("the app's wallet builds: {e}"));
    let events = Arc::new(Recorder::default());
    app.set_event_listener(events.clone());
    rt.block_on(app.start()).unwrap_or_else(|e| panic!("the app starts after a kill: {e}"));
    let phone_id = app
        .node_id()
        .ok()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the app has a node id"));
    // A close is final: stop waiting at once and report it.
    let state = poll_state(
        DEFAULT_WAIT,
        || AppState::of(&app, &events),
        |s| (s.settled() && done()) || !s.closes.is_empty(),
    );
    rt.block_on(app.stop()).unwrap_or_else(|e| panic!("the app stops: {e}"));
    drop(app);
    AsyncScene::wait_until_offline_at(&scene.lsp_a, phone_id, DEFAULT_WAIT);
    state
}

pub use doze_devnet::nodes::poll_state;

/// The id of the newest channel-monitor update stored on its own in the wallet's node store
/// (`<storage>/node`), while no process has it open: before LDK's persister consolidates
/// (every 100th update it writes the whole monitor and drops the updates), this is the
/// monitor's latest update id. `None` without any.
pub fn newest_monitor_update_id(storage_dir: &Path) -> Option<u64> {
    let db = node_store(storage_dir);
    let sql = format!(
        "SELECT key FROM {} WHERE primary_namespace = 'monitor_updates'",
        ldk_node::io::sqlite_store::KV_TABLE_NAME
    );
    let mut statement = db.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let keys = statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    keys.filter_map(|k| k.ok()?.parse::<u64>().ok()).max()
}

/// Whether the wallet's node store (`<storage>/node`, while no process has it open) records a
/// backup request whose outcome the phone has not settled: the server may hold a persistence
/// round the phone's copy lacks, which the next open applies (doze-core's
/// `store/backup/journal.rs`).
pub fn backup_request_unsettled(storage_dir: &Path) -> bool {
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE primary_namespace = 'doze_local' AND key = 'backup_journal'",
        ldk_node::io::sqlite_store::KV_TABLE_NAME
    );
    let count: i64 = node_store(storage_dir)
        .query_row(&sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    count > 0
}

/// The channel manager the wallet's node last wrote to its store (`<storage>/node`), if any.
/// Safe to call while the node runs in another process: a read-only connection, which waits
/// out a write in progress (rusqlite's busy timeout).
pub fn stored_manager(storage_dir: &Path) -> Option<Vec<u8>> {
    use ldk_node::lightning::util::persist::{
        CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    };
    let sql = format!(
        "SELECT value FROM {} WHERE primary_namespace = ?1 AND secondary_namespace = ?2 \
         AND key = ?3",
        ldk_node::io::sqlite_store::KV_TABLE_NAME
    );
    let params = [
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    ];
    match node_store(storage_dir).query_row(&sql, params, |row| row.get(0)) {
        Ok(manager) => Some(manager),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// The preimage ldk-node recorded for the BOLT11 invoice with `payment_hash` (hex) that the
/// wallet in `storage_dir` issued (LDK derives it from the invoice's secret and ldk-node keeps
/// it in the payment's record), read from the node's store.
pub fn invoice_preimage(storage_dir: &Path, payment_hash: &str) -> [u8; 32] {
    use ldk_node::lightning::util::ser::Readable;
    use ldk_node::payment::{PaymentDetails, PaymentKind};
    let sql = format!(
        "SELECT value FROM {} WHERE primary_namespace = 'payments' AND key = ?1",
        ldk_node::io::sqlite_store::KV_TABLE_NAME
    );
    let record: Vec<u8> = node_store(storage_dir)
        .query_row(&sql, [payment_hash], |row| row.get(0))
        .unwrap_or_else(|e| panic!("the record of payment {payment_hash}: {e}"));
    let details = PaymentDetails::read(&mut &record[..])
        .unwrap_or_else(|e| panic!("the record of payment {payment_hash}: {e:?}"));
    match details.kind {
        PaymentKind::Bolt11 { preimage: Some(preimage), .. } => preimage.0,
        other => panic!("payment {payment_hash} is no invoice with a known preimage: {other:?}"),
    }
}

/// How many releases the wallet in `storage_dir` keeps for the next start or wake to send
/// again (doze-core's `store/releases.rs`), read from its `doze.sqlite`.
pub fn kept_releases(storage_dir: &Path) -> u64 {
    let path = storage_dir.join("doze.sqlite");
    let db =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let sql = "SELECT COUNT(*) FROM held_releases";
    db.query_row(sql, [], |row| row.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn node_store(storage_dir: &Path) -> rusqlite::Connection {
    let path = storage_dir.join("node").join(ldk_node::io::sqlite_store::SQLITE_DB_FILE_NAME);
    rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}
