//! Doze's own hop between the app's node and each LSP: a loopback listener per LSP that carries
//! ldk-node's connection to the LSP's real address, and a [`Fence`] that cuts every such
//! connection at once.
//!
//! Why a hop of our own: ldk-node opens its sockets itself and gives no way to close them, and
//! LDK sends a channel update to the peer as soon as the store answered the write it depends
//! on. Two moments need the peer cut off *before* LDK goes on:
//!
//! - **A write that cannot be made durable** (the backup server refused it because another
//!   device restored the wallet, or it cannot be reached, or the disk is full). LDK panics when
//!   a write fails, so the store answers it as done (`store/node_store.rs`); the fence is cut
//!   first, so that nothing LDK sends from then on (the `revoke_and_ack` or `commitment_signed`
//!   that depended on it) reaches the peer, and the state the peer knows stays the one on disk
//!   and in the backup. The node is then stopped.
//! - **Pause and stop.** ldk-node's `stop()` disconnects its peers, but a `connect` running on
//!   another thread can finish after that and leave a connection to a stopped node, which the
//!   LSP keeps (it refuses a second connection from the same node, so the next start could not
//!   reach it) and answers for the stopped node. Cutting the fence first makes that impossible.
//!
//! Each relay listens on 127.0.0.1 on a port of its own; ldk-node is given that address for the
//! LSP (connects, the LSPS2 liquidity source, and its stored peer list, see [`point_peers_at`]),
//! and the relay connects on to the LSP with `TCP_NODELAY`. Bytes from ldk-node are forwarded
//! only while the fence is whole: the check comes after each read, so anything ldk-node writes
//! after the fence is cut is never forwarded. A relayed connection that ends while the fence is
//! whole is reported, so that the session reconnects in a moment rather than at ldk-node's next
//! 60 s round.
//!
//! Only the LSPs are relayed: they are the peers of every channel a Doze phone has. Peers the
//! node reaches for onion messages only (another LSP of a payer) are connected by ldk-node
//! directly and carry no channel state.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::io;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::util::persist::KVStoreSync;
use ldk_node::lightning::util::ser::{BigSize, Readable, Writeable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::error::WalletError;

/// How long a relay waits for the LSP to accept a connection (ldk-node's own timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Cuts every relayed connection of a session at once; once cut, stays cut.
pub(crate) struct Fence {
    cut: AtomicBool,
    signal: watch::Sender<bool>,
}

impl Fence {
    /// A whole fence.
    pub(crate) fn new() -> Arc<Fence> {
        Arc::new(Fence { cut: AtomicBool::new(false), signal: watch::Sender::new(false) })
    }

    /// Cuts the fence: from the moment this returns, no byte ldk-node writes to an LSP is
    /// forwarded, no connection is accepted, and every relayed connection closes.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.signal.send_replace(true);
    }

    /// Whether the fence is cut.
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Returns once the fence is cut.
    pub(crate) async fn wait(&self) {
        let mut cut = self.signal.subscribe();
        let _ = cut.wait_for(|cut| *cut).await;
    }
}

/// A relayed connection ended while the fence was whole: which LSP, and how long it lasted.
pub(crate) type Ended = (PublicKey, Duration);

/// The loopback address ldk-node is given for an LSP.
#[derive(Debug, Clone)]
pub(crate) struct LspRelay {
    /// The LSP.
    pub node_id: PublicKey,
    /// Where ldk-node connects to reach it.
    pub local: SocketAddress,
}

/// Starts a relay to `upstream` (the LSP `node_id`) on `runtime`, cut by `fence`; the
/// connections it carries report their end on `ended`. A Tor address cannot be relayed (the
/// phone has no Tor proxy): [`WalletError::InvalidConfig`], and the caller connects directly.
pub(crate) fn start(
    runtime: &tokio::runtime::Handle,
    node_id: PublicKey,
    upstream: &SocketAddress,
    fence: Arc<Fence>,
    ended: mpsc::UnboundedSender<Ended>,
) -> Result<LspRelay, WalletError> {
    if matches!(upstream, SocketAddress::OnionV2(_) | SocketAddress::OnionV3 { .. }) {
        return Err(WalletError::InvalidConfig(format!(
            "the LSP address {upstream} is a Tor address, which the wallet cannot relay"
        )));
    }
    let failed = |e: std::io::Error| WalletError::Node(format!("cannot relay to the LSP: {e}"));
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    let listener = {
        let _context = runtime.enter();
        TcpListener::from_std(listener).map_err(failed)?
    };
    let upstream = upstream.to_string();
    crate::tasks::spawn(runtime, serve(listener, upstream, node_id, fence, ended));
    Ok(LspRelay { node_id, local: SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port } })
}

