//! The LSP's fee for a just-in-time channel: known before the invoice is shown, and refused
//! above the app's limit (`WalletConfig::max_jit_fee_msat`).
//!
//! Where the numbers come from. ldk-node 0.7.1 asks the LSP for its LSPS2 terms
//! (`lsps2.get_info`) inside `receive_via_jit_channel`, buys the cheapest offer, and records the
//! fee it agreed to in the payment's `lsp_fee_limits`: that record is the quote this wallet
//! shows, and ldk-node refuses the claim if the LSP skims more. Passed the app's limit, ldk-node
//! refuses to buy above it (`LiquidityFeeTooHigh`) but does not say how much the LSP asked, and
//! it never reports the minimum fee. For those two the wallet reads the LSP's API
//! (`GET {api_url}/v1/lsps2/fees`, doze-lsp's copy of the same LSPS2 terms).
//!
//! Open-amount invoices: ldk-node 0.7.1 checks what the LSP skimmed from such a payment against
//! a fee computed on the amount *after* the skim, with no minimum (lightningdevkit/ldk-node
//! PR #1095), so it fails back every open-amount JIT payment from an LSP that charges anything,
//! after the LSP opened the channel. The wallet therefore makes an open-amount JIT invoice only
//! with an LSP that charges nothing, and otherwise asks for an amount.

use std::time::Duration;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription};
use ldk_node::lightning_liquidity::lsps2::utils::compute_opening_fee;
use ldk_node::payment::PaymentKind;
use ldk_node::{Node, NodeError};
use serde::Deserialize;

use crate::amounts::sat_text;
use crate::error::WalletError;
use crate::wallet::Wallet;

/// How long reading the LSP's fee terms may take.
const TERMS_TIMEOUT: Duration = Duration::from_secs(10);

/// The terms on which the LSP opens a just-in-time channel (LSPS2's `opening_fee_params`).
/// It takes its fee from the payment that opens the channel: for a payment of `amount_msat`,
/// `max(min_fee_msat, ceil(amount_msat × proportional_ppm / 1 000 000))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct JitFeeTerms {
    /// The least a channel costs, however small the payment.
    pub min_fee_msat: u64,
    /// The fee as a share of the payment, in parts per million (10 000 = 1 %).
    #[serde(rename = "proportional")]
    pub proportional_ppm: u32,
    /// The smallest payment the LSP opens a channel for.
    #[serde(rename = "min_payment_size_msat")]
    pub min_payment_msat: u64,
    /// The largest payment the LSP opens a channel for.
    #[serde(rename = "max_payment_size_msat")]
    pub max_payment_msat: u64,
}

impl JitFeeTerms {
    /// The fee for a channel opened by a payment of `amount_msat` (bLIP-52's formula, as the
    /// LSP computes it); `None` if it overflows.
    pub fn fee_for(&self, amount_msat: u64) -> Option<u64> {
        compute_opening_fee(amount_msat, self.min_fee_msat, u64::from(self.proportional_ppm))
    }

    fn charges(&self) -> bool {
        self.min_fee_msat > 0 || self.proportional_ppm > 0
    }

    fn opens_for(&self, amount_msat: u64) -> bool {
        (self.min_payment_msat..=self.max_payment_msat).contains(&amount_msat)
    }
}

/// `ppm` as a percentage ("1 %", "0.25 %").
fn percent_text(ppm: u32) -> String {
    let whole = ppm / 10_000;
    let fraction = ppm % 10_000;
    if fraction == 0 {
        return format!("{whole} %");
    }
    let fraction = format!("{fraction:04}");
    format!("{whole}.{} %", fraction.trim_end_matches('0'))
}

/// Why an open-amount invoice cannot come through this LSP's channel (see the module docs).
fn open_amount_refusal(terms: Option<&JitFeeTerms>) -> String {
    let fee = match terms {
        Some(t) if t.proportional_ppm == 0 => format!(" ({})", sat_text(t.min_fee_msat, true)),
        Some(t) if t.min_fee_msat == 0 => format!(" ({})", percent_text(t.proportional_ppm)),
        Some(t) => format!(
            " ({}, at least {})",
            percent_text(t.proportional_ppm),
            sat_text(t.min_fee_msat, true)
        ),
        None => String::new(),
    };
    format!(
        "receiving needs a new channel, and the LSP's fee for it{fee} cannot be taken from a \
         payment of an open amount; ask for an amount"
    )
}

