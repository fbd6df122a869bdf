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
        "ldk-node could not start: {source} (is the Esplora API at {esplora_url} reachable, \
         and is {p2p_listen} free?)"
    )]
    Start {
        /// ldk-node's error.
        source: NodeError,
        /// The configured chain source.
        esplora_url: String,
        /// The configured P2P address.
        p2p_listen: String,
    },
    /// A thread or runtime could not be created.
    #[error("cannot start the LSP's threads: {0}")]
    Runtime(std::io::Error),
    /// Syncing the wallets with the chain failed.
    #[error("wallet sync failed: {source} (is the Esplora API at {esplora_url} reachable?)")]
    Sync {
        /// ldk-node's error.
        source: NodeError,
        /// The configured chain source.
        esplora_url: String,
    },
    /// The on-chain wallet failed.
    #[error("the on-chain wallet failed: {0}")]
    Wallet(NodeError),
    /// The node did not stop cleanly.
    #[error("ldk-node did not stop cleanly: {0}")]
    Stop(NodeError),
}