/// Accepts ldk-node's connections until the fence is cut.
async fn serve(
    listener: TcpListener,
    upstream: String,
    node_id: PublicKey,
    fence: Arc<Fence>,
    ended: mpsc::UnboundedSender<Ended>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = fence.wait() => return,
        };
        match accepted {
            Ok((local, from)) if is_loopback(&from) => {
                let carry = carry(local, upstream.clone(), node_id, Arc::clone(&fence));
                let ended = ended.clone();
                let fence = Arc::clone(&fence);
                crate::tasks::spawn_here(async move {
                    let lasted = carry.await;
                    if !fence.is_cut() {
                        let _ = ended.send((node_id, lasted));
                    }
                });
            }
            Ok(_) => {}
            // Out of file descriptors or similar: the next accept may work; do not spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn is_loopback(address: &SocketAddr) -> bool {
    address.ip().is_loopback()
}

/// Carries one connection until either side closes it or the fence is cut; returns how long
/// it lasted.
async fn carry(
    local: TcpStream,
    upstream: String,
    node_id: PublicKey,
    fence: Arc<Fence>,
) -> Duration {
    let started = Instant::now();
    let _ = local.set_nodelay(true);
    let remote = tokio::select! {
        remote = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream.as_str())) => {
            remote
        }
        _ = fence.wait() => return started.elapsed(),
    };
    let remote = match remote {
        Ok(Ok(remote)) => remote,
        Ok(Err(e)) => {
            log::debug!("relay: cannot reach the LSP {node_id} at {upstream}: {e}");
            return started.elapsed();
        }
        Err(_) => {
            log::debug!("relay: the LSP {node_id} at {upstream} did not answer in time");
            return started.elapsed();
        }
    };
    // LDK writes each message on its own; without this the second of a pair waits for the
    // LSP's delayed acknowledgement.
    let _ = remote.set_nodelay(true);
    let (local_read, local_write) = local.into_split();
    let (remote_read, remote_write) = remote.into_split();
    // Returning drops all four halves: both sockets close.
    tokio::select! {
        _ = forward(local_read, remote_write, &fence) => {}
        _ = forward(remote_read, local_write, &fence) => {}
        _ = fence.wait() => {}
    }
    started.elapsed()
}

/// Copies `from` to `to` while the fence is whole. The fence is checked after each read and
/// before the write: what ldk-node wrote after the fence was cut is never forwarded.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, fence: &Fence) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if fence.is_cut() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// ldk-node's key of its stored peer list (`peer_store.rs`: namespaces "" and "").
pub(crate) const PEERS_KEY: &str = "peers";

