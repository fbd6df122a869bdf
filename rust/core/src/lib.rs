//! `doze-core`: the wallet apps build on. A Lightning wallet for phones that sleep, on
//! ldk-node 0.7.1: created from a recovery phrase the app holds, receiving through an LSP
//! (LSPS2 just-in-time channels, and a BOLT 12 offer that stays payable while the phone is
//! offline), paying invoices, offers and on-chain addresses across all of its channels, with
//! events that survive a crash and a history of payments.
//!
//! A push from the LSP is handled by [`Wallet::handle_push`], which runs the wake engine
//! (`wake/engine/`): a minimal LDK stack over the same store, not an ldk-node `Node`, so that a
//! wake fits an iOS notification extension's memory and time.
//!
//! The API is async and plain Rust; `doze-ffi` maps it to Swift, Kotlin and Python. With the
//! `uniffi` feature (which doze-ffi enables) the records and enums apps see carry uniffi's
//! derives themselves, so each type is defined once, here, and its docs here are the ones the
//! apps read. They form their own uniffi component, `doze_core`, next to doze-ffi's `doze`
//! (see `scripts/gen-bindings` for how the apps still see one module).

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// The component's namespace: the bindings of these types are `doze_core.py`, the Kotlin
// package `org.doze.core` and `DozeCore.swift` (compiled into the app's `Doze` module).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("doze_core");

// The vocabulary every folder below uses.
mod amounts;
mod config;
mod error;
mod events;
pub mod kill_points;
mod logging;
mod mnemonic;
mod mutex;
mod tasks;

// By area, bottom first: net, store, wallet, pay, funds, wake; each imports only from the
// vocabulary and the areas below it (`tests/layout.rs` checks every `crate::` path).
mod funds;
mod net;
mod pay;
mod store;
mod wake;
mod wallet;

// Entry points for the fuzz targets, over every area.
#[doc(hidden)]
pub mod fuzz;

/// The README's Rust example, compiled as a doctest so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;

pub use config::{
    BackupConfig, ChainSource, DomainRoute, LspConfig, NameResolutionConfig, Network, WalletConfig,
    DEFAULT_DOH_URL, DEFAULT_NAME_TIMEOUT_SECS,
};
pub use error::{MnemonicError, ParseError, WalletError};
pub use events::{ChannelCloseKind, EventListener, WalletEvent, WalletEventKind};
pub use funds::balances::Balances;
pub use funds::channels::{ChannelInfo, ChannelState};
pub use logging::{init_logging, LogEntry, LogLevel, LogListener};
pub use mnemonic::{generate_mnemonic, parse_mnemonic, Mnemonic, WordCount};
pub use pay::fees::{FeeTarget, JitFeeTerms, OnchainFee, OnchainFeeEstimates};
pub use pay::names::{
    verify_bip353, NameResolver, Resolution, ResolutionMethod, ResolvedRecipient,
};
pub use pay::parse::{parse, PaymentRequest};
pub use pay::quote::{
    default_fee_cap, SendBlocker, SendQuote, DEFAULT_FEE_FLOOR_MSAT, DEFAULT_FEE_PPM,
};
pub use pay::receive::ReceiveInvoice;
pub use pay::refund::RefundClaim;
pub use store::address_book::refresh_address_book;
pub use store::backup::BackupAuth;
pub use store::history::{PaymentFilter, PaymentPage, SendAttempt};
pub use store::payments::{PaymentDirection, PaymentInfo, PaymentKind, PaymentStatus};
pub use wake::registration::{PushRegistration, PushTarget};
pub use wake::{ChainTipCheck, ChainTipStatus, WakeEnd, WakeOutcome, WakePayment, WakeTimings};
pub use wallet::storage_lock::StorageLock;
pub use wallet::{LifecycleState, Wallet};
