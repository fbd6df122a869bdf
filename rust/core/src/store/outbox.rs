//! Events that happened while the app was not running: a wake receives payments with its own
//! LDK stack, so ldk-node's event queue never hears of them. The wake writes each event here
//! (in `doze.sqlite`, in the same transaction-safe way as the delivered-event ids) before LDK
//! forgets it; the app's listener takes them, oldest first and exactly once, when the app next
//! starts, before any event of its node. An event id already delivered is dropped, so an event
//! written twice (a wake killed after writing it, replayed by LDK) reaches the app once.

use rusqlite::params;

use crate::error::WalletError;
use crate::events::WalletEvent;
use crate::store::{now_secs, storage_error, WalletDb};

/// The outbox table, created with the rest of `doze.sqlite`.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS event_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    created_at INTEGER NOT NULL
);";

impl WalletDb {
    /// Keeps `event` for the app (once per event id).
    pub(crate) fn push_outbox(&self, event: &WalletEvent) -> Result<(), WalletError> {
        let json = serde_json::to_string(event).map_err(|e| {
            WalletError::Storage(format!("cannot encode an event for the app: {e}"))
        })?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO event_outbox (id, event, created_at) VALUES (?1, ?2, ?3)",
                params![event.id, json, now_secs() as i64],
            )
            .map(|_| ())
            .map_err(storage_error)
    }

    /// The kept events, oldest first. A row that cannot be read (written by a newer version)
    /// is skipped and stays.
    pub(crate) fn outbox(&self) -> Result<Vec<WalletEvent>, WalletError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT event FROM event_outbox ORDER BY seq")
            .map_err(storage_error)?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(storage_error)?;
        let mut events = Vec::new();
        for row in rows {
            let json = row.map_err(storage_error)?;
            match serde_json::from_str(&json) {
                Ok(event) => events.push(event),
                Err(e) => log::warn!("skipping an event this version cannot read: {e}"),
            }
        }
        Ok(events)
    }

    /// Records that the app was given the kept event `id`, and forgets it: one transaction, so
    /// a kill between the two neither loses nor repeats it.
    pub(crate) fn outbox_delivered(&self, id: &str) -> Result<(), WalletError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .and_then(|()| {
                self.conn.execute(
                    "INSERT OR IGNORE INTO delivered_events (id, delivered_at) VALUES (?1, ?2)",
                    params![id, now_secs() as i64],
                )?;
                self.conn.execute("DELETE FROM event_outbox WHERE id = ?1", params![id])?;
                self.conn.execute_batch("COMMIT")
            })
            .map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                storage_error(e)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::WalletEventKind;

    fn received(id: &str) -> WalletEvent {
        WalletEvent {
            id: format!("payment-received:{id}"),
            kind: WalletEventKind::PaymentReceived {
                payment_id: id.into(),
                payment_hash: id.into(),
                amount_msat: 21_000,
            },
        }
    }

    #[test]
    fn kept_events_come_out_once_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = WalletDb::open(dir.path()).expect("db");
        db.push_outbox(&received("aa")).expect("push");
        db.push_outbox(&received("bb")).expect("push");
        db.push_outbox(&received("aa")).expect("a replayed event is kept once");
        assert_eq!(db.outbox().expect("read"), vec![received("aa"), received("bb")]);
        db.outbox_delivered("payment-received:aa").expect("delivered");
        assert_eq!(db.outbox().expect("read"), vec![received("bb")]);
        assert!(db.was_delivered("payment-received:aa").expect("read"));
        // A second process sees the same rows.
        let other = WalletDb::open(dir.path()).expect("db");
        assert_eq!(other.outbox().expect("read"), vec![received("bb")]);
    }
}