/// The fee ldk-node agreed to with the LSP for `invoice` (recorded with the payment).
fn quoted_fee(node: &Node, invoice: &Bolt11Invoice) -> Option<u64> {
    let id = PaymentId(invoice.payment_hash().to_byte_array());
    match node.payment(&id)?.kind {
        PaymentKind::Bolt11Jit { lsp_fee_limits, .. } => lsp_fee_limits.max_total_opening_fee_msat,
        _ => None,
    }
}

async fn fetch_terms(api_url: String) -> Result<JitFeeTerms, String> {
    let url = format!("{api_url}/v1/lsps2/fees");
    let answer = async {
        let client = reqwest::Client::builder().timeout(TERMS_TIMEOUT).build()?;
        client.get(&url).send().await?.error_for_status()?.json::<JitFeeTerms>().await
    };
    answer.await.map_err(|e| format!("cannot read the LSP's fees at {url}: {e}"))
}

/// A fixed-amount attempt: the invoice with its quoted fee, or ldk-node's refusal to buy.
type Attempt = Result<(Bolt11Invoice, Option<u64>), NodeError>;

impl Wallet {
    /// The LSP's current terms for just-in-time channels, read from its API
    /// (`LspConfig::api_url`), to show what receiving through a new channel would cost before
    /// the user enters an amount. [`Wallet::receive_bolt11`] reports the fee of each invoice it
    /// makes.
    pub async fn jit_fee_terms(&self) -> Result<JitFeeTerms, WalletError> {
        let lsp = self.inner.lsp.as_ref().ok_or(WalletError::NoLsp)?;
        let api_url = lsp.api_url.clone().ok_or_else(|| {
            WalletError::InvalidConfig("lsp.api_url is needed to read the LSP's fees".into())
        })?;
        self.on_runtime(fetch_terms(api_url)).await?.map_err(WalletError::LspUnavailable)
    }

