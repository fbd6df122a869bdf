//! The scene the foreign-language tests (bindings/python, bindings/kotlin) drive a real wallet
//! against: doze-testkit's scene (a devnet, a Doze LSP with on-chain funds, and a merchant,
//! stock ldk-node, with a 1 000 000 sat channel to the LSP), served over a small control API.
//!
//! ```sh
//! cargo run -p doze-ffi --example doze-test-scene             # the plain scene
//! cargo run -p doze-ffi --example doze-test-scene -- --async  # the async-payment scene
//! cargo run -p doze-ffi --example doze-test-scene -- --lsp-fees  # an LSP that charges
//! ```
//!
//! `--lsp-fees` gives the plain scene's LSP JIT-channel fees of 1 % with a 1 000 sat minimum
//! (the devnet LSP's are 0); the ready line reports them as `jit_fee_ppm` and
//! `jit_min_fee_msat`.
//!
//! `--async` builds doze-testkit's async-payment topology instead
//! (sender ── LSP-B ══ LSP-A, the phone's LSP being LSP-A, plus a webhook receiver for its
//! pushes; about 30 s to build) and serves `/async/open_channel`, `/async/wait_offline`,
//! `/async/pay_offer`, `/async/wait_push`, `/async/sender_outcome` and `/mine` (see
//! `AsyncHost`).
//!
//! The plain scene also runs the reference backup server (PostgreSQL and LDK's `vss-server` on
//! loopback; scripts/install-backup-server installs them), an LNURL-pay server whose invoices
//! the merchant issues (a wallet pays `alice@shop.test` with a `DomainRoute` from `shop.test`
//! to `lnurl_base_url`), and a DoH server (`doh_url`) that knows no `shop.test` name, so
//! that a name falls back to its Lightning Address.
//!
//! Prints one JSON line on stdout once everything is ready:
//! `{"esplora_url", "lsp_node_id", "lsp_address", "lsp_api_url", "merchant_node_id",
//! "jit_fee_ppm", "jit_min_fee_msat", "backup_url", "lnurl_base_url", "doh_url" (the last three
//! plain scene only), "control_url"}`, then
//! serves a small HTTP control API on loopback until its standard input closes (the test
//! process exiting closes it), and then stops everything:
//!
//! ```text
//! POST /merchant/pay       {"bolt11": "..."}       -> {"paid": bool}
//! POST /merchant/invoice   {"amount_msat": n}      -> {"bolt11": "...", "payment_hash": "..."}
//! POST /merchant/received  {"payment_hash": "..."}
//!                          -> {"status": "succeeded"|"pending"|"failed"|"unknown"}
//! POST /mine               {"blocks": n}           -> {"height": n}
//! POST /fund               {"address": "...", "amount_sat": n} -> {"txid": "..."}
//! POST /lsp/push                                   -> {"payload_hex", "timestamp", "signature"}
//!      (an `lsps5.onion_message_incoming` notification signed by the LSP, as its dispatcher
//!      sends it)
//! GET  /health                                     -> {"ok": true}
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doze_devnet::nodes::DEFAULT_WAIT;
use doze_devnet::Devnet;
use doze_lsp::Observers;
use doze_testkit::async_scene::Interceptions;
use doze_testkit::backup_server::BackupServer;
use doze_testkit::doh_server::DohServer;
use doze_testkit::lnurl_server::LnurlServer;
use doze_testkit::{AsyncScene, ReceivedPush, Scene, WebhookReceiver};
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::{Address, Amount};
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::payment::{PaymentKind, PaymentStatus};
use serde_json::{json, Value};

/// What the control server serves: the plain scene or the async-payment one.
trait Served {
    /// The JSON line printed when ready.
    fn info(&self) -> Value;
    /// One control request.
    fn handle(&self, method: &str, path: &str, body: &Value) -> Result<Value, String>;
    /// Stops the nodes.
    fn stop(&self);
}

