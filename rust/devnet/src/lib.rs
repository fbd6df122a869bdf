//! `doze-devnet`: a real local regtest chain behind an Esplora HTTP API, bitcoind's JSON-RPC
//! ([`bitcoind_rpc`]) and the Electrum protocol, so that ldk-node's three chain sources, BDK's
//! wallet sync and LDK's transaction sync run against it unmodified.
//!
//! No bitcoind is available where Doze is built and tested; this crate is its regtest. Blocks
//! are real (BIP34 coinbase, witness commitment, merkle root, regtest proof of work), the
//! mempool checks inputs, coinbase maturity, lock times and scripts (libbitcoinconsensus), and a
//! control API mines, funds and reorganises on demand.
//!
//! ```no_run
//! let devnet = doze_devnet::Devnet::start().unwrap();
//! println!("Esplora at {}", devnet.esplora_url());
//! println!("bitcoind RPC at {}", devnet.bitcoind_rpc().url());
//! println!("Electrum at {}", devnet.electrum_url());
//! devnet.mine(1);
//! ```

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bitcoind_rpc;
mod chain;
pub mod control;
mod electrum;
pub mod esplora;
mod faucet;
mod mempool;
mod mining;
// The multi-node harness for tests: its helpers panic with a message instead of returning errors.
#[allow(clippy::expect_used, clippy::unwrap_used)]
pub mod nodes;
mod state;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::{Address, Amount, BlockHash, OutPoint, Transaction, TxOut, Txid};
use tokio::sync::oneshot;

pub use bitcoind_rpc::BitcoindRpc;
pub use chain::{Chain, Coin, COINBASE_MATURITY};
pub use faucet::{Faucet, FundError};
pub use mempool::Rejection;
pub use state::{DevnetState, INITIAL_BLOCKS};

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// A listener could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The server's runtime could not be created.
    #[error("could not start the devnet's runtime: {0}")]
    Runtime(std::io::Error),
    /// The devnet's directory or its RPC cookie file could not be written.
    #[error("could not write the devnet's directory (the bitcoind RPC cookie): {0}")]
    Dir(std::io::Error),
}

/// Where a devnet's servers listen (port 0: one the OS picks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The HTTP server: Esplora and the control API.
    pub esplora: SocketAddr,
    /// bitcoind's JSON-RPC ([`bitcoind_rpc`]).
    pub bitcoind_rpc: SocketAddr,
    /// The Electrum protocol over TCP.
    pub electrum: SocketAddr,
}

impl Listen {
    /// Every server on a loopback port the OS picks.
    pub fn loopback() -> Listen {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Listen { esplora: any, bitcoind_rpc: any, electrum: any }
    }
}

