//! Invoices made up for tests that need one without a node: signed by a fixed key.

use std::time::{Duration, SystemTime};

use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
use ldk_node::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

/// A signed BOLT11 invoice for `currency` (multi-part allowed, description "coffee"), issued
/// `age` ago and valid for `expiry`, for `amount_msat` or any amount.
pub fn signed_invoice(
    currency: Currency,
    amount_msat: Option<u64>,
    age: Duration,
    expiry: Duration,
) -> String {
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&[7u8; 32]).expect("a valid secret key");
    let mut builder = InvoiceBuilder::new(currency)
        .description("coffee".into())
        .payment_hash(sha256::Hash::hash(b"preimage"))
        .payment_secret(PaymentSecret([1u8; 32]))
        .timestamp(SystemTime::now() - age)
        .expiry_time(expiry)
        .min_final_cltv_expiry_delta(144)
        .basic_mpp();
    if let Some(amount) = amount_msat {
        builder = builder.amount_milli_satoshis(amount);
    }
    builder
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &secret))
        .expect("invoice")
        .to_string()
}
