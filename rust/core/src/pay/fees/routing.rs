//! The routing fee a Lightning payment is expected to cost, estimated before any route is
//! found (LDK routes only when sending) from what the wallet knows:
//!
//! - the first hop's peer, usually the LSP, charges nothing when it is the recipient, and its
//!   fee for forwarding to the next node otherwise: that node's channel policy from the
//!   network graph when the graph has a channel between the two, else the fees the peer
//!   charges on its channel with this wallet (LSPs charge the same on all their channels);
//! - a BOLT11 invoice's route hints price the hops into an unannounced recipient (the
//!   cheapest hint is taken);
//! - a BOLT 12 offer's payment paths and their fees come only with the invoice fetched when
//!   sending: an offer introduced at the LSP is priced at the LSP's fee for one forward;
//! - a payment split over several channels pays each hop's base fee once per part.
//!
//! Hops further into the network than the peer's own neighbours are not priced: the estimate
//! is the least the payment is expected to cost, not a bound (the bound is the fee cap).

use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::graph::NetworkGraph;
use ldk_node::lightning::blinded_path::{Direction, IntroductionNode};
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::gossip::{NodeId, RoutingFees};
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::{ChannelDetails, Node};

use crate::pay::parse::PaymentRequest;

/// A node's fees for forwarding over one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    base_msat: u64,
    proportional_millionths: u64,
}

impl Policy {
    /// What forwarding `amount_msat` costs, as LDK computes it (the proportional part rounded
    /// down).
    fn fee(&self, amount_msat: u64) -> u64 {
        let proportional =
            u128::from(amount_msat) * u128::from(self.proportional_millionths) / 1_000_000;
        self.base_msat.saturating_add(u64::try_from(proportional).unwrap_or(u64::MAX))
    }
}

impl From<RoutingFees> for Policy {
    fn from(fees: RoutingFees) -> Self {
        Policy {
            base_msat: u64::from(fees.base_msat),
            proportional_millionths: u64::from(fees.proportional_millionths),
        }
    }
}

/// One way into the recipient past the first hop's peer: the node a route must reach, and
/// the fees from there on (the entry's own first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leg {
    entry: PublicKey,
    tail: Vec<Policy>,
}

impl Leg {
    /// What the tail costs to deliver `amount_msat`: each hop forwards the amount plus the
    /// fees of the hops after it.
    fn tail_fee(&self, amount_msat: u64) -> u64 {
        let delivered =
            self.tail.iter().rev().fold(amount_msat, |forwarded, policy| {
                forwarded.saturating_add(policy.fee(forwarded))
            });
        delivered - amount_msat
    }
}

/// One of the wallet's usable channels: the peer, what it can send now, and the fees the peer
/// charges on it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FirstHop {
    peer: PublicKey,
    limit_msat: u64,
    peer_policy: Option<Policy>,
}

impl FirstHop {
    fn of(channel: &ChannelDetails) -> FirstHop {
        let base = channel.counterparty_forwarding_info_fee_base_msat;
        let proportional = channel.counterparty_forwarding_info_fee_proportional_millionths;
        FirstHop {
            peer: channel.counterparty_node_id,
            limit_msat: channel.next_outbound_htlc_limit_msat,
            peer_policy: base.zip(proportional).map(|(base, proportional)| Policy {
                base_msat: u64::from(base),
                proportional_millionths: u64::from(proportional),
            }),
        }
    }

    /// What a part of `amount_msat` sent over this channel is expected to cost along `leg`;
    /// `policy(from, to)` is `from`'s fee on its channel to `to`, if the graph has one.
    fn fee(
        &self,
        amount_msat: u64,
        leg: &Leg,
        policy: &dyn Fn(PublicKey, PublicKey) -> Option<Policy>,
    ) -> u64 {
        let tail = leg.tail_fee(amount_msat);
        if leg.entry == self.peer {
            return tail;
        }
        let forwarded = amount_msat.saturating_add(tail);
        let peer = policy(self.peer, leg.entry).or(self.peer_policy);
        tail.saturating_add(peer.map_or(0, |p| p.fee(forwarded)))
    }

    /// The cheapest leg for a part of `amount_msat` over this channel.
    fn best_fee(
        &self,
        amount_msat: u64,
        legs: &[Leg],
        policy: &dyn Fn(PublicKey, PublicKey) -> Option<Policy>,
    ) -> u64 {
        legs.iter().map(|leg| self.fee(amount_msat, leg, policy)).min().unwrap_or(0)
    }
}

