//! The wake's connections: the socket is ours (connected with a deadline, `TCP_NODELAY` on),
//! then handed to lightning-net-tokio. With Nagle's algorithm on, LDK's two writes of a claim
//! (`update_fulfill_htlc`, then `commitment_signed`) wait for a delayed ACK between them: a
//! stall of up to ~40 ms per round trip on loopback, more on a phone's network.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::ln::peer_handler::APeerManager;
use lightning_net_tokio::SocketDescriptor;

use super::stack::PeerManager;
use crate::config::ParsedLsp;

/// The first pause between two attempts to reach a node; it doubles, up to
/// [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between two attempts to reach a node.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);
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

/// What the wake's connections need of a peer manager: the wake's own, or (in tests) a bare
/// one.
pub(crate) trait Peers:
    APeerManager<Descriptor = SocketDescriptor> + Send + Sync + 'static
{
}
impl<T: APeerManager<Descriptor = SocketDescriptor> + Send + Sync + 'static> Peers for T {}

fn is_peer(peers: &impl Peers, node: &PublicKey) -> bool {
    APeerManager::as_ref(peers).peer_by_node_id(node).is_some()
}

/// Runs the Lightning handshake with `node` over `stream`, waiting until `deadline` (and at
/// most [`HANDSHAKE_WAIT`]); whether `node` is then a peer. A node that closes the connection
/// first (LDK closes a second connection from a node it still counts as connected, e.g. one a
/// suspended app left open) is given up on at once, not after the whole wait.
async fn handshake(
    peers: &Arc<impl Peers>,
    node: PublicKey,
    stream: TcpStream,
    deadline: Instant,
) -> bool {
    let connection = crate::tasks::spawn_here(lightning_net_tokio::setup_outbound(
        Arc::clone(peers),
        node,
        stream,
    ));
    let handshake_by = deadline.min(Instant::now() + HANDSHAKE_WAIT);
    while Instant::now() < handshake_by {
        if is_peer(&**peers, &node) {
            return true;
        }
        if connection.is_finished() {
            log::debug!("wake: {node} closed the connection before the handshake completed");
            return false;
        }
        tokio::time::sleep(HANDSHAKE_POLL).await;
    }
    false
}

/// Opens one connection to `node` at `address` and waits (until `deadline`, and at most
/// [`HANDSHAKE_WAIT`]) for the Lightning handshake; whether `node` is then a peer.
async fn connect_once(
    peers: &Arc<impl Peers>,
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
        log::debug!("wake: {node} at {target} did not complete the handshake");
    }
    false
}

/// Connects to `node` at any of `addresses`, trying them all again after a failure with a
/// growing pause, until `deadline`; whether `node` is then a peer (also when another task
/// connected it meanwhile).
async fn connect_until(
    peers: &Arc<impl Peers>,
    node: PublicKey,
    addresses: &[SocketAddress],
    deadline: Instant,
) -> bool {
    let mut pause = FIRST_RETRY_PAUSE;
    loop {
        if is_peer(&**peers, &node) {
            return true;
        }
        for address in addresses {
            if connect_once(peers, node, address, deadline).await {
                return true;
            }
        }
        if Instant::now() + pause >= deadline {
            return false;
        }
        // The node is down, the network is not up yet, or the node still counts an older
        // connection of ours as open (until its ping times out).
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
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
    connect_until(peers, lsp.node_id, std::slice::from_ref(&lsp.address), deadline).await
}

/// Connects to `node` for the onion messenger (the release going to the payer's LSP), trying
/// again like [`connect_lsp`] until `deadline`: the message waits in the messenger meanwhile,
/// and without it the payer's LSP never releases the HTLC. A failure only logs.
pub(crate) async fn connect_peer(
    peers: Arc<PeerManager>,
    node: PublicKey,
    addresses: Vec<SocketAddress>,
    deadline: Instant,
) {
    if connect_until(&peers, node, &addresses, deadline).await {
        log::debug!("wake: connected to {node} for an onion message");
    } else {
        log::info!(
            "wake: could not connect to {node} for an onion message ({} address(es))",
            addresses.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::lightning::ln::msgs::SocketAddress;
    use ldk_node::lightning::ln::peer_handler::{
        ErroringMessageHandler, IgnoringMessageHandler, PeerManager,
    };
    use ldk_node::lightning::sign::{KeysManager, NodeSigner, Recipient};
    use ldk_node::lightning::util::logger::{Logger, Record};
    use lightning_net_tokio::SocketDescriptor;

    use super::{connect_until, HANDSHAKE_WAIT};

    struct Quiet;
    impl Logger for Quiet {
        fn log(&self, _: Record) {}
    }

    type Bare = PeerManager<
        SocketDescriptor,
        ErroringMessageHandler,
        IgnoringMessageHandler,
        IgnoringMessageHandler,
        Arc<Quiet>,
        IgnoringMessageHandler,
        Arc<KeysManager>,
        IgnoringMessageHandler,
    >;

    /// A peer manager that speaks only the handshake, and its node id.
    fn bare_node(seed: u8) -> (Arc<Bare>, PublicKey) {
        let keys = Arc::new(KeysManager::new(&[seed; 32], 1, 0, true));
        let id = keys.get_node_id(Recipient::Node).unwrap();
        let peers = PeerManager::new_routing_only(
            IgnoringMessageHandler {},
            1,
            &[seed; 32],
            Arc::new(Quiet),
            keys,
        );
        (Arc::new(peers), id)
    }

    fn address_of(listener: &tokio::net::TcpListener) -> SocketAddress {
        match listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => {
                SocketAddress::TcpIpV4 { addr: a.ip().octets(), port: a.port() }
            }
            std::net::SocketAddr::V6(_) => unreachable!("bound on 127.0.0.1"),
        }
    }

    /// A node that closes our first connection (as LDK closes a second connection from a node
    /// it still counts as connected) is tried again at once, and the second one is a peer.
    #[tokio::test]
    async fn a_refused_connection_is_tried_again_without_waiting_out_the_handshake() {
        let (server, server_id) = bare_node(1);
        let (client, _) = bare_node(2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = address_of(&listener);
        tokio::spawn(async move {
            let (refused, _) = listener.accept().await.unwrap();
            drop(refused);
            let (stream, _) = listener.accept().await.unwrap();
            let stream = stream.into_std().unwrap();
            lightning_net_tokio::setup_inbound(server, stream).await;
        });
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        assert!(connect_until(&client, server_id, &[address], deadline).await);
        assert!(
            started.elapsed() < HANDSHAKE_WAIT,
            "the refusal was waited out: {:?}",
            started.elapsed()
        );
    }

    /// A node nobody answers for is given up on at the deadline, not before and not long after.
    #[tokio::test]
    async fn an_unreachable_node_is_tried_until_the_deadline() {
        let (client, _) = bare_node(2);
        let (_, absent_id) = bare_node(3);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = address_of(&listener);
        drop(listener);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(400);
        assert!(!connect_until(&client, absent_id, &[address], deadline).await);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "gave up after {took:?}");
        assert!(took < Duration::from_secs(5), "gave up after {took:?}");
    }
}
