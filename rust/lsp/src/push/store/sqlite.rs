//! The push store in SQLite (`push.sqlite3` in the LSP's storage directory): one LSP node's
//! registrations, nonces and delivery log.

use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use ldk_node::bitcoin::secp256k1::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    sql_time, unix_time, Outcome, PushLogEntry, Registration, RegistrationWindow, StoreError,
    PUSH_LOG_ROWS,
};
use crate::push::registration::{PushTarget, TargetKind, VerifiedRequest};

/// The database file under the LSP's storage directory.
pub const PUSH_DB_FILE: &str = "push.sqlite3";

/// The SQLite push database. Every call takes a short lock on one connection.
pub(super) struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `dir`.
    pub(super) fn open(dir: &Path) -> Result<SqliteStore, rusqlite::Error> {
        Self::with_connection(Connection::open(dir.join(PUSH_DB_FILE))?)
    }

    /// An in-memory database (for tests).
    pub(super) fn in_memory() -> Result<SqliteStore, rusqlite::Error> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<SqliteStore, rusqlite::Error> {
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS registrations (
                 node_id TEXT PRIMARY KEY NOT NULL,
                 app_name TEXT NOT NULL,
                 target_kind TEXT NOT NULL,
                 target_value TEXT NOT NULL,
                 signed_at INTEGER NOT NULL,
                 registered_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS nonces (
                 node_id TEXT NOT NULL,
                 nonce TEXT NOT NULL,
                 signed_at INTEGER NOT NULL,
                 PRIMARY KEY (node_id, nonce)
             );
             CREATE INDEX IF NOT EXISTS nonces_by_time ON nonces (signed_at);
             CREATE TABLE IF NOT EXISTS push_log (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 node_id TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 outcome TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 detail TEXT NOT NULL
             );",
        )?;
        Ok(SqliteStore { connection: Mutex::new(connection) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `nonce` was recorded for `node_id`.
    pub(super) fn nonce_seen(
        &self,
        node_id: &PublicKey,
        nonce: &str,
    ) -> Result<bool, rusqlite::Error> {
        self.lock()
            .query_row(
                "SELECT 1 FROM nonces WHERE node_id = ?1 AND nonce = ?2",
                params![node_id.to_string(), nonce],
                |_| Ok(()),
            )
            .optional()
            .map(|row| row.is_some())
    }

    /// See [`super::PushStore::signed_since`].
    pub(super) fn signed_since(
        &self,
        node_id: &PublicKey,
        since: u64,
    ) -> Result<(u64, Option<u64>), rusqlite::Error> {
        signed_since(&self.lock(), &node_id.to_string(), since, "")
    }

    /// See [`super::PushStore::register`]: one SQLite transaction (SQLite serialises writers).
    pub(super) fn register(
        &self,
        request: &VerifiedRequest,
        now: u64,
        window: RegistrationWindow,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let node_id = request.node_id.to_string();
        // Any refusal below drops `tx`, which rolls this insert back.
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO nonces (node_id, nonce, signed_at) VALUES (?1, ?2, ?3)",
            params![node_id, request.nonce, sql_time(request.timestamp)],
        )?;
        if inserted == 0 {
            return Err(StoreError::ReplayedNonce);
        }
        let (recent, oldest) = signed_since(&tx, &node_id, window.since, &request.nonce)?;
        if recent >= u64::from(window.max) {
            return Err(StoreError::TooMany { recent, oldest });
        }
        let current: Option<i64> = tx
            .query_row(
                "SELECT signed_at FROM registrations WHERE node_id = ?1",
                params![node_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(current) = current.map(unix_time) {
            if request.timestamp < current {
                return Err(StoreError::Older { current });
            }
        }
        tx.execute(
            "INSERT INTO registrations
                 (node_id, app_name, target_kind, target_value, signed_at, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (node_id) DO UPDATE SET app_name = excluded.app_name,
                 target_kind = excluded.target_kind, target_value = excluded.target_value,
                 signed_at = excluded.signed_at, registered_at = excluded.registered_at",
            params![
                node_id,
                request.app_name,
                request.target.kind.as_str(),
                request.target.value,
                sql_time(request.timestamp),
                sql_time(now)
            ],
        )?;
        tx.execute("DELETE FROM nonces WHERE signed_at < ?1", params![sql_time(window.since)])?;
        tx.commit()?;
        Ok(())
    }

    /// The registration of `node_id`, if any.
    pub(super) fn registration(
        &self,
        node_id: &PublicKey,
    ) -> Result<Option<Registration>, rusqlite::Error> {
        self.lock()
            .query_row(
                &format!("SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE node_id = ?1"),
                params![node_id.to_string()],
                registration_of,
            )
            .optional()
    }

    /// Up to `limit` registrations in node-id order, starting after `after`.
    pub(super) fn registrations(
        &self,
        after: Option<&PublicKey>,
        limit: u32,
    ) -> Result<Vec<Registration>, rusqlite::Error> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE node_id > ?1
             ORDER BY node_id LIMIT ?2"
        ))?;
        let after = after.map(|n| n.to_string()).unwrap_or_default();
        let rows = statement.query_map(params![after, limit], registration_of)?;
        rows.collect()
    }

    /// How many registrations and stored nonces there are (for tests and operators).
    pub(super) fn counts(&self) -> Result<(u64, u64), rusqlite::Error> {
        let connection = self.lock();
        let registrations: i64 =
            connection.query_row("SELECT COUNT(*) FROM registrations", [], |r| r.get(0))?;
        let nonces: i64 = connection.query_row("SELECT COUNT(*) FROM nonces", [], |r| r.get(0))?;
        Ok((unix_time(registrations), unix_time(nonces)))
    }

    /// Appends to the delivery log (keeping its last rows only).
    pub(super) fn log_outcome(
        &self,
        node_id: &PublicKey,
        at: u64,
        outcome: Outcome,
        attempts: u32,
        detail: &str,
    ) -> Result<(), rusqlite::Error> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO push_log (node_id, at, outcome, attempts, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![node_id.to_string(), sql_time(at), outcome.as_str(), attempts, detail],
        )?;
        connection.execute(
            "DELETE FROM push_log WHERE id <= (SELECT MAX(id) FROM push_log) - ?1",
            params![PUSH_LOG_ROWS],
        )?;
        Ok(())
    }

    /// The latest `limit` delivery log rows, newest first.
    pub(super) fn push_log(&self, limit: u32) -> Result<Vec<PushLogEntry>, rusqlite::Error> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT node_id, at, outcome, attempts, detail FROM push_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit], |row| {
            Ok(PushLogEntry {
                node_id: row.get(0)?,
                at: unix_time(row.get::<_, i64>(1)?),
                outcome: Outcome::parse(&row.get::<_, String>(2)?),
                attempts: row.get(3)?,
                detail: row.get(4)?,
            })
        })?;
        rows.collect()
    }
}

