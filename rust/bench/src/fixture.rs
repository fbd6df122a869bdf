//! A mainnet-size wallet store, for tests and benchmarks that must see what a phone sees after
//! months on mainnet: a network graph of mainnet size (≈13k nodes, ≈45k channels) in ldk-node's
//! store, 100k payments in both ldk-node's payment store and Doze's history, and the address
//! book the app builds from that graph. A devnet wallet's store has a graph of a handful of
//! nodes, which hides what loading the graph costs (ldk-node reads all of it in `build()`).
//!
//! Generation is seeded, so the graph's shape (keys, channels, addresses, fees) is the same on
//! every run; only timestamps follow the clock, because LDK refuses channel updates more than
//! two weeks old. The store is written directly (ldk-node's KV table, Doze's history table):
//! ldk-node and Doze would write the same records one at a time as they happen.

use doze_testkit::phone::config_without_lsp;
use std::io::Cursor;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use doze_core::{PaymentDirection, PaymentFilter, PaymentStatus, StorageLock, Wallet};
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::Network;
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::{
    SocketAddress, UnsignedChannelUpdate, UnsignedNodeAnnouncement,
};
use ldk_node::lightning::routing::gossip::{NetworkGraph, NodeAlias, NodeId};
use ldk_node::lightning::types::features::{ChannelFeatures, NodeFeatures};
use ldk_node::lightning::util::logger::{Logger, Record};
use ldk_node::lightning::util::persist::{
    KVStoreSync, NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
};
use ldk_node::lightning::util::ser::{Hostname, ReadableArgs, Writeable};
use ldk_node::lightning_types::payment::PaymentHash;
use ldk_node::payment::{
    PaymentDetails, PaymentDirection as NodeDirection, PaymentKind, PaymentStatus as NodeStatus,
};

/// Nodes in mainnet's public graph (2025: ≈13k).
pub const MAINNET_NODES: usize = 13_000;
/// Channels in mainnet's public graph (2025: ≈45k).
pub const MAINNET_CHANNELS: usize = 45_000;
/// The seed of every generated value: same seed, same graph.
const SEED: u64 = 0xd02e_f1c7_0e5e_ed01;
/// Share of generated nodes announcing at least one address (mainnet: about 60 %).
const ADDRESS_SHARE: f64 = 0.6;
/// Share of generated nodes announcing onion-message support.
const ONION_MESSAGE_SHARE: f64 = 0.8;
/// Generated channels sit from this block on, far above any devnet's chain.
const FIRST_BLOCK: u64 = 600_000;
/// The first fixture payment's timestamp (Nov 2023): older than any payment a test makes, so
/// the wallet's own payments stay the newest.
const FIRST_PAYMENT_SECS: u64 = 1_700_000_000;
/// Seconds between two fixture payments.
const PAYMENT_SPACING_SECS: u64 = 60;

/// Why the fixture could not fill a store.
#[derive(Debug)]
pub struct FixtureError(pub String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

fn fail(what: &str, e: impl std::fmt::Display) -> FixtureError {
    FixtureError(format!("{what}: {e}"))
}

/// What a fill left in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureStats {
    /// Nodes in the stored graph (the ones that were there plus the generated ones).
    pub nodes: usize,
    /// Channels in the stored graph.
    pub channels: usize,
    /// Nodes whose announcement has at least one address.
    pub nodes_with_addresses: usize,
    /// Nodes announcing onion-message support.
    pub onion_message_nodes: usize,
    /// Rows of the address book built from the graph.
    pub address_book_rows: usize,
    /// Payments added to ldk-node's payment store and to Doze's history.
    pub payments: u64,
    /// Size of the serialized graph in ldk-node's store.
    pub graph_bytes: usize,
}

