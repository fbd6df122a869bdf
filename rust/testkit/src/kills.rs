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

fn node_store(storage_dir: &Path) -> rusqlite::Connection {
    let path = storage_dir.join("node").join(ldk_node::io::sqlite_store::SQLITE_DB_FILE_NAME);
    rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}