/// A running devnet: the chain and its servers (Esplora + control API over HTTP, bitcoind's
/// JSON-RPC, Electrum over TCP) on loopback. Dropping it stops them.
pub struct Devnet {
    state: Arc<DevnetState>,
    addr: SocketAddr,
    rpc: BitcoindRpc,
    electrum_addr: SocketAddr,
    // Holds the RPC cookie, as bitcoind's data directory does; removed with the devnet.
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

fn bind(addr: SocketAddr) -> Result<TcpListener, DevnetError> {
    let bound = TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l));
    bound.map_err(|source| DevnetError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, DevnetError> {
    listener.local_addr().map_err(|source| DevnetError::Bind { addr: asked, source })
}

impl Devnet {
    /// Starts a devnet with every server on a random loopback port.
    pub fn start() -> Result<Devnet, DevnetError> {
        Self::start_with(Listen::loopback())
    }

    /// Starts a devnet whose Esplora API listens on `addr` (the other servers on random
    /// loopback ports).
    pub fn start_on(addr: SocketAddr) -> Result<Devnet, DevnetError> {
        Self::start_with(Listen { esplora: addr, ..Listen::loopback() })
    }

    /// Starts a devnet with its servers where `listen` says.
    pub fn start_with(listen: Listen) -> Result<Devnet, DevnetError> {
        let http = bind(listen.esplora)?;
        let rpc_listener = bind(listen.bitcoind_rpc)?;
        let electrum = bind(listen.electrum)?;
        let addr = local_addr(&http, listen.esplora)?;
        let rpc_addr = local_addr(&rpc_listener, listen.bitcoind_rpc)?;
        let electrum_addr = local_addr(&electrum, listen.electrum)?;
        let dir =
            tempfile::Builder::new().prefix("doze-devnet-").tempdir().map_err(DevnetError::Dir)?;
        let (rpc, logins) = bitcoind_rpc::logins(dir.path(), rpc_addr).map_err(DevnetError::Dir)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("devnet-http")
            .enable_all()
            .build()
            .map_err(DevnetError::Runtime)?;
        let state = Arc::new(DevnetState::new());
        let app = esplora::routes().merge(control::routes()).with_state(Arc::clone(&state));
        let rpc_app = bitcoind_rpc::router(Arc::clone(&state), logins);
        let electrum_state = Arc::clone(&state);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = std::thread::Builder::new()
            .name("devnet".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listeners = (
                        tokio::net::TcpListener::from_std(http),
                        tokio::net::TcpListener::from_std(rpc_listener),
                        tokio::net::TcpListener::from_std(electrum),
                    );
                    let (http, rpc_listener, electrum) = match listeners {
                        (Ok(h), Ok(r), Ok(e)) => (h, r, e),
                        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
                            log::error!("devnet: cannot serve: {e}");
                            return;
                        }
                    };
                    // Not a graceful shutdown: keep-alive clients (nodes still polling) must
                    // not keep a dropped devnet alive.
                    tokio::select! {
                        result = axum::serve(http, app) => {
                            if let Err(e) = result {
                                log::error!("devnet: server stopped: {e}");
                            }
                        }
                        result = axum::serve(rpc_listener, rpc_app) => {
                            if let Err(e) = result {
                                log::error!("devnet: bitcoind RPC server stopped: {e}");
                            }
                        }
                        () = electrum::serve(electrum, electrum_state) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(DevnetError::Runtime)?;
        log::info!(
            "devnet: Esplora API at http://{addr}, bitcoind RPC at {}, Electrum at \
             tcp://{electrum_addr}",
            rpc.url()
        );
        Ok(Devnet {
            state,
            addr,
            rpc,
            electrum_addr,
            _dir: dir,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    /// The base URL to give ldk-node's `set_chain_source_esplora`.
    pub fn esplora_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How to reach bitcoind's JSON-RPC (for ldk-node's `set_chain_source_bitcoind_rpc`):
    /// host, port, a user and password, and the cookie file.
    pub fn bitcoind_rpc(&self) -> &BitcoindRpc {
        &self.rpc
    }

    /// The URL to give ldk-node's `set_chain_source_electrum`: `tcp://127.0.0.1:PORT`.
    pub fn electrum_url(&self) -> String {
        format!("tcp://{}", self.electrum_addr)
    }

    /// The shared chain state, for assertions and hand-made transactions.
    pub fn state(&self) -> &DevnetState {
        &self.state
    }

    /// Mines `count` blocks to a throwaway key (confirming the whole mempool).
    pub fn mine(&self, count: u32) -> Vec<BlockHash> {
        self.state.mine(count, None)
    }

    /// Mines `count` blocks with nothing but their coinbase; the mempool keeps waiting.
    pub fn mine_empty(&self, count: u32) -> Vec<BlockHash> {
        self.state.mine_empty(count)
    }

    /// Mines `count` blocks paying the coinbase to `address`.
    pub fn mine_to(&self, address: &Address, count: u32) -> Vec<BlockHash> {
        self.state.mine(count, Some(address.script_pubkey()))
    }

    /// Sends `amount` from the devnet's faucet to `address`, into the mempool.
    pub fn fund(&self, address: &Address, amount: Amount) -> Result<Txid, FundError> {
        self.state.fund(address.script_pubkey(), amount)
    }

    /// Funds `address` and mines a block so the coin is confirmed.
    pub fn fund_confirmed(&self, address: &Address, amount: Amount) -> Result<Txid, FundError> {
        let txid = self.fund(address, amount)?;
        self.mine(1);
        Ok(txid)
    }

    /// Submits a transaction to the mempool.
    pub fn broadcast(&self, tx: Transaction) -> Result<Txid, Rejection> {
        self.state.broadcast(tx)
    }

    /// Waits until `txid` is in the mempool; returns whether it arrived within `timeout`.
    pub fn wait_for_mempool(&self, txid: &Txid, timeout: Duration) -> bool {
        self.state.wait_until(timeout, |c| c.mempool.get(txid).is_some())
    }

    /// Waits until the mempool holds at least `count` transactions.
    pub fn wait_for_mempool_len(&self, count: usize, timeout: Duration) -> bool {
        self.state.wait_until(timeout, |c| c.mempool.len() >= count)
    }

    /// Whether `txid` is waiting in the mempool.
    pub fn in_mempool(&self, txid: &Txid) -> bool {
        self.state.chain().mempool.get(txid).is_some()
    }

    /// Number of transactions in the mempool.
    pub fn mempool_len(&self) -> usize {
        self.state.chain().mempool.len()
    }

    /// Whether `txid` is confirmed on the best chain, and at which height.
    pub fn confirmation_height(&self, txid: &Txid) -> Option<u32> {
        self.state.chain().txs.get(txid).map(|c| c.height)
    }

    /// The best block's height and hash.
    pub fn tip(&self) -> (u32, BlockHash) {
        let chain = self.state.chain();
        (chain.tip_height(), chain.tip_hash())
    }

    /// Disconnects the last `count` blocks; their transactions return to the mempool where
    /// still valid. Mine afterwards to build the competing chain.
    pub fn invalidate(&self, count: u32) -> Vec<BlockHash> {
        self.state.invalidate(count)
    }

    /// Faucet coins spendable in the next block, for tests that build their own transactions.
    pub fn faucet_coins(&self) -> Vec<(OutPoint, TxOut)> {
        self.state.chain().faucet_coins(self.state.faucet())
    }

    /// The faucet (its key signs hand-made test transactions).
    pub fn faucet(&self) -> &Faucet {
        self.state.faucet()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            let _ = handle.join();
        }
    }
}