impl Served for Scene {
    fn info(&self) -> Value {
        json!({
            "esplora_url": self.devnet.esplora_url(),
            "lsp_node_id": self.lsp.node_id().to_string(),
            "lsp_address": self.lsp.p2p_address().to_string(),
            "lsp_api_url": self.lsp.http_url(),
            "merchant_node_id": self.merchant.node_id().to_string(),
            "jit_fee_ppm": self.lsp.config().lsps2.channel_opening_fee_ppm,
            "jit_min_fee_msat": self.lsp.config().lsps2.min_channel_opening_fee_msat,
        })
    }

    fn stop(&self) {
        let _ = self.merchant.stop();
        let _ = self.lsp.stop();
    }

    fn handle(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        match (method, path) {
            ("GET", "/health") => Ok(json!({"ok": true})),
            ("POST", "/merchant/pay") => {
                let bolt11 = body["bolt11"].as_str().ok_or("bolt11 missing")?;
                Ok(json!({"paid": self.merchant_pays(bolt11)}))
            }
            ("POST", "/merchant/invoice") => {
                let amount = body["amount_msat"].as_u64().ok_or("amount_msat missing")?;
                let bolt11 = self.merchant_invoice(amount);
                let invoice: Bolt11Invoice = bolt11.parse().map_err(|e| format!("{e}"))?;
                Ok(json!({
                    "bolt11": bolt11,
                    "payment_hash": invoice.payment_hash()[..].to_lower_hex_string()
                }))
            }
            ("POST", "/merchant/received") => {
                let wanted =
                    body["payment_hash"].as_str().ok_or("payment_hash missing")?.to_lowercase();
                let status = self
                    .merchant
                    .list_payments()
                    .iter()
                    .find(|p| {
                        matches!(
                            &p.kind,
                            PaymentKind::Bolt11 { hash, .. }
                                if hash.0.to_lower_hex_string() == wanted
                        )
                    })
                    .map(|p| match p.status {
                        PaymentStatus::Succeeded => "succeeded",
                        PaymentStatus::Pending => "pending",
                        PaymentStatus::Failed => "failed",
                    })
                    .unwrap_or("unknown");
                Ok(json!({"status": status}))
            }
            ("POST", "/mine") => {
                let blocks = body["blocks"].as_u64().unwrap_or(1) as u32;
                self.devnet.mine(blocks);
                Ok(json!({"height": self.devnet.tip().0}))
            }
            ("POST", "/fund") => {
                let text = body["address"].as_str().ok_or("address missing")?;
                let amount = body["amount_sat"].as_u64().ok_or("amount_sat missing")?;
                let address = text
                    .parse::<Address<_>>()
                    .map_err(|e| format!("address: {e}"))?
                    .require_network(ldk_node::bitcoin::Network::Regtest)
                    .map_err(|e| format!("address: {e}"))?;
                let txid = self
                    .devnet
                    .fund(&address, Amount::from_sat(amount))
                    .map_err(|e| format!("fund: {e}"))?;
                Ok(json!({"txid": txid.to_string()}))
            }
            ("POST", "/lsp/push") => Ok(push_json(&ReceivedPush::signed_by(&self.lsp.node()))),
            _ => Err(format!("no route {method} {path}")),
        }
    }
}

/// Reads one HTTP/1.1 request: method, path, JSON body (`null` when empty).
fn read_request(stream: &TcpStream) -> Result<(String, String, Value), String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(|e| e.to_string())?;
        let header = header.trim();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "bad content-length")?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())?
    };
    Ok((method, path, body))
}

