//! The wake's connections: the socket is ours (connected with a deadline, `TCP_NODELAY` on),
//! then handed to lightning-net-tokio. With Nagle's algorithm on, LDK's two writes of a claim
//! (`update_fulfill_htlc`, then `commitment_signed`) wait for a delayed ACK between them: a
//! stall of up to ~40 ms per round trip on loopback, more on a phone's network.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::ln::msgs::SocketAddress;

use super::stack::PeerManager;
use crate::config::ParsedLsp;

/// The first pause between two attempts to reach the LSP; it doubles, up to 2 s.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How long one attempt waits for the LSP's handshake before trying a new connection.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);
/// How often the handshake's completion is looked at (LDK signals no "peer connected").
const HANDSHAKE_POLL: Duration = Duration::from_millis(2);

async fn resolve(address: &SocketAddress) -> Vec<SocketAddr> {
    match address {
        SocketAddress::TcpIpV4 { addr, port } => vec![SocketAddr::from((*addr, *port))],
        SocketAddress::TcpIpV6 { addr, port } => vec![SocketAddr::from((*addr, *port))],
        SocketAddress::Hostname { hostname, port } => {
            match tokio::net::lookup_host((hostname.as_str(), *port)).await {
                Ok(addresses) => addresses.collect(),
                Err(e) => {
                    log::debug!("wake: cannot resolve {hostname}: {e}");
                    Vec::new()
                }
            }
        }
        // Tor needs a proxy the wake does not have.
        SocketAddress::OnionV2(_) | SocketAddress::OnionV3 { .. } => Vec::new(),
    }
}

/// Opens a TCP connection to `target` by `deadline` (`TCP_NODELAY` on), as a std socket for
/// lightning-net-tokio.
async fn dial(node: PublicKey, target: SocketAddr, deadline: Instant) -> Option<TcpStream> {
    let connect = tokio::net::TcpStream::connect(target);
    let stream = match tokio::time::timeout_at(deadline.into(), connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            log::debug!("wake: cannot connect to {node} at {target}: {e}");
            return None;
        }
        Err(_) => return None,
    };
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("wake: TCP_NODELAY not set: {e}");
    }
    stream
        .into_std()
        .map_err(|e| log::debug!("wake: cannot hand over the connection to {node}: {e}"))
        .ok()
}

/// Runs the Lightning handshake with `node` over `stream`, waiting until `deadline` (and at
/// most [`HANDSHAKE_WAIT`]); whether `node` is then a peer.
async fn handshake(
    peers: &Arc<PeerManager>,
    node: PublicKey,
    stream: TcpStream,
    deadline: Instant,
) -> bool {
    crate::tasks::spawn_here(lightning_net_tokio::setup_outbound(Arc::clone(peers), node, stream));
    let handshake_by = deadline.min(Instant::now() + HANDSHAKE_WAIT);
    while Instant::now() < handshake_by {
        if peers.peer_by_node_id(&node).is_some() {
            return true;
        }
        tokio::time::sleep(HANDSHAKE_POLL).await;
    }
    false
}

/// Opens one connection to `node` at `address` and waits (until `deadline`, and at most
/// [`HANDSHAKE_WAIT`]) for the Lightning handshake; whether `node` is then a peer.
async fn connect_once(
    peers: &Arc<PeerManager>,
    node: PublicKey,
    address: &SocketAddress,
    deadline: Instant,
) -> bool {
    for target in resolve(address).await {
        let Some(stream) = dial(node, target, deadline).await else {
            if Instant::now() >= deadline {
                return false;
            }
            continue;
        };
        if handshake(peers, node, stream, deadline).await {
            return true;
        }
        log::debug!("wake: {node} at {target} did not complete the handshake in time");
    }
    false
}

/// A TCP connection to the LSP, dialled while the wake still reads its store: by the time the
/// stack can speak Lightning, the connection's round trip is behind it. Nothing is sent on it
/// before [`connect_lsp`] (a device that no longer holds the wallet, which opening the store
/// finds out, must never reestablish its channels with an old state).
pub(crate) type EarlyConnection = tokio::task::JoinHandle<Option<TcpStream>>;

/// Dials the LSP on `runtime` now (see [`EarlyConnection`]), for at most [`HANDSHAKE_WAIT`].
pub(crate) fn dial_early(runtime: &tokio::runtime::Handle, lsp: &ParsedLsp) -> EarlyConnection {
    let (node, address) = (lsp.node_id, lsp.address.clone());
    runtime.spawn(async move {
        let target = *resolve(&address).await.first()?;
        dial(node, target, Instant::now() + HANDSHAKE_WAIT).await
    })
}

/// Connects to the LSP, trying again after a failure with a growing pause, until `deadline`;
/// whether it is connected.
pub(crate) async fn connect_lsp(
    peers: &Arc<PeerManager>,
    lsp: &ParsedLsp,
    early: Option<EarlyConnection>,
    deadline: Instant,
) -> bool {
    if let Some(early) = early {
        if let Ok(Ok(Some(stream))) = tokio::time::timeout_at(deadline.into(), early).await {
            if handshake(peers, lsp.node_id, stream, deadline).await {
                return true;
            }
            log::debug!("wake: the LSP did not complete the handshake on the early connection");
        }
    }
    let address = &lsp.address;
    let mut pause = FIRST_RETRY_PAUSE;
    loop {
        if connect_once(peers, lsp.node_id, address, deadline).await {
            return true;
        }
        if Instant::now() + pause >= deadline {
            return false;
        }
        // The LSP is down, or the network is not up yet.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Connects to `node` at the first of `addresses` that answers, for the onion messenger (the
/// release going to the payer's LSP); a failure only logs (the message then waits in the
/// messenger until the deadline).
pub(crate) async fn connect_peer(
    peers: Arc<PeerManager>,
    node: PublicKey,
    addresses: Vec<SocketAddress>,
    deadline: Instant,
) {
    if peers.peer_by_node_id(&node).is_some() {
        return;
    }
    for address in &addresses {
        if connect_once(&peers, node, address, deadline).await {
            log::debug!("wake: connected to {node} at {address} for an onion message");
            return;
        }
    }
    log::info!(
        "wake: could not connect to {node} for an onion message ({} address(es))",
        addresses.len()
    );
}
