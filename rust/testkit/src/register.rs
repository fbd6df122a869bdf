//! The phone's side of the LSP's push registration API (`POST /v1/push/register`), signed
//! with a stock ldk-node node's `sign_message`, for tests that drive stock nodes as phones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use doze_lsp::push::{PushApiError, PushTarget, RegisterRequest, RegisterResponse, REGISTER_PATH};
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::lightning::blinded_path::message::BlindedMessagePath;
use ldk_node::lightning::util::ser::Readable;
use ldk_node::Node;

/// The app name the helpers register with.
pub const APP_NAME: &str = "doze-test";

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh 32-hex-character nonce (unique in this process and across processes in practice).
pub fn new_nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed =
        format!("{nanos}|{}|{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    hex::encode(&sha256::Hash::hash(seed.as_bytes()).to_byte_array()[..16])
}

/// A registration request from `node` for `target`, signed now with a fresh nonce.
pub fn signed_request(node: &Node, target: PushTarget) -> RegisterRequest {
    RegisterRequest::signed(node.node_id(), APP_NAME, target, unix_now(), &new_nonce(), |m| {
        node.sign_message(m)
    })
}

/// POSTs `request` to the LSP's API at `http_url`; the error is the status and the body.
pub fn post_register(
    http_url: &str,
    request: &RegisterRequest,
) -> Result<RegisterResponse, (u16, PushApiError)> {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}{REGISTER_PATH}", http_url.trim_end_matches('/')))
        .json(request)
        .send()
        .unwrap_or_else(|e| panic!("POST {REGISTER_PATH}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    if status == 200 {
        Ok(serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not a RegisterResponse ({e}): {text}")))
    } else {
        Err((
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not a push API error ({e}): {text}")),
        ))
    }
}

/// Registers `node` (signed by it) for pushes to `target` at the LSP's API `http_url`.
pub fn register(
    http_url: &str,
    node: &Node,
    target: PushTarget,
) -> Result<RegisterResponse, (u16, PushApiError)> {
    post_register(http_url, &signed_request(node, target))
}

/// The blinded paths in a registration answer, for `set_paths_to_static_invoice_server`.
pub fn decode_paths(response: &RegisterResponse) -> Vec<BlindedMessagePath> {
    let bytes = hex::decode(&response.paths).unwrap_or_else(|e| panic!("paths are not hex: {e}"));
    <Vec<BlindedMessagePath> as Readable>::read(&mut &bytes[..])
        .unwrap_or_else(|e| panic!("paths do not decode as Vec<BlindedMessagePath>: {e:?}"))
}
