//! Registrations, seen nonces and delivery outcomes, in SQLite (`push.sqlite3` in the LSP's
//! storage directory).

use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use ldk_node::bitcoin::secp256k1::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::registration::{PushTarget, TargetKind, VerifiedRequest};

/// The database file under the LSP's storage directory.
pub const PUSH_DB_FILE: &str = "push.sqlite3";

/// How many `push_log` rows are kept.
const PUSH_LOG_ROWS: i64 = 10_000;

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The phone's node id.
    pub node_id: PublicKey,
    /// The app name.
    pub app_name: String,
    /// Where to push.
    pub target: PushTarget,
    /// The timestamp the phone signed.
    pub signed_at: u64,
    /// When the LSP stored it (Unix seconds).
    pub registered_at: u64,
}

/// How a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target (or the gateway) answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// An `apns`/`fcm` target, and no `push.gateway_url` configured.
    NoGateway,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::NoGateway => "no_gateway",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "delivered" => Outcome::Delivered,
            "no_gateway" => Outcome::NoGateway,
            _ => Outcome::Failed,
        }
    }
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushLogEntry {
    /// The peer, hex.
    pub node_id: String,
    /// When it ended (Unix seconds).
    pub at: u64,
    /// How.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: u32,
    /// The last status or error, for a human.
    pub detail: String,
}

/// Why storing failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The nonce is already recorded for this node.
    #[error("the nonce was used before")]
    ReplayedNonce,
    /// SQLite failed.
    #[error("the push database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The push database. Every call takes a short lock on one connection.
pub struct PushStore {
    connection: Mutex<Connection>,
}

impl PushStore {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<PushStore, rusqlite::Error> {
        Self::with_connection(Connection::open(dir.join(PUSH_DB_FILE))?)
    }