/// The expected fee of sending `amount_msat` along one of `legs` over `hops`: one part over
/// the cheapest channel that can carry it all, else (when the recipient takes a split
/// payment) parts over the largest channels first.
fn estimate(
    amount_msat: u64,
    hops: &[FirstHop],
    legs: &[Leg],
    split: bool,
    policy: &dyn Fn(PublicKey, PublicKey) -> Option<Policy>,
) -> u64 {
    if amount_msat == 0 || legs.is_empty() {
        return 0;
    }
    let mut by_size: Vec<&FirstHop> = hops.iter().collect();
    by_size.sort_by_key(|hop| std::cmp::Reverse(hop.limit_msat));
    let Some(largest) = by_size.first() else { return 0 };
    let single = hops
        .iter()
        .filter(|hop| hop.limit_msat >= amount_msat)
        .map(|hop| hop.best_fee(amount_msat, legs, policy))
        .min();
    if let Some(fee) = single {
        return fee;
    }
    if !split {
        // It cannot be paid now (the quote says why); price it over the largest channel.
        return largest.best_fee(amount_msat, legs, policy);
    }
    let mut left = amount_msat;
    let mut total = 0u64;
    for hop in &by_size {
        let part = left.min(hop.limit_msat);
        if part == 0 {
            break;
        }
        total = total.saturating_add(hop.best_fee(part, legs, policy));
        left -= part;
    }
    if left > 0 {
        total = total.saturating_add(largest.best_fee(left, legs, policy));
    }
    total
}

/// The cheapest policy `from` has on a channel to `to` in `graph`, for `amount_msat`.
fn graph_policy(
    graph: &NetworkGraph,
    from: PublicKey,
    to: PublicKey,
    amount_msat: u64,
) -> Option<Policy> {
    let (from, to) = (NodeId::from_pubkey(&from), NodeId::from_pubkey(&to));
    let node = graph.node(&from)?;
    node.channels
        .iter()
        .filter_map(|scid| graph.channel(*scid))
        .filter_map(|channel| {
            if channel.node_one == from && channel.node_two == to {
                channel.one_to_two
            } else if channel.node_two == from && channel.node_one == to {
                channel.two_to_one
            } else {
                None
            }
        })
        .filter(|update| update.enabled)
        .map(|update| Policy::from(update.fees))
        .min_by_key(|policy| policy.fee(amount_msat))
}

/// The node an offer's path starts at (a short channel id is looked up in the graph).
fn introduction_node(graph: &NetworkGraph, node: &IntroductionNode) -> Option<PublicKey> {
    match node {
        IntroductionNode::NodeId(id) => Some(*id),
        IntroductionNode::DirectedShortChannelId(direction, scid) => {
            let channel = graph.channel(*scid)?;
            let id = match direction {
                Direction::NodeOne => channel.node_one,
                Direction::NodeTwo => channel.node_two,
            };
            id.as_pubkey().ok()
        }
    }
}