    /// Makes an invoice whose payment arrives through a new channel from the LSP, and the fee
    /// the LSP will take from it (see the module docs). The caller checked that an LSP is
    /// configured.
    pub(crate) async fn receive_via_jit(
        &self,
        amount_msat: Option<u64>,
        description: Bolt11InvoiceDescription,
        expiry_secs: u32,
    ) -> Result<(Bolt11Invoice, Option<u64>), WalletError> {
        let Some(amount) = amount_msat else {
            return self.receive_open_amount_via_jit(description, expiry_secs).await;
        };
        let limit = self.inner.config.max_jit_fee_msat;
        let attempt: Attempt = self
            .blocking(move |inner| {
                let node = inner.node()?;
                let bolt11 = node.bolt11_payment();
                let asked =
                    bolt11.receive_via_jit_channel(amount, &description, expiry_secs, limit);
                // An invoice whose record the store did not keep is not shown.
                node.still_running()?;
                match asked {
                    Ok(invoice) => {
                        let fee = quoted_fee(&node, &invoice);
                        Ok(Ok((invoice, fee)))
                    }
                    Err(
                        e @ (NodeError::LiquidityFeeTooHigh | NodeError::LiquidityRequestFailed),
                    ) => Ok(Err(e)),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        match attempt {
            Ok((invoice, fee)) => {
                if fee.is_none() {
                    log::warn!("ldk-node recorded no LSP fee for JIT invoice {invoice}");
                }
                Ok((invoice, fee))
            }
            Err(NodeError::LiquidityFeeTooHigh) => {
                // ldk-node refuses only with a limit, and then bought nothing. Its refusal
                // carries no number: name the fee from the LSP's terms if they can be read
                // (and agree that it is over the limit).
                let limit_msat = limit.unwrap_or(0);
                let terms = self.jit_fee_terms().await.map_err(|e| log::info!("{e}")).ok();
                let fee_msat =
                    terms.and_then(|t| t.fee_for(amount)).filter(|fee| *fee > limit_msat);
                Err(WalletError::JitFeeTooHigh { fee_msat, limit_msat })
            }
            Err(e) => {
                // "No offer suits": with the terms at hand, say whether it is the amount.
                match self.jit_fee_terms().await {
                    Ok(terms) if !terms.opens_for(amount) => {
                        Err(WalletError::InvalidAmount(format!(
                            "receiving needs a new channel, and the LSP opens one only for \
                             payments of {} to {}",
                            sat_text(terms.min_payment_msat, true),
                            sat_text(terms.max_payment_msat, false)
                        )))
                    }
                    _ => Err(e.into()),
                }
            }
        }
    }

    async fn receive_open_amount_via_jit(
        &self,
        description: Bolt11InvoiceDescription,
        expiry_secs: u32,
    ) -> Result<(Bolt11Invoice, Option<u64>), WalletError> {
        // Without the LSP's API only the proportional part can be checked (through ldk-node,
        // below): the fee stays unknown.
        let terms = match self.inner.lsp.as_ref().and_then(|l| l.api_url.as_ref()) {
            Some(_) => Some(self.jit_fee_terms().await?),
            None => None,
        };
        if terms.as_ref().is_some_and(JitFeeTerms::charges) {
            return Err(WalletError::InvalidAmount(open_amount_refusal(terms.as_ref())));
        }
        let invoice = self
            .blocking(move |inner| {
                let node = inner.node()?;
                // A limit of 0 ppm: ldk-node refuses to buy from an LSP that charges a share.
                let asked = node
                    .bolt11_payment()
                    .receive_variable_amount_via_jit_channel(&description, expiry_secs, Some(0))
                    .map_err(|e| match e {
                        NodeError::LiquidityFeeTooHigh => {
                            WalletError::InvalidAmount(open_amount_refusal(None))
                        }
                        e => e.into(),
                    });
                node.still_running()?;
                asked
            })
            .await?;
        Ok((invoice, terms.map(|_| 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::jit_fee_refusal;

    fn terms(min_fee_msat: u64, proportional_ppm: u32) -> JitFeeTerms {
        JitFeeTerms {
            min_fee_msat,
            proportional_ppm,
            min_payment_msat: 1_000,
            max_payment_msat: 100_000_000_000,
        }
    }

    #[test]
    fn the_fee_is_the_larger_of_the_minimum_and_the_rounded_up_share() {
        let t = terms(2_000_000, 10_000);
        assert_eq!(t.fee_for(50_000_000), Some(2_000_000), "1 % of 50k sat is below the minimum");
        assert_eq!(t.fee_for(300_000_000), Some(3_000_000));
        assert_eq!(terms(0, 10_000).fee_for(1_050), Some(11), "rounded up");
        assert_eq!(terms(0, 0).fee_for(u64::MAX), Some(0));
        assert_eq!(terms(0, 1).fee_for(u64::MAX), None, "overflow");
    }

    #[test]
    fn the_lsp_api_answer_reads_as_terms() {
        let answer = r#"{"min_fee_msat":2000000,"proportional":10000,
            "min_payment_size_msat":10000000,"max_payment_size_msat":100000000000}"#;
        let t: JitFeeTerms = serde_json::from_str(answer).unwrap();
        assert_eq!(t, JitFeeTerms { min_payment_msat: 10_000_000, ..terms(2_000_000, 10_000) });
    }

    #[test]
    fn refusals_name_the_fee_and_the_limit() {
        assert_eq!(
            jit_fee_refusal(Some(5_000_000), 2_000_000),
            "the LSP asks 5,000 sat to open a channel for this payment; your limit is 2,000 sat"
        );
        assert_eq!(
            jit_fee_refusal(None, 2_000_999),
            "the LSP asks more than your limit of 2,000 sat to open a channel for this payment"
        );
        assert_eq!(percent_text(10_000), "1 %");
        assert_eq!(percent_text(2_500), "0.25 %");
        assert_eq!(percent_text(1), "0.0001 %");
        let both = open_amount_refusal(Some(&terms(2_000_000, 10_000)));
        assert!(both.contains("(1 %, at least 2,000 sat)") && both.ends_with("ask for an amount"));
        assert!(open_amount_refusal(Some(&terms(1_000, 0))).contains("(1 sat)"));
        assert!(open_amount_refusal(None).contains("fee for it cannot"));
    }
}
