//! The registration wire contract (`POST /v1/push/register`) and its checks.
//!
//! The phone sends its node id, an app name, a push target, a timestamp and a nonce, signed
//! with its node key (`Node::sign_message`) over exactly
//!
//! ```text
//! doze-push-register|v1|{node_id}|{app_name}|{kind}|{value}|{timestamp}|{nonce}
//! ```
//!
//! (the strings as sent). The LSP answers `200 {"paths": hex, "lsp_node_id": hex}` with the
//! blinded paths for `Bolt12Payment::set_paths_to_static_invoice_server`, or a 4xx
//! [`PushApiError`] and stores nothing.

use std::fmt;
use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::util::message_signing;
use serde::{Deserialize, Serialize};

/// The registration endpoint.
pub const REGISTER_PATH: &str = "/v1/push/register";

/// The operator endpoint describing one registration (`{node_id}` is the hex node id).
pub const REGISTRATION_PATH: &str = "/v1/push/registrations/{node_id}";
/// The operator's list of registrations (`?after=<node id>&limit=<n>`).
pub const REGISTRATIONS_PATH: &str = "/v1/push/registrations";

/// The longest app name, in bytes.
pub const MAX_APP_NAME_BYTES: usize = 64;

/// The longest target value (URL or device token), in bytes.
pub const MAX_TARGET_BYTES: usize = 2048;

/// The nonce's length: 16 random bytes in hex.
pub const NONCE_HEX_CHARS: usize = 32;

/// Where the LSP sends a phone's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// An HTTP(S) URL the LSP POSTs the LSPS5 notification to (tests, self-hosted relays).
    Webhook,
    /// An APNs device token, delivered through the push gateway.
    Apns,
    /// An FCM registration token, delivered through the push gateway.
    Fcm,
}

impl TargetKind {
    /// The name used on the wire and in the signed message.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Apns => "apns",
            TargetKind::Fcm => "fcm",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "webhook" => Ok(TargetKind::Webhook),
            "apns" => Ok(TargetKind::Apns),
            "fcm" => Ok(TargetKind::Fcm),
            other => Err(format!("unknown target kind `{other}` (expected webhook, apns or fcm)")),
        }
    }
}

/// A push target: its kind and the URL or device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTarget {
    /// `webhook`, `apns` or `fcm`.
    pub kind: TargetKind,
    /// The webhook URL or the device token.
    pub value: String,
}

impl PushTarget {
    /// A webhook target.
    pub fn webhook(url: impl Into<String>) -> PushTarget {
        PushTarget { kind: TargetKind::Webhook, value: url.into() }
    }
}

/// The body of `POST /v1/push/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The phone's node id, hex.
    pub node_id: String,
    /// The app, 1 to 64 bytes.
    pub app_name: String,
    /// Where to push.
    pub target: PushTarget,
    /// When the phone signed, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// 32 hex characters, never reused.
    pub nonce: String,
    /// zbase32 signature of [`RegisterRequest::signed_message`] by the node key.
    pub signature: String,
}

/// The message a registration signs.
pub fn signed_message(
    node_id: &str,
    app_name: &str,
    kind: TargetKind,
    value: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    format!("doze-push-register|v1|{node_id}|{app_name}|{kind}|{value}|{timestamp}|{nonce}")
}

impl RegisterRequest {
    /// A request signed with `sign` (e.g. `|m| node.sign_message(m)`).
    pub fn signed(
        node_id: PublicKey,
        app_name: &str,
        target: PushTarget,
        timestamp: u64,
        nonce: &str,
        sign: impl FnOnce(&[u8]) -> String,
    ) -> RegisterRequest {
        let mut request = RegisterRequest {
            node_id: node_id.to_string(),
            app_name: app_name.to_string(),
            target,
            timestamp,
            nonce: nonce.to_string(),
            signature: String::new(),
        };
        request.signature = sign(request.signed_message().as_bytes());
        request
    }

    /// The exact message the signature covers.
    pub fn signed_message(&self) -> String {
        signed_message(
            &self.node_id,
            &self.app_name,
            self.target.kind,
            &self.target.value,
            self.timestamp,
            &self.nonce,
        )
    }
}

