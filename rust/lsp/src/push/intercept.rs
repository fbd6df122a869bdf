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

use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::logger::LogRecord;

/// The module path of the onion messenger's records ends with this.
pub const INTERCEPT_MODULE_SUFFIX: &str = "onion_message::messenger";

/// The interception record's text starts with this, followed by the peer's node id (hex).
pub const INTERCEPT_PREFIX: &str = "Generating OnionMessageIntercepted event for peer ";

/// The peer an interception record is about, or `None` for any other record. Cheap for
/// records from other modules (their text is not even formatted).
pub fn intercepted_peer(record: &LogRecord<'_>) -> Option<PublicKey> {
    if !record.module_path.ends_with(INTERCEPT_MODULE_SUFFIX) {
        return None;
    }
    match record.args.as_str() {
        Some(text) => peer_in(text),
        None => peer_in(&record.args.to_string()),
    }
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
        assert_eq!(check("lightning::ln::channelmanager", format_args!("{INTERCEPT_PREFIX}{peer}")), None);
        assert_eq!(
            check("lightning::onion_message::messenger", format_args!("Forwarding an onion message to peer {peer}")),
            None
        );
        assert_eq!(check("lightning::onion_message::messenger", format_args!("{INTERCEPT_PREFIX}nonsense")), None);
    }
}
