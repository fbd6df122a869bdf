//! Doze's own database (`doze.sqlite` in the storage directory, next to the node's store).
//! Today it remembers which events the app has already been given, because ldk-node can emit
//! an event again after a restart (LDK replays `PaymentClaimed` when its channel manager was not
//! persisted after the claim), and an app must see each payment once.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::WalletError;

/// The database file's name inside the storage directory.
pub(crate) const DB_FILE: &str = "doze.sqlite";
/// Delivered-event ids are kept this long: far longer than any replay window.
const DELIVERED_RETENTION_SECS: u64 = 90 * 24 * 3600;

fn storage_error(e: rusqlite::Error) -> WalletError {
    WalletError::Storage(format!("wallet database: {e}"))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An open connection to the wallet database.
pub(crate) struct WalletDb {
    conn: Connection,
}

impl WalletDb {
    /// Opens (creating if needed) the database in `storage_dir`.
    pub(crate) fn open(storage_dir: &Path) -> Result<WalletDb, WalletError> {
        let conn = Connection::open(storage_dir.join(DB_FILE)).map_err(storage_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS delivered_events (
                 id TEXT PRIMARY KEY,
                 delivered_at INTEGER NOT NULL
             );",
        )
        .map_err(storage_error)?;
        let cutoff = now_secs().saturating_sub(DELIVERED_RETENTION_SECS) as i64;
        conn.execute("DELETE FROM delivered_events WHERE delivered_at < ?1", params![cutoff])
            .map_err(storage_error)?;
        Ok(WalletDb { conn })
    }

    /// Whether the event `id` was already given to the app.
    pub(crate) fn was_delivered(&self, id: &str) -> Result<bool, WalletError> {
        self.conn
            .query_row("SELECT 1 FROM delivered_events WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
            .map_err(storage_error)
    }

    /// Records that the event `id` was given to the app.
    pub(crate) fn mark_delivered(&self, id: &str) -> Result<(), WalletError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO delivered_events (id, delivered_at) VALUES (?1, ?2)",
                params![id, now_secs() as i64],
            )
            .map(|_| ())
            .map_err(storage_error)
    }
}
