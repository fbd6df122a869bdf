//! The wallet's own payment history, in `doze.sqlite` next to the node's store: every payment
//! with the request it paid, the quote, each send attempt, its status and timestamps, updated
//! from node events and reconciled with ldk-node's payment store at start.
//!
//! Paging is keyset-based on `(created_at, id)`, newest first, so a page costs the same at the
//! start and the end of a long history and the order is stable while payments arrive. The
//! history is readable without a running node.

use std::path::Path;

use rusqlite::{params, params_from_iter, types::Value, Connection, OptionalExtension};

use crate::error::WalletError;
use crate::store::payments::{PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};
use crate::store::{now_secs, storage_error};

/// Which payments `Wallet.list_payments_page` returns. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentFilter {
    /// Only this direction.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub direction: Option<PaymentDirection>,
    /// Only these statuses.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub statuses: Vec<PaymentStatus>,
    /// Only these kinds.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub kinds: Vec<PaymentKind>,
    /// Created at or after (seconds since the Unix epoch).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub from_secs: Option<u64>,
    /// Created before (seconds since the Unix epoch).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub to_secs: Option<u64>,
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentPage {
    /// The payments.
    pub payments: Vec<PaymentInfo>,
    /// Pass this to get the next page; `None` (`null`, `nil`) at the end.
    pub next_cursor: Option<String>,
}

/// One send call for a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SendAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, seconds since the Unix epoch.
    pub started_at_secs: u64,
    /// The routing fee cap it used.
    pub fee_cap_msat: u64,
    /// How it ended so far (`pending`, `succeeded`, or the failure reason).
    pub outcome: String,
}

mod rows;

use rows::{direction_code, read_payment, COLUMNS};
pub(crate) use rows::{kind_code, status_code};

/// The history database.
pub(crate) struct History {
    conn: Connection,
}

/// Brings a history written by an earlier Doze to this schema: `node_copy` (see
/// `node_payments.rs`) came in later; every row then may still have its copy in ldk-node.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_node_copy: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('payments') WHERE name = 'node_copy'",
        [],
        |row| row.get(0),
    )?;
    if !has_node_copy {
        conn.execute_batch("ALTER TABLE payments ADD COLUMN node_copy INTEGER NOT NULL DEFAULT 1")?;
    }
    // `payments_by_update` serves `last_update` (the start's reconcile) without a scan.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS payments_with_node_copy ON payments (updated_at)
             WHERE node_copy = 1;
         CREATE INDEX IF NOT EXISTS payments_by_update ON payments (updated_at);",
    )
}

