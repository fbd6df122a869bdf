//! Registrations, seen nonces and delivery outcomes: in SQLite (`push.sqlite3` in the LSP's
//! storage directory, the default) or in PostgreSQL (`push.postgres_url`), which several LSP
//! nodes can share.
//!
//! What sharing means (PostgreSQL):
//! - A registration belongs to the LSP node that took it: each node lists, looks up and pushes
//!   only its own (rows are keyed by the LSP's and the phone's node ids). A phone that moves
//!   to another node registers there and keeps its row at the first, which that node only
//!   uses if the phone comes back to it (it pushes only for messages it holds for its peers).
//! - Nonces are the phone's, across nodes: the signed registration names no LSP, so a request
//!   seen by one node is refused as replayed by every other. The per-phone bound on
//!   registrations in the window counts them across nodes too.
//! - One phone's registrations are serialised across nodes (a transaction-scoped advisory
//!   lock on its node id), so the nonce, bound and "not older" checks hold under races
//!   between nodes as they do between one node's threads.
//! - Each node keeps its own last `PUSH_LOG_ROWS` delivery outcomes.

mod postgres;
mod sqlite;

use std::path::Path;

use ldk_node::bitcoin::secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

use super::registration::{PushTarget, VerifiedRequest};

pub use sqlite::PUSH_DB_FILE;

/// How many `push_log` rows each LSP node keeps (a few in unit tests, to see the trim).
const PUSH_LOG_ROWS: i64 = if cfg!(test) { 5 } else { 10_000 };

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

/// Why the push database could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed or could not be reached.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL did not answer in time (down, unreachable, or a lock held elsewhere).
    #[error("PostgreSQL did not answer within {0} s")]
    Timeout(u64),
    /// A shared store was used before the LSP node it serves was known (a bug: the service
    /// binds it when it starts).
    #[error("the shared push store is not bound to an LSP node yet")]
    Unbound,
    /// The store is shutting down.
    #[error("the push store is closed")]
    Closed,
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
    /// The database failed.
    #[error("the push database failed: {0}")]
    Database(#[from] DbError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Database(DbError::Sqlite(e))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Database(DbError::Postgres(e))
    }
}

/// The bound on one node's registrations: at most `max` signed since `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationWindow {
    /// The window's start (Unix seconds).
    pub since: u64,
    /// The most registrations a node may make in it.
    pub max: u32,
}

/// The push database. SQLite calls take a short lock on one connection; PostgreSQL calls run
/// on the store's own runtime thread and block the caller until answered (or timed out), so
/// both are called alike from plain threads, `spawn_blocking` and the dispatcher's loop.
pub struct PushStore {
    backend: Backend,
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

/// Runs the same call on whichever backend the store has.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($backend) => $call.map_err(Into::into),
            Backend::Postgres($backend) => $call.map_err(Into::into),
        }
    };
}

impl PushStore {
    /// Opens (creating if needed) the SQLite database in `dir`.
    pub fn open(dir: &Path) -> Result<PushStore, DbError> {
        Ok(PushStore { backend: Backend::Sqlite(sqlite::SqliteStore::open(dir)?) })
    }

    /// An in-memory SQLite database (for tests).
    pub fn in_memory() -> Result<PushStore, DbError> {
        Ok(PushStore { backend: Backend::Sqlite(sqlite::SqliteStore::in_memory()?) })
    }

    /// Connects to the PostgreSQL database at `url` (a `postgres://user:password@host:port/db`
    /// URL or a `key=value` connection string) and creates its tables if they are missing.
    /// Shared with other LSP nodes; [`PushStore::bind`] names the node this store serves.
    pub fn postgres(url: &str) -> Result<PushStore, DbError> {
        Ok(PushStore { backend: Backend::Postgres(postgres::PostgresStore::connect(url)?) })
    }

    /// Names the LSP node whose registrations and log rows this store reads and writes. A
    /// SQLite store belongs to one node anyway and ignores it; binding again is ignored too.
    pub fn bind(&self, lsp: PublicKey) {
        if let Backend::Postgres(store) = &self.backend {
            store.bind(lsp);
        }
    }

    /// Where a store is, for a person: the SQLite file, or PostgreSQL's hosts, ports and
    /// database as `url` names them (never its password).
    pub fn location(postgres_url: Option<&str>, storage_dir: &Path) -> String {
        let Some(url) = postgres_url else {
            return format!("SQLite {}", storage_dir.join(PUSH_DB_FILE).display());
        };
        match url.parse::<tokio_postgres::Config>() {
            Ok(config) => {
                let hosts: Vec<String> = config
                    .get_hosts()
                    .iter()
                    .map(|host| match host {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .collect();
                let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
                format!(
                    "PostgreSQL at {} port {} database {}",
                    hosts.join(","),
                    ports.join(","),
                    config.get_dbname().unwrap_or("(the user's)")
                )
            }
            Err(_) => "PostgreSQL (push.postgres_url does not parse)".to_string(),
        }
    }

    /// `sqlite` or `postgres`, for logs and the operator.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether `nonce` was recorded for `node_id` (by any node sharing the store).
    pub fn nonce_seen(&self, node_id: &PublicKey, nonce: &str) -> Result<bool, DbError> {
        on_backend!(self, store => store.nonce_seen(node_id, nonce))
    }

    /// How many registrations `node_id` signed since `since`, and when the oldest of them was
    /// signed: the bound [`PushStore::register`] enforces, read first so that a phone over it
    /// is refused before the LSP builds blinded paths for it.
    pub fn signed_since(
        &self,
        node_id: &PublicKey,
        since: u64,
    ) -> Result<(u64, Option<u64>), DbError> {
        on_backend!(self, store => store.signed_since(node_id, since))
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
        on_backend!(self, store => store.register(request, now, window))
    }

    /// The registration of `node_id` with this LSP node, if any.
    pub fn registration(&self, node_id: &PublicKey) -> Result<Option<Registration>, DbError> {
        on_backend!(self, store => store.registration(node_id))
    }

    /// Up to `limit` of this node's registrations in node-id order, starting after `after`:
    /// the operator's list of registered phones, a page at a time.
    pub fn registrations(
        &self,
        after: Option<&PublicKey>,
        limit: u32,
    ) -> Result<Vec<Registration>, DbError> {
        on_backend!(self, store => store.registrations(after, limit))
    }

    /// How many registrations this node holds, and how many nonces are stored (for all nodes
    /// sharing the store): for tests and operators.
    pub fn counts(&self) -> Result<(u64, u64), DbError> {
        on_backend!(self, store => store.counts())
    }

    /// Appends to this node's delivery log (keeping its last rows only).
    pub fn log_outcome(
        &self,
        node_id: &PublicKey,
        at: u64,
        outcome: Outcome,
        attempts: u32,
        detail: &str,
    ) -> Result<(), DbError> {
        on_backend!(self, store => store.log_outcome(node_id, at, outcome, attempts, detail))
    }

    /// This node's latest `limit` delivery log rows, newest first.
    pub fn push_log(&self, limit: u32) -> Result<Vec<PushLogEntry>, DbError> {
        on_backend!(self, store => store.push_log(limit))
    }
}

/// Seconds as a database's signed integer (saturating; timestamps this far out are rejected
/// before they get here).
fn sql_time(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// A database's signed seconds as Unix seconds (negative ones, never written, read as 0).
fn unix_time(seconds: i64) -> u64 {
    seconds.max(0) as u64
}

#[cfg(test)]
mod tests;
