//! Sending: BOLT11 invoices and on-chain payments, with the checks a person needs explained
//! before anything is signed (network, expiry, amount).

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::address::NetworkUnchecked;
use ldk_node::bitcoin::{Address, Network as BtcNetwork};
use ldk_node::lightning_invoice::{Bolt11Invoice, Currency};

use crate::config::Network;
use crate::error::WalletError;
use crate::wallet::Wallet;

/// The most a Lightning amount can be: 21 million bitcoin in millisatoshis.
const MAX_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

fn strip_scheme<'a>(input: &'a str, scheme: &str) -> &'a str {
    let trimmed = input.trim();
    match trimmed.get(..scheme.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(scheme) => &trimmed[scheme.len()..],
        _ => trimmed,
    }
}

fn currency_name(currency: Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "bitcoin mainnet",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// Parses a BOLT11 invoice and checks it can be paid from a wallet on `network` now.
pub(crate) fn parse_bolt11(input: &str, network: Network) -> Result<Bolt11Invoice, WalletError> {
    let text = strip_scheme(input, "lightning:");
    let invoice = Bolt11Invoice::from_str(text)
        .map_err(|e| WalletError::InvalidInvoice(format!("not a BOLT11 invoice ({e})")))?;
    let expected = Currency::from(network.to_bitcoin());
    if invoice.currency() != expected {
        return Err(WalletError::WrongNetwork {
            expected: network.name().into(),
            found: currency_name(invoice.currency()).into(),
        });
    }
    if invoice.is_expired() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let expired_at = invoice.expires_at().map(|d| d.as_secs()).unwrap_or(0);
        return Err(WalletError::InvoiceExpired { seconds_ago: now.saturating_sub(expired_at) });
    }
    Ok(invoice)
}

/// Parses an on-chain address and checks it belongs to `network`.
pub(crate) fn parse_address(input: &str, network: Network) -> Result<Address, WalletError> {
    let text = strip_scheme(input, "bitcoin:");
    let text = text.split('?').next().unwrap_or(text);
    let unchecked = Address::<NetworkUnchecked>::from_str(text)
        .map_err(|e| WalletError::InvalidAddress(format!("{text:?} is not a bitcoin address ({e})")))?;
    let wanted = network.to_bitcoin();
    if unchecked.is_valid_for_network(wanted) {
        return Ok(unchecked.assume_checked());
    }
    let found = [
        (BtcNetwork::Bitcoin, "bitcoin mainnet"),
        (BtcNetwork::Testnet, "testnet or signet"),
        (BtcNetwork::Regtest, "regtest"),
    ]
    .iter()
    .find(|(n, _)| unchecked.is_valid_for_network(*n))
    .map(|(_, name)| *name)
    .unwrap_or("another network");
    Err(WalletError::WrongNetwork { expected: network.name().into(), found: found.into() })
}

impl Wallet {
    /// Pays a BOLT11 invoice. `amount_msat` is required for an invoice without an amount and
    /// must be left out (or equal) otherwise. Returns the payment id; the outcome arrives as
    /// a `PaymentSent` or `PaymentFailed` event.
    pub async fn pay_bolt11(
        &self, invoice: &str, amount_msat: Option<u64>,
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
            Ok(id.0.iter().map(|b| format!("{b:02x}")).collect())
        })
        .await
    }

    /// Sends `amount_sat` on-chain to `address`, or everything spendable when `None`.
    /// Returns the transaction id.
    pub async fn send_onchain(
        &self, address: &str, amount_sat: Option<u64>,
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
