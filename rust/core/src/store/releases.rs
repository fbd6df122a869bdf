//! Releases a wake answered, kept until a start that sent them saw them leave. The payer's
//! LSP sends `held_htlc_available` once, and the phone's LSP hands it over once (its mailbox is
//! flushed on connection): a wake killed after receiving it but before its
//! `release_held_htlc` left the phone would strand the payment at the payer's LSP until the
//! HTLC times out, hours later. So the wake writes the reply path before it answers, and the
//! next start sends the release again: the next wake (`wake/engine`), or the app's session if
//! the user opens the app first (`wallet/releases.rs`). A release that arrives twice is ignored
//! by the payer's LSP (it no longer holds that HTLC), so a release is kept whenever it is not
//! known to have left:
//! - a wake forgets the releases it sent (its own, and earlier ones sent again) when it ends
//!   cleanly, paid or with nothing pending: its connections were up until then;
//! - the app forgets those its session sent again at a clean stop or pause, if it saw them
//!   leave: queued a second or more before, their first hop connected, and the primary LSP
//!   connected on the connection it had when they were queued. A killed app, or a session that
//!   ends too soon or after a connection dropped, keeps them for the next start;
//! - any release is dropped after [`RETENTION_SECS`], when its HTLC has long timed out, so
//!   that one that never leaves is not sent at every start for ever.

use rusqlite::params;

use crate::error::WalletError;
use crate::store::{now_secs, storage_error, WalletDb};

/// The table, created with the rest of `doze.sqlite`.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS held_releases (
    reply_path BLOB PRIMARY KEY,
    announced_at INTEGER NOT NULL
);";

/// Kept this long at most: longer than a payer's LSP holds an HTLC for an offline recipient
/// is not useful (the HTLC has timed out and failed back by then).
const RETENTION_SECS: u64 = 24 * 3600;

impl WalletDb {
    /// Makes this connection's commits skip the fsync: they still survive the process being
    /// killed (the OS has them), not a power loss. A release is kept between the LSP's mailbox
    /// flush and our answer, where an iOS kill lands; an fsync there (milliseconds) was a
    /// window in which a kill stranded the payment, a plain write is microseconds.
    pub(crate) fn survive_kills_only(&self) -> Result<(), WalletError> {
        self.conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(storage_error)
    }

    /// Keeps the serialized reply path of a release we are about to send.
    pub(crate) fn keep_release(&self, reply_path: &[u8]) -> Result<(), WalletError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO held_releases (reply_path, announced_at) VALUES (?1, ?2)",
                params![reply_path, now_secs() as i64],
            )
            .map(|_| ())
            .map_err(storage_error)
    }

    /// The kept reply paths, oldest first (older ones are dropped).
    pub(crate) fn kept_releases(&self) -> Result<Vec<Vec<u8>>, WalletError> {
        let cutoff = now_secs().saturating_sub(RETENTION_SECS) as i64;
        self.conn
            .execute("DELETE FROM held_releases WHERE announced_at < ?1", params![cutoff])
            .map_err(storage_error)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT reply_path FROM held_releases ORDER BY announced_at")
            .map_err(storage_error)?;
        let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }

    /// Forgets the kept reply paths in `sent` (their releases went out: sent by a wake that
    /// ended cleanly, or seen leaving by the app's session; see the module docs).
    pub(crate) fn forget_releases(&self, sent: &[Vec<u8>]) -> Result<(), WalletError> {
        for reply_path in sent {
            self.conn
                .execute("DELETE FROM held_releases WHERE reply_path = ?1", params![reply_path])
                .map_err(storage_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_releases_survive_until_forgotten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = WalletDb::open(dir.path()).expect("db");
        db.keep_release(b"path-1").expect("keep");
        db.keep_release(b"path-2").expect("keep");
        db.keep_release(b"path-1").expect("kept once");
        let other = WalletDb::open(dir.path()).expect("db");
        assert_eq!(
            other.kept_releases().expect("read"),
            vec![b"path-1".to_vec(), b"path-2".to_vec()]
        );
        other.forget_releases(&[b"path-1".to_vec()]).expect("forget");
        assert_eq!(db.kept_releases().expect("read"), vec![b"path-2".to_vec()]);
    }
}
