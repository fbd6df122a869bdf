//! The push store in PostgreSQL, shared by LSP nodes (see the parent module for what sharing
//! means). A few connections per store, each reopened when it breaks; every call runs on the
//! store's own runtime and the caller blocks on a channel, which is safe from any thread,
//! a tokio worker of another runtime included (the call never enters that runtime).
//!
//! No TLS: the connection is for loopback or a private network (`sslmode=require` is refused
//! when the config is checked).

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ldk_node::bitcoin::secp256k1::PublicKey;
use tokio::runtime::Runtime;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::{Client, Config, NoTls, Row};

use super::{
    sql_time, unix_time, DbError, Outcome, PushLogEntry, Registration, RegistrationWindow,
    StoreError, PUSH_LOG_ROWS,
};
use crate::push::registration::{PushTarget, TargetKind, VerifiedRequest};

/// The longest one call may take, connecting included: a database that is down or a lock held
/// by a stuck transaction elsewhere fails the call instead of hanging a registration or the
/// dispatcher.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Tables and indexes, created by the first node that connects (under an advisory lock, so two
/// nodes starting at once do not race on the catalog).
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS push_registrations (
        lsp_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        app_name TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        target_value TEXT NOT NULL,
        signed_at BIGINT NOT NULL,
        registered_at BIGINT NOT NULL,
        PRIMARY KEY (lsp_id, node_id)
    );
    CREATE TABLE IF NOT EXISTS push_nonces (
        node_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        signed_at BIGINT NOT NULL,
        PRIMARY KEY (node_id, nonce)
    );
    CREATE INDEX IF NOT EXISTS push_nonces_by_time ON push_nonces (signed_at);
    CREATE TABLE IF NOT EXISTS push_log (
        id BIGSERIAL PRIMARY KEY,
        lsp_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS push_log_by_lsp ON push_log (lsp_id, id);";

/// The key of the advisory lock the schema is created under (any constant: "dozepush").
const SCHEMA_LOCK: i64 = 0x646f_7a65_7075_7368;

/// How many connections a store keeps: registrations (HTTP), the dispatcher's lookups and its
/// delivery log then wait on each other only when all are busy.
const CONNECTIONS: usize = 4;

/// The store's connections, each reopened on its next call after it broke.
struct Connection {
    config: Config,
    clients: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl Connection {
    /// An open client (the next in turn, opened again if it closed), held for one call.
    async fn client(&self) -> Result<MappedMutexGuard<'_, Client>, DbError> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let mut client = self.clients[turn].lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            let (opened, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    log::warn!(target: "doze_lsp::push", "a PostgreSQL connection broke: {e}");
                }
            });
            *client = Some(opened);
        }
        // Always `Some` here: set just above if it was not.
        MutexGuard::try_map(client, Option::as_mut).map_err(|_| DbError::Closed)
    }
}

/// A PostgreSQL push store serving one LSP node.
pub(super) struct PostgresStore {
    runtime: Option<Runtime>,
    connection: Arc<Connection>,
    lsp: OnceLock<String>,
}

