//! Chapter 4, one balance over several channels: the LSP opens a second channel to the phone,
//! the phone asks "can I pay this?" for more than either channel holds, pays it split over
//! both, and then empties its Lightning balance to the merchant with "send max".

use doze_core::WalletEventKind;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use tokio::runtime::Runtime;

use super::first_payment::Phone;
use doze_devnet::nodes::try_wait_until;
use doze_testkit::Scene;

use super::STEP_TIMEOUT;
use crate::progress::{self, sat, Failed};

const SECOND_CHANNEL_SAT: u64 = 100_000;
const PUSHED_SAT: u64 = 40_000;
const SPLIT_PAYMENT_SAT: u64 = 45_000;

fn paid(phone: &Phone, id: &str) -> Result<Option<u64>, String> {
    let outcome =
        phone.events.try_wait_for("the payment's outcome", STEP_TIMEOUT, |e| match &e.kind {
            WalletEventKind::PaymentSent { payment_id, .. }
            | WalletEventKind::PaymentFailed { payment_id, .. } => payment_id == id,
            _ => false,
        })?;
    match outcome.kind {
        WalletEventKind::PaymentSent { fee_paid_msat, .. } => Ok(fee_paid_msat),
        WalletEventKind::PaymentFailed { reason, .. } => {
            Err(format!("the payment failed: {reason}"))
        }
        _ => Err("unexpected event".into()),
    }
}

fn settled(phone: &Phone) -> Result<(), String> {
    try_wait_until("the phone's channels settle", STEP_TIMEOUT, || {
        phone.wallet.balances().map(|b| b.pending_sat == 0).unwrap_or(false)
    })
}

pub fn split_send(rt: &Runtime, scene: &Scene, phone: &Phone) -> Result<(), Failed> {
    progress::chapter("One balance, two channels");
    progress::step(
        "the LSP opens a second channel to the phone",
        || -> Result<(), String> {
            let phone_id = phone
                .wallet
                .node_id()
                .map_err(|e| e.to_string())?
                .parse()
                .map_err(|_| "bad node id".to_string())?;
            // The phone is connected to the LSP already; the address is not used.
            let connected = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
            // Confirm the JIT channel's funding: the LSP spends confirmed coins.
            scene.devnet.mine(1);
            scene.lsp.sync().map_err(|e| e.to_string())?;
            let mempool = scene.devnet.mempool_len();
            scene
                .lsp
                .node()
                .open_channel(
                    phone_id,
                    connected,
                    SECOND_CHANNEL_SAT,
                    Some(PUSHED_SAT * 1000),
                    None,
                )
                .map_err(|e| format!("the LSP could not open the channel: {e}"))?;
            if !scene.devnet.wait_for_mempool_len(mempool + 1, STEP_TIMEOUT) {
                return Err("the funding transaction never reached the mempool".into());
            }
            scene.devnet.mine(6);
            try_wait_until("two usable channels", STEP_TIMEOUT, || {
                scene.lsp.sync().is_ok()
                    && rt.block_on(phone.wallet.sync()).is_ok()
                    && phone
                        .wallet
                        .balances()
                        .map(|b| b.lightning_spendable_sat > PUSHED_SAT && b.pending_sat == 0)
                        .unwrap_or(false)
            })
        },
        |_| {
            format!(
                "LSP opened a {} sat channel with {} sat on the phone's side",
                sat(SECOND_CHANNEL_SAT),
                sat(PUSHED_SAT)
            )
        },
    )?;

    let merchant = &scene.merchant.node;
    let invoice = progress::step(
        "the merchant asks for more than either channel holds",
        || -> Result<String, String> {
            let description = Description::new("dinner".into()).map_err(|e| e.to_string())?;
            merchant
                .bolt11_payment()
                .receive(
                    SPLIT_PAYMENT_SAT * 1000,
                    &Bolt11InvoiceDescription::Direct(description),
                    3600,
                )
                .map(|i| i.to_string())
                .map_err(|e| e.to_string())
        },
        |_| format!("merchant asks {} sat for dinner", sat(SPLIT_PAYMENT_SAT)),
    )?;
    let quote = progress::step(
        "the phone quotes it",
        || {
            phone.wallet.prepare_send(&invoice, None, None).map_err(|e| e.to_string()).and_then(
                |q| match &q.blocker {
                    None => Ok(q),
                    Some(blocker) => Err(format!("cannot pay: {blocker}")),
                },
            )
        },
        |q| {
            format!(
                "payable: {} sat, fee cap {} sat, split over up to {} paths; \
             at most {} sat could go to this merchant",
                sat(q.amount_msat / 1000),
                sat(q.fee_cap_msat / 1000),
                q.max_path_count,
                sat(q.max_sendable_msat / 1000)
            )
        },
    )?;
    progress::step(
        "the phone pays it over both channels",
        || -> Result<Option<u64>, String> {
            let id = rt.block_on(phone.wallet.send(quote.clone())).map_err(|e| e.to_string())?;
            let fee = paid(phone, &id)?;
            settled(phone)?;
            Ok(fee)
        },
        |fee| {
            format!(
                "paid {} sat split over the phone's channels, routing fee {} sat",
                sat(SPLIT_PAYMENT_SAT),
                sat(fee.unwrap_or(0) / 1000)
            )
        },
    )?;
    progress::step(
        "the phone sends everything it has left (send max)",
        || -> Result<(u64, u64), String> {
            let description = Description::new("tip".into()).map_err(|e| e.to_string())?;
            let open = merchant
                .bolt11_payment()
                .receive_variable_amount(&Bolt11InvoiceDescription::Direct(description), 3600)
                .map_err(|e| e.to_string())?;
            let quote = phone
                .wallet
                .prepare_send_max(&open.to_string(), None)
                .map_err(|e| e.to_string())?;
            let id = rt.block_on(phone.wallet.send(quote)).map_err(|e| e.to_string())?;
            paid(phone, &id)?;
            settled(phone)?;
            let sent = phone
                .wallet
                .list_payments()
                .map_err(|e| e.to_string())?
                .iter()
                .find(|p| p.id == id)
                .and_then(|p| p.amount_msat)
                .unwrap_or(0);
            let left =
                phone.wallet.balances().map_err(|e| e.to_string())?.max_sendable_lightning_sat;
            Ok((sent / 1000, left))
        },
        |(sent, left)| {
            format!("sent {} sat; {} sat left that could be sent", sat(*sent), sat(*left))
        },
    )?;
    Ok(())
}
