//! bLIP-55 (LSPS5) notifications, signed the way lightning-liquidity 0.2's LSPS5 service
//! signs them (`LSPS5ServiceHandler::sign_notification`), so that
//! `lightning_liquidity::lsps5::validator::LSPS5Validator::validate` accepts them:
//!
//! ```text
//! x-lsps5-timestamp: <LSPSDateTime, RFC 3339>
//! x-lsps5-signature: <node-key signature (zbase32) of
//!     "LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}">
//! body: serde_json::to_string(&WebhookNotification)
//! ```
//!
//! Only the transport differs from LSPS5: the phone registers over HTTPS instead of with
//! `lsps5.set_webhook` over Lightning messages.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use serde::{Deserialize, Serialize};

/// The header carrying the notification's timestamp.
pub const TIMESTAMP_HEADER: &str = "x-lsps5-timestamp";
/// The header carrying the LSP's signature.
pub const SIGNATURE_HEADER: &str = "x-lsps5-signature";

/// The message an LSPS5 notification signature covers.
pub fn notification_message(timestamp: &LSPSDateTime, body_json: &str) -> String {
    format!(
        "LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {} I notify {}",
        timestamp.to_rfc3339(),
        body_json
    )
}

/// A notification with its body, timestamp and signature, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNotification {
    /// The notification.
    pub notification: WebhookNotification,
    /// Its JSON, exactly as signed and sent.
    pub body: String,
    /// When it was signed.
    pub timestamp: LSPSDateTime,
    /// The zbase32 signature.
    pub signature: String,
}

impl SignedNotification {
    /// Signs `notification` at `now` (since the Unix epoch) with `sign` (the LSP node's
    /// `Node::sign_message`).
    pub fn sign(
        notification: WebhookNotification,
        now: Duration,
        sign: impl FnOnce(&[u8]) -> String,
    ) -> Self {
        // Serializing a WebhookNotification cannot fail (a map of strings and an object).
        let body = serde_json::to_string(&notification).unwrap_or_default();
        let timestamp = LSPSDateTime::new_from_duration_since_epoch(now);
        let signature = sign(notification_message(&timestamp, &body).as_bytes());
        SignedNotification { notification, body, timestamp, signature }
    }

    /// Signs `notification` now.
    pub fn sign_now(notification: WebhookNotification, sign: impl FnOnce(&[u8]) -> String) -> Self {
        Self::sign(
            notification,
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
            sign,
        )
    }

    /// The LSPS5 headers: the timestamp and the signature.
    pub fn lsps5_headers(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TIMESTAMP_HEADER.to_string(), self.timestamp.to_rfc3339()),
            (SIGNATURE_HEADER.to_string(), self.signature.clone()),
        ])
    }
}

/// What the LSP POSTs to the push gateway for an `apns` or `fcm` target. The gateway puts
/// `notification` (the JSON object) and `headers` into the push payload, and the phone
/// checks them like a webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRequest {
    /// `apns` or `fcm`.
    pub platform: String,
    /// The device token the phone registered.
    pub device_token: String,
    /// The LSPS5 notification, as a JSON object.
    pub notification: serde_json::Value,
    /// [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`].
    pub headers: BTreeMap<String, String>,
}

impl GatewayRequest {
    /// The gateway request for `signed` to `device_token` on `platform`.
    pub fn new(platform: &str, device_token: &str, signed: &SignedNotification) -> GatewayRequest {
        GatewayRequest {
            platform: platform.to_string(),
            device_token: device_token.to_string(),
            notification: serde_json::from_str(&signed.body).unwrap_or(serde_json::Value::Null),
            headers: signed.lsps5_headers(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use ldk_node::lightning::util::message_signing;
    use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
    use std::str::FromStr;

    #[test]
    fn lsps5_validator_accepts_what_we_sign() {
        let secret = SecretKey::from_slice(&[9; 32]).expect("key");
        let public = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
        let signed =
            SignedNotification::sign_now(WebhookNotification::onion_message_incoming(), |m| {
                message_signing::sign(m, &secret)
            });
        assert_eq!(
            signed.body,
            r#"{"jsonrpc":"2.0","method":"lsps5.onion_message_incoming","params":{}}"#
        );

        // As a receiver would: parse the headers and the body, then validate.
        let headers = signed.lsps5_headers();
        let timestamp = LSPSDateTime::from_str(&headers[TIMESTAMP_HEADER]).expect("RFC 3339");
        let parsed: WebhookNotification = serde_json::from_str(&signed.body).expect("body");
        let validator = LSPS5Validator::new();
        validator.validate(public, &timestamp, &headers[SIGNATURE_HEADER], &parsed).expect("valid");
        assert!(
            validator.validate(public, &timestamp, &headers[SIGNATURE_HEADER], &parsed).is_err(),
            "a replay"
        );

        let gateway = GatewayRequest::new("apns", "token", &signed);
        // (WebhookNotification only deserializes from text: it borrows its keys.)
        let object = serde_json::to_string(&gateway.notification).expect("json");
        assert_eq!(object, signed.body, "the gateway gets the very body that was signed");
        let from_gateway: WebhookNotification = serde_json::from_str(&object).expect("object");
        assert_eq!(from_gateway, parsed);
    }
}
