// This file is Doze's (DOZE-PATCH.md), not ldk-node's.

//! The LDK stack's types as this node instantiates them, public so that Doze's wake engine
//! builds its stack from exactly these types. LDK's `ChannelManager`, `ChainMonitor`,
//! `OnionMessenger` and `PeerManager` are generic; every distinct set of type parameters is
//! compiled again, and the wake engine's own set doubled LDK in Doze's phone library
//! (~2.4 MB of code). With these, LDK is compiled once for both.
//!
//! Three parameters had to become the same type for both users: the onion messenger's offers
//! and async-payments handlers (trait objects: the node passes its channel manager, the wake
//! its wrappers around it), the message router ([`NodeMessageRouter`]: the node's graph-based
//! router, the wake's address-book router) and the payment router ([`NodeRouter`]: the node's
//! `DefaultRouter`, the wake's router that finds nothing, as a wake sends no payment).

use std::sync::Arc;

use bitcoin::secp256k1::{self, All, PublicKey, Secp256k1};
use lightning::blinded_path::message::{BlindedMessagePath, MessageContext, MessageForwardNode};
use lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::onion_message::messenger::{Destination, MessageRouter, OnionMessagePath};
use lightning::routing::router::{InFlightHtlcs, Route, RouteParameters, Router};
use lightning::sign::ReceiveAuthKey;
use lightning_types::payment::PaymentHash;

pub use crate::chain::ChainSource;
pub use crate::fee_estimator::OnchainFeeEstimator;
pub use crate::logger::Logger;
pub use crate::message_handler::NodeCustomMessageHandler;
pub use crate::tx_broadcaster::TransactionBroadcaster;
pub use crate::types::{
	Broadcaster, ChainMonitor, ChannelManager, KeysManager, OnionMessenger, OrderedPersister,
	PeerManager, Persister,
};
pub use crate::wallet::WalletKeysManager;

/// A [`MessageRouter`] without generic methods, so that different routers fit behind one
/// type ([`NodeMessageRouter`]). Every `MessageRouter` that is `Send + Sync` is one.
pub trait ErasedMessageRouter: Send + Sync {
	/// [`MessageRouter::find_path`].
	fn find_path(
		&self, sender: PublicKey, peers: Vec<PublicKey>, destination: Destination,
	) -> Result<OnionMessagePath, ()>;

	/// [`MessageRouter::create_blinded_paths`], with a full secp256k1 context.
	fn create_blinded_paths(
		&self, recipient: PublicKey, local_node_receive_key: ReceiveAuthKey,
		context: MessageContext, peers: Vec<MessageForwardNode>, secp_ctx: &Secp256k1<All>,
	) -> Result<Vec<BlindedMessagePath>, ()>;
}

impl<R: MessageRouter + Send + Sync> ErasedMessageRouter for R {
	fn find_path(
		&self, sender: PublicKey, peers: Vec<PublicKey>, destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		MessageRouter::find_path(self, sender, peers, destination)
	}

	fn create_blinded_paths(
		&self, recipient: PublicKey, local_node_receive_key: ReceiveAuthKey,
		context: MessageContext, peers: Vec<MessageForwardNode>, secp_ctx: &Secp256k1<All>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		MessageRouter::create_blinded_paths(
			self,
			recipient,
			local_node_receive_key,
			context,
			peers,
			secp_ctx,
		)
	}
}

/// The message router of the node's (and the wake's) LDK stack: any router behind one type.
///
/// The context a caller passes to `create_blinded_paths` is replaced by the router's own
/// full context: contexts differ only in which operations they allow (and in blinding
/// against side channels), not in the paths they produce.
pub struct NodeMessageRouter {
	inner: Arc<dyn ErasedMessageRouter>,
	secp_ctx: Secp256k1<All>,
}

impl NodeMessageRouter {
	/// Wraps `router`.
	pub fn new(router: Arc<dyn ErasedMessageRouter>) -> Self {
		Self { inner: router, secp_ctx: Secp256k1::new() }
	}
}

impl MessageRouter for NodeMessageRouter {
	fn find_path(
		&self, sender: PublicKey, peers: Vec<PublicKey>, destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		self.inner.find_path(sender, peers, destination)
	}

	fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self, recipient: PublicKey, local_node_receive_key: ReceiveAuthKey,
		context: MessageContext, peers: Vec<MessageForwardNode>, _secp_ctx: &Secp256k1<T>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		self.inner.create_blinded_paths(
			recipient,
			local_node_receive_key,
			context,
			peers,
			&self.secp_ctx,
		)
	}
}