/// The 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Hex of the serialized `Vec<BlindedMessagePath>` for
    /// `set_paths_to_static_invoice_server`.
    pub paths: String,
    /// The LSP's node id, hex (the key its notifications are signed with).
    pub lsp_node_id: String,
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON or a field out of range (400).
    InvalidRequest,
    /// The signature does not verify against `node_id` (401).
    BadSignature,
    /// The timestamp is outside the window, or older than the current registration (400).
    StaleTimestamp,
    /// The nonce was used before (409).
    ReplayedNonce,
    /// The LSP has no open channel with the node (403).
    NoChannel,
    /// The node is stopping (503).
    Unavailable,
    /// The body is larger than the LSP takes (413).
    TooLarge,
    /// Too many registrations from this source, or for this node, for now (429); the answer's
    /// `retry_after_secs` (and its `Retry-After` header) say when to try again.
    RateLimited,
    /// Something failed on the LSP's side (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with it.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::StaleTimestamp => 400,
            ErrorCode::BadSignature => 401,
            ErrorCode::NoChannel => 403,
            ErrorCode::ReplayedNonce => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// The body of a refused registration (and of the push endpoints' errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error} ({code:?})")]
pub struct PushApiError {
    /// For a human.
    pub error: String,
    /// For a program.
    pub code: ErrorCode,
    /// With [`ErrorCode::RateLimited`]: seconds until a new request may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl PushApiError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, error: impl Into<String>) -> PushApiError {
        PushApiError { error: error.into(), code, retry_after_secs: None }
    }

    /// A [`ErrorCode::RateLimited`] refusal: try again in `secs` seconds.
    pub fn rate_limited(error: impl Into<String>, secs: u64) -> PushApiError {
        PushApiError {
            error: error.into(),
            code: ErrorCode::RateLimited,
            retry_after_secs: Some(secs.max(1)),
        }
    }
}

/// A request whose fields are well formed and whose signature verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The node.
    pub node_id: PublicKey,
    /// The app name.
    pub app_name: String,
    /// The target.
    pub target: PushTarget,
    /// The signed timestamp.
    pub timestamp: u64,
    /// The nonce, lower-case.
    pub nonce: String,
}

/// How many characters of a sender's text an error quotes: enough to find the mistake, not an
/// echo of a 2 kB field (or of serde's quote of it) in every refusal and log line.
const QUOTED_CHARS: usize = 120;

/// At most [`QUOTED_CHARS`] characters of `text`, with `…` where it was cut.
fn clipped(text: &str) -> String {
    doze_redact::clip(text, QUOTED_CHARS)
}

/// Parses a body and checks everything that needs no state: field shapes, the signature, the
/// timestamp window (`now` and `window` in seconds).
pub fn verify(body: &[u8], now: u64, window: u64) -> Result<VerifiedRequest, PushApiError> {
    let invalid = |message: String| PushApiError::new(ErrorCode::InvalidRequest, message);
    let request: RegisterRequest = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not a registration request: {}", clipped(&e.to_string()))))?;
    let node_id = PublicKey::from_str(&request.node_id).map_err(|_| {
        invalid(format!("node_id `{}` is not a hex public key", clipped(&request.node_id)))
    })?;
    if request.app_name.is_empty() || request.app_name.len() > MAX_APP_NAME_BYTES {
        return Err(invalid(format!(
            "app_name must be 1 to {MAX_APP_NAME_BYTES} bytes, it is {}",
            request.app_name.len()
        )));
    }
    let value = &request.target.value;
    if value.is_empty() || value.len() > MAX_TARGET_BYTES {
        return Err(invalid(format!(
            "target.value must be 1 to {MAX_TARGET_BYTES} bytes, it is {}",
            value.len()
        )));
    }
    if request.target.kind == TargetKind::Webhook {
        let url = reqwest::Url::parse(value)
            .map_err(|e| invalid(format!("target.value `{}` is not a URL: {e}", clipped(value))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "a webhook must be an http:// or https:// URL, not `{}`",
                clipped(value)
            )));
        }
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a device token must not contain whitespace".into()));
    }
    if request.nonce.len() != NONCE_HEX_CHARS
        || !request.nonce.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(invalid(format!("nonce must be {NONCE_HEX_CHARS} hex characters")));
    }
    if !message_signing::verify(request.signed_message().as_bytes(), &request.signature, &node_id) {
        return Err(PushApiError::new(
            ErrorCode::BadSignature,
            "the signature does not verify against node_id (sign the documented message with \
             the node key)",
        ));
    }
    if request.timestamp.abs_diff(now) > window {
        return Err(PushApiError::new(
            ErrorCode::StaleTimestamp,
            format!(
                "timestamp {} is more than {window} s from the LSP's clock ({now}); \
                 check the phone's clock",
                request.timestamp
            ),
        ));
    }
    Ok(VerifiedRequest {
        node_id,
        app_name: request.app_name,
        target: request.target,
        timestamp: request.timestamp,
        nonce: request.nonce.to_ascii_lowercase(),
    })
}