    /// An in-memory database (for tests).
    pub fn in_memory() -> Result<PushStore, rusqlite::Error> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<PushStore, rusqlite::Error> {
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
        Ok(PushStore { connection: Mutex::new(connection) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `nonce` was recorded for `node_id`.
    pub fn nonce_seen(&self, node_id: &PublicKey, nonce: &str) -> Result<bool, rusqlite::Error> {
        self.lock()
            .query_row(
                "SELECT 1 FROM nonces WHERE node_id = ?1 AND nonce = ?2",
                params![node_id.to_string(), nonce],
                |_| Ok(()),
            )
            .optional()
            .map(|row| row.is_some())
    }

    /// Records the nonce and stores (or replaces) the registration, in one transaction;
    /// forgets nonces signed before `prune_before` (they are outside the window anyway).
    pub fn register(
        &self,
        request: &VerifiedRequest,
        now: u64,
        prune_before: u64,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let node_id = request.node_id.to_string();
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO nonces (node_id, nonce, signed_at) VALUES (?1, ?2, ?3)",
            params![node_id, request.nonce, sql_time(request.timestamp)],
        )?;
        if inserted == 0 {
            return Err(StoreError::ReplayedNonce);
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
        tx.execute("DELETE FROM nonces WHERE signed_at < ?1", params![sql_time(prune_before)])?;
        tx.commit()?;
        Ok(())
    }

    /// The registration of `node_id`, if any.
    pub fn registration(
        &self,
        node_id: &PublicKey,
    ) -> Result<Option<Registration>, rusqlite::Error> {
        self.lock()
            .query_row(
                "SELECT app_name, target_kind, target_value, signed_at, registered_at
                 FROM registrations WHERE node_id = ?1",
                params![node_id.to_string()],
                |row| {
                    let kind: String = row.get(1)?;
                    Ok(Registration {
                        node_id: *node_id,
                        app_name: row.get(0)?,
                        target: PushTarget {
                            kind: TargetKind::from_str(&kind).unwrap_or(TargetKind::Webhook),
                            value: row.get(2)?,
                        },
                        signed_at: row.get::<_, i64>(3)?.max(0) as u64,
                        registered_at: row.get::<_, i64>(4)?.max(0) as u64,
                    })
                },
            )
            .optional()
    }

    /// How many nonces `node_id` signed at or after `since`, and the oldest one's time: each is
    /// one registration the phone made in the window.
    pub fn recent_registrations(
        &self,
        node_id: &PublicKey,
        since: u64,
    ) -> Result<(u64, Option<u64>), rusqlite::Error> {
        let (count, oldest): (i64, Option<i64>) = self.lock().query_row(
            "SELECT COUNT(*), MIN(signed_at) FROM nonces WHERE node_id = ?1 AND signed_at >= ?2",
            params![node_id.to_string(), sql_time(since)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((count.max(0) as u64, oldest.map(|t| t.max(0) as u64)))
    }

    /// How many registrations and stored nonces there are (for tests and operators).
    pub fn counts(&self) -> Result<(u64, u64), rusqlite::Error> {
        let connection = self.lock();
        let registrations: i64 =
            connection.query_row("SELECT COUNT(*) FROM registrations", [], |r| r.get(0))?;
        let nonces: i64 = connection.query_row("SELECT COUNT(*) FROM nonces", [], |r| r.get(0))?;
        Ok((registrations.max(0) as u64, nonces.max(0) as u64))
    }

    /// Appends to the delivery log (keeping its last rows only).
    pub fn log_outcome(
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
    pub fn push_log(&self, limit: u32) -> Result<Vec<PushLogEntry>, rusqlite::Error> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT node_id, at, outcome, attempts, detail FROM push_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit], |row| {
            Ok(PushLogEntry {
                node_id: row.get(0)?,
                at: row.get::<_, i64>(1)?.max(0) as u64,
                outcome: Outcome::parse(&row.get::<_, String>(2)?),
                attempts: row.get(3)?,
                detail: row.get(4)?,
            })
        })?;
        rows.collect()
    }
}

/// Seconds as SQLite's signed integer (saturating; timestamps this far out are rejected
/// before they get here).
fn sql_time(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn request(nonce: &str, timestamp: u64, url: &str) -> VerifiedRequest {
        let secret = SecretKey::from_slice(&[3; 32]).expect("key");
        VerifiedRequest {
            node_id: PublicKey::from_secret_key(&Secp256k1::new(), &secret),
            app_name: "app".into(),
            target: PushTarget::webhook(url),
            timestamp,
            nonce: nonce.into(),
        }
    }

    #[test]
    fn registering_replaces_the_target_and_rejects_a_reused_nonce() {
        let store = PushStore::in_memory().expect("db");
        let first = request("aa", 1_000, "http://a/");
        store.register(&first, 1_000, 400).expect("first");
        assert!(store.nonce_seen(&first.node_id, "aa").expect("query"));
        assert!(matches!(store.register(&first, 1_001, 400), Err(StoreError::ReplayedNonce)));

        let second = request("bb", 1_100, "http://b/");
        store.register(&second, 1_100, 500).expect("second");
        let stored = store.registration(&second.node_id).expect("query").expect("stored");
        assert_eq!(stored.target.value, "http://b/");
        assert_eq!(stored.signed_at, 1_100);
        assert_eq!(store.counts().expect("counts"), (1, 2));

        // Nonces signed before the window are pruned on the next registration.
        store.register(&request("cc", 2_000, "http://c/"), 2_000, 1_050).expect("third");
        assert_eq!(store.counts().expect("counts"), (1, 2), "aa pruned, bb and cc kept");
    }

    #[test]
    fn the_push_log_keeps_the_latest_rows() {
        let store = PushStore::in_memory().expect("db");
        let node = request("aa", 1, "http://a/").node_id;
        store.log_outcome(&node, 5, Outcome::Failed, 3, "500").expect("log");
        store.log_outcome(&node, 6, Outcome::Delivered, 1, "200").expect("log");
        let log = store.push_log(10).expect("read");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].outcome, Outcome::Delivered);
        assert_eq!(log[1].attempts, 3);
    }
}