/// Points ldk-node's stored peer list at this session's relays before the node is built: each
/// relayed LSP is stored with its relay's address, so that ldk-node's own reconnections go
/// through the relay too (and, since the LSP is then known, ldk-node never adds it with its
/// public address when the LSP opens a channel). Other peers are kept as they are.
///
/// The list is ldk-node 0.7's `PeerStore` encoding: a `u16` count, then each peer's node id
/// and its `PeerInfo` (TLV: 0 node id, 2 address). A list that does not decode is replaced.
pub(crate) fn point_peers_at(
    store: &dyn KVStoreSync,
    relays: &[LspRelay],
) -> Result<(), WalletError> {
    let mut peers = match store.read("", "", PEERS_KEY) {
        Ok(bytes) => decode_peers(&bytes).unwrap_or_else(|| {
            log::warn!("the node's peer list did not decode; it is written anew");
            Vec::new()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(WalletError::Storage(format!("cannot read the peer list: {e}"))),
    };
    peers.retain(|(id, _)| !relays.iter().any(|r| r.node_id == *id));
    peers.extend(relays.iter().map(|r| (r.node_id, r.local.clone())));
    store
        .write("", "", PEERS_KEY, encode_peers(&peers))
        .map_err(|e| WalletError::Storage(format!("cannot write the peer list: {e}")))
}

pub(crate) fn decode_peers(mut bytes: &[u8]) -> Option<Vec<(PublicKey, SocketAddress)>> {
    let reader = &mut bytes;
    let count: u16 = Readable::read(reader).ok()?;
    let mut peers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let _key: PublicKey = Readable::read(reader).ok()?;
        peers.push(decode_peer_info(reader)?);
    }
    Some(peers)
}

/// ldk-node's `PeerInfo` (`impl_writeable_tlv_based!`: the stream's length, then records of
/// type, length and value: 0 the node id, 2 the address).
fn decode_peer_info(reader: &mut &[u8]) -> Option<(PublicKey, SocketAddress)> {
    let length: BigSize = Readable::read(reader).ok()?;
    let length = usize::try_from(length.0).ok()?;
    let mut stream = reader.get(..length)?;
    *reader = &reader[length..];
    let (mut node_id, mut address) = (None, None);
    while !stream.is_empty() {
        let kind: BigSize = Readable::read(&mut stream).ok()?;
        let length: BigSize = Readable::read(&mut stream).ok()?;
        let length = usize::try_from(length.0).ok()?;
        let mut value = stream.get(..length)?;
        stream = &stream[length..];
        match kind.0 {
            0 => node_id = Some(Readable::read(&mut value).ok()?),
            2 => address = Some(Readable::read(&mut value).ok()?),
            // Unknown even records must be understood; odd ones may be skipped.
            other if other % 2 == 0 => return None,
            _ => {}
        }
    }
    Some((node_id?, address?))
}

pub(crate) fn encode_peers(peers: &[(PublicKey, SocketAddress)]) -> Vec<u8> {
    let mut bytes = (peers.len() as u16).encode();
    for (node_id, address) in peers {
        let mut stream = Vec::new();
        for (kind, value) in [(0u64, node_id.encode()), (2, address.encode())] {
            stream.extend(BigSize(kind).encode());
            stream.extend(BigSize(value.len() as u64).encode());
            stream.extend(value);
        }
        bytes.extend(node_id.encode());
        bytes.extend(BigSize(stream.len() as u64).encode());
        bytes.extend(stream);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PublicKey {
        use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[byte; 32]).unwrap())
    }

    #[test]
    fn the_peer_list_round_trips_in_ldk_nodes_encoding() {
        let peers = vec![
            (key(1), SocketAddress::TcpIpV4 { addr: [10, 0, 0, 1], port: 9735 }),
            (key(2), "lsp.example.com:9735".parse().unwrap()),
        ];
        assert_eq!(decode_peers(&encode_peers(&peers)), Some(peers));
        assert_eq!(decode_peers(&[0, 3, 1]), None);
    }

    #[test]
    fn relays_replace_their_lsps_and_keep_other_peers() {
        struct Memory(std::sync::Mutex<Option<Vec<u8>>>);
        impl KVStoreSync for Memory {
            fn read(&self, _: &str, _: &str, _: &str) -> io::Result<Vec<u8>> {
                self.0.lock().unwrap().clone().ok_or(io::ErrorKind::NotFound.into())
            }
            fn write(&self, _: &str, _: &str, _: &str, buf: Vec<u8>) -> io::Result<()> {
                *self.0.lock().unwrap() = Some(buf);
                Ok(())
            }
            fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> io::Result<()> {
                Ok(())
            }
            fn list(&self, _: &str, _: &str) -> io::Result<Vec<String>> {
                Ok(Vec::new())
            }
        }
        let public = SocketAddress::TcpIpV4 { addr: [10, 0, 0, 1], port: 9735 };
        let other = (key(3), SocketAddress::TcpIpV4 { addr: [10, 0, 0, 3], port: 9735 });
        let store =
            Memory(std::sync::Mutex::new(Some(encode_peers(&[(key(1), public), other.clone()]))));
        let relay = LspRelay {
            node_id: key(1),
            local: SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 4000 },
        };
        point_peers_at(&store, std::slice::from_ref(&relay)).unwrap();
        let stored = decode_peers(&store.0.lock().unwrap().clone().unwrap()).unwrap();
        assert_eq!(stored, vec![other, (key(1), relay.local)]);
    }
}