impl FixtureStats {
    /// The counts as JSON, for the bench binaries' output.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "nodes": self.nodes,
            "channels": self.channels,
            "nodes_with_addresses": self.nodes_with_addresses,
            "onion_message_nodes": self.onion_message_nodes,
            "address_book_rows": self.address_book_rows,
            "payments": self.payments,
            "graph_bytes": self.graph_bytes,
        })
    }
}

/// The LDK logger of graphs the fixture reads: silent (a graph logs every channel it adds).
pub struct NoLog;

impl Logger for NoLog {
    fn log(&self, _record: Record) {}
}

/// The logger instance graphs borrow.
pub static NO_LOG: NoLog = NoLog;

/// An LDK graph as the fixture reads and writes it.
pub type Graph = NetworkGraph<&'static NoLog>;

/// Fills the wallet storage directory `storage_dir` (as the app leaves it: ldk-node's store in
/// `node/`, Doze's `doze.sqlite`) with a mainnet-size graph for `network` added to the graph
/// already stored (so a devnet's real LSPs stay reachable), `payments` payments in ldk-node's
/// payment store and Doze's history, and the address book built from the graph as the app
/// builds it. Fails with the wallet's `StorageLocked` error if a wallet runs on the directory.
pub fn fill_mainnet_store(
    storage_dir: &Path,
    network: Network,
    payments: u64,
) -> Result<FixtureStats, FixtureError> {
    std::fs::create_dir_all(storage_dir).map_err(|e| fail("creating the storage directory", e))?;
    let _lock = StorageLock::try_acquire(storage_dir).map_err(|e| fail("storage", e))?;
    let store = open_node_store(storage_dir)?;
    let graph = match read_graph_bytes(&store)? {
        Some(bytes) => decode_graph(&bytes)?,
        None => NetworkGraph::new(network, &NO_LOG),
    };
    if graph.get_chain_hash() != network.chain_hash() {
        return Err(FixtureError(format!("the stored graph is not for {network}")));
    }
    add_synthetic_graph(&graph, network, MAINNET_NODES, MAINNET_CHANNELS)?;
    let bytes = graph.encode();
    let graph_bytes = bytes.len();
    KVStoreSync::write(
        &store,
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
        bytes,
    )
    .map_err(|e| fail("writing the graph", e))?;
    drop(store);
    fill_node_payments(&storage_dir.join("node"), payments)?;
    fill_doze_history(storage_dir, payments)?;
    let address_book_rows = doze_core::refresh_address_book(storage_dir, &graph.read_only())
        .map_err(|e| fail("address book", e))?;

    let read_only = graph.read_only();
    let announced =
        || read_only.nodes().unordered_iter().filter_map(|(_, n)| n.announcement_info.as_ref());
    Ok(FixtureStats {
        nodes: read_only.nodes().len(),
        channels: read_only.channels().len(),
        nodes_with_addresses: announced().filter(|a| !a.addresses().is_empty()).count(),
        onion_message_nodes: announced().filter(|a| a.features().supports_onion_messages()).count(),
        address_book_rows,
        payments,
        graph_bytes,
    })
}

/// Opens ldk-node's store of the wallet in `storage_dir` (`node/ldk_node_data.sqlite`, table
/// `ldk_node_data`: what `Builder::build` uses), creating its schema if needed.
pub fn open_node_store(storage_dir: &Path) -> Result<SqliteStore, FixtureError> {
    let node_dir = storage_dir.join("node");
    std::fs::create_dir_all(&node_dir).map_err(|e| fail("creating the node directory", e))?;
    SqliteStore::new(node_dir, Some(SQLITE_DB_FILE_NAME.into()), Some(KV_TABLE_NAME.into()))
        .map_err(|e| fail("opening ldk-node's store", e))
}

/// The serialized graph in ldk-node's store, if there is one.
pub fn read_graph_bytes(store: &SqliteStore) -> Result<Option<Vec<u8>>, FixtureError> {
    match KVStoreSync::read(
        store,
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
    ) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ldk_node::bitcoin::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail("reading the graph", e)),
    }
}

