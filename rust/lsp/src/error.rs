//! The errors of starting and running the LSP.

use std::net::SocketAddr;
use std::path::PathBuf;

use ldk_node::{BuildError, NodeError};

use crate::config::ConfigError;

/// Why the LSP could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage directory could not be created.
    #[error(
        "cannot create the storage directory {}: {source} (check `storage_dir` and its \
         permissions)",
        path.display()
    )]
    Storage {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The push database could not be opened.
    #[error(
        "cannot open the push database ({location}): {source} (check `storage_dir`, or \
         `push.postgres_url` and that PostgreSQL runs)"
    )]
    PushStore {
        /// Where it was looked for: the SQLite file, or PostgreSQL's host and database (never
        /// the password).
        location: String,
        /// What the database said.
        source: crate::push::DbError,
    },
    /// The operator API's address could not be bound.
    #[error(
        "cannot listen for the operator API on {addr}: {source} (is another process using it? \
         change `http_listen`)"
    )]
    HttpBind {
        /// The address in `http_listen`.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// ldk-node refused to build the node from this configuration.
    #[error(
        "ldk-node could not build the node: {0} (check `storage_dir`, `alias`, `p2p_listen` \
         and that the storage belongs to this network)"
    )]
    Build(BuildError),
    /// The node was built but did not start.
    #[error(
        "ldk-node could not start: {source} (is {chain_source} reachable, and is {p2p_listen} \
         free?)"
    )]
    Start {
        /// ldk-node's error.
        source: NodeError,
        /// The configured chain source, e.g. "bitcoind's RPC at 127.0.0.1:8332".
        chain_source: String,
        /// The configured P2P address.
        p2p_listen: String,
    },
    /// A thread or runtime could not be created.
    #[error("cannot start the LSP's threads: {0}")]
    Runtime(std::io::Error),
    /// Syncing the wallets with the chain failed.
    #[error("wallet sync failed: {source} (is {chain_source} reachable?)")]
    Sync {
        /// ldk-node's error.
        source: NodeError,
        /// The configured chain source, e.g. "the Esplora API at http://127.0.0.1:3002".
        chain_source: String,
    },
    /// bitcoind's RPC refused the login, could not be reached or follows another network
    /// than the config's (checked at start).
    #[error("cannot use {chain_source}: {reason}")]
    BitcoindRpc {
        /// Where it is, e.g. "bitcoind's RPC at 127.0.0.1:8332".
        chain_source: String,
        /// What went wrong.
        reason: String,
    },
    /// bitcoind's RPC cookie file (`[bitcoind_rpc] cookie_file`) could not be used. The
    /// message names the file, never what is in it.
    #[error(
        "cannot log in to bitcoind's RPC with the cookie file {}: {reason} (check \
         `bitcoind_rpc.cookie_file`, that bitcoind is running, and that the LSP may read its \
         data directory)",
        path.display()
    )]
    RpcCookie {
        /// The cookie file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The on-chain wallet failed.
    #[error("the on-chain wallet failed: {0}")]
    Wallet(NodeError),
    /// The node did not stop cleanly.
    #[error("ldk-node did not stop cleanly: {0}")]
    Stop(NodeError),
}
