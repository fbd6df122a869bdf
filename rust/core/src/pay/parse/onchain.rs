//! On-chain addresses: which network one is for, and refusals in words (the crate reads them).

use std::str::FromStr;

use ldk_node::bitcoin::address::NetworkUnchecked;
use ldk_node::bitcoin::{Address, Network as BtcNetwork};

use super::lightning::starts_with_ci;
use super::{cap, snippet, wrong_network, ParseError};
use crate::config::Network;

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Whether `text` looks enough like an address that a failure to parse it should be reported
/// as a bad address rather than as an unknown format.
pub(super) fn looks_like_address(text: &str) -> bool {
    let bech32 = ["bc1", "tb1", "bcrt1"].iter().any(|p| starts_with_ci(text, p))
        && text.len() >= 14
        && text.bytes().all(|b| b.is_ascii_alphanumeric());
    let base58 = (25..=62).contains(&text.len()) && text.chars().all(|c| BASE58.contains(c));
    bech32 || base58
}

/// An address the crate or rust-bitcoin refused, in words.
pub(super) fn invalid_address(text: &str, why: &str) -> ParseError {
    ParseError::InvalidAddress(format!("{} is not a bitcoin address ({})", snippet(text), cap(why)))
}

/// An address valid on `network`, canonical (segwit in lower case).
pub(super) fn parse_address(text: &str, network: Network) -> Result<String, ParseError> {
    let unchecked = Address::<NetworkUnchecked>::from_str(text)
        .map_err(|e| invalid_address(text, &e.to_string()))?;
    if unchecked.is_valid_for_network(network.to_bitcoin()) {
        return Ok(unchecked.assume_checked().to_string());
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
    Err(wrong_network(network, found))
}