/// `GET /v1/push/registrations/{node_id}`: a registration, without its target's secret parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationInfo {
    /// The node, hex.
    pub node_id: String,
    /// The app name.
    pub app_name: String,
    /// `webhook`, `apns` or `fcm`.
    pub target_kind: TargetKind,
    /// Enough of the target to recognise it: a webhook's scheme, host and port, or a token's
    /// first characters.
    pub target_hint: String,
    /// The timestamp the phone signed.
    pub signed_at: u64,
    /// When the LSP stored it, in seconds since the Unix epoch.
    pub registered_at: u64,
}

impl RegistrationInfo {
    /// What the operator may see of `registration`.
    pub fn of(registration: super::Registration) -> RegistrationInfo {
        RegistrationInfo {
            node_id: registration.node_id.to_string(),
            app_name: registration.app_name,
            target_kind: registration.target.kind,
            target_hint: target_hint(&registration.target),
            signed_at: registration.signed_at,
            registered_at: registration.registered_at,
        }
    }
}

/// `GET /v1/push/registrations`: a page of registrations in node-id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationPage {
    /// The registrations, without their targets' secret parts.
    pub registrations: Vec<RegistrationInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// `GET /v1/push/log`: the latest delivery outcomes, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushLog {
    /// One entry per notification (failed ones with their last status or error, by host).
    pub entries: Vec<super::PushLogEntry>,
}

/// The recognisable, non-secret part of a target.
pub fn target_hint(target: &PushTarget) -> String {
    match target.kind {
        TargetKind::Webhook => match reqwest::Url::parse(&target.value) {
            Ok(url) => format!(
                "{}://{}{}/…",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "…".into(),
        },
        TargetKind::Apns | TargetKind::Fcm => {
            let start: String = target.value.chars().take(6).collect();
            format!("{start}…")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn key() -> (SecretKey, PublicKey) {
        let secret = SecretKey::from_slice(&[7; 32]).expect("key");
        (secret, PublicKey::from_secret_key(&Secp256k1::new(), &secret))
    }

    fn body(request: &RegisterRequest) -> Vec<u8> {
        serde_json::to_vec(request).expect("json")
    }

    fn request(timestamp: u64) -> RegisterRequest {
        let (secret, public) = key();
        RegisterRequest::signed(
            public,
            "doze-test",
            PushTarget::webhook("http://127.0.0.1:1/hook"),
            timestamp,
            &"ab".repeat(16),
            |m| message_signing::sign(m, &secret),
        )
    }

    #[test]
    fn the_signed_message_is_the_documented_string() {
        assert_eq!(
            signed_message("02ab", "app", TargetKind::Fcm, "tok", 1_700_000_000, "00ff"),
            "doze-push-register|v1|02ab|app|fcm|tok|1700000000|00ff"
        );
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_does_not() {
        let now = 1_700_000_000;
        let good = request(now);
        let verified = verify(&body(&good), now + 30, 600).expect("verifies");
        assert_eq!(verified.node_id, key().1);

        let mut tampered = good.clone();
        tampered.target.value = "http://evil.example/hook".into();
        let error = verify(&body(&tampered), now, 600).expect_err("tampered");
        assert_eq!(error.code, ErrorCode::BadSignature);

        let error = verify(&body(&good), now + 601, 600).expect_err("stale");
        assert_eq!(error.code, ErrorCode::StaleTimestamp);
        let error = verify(&body(&good), now - 601, 600).expect_err("from the future");
        assert_eq!(error.code, ErrorCode::StaleTimestamp);
    }

    #[test]
    fn malformed_requests_are_invalid() {
        let now = 1_700_000_000;
        let mut cases = Vec::new();
        let mut r = request(now);
        r.nonce = "xyz".into();
        cases.push(body(&r));
        let mut r = request(now);
        r.app_name = "a".repeat(65);
        cases.push(body(&r));
        let mut r = request(now);
        r.target.value = "ftp://x".into();
        cases.push(body(&r));
        let mut r = request(now);
        r.node_id = "02zz".into();
        cases.push(body(&r));
        cases.push(b"{".to_vec());
        cases.push(br#"{"node_id":"x"}"#.to_vec());
        for case in cases {
            let error = verify(&case, now, 600).expect_err("invalid");
            assert_eq!(error.code, ErrorCode::InvalidRequest, "{}", error.error);
        }
    }

    #[test]
    fn hints_hide_paths_and_tokens() {
        assert_eq!(
            target_hint(&PushTarget::webhook("https://relay.example:8443/secret/path")),
            "https://relay.example:8443/…"
        );
        let token = PushTarget { kind: TargetKind::Apns, value: "abcdef0123456789".into() };
        assert_eq!(target_hint(&token), "abcdef…");
    }
}