/// The history's tables, created by [`crate::store::open`].
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS payments (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        direction INTEGER NOT NULL,
        status INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        amount_msat INTEGER,
        fee_msat INTEGER,
        payment_hash TEXT,
        txid TEXT,
        request TEXT,
        quote TEXT,
        node_copy INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX IF NOT EXISTS payments_newest ON payments (created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS payments_by_status ON payments (status, created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS payments_by_direction
        ON payments (direction, created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS payments_by_kind ON payments (kind, created_at DESC, id DESC);
    CREATE TABLE IF NOT EXISTS send_attempts (
        payment_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        fee_cap_msat INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        PRIMARY KEY (payment_id, attempt)
    );";

impl History {
    /// Opens the history in `storage_dir`.
    pub(crate) fn open(storage_dir: &Path) -> Result<History, WalletError> {
        let conn = crate::store::open(storage_dir)?;
        Ok(History { conn })
    }

    /// Inserts or updates a payment as the node reports it. The creation time is kept from the
    /// first sighting; request and quote are kept unless given.
    pub(crate) fn upsert(
        &self,
        p: &PaymentInfo,
        request: Option<&str>,
        quote: Option<&str>,
    ) -> Result<(), WalletError> {
        upsert_on(&self.conn, p, request, quote)
    }

    /// Records a send attempt; returns its number.
    pub(crate) fn add_attempt(
        &self,
        payment_id: &str,
        fee_cap_msat: u64,
    ) -> Result<u32, WalletError> {
        let next: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(attempt), 0) + 1 FROM send_attempts WHERE payment_id = ?1",
                params![payment_id],
                |row| row.get(0),
            )
            .map_err(storage_error)?;
        self.conn
            .execute(
                "INSERT INTO send_attempts (payment_id, attempt, started_at, fee_cap_msat, outcome)
                 VALUES (?1, ?2, ?3, ?4, 'pending')",
                params![payment_id, next, now_secs() as i64, fee_cap_msat as i64],
            )
            .map_err(storage_error)?;
        Ok(next as u32)
    }

    /// Sets the outcome of the latest attempt of a payment.
    pub(crate) fn finish_attempt(
        &self,
        payment_id: &str,
        outcome: &str,
    ) -> Result<(), WalletError> {
        self.conn
            .execute(
                "UPDATE send_attempts SET outcome = ?2 WHERE payment_id = ?1 AND attempt =
                    (SELECT MAX(attempt) FROM send_attempts WHERE payment_id = ?1)",
                params![payment_id, outcome],
            )
            .map(|_| ())
            .map_err(storage_error)
    }

    /// The attempts of one payment, first first.
    pub(crate) fn attempts(&self, payment_id: &str) -> Result<Vec<SendAttempt>, WalletError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT attempt, started_at, fee_cap_msat, outcome FROM send_attempts
                 WHERE payment_id = ?1 ORDER BY attempt",
            )
            .map_err(storage_error)?;
        let rows = stmt
            .query_map(params![payment_id], |row| {
                Ok(SendAttempt {
                    attempt: row.get::<_, i64>(0)? as u32,
                    started_at_secs: row.get::<_, i64>(1)? as u64,
                    fee_cap_msat: row.get::<_, i64>(2)? as u64,
                    outcome: row.get(3)?,
                })
            })
            .map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }

    /// One page, newest first, after `cursor`.
    pub(crate) fn page(
        &self,
        filter: &PaymentFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<PaymentPage, WalletError> {
        let limit = limit.clamp(1, 500);
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if let Some(d) = filter.direction {
            clauses.push("direction = ?".into());
            args.push(Value::Integer(direction_code(d)));
        }
        if !filter.statuses.is_empty() {
            clauses.push(format!("status IN ({})", vec!["?"; filter.statuses.len()].join(",")));
            args.extend(filter.statuses.iter().map(|s| Value::Integer(status_code(*s))));
        }
        if !filter.kinds.is_empty() {
            clauses.push(format!("kind IN ({})", vec!["?"; filter.kinds.len()].join(",")));
            args.extend(filter.kinds.iter().map(|k| Value::Integer(kind_code(*k))));
        }
        if let Some(from) = filter.from_secs {
            clauses.push("created_at >= ?".into());
            args.push(Value::Integer(from as i64));
        }
        if let Some(to) = filter.to_secs {
            clauses.push("created_at < ?".into());
            args.push(Value::Integer(to as i64));
        }
        if let Some(cursor) = cursor {
            let (at, id) = decode_cursor(cursor)?;
            // A row value comparison, so SQLite seeks the index instead of scanning from the top.
            clauses.push("(created_at, id) < (?, ?)".into());
            args.extend([Value::Integer(at), Value::Text(id)]);
        }
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM payments {where_clause}
             ORDER BY created_at DESC, id DESC LIMIT {}",
            limit + 1
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(storage_error)?;
        let mut payments: Vec<PaymentInfo> = stmt
            .query_map(params_from_iter(args), read_payment)
            .map_err(storage_error)?
            .collect::<Result<_, _>>()
            .map_err(storage_error)?;
        let more = payments.len() > limit as usize;
        payments.truncate(limit as usize);
        let next_cursor = match (more, payments.last()) {
            (true, Some(p)) => Some(format!("{}:{}", p.created_at_secs, p.id)),
            _ => None,
        };
        Ok(PaymentPage { payments, next_cursor })
    }

    /// One payment by id, if the history has it.
    pub(crate) fn payment(&self, id: &str) -> Result<Option<PaymentInfo>, WalletError> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM payments WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row(params![id], read_payment).optional())
            .map_err(storage_error)
    }

    /// Every payment, newest first.
    pub(crate) fn all(&self) -> Result<Vec<PaymentInfo>, WalletError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments ORDER BY created_at DESC, id DESC"
            ))
            .and_then(|mut stmt| stmt.query_map([], read_payment)?.collect())
            .map_err(storage_error)
    }

    /// Inserts or updates many payments in one transaction.
    pub(crate) fn upsert_all(&mut self, payments: &[PaymentInfo]) -> Result<(), WalletError> {
        let tx = self.conn.transaction().map_err(storage_error)?;
        for p in payments {
            upsert_on(&tx, p, None, None)?;
        }
        tx.commit().map_err(storage_error)
    }

    /// The newest `updated_at` recorded (for reconciling with the node from there on).
    pub(crate) fn last_update(&self) -> Result<u64, WalletError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(updated_at), 0) FROM payments", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|v| v as u64)
            .map_err(storage_error)
    }
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), WalletError> {
    let bad = || {
        WalletError::InvalidConfig(format!(
            "{cursor:?} is not a history cursor; pass next_cursor back unchanged"
        ))
    };
    let (at, id) = cursor.split_once(':').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((at, id.to_string()))
}

