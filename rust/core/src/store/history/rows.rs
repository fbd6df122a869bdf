//! How a payment is a row of the history's `payments` table: the codes its enums are stored
//! as, and the row read back. A code no variant has is an error, never a guess.

use crate::store::payments::{PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};

pub(super) fn direction_code(d: PaymentDirection) -> i64 {
    match d {
        PaymentDirection::Inbound => 0,
        PaymentDirection::Outbound => 1,
    }
}

pub(crate) fn status_code(s: PaymentStatus) -> i64 {
    match s {
        PaymentStatus::Pending => 0,
        PaymentStatus::Succeeded => 1,
        PaymentStatus::Failed => 2,
    }
}

pub(crate) fn kind_code(k: PaymentKind) -> i64 {
    match k {
        PaymentKind::Onchain => 0,
        PaymentKind::Bolt11 => 1,
        PaymentKind::Bolt11Jit => 2,
        PaymentKind::Bolt12Offer => 3,
        PaymentKind::Bolt12Refund => 4,
        PaymentKind::Spontaneous => 5,
    }
}

/// A stored code no variant has: the database was written by a newer Doze (or damaged), and
/// guessing would show the user a wrong payment.
#[derive(Debug)]
struct UnknownCode {
    column: &'static str,
    code: i64,
}

impl std::fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown payment {} code {} (written by a newer Doze?)", self.column, self.code)
    }
}

impl std::error::Error for UnknownCode {}

fn unknown(index: usize, column: &'static str, code: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Integer,
        Box::new(UnknownCode { column, code }),
    )
}

/// Reads the direction, status and kind codes of columns 3, 4 and 5 of a payments row: the
/// inverse of [`direction_code`], [`status_code`] and [`kind_code`].
fn from_codes(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(PaymentDirection, PaymentStatus, PaymentKind)> {
    let direction = match row.get(3)? {
        0 => PaymentDirection::Inbound,
        1 => PaymentDirection::Outbound,
        other => return Err(unknown(3, "direction", other)),
    };
    let status = match row.get(4)? {
        0 => PaymentStatus::Pending,
        1 => PaymentStatus::Succeeded,
        2 => PaymentStatus::Failed,
        other => return Err(unknown(4, "status", other)),
    };
    let kind = match row.get(5)? {
        0 => PaymentKind::Onchain,
        1 => PaymentKind::Bolt11,
        2 => PaymentKind::Bolt11Jit,
        3 => PaymentKind::Bolt12Offer,
        4 => PaymentKind::Bolt12Refund,
        5 => PaymentKind::Spontaneous,
        other => return Err(unknown(5, "kind", other)),
    };
    Ok((direction, status, kind))
}

/// The columns [`read_payment`] reads, in its order.
pub(super) const COLUMNS: &str =
    "id, created_at, updated_at, direction, status, kind, amount_msat, fee_msat,
    payment_hash, txid, request";

/// One payments row, selected with [`COLUMNS`].
pub(super) fn read_payment(row: &rusqlite::Row<'_>) -> rusqlite::Result<PaymentInfo> {
    let (direction, status, kind) = from_codes(row)?;
    Ok(PaymentInfo {
        id: row.get(0)?,
        kind,
        direction,
        status,
        amount_msat: row.get::<_, Option<i64>>(6)?.map(|a| a as u64),
        fee_msat: row.get::<_, Option<i64>>(7)?.map(|a| a as u64),
        payment_hash: row.get(8)?,
        txid: row.get(9)?,
        created_at_secs: row.get::<_, i64>(1)? as u64,
        updated_at_secs: row.get::<_, i64>(2)? as u64,
        request: row.get(10)?,
    })
}
