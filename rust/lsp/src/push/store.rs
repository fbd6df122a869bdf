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
    /// The node registered as often as the window allows.
    #[error("{recent} registrations in the window")]
    TooMany {
        /// Registrations the node made in the window.
        recent: u64,
        /// When the oldest of them was signed (Unix seconds).
        oldest: Option<u64>,
    },
    /// The node's current registration was signed later than this one.
    #[error("the current registration was signed at {current}")]
    Older {
        /// When the current registration was signed (Unix seconds).
        current: u64,
    },
    /// SQLite failed.
    #[error("the push database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The bound on one node's registrations: at most `max` signed since `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationWindow {
    /// The window's start (Unix seconds).
    pub since: u64,
    /// The most registrations a node may make in it.
    pub max: u32,
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

    /// How many registrations `node_id` signed since `since`, and when the oldest of them was
    /// signed: the bound [`PushStore::register`] enforces, read first so that a phone over it
    /// is refused before the LSP builds blinded paths for it.
    pub fn signed_since(
        &self,
        node_id: &PublicKey,
        since: u64,
    ) -> Result<(u64, Option<u64>), rusqlite::Error> {
        signed_since(&self.lock(), &node_id.to_string(), since, "")
    }

    /// Stores (or replaces) the registration and records its nonce, in one transaction that
    /// first checks what concurrent requests could otherwise race past: the nonce is new, the
    /// node made fewer than `window.max` registrations signed since `window.since` (each keeps
    /// a nonce row, so this bounds the rows one phone or one stolen key can add), and no
    /// registration signed later is in force. Forgets nonces signed before `window.since`.
    pub fn register(
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
        if let Some(current) = current.map(|t| t.max(0) as u64) {
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
    pub fn registration(
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

    /// Up to `limit` registrations in node-id order, starting after `after`: the operator's
    /// list of registered phones, a page at a time.
    pub fn registrations(
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
        signed_at: row.get::<_, i64>(4)?.max(0) as u64,
        registered_at: row.get::<_, i64>(5)?.max(0) as u64,
    })
}

/// Seconds as SQLite's signed integer (saturating; timestamps this far out are rejected
/// before they get here).
fn sql_time(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
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
    Ok((recent.max(0) as u64, oldest.map(|t| t.max(0) as u64)))
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
        store.register(&first, 1_000, window(400)).expect("first");
        assert!(store.nonce_seen(&first.node_id, "aa").expect("query"));
        let again = store.register(&first, 1_001, window(400));
        assert!(matches!(again, Err(StoreError::ReplayedNonce)));

        let second = request("bb", 1_100, "http://b/");
        store.register(&second, 1_100, window(500)).expect("second");
        let stored = store.registration(&second.node_id).expect("query").expect("stored");
        assert_eq!(stored.target.value, "http://b/");
        assert_eq!(stored.signed_at, 1_100);
        assert_eq!(store.counts().expect("counts"), (1, 2));

        // Nonces signed before the window are pruned on the next registration.
        store.register(&request("cc", 2_000, "http://c/"), 2_000, window(1_050)).expect("third");
        assert_eq!(store.counts().expect("counts"), (1, 2), "aa pruned, bb and cc kept");
    }

    #[test]
    fn registrations_are_listed_a_page_at_a_time_in_node_order() {
        let store = PushStore::in_memory().expect("db");
        let mut ids = Vec::new();
        for byte in 1..=5u8 {
            let secret = SecretKey::from_slice(&[byte; 32]).expect("key");
            let request = VerifiedRequest {
                node_id: PublicKey::from_secret_key(&Secp256k1::new(), &secret),
                ..request(&format!("n{byte}"), 1_000, "http://a/")
            };
            store.register(&request, 1_000, window(0)).expect("stored");
            ids.push(request.node_id);
        }
        ids.sort_by_key(|id| id.to_string());
        let first = store.registrations(None, 2).expect("page");
        let second = store.registrations(Some(&first[1].node_id), 2).expect("page");
        let last = store.registrations(Some(&second[1].node_id), 2).expect("page");
        let listed: Vec<_> = first.iter().chain(&second).chain(&last).map(|r| r.node_id).collect();
        assert_eq!(listed, ids);
        assert_eq!(last.len(), 1);
        assert_eq!(store.registration(&ids[3]).expect("query").as_ref(), Some(&second[1]));
    }

    fn window(since: u64) -> RegistrationWindow {
        RegistrationWindow { since, max: 10 }
    }

    #[test]
    fn a_refused_registration_leaves_nothing_behind() {
        let store = PushStore::in_memory().expect("db");
        let bound = RegistrationWindow { since: 0, max: 2 };
        store.register(&request("aa", 1_000, "http://a/"), 1_000, bound).expect("first");
        store.register(&request("bb", 1_001, "http://b/"), 1_001, bound).expect("second");
        let third = store.register(&request("cc", 1_002, "http://c/"), 1_002, bound);
        assert!(
            matches!(third, Err(StoreError::TooMany { recent: 2, oldest: Some(1_000) })),
            "{third:?}"
        );
        let roomy = RegistrationWindow { since: 0, max: 10 };
        let older = store.register(&request("dd", 999, "http://d/"), 1_003, roomy);
        assert!(matches!(older, Err(StoreError::Older { current: 1_001 })), "{older:?}");
        let node = request("cc", 0, "").node_id;
        assert!(!store.nonce_seen(&node, "cc").expect("query"), "a refused nonce was kept");
        assert!(!store.nonce_seen(&node, "dd").expect("query"), "a refused nonce was kept");
        let stored = store.registration(&node).expect("query").expect("stored");
        assert_eq!(stored.target.value, "http://b/");
        assert_eq!(store.counts().expect("counts"), (1, 2));
    }

    /// Many threads registering one node at once store no more than the bound: the count and
    /// the insert are one transaction.
    #[test]
    fn concurrent_registrations_never_exceed_the_bound() {
        let dir = tempfile::tempdir().expect("dir");
        let store = std::sync::Arc::new(PushStore::open(dir.path()).expect("db"));
        let bound = RegistrationWindow { since: 0, max: 10 };
        let threads: Vec<_> = (0..40u64)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let nonce = format!("{i:02x}");
                    store.register(&request(&nonce, 1_000 + i, "http://a/"), 1_100, bound)
                })
            })
            .collect();
        let stored = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .filter(|outcome| match outcome {
                Ok(()) => true,
                Err(StoreError::TooMany { .. } | StoreError::Older { .. }) => false,
                Err(e) => panic!("{e}"),
            })
            .count();
        let (_, nonces) = store.counts().expect("counts");
        assert!(stored <= 10 && nonces == stored as u64, "{stored} stored, {nonces} nonces");
        assert!(stored >= 1);
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
