//! Entry points for the fuzz targets in `fuzz/` and for their corpus replay
//! (`tests/fuzz_corpora.rs`): the bytes a stranger on the internet sends the LSP, run through
//! the code that reads them. Not API: hidden from the docs, stable for nobody.
//!
//! An entry point panics only when the code under it breaks an invariant it checks (a
//! registration nobody signed accepted, a server error, an error message that runs on, a
//! connection held after its client is gone); any typed refusal is a pass.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::Network;
use ldk_node::lightning::util::message_signing;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::OpeningFeeTerms;
use crate::http::server::{ConnectionCounters, ConnectionDriver};
use crate::http::HttpConfig;
use crate::push::{registration, PushService, RegisterRequest};
use crate::PushConfig;

/// The longest error message an entry point accepts: messages quote at most a snippet of their
/// input.
const MAX_MESSAGE_CHARS: usize = 400;

/// The registration window the entry points check timestamps in, in seconds.
const WINDOW_SECS: u64 = 600;

/// How long one connection of fuzz bytes may take: they are all sent at once and the client
/// closes its side, so nothing should wait on a timer.
const CONNECTION_LIMIT: Duration = Duration::from_secs(10);

fn bounded(message: &str) {
    let chars = message.chars().count();
    assert!(chars <= MAX_MESSAGE_CHARS, "an error message of {chars} characters: {message}");
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A registration body ([`registration::verify`]). The first byte picks the shape: even, the
/// rest as the body, which must never be accepted (nobody but the phone can sign); odd, the
/// rest as a request that a phone then really signs, which is accepted exactly when its fields
/// are well formed, and then as sent.
pub fn registration_body(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else { return };
    if mode % 2 == 0 {
        match registration::verify(body, now_secs(), WINDOW_SECS) {
            Ok(_) => panic!("a registration nobody signed was accepted"),
            Err(e) => bounded(&e.error),
        }
        return;
    }
    let Ok(mut request) = serde_json::from_slice::<RegisterRequest>(body) else { return };
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&[0x11; 32]).unwrap_or_else(|_| unreachable!());
    request.node_id = PublicKey::from_secret_key(&secp, &secret).to_string();
    request.signature = message_signing::sign(request.signed_message().as_bytes(), &secret);
    let Ok(signed) = serde_json::to_vec(&request) else { return };
    match registration::verify(&signed, request.timestamp, WINDOW_SECS) {
        Ok(verified) => {
            assert_eq!(verified.node_id.to_string(), request.node_id);
            assert_eq!(verified.app_name, request.app_name);
            assert_eq!(verified.target, request.target);
            assert_eq!(verified.nonce, request.nonce.to_ascii_lowercase());
        }
        Err(e) => bounded(&e.error),
    }
}

/// The LSP's HTTP server as a client on the internet sees it: a router over a real (not
/// started) node and push store, behind the same connection driver and limits as the
/// listener's, fed bytes in memory.
pub struct HttpHarness {
    runtime: tokio::runtime::Runtime,
    driver: ConnectionDriver,
    _node: Arc<ldk_node::Node>,
}

impl HttpHarness {
    /// A harness keeping the node's and the push store's files in `dir`.
    pub fn new(dir: &Path) -> HttpHarness {
        let mut builder = ldk_node::Builder::new();
        builder.set_network(Network::Regtest);
        builder.set_storage_dir_path(dir.join("node").to_string_lossy().into_owned());
        builder.set_chain_source_esplora("http://127.0.0.1:1".into(), None);
        let node = Arc::new(
            builder.build().unwrap_or_else(|e| panic!("the harness's node cannot be built: {e}")),
        );
        let push = PushService::open(&PushConfig::default(), dir)
            .unwrap_or_else(|e| panic!("the harness's push store cannot open: {e}"));
        let fees = OpeningFeeTerms {
            min_fee_msat: 1_000_000,
            proportional: 5_000,
            min_payment_size_msat: 1_000,
            max_payment_size_msat: 100_000_000,
        };
        // Limits as a public listener has them, with a token and generous registration rates:
        // the rate limiter is tested elsewhere and would otherwise turn most inputs away.
        let http = HttpConfig {
            operator_token: Some("fuzz-operator-token-0123456789".into()),
            registrations_per_minute_per_source: u32::MAX,
            ..HttpConfig::default()
        };
        let listen = SocketAddr::from(([0, 0, 0, 0], 3000));
        let router = crate::http::router(Arc::clone(&node), push, fees, &http, listen);
        let driver = ConnectionDriver::new(router, &http, Arc::new(ConnectionCounters::default()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("the harness's runtime: {e}"));
        HttpHarness { runtime, driver, _node: node }
    }

    /// One connection that sends `data` and closes its side. The server answers with HTTP/1
    /// or closes; it never answers 500 and ends the connection without waiting on a timer.
    /// Returns what the server sent.
    pub fn connection(&self, data: &[u8]) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let peer = SocketAddr::from(([203, 0, 113, 7], 40000));
        let serving = self.driver.serve(server, peer);
        let answer = self.runtime.block_on(async move {
            let served = tokio::spawn(serving);
            let talk = async {
                // The server may close before reading it all: a failed write is an answer too.
                let _ = client.write_all(data).await;
                let _ = client.shutdown().await;
                let mut answer = Vec::new();
                let _ = client.read_to_end(&mut answer).await;
                answer
            };
            let answer = tokio::time::timeout(CONNECTION_LIMIT, talk).await;
            served.abort();
            answer
        });
        let answer = answer.unwrap_or_else(|_| panic!("a closed connection was held open"));
        if answer.is_empty() {
            return answer;
        }
        assert!(answer.starts_with(b"HTTP/1."), "an answer that is not HTTP/1");
        let text = String::from_utf8_lossy(&answer);
        let statuses = text.lines().filter(|l| l.starts_with("HTTP/1.")).map(|l| l.get(9..12));
        for status in statuses {
            assert_ne!(status, Some("500"), "a server error: {text}");
        }
        assert!(!text.contains("panicked"), "a panic in an answer: {text}");
        answer
    }
}