/// Reads a serialized graph as ldk-node does in `build()`.
pub fn decode_graph(bytes: &[u8]) -> Result<Graph, FixtureError> {
    NetworkGraph::read(&mut Cursor::new(bytes), &NO_LOG).map_err(|e| fail("decoding the graph", e))
}

/// SplitMix64: a tiny seeded generator, enough for shapes (no cryptographic use; the node keys
/// it seeds are public test keys).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    /// Skewed towards 0: the few hubs most channels reach, as on mainnet.
    fn hub(&mut self, n: usize) -> usize {
        (self.unit().powi(3) * n as f64) as usize % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Adds `nodes` generated nodes and `channels` generated channels (each node has at least one:
/// LDK keeps no node without a channel), updated in both directions, and announces every
/// generated node.
fn add_synthetic_graph(
    graph: &Graph,
    network: Network,
    nodes: usize,
    channels: usize,
) -> Result<(), FixtureError> {
    let mut rng = Rng(SEED);
    let secp = Secp256k1::signing_only();
    let now = now_secs();
    let mut ids: Vec<NodeId> = Vec::with_capacity(nodes);
    while ids.len() < nodes {
        let Ok(secret) = SecretKey::from_slice(&rng.bytes::<32>()) else { continue };
        let id = NodeId::from_pubkey(&PublicKey::from_secret_key(&secp, &secret));
        if graph.read_only().node(&id).is_none() {
            ids.push(id);
        }
    }
    let n = ids.len();
    let mut scid_index = 0u64;
    for c in 0..channels {
        // Every node gets its first channel to a hub; the rest join a random node to a hub.
        let a = if c < n { c } else { rng.below(n) };
        let mut b = rng.hub(n);
        if a == b {
            b = (b + 1) % n;
        }
        let (one, two) = if ids[a] < ids[b] { (ids[a], ids[b]) } else { (ids[b], ids[a]) };
        let capacity_sats = (100_000.0 * 500f64.powf(rng.unit())) as u64;
        let scid = loop {
            let scid = ((FIRST_BLOCK + scid_index / 500) << 40)
                | ((scid_index % 500) << 16)
                | (scid_index % 3);
            scid_index += 1;
            if graph.read_only().channel(scid).is_none() {
                break scid;
            }
        };
        graph
            .add_channel_from_partial_announcement(
                scid,
                Some(capacity_sats),
                now,
                ChannelFeatures::empty(),
                one,
                two,
            )
            .map_err(|e| FixtureError(format!("adding channel {scid}: {}", e.err)))?;
        for direction in 0..2u8 {
            let update = UnsignedChannelUpdate {
                chain_hash: network.chain_hash(),
                short_channel_id: scid,
                timestamp: now as u32,
                message_flags: 1,
                channel_flags: direction,
                cltv_expiry_delta: [40, 80, 144][rng.below(3)],
                htlc_minimum_msat: 1_000,
                htlc_maximum_msat: capacity_sats * 1_000,
                fee_base_msat: [0, 1_000][rng.below(2)],
                fee_proportional_millionths: rng.below(2_000) as u32,
                excess_data: Vec::new(),
            };
            graph
                .update_channel_unsigned(&update)
                .map_err(|e| FixtureError(format!("updating channel {scid}: {}", e.err)))?;
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let addresses = if rng.chance(ADDRESS_SHARE) {
            (0..1 + rng.below(2)).map(|_| address(&mut rng, i)).collect()
        } else {
            Vec::new()
        };
        let mut alias = [0u8; 32];
        let name = format!("fixture-node-{i}");
        alias[..name.len()].copy_from_slice(name.as_bytes());
        let announcement = UnsignedNodeAnnouncement {
            features: node_features(rng.chance(ONION_MESSAGE_SHARE)),
            timestamp: now as u32,
            node_id: *id,
            rgb: rng.bytes::<3>(),
            alias: NodeAlias(alias),
            addresses,
            excess_address_data: Vec::new(),
            excess_data: Vec::new(),
        };
        graph
            .update_node_from_unsigned_announcement(&announcement)
            .map_err(|e| FixtureError(format!("announcing node {i}: {}", e.err)))?;
    }
    Ok(())
}

/// A typical mainnet node's features; `onion` adds onion-message support.
fn node_features(onion: bool) -> NodeFeatures {
    let mut f = NodeFeatures::empty();
    f.set_data_loss_protect_optional();
    f.set_upfront_shutdown_script_optional();
    f.set_variable_length_onion_optional();
    f.set_static_remote_key_optional();
    f.set_payment_secret_optional();
    f.set_basic_mpp_optional();
    f.set_wumbo_optional();
    f.set_anchors_zero_fee_htlc_tx_optional();
    f.set_channel_type_optional();
    f.set_scid_privacy_optional();
    f.set_zero_conf_optional();
    if onion {
        f.set_onion_messages_optional();
        f.set_route_blinding_optional();
    }
    f
}

/// One address: IPv4 45 %, Tor v3 30 %, IPv6 15 %, host name 10 %.
fn address(rng: &mut Rng, i: usize) -> SocketAddress {
    let port = if rng.chance(0.8) { 9735 } else { 1024 + rng.below(60_000) as u16 };
    let kind = rng.unit();
    if kind < 0.45 {
        SocketAddress::TcpIpV4 { addr: rng.bytes::<4>(), port }
    } else if kind < 0.75 {
        SocketAddress::OnionV3 {
            ed25519_pubkey: rng.bytes::<32>(),
            checksum: rng.next() as u16,
            version: 3,
            port,
        }
    } else if kind < 0.90 {
        let mut addr = rng.bytes::<16>();
        addr[..2].copy_from_slice(&[0x20, 0x01]);
        SocketAddress::TcpIpV6 { addr, port }
    } else {
        match Hostname::try_from(format!("node{i}.fixture.example")) {
            Ok(hostname) => SocketAddress::Hostname { hostname, port },
            Err(()) => SocketAddress::TcpIpV4 { addr: rng.bytes::<4>(), port },
        }
    }
}

/// The `i`-th fixture payment, as ldk-node records it: a third outbound, one in ten failed,
/// one a minute from `FIRST_PAYMENT_SECS` on.
pub fn fixture_payment(i: u64) -> PaymentDetails {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_be_bytes());
    id[8] = 0xd0;
    PaymentDetails {
        id: PaymentId(id),
        kind: PaymentKind::Bolt11 { hash: PaymentHash(id), preimage: None, secret: None },
        amount_msat: Some(1_000 + i),
        fee_paid_msat: Some(i % 7),
        direction: if i.is_multiple_of(3) {
            NodeDirection::Outbound
        } else {
            NodeDirection::Inbound
        },
        status: if i.is_multiple_of(10) { NodeStatus::Failed } else { NodeStatus::Succeeded },
        latest_update_timestamp: FIRST_PAYMENT_SECS + i * PAYMENT_SPACING_SECS,
    }
}

/// Writes `count` fixture payments into ldk-node's payment store in `node_dir` (namespace
/// `payments`, key the payment id in hex, as ldk-node does), creating the store if needed. One
/// transaction: ldk-node would write them one by one as they happen.
pub fn fill_node_payments(node_dir: &Path, count: u64) -> Result<(), FixtureError> {
    let store = SqliteStore::new(
        node_dir.to_path_buf(),
        Some(SQLITE_DB_FILE_NAME.into()),
        Some(KV_TABLE_NAME.into()),
    )
    .map_err(|e| fail("opening ldk-node's store", e))?;
    drop(store);
    let sql_err = |e: rusqlite::Error| fail("ldk-node's payment store", e);
    let mut conn =
        rusqlite::Connection::open(node_dir.join(SQLITE_DB_FILE_NAME)).map_err(sql_err)?;
    let tx = conn.transaction().map_err(sql_err)?;
    {
        let sql = format!(
            "INSERT OR REPLACE INTO {KV_TABLE_NAME} \
             (primary_namespace, secondary_namespace, key, value) \
             VALUES ('payments', '', ?1, ?2)"
        );
        let mut stmt = tx.prepare(&sql).map_err(sql_err)?;
        for i in 0..count {
            let details = fixture_payment(i);
            stmt.execute(rusqlite::params![details.id.0.to_lower_hex_string(), details.encode()])
                .map_err(sql_err)?;
        }
    }
    tx.commit().map_err(sql_err)
}

/// Writes the same `count` payments into Doze's history, as the wallet's reconcile would import
/// them (its start only imports payments newer than the history's newest, which misses these
/// in a store that already ran). doze-core creates the table, and a read through its public API
/// checks that the stored codes mean what the fixture wrote.
fn fill_doze_history(storage_dir: &Path, count: u64) -> Result<(), FixtureError> {
    // Never contacted: the wallet is not started.
    let config = config_without_lsp("http://127.0.0.1:9", storage_dir);
    const MNEMONIC: &str =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
         abandon about";
    let wallet = Wallet::new(config, MNEMONIC, None).map_err(|e| fail("wallet", e))?;
    let window = PaymentFilter {
        from_secs: Some(FIRST_PAYMENT_SECS),
        to_secs: Some(FIRST_PAYMENT_SECS + count * PAYMENT_SPACING_SECS),
        ..PaymentFilter::default()
    };
    wallet.list_payments_page(window.clone(), None, 1).map_err(|e| fail("Doze's history", e))?;

    let sql_err = |e: rusqlite::Error| fail("Doze's history", e);
    let mut conn = rusqlite::Connection::open(storage_dir.join("doze.sqlite")).map_err(sql_err)?;
    let tx = conn.transaction().map_err(sql_err)?;
    {
        let mut stmt = tx
            .prepare(
                "INSERT OR REPLACE INTO payments (id, created_at, updated_at, direction, status,
                     kind, amount_msat, fee_msat, payment_hash)
                     VALUES (?1, ?2, ?2, ?3, ?4, 1, ?5, ?6, ?1)",
            )
            .map_err(sql_err)?;
        for i in 0..count {
            let p = fixture_payment(i);
            let direction = if p.direction == NodeDirection::Outbound { 1 } else { 0 };
            let status = if p.status == NodeStatus::Failed { 2 } else { 1 };
            let (amount, fee) =
                (p.amount_msat.map(|a| a as i64), p.fee_paid_msat.map(|f| f as i64));
            stmt.execute(rusqlite::params![
                p.id.0.to_lower_hex_string(),
                p.latest_update_timestamp as i64,
                direction,
                status,
                amount,
                fee
            ])
            .map_err(sql_err)?;
        }
    }
    tx.commit().map_err(sql_err)?;

    // The newest outbound failure must read back as one, through doze-core.
    let Some(expected) = (0..count).rev().find(|i| i % 30 == 0) else { return Ok(()) };
    let filter = PaymentFilter {
        direction: Some(PaymentDirection::Outbound),
        statuses: vec![PaymentStatus::Failed],
        ..window
    };
    let page = wallet.list_payments_page(filter, None, 1).map_err(|e| fail("Doze's history", e))?;
    match page.payments.first() {
        Some(p)
            if p.id == fixture_payment(expected).id.0.to_lower_hex_string()
                && p.kind == doze_core::PaymentKind::Bolt11 =>
        {
            Ok(())
        }
        other => Err(FixtureError(format!(
            "Doze's history reads the fixture's payments back wrong ({other:?}): its codes \
             changed, update the fixture"
        ))),
    }
}