fn upsert_on(
    conn: &Connection,
    p: &PaymentInfo,
    request: Option<&str>,
    quote: Option<&str>,
) -> Result<(), WalletError> {
    conn.prepare_cached(
        "INSERT INTO payments (id, created_at, updated_at, direction, status, kind, amount_msat,
                               fee_msat, payment_hash, txid, request, quote)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(id) DO UPDATE SET
            updated_at = excluded.updated_at, status = excluded.status,
            amount_msat = COALESCE(excluded.amount_msat, amount_msat),
            fee_msat = COALESCE(excluded.fee_msat, fee_msat),
            payment_hash = COALESCE(excluded.payment_hash, payment_hash),
            txid = COALESCE(excluded.txid, txid),
            request = COALESCE(excluded.request, request),
            quote = COALESCE(excluded.quote, quote)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            p.id,
            p.created_at_secs as i64,
            p.updated_at_secs as i64,
            direction_code(p.direction),
            status_code(p.status),
            kind_code(p.kind),
            p.amount_msat.map(|a| a as i64),
            p.fee_msat.map(|a| a as i64),
            p.payment_hash,
            p.txid,
            request,
            quote,
        ])
    })
    .map(|_| ())
    .map_err(storage_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(i: usize, kind: PaymentKind, status: PaymentStatus) -> PaymentInfo {
        PaymentInfo {
            id: format!("{i:064x}"),
            kind,
            direction: if i.is_multiple_of(2) {
                PaymentDirection::Inbound
            } else {
                PaymentDirection::Outbound
            },
            status,
            amount_msat: Some(1_000 * i as u64),
            fee_msat: None,
            payment_hash: None,
            txid: None,
            created_at_secs: 1_000 + i as u64,
            updated_at_secs: 1_000 + i as u64,
            request: None,
        }
    }

    #[test]
    fn every_stored_code_reads_back_and_an_unknown_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(dir.path()).unwrap();
        let kinds = [
            PaymentKind::Onchain,
            PaymentKind::Bolt11,
            PaymentKind::Bolt11Jit,
            PaymentKind::Bolt12Offer,
            PaymentKind::Bolt12Refund,
            PaymentKind::Spontaneous,
        ];
        let statuses = [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed];
        let mut written = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            for (j, status) in statuses.iter().enumerate() {
                let p = payment(i * statuses.len() + j, *kind, *status);
                history.upsert(&p, None, None).unwrap();
                written.push(p);
            }
        }
        written.reverse();
        let page = history.page(&PaymentFilter::default(), None, 100).unwrap();
        assert_eq!(page.payments, written);

        history
            .conn
            .execute("UPDATE payments SET kind = 9 WHERE id = ?1", [&written[0].id])
            .unwrap();
        match history.page(&PaymentFilter::default(), None, 100) {
            Err(WalletError::Storage(m)) => {
                assert!(m.contains("unknown payment kind code 9"), "{m}")
            }
            other => panic!("an unknown code must not read as a payment: {other:?}"),
        }
    }

    #[test]
    fn a_history_from_before_node_copy_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
        conn.execute_batch(&SCHEMA.replace(",\n        node_copy INTEGER NOT NULL DEFAULT 1", ""))
            .unwrap();
        conn.execute(
            "INSERT INTO payments (id, created_at, updated_at, direction, status, kind)
             VALUES ('aa', 1, 1, 0, 1, 1)",
            [],
        )
        .unwrap();
        drop(conn);
        let history = History::open(dir.path()).unwrap();
        let copies: i64 = history
            .conn
            .query_row("SELECT node_copy FROM payments WHERE id = 'aa'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(copies, 1);
        assert_eq!(history.all().unwrap().len(), 1);
    }
}
