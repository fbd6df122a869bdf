//! Two conveniences over the one send path ([`Wallet::prepare_send`] then [`Wallet::send`]):
//! paying a BOLT11 invoice and sending on-chain in one call. They take the same checks, write
//! the same history rows and return the same errors as a quote the app sends itself; only
//! their input errors are worded for what they were given (an invoice, an address).

use std::str::FromStr;

use ldk_node::bitcoin::address::NetworkUnchecked;
use ldk_node::bitcoin::Address;
use ldk_node::lightning_invoice::Bolt11Invoice;

use crate::config::Network;
use crate::error::WalletError;
use crate::fees::OnchainFee;
use crate::parse::{parse, ParseError, PaymentRequest};
use crate::wallet::Wallet;

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
    /// Pays a BOLT11 invoice: [`Wallet::prepare_send`] then [`Wallet::send`] with the default
    /// fee cap. `amount_msat` is required for an invoice without an amount and must be left
    /// out (or equal) otherwise. Returns the payment id; the outcome arrives as a
    /// `PaymentSent` or `PaymentFailed` event and in the history.
    pub async fn pay_bolt11(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
    ) -> Result<String, WalletError> {
        let invoice = parse_bolt11(invoice, self.inner.config.network)?;
        let quote = self.prepare_send(&invoice.to_string(), amount_msat, None)?;
        self.send(quote).await
    }

    /// Sends `amount_sat` on-chain to `address` (an address or a `bitcoin:` URI, whose own
    /// amount `amount_sat` replaces), or everything spendable when `None`, paying the miner
    /// fee `fee` (`None`: the chain source's estimate for about an hour):
    /// [`Wallet::prepare_send_onchain`] (or [`Wallet::prepare_send`] /
    /// [`Wallet::prepare_send_max`]) then [`Wallet::send`]. Returns the transaction id.
    pub async fn send_onchain(
        &self,
        address: &str,
        amount_sat: Option<u64>,
        fee: Option<OnchainFee>,
    ) -> Result<String, WalletError> {
        let address = parse_address(address, self.inner.config.network)?.to_string();
        let quote = match (amount_sat, fee) {
            (_, Some(fee)) => self.prepare_send_onchain(&address, amount_sat, fee).await?,
            (None, None) => self.prepare_send_max(&address, None)?,
            (Some(sat), None) => self.prepare_send(&address, Some(msat_of(sat)?), None)?,
        };
        self.send(quote).await
    }
}

/// `sat` in millisatoshis, or [`WalletError::InvalidAmount`] past `u64`.
pub(crate) fn msat_of(sat: u64) -> Result<u64, WalletError> {
    sat.checked_mul(1000).ok_or_else(|| {
        WalletError::InvalidAmount(format!("{sat} sat is more than 21 million bitcoin"))
    })
}
