//! The address book: announced node id → network addresses, a table in `doze.sqlite`.
//!
//! A wake must reach the payer's LSP (an announced node) to send it `release_held_htlc`, but it
//! cannot afford ldk-node's network graph: a mainnet graph takes ~119 MB once read, five times
//! the iOS extension's budget. So the app, which runs ldk-node with its graph anyway, copies the
//! part a wake needs — the addresses of announced nodes that handle onion messages — into this
//! small table after each gossip sync, and the wake reads one indexed row per lookup.
//!
//! Addresses are stored as text (`SocketAddress`'s `Display`, comma-separated; no form LDK
//! prints contains a comma once the obsolete onion v2 form is left out), so the table stays
//! readable with the `sqlite3` shell.

use std::path::Path;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::blinded_path::Direction;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::{NodeId, NodeInfo, ReadOnlyNetworkGraph};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::WalletError;
use crate::store::{now_secs, storage_error};

/// The table; `WITHOUT ROWID` makes the primary key the table itself: a lookup is one b-tree
/// search. Created by [`crate::store::open`].
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS node_addresses (
        node_id BLOB PRIMARY KEY,
        addresses TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS channel_ends (
        scid INTEGER PRIMARY KEY,
        node_one BLOB NOT NULL,
        node_two BLOB NOT NULL
    );";

/// Separates the addresses of one node in its row.
const SEPARATOR: char = ',';

/// The stored text of a node's addresses, if a wake could use them: the node announced
/// onion-message support and at least one address (onion v2 addresses, long dead and not
/// printable in a parseable form, are left out).
fn address_text(info: &NodeInfo) -> Option<String> {
    let announcement = info.announcement_info.as_ref()?;
    if !announcement.features().supports_onion_messages() {
        return None;
    }
    let text = announcement
        .addresses()
        .iter()
        .filter(|a| !matches!(a, SocketAddress::OnionV2(_)))
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string());
    (!text.is_empty()).then_some(text)
}

/// The address book of one wallet, open on its database.
pub(crate) struct AddressBook {
    conn: Connection,
}

impl AddressBook {
    /// Opens (creating the table if needed) the address book in `<storage_dir>/doze.sqlite`.
    pub(crate) fn open(storage_dir: &Path) -> Result<AddressBook, WalletError> {
        let conn = crate::store::open(storage_dir)?;
        Ok(AddressBook { conn })
    }

    /// The addresses of `node_id` (one indexed row read); empty if unknown. Stored entries that
    /// no longer parse are skipped.
    pub(crate) fn lookup(&self, node_id: &PublicKey) -> Result<Vec<SocketAddress>, WalletError> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT addresses FROM node_addresses WHERE node_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![&node_id.serialize()[..]], |row| row.get(0)).optional()
            })
            .map_err(storage_error)?;
        Ok(text
            .as_deref()
            .unwrap_or("")
            .split(SEPARATOR)
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse::<SocketAddress>().ok())
            .collect())
    }

    /// The node at `direction`'s end of the announced channel `scid`, if the graph had it: a
    /// blinded path may name its introduction node by a channel (a compact path), which the
    /// wake cannot send to without knowing the node. One indexed row read.
    pub(crate) fn channel_end(
        &self,
        scid: u64,
        direction: Direction,
    ) -> Result<Option<PublicKey>, WalletError> {
        let column = match direction {
            Direction::NodeOne => "node_one",
            Direction::NodeTwo => "node_two",
        };
        let key: Option<Vec<u8>> = self
            .conn
            .prepare_cached(&format!("SELECT {column} FROM channel_ends WHERE scid = ?1"))
            .and_then(|mut stmt| stmt.query_row(params![scid as i64], |row| row.get(0)).optional())
            .map_err(storage_error)?;
        Ok(key.and_then(|k| PublicKey::from_slice(&k).ok()))
    }

    /// Replaces the table with the announced nodes of ldk-node's `graph` that support onion
    /// messages and have an address, in one transaction; returns how many rows it holds now.
    /// Only the node ids are listed up front; each node is copied out of the graph one at a
    /// time.
    pub(crate) fn refresh_from_graph(
        &mut self,
        graph: &ldk_node::graph::NetworkGraph,
    ) -> Result<usize, WalletError> {
        let ids = graph.list_nodes();
        let rows = ids.iter().filter_map(|id| {
            graph.node(id).and_then(|info| address_text(&info)).map(|text| (*id, text))
        });
        let count = self.replace_all(rows)?;
        let scids = graph.list_channels();
        self.replace_channels(
            scids
                .iter()
                .filter_map(|scid| graph.channel(*scid).map(|c| (*scid, c.node_one, c.node_two))),
        )?;
        Ok(count)
    }

    /// The same from an LDK graph (`NetworkGraph::read_only()`), for callers that hold one
    /// without an ldk-node `Node` (tests, benchmarks). The graph stays read-locked while the
    /// rows are written.
    pub(crate) fn refresh_from_read_only(
        &mut self,
        graph: &ReadOnlyNetworkGraph<'_>,
    ) -> Result<usize, WalletError> {
        let rows = graph
            .nodes()
            .unordered_iter()
            .filter_map(|(id, info)| address_text(info).map(|text| (*id, text)));
        let count = self.replace_all(rows)?;
        self.replace_channels(
            graph.channels().unordered_iter().map(|(scid, c)| (*scid, c.node_one, c.node_two)),
        )?;
        Ok(count)
    }

    /// Replaces the channel ends with `rows` (scid, node one, node two) in one transaction.
    fn replace_channels(
        &mut self,
        rows: impl Iterator<Item = (u64, NodeId, NodeId)>,
    ) -> Result<(), WalletError> {
        let tx = self.conn.transaction().map_err(storage_error)?;
        tx.execute("DELETE FROM channel_ends", []).map_err(storage_error)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO channel_ends (scid, node_one, node_two) \
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(storage_error)?;
            for (scid, one, two) in rows {
                insert
                    .execute(params![scid as i64, one.as_slice(), two.as_slice()])
                    .map_err(storage_error)?;
            }
        }
        tx.commit().map_err(storage_error)
    }

    /// Replaces every row with `rows` in one transaction: a reader sees the old table or the
    /// new one, never a mix.
    fn replace_all(
        &mut self,
        rows: impl Iterator<Item = (NodeId, String)>,
    ) -> Result<usize, WalletError> {
        let now = now_secs() as i64;
        let tx = self.conn.transaction().map_err(storage_error)?;
        tx.execute("DELETE FROM node_addresses", []).map_err(storage_error)?;
        let mut count = 0;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO node_addresses (node_id, addresses, updated_at) \
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(storage_error)?;
            for (id, text) in rows {
                insert.execute(params![id.as_slice(), text, now]).map_err(storage_error)?;
                count += 1;
            }
        }
        tx.commit().map_err(storage_error)?;
        Ok(count)
    }
}

