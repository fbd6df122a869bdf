//! The scene the foreign-language tests (bindings/python, bindings/kotlin) drive a real wallet
//! against: a devnet, a Doze LSP with on-chain funds, and a merchant (stock ldk-node) with a
//! 1 000 000 sat channel to the LSP.
//!
//! ```sh
//! cargo run -p doze-ffi --example doze-test-scene             # the plain scene
//! cargo run -p doze-ffi --example doze-test-scene -- --async  # the async-payment scene
//! ```
//!
//! `--async` builds doze-lsp's async-payment topology instead (sender ── LSP-B ══ LSP-A, the
//! phone's LSP being LSP-A, plus a webhook receiver for its pushes; about 30 s to build) and
//! serves `/async/open_channel`, `/async/wait_offline`, `/async/pay_offer`, `/async/wait_push`,
//! `/async/sender_outcome` and `/mine` (see `AsyncHost`).
//!
//! Prints one JSON line on stdout once everything is ready:
//! `{"esplora_url", "lsp_node_id", "lsp_address", "lsp_api_url", "merchant_node_id",
//! "control_url"}`, then serves a small HTTP control API on loopback until its standard input
//! closes (the test process exiting closes it), and then stops everything:
//!
//! ```text
//! POST /merchant/pay       {"bolt11": "..."}                  -> {"paid": bool, "reason"?: "..."}
//! POST /merchant/invoice   {"amount_msat": n}                 -> {"bolt11": "...", "payment_hash": "..."}
//! POST /merchant/received  {"payment_hash": "..."}            -> {"status": "succeeded"|"pending"|"failed"|"unknown"}
//! POST /mine               {"blocks": n}                      -> {"height": n}
//! POST /fund               {"address": "...", "amount_sat": n} -> {"txid": "..."}
//! POST /lsp/push                                              -> {"payload_hex", "timestamp", "signature"}
//!      (an `lsps5.onion_message_incoming` notification signed by the LSP, as its dispatcher sends it)
//! GET  /health                                                -> {"ok": true}
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doze_devnet::nodes::{expect_event, wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::Lsp;
use ldk_node::bitcoin::{Address, Amount};
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::payment::{PaymentKind, PaymentStatus};
use ldk_node::Event;
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

struct Scene {
    merchant: TestNode,
    lsp: Lsp,
    devnet: Devnet,
    _lsp_dir: tempfile::TempDir,
}

fn set_up() -> Result<Scene, String> {
    let devnet = Devnet::start().map_err(|e| format!("devnet: {e}"))?;
    let lsp_dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let lsp = Lsp::start(doze_lsp::devnet_config(&devnet.esplora_url(), lsp_dir.path()))
        .map_err(|e| format!("LSP: {e}"))?;
    let address = lsp.new_onchain_address().map_err(|e| format!("LSP address: {e}"))?;
    devnet
        .fund_confirmed(&address, Amount::from_sat(5_000_000))
        .map_err(|e| format!("fund LSP: {e}"))?;
    wait_until("the LSP sees its funds", DEFAULT_WAIT, || {
        lsp.sync().is_ok() && lsp.node().list_balances().spendable_onchain_balance_sats > 0
    });

    let merchant = devnet.start_node("merchant");
    devnet.fund_node(&merchant, Amount::from_sat(2_000_000));
    merchant
        .open_channel(lsp.node_id(), lsp.p2p_address(), 1_000_000, None, None)
        .map_err(|e| format!("merchant opens a channel to the LSP: {e}"))?;
    expect_event(&merchant, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
    if !devnet.wait_for_mempool_len(1, DEFAULT_WAIT) {
        return Err("the channel funding never reached the mempool".into());
    }
    devnet.mine(6);
    wait_until("the merchant's channel to the LSP is usable", DEFAULT_WAIT, || {
        merchant.sync_wallets().is_ok()
            && lsp.sync().is_ok()
            && merchant.list_channels().iter().any(|c| c.is_usable)
    });
    Ok(Scene { merchant, lsp, devnet, _lsp_dir: lsp_dir })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Served for Scene {
    fn info(&self) -> Value {
        json!({
            "esplora_url": self.devnet.esplora_url(),
            "lsp_node_id": self.lsp.node_id().to_string(),
            "lsp_address": self.lsp.p2p_address().to_string(),
            "lsp_api_url": self.lsp.http_url(),
            "merchant_node_id": self.merchant.node_id().to_string(),
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
                let text = body["bolt11"].as_str().ok_or("bolt11 missing")?;
                let invoice: Bolt11Invoice = text.parse().map_err(|e| format!("invoice: {e}"))?;
                let id = self
                    .merchant
                    .bolt11_payment()
                    .send(&invoice, None)
                    .map_err(|e| format!("send: {e}"))?;
                let outcome = expect_event(&self.merchant, DEFAULT_WAIT, |e| match e {
                    Event::PaymentSuccessful { payment_id, .. }
                    | Event::PaymentFailed { payment_id, .. } => *payment_id == Some(id),
                    _ => false,
                });
                Ok(match outcome {
                    Event::PaymentSuccessful { .. } => json!({"paid": true}),
                    Event::PaymentFailed { reason, .. } => {
                        json!({"paid": false, "reason": format!("{reason:?}")})
                    }
                    _ => json!({"paid": false}),
                })
            }
            ("POST", "/merchant/invoice") => {
                let amount = body["amount_msat"].as_u64().ok_or("amount_msat missing")?;
                let description = Description::new("coffee".into()).map_err(|e| e.to_string())?;
                let invoice = self
                    .merchant
                    .bolt11_payment()
                    .receive(amount, &Bolt11InvoiceDescription::Direct(description), 3600)
                    .map_err(|e| format!("invoice: {e}"))?;
                Ok(
                    json!({"bolt11": invoice.to_string(), "payment_hash": hex(&invoice.payment_hash()[..])}),
                )
            }
            ("POST", "/merchant/received") => {
                let wanted =
                    body["payment_hash"].as_str().ok_or("payment_hash missing")?.to_lowercase();
                let status = self
                    .merchant
                    .list_payments()
                    .iter()
                    .find(|p| matches!(&p.kind, PaymentKind::Bolt11 { hash, .. } if hex(&hash.0) == wanted))
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
            ("POST", "/lsp/push") => {
                use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
                use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
                let body = serde_json::to_string(&WebhookNotification::onion_message_incoming())
                    .map_err(|e| e.to_string())?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|e| e.to_string())?;
                let timestamp = LSPSDateTime::new_from_duration_since_epoch(now).to_rfc3339();
                let message = format!(
                    "LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {body}"
                );
                let signature = self.lsp.node().sign_message(message.as_bytes());
                Ok(
                    json!({"payload_hex": hex(body.as_bytes()), "timestamp": timestamp, "signature": signature}),
                )
            }
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
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn main() {
    let async_mode = std::env::args().any(|a| a == "--async");
    let scene: Box<dyn Served> = match if async_mode {
        set_up_async().map(|s| Box::new(s) as Box<dyn Served>)
    } else {
        set_up().map(|s| Box::new(s) as Box<dyn Served>)
    } {
        Ok(scene) => scene,
        Err(e) => {
            eprintln!("doze-test-scene: {e}");
            std::process::exit(1);
        }
    };
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
    scene.stop();
    drop(scene);
}

// ---------------------------------------------------------------------------------------------
// The async-payment scene (`--async`): an offline phone paid through its LSP and woken by a push.

/// doze-lsp's async-payment topology: sender ── LSP-B ══ LSP-A ── phone (the wallet under
/// test, configured with LSP-A), plus a webhook receiver for LSP-A's pushes.
struct AsyncHost {
    scene: doze_lsp::testing::AsyncScene,
    webhook: doze_lsp::testing::WebhookReceiver,
    /// LSP-A's onion-message interception records (to launch the wake once the sender's
    /// held_htlc_available is in the mailbox, as a real phone's start-up latency would).
    interceptions: Arc<std::sync::Mutex<Vec<String>>>,
    devnet: Devnet,
}

fn set_up_async() -> Result<AsyncHost, String> {
    let devnet = Devnet::start().map_err(|e| format!("devnet: {e}"))?;
    let interceptions = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&interceptions);
    let observers = doze_lsp::Observers::new().on_log(move |record| {
        if record.module_path.contains("onion_message") {
            let text = record.args.to_string();
            if text.contains("OnionMessageIntercepted") {
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(text);
            }
        }
    });
    let scene = doze_lsp::testing::AsyncScene::start(&devnet, observers, |_| {});
    let webhook = doze_lsp::testing::WebhookReceiver::start();
    Ok(AsyncHost { scene, webhook, interceptions, devnet })
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
                doze_lsp::testing::AsyncScene::wait_until_offline_at(
                    &self.scene.lsp_a,
                    node_id(body)?,
                    DEFAULT_WAIT,
                );
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
                Ok(json!({"payment_id": hex(&id.0)}))
            }
            // Waits for LSP-A's push to the webhook and for the sender's HTLC to be held at LSP-B,
            // then hands the push over as the phone would receive it.
            ("POST", "/async/wait_push") => {
                let push = self.webhook.wait_for(1, Duration::from_secs(90)).remove(0);
                let from_sender = format!(
                    "when forwarding peeled onion message from {}",
                    self.scene.sender.node_id()
                );
                wait_until("LSP-A holds the sender's held_htlc_available", DEFAULT_WAIT, || {
                    self.interceptions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .any(|t| t.ends_with(&from_sender))
                });
                self.scene.wait_for_held_htlcs_at_lsp_b(1, DEFAULT_WAIT);
                let header = |name: &str| push.headers.get(name).cloned().unwrap_or_default();
                Ok(json!({
                    "payload_hex": hex(push.body.as_bytes()),
                    "timestamp": header("x-lsps5-timestamp"),
                    "signature": header("x-lsps5-signature"),
                }))
            }
            // The sender's outcome.
            ("POST", "/async/sender_outcome") => {
                let outcome = expect_event(&self.scene.sender, DEFAULT_WAIT, |e| {
                    matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
                });
                Ok(json!({"paid": matches!(outcome, Event::PaymentSuccessful { .. })}))
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