/// The columns [`registration_of`] reads, in its order.
const REGISTRATION_COLUMNS: &str =
    "node_id, app_name, target_kind, target_value, signed_at, registered_at";

fn registration_of(row: &rusqlite::Row<'_>) -> Result<Registration, rusqlite::Error> {
    let node_id: String = row.get(0)?;
    let kind: String = row.get(2)?;
    Ok(Registration {
        node_id: PublicKey::from_str(&node_id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        app_name: row.get(1)?,
        target: PushTarget {
            kind: TargetKind::from_str(&kind).unwrap_or(TargetKind::Webhook),
            value: row.get(3)?,
        },
        signed_at: unix_time(row.get::<_, i64>(4)?),
        registered_at: unix_time(row.get::<_, i64>(5)?),
    })
}

/// Registrations `node_id` signed since `since` (leaving out the one with nonce `except`),
/// and when the oldest of them was signed.
fn signed_since(
    connection: &Connection,
    node_id: &str,
    since: u64,
    except: &str,
) -> Result<(u64, Option<u64>), rusqlite::Error> {
    let (recent, oldest): (i64, Option<i64>) = connection.query_row(
        "SELECT COUNT(*), MIN(signed_at) FROM nonces
         WHERE node_id = ?1 AND signed_at >= ?2 AND nonce != ?3",
        params![node_id, sql_time(since), except],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((unix_time(recent), oldest.map(unix_time)))
}