/// A payment [`Router`] without generic methods, so that different routers fit behind one
/// type ([`NodeRouter`]). Every `Router` that is `Send + Sync` is one.
pub trait ErasedRouter: Send + Sync {
	/// [`Router::find_route`].
	fn find_route(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
	) -> Result<Route, &'static str>;

	/// [`Router::find_route_with_id`].
	fn find_route_with_id(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
		payment_hash: PaymentHash, payment_id: PaymentId,
	) -> Result<Route, &'static str>;

	/// [`Router::create_blinded_payment_paths`], with a full secp256k1 context.
	fn create_blinded_payment_paths(
		&self, recipient: PublicKey, first_hops: Vec<ChannelDetails>, tlvs: ReceiveTlvs,
		amount_msats: Option<u64>, secp_ctx: &Secp256k1<All>,
	) -> Result<Vec<BlindedPaymentPath>, ()>;
}

impl<R: Router + Send + Sync> ErasedRouter for R {
	fn find_route(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
	) -> Result<Route, &'static str> {
		Router::find_route(self, payer, route_params, first_hops, inflight_htlcs)
	}

	fn find_route_with_id(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
		payment_hash: PaymentHash, payment_id: PaymentId,
	) -> Result<Route, &'static str> {
		Router::find_route_with_id(
			self,
			payer,
			route_params,
			first_hops,
			inflight_htlcs,
			payment_hash,
			payment_id,
		)
	}

	fn create_blinded_payment_paths(
		&self, recipient: PublicKey, first_hops: Vec<ChannelDetails>, tlvs: ReceiveTlvs,
		amount_msats: Option<u64>, secp_ctx: &Secp256k1<All>,
	) -> Result<Vec<BlindedPaymentPath>, ()> {
		Router::create_blinded_payment_paths(
			self,
			recipient,
			first_hops,
			tlvs,
			amount_msats,
			secp_ctx,
		)
	}
}

/// The payment router of the node's (and the wake's) LDK stack: any router behind one type.
/// Like [`NodeMessageRouter`], it uses its own full secp256k1 context.
pub struct NodeRouter {
	inner: Arc<dyn ErasedRouter>,
	secp_ctx: Secp256k1<All>,
}

impl NodeRouter {
	/// Wraps `router`.
	pub fn new(router: Arc<dyn ErasedRouter>) -> Self {
		Self { inner: router, secp_ctx: Secp256k1::new() }
	}
}

impl Router for NodeRouter {
	fn find_route(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
	) -> Result<Route, &'static str> {
		self.inner.find_route(payer, route_params, first_hops, inflight_htlcs)
	}

	fn find_route_with_id(
		&self, payer: &PublicKey, route_params: &RouteParameters,
		first_hops: Option<&[&ChannelDetails]>, inflight_htlcs: InFlightHtlcs,
		payment_hash: PaymentHash, payment_id: PaymentId,
	) -> Result<Route, &'static str> {
		self.inner.find_route_with_id(
			payer,
			route_params,
			first_hops,
			inflight_htlcs,
			payment_hash,
			payment_id,
		)
	}

	fn create_blinded_payment_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self, recipient: PublicKey, first_hops: Vec<ChannelDetails>, tlvs: ReceiveTlvs,
		amount_msats: Option<u64>, _secp_ctx: &Secp256k1<T>,
	) -> Result<Vec<BlindedPaymentPath>, ()> {
		self.inner.create_blinded_payment_paths(
			recipient,
			first_hops,
			tlvs,
			amount_msats,
			&self.secp_ctx,
		)
	}
}

impl crate::Node {
	/// The node's onion messenger, to send an onion message ldk-node has no call for (Doze's
	/// patch, DOZE-PATCH.md): Doze's app sends a `release_held_htlc` that a killed wake kept,
	/// along the reply path the wake kept, through the node it runs.
	///
	/// The messenger is the node's own, running with it: a message sent here goes out as the
	/// node's own messages do (the background processor hands it to the peer's connection, and
	/// ldk-node's event handler connects a first hop that is not a peer on
	/// `Event::ConnectionNeeded`). Sending after [`Node::stop`](crate::Node::stop) queues a
	/// message that never leaves.
	pub fn onion_messenger(&self) -> Arc<OnionMessenger> {
		Arc::clone(&self.onion_messenger)
	}
}
