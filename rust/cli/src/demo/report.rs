//! Chapter 4, what the phone shows: its balances and its payment history, as a wallet's home
//! screen would.

use doze_core::{Balances, PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};

use super::first_payment::Phone;
use doze_devnet::nodes::try_wait_until;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, short, Failed};

pub fn show_balances_and_history(phone: &Phone, expected_payments: usize) -> Result<(), Failed> {
    progress::chapter("The phone's balances and history");
    let (balances, history) = progress::step(
        "read the phone's balances and history",
        || -> Result<(Balances, Vec<PaymentInfo>), String> {
            try_wait_until(
                &format!("the history shows {expected_payments} settled payments"),
                STEP_TIMEOUT,
                || {
                    phone.wallet.list_payments().is_ok_and(|payments| {
                        payments.iter().filter(|p| p.status == PaymentStatus::Succeeded).count()
                            >= expected_payments
                    })
                },
            )?;
            let balances = phone.wallet.balances().map_err(|e| e.to_string())?;
            let history = phone.wallet.list_payments().map_err(|e| e.to_string())?;
            Ok((balances, history))
        },
        |(_, history)| format!("{} payments in the history, all settled", history.len()),
    )?;
    progress::text(&balances_table(&balances));
    progress::text(&history_table(&history));
    Ok(())
}

fn balances_table(b: &Balances) -> String {
    let rows = [
        ("Lightning, in channels (reserves included)", b.lightning_sat),
        ("Lightning, spendable", b.lightning_spendable_sat),
        ("Lightning, can receive", b.lightning_inbound_sat),
        ("on-chain", b.onchain_confirmed_sat + b.onchain_unconfirmed_sat),
        ("pending (in flight, or leaving a closed channel)", b.pending_sat),
    ];
    let mut out = String::from("\n  Balances\n");
    // The last row only matters while a payment is in flight or a channel closes.
    for (i, (label, amount)) in rows.into_iter().enumerate() {
        if i == 4 && amount == 0 {
            continue;
        }
        out.push_str(&format!("    {label:<48} {:>10} sat\n", sat(amount)));
    }
    out.pop();
    out
}

fn history_table(history: &[PaymentInfo]) -> String {
    let mut out = String::from("\n  History (newest first)\n");
    out.push_str(&format!(
        "    {:<10} {:<9} {:>10}  {:>8}  {:<22} {:<10} {}\n",
        "time UTC", "", "amount", "fee", "how", "status", "payment"
    ));
    for p in history {
        let direction = match p.direction {
            PaymentDirection::Inbound => "received",
            PaymentDirection::Outbound => "sent",
        };
        let how = match p.kind {
            PaymentKind::Onchain => "on-chain",
            PaymentKind::Bolt11 => "invoice",
            PaymentKind::Bolt11Jit => "invoice, JIT channel",
            PaymentKind::Bolt12Offer => "offer",
            PaymentKind::Bolt12Refund => "refund",
            PaymentKind::Spontaneous => "keysend",
        };
        let status = match p.status {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "settled",
            PaymentStatus::Failed => "failed",
        };
        let amount =
            p.amount_msat.map(|a| format!("{} sat", sat(a / 1000))).unwrap_or_else(|| "any".into());
        let fee =
            p.fee_msat.map(|f| format!("{} sat", sat(f / 1000))).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "    {:<10} {direction:<9} {amount:>10}  {fee:>8}  {how:<22} {status:<10} {}\n",
            clock(p.updated_at_secs),
            short(&p.id)
        ));
    }
    out.pop();
    out
}

/// `HH:MM:SS` of a Unix time, in UTC.
fn clock(unix_secs: u64) -> String {
    let day = unix_secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_utc_time_of_day() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(86_400 + 3_600 + 61), "01:01:01");
    }
}
