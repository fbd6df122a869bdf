//! Claiming a BOLT 12 refund: someone (a shop giving money back, a friend) hands the wallet a
//! refund, a standing offer to pay a fixed amount to whoever answers it with an invoice. The
//! wallet answers with an invoice over its channels; the refund's issuer pays it, and the
//! payment arrives as any other (`PaymentReceived`, the history's `Bolt12Refund` row).

use std::str::FromStr;

use ldk_node::lightning::offers::refund::Refund;

use crate::error::WalletError;
use crate::pay::parse::{parse, PaymentRequest};
use crate::pay::receive::largest_inbound_msat;
use crate::wallet::Wallet;

/// The invoice the wallet sent in answer to a refund: what it is owed, and how to find the
/// payment when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RefundClaim {
    /// The payment hash of the invoice sent (hex): the payment's id once it arrives.
    pub payment_hash: String,
    /// What the refund pays, in msat.
    pub amount_msat: u64,
    /// The refund's description, as its issuer wrote it (may be empty).
    pub description: String,
}

impl Wallet {
    /// Claims the BOLT 12 refund `refund` (as pasted or scanned, with or without
    /// `lightning:`): checks it is a refund for this wallet's network that has not expired and
    /// that a channel can take its amount, then sends its issuer an invoice for it. Returns
    /// what was claimed; the money arrives as a `PaymentReceived` event once the issuer pays
    /// (it may be offline: the invoice stays valid for two hours). A text that is not a
    /// refund is [`WalletError::InvalidInvoice`]; a refund larger than one channel can take at
    /// once (its inbound capacity, up to the value the wallet accepts in flight on it) is
    /// [`WalletError::InvalidAmount`], and nothing is sent.
    pub async fn claim_refund(&self, refund: &str) -> Result<RefundClaim, WalletError> {
        let PaymentRequest::Bolt12Refund { refund, amount_msat, description } =
            parse(refund, self.inner.config.network)?
        else {
            return Err(WalletError::InvalidInvoice(
                "this is not a BOLT 12 refund (lnr1…); pay it with prepare_send instead".into(),
            ));
        };
        let refund = Refund::from_str(&refund).map_err(|e| {
            WalletError::InvalidInvoice(format!("the refund does not decode: {e:?}"))
        })?;
        self.blocking(move |inner| {
            let node = inner.node()?;
            let inbound_msat = largest_inbound_msat(&node).unwrap_or(0);
            // A refund is paid in one go over the invoice's paths: one channel must take it.
            // (No just-in-time channel: LSPS2 serves BOLT 11 invoices only.)
            if amount_msat > inbound_msat {
                return Err(WalletError::InvalidAmount(format!(
                    "the refund pays {amount_msat} msat and the wallet can take at most \
                     {inbound_msat} msat over one channel; receive a BOLT 11 payment first to \
                     get a larger channel"
                )));
            }
            let invoice = node.bolt12_payment().request_refund_payment(&refund);
            let invoice = node.settle(invoice.map_err(WalletError::from))?;
            Ok(RefundClaim {
                payment_hash: invoice.payment_hash().to_string(),
                amount_msat: invoice.amount_msats(),
                description,
            })
        })
        .await
    }
}