impl PostgresStore {
    /// Connects and creates the tables.
    pub(super) fn connect(url: &str) -> Result<PostgresStore, DbError> {
        let mut config = Config::from_str(url)?;
        config.connect_timeout(CALL_TIMEOUT);
        config.application_name("doze-lsp");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lsp-postgres")
            .enable_all()
            .build()
            .map_err(|_| DbError::Closed)?;
        let store = PostgresStore {
            runtime: Some(runtime),
            connection: Arc::new(Connection {
                config,
                clients: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
            lsp: OnceLock::new(),
        };
        store.call(|connection| async move {
            let mut client = connection.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
            tx.batch_execute(SCHEMA).await?;
            tx.commit().await?;
            Ok::<(), DbError>(())
        })?;
        Ok(store)
    }

    /// Names the LSP node this store serves (the first name sticks).
    pub(super) fn bind(&self, lsp: PublicKey) {
        let _ = self.lsp.set(lsp.to_string());
    }

    fn lsp(&self) -> Result<String, DbError> {
        self.lsp.get().cloned().ok_or(DbError::Unbound)
    }

    /// Runs `op` on the store's runtime and waits for its answer (at most [`CALL_TIMEOUT`]).
    fn call<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(DbError::Closed)?;
        let future = op(Arc::clone(&self.connection));
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = answer.send(tokio::time::timeout(CALL_TIMEOUT, future).await);
        });
        match answered.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DbError::Timeout(CALL_TIMEOUT.as_secs()).into()),
            Err(_) => Err(DbError::Closed.into()),
        }
    }

    /// See [`super::PushStore::nonce_seen`].
    pub(super) fn nonce_seen(&self, node_id: &PublicKey, nonce: &str) -> Result<bool, DbError> {
        let (node_id, nonce) = (node_id.to_string(), nonce.to_string());
        self.call(|connection| async move {
            let client = connection.client().await?;
            let row = client
                .query_opt(
                    "SELECT 1 FROM push_nonces WHERE node_id = $1 AND nonce = $2",
                    &[&node_id, &nonce],
                )
                .await?;
            Ok(row.is_some())
        })
    }

    /// See [`super::PushStore::signed_since`].
    pub(super) fn signed_since(
        &self,
        node_id: &PublicKey,
        since: u64,
    ) -> Result<(u64, Option<u64>), DbError> {
        let node_id = node_id.to_string();
        self.call(|connection| async move {
            let client = connection.client().await?;
            Ok(signed_since(&*client, &node_id, since, "").await?)
        })
    }

    /// See [`super::PushStore::register`]: one transaction, holding the phone's advisory lock
    /// from its start, so that no other node's (or thread's) registration of the same phone
    /// runs its checks between these.
    pub(super) fn register(
        &self,
        request: &VerifiedRequest,
        now: u64,
        window: RegistrationWindow,
    ) -> Result<(), StoreError> {
        let lsp = self.lsp()?;
        let request = request.clone();
        self.call(|connection| async move {
            let mut client = connection.client().await?;
            let node_id = request.node_id.to_string();
            let signed_at = sql_time(request.timestamp);
            // Any refusal below drops `tx`, which rolls the nonce's insert back.
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&node_id])
                .await?;
            let inserted = tx
                .execute(
                    "INSERT INTO push_nonces (node_id, nonce, signed_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&node_id, &request.nonce, &signed_at],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::ReplayedNonce);
            }
            let (recent, oldest) =
                signed_since(&tx, &node_id, window.since, &request.nonce).await?;
            if recent >= u64::from(window.max) {
                return Err(StoreError::TooMany { recent, oldest });
            }
            let current = tx
                .query_opt(
                    "SELECT signed_at FROM push_registrations WHERE lsp_id = $1 AND node_id = $2",
                    &[&lsp, &node_id],
                )
                .await?;
            if let Some(current) = current.map(|row| row.try_get(0)).transpose()?.map(unix_time) {
                if request.timestamp < current {
                    return Err(StoreError::Older { current });
                }
            }
            tx.execute(
                "INSERT INTO push_registrations (lsp_id, node_id, app_name, target_kind,
                     target_value, signed_at, registered_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (lsp_id, node_id) DO UPDATE SET app_name = excluded.app_name,
                     target_kind = excluded.target_kind, target_value = excluded.target_value,
                     signed_at = excluded.signed_at, registered_at = excluded.registered_at",
                &[
                    &lsp,
                    &node_id,
                    &request.app_name,
                    &request.target.kind.as_str(),
                    &request.target.value,
                    &signed_at,
                    &sql_time(now),
                ],
            )
            .await?;
            tx.execute("DELETE FROM push_nonces WHERE signed_at < $1", &[&sql_time(window.since)])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// See [`super::PushStore::registration`].
    pub(super) fn registration(
        &self,
        node_id: &PublicKey,
    ) -> Result<Option<Registration>, DbError> {
        let (lsp, node_id) = (self.lsp()?, node_id.to_string());
        self.call(|connection| async move {
            let client = connection.client().await?;
            let row = client
                .query_opt(
                    &format!(
                        "SELECT {REGISTRATION_COLUMNS} FROM push_registrations
                         WHERE lsp_id = $1 AND node_id = $2"
                    ),
                    &[&lsp, &node_id],
                )
                .await?;
            Ok(match row {
                Some(row) => registration_of(&row)?,
                None => None,
            })
        })
    }

    /// See [`super::PushStore::registrations`].
    pub(super) fn registrations(
        &self,
        after: Option<&PublicKey>,
        limit: u32,
    ) -> Result<Vec<Registration>, DbError> {
        let lsp = self.lsp()?;
        let after = after.map(|n| n.to_string()).unwrap_or_default();
        self.call(|connection| async move {
            let client = connection.client().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {REGISTRATION_COLUMNS} FROM push_registrations
                         WHERE lsp_id = $1 AND node_id > $2 ORDER BY node_id LIMIT $3"
                    ),
                    &[&lsp, &after, &i64::from(limit)],
                )
                .await?;
            let mut registrations = Vec::with_capacity(rows.len());
            for row in &rows {
                registrations.extend(registration_of(row)?);
            }
            Ok(registrations)
        })
    }

    /// See [`super::PushStore::counts`].
    pub(super) fn counts(&self) -> Result<(u64, u64), DbError> {
        let lsp = self.lsp()?;
        self.call(|connection| async move {
            let client = connection.client().await?;
            let row = client
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM push_registrations WHERE lsp_id = $1),
                            (SELECT COUNT(*) FROM push_nonces)",
                    &[&lsp],
                )
                .await?;
            Ok((unix_time(row.try_get(0)?), unix_time(row.try_get(1)?)))
        })
    }

    /// See [`super::PushStore::log_outcome`]. Rows of other nodes are left alone: each keeps
    /// its last [`PUSH_LOG_ROWS`].
    pub(super) fn log_outcome(
        &self,
        node_id: &PublicKey,
        at: u64,
        outcome: Outcome,
        attempts: u32,
        detail: &str,
    ) -> Result<(), DbError> {
        let (lsp, node_id, detail) = (self.lsp()?, node_id.to_string(), detail.to_string());
        self.call(|connection| async move {
            let client = connection.client().await?;
            // One statement, one round trip: the insert, and the trim to this node's newest
            // rows (the trim does not see the row being inserted, so it keeps one fewer).
            client
                .execute(
                    "WITH added AS (
                         INSERT INTO push_log (lsp_id, node_id, at, outcome, attempts, detail)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
                     DELETE FROM push_log WHERE lsp_id = $1 AND id < (SELECT id FROM push_log
                         WHERE lsp_id = $1 ORDER BY id DESC OFFSET $7 LIMIT 1)",
                    &[
                        &lsp,
                        &node_id,
                        &sql_time(at),
                        &outcome.as_str(),
                        &i64::from(attempts),
                        &detail,
                        &(PUSH_LOG_ROWS - 2),
                    ],
                )
                .await?;
            Ok(())
        })
    }

    /// See [`super::PushStore::push_log`].
    pub(super) fn push_log(&self, limit: u32) -> Result<Vec<PushLogEntry>, DbError> {
        let lsp = self.lsp()?;
        self.call(|connection| async move {
            let client = connection.client().await?;
            let rows = client
                .query(
                    "SELECT node_id, at, outcome, attempts, detail FROM push_log
                     WHERE lsp_id = $1 ORDER BY id DESC LIMIT $2",
                    &[&lsp, &i64::from(limit)],
                )
                .await?;
            let entry = |row: &Row| -> Result<PushLogEntry, tokio_postgres::Error> {
                Ok(PushLogEntry {
                    node_id: row.try_get(0)?,
                    at: unix_time(row.try_get(1)?),
                    outcome: Outcome::parse(row.try_get(2)?),
                    attempts: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(u32::MAX),
                    detail: row.try_get(4)?,
                })
            };
            Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Without waiting: the store may be dropped on a tokio worker, where a blocking
        // shutdown panics. Calls in flight get `Closed`.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The columns [`registration_of`] reads, in its order.
const REGISTRATION_COLUMNS: &str =
    "node_id, app_name, target_kind, target_value, signed_at, registered_at";

/// A registration row; a row whose node id does not parse (never written by this code) is
/// skipped and logged.
fn registration_of(row: &Row) -> Result<Option<Registration>, tokio_postgres::Error> {
    let node_id: &str = row.try_get(0)?;
    let Ok(parsed) = PublicKey::from_str(node_id) else {
        log::error!(target: "doze_lsp::push", "skipping a registration with node id {node_id:?}");
        return Ok(None);
    };
    let kind: &str = row.try_get(2)?;
    Ok(Some(Registration {
        node_id: parsed,
        app_name: row.try_get(1)?,
        target: PushTarget {
            kind: TargetKind::from_str(kind).unwrap_or(TargetKind::Webhook),
            value: row.try_get(3)?,
        },
        signed_at: unix_time(row.try_get(4)?),
        registered_at: unix_time(row.try_get(5)?),
    }))
}

/// Registrations `node_id` signed since `since` (leaving out the one with nonce `except`),
/// and when the oldest of them was signed.
async fn signed_since(
    client: &impl tokio_postgres::GenericClient,
    node_id: &str,
    since: u64,
    except: &str,
) -> Result<(u64, Option<u64>), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT COUNT(*), MIN(signed_at) FROM push_nonces
             WHERE node_id = $1 AND signed_at >= $2 AND nonce <> $3",
            &[&node_id, &sql_time(since), &except],
        )
        .await?;
    Ok((unix_time(row.try_get(0)?), row.try_get::<_, Option<i64>>(1)?.map(unix_time)))
}
