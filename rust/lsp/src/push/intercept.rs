//! Telling from ldk-node's log records that an onion message for an offline peer was
//! intercepted (ldk-node 0.7.1 has no public event for it).
//!
//! LDK `lightning` 0.2.7, `onion_message/messenger.rs`, `enqueue_forwarded_onion_message`,
//! logs at trace level, when a forwarded onion message's next hop is not connected and the
//! messenger intercepts for offline peers (the async-payments server role):
//!
//! ```text
//! module lightning::onion_message::messenger
//! "Generating OnionMessageIntercepted event for peer {next_node_id} {log_suffix}"
//! ```
//!
//! The `pin_*` test in `tests/async_push.rs` checks with real nodes that this still fires, so
//! that a dependency upgrade that changes it fails loudly.
//!
//! One interception does not push: `... when sending OffersMessage`, the LSP's own copy of an
//! `invoice_request` that, as the phone's static-invoice server, it has already answered with
//! the static invoice (LDK forwards it "in case the recipient is online"). Waking the phone for
//! it gains nothing, and it comes before the payment is held: a payer that only asks for an
//! invoice would wake the phone for nothing, and a phone woken that fast could send its
//! `release_held_htlc` before the payer's LSP holds the HTLC, which LDK 0.2.7 drops. The push
//! goes out for the payer's own messages (`... when forwarding peeled onion message from
//! <payer>`), among them the `held_htlc_available` of a payment waiting for the phone.

use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::logger::LogRecord;

/// The module path of the onion messenger's records ends with this.
pub const INTERCEPT_MODULE_SUFFIX: &str = "onion_message::messenger";

/// The interception record's text starts with this, followed by the peer's node id (hex).
pub const INTERCEPT_PREFIX: &str = "Generating OnionMessageIntercepted event for peer ";

/// The suffix of the interception record of the LSP's own copy of an answered
/// `invoice_request` (see the module docs): no push for it.
pub const OWN_OFFERS_MESSAGE_SUFFIX: &str = "when sending OffersMessage";

/// The peer an interception record is about, when the interception should wake it; `None` for
/// any other record. Cheap for records from other modules (their text is not even formatted).
pub fn intercepted_peer(record: &LogRecord<'_>) -> Option<PublicKey> {
    if !record.module_path.ends_with(INTERCEPT_MODULE_SUFFIX) {
        return None;
    }
    match record.args.as_str() {
        Some(text) => peer_to_wake(text),
        None => peer_to_wake(&record.args.to_string()),
    }
}

/// The peer an interception record's text names, unless it is the LSP's own `OffersMessage`.
fn peer_to_wake(text: &str) -> Option<PublicKey> {
    if text.trim_end().ends_with(OWN_OFFERS_MESSAGE_SUFFIX) {
        return None;
    }
    peer_in(text)
}

/// The peer named by an interception record's text.
pub fn peer_in(text: &str) -> Option<PublicKey> {
    let rest = text.strip_prefix(INTERCEPT_PREFIX)?;
    let id = rest.split(|c: char| !c.is_ascii_hexdigit()).next()?;
    PublicKey::from_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::logger::LogLevel;

    const PEER: &str = "02e6642fd69bd211f93f7f1f36ca51a26a5290eb2dd1b0d8279a87bb0d480c8443";

    fn check(module_path: &str, args: std::fmt::Arguments<'_>) -> Option<PublicKey> {
        intercepted_peer(&LogRecord { level: LogLevel::Trace, args, module_path, line: 1712 })
    }

    #[test]
    fn the_messenger_record_names_the_peer() {
        let peer = PublicKey::from_str(PEER).expect("key");
        let suffix = "in blinded path";
        let found = check(
            "lightning::onion_message::messenger",
            format_args!("Generating OnionMessageIntercepted event for peer {} {}", peer, suffix),
        );
        assert_eq!(found, Some(peer));
        let found = check(
            "lightning::onion_message::messenger",
            format_args!("Generating OnionMessageIntercepted event for peer {}", peer),
        );
        assert_eq!(found, Some(peer));
    }

    #[test]
    fn other_records_are_ignored() {
        let peer = PublicKey::from_str(PEER).expect("key");
        assert_eq!(
            check("lightning::ln::channelmanager", format_args!("{INTERCEPT_PREFIX}{peer}")),
            None
        );
        assert_eq!(
            check(
                "lightning::onion_message::messenger",
                format_args!("Forwarding an onion message to peer {peer}")
            ),
            None
        );
        assert_eq!(
            check(
                "lightning::onion_message::messenger",
                format_args!("{INTERCEPT_PREFIX}nonsense")
            ),
            None
        );
    }

    #[test]
    fn the_lsps_own_copy_of_an_answered_invoice_request_does_not_push() {
        let peer = PublicKey::from_str(PEER).expect("key");
        let module = "lightning::onion_message::messenger";
        assert_eq!(
            check(module, format_args!("{INTERCEPT_PREFIX}{peer} when sending OffersMessage")),
            None
        );
        let payer = "03aa1c1a2a8a3f2c1b2d0f6d0e5b7a1c2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c";
        assert_eq!(
            check(
                module,
                format_args!(
                    "{INTERCEPT_PREFIX}{peer} when forwarding peeled onion message from {payer}"
                )
            ),
            Some(peer)
        );
        assert_eq!(
            check(
                module,
                format_args!("{INTERCEPT_PREFIX}{peer} when sending AsyncPaymentsMessage")
            ),
            Some(peer)
        );
    }
}