/// Rewrites the address book in `storage_dir` from `node`'s graph, as the app does at start,
/// after `sync()` and when it stops; a failure only means a wake goes through the LSP.
pub(crate) fn refresh_from_node(storage_dir: &Path, node: &ldk_node::Node) {
    let started = std::time::Instant::now();
    match AddressBook::open(storage_dir)
        .and_then(|mut book| book.refresh_from_graph(&node.network_graph()))
    {
        Ok(rows) => {
            log::debug!("address book: {rows} nodes in {} ms", started.elapsed().as_millis())
        }
        Err(e) => log::warn!("address book not updated: {e}"),
    }
}

/// Rebuilds the address book in `storage_dir` from an LDK network graph, as the app does from
/// ldk-node's graph after a gossip sync; returns the number of rows. Public for the store
/// fixtures and benchmarks in `doze-bench`, which build a graph without running a node.
pub fn refresh_address_book(
    storage_dir: &Path,
    graph: &ReadOnlyNetworkGraph<'_>,
) -> Result<usize, WalletError> {
    AddressBook::open(storage_dir)?.refresh_from_read_only(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use ldk_node::bitcoin::Network;
    use ldk_node::lightning::ln::msgs::UnsignedNodeAnnouncement;
    use ldk_node::lightning::routing::gossip::{NetworkGraph, NodeAlias};
    use ldk_node::lightning::types::features::{ChannelFeatures, NodeFeatures};
    use ldk_node::lightning::util::logger::{Logger, Record};
    use ldk_node::lightning::util::ser::Hostname;

    struct NoLog;
    impl Logger for NoLog {
        fn log(&self, _record: Record) {}
    }

    fn key(i: u8) -> PublicKey {
        let secret = SecretKey::from_slice(&[i; 32]).expect("valid test key");
        PublicKey::from_secret_key(&Secp256k1::new(), &secret)
    }

    fn features(onion: bool) -> NodeFeatures {
        let mut f = NodeFeatures::empty();
        if onion {
            f.set_onion_messages_optional();
        }
        f
    }

    /// A graph with one channel per pair, and an announcement for each given node.
    fn graph(
        channels: &[(u8, u8)],
        nodes: &[(u8, bool, Vec<SocketAddress>)],
    ) -> NetworkGraph<&'static NoLog> {
        let graph = NetworkGraph::new(Network::Regtest, &NoLog);
        let now = now_secs();
        for (scid, (a, b)) in channels.iter().enumerate() {
            graph
                .add_channel_from_partial_announcement(
                    scid as u64 + 1,
                    Some(100_000),
                    now,
                    ChannelFeatures::empty(),
                    NodeId::from_pubkey(&key(*a)),
                    NodeId::from_pubkey(&key(*b)),
                )
                .expect("channel");
        }
        for (i, onion, addresses) in nodes {
            let announcement = UnsignedNodeAnnouncement {
                features: features(*onion),
                timestamp: now as u32,
                node_id: NodeId::from_pubkey(&key(*i)),
                rgb: [0; 3],
                alias: NodeAlias([0; 32]),
                addresses: addresses.clone(),
                excess_address_data: Vec::new(),
                excess_data: Vec::new(),
            };
            graph.update_node_from_unsigned_announcement(&announcement).expect("announcement");
        }
        graph
    }

    fn lsp_addresses() -> Vec<SocketAddress> {
        vec![
            SocketAddress::TcpIpV4 { addr: [203, 0, 113, 7], port: 9735 },
            SocketAddress::TcpIpV6 {
                addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                port: 9736,
            },
            SocketAddress::Hostname {
                hostname: Hostname::try_from("lsp.example.com".to_string()).expect("hostname"),
                port: 9737,
            },
            SocketAddress::OnionV3 {
                ed25519_pubkey: [7; 32],
                checksum: 0x1234,
                version: 3,
                port: 9735,
            },
        ]
    }

    #[test]
    fn lookup_returns_the_addresses_of_onion_message_nodes_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = graph(
            &[(1, 2), (2, 3)],
            &[
                (1, true, lsp_addresses()),
                (2, false, vec![SocketAddress::TcpIpV4 { addr: [10, 0, 0, 2], port: 9735 }]),
                (3, true, vec![SocketAddress::OnionV2([1; 12])]),
            ],
        );
        let mut book = AddressBook::open(dir.path()).expect("open");
        assert_eq!(book.refresh_from_read_only(&g.read_only()).expect("refresh"), 1);
        assert_eq!(book.lookup(&key(1)).expect("lookup"), lsp_addresses());
        assert!(book.lookup(&key(2)).expect("lookup").is_empty(), "no onion messages: not stored");
        assert!(
            book.lookup(&key(3)).expect("lookup").is_empty(),
            "only an onion v2 address: not stored"
        );
        assert!(book.lookup(&key(9)).expect("lookup").is_empty(), "unknown node");
        // A second process (the wake) reads what the app wrote.
        assert_eq!(
            AddressBook::open(dir.path()).expect("reopen").lookup(&key(1)).expect("lookup"),
            lsp_addresses()
        );
    }

    #[test]
    fn refresh_replaces_old_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = graph(&[(1, 2)], &[(1, true, lsp_addresses())]);
        let address = vec![SocketAddress::TcpIpV4 { addr: [198, 51, 100, 4], port: 19735 }];
        let second = graph(&[(4, 2)], &[(4, true, address.clone())]);
        assert_eq!(refresh_address_book(dir.path(), &first.read_only()).expect("refresh"), 1);
        assert_eq!(refresh_address_book(dir.path(), &second.read_only()).expect("refresh"), 1);
        let book = AddressBook::open(dir.path()).expect("open");
        assert!(
            book.lookup(&key(1)).expect("lookup").is_empty(),
            "gone from the graph: gone from the book"
        );
        assert_eq!(book.lookup(&key(4)).expect("lookup"), address);
    }

    #[test]
    fn unparseable_entries_are_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let book = AddressBook::open(dir.path()).expect("open");
        book.conn
            .execute(
                "INSERT INTO node_addresses (node_id, addresses, updated_at) VALUES (?1, ?2, 0)",
                params![&key(5).serialize()[..], "not an address,192.0.2.1:9735,,[::1]:x"],
            )
            .expect("insert");
        assert_eq!(
            book.lookup(&key(5)).expect("lookup"),
            vec![SocketAddress::TcpIpV4 { addr: [192, 0, 2, 1], port: 9735 }]
        );
    }

    #[test]
    fn a_channel_named_introduction_node_resolves_to_the_right_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Channel 1 joins nodes 1 and 2, announced as BOLT 7 orders them: the lesser id first.
        let (lo, hi) = if key(1).serialize() < key(2).serialize() { (1, 2) } else { (2, 1) };
        let g = graph(&[(lo, hi)], &[(1, true, lsp_addresses())]);
        let mut book = AddressBook::open(dir.path()).expect("open");
        book.refresh_from_read_only(&g.read_only()).expect("refresh");
        let (lesser, greater) = (key(lo), key(hi));
        assert_eq!(book.channel_end(1, Direction::NodeOne).expect("lookup"), Some(lesser));
        assert_eq!(book.channel_end(1, Direction::NodeTwo).expect("lookup"), Some(greater));
        assert_eq!(
            book.channel_end(7, Direction::NodeOne).expect("lookup"),
            None,
            "unknown channel"
        );
    }
}
