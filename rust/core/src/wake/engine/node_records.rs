//! ldk-node's own payment records, written by a wake as ldk-node's event handler would have
//! written them (ldk-node 0.7.1 `event.rs`, `PaymentClaimable` / `PaymentClaimed` /
//! `PaymentSent` / `PaymentFailed`). A wake handles those LDK events itself, so ldk-node never
//! sees them and does not reconcile at start: without these records the app's node would not
//! know a payment it received during a wake (and would accept a second payment to the same
//! invoice). Same store, namespace (`payments`/``), key (hex payment id) and serialization.

use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::util::persist::KVStoreSync;
use ldk_node::lightning::util::ser::{Readable, Writeable};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage, PaymentSecret};
use ldk_node::payment::{PaymentDetails, PaymentKind, PaymentStatus};
use ldk_node::DynStore;

use crate::error::WalletError;

const NAMESPACE: &str = "payments";

fn key(id: &PaymentId) -> String {
    id.0.to_lower_hex_string()
}

/// The stored record of payment `id`, if any.
pub(crate) fn read(
    store: &DynStore,
    id: &PaymentId,
) -> Result<Option<PaymentDetails>, WalletError> {
    match KVStoreSync::read(store, NAMESPACE, "", &key(id)) {
        Ok(bytes) => PaymentDetails::read(&mut &bytes[..]).map(Some).map_err(|e| {
            WalletError::Storage(format!(
                "the node's record of payment {} is unreadable: {e:?}",
                key(id)
            ))
        }),
        Err(e) if e.kind() == ldk_node::lightning::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WalletError::Storage(format!("cannot read the node's payment records: {e}"))),
    }
}

/// Writes `details` (stamped now).
pub(crate) fn write(store: &DynStore, details: &mut PaymentDetails) -> Result<(), WalletError> {
    details.latest_update_timestamp = crate::store::now_secs();
    KVStoreSync::write(store, NAMESPACE, "", &key(&details.id), details.encode())
        .map_err(|e| WalletError::Storage(format!("cannot write the node's payment records: {e}")))
}

/// What a payment event tells about a payment, applied as ldk-node's `PaymentDetailsUpdate`
/// applies it.
#[derive(Default)]
pub(crate) struct RecordUpdate {
    /// The payment hash, if newly known.
    pub hash: Option<PaymentHash>,
    /// The preimage, if newly known.
    pub preimage: Option<PaymentPreimage>,
    /// The payment secret, if newly known.
    pub secret: Option<PaymentSecret>,
    /// The final amount.
    pub amount_msat: Option<u64>,
    /// The routing fee paid.
    pub fee_paid_msat: Option<u64>,
    /// The new status.
    pub status: Option<PaymentStatus>,
}

/// Applies `update` to `details`.
pub(crate) fn apply(details: &mut PaymentDetails, update: &RecordUpdate) {
    match &mut details.kind {
        PaymentKind::Bolt11 { hash, preimage, secret }
        | PaymentKind::Bolt11Jit { hash, preimage, secret, .. } => {
            if let Some(h) = update.hash {
                *hash = h;
            }
            set(preimage, update.preimage);
            set(secret, update.secret);
        }
        PaymentKind::Bolt12Offer { hash, preimage, secret, .. }
        | PaymentKind::Bolt12Refund { hash, preimage, secret, .. } => {
            set(hash, update.hash);
            set(preimage, update.preimage);
            set(secret, update.secret);
        }
        PaymentKind::Spontaneous { hash, preimage } => {
            if let Some(h) = update.hash {
                *hash = h;
            }
            set(preimage, update.preimage);
        }
        PaymentKind::Onchain { .. } => {}
    }
    if update.amount_msat.is_some() {
        details.amount_msat = update.amount_msat;
    }
    if update.fee_paid_msat.is_some() {
        details.fee_paid_msat = update.fee_paid_msat;
    }
    if let Some(status) = update.status {
        details.status = status;
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::payment::PaymentDirection;

    #[test]
    fn a_claim_completes_an_invoice_record_as_ldk_node_would() {
        let mut details = PaymentDetails {
            id: PaymentId([7; 32]),
            kind: PaymentKind::Bolt11 { hash: PaymentHash([7; 32]), preimage: None, secret: None },
            amount_msat: None,
            fee_paid_msat: None,
            direction: PaymentDirection::Inbound,
            status: PaymentStatus::Pending,
            latest_update_timestamp: 0,
        };
        let update = RecordUpdate {
            preimage: Some(PaymentPreimage([1; 32])),
            secret: Some(PaymentSecret([2; 32])),
            amount_msat: Some(21_000_000),
            status: Some(PaymentStatus::Succeeded),
            ..RecordUpdate::default()
        };
        apply(&mut details, &update);
        assert_eq!(
            details.kind,
            PaymentKind::Bolt11 {
                hash: PaymentHash([7; 32]),
                preimage: Some(PaymentPreimage([1; 32])),
                secret: Some(PaymentSecret([2; 32]))
            }
        );
        assert_eq!(
            (details.amount_msat, details.status),
            (Some(21_000_000), PaymentStatus::Succeeded)
        );
        // Round trip through ldk-node's serialization.
        let back = PaymentDetails::read(&mut &details.encode()[..]).expect("readable");
        assert_eq!(back, details);
    }
}
