//! Everything Doze keeps on disk, in two stores side by side in the storage directory:
//!
//! - ldk-node's store (`node/`), which the app's node and the wake engine both write through
//!   [`node_store`] (with [`backup`] when the wallet is backed up), and [`node_payments`], which
//!   keeps ldk-node's payment records small;
//! - Doze's own database, `doze.sqlite`: the [`history`] of payments and their [`payments`]
//!   records, the [`outbox`] of events a wake kept for the app, the [`address_book`] of peers'
//!   addresses, the [`releases`] a wake sent, and this module's tables. The address book and
//!   the kept releases are the wake's, but live here: the app's session writes the address
//!   book too, and every table of `doze.sqlite` is created in one place ([`open`]).
//!
//! Nothing above this folder opens a file of the wallet's: the lifecycle (`wallet/`), the
//! features (`pay/`, `funds/`) and the wake (`wake/`) reach disk through here. The folder
//! imports only the crate's vocabulary (config, errors, events, the mutex helper) and `net/`
//! (a refused backup write cuts the LSP connections first).
//!
//! Doze's own database (`doze.sqlite` in the storage directory, next to the node's store).
//! It remembers which events the app has already been given, because ldk-node can emit an
//! event again after a restart (LDK replays `PaymentClaimed` when its channel manager was not
//! persisted after the claim) and an app must see each payment once; which push signatures were
//! seen (replay protection that survives the extension's short-lived processes); and small
//! settings such as the last offline offer, which an app shows while the node is not running.
//! SQLite in WAL mode: the app and its extension may both open it.
//!
//! This module is the one way into `doze.sqlite`: [`open`] creates every table (this module's,
//! the history's, the address book's, the outbox's and the kept releases') and sets the same
//! pragmas for every connection: WAL, and `synchronous = FULL` so that a commit survives a power
//! loss (a delivered event id or a seen push signature must never come back). The one
//! exception is explicit: [`WalletDb::survive_kills_only`] for the wake's hot write.

pub(crate) mod address_book;
pub(crate) mod backup;
pub(crate) mod history;
pub(crate) mod node_payments;
pub(crate) mod node_store;
pub(crate) mod outbox;
pub(crate) mod payments;
pub(crate) mod releases;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::WalletError;

/// The database file's name inside the storage directory.
pub(crate) const DB_FILE: &str = "doze.sqlite";
/// Delivered-event ids are kept this long: far longer than any replay window.
const DELIVERED_RETENTION_SECS: u64 = 90 * 24 * 3600;
/// Push signatures are remembered longer than the window a push is accepted in, so a replay
/// is refused as long as its timestamp could still pass.
const PUSH_REPLAY_RETENTION_SECS: u64 = 3600;

pub(crate) fn storage_error(e: rusqlite::Error) -> WalletError {
    WalletError::Storage(format!("wallet database: {e}"))
}

/// Opens `doze.sqlite` in `storage_dir` (creating the directory and every table if needed),
/// with the pragmas every connection to it uses.
pub(crate) fn open(storage_dir: &Path) -> Result<Connection, WalletError> {
    std::fs::create_dir_all(storage_dir).map_err(|e| {
        WalletError::Storage(format!("cannot create {}: {e}", storage_dir.display()))
    })?;
    let conn = Connection::open(storage_dir.join(DB_FILE)).map_err(storage_error)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(storage_error)?;
    conn.execute_batch(
        &[
            SCHEMA,
            crate::store::history::SCHEMA,
            crate::store::address_book::SCHEMA,
            crate::store::outbox::SCHEMA,
            crate::store::releases::SCHEMA,
        ]
        .concat(),
    )
    .map_err(storage_error)?;
    crate::store::history::migrate(&conn).map_err(storage_error)?;
    Ok(conn)
}

/// This module's tables.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS delivered_events (
        id TEXT PRIMARY KEY,
        delivered_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS seen_pushes (
        signature TEXT PRIMARY KEY,
        seen_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );";

pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An open connection to the wallet database.
pub(crate) struct WalletDb {
    pub(crate) conn: Connection,
}

impl WalletDb {
    /// Opens (creating if needed) the database in `storage_dir`.
    pub(crate) fn open(storage_dir: &Path) -> Result<WalletDb, WalletError> {
        let conn = open(storage_dir)?;
        let cutoff = now_secs().saturating_sub(DELIVERED_RETENTION_SECS) as i64;
        conn.execute("DELETE FROM delivered_events WHERE delivered_at < ?1", params![cutoff])
            .map_err(storage_error)?;
        let push_cutoff = now_secs().saturating_sub(PUSH_REPLAY_RETENTION_SECS) as i64;
        conn.execute("DELETE FROM seen_pushes WHERE seen_at < ?1", params![push_cutoff])
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

impl WalletDb {
    /// Records a push signature; `false` if it was seen before (a replay).
    pub(crate) fn record_push(&self, signature: &str) -> Result<bool, WalletError> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO seen_pushes (signature, seen_at) VALUES (?1, ?2)",
                params![signature.to_ascii_lowercase(), now_secs() as i64],
            )
            .map_err(storage_error)?;
        Ok(inserted == 1)
    }

    /// A stored setting.
    pub(crate) fn setting(&self, key: &str) -> Result<Option<String>, WalletError> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", params![key], |row| row.get(0))
            .optional()
            .map_err(storage_error)
    }

    /// Removes a setting.
    pub(crate) fn clear_setting(&self, key: &str) -> Result<(), WalletError> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", params![key])
            .map(|_| ())
            .map_err(storage_error)
    }

    /// Stores a setting.
    pub(crate) fn set_setting(&self, key: &str, value: &str) -> Result<(), WalletError> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(storage_error)
    }
}
