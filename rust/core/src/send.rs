//! Sending: BOLT11 invoices and on-chain payments, with the checks a person needs explained
//! before anything is signed (network, expiry, amount).

use ldk_node::bitcoin::hex::DisplayHex;
use std::str::FromStr;

use ldk_node::bitcoin::address::NetworkUnchecked;
use ldk_node::bitcoin::Address;
use ldk_node::lightning_invoice::Bolt11Invoice;

use crate::config::Network;
use crate::error::WalletError;
use crate::parse::{parse, ParseError, PaymentRequest};
use crate::wallet::Wallet;

/// The most a Lightning amount can be: 21 million bitcoin in millisatoshis.
const MAX_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// A parse failure in the words of the call that parsed: `not_this` for inputs of the wrong
/// kind or format.
fn from_parse_error(e: ParseError, not_this: fn(String) -> WalletError) -> WalletError {
    match e {
        ParseError::WrongNetwork { expected, found } => {
            WalletError::WrongNetwork { expected, found }
        }
        ParseError::Expired { seconds_ago } => WalletError::InvoiceExpired { seconds_ago },
        ParseError::InvalidInvoice(m) => WalletError::InvalidInvoice(m),
        ParseError::InvalidAddress(m) => WalletError::InvalidAddress(m),
        ParseError::InvalidAmount(m) => WalletError::InvalidAmount(m),
        other => not_this(other.to_string()),
    }
}

/// Parses a BOLT11 invoice (through [`parse`]) and checks it can be paid from a wallet on
/// `network` now.
pub(crate) fn parse_bolt11(input: &str, network: Network) -> Result<Bolt11Invoice, WalletError> {
    match parse(input, network).map_err(|e| from_parse_error(e, WalletError::InvalidInvoice))? {
        PaymentRequest::Bolt11 { invoice, .. } => Bolt11Invoice::from_str(&invoice)
            .map_err(|e| WalletError::InvalidInvoice(format!("not a BOLT11 invoice ({e})"))),
        _ => Err(WalletError::InvalidInvoice("not a BOLT11 invoice".into())),
    }
}

/// Parses an on-chain address or BIP21 URI (through [`parse`]) and checks it belongs to
/// `network`.
pub(crate) fn parse_address(input: &str, network: Network) -> Result<Address, WalletError> {
    let address = match parse(input, network)
        .map_err(|e| from_parse_error(e, WalletError::InvalidAddress))?
    {
        PaymentRequest::OnChain { address, .. } => address,
        PaymentRequest::Bolt11 { onchain_fallback: Some(address), .. }
        | PaymentRequest::Bolt12Offer { onchain_fallback: Some(address), .. } => address,
        _ => return Err(WalletError::InvalidAddress("not a bitcoin address".into())),
    };
    Address::<NetworkUnchecked>::from_str(&address)
        .map(Address::assume_checked)
        .map_err(|e| WalletError::InvalidAddress(format!("not a bitcoin address ({e})")))
}

impl Wallet {
    /// Pays a BOLT11 invoice. `amount_msat` is required for an invoice without an amount and
    /// must be left out (or equal) otherwise. Returns the payment id; the outcome arrives as
    /// a `PaymentSent` or `PaymentFailed` event.
    pub async fn pay_bolt11(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
    ) -> Result<String, WalletError> {
        let invoice = parse_bolt11(invoice, self.inner.config.network)?;
        if let Some(amount) = amount_msat {
            if amount == 0 || amount > MAX_MSAT {
                return Err(WalletError::InvalidAmount(format!(
                    "{amount} msat is not between 1 msat and 21 million bitcoin"
                )));
            }
        }
        let amount = match (invoice.amount_milli_satoshis(), amount_msat) {
            (None, None) => {
                return Err(WalletError::InvalidAmount(
                    "this invoice has no amount; say how much to pay".into(),
                ))
            }
            (Some(fixed), Some(given)) if fixed != given => {
                return Err(WalletError::InvalidAmount(format!(
                    "the invoice asks for {fixed} msat, not {given} msat"
                )))
            }
            (Some(_), _) => None,
            (None, Some(given)) => Some(given),
        };
        self.blocking(move |inner| {
            let node = inner.node()?;
            let payment = node.bolt11_payment();
            let id = match amount {
                None => payment.send(&invoice, None)?,
                Some(amount) => payment.send_using_amount(&invoice, amount, None)?,
            };
            Ok(id.0.to_lower_hex_string())
        })
        .await
    }

    /// Sends `amount_sat` on-chain to `address`, or everything spendable when `None`.
    /// Returns the transaction id.
    pub async fn send_onchain(
        &self,
        address: &str,
        amount_sat: Option<u64>,
    ) -> Result<String, WalletError> {
        let address = parse_address(address, self.inner.config.network)?;
        if amount_sat == Some(0) {
            return Err(WalletError::InvalidAmount("send more than 0 sat".into()));
        }
        self.blocking(move |inner| {
            let node = inner.node()?;
            let spendable = node.list_balances().spendable_onchain_balance_sats;
            let onchain = node.onchain_payment();
            let txid = match amount_sat {
                Some(amount) if amount > spendable => {
                    return Err(WalletError::InsufficientFunds(format!(
                        "{amount} sat asked, {spendable} sat spendable on-chain"
                    )))
                }
                Some(amount) => onchain.send_to_address(&address, amount, None)?,
                None => onchain.send_all_to_address(&address, true, None)?,
            };
            Ok(txid.to_string())
        })
        .await
    }
}