fn respond(mut stream: &TcpStream, status: &str, body: &Value) {
    let text = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn main() {
    let async_mode = std::env::args().any(|a| a == "--async");
    let lsp_fees = std::env::args().any(|a| a == "--lsp-fees");
    // A scene that cannot be built panics with what failed (exit status 101).
    let mut names = None;
    let scene: Box<dyn Served> = match (async_mode, lsp_fees) {
        (true, _) => Box::new(AsyncHost::start()),
        (false, true) => Box::new(Scene::with_lsp(|c| {
            c.lsps2.channel_opening_fee_ppm = 10_000;
            c.lsps2.min_channel_opening_fee_msat = 1_000_000;
        })),
        (false, false) => {
            let scene = Scene::new();
            names = Some(name_servers(&scene));
            Box::new(scene)
        }
    };
    let backup = (!async_mode && !lsp_fees).then(BackupServer::start);
    let listener =
        match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr().map(|a| (l, a))) {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("doze-test-scene: cannot listen: {e}");
                std::process::exit(1);
            }
        };
    let (listener, addr) = listener;
    let mut ready = scene.info();
    ready["control_url"] = json!(format!("http://{addr}"));
    if let Some(backup) = &backup {
        ready["backup_url"] = json!(backup.url());
    }
    if let Some((lnurl, doh)) = &names {
        ready["lnurl_base_url"] = json!(lnurl.base_url());
        ready["doh_url"] = json!(doh.url());
    }
    println!("{ready}");
    let _ = std::io::stdout().flush();

    // Standard input closing (the test runner exiting, however it exits) ends the scene.
    let closing = Arc::new(AtomicBool::new(false));
    {
        let closing = Arc::clone(&closing);
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            closing.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        });
    }
    for stream in listener.incoming() {
        if closing.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        match read_request(&stream) {
            Ok((method, path, body)) => {
                // A scene helper that gives up (a wait timing out) panics: answer 500 and go on.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    scene.handle(&method, &path, &body)
                }));
                match result {
                    Ok(Ok(answer)) => respond(&stream, "200 OK", &answer),
                    Ok(Err(e)) => respond(&stream, "400 Bad Request", &json!({"error": e})),
                    Err(_) => respond(
                        &stream,
                        "500 Internal Server Error",
                        &json!({"error": "the scene helper panicked"}),
                    ),
                }
            }
            Err(e) => respond(&stream, "400 Bad Request", &json!({"error": e})),
        }
    }
    // The name servers first: the LNURL server holds the merchant's node, and must not drop
    // its last handle (which ends the node's runtime) on its own async thread.
    drop(names);
    scene.stop();
    drop(scene);
}

/// An LNURL-pay server issuing the merchant's invoices, and a DoH server beside it.
fn name_servers(scene: &Scene) -> (LnurlServer, DohServer) {
    let merchant = Arc::clone(&scene.merchant.node);
    let lnurl = LnurlServer::start(Arc::new(move |amount_msat, hash| {
        use ldk_node::bitcoin::hashes::{sha256, Hash};
        use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Sha256};
        let description =
            Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(hash)));
        merchant
            .bolt11_payment()
            .receive(amount_msat, &description, 600)
            .map(|invoice| invoice.to_string())
            .map_err(|e| e.to_string())
    }));
    (lnurl, DohServer::start())
}

// ---------------------------------------------------------------------------------------------
// The async-payment scene (`--async`): an offline phone paid through its LSP and woken by a push.

/// The test kit's async-payment topology: sender ── LSP-B ══ LSP-A ── phone (the wallet
/// under test, configured with LSP-A), plus a webhook receiver for LSP-A's pushes.
struct AsyncHost {
    scene: AsyncScene,
    webhook: WebhookReceiver,
    /// LSP-A's onion-message interceptions (to hand the push over once the sender's
    /// held_htlc_available is in the mailbox, as a real phone's start-up latency would).
    interceptions: Arc<Interceptions>,
    devnet: Devnet,
}

impl AsyncHost {
    fn start() -> AsyncHost {
        let devnet = Devnet::start().unwrap_or_else(|e| panic!("the devnet starts: {e}"));
        let interceptions = Interceptions::new();
        let scene = AsyncScene::start(&devnet, interceptions.observers(Observers::new()), |_| {});
        AsyncHost { scene, webhook: WebhookReceiver::start(), interceptions, devnet }
    }
}

