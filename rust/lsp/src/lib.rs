//! `doze-lsp`: Doze's reference LSP daemon.
//!
//! An ldk-node 0.7.1 node in the async-payments **server** role (it holds HTLCs for offline
//! phones, keeps their onion-message mailbox and serves their static invoices), with an
//! **LSPS2** service opening just-in-time channels on the terms of its config file, its own
//! on-chain wallet fed by an Esplora API, the operator's **bitcoind** (JSON-RPC) or an
//! **Electrum** server ([`chain_source`]), a small **operator HTTP API** (health, node,
//! channels), and **push** registration and dispatch for offline phones ([`push`]: bLIP-55
//! notifications when an onion message for a registered phone is held).
//!
//! ```no_run
//! let config = doze_lsp::LspConfig::from_file("lsp.toml")?;
//! let lsp = doze_lsp::Lsp::start(config)?;
//! println!("{} at {}, API {}", lsp.node_id(), lsp.p2p_address(), lsp.http_url());
//! lsp.stop()?;
//! # Ok::<(), doze_lsp::LspError>(())
//! ```
//!
//! For tests, [`devnet_config`] gives a regtest configuration for a `doze-devnet` chain; the
//! scenes built on it (the async-payment topology with two LSPs, a webhook receiver, a
//! registration client) are in the `doze-testkit` crate, outside the daemon.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod chain_source;
pub mod config;
mod devnet_config;
mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod log_hooks;
mod lsp;
pub mod push;
pub mod stderr_logger;
mod worker;

pub use chain_source::{ChainSource, RpcAuth};
pub use config::{ConfigError, LspConfig, Lsps2Config, PushConfig};
pub use devnet_config::{devnet_config, devnet_config_with};
pub use error::LspError;
pub use events::{EventHub, EventObserver};
pub use log_hooks::{LogHub, LogObserver, ObserverId};
pub use lsp::{Lsp, Observers, SEED_FILE};
