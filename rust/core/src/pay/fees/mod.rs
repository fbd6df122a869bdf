//! Fees the user sees, and the limits an app sets on them: what the LSP takes for opening a
//! just-in-time channel ([`jit`]), what routing a Lightning payment is expected to cost
//! ([`routing`]), and the miner fee of an on-chain send ([`onchain`]).

mod jit;
mod onchain;
mod routing;

pub use jit::JitFeeTerms;
pub use onchain::{FeeTarget, OnchainFee, OnchainFeeEstimates};
pub(crate) use routing::expected_routing_fee;
