//! One copy of each payment. Doze's history (`history/`) keeps every payment for good, and
//! ldk-node's payment store would too; but ldk-node reads its whole store when the node is
//! built, so with 100 000 payments the app's start took 1.9 s instead of 0.1 s. Once a payment
//! is settled (succeeded or failed) and in the history, ldk-node needs its copy only for a
//! while, so [`prune_settled`] removes the copies that settled more than [`KEEP_SECS`] ago, and
//! the app's start stays flat in the number of payments.
//!
//! What ldk-node still needs, and keeps:
//! - every pending payment (an invoice not yet paid, a send in flight): its events update them;
//! - a settled payment for [`KEEP_SECS`]: LDK can replay a payment's last event after a restart
//!   that lost its channel manager's latest write, and ldk-node refuses a second payment to an
//!   invoice it has a succeeded record of.
//!
//! After that, a second payment to the same invoice is refused by Doze's history instead (see
//! `pay/quote.rs`), and a payer paying one of our invoices twice, more than a week apart and before
//! the invoice expired, would find the second payment accepted (the payer's loss, never ours).

use std::path::Path;

use ldk_node::io::sqlite_store::{KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use rusqlite::params;

use crate::error::WalletError;
use crate::store::history::{kind_code, status_code};
use crate::store::payments::{PaymentKind, PaymentStatus};
use crate::store::{now_secs, storage_error};

/// How long ldk-node keeps a settled payment's record: far beyond any event replay, and beyond
/// the expiry of nearly every invoice.
pub(crate) const KEEP_SECS: u64 = 7 * 24 * 3600;

/// The directory of ldk-node's store inside the wallet's storage directory.
pub(crate) fn node_dir(storage_dir: &Path) -> std::path::PathBuf {
    storage_dir.join("node")
}

/// Removes from ldk-node's store the payments Doze's history shows settled more than
/// [`KEEP_SECS`] ago; returns how many. Call it before the node is built and under the storage
/// lock: the store is read by ldk-node only in `build()`, and no other process may write it.
pub(crate) fn prune_settled(storage_dir: &Path) -> Result<usize, WalletError> {
    let node_db = node_dir(storage_dir).join(SQLITE_DB_FILE_NAME);
    if !node_db.exists() {
        return Ok(0);
    }
    let conn = crate::store::open(storage_dir)?;
    let until = now_secs().saturating_sub(KEEP_SECS) as i64;
    let settled = (status_code(PaymentStatus::Succeeded), status_code(PaymentStatus::Failed));
    // On-chain records stay: ldk-node writes every wallet transaction back into its store at
    // each sync, so a removed one would come back (and, with a backup, be uploaded again).
    let onchain = kind_code(PaymentKind::Onchain);
    conn.execute("ATTACH DATABASE ?1 AS node", params![node_db.to_string_lossy()])
        .map_err(storage_error)?;
    // ldk-node's key of a payment is its id in lower-case hex, as is the history's id.
    // `node_copy = 1` marks the rows whose copy may still be in ldk-node's store; the partial
    // index on it keeps this a look at the payments settled since the last start, however long
    // the history.
    let removed = conn.execute(
        &format!(
            "DELETE FROM node.{KV_TABLE_NAME}
             WHERE primary_namespace = 'payments' AND secondary_namespace = ''
               AND key IN (SELECT id FROM main.payments INDEXED BY payments_with_node_copy
                           WHERE node_copy = 1 AND status IN (?2, ?3) AND updated_at < ?1
                             AND kind <> ?4)"
        ),
        params![until, settled.0, settled.1, onchain],
    );
    let detached = conn.execute("DETACH DATABASE node", []);
    let removed = removed.map_err(storage_error)?;
    detached.map_err(storage_error)?;
    // After the removal: a crash in between only means the next start looks again.
    conn.execute(
        "UPDATE payments INDEXED BY payments_with_node_copy SET node_copy = 0
         WHERE node_copy = 1 AND status IN (?2, ?3) AND updated_at < ?1 AND kind <> ?4",
        params![until, settled.0, settled.1, onchain],
    )
    .map_err(storage_error)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::History;
    use crate::store::payments::{PaymentDirection, PaymentInfo};
    use ldk_node::io::sqlite_store::SqliteStore;
    use ldk_node::lightning::util::persist::KVStoreSync;

    fn payment(id: u8, status: PaymentStatus, updated_at_secs: u64) -> PaymentInfo {
        PaymentInfo {
            id: format!("{id:064x}"),
            kind: PaymentKind::Bolt11,
            direction: PaymentDirection::Inbound,
            status,
            amount_msat: Some(1_000),
            fee_msat: None,
            payment_hash: None,
            txid: None,
            created_at_secs: updated_at_secs,
            updated_at_secs,
            request: None,
        }
    }

    fn node_store(storage_dir: &Path) -> SqliteStore {
        let dir = node_dir(storage_dir);
        SqliteStore::new(dir, Some(SQLITE_DB_FILE_NAME.into()), Some(KV_TABLE_NAME.into())).unwrap()
    }

    #[test]
    fn settled_payments_leave_the_node_store_after_the_keep_time_only() {
        let dir = tempfile::tempdir().unwrap();
        let old = now_secs() - KEEP_SECS - 60;
        let recent = now_secs() - 60;
        let history = History::open(dir.path()).unwrap();
        let payments = [
            payment(1, PaymentStatus::Succeeded, old),
            payment(2, PaymentStatus::Failed, old),
            payment(3, PaymentStatus::Pending, old),
            payment(4, PaymentStatus::Succeeded, recent),
            // ldk-node writes on-chain records back at each sync: they stay.
            PaymentInfo { kind: PaymentKind::Onchain, ..payment(7, PaymentStatus::Succeeded, old) },
        ];
        let store = node_store(dir.path());
        for p in &payments {
            history.upsert(p, None, None).unwrap();
            KVStoreSync::write(&store, "payments", "", &p.id, vec![1, 2, 3]).unwrap();
        }
        // Not in Doze's history: ldk-node's record is the only one and stays.
        let unknown = format!("{:064x}", 5);
        KVStoreSync::write(&store, "payments", "", &unknown, vec![1]).unwrap();
        drop(store);

        assert_eq!(prune_settled(dir.path()).unwrap(), 2);
        let mut left = KVStoreSync::list(&node_store(dir.path()), "payments", "").unwrap();
        left.sort();
        assert_eq!(
            left,
            vec![payments[2].id.clone(), payments[3].id.clone(), unknown, payments[4].id.clone()]
        );
        // The next start looks only at what settled since: nothing.
        assert_eq!(prune_settled(dir.path()).unwrap(), 0);
        // A payment imported later with an old time (a history rebuilt from ldk-node's store)
        // is still found.
        let late = payment(6, PaymentStatus::Succeeded, old);
        history.upsert(&late, None, None).unwrap();
        KVStoreSync::write(&node_store(dir.path()), "payments", "", &late.id, vec![1]).unwrap();
        assert_eq!(prune_settled(dir.path()).unwrap(), 1);
    }

    #[test]
    fn a_wallet_without_a_node_store_has_nothing_to_prune() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(prune_settled(dir.path()).unwrap(), 0);
    }
}
