//! An LNURL-pay server on loopback (LUD-06, and LUD-16's Lightning Addresses): the terms at
//! `/.well-known/lnurlp/<user>`, and the callback `/lnurlp/<user>/callback?amount=<msat>`
//! answering with a BOLT11 invoice that the test's node issues (committing to the terms'
//! metadata hash). It turns hostile on demand ([`LnurlMode`]) for the error tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ldk_node::bitcoin::bech32::{self, Bech32, Hrp};
use ldk_node::bitcoin::hashes::{sha256, Hash};

use crate::http_server::LocalServer;

/// Issues an invoice for `amount_msat` committing to `description_hash` (a node's
/// `receive` with `Bolt11InvoiceDescription::Hash`), as a BOLT11 string.
pub type IssueInvoice = Arc<dyn Fn(u64, [u8; 32]) -> Result<String, String> + Send + Sync>;

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LnurlMode {
    /// As LUD-06 says.
    Honest,
    /// Waits this long before each answer.
    Slow(Duration),
    /// Answers the terms with a megabyte.
    HugeBody,
    /// Answers the terms with HTML instead of JSON.
    GarbageJson,
    /// Issues an invoice for 1 sat more than asked.
    WrongAmount,
    /// Issues an invoice committing to another description.
    WrongDescriptionHash,
    /// Answers the callback with LUD-06's error JSON.
    ErrorStatus,
}

/// The least and most the server accepts, in msat.
pub const MIN_SENDABLE_MSAT: u64 = 1_000;
/// See [`MIN_SENDABLE_MSAT`].
pub const MAX_SENDABLE_MSAT: u64 = 100_000_000;

struct Shared {
    issue: IssueInvoice,
    mode: Mutex<LnurlMode>,
    base: String,
    invoices: AtomicU64,
}

/// A running LNURL-pay server (see the module docs); stopped when dropped.
pub struct LnurlServer {
    shared: Arc<Shared>,
    _server: LocalServer,
}

impl LnurlServer {
    /// Starts the server on a free loopback port; `issue` makes its invoices.
    pub fn start(issue: IssueInvoice) -> LnurlServer {
        // The callback URL names the server's own address: bind first, then build the router
        // that knows it.
        let shared_slot: Arc<Mutex<Option<Arc<Shared>>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&shared_slot);
        let router = Router::new()
            .route("/.well-known/lnurlp/{user}", get(terms))
            .route("/lnurlp/{user}/callback", get(callback))
            .with_state(slot);
        let server = LocalServer::start("lnurl-server", router);
        let url = format!("http://{}", server.addr());
        let shared = Arc::new(Shared {
            issue,
            mode: Mutex::new(LnurlMode::Honest),
            base: url,
            invoices: AtomicU64::new(0),
        });
        *shared_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&shared));
        LnurlServer { shared, _server: server }
    }

    /// Its base URL, `http://127.0.0.1:<port>` (a wallet's `DomainRoute.base_url`).
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The bech32 LNURL (`lnurl1…`) of `user`'s terms.
    pub fn lnurl(&self, user: &str) -> String {
        let url = format!("{}/.well-known/lnurlp/{user}", self.shared.base);
        let hrp = Hrp::parse("lnurl").unwrap_or_else(|e| panic!("the lnurl prefix: {e}"));
        bech32::encode::<Bech32>(hrp, url.as_bytes()).unwrap_or_else(|e| panic!("an LNURL: {e}"))
    }

    /// Changes how it behaves from the next request on.
    pub fn set_mode(&self, mode: LnurlMode) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// How many invoices it has issued.
    pub fn invoices_issued(&self) -> u64 {
        self.shared.invoices.load(Ordering::SeqCst)
    }
}

type Slot = Arc<Mutex<Option<Arc<Shared>>>>;

fn shared_of(slot: &Slot) -> Option<Arc<Shared>> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The terms' metadata for `user` (its hash is what invoices commit to).
fn metadata(user: &str) -> String {
    serde_json::json!([
        ["text/plain", format!("Pay {user} at the test shop")],
        ["text/identifier", format!("{user}@shop.test")],
    ])
    .to_string()
}

async fn behave(shared: &Shared) -> LnurlMode {
    let mode = *shared.mode.lock().unwrap_or_else(|e| e.into_inner());
    if let LnurlMode::Slow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    mode
}

fn json(value: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

async fn terms(State(slot): State<Slot>, Path(user): Path<String>) -> Response {
    let Some(shared) = shared_of(&slot) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match behave(&shared).await {
        LnurlMode::HugeBody => return json(serde_json::json!({ "pad": "x".repeat(1 << 20) })),
        LnurlMode::GarbageJson => return "<html>it works!</html>".into_response(),
        _ => {}
    }
    if user == "nobody" {
        return StatusCode::NOT_FOUND.into_response();
    }
    json(serde_json::json!({
        "tag": "payRequest",
        "callback": format!("{}/lnurlp/{user}/callback", shared.base),
        "minSendable": MIN_SENDABLE_MSAT,
        "maxSendable": MAX_SENDABLE_MSAT,
        "metadata": metadata(&user),
    }))
}

#[derive(serde::Deserialize)]
struct AmountParam {
    amount: u64,
}

async fn callback(
    State(slot): State<Slot>,
    Path(user): Path<String>,
    Query(AmountParam { amount }): Query<AmountParam>,
) -> Response {
    let Some(shared) = shared_of(&slot) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mode = behave(&shared).await;
    if mode == LnurlMode::ErrorStatus {
        return json(serde_json::json!({ "status": "ERROR", "reason": "the shop is closed" }));
    }
    let amount = if mode == LnurlMode::WrongAmount { amount + 1_000 } else { amount };
    let committed = match mode {
        LnurlMode::WrongDescriptionHash => metadata("somebody else"),
        _ => metadata(&user),
    };
    let hash = sha256::Hash::hash(committed.as_bytes()).to_byte_array();
    // The node's call blocks: keep it off the server's only thread's async path.
    let issue = Arc::clone(&shared.issue);
    let issued = tokio::task::spawn_blocking(move || issue(amount, hash)).await;
    match issued {
        Ok(Ok(invoice)) => {
            shared.invoices.fetch_add(1, Ordering::SeqCst);
            json(serde_json::json!({ "pr": invoice, "routes": [] }))
        }
        Ok(Err(e)) => json(serde_json::json!({ "status": "ERROR", "reason": e })),
        Err(e) => json(serde_json::json!({ "status": "ERROR", "reason": e.to_string() })),
    }
}
