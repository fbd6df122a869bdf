//! Receiving: BOLT11 invoices, over an existing channel when it has room for the whole payment
//! at once, otherwise through an LSPS2 just-in-time channel the LSP opens when the payment
//! arrives; and on-chain addresses.

use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::ChannelDetails;

use crate::error::WalletError;
use crate::wallet::Wallet;

/// A BOLT11 invoice to show the payer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiveInvoice {
    /// The invoice text (show it as a QR code, with `lightning:` for deep links).
    pub bolt11: String,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The amount asked for, if any.
    pub amount_msat: Option<u64>,
    /// Whether the payment will arrive through a new channel from the LSP (which takes its
    /// opening fee from the payment).
    pub via_jit_channel: bool,
    /// What the LSP takes from this payment to open the channel, as it quoted it for this
    /// invoice: the payer pays `amount_msat`, the wallet receives `amount_msat` minus this.
    /// Show it before the invoice is shared. `None` without a new channel. An open-amount
    /// invoice through a new channel is made only when the LSP charges nothing (0), and its
    /// fee is `None` if the LSP's minimum fee could not be read (no `LspConfig.api_url`).
    /// Never more than `WalletConfig.max_jit_fee_msat`: above it `receive_bolt11` fails with
    /// `WalletError::JitFeeTooHigh`, and the wallet refuses the payment if the LSP takes more
    /// than it quoted.
    pub lsp_fee_msat: Option<u64>,
    /// When the invoice expires, seconds since the Unix epoch.
    pub expires_at_secs: u64,
}

impl Wallet {
    /// Creates a BOLT11 invoice for `amount_msat` (or any amount when `None`). Uses an existing
    /// channel when one can take the whole amount at once (its inbound capacity, up to the value
    /// the wallet accepts in flight on it: a tenth of a channel from an additional LSP, as
    /// [`Balances::lightning_inbound_sat`](crate::Balances::lightning_inbound_sat) counts it),
    /// otherwise asks the LSP for a JIT channel, whose fee the invoice reports
    /// ([`ReceiveInvoice::lsp_fee_msat`]); a fee above `WalletConfig::max_jit_fee_msat` is
    /// [`WalletError::JitFeeTooHigh`] and creates nothing.
    /// Through a new channel, an open amount works only with an LSP that charges nothing
    /// (otherwise [`WalletError::InvalidAmount`]: ask for an amount), which the wallet reads
    /// from the LSP's API when `LspConfig::api_url` is set ([`WalletError::LspUnavailable`]
    /// if it cannot).
    pub async fn receive_bolt11(
        &self,
        amount_msat: Option<u64>,
        description: String,
        expiry_secs: u32,
    ) -> Result<ReceiveInvoice, WalletError> {
        if amount_msat == Some(0) {
            return Err(WalletError::InvalidAmount(
                "ask for more than 0, or for any amount".into(),
            ));
        }
        if expiry_secs == 0 {
            return Err(WalletError::InvalidAmount(
                "an invoice must be valid for at least a second".into(),
            ));
        }
        let description = Description::new(description)
            .map(Bolt11InvoiceDescription::Direct)
            .map_err(|e| WalletError::InvalidAmount(format!("description refused: {e}")))?;
        let for_channel = description.clone();
        let existing = self
            .blocking(move |inner| {
                let node = inner.node()?;
                let best_inbound_msat = largest_inbound_msat(&node);
                let fits = match (amount_msat, best_inbound_msat) {
                    (_, None) => false,
                    (None, Some(inbound)) => inbound > 0,
                    (Some(amount), Some(inbound)) => amount <= inbound,
                };
                let bolt11 = node.bolt11_payment();
                let invoice = match (fits, amount_msat) {
                    (true, Some(amount)) => Some(bolt11.receive(amount, &for_channel, expiry_secs)),
                    (true, None) => Some(bolt11.receive_variable_amount(&for_channel, expiry_secs)),
                    (false, _) => None,
                };
                // An invoice whose record the store did not keep is not shown.
                node.settle(invoice.transpose().map_err(WalletError::from))
            })
            .await?;
        // `Some(fee)` through a new channel (the fee itself `None` if unknown).
        let (invoice, jit_fee) = match existing {
            Some(invoice) => (invoice, None),
            None if self.inner.lsp.is_none() => return Err(WalletError::NoLsp),
            None => {
                let (invoice, fee) =
                    self.receive_via_jit(amount_msat, description, expiry_secs).await?;
                (invoice, Some(fee))
            }
        };
        let expires_at_secs = invoice.expires_at().map(|d| d.as_secs()).unwrap_or(u64::MAX);
        Ok(ReceiveInvoice {
            bolt11: invoice.to_string(),
            payment_hash: invoice.payment_hash().to_string(),
            amount_msat: invoice.amount_milli_satoshis(),
            via_jit_channel: jit_fee.is_some(),
            lsp_fee_msat: jit_fee.flatten(),
            expires_at_secs,
        })
    }

    /// A new on-chain address of this wallet.
    pub fn new_onchain_address(&self) -> Result<String, WalletError> {
        let node = self.inner.node()?;
        let address = node.onchain_payment().new_address().map_err(WalletError::from);
        Ok(node.settle(address)?.to_string())
    }
}

/// The most one payment can bring in over one usable channel now, in msat (`None` without a
/// usable channel): a payment in one part must fit it.
pub(crate) fn largest_inbound_msat(node: &ldk_node::Node) -> Option<u64> {
    node.list_channels().iter().filter(|c| c.is_usable).map(receivable_msat).max()
}

/// The most one payment can bring in over `channel` now, in msat: its inbound capacity, up to
/// the value of HTLCs the wallet accepts in flight on it.
///
/// Why not the inbound capacity alone (LDK's `inbound_capacity_msat`: the peer's balance less
/// the reserve the wallet asks of it, `get_available_balances_for_scope` in `ln/channel.rs`):
/// the wallet also refuses, closing the channel, an `update_add_htlc` that would take the
/// HTLCs in flight to it above `holder_max_htlc_value_in_flight_msat` (`update_add_htlc`, "over
/// our max HTLC value"). The peer learnt that limit at the channel's opening and forwards
/// nothing above it (its `next_outbound_htlc_limit_msat` is capped by it). It is
/// `max_inbound_htlc_value_in_flight_percent_of_channel` of the channel's value
/// (`get_holder_max_htlc_value_in_flight_msat`): LDK's default 10 %, which ldk-node raises to
/// 100 % only for channels from its LSPS2 LSP (`Event::OpenChannelRequest` in its `event.rs`),
/// so a channel from an additional LSP takes at most a tenth of its size at once. Every part of
/// a payment stays in flight until the last one arrives, so the limit bounds the whole payment
/// over the channel, not only each part. LDK reports it as `inbound_htlc_maximum_msat`
/// (`get_holder_htlc_maximum_msat`: the limit, or the channel's value less both reserves if
/// smaller) and writes that figure into the invoice's route hint as its `htlc_maximum_msat`
/// (`ln/invoice_utils.rs`): a payer routes no more through it. `None` only before the peer's
/// `open_channel`/`accept_channel`, never for a usable channel: nothing is promised then. The
/// figure does not deduct HTLCs already in flight to the wallet on the channel (ldk-node does
/// not report them): payments arriving at the same time share the limit.
pub(crate) fn receivable_msat(channel: &ChannelDetails) -> u64 {
    let max_in_flight_msat = channel.inbound_htlc_maximum_msat.unwrap_or(0);
    channel.inbound_capacity_msat.min(max_in_flight_msat)
}