/// A push as the phone receives it: the payload (hex) and the LSPS5 headers.
fn push_json(push: &ReceivedPush) -> Value {
    let header = |name: &str| push.headers.get(name).cloned().unwrap_or_default();
    json!({
        "payload_hex": push.body.as_bytes().to_lower_hex_string(),
        "timestamp": header("x-lsps5-timestamp"),
        "signature": header("x-lsps5-signature"),
    })
}

fn node_id(body: &Value) -> Result<ldk_node::bitcoin::secp256k1::PublicKey, String> {
    body["node_id"].as_str().ok_or("node_id missing")?.parse().map_err(|e| format!("node_id: {e}"))
}

impl Served for AsyncHost {
    fn info(&self) -> Value {
        json!({
            "esplora_url": self.devnet.esplora_url(),
            "lsp_node_id": self.scene.lsp_a.node_id().to_string(),
            "lsp_address": self.scene.lsp_a.p2p_address().to_string(),
            "lsp_api_url": self.scene.lsp_a.http_url(),
            "lsp_b_node_id": self.scene.lsp_b.node_id().to_string(),
            "sender_node_id": self.scene.sender.node_id().to_string(),
            "webhook_url": self.webhook.url(),
        })
    }

    fn stop(&self) {
        let _ = self.scene.sender.stop();
        let _ = self.scene.lsp_a.stop();
        let _ = self.scene.lsp_b.stop();
    }

    fn handle(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        match (method, path) {
            ("GET", "/health") => Ok(json!({"ok": true})),
            // LSP-A opens a private channel of `sats` to the phone.
            ("POST", "/async/open_channel") => {
                let sats = body["sats"].as_u64().ok_or("sats missing")?;
                self.scene.open_channel_to_phone(&self.devnet, node_id(body)?, None, sats, &[]);
                Ok(json!({"ok": true}))
            }
            // Returns once LSP-A sees the phone disconnected (it then holds messages for it).
            ("POST", "/async/wait_offline") => {
                AsyncScene::wait_until_offline_at(&self.scene.lsp_a, node_id(body)?, DEFAULT_WAIT);
                Ok(json!({"ok": true}))
            }
            // The sender pays the phone's offer (without waiting for the outcome).
            ("POST", "/async/pay_offer") => {
                let offer: ldk_node::lightning::offers::offer::Offer = body["offer"]
                    .as_str()
                    .ok_or("offer missing")?
                    .parse()
                    .map_err(|e| format!("offer: {e:?}"))?;
                let amount = body["amount_msat"].as_u64().ok_or("amount_msat missing")?;
                let id = self
                    .scene
                    .sender
                    .bolt12_payment()
                    .send_using_amount(&offer, amount, None, None, None)
                    .map_err(|e| format!("send: {e}"))?;
                Ok(json!({"payment_id": id.0.to_lower_hex_string()}))
            }
            // Waits for LSP-A's push to the webhook and for the sender's HTLC to be held at LSP-B,
            // then hands the push over as the phone would receive it.
            ("POST", "/async/wait_push") => {
                let push = self.webhook.wait_for(1, Duration::from_secs(90)).remove(0);
                self.interceptions.wait_from_sender(self.scene.sender.node_id(), 0, DEFAULT_WAIT);
                self.scene.wait_for_held_htlcs_at_lsp_b(1, DEFAULT_WAIT);
                Ok(push_json(&push))
            }
            // The sender's outcome.
            ("POST", "/async/sender_outcome") => {
                Ok(json!({"paid": self.scene.sender_outcome(DEFAULT_WAIT)}))
            }
            ("POST", "/mine") => {
                let blocks = body["blocks"].as_u64().unwrap_or(1) as u32;
                self.devnet.mine(blocks);
                Ok(json!({"height": self.devnet.tip().0}))
            }
            _ => Err(format!("no route {method} {path}")),
        }
    }
}
