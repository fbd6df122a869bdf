//! `doze-testkit`: everything Doze's tests build their worlds with, written once.
//!
//! - [`scene`]: the plain scene, a devnet with a funded Doze LSP and a merchant (stock
//!   ldk-node) with a channel to it; its steps are fallible functions so that `doze demo` can
//!   narrate them, and [`Scene::new`] strings them together for tests.
//! - [`async_scene`]: the async-payment topology (sender ── LSP-B ══ LSP-A ── phone)
//!   with its gossip and held-HTLC waits.
//! - [`webhook`]: a local webhook receiver standing in for the push gateway, the pushes it
//!   records, and pushes signed by an LSP the way its dispatcher signs them.
//! - [`register`]: the phone's side of the LSP's push registration API, for stock nodes.
//! - [`ledger`]: what the devnet says a wallet owns or has coming, from its Esplora API, to
//!   check balances against.
//! - [`lsp`]: starting, funding and inspecting Doze LSPs and stock nodes on a devnet.
//! - [`backup_server`]: PostgreSQL and LDK's `vss-server` on loopback; [`latency_proxy`]: a
//!   TCP proxy that makes it look far away (a fixed delay each way); [`hostile_backup`]: an
//!   HTTP proxy that makes it slow, garbled, damaging or another wallet's on demand.
//! - [`link`]: a TCP relay a test can freeze (connections stay open, nothing crosses) or cut.
//! - [`postgres`]: PostgreSQL alone on loopback (the LSPs' shared push store).
//! - [`http_server`]: the local HTTP server those stand-ins (and the [`webhook`] receiver) run.
//! - [`chaos`]: the seeded chaos run (the app and its wakes killed at random, invariants
//!   checked after every start).
//! - [`kills`]: what the kill tests check after a process died (the app's next start).
//! - [`phone`]: Doze wallets in tests: configs, an event recorder, the `doze wake` command
//!   line, and the offline phone of the wake tests ([`phone::PhoneScene`]).
//!
//! A dev-dependency of the crates that test (and a dependency of `doze-bench` and `doze-cli`'s
//! demo); `scripts/check-phone-deps` keeps it out of what a phone links. Helpers here may
//! panic with a clear message where a test would: a failed setup ends the test. The waits
//! block (reqwest's blocking client, ldk-node's blocking calls): call them from plain test
//! threads, not from inside a tokio runtime.
//!
//! Debugging: with `DOZE_TEST_NODE_LOGS=<dir>`, every node of a scene writes a trace-level log
//! to `<dir>/<pid>-<name>.log` (see [`lsp::node_log_path`]).

#![deny(missing_docs)]

pub mod async_scene;
pub mod chaos;
pub mod fuzz_corpus;
pub mod invoice;
pub mod kills;
pub mod latency_proxy;
pub mod ledger;
pub mod link;
pub mod lsp;
mod offline;
pub mod phone;
pub mod register;
pub mod scene;
pub mod webhook;

pub use doze_test_servers::{
    backup_server, dnssec_records, doh_server, hostile_backup, http_server, lnurl_server, postgres,
};

pub use async_scene::AsyncScene;
pub use phone::{PhoneScene, Recorder};
pub use scene::Scene;
pub use webhook::{ReceivedPush, WebhookReceiver};

/// A fixed test recovery phrase (never used for real funds).
pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// A current-thread runtime for driving the wallet's async API from a plain test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"))
}

/// A regtest address nobody in the test owns: where a send goes when only the sender matters.
pub fn address_elsewhere() -> ldk_node::bitcoin::Address {
    use ldk_node::bitcoin::key::Secp256k1;
    use ldk_node::bitcoin::secp256k1::{rand, SecretKey};
    let secret = SecretKey::new(&mut rand::thread_rng());
    let key = ldk_node::bitcoin::CompressedPublicKey(secret.public_key(&Secp256k1::new()));
    ldk_node::bitcoin::Address::p2wpkh(&key, ldk_node::bitcoin::Network::Regtest)
}