/// The ways into the recipient of `request` past the first hop, as far as the wallet can
/// tell before sending (see the module docs); empty for on-chain and refunds. A recipient
/// that is one of our peers is paid over our channel to it, whatever its invoice's hints
/// (which then start at our own node) or its offer's paths say.
fn legs(request: &PaymentRequest, graph: &NetworkGraph, hops: &[FirstHop]) -> Vec<Leg> {
    let direct = |payee: PublicKey| {
        hops.iter().any(|hop| hop.peer == payee).then(|| vec![Leg { entry: payee, tail: vec![] }])
    };
    match request {
        PaymentRequest::Bolt11 { invoice, .. } => {
            let Ok(invoice) = Bolt11Invoice::from_str(invoice) else { return Vec::new() };
            if let Some(legs) = direct(invoice.recover_payee_pub_key()) {
                return legs;
            }
            let hints = invoice.route_hints();
            if hints.is_empty() {
                let payee = invoice.recover_payee_pub_key();
                return vec![Leg { entry: payee, tail: Vec::new() }];
            }
            hints
                .iter()
                .filter_map(|hint| {
                    let entry = hint.0.first()?.src_node_id;
                    let tail = hint.0.iter().map(|hop| Policy::from(hop.fees)).collect();
                    Some(Leg { entry, tail })
                })
                .collect()
        }
        PaymentRequest::Bolt12Offer { offer, .. } => {
            let Ok(offer) = Offer::from_str(offer) else { return Vec::new() };
            if let Some(legs) = offer.issuer_signing_pubkey().and_then(direct) {
                return legs;
            }
            if offer.paths().is_empty() {
                let issuer = offer.issuer_signing_pubkey();
                return issuer.map(|entry| Leg { entry, tail: Vec::new() }).into_iter().collect();
            }
            offer
                .paths()
                .iter()
                .filter_map(|path| introduction_node(graph, path.introduction_node()))
                .map(|entry| {
                    // The payment path's own fees come with the invoice: an offer introduced
                    // at our peer is priced at our peer's fee for one forward.
                    let peer_policy =
                        hops.iter().find(|hop| hop.peer == entry).and_then(|hop| hop.peer_policy);
                    Leg { entry, tail: peer_policy.into_iter().collect() }
                })
                .collect()
        }
        PaymentRequest::Keysend { node_id } => PublicKey::from_str(node_id)
            .map(|entry| vec![Leg { entry, tail: Vec::new() }])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The routing fee paying `request` with `amount_msat` is expected to cost from `node`'s
/// usable channels (see the module docs); `split`: whether the recipient takes a payment
/// split over several paths. 0 for on-chain requests.
pub(crate) fn expected_routing_fee(
    node: &Node,
    request: &PaymentRequest,
    amount_msat: u64,
    split: bool,
) -> u64 {
    let hops: Vec<FirstHop> =
        node.list_channels().iter().filter(|c| c.is_usable).map(FirstHop::of).collect();
    if hops.is_empty() {
        return 0;
    }
    let graph = node.network_graph();
    let legs = legs(request, &graph, &hops);
    let policy = |from, to| graph_policy(&graph, from, to, amount_msat);
    estimate(amount_msat, &hops, &legs, split, &policy)
}

#[cfg(test)]
mod tests {
    use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};

    use super::*;

    fn key(byte: u8) -> PublicKey {
        let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
        PublicKey::from_secret_key(&Secp256k1::new(), &secret)
    }

    fn policy(base_msat: u64, proportional_millionths: u64) -> Policy {
        Policy { base_msat, proportional_millionths }
    }

    fn hop(peer: PublicKey, limit_msat: u64) -> FirstHop {
        FirstHop { peer, limit_msat, peer_policy: Some(policy(1_000, 100)) }
    }

    fn no_graph(_: PublicKey, _: PublicKey) -> Option<Policy> {
        None
    }

    #[test]
    fn paying_the_peer_itself_costs_nothing() {
        let lsp = key(1);
        let legs = [Leg { entry: lsp, tail: Vec::new() }];
        assert_eq!(estimate(5_000_000, &[hop(lsp, 10_000_000)], &legs, true, &no_graph), 0);
    }

    #[test]
    fn the_next_hop_is_priced_from_the_graph_or_else_from_the_peers_fees_to_us() {
        let (lsp, merchant) = (key(1), key(2));
        let legs = [Leg { entry: merchant, tail: Vec::new() }];
        let hops = [hop(lsp, 100_000_000)];
        // Without the graph: the LSP's fees on our channel (1 000 msat + 100 ppm).
        assert_eq!(estimate(20_000_000, &hops, &legs, true, &no_graph), 1_000 + 2_000);
        // The graph's policy of the LSP's channel to the merchant wins.
        let graph = |from: PublicKey, to: PublicKey| {
            (from == lsp && to == merchant).then_some(policy(1_500, 2_500))
        };
        assert_eq!(estimate(20_000_000, &hops, &legs, true, &graph), 1_500 + 50_000);
    }

    #[test]
    fn route_hints_are_priced_hop_by_hop_and_the_cheapest_is_taken() {
        let (lsp, other) = (key(1), key(3));
        let hops = [hop(lsp, 100_000_000)];
        // The LSP's own hint: its fee is in the hint, nothing more.
        let via_lsp = Leg { entry: lsp, tail: vec![policy(2_000, 1_000)] };
        assert_eq!(via_lsp.tail_fee(10_000_000), 2_000 + 10_000);
        // A two-hop hint from elsewhere: the second hop's fee is forwarded by the first, and the
        // LSP charges for reaching its start.
        let elsewhere = Leg { entry: other, tail: vec![policy(1_000, 0), policy(0, 1_000_000)] };
        assert_eq!(elsewhere.tail_fee(1_000), 1_000 + 1_000);
        let fee = estimate(1_000, &hops, std::slice::from_ref(&elsewhere), true, &no_graph);
        assert_eq!(fee, 2_000 + 1_000, "the LSP forwards 3 000 msat: its base fee, 0 ppm");
        assert_eq!(estimate(10_000_000, &hops, &[via_lsp, elsewhere], true, &no_graph), 12_000);
    }

    #[test]
    fn a_split_pays_the_base_fee_once_per_part() {
        let (lsp, merchant) = (key(1), key(2));
        let legs = [Leg { entry: merchant, tail: Vec::new() }];
        let hops = [hop(lsp, 30_000_000), hop(lsp, 40_000_000), hop(lsp, 10_000_000)];
        // One channel carries 35 000 sat: one part.
        assert_eq!(estimate(35_000_000, &hops, &legs, true, &no_graph), 1_000 + 3_500);
        // 60 000 sat: 40 000 + 20 000, two base fees and 100 ppm of the whole.
        assert_eq!(estimate(60_000_000, &hops, &legs, true, &no_graph), 2 * 1_000 + 6_000);
        // A recipient that takes no split: priced as one part (the quote refuses it anyway).
        assert_eq!(estimate(60_000_000, &hops, &legs, false, &no_graph), 1_000 + 6_000);
        assert_eq!(estimate(60_000_000, &[], &legs, true, &no_graph), 0, "no channel");
    }
}
