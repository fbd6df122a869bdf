//! Chapter 3, paying the merchant: the phone pays a 20 000 sat invoice over the channel it
//! got in chapter 2, through the LSP to the merchant.

use std::time::{Duration, Instant};

use doze_core::WalletEventKind;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::Event;
use tokio::runtime::Runtime;

use super::first_payment::Phone;
use doze_devnet::nodes::{try_expect_event, try_wait_until};
use doze_testkit::Scene;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, secs, Failed};

pub const COFFEE_SAT: u64 = 20_000;

pub fn pay_merchant(rt: &Runtime, scene: &Scene, phone: &Phone) -> Result<(), Failed> {
    progress::chapter("Paying the merchant");
    let merchant = &scene.merchant.node;
    let invoice = progress::step(
        "the merchant writes an invoice",
        || -> Result<String, String> {
            let description = Description::new("coffee".into()).map_err(|e| e.to_string())?;
            let invoice = merchant
                .bolt11_payment()
                .receive(COFFEE_SAT * 1000, &Bolt11InvoiceDescription::Direct(description), 3600)
                .map_err(|e| format!("the merchant could not write an invoice: {e}"))?;
            Ok(invoice.to_string())
        },
        |_| format!("merchant asks {} sat for a coffee", sat(COFFEE_SAT)),
    )?;

    // The phone's view of what it can receive, to see the payment settle into it below.
    let inbound_before = phone.wallet.balances().map(|b| b.lightning_inbound_sat).unwrap_or(0);
    progress::step(
        "the phone pays the merchant",
        || -> Result<(Option<u64>, Duration), String> {
            let started = Instant::now();
            let id =
                rt.block_on(phone.wallet.pay_bolt11(&invoice, None)).map_err(|e| e.to_string())?;
            let outcome =
                phone.events.try_wait_for("the payment's outcome", STEP_TIMEOUT, |e| {
                    match &e.kind {
                        WalletEventKind::PaymentSent { payment_id, .. }
                        | WalletEventKind::PaymentFailed { payment_id, .. } => *payment_id == id,
                        _ => false,
                    }
                })?;
            match outcome.kind {
                WalletEventKind::PaymentSent { fee_paid_msat, .. } => {
                    Ok((fee_paid_msat, started.elapsed()))
                }
                WalletEventKind::PaymentFailed { reason, .. } => {
                    Err(format!("the payment failed: {reason}"))
                }
                _ => Err("unexpected event".into()),
            }
        },
        |(fee, took)| {
            let fee =
                fee.map(|f| format!(", routing fee {} sat", sat(f / 1000))).unwrap_or_default();
            format!("phone paid {} sat in {}{fee}", sat(COFFEE_SAT), secs(*took))
        },
    )?;

    progress::step(
        "the merchant receives the payment",
        || -> Result<u64, String> {
            let event = try_expect_event(
                merchant,
                "the payment to reach the merchant",
                STEP_TIMEOUT,
                |e| matches!(e, Event::PaymentReceived { .. }),
            )?;
            match event {
                Event::PaymentReceived { amount_msat, .. } => Ok(amount_msat),
                _ => Err("unexpected event".into()),
            }
        },
        |amount_msat| format!("merchant received {} sat", sat(amount_msat / 1000)),
    )?;

    progress::step(
        "the phone's channel settles",
        || -> Result<(u64, u64), String> {
            // The payment's HTLC leaves the channel with the commitment updates that follow its
            // success; until then the phone's balances still count it in flight.
            let mut settled = (0, 0);
            try_wait_until(
                "the paid amount moves to the LSP's side of the channel",
                STEP_TIMEOUT,
                || match phone.wallet.balances() {
                    Ok(b) => {
                        settled = (b.lightning_spendable_sat, b.lightning_inbound_sat);
                        b.pending_sat == 0 && b.lightning_inbound_sat >= inbound_before + COFFEE_SAT
                    }
                    Err(_) => false,
                },
            )?;
            Ok(settled)
        },
        |(spendable, inbound)| {
            format!(
                "phone's channel settled: {} sat left to spend, {} sat can come in",
                sat(*spendable),
                sat(*inbound)
            )
        },
    )?;
    Ok(())
}
