//! Where a wake's onion messages go. The one message a wake sends is `release_held_htlc`, to
//! the node holding the payer's HTLC (the payer's LSP), named as the introduction node of the
//! reply path that came with `held_htlc_available`. LDK's `DefaultMessageRouter` looks that
//! node up in the network graph, which a wake does not load (a mainnet graph takes ~119 MB
//! once read). This router asks, in order:
//!
//! 1. a connected peer (or ourselves): sent directly;
//! 2. the address book the app keeps from its graph (one row read): sent directly, the
//!    messenger asks for the connection (`Event::ConnectionNeeded`) and the engine opens it.
//!    A compact reply path names its introduction node by a channel; the address book's
//!    channel ends (one row read) turn it into the node first, as LDK's router does with the
//!    graph;
//! 3. otherwise through our LSP, which forwards onion messages to its peers: the payer's LSP
//!    is one whenever the payment reached us through a channel between the two LSPs.
//!
//! A wake creates no blinded path: the release needs none, and the async-offer refresh that
//! LDK tries on a peer connection is the app's work (its failure here only logs).

use std::sync::Mutex;

use ldk_node::bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use ldk_node::lightning::blinded_path::message::{
    BlindedMessagePath, MessageContext, MessageForwardNode,
};
use ldk_node::lightning::blinded_path::IntroductionNode;
use ldk_node::lightning::onion_message::messenger::{Destination, MessageRouter, OnionMessagePath};
use ldk_node::lightning::sign::ReceiveAuthKey;

use crate::store::address_book::AddressBook;

/// The wake's message router: peers, then the address book, then through the LSP.
pub(crate) struct AddressBookRouter {
    book: Option<Mutex<AddressBook>>,
    lsp: PublicKey,
}

impl AddressBookRouter {
    /// Routes with `book` (`None`: no address book could be opened, peers and the LSP only),
    /// forwarding through `lsp` when the first node is neither a peer nor in the book.
    pub(crate) fn new(book: Option<AddressBook>, lsp: PublicKey) -> Self {
        AddressBookRouter { book: book.map(Mutex::new), lsp }
    }
}

impl AddressBookRouter {
    /// `destination` with a channel-named introduction node replaced by that node, when the
    /// address book knows the channel.
    fn resolve(&self, destination: Destination) -> Destination {
        let Destination::BlindedPath(path) = &destination else { return destination };
        let IntroductionNode::DirectedShortChannelId(direction, scid) = path.introduction_node()
        else {
            return destination;
        };
        let node = self.book.as_ref().and_then(|book| {
            book.lock()
                .unwrap_or_else(|p| p.into_inner())
                .channel_end(*scid, *direction)
                .unwrap_or_else(|e| {
                    log::warn!("wake: address book: {e}");
                    None
                })
        });
        match node {
            Some(node) => Destination::BlindedPath(BlindedMessagePath::from_blinded_path(
                node,
                path.blinding_point(),
                path.blinded_hops().to_vec(),
            )),
            None => destination,
        }
    }
}

impl MessageRouter for AddressBookRouter {
    fn find_path(
        &self,
        sender: PublicKey,
        peers: Vec<PublicKey>,
        destination: Destination,
    ) -> Result<OnionMessagePath, ()> {
        let destination = self.resolve(destination);
        let first_node = match &destination {
            Destination::Node(node) => Some(*node),
            Destination::BlindedPath(path) => match path.introduction_node() {
                IntroductionNode::NodeId(node) => Some(*node),
                // A channel the address book does not know (not announced).
                IntroductionNode::DirectedShortChannelId(..) => None,
            },
        };
        let direct = |first_node_addresses| OnionMessagePath {
            intermediate_nodes: vec![],
            destination: destination.clone(),
            first_node_addresses,
        };
        if let Some(first) = first_node {
            if first == sender || peers.contains(&first) {
                log::debug!("wake: onion message to {first}, a peer");
                return Ok(direct(vec![]));
            }
            let addresses = match &self.book {
                Some(book) => {
                    book.lock().unwrap_or_else(|p| p.into_inner()).lookup(&first).unwrap_or_else(
                        |e| {
                            log::warn!("wake: address book: {e}");
                            Vec::new()
                        },
                    )
                }
                None => Vec::new(),
            };
            if !addresses.is_empty() {
                log::debug!("wake: onion message to {first} at its address from the address book");
                return Ok(direct(addresses));
            }
        }
        let named =
            first_node.map_or_else(|| "a node named by its channel".to_string(), |n| n.to_string());
        if peers.contains(&self.lsp) && first_node != Some(self.lsp) {
            log::debug!("wake: onion message to {named} forwarded through the LSP");
            return Ok(OnionMessagePath {
                intermediate_nodes: vec![self.lsp],
                destination,
                first_node_addresses: vec![],
            });
        }
        log::info!("wake: no way to send an onion message to {named}");
        Err(())
    }

    fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
        &self,
        _recipient: PublicKey,
        _local_node_receive_key: ReceiveAuthKey,
        _context: MessageContext,
        _peers: Vec<MessageForwardNode>,
        _secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedMessagePath>, ()> {
        log::debug!("wake: no blinded paths during a wake (the app refreshes its offer)");
        Err(())
    }
}
