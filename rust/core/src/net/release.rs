//! Sending a kept `release_held_htlc` again, along the reply path a wake kept
//! (`store/releases.rs`). The wake engine sends an earlier wake's releases through its own
//! onion messenger, the app's session through its node's (`wallet/releases.rs`); both are
//! ldk-node's one messenger type, so this is written once.

use ldk_node::doze_stack::OnionMessenger;
use ldk_node::lightning::ln::msgs::DecodeError;
use ldk_node::lightning::onion_message::async_payments::{AsyncPaymentsMessage, ReleaseHeldHtlc};
use ldk_node::lightning::onion_message::messenger::{
    MessageSendInstructions, Responder, SendError, SendSuccess,
};
use ldk_node::lightning::util::ser::Readable;

/// Why a kept release was not sent.
#[derive(Debug)]
pub(crate) enum NotSent {
    /// The kept reply path does not decode (written by another version, or damaged).
    Unreadable(DecodeError),
    /// The messenger refused it (no path to the reply path's first hop, its queue full).
    Refused(SendError),
}

/// Queues `release_held_htlc` on `messenger`, for the reply path `reply_path` (a serialized
/// `Responder`, as the wake keeps it). `Buffered`: its first hop is a connected peer, to whom
/// the messenger's node writes it at its next pass; `BufferedAwaitingConnection(hop)`: it
/// leaves once `hop` is connected.
pub(crate) fn send_release(
    messenger: &OnionMessenger,
    reply_path: &[u8],
) -> Result<SendSuccess, NotSent> {
    let responder = Responder::read(&mut &reply_path[..]).map_err(NotSent::Unreadable)?;
    let message = AsyncPaymentsMessage::ReleaseHeldHtlc(ReleaseHeldHtlc {});
    let instructions = MessageSendInstructions::ForReply { instructions: responder.respond() };
    messenger.send_onion_message(message, instructions).map_err(NotSent::Refused)
}
