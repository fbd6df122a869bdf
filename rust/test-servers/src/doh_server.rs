//! A DNS-over-HTTPS server (RFC 8484 GET, `?dns=` base64url, `application/dns-message`) on
//! loopback that answers from recorded DNSSEC records ([`crate::dnssec_records`]): each
//! query gets the records of its name and type with their signatures, as a validating
//! resolver would (the AD bit set), and a name it has no records for gets NXDOMAIN. It can
//! serve the payment record tampered with, or answer slowly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use dnssec_prover::rr::{Record, RR};
use dnssec_prover::ser::write_rr;

use crate::http_server::LocalServer;

#[derive(Default)]
struct Shared {
    tampered: AtomicBool,
    delay_ms: AtomicU64,
    queries: AtomicU64,
}

/// A running DoH server (see the module docs); stopped when dropped.
pub struct DohServer {
    shared: Arc<Shared>,
    server: LocalServer,
}

impl DohServer {
    /// Starts the server on a free loopback port.
    pub fn start() -> DohServer {
        let shared = Arc::new(Shared::default());
        let router = Router::new().route("/dns-query", get(answer)).with_state(Arc::clone(&shared));
        DohServer { shared, server: LocalServer::start("doh-server", router) }
    }

    /// The URL to configure as the wallet's DoH resolver.
    pub fn url(&self) -> String {
        format!("http://{}/dns-query", self.server.addr())
    }

    /// Serves the payment record changed after it was signed (or honestly again).
    pub fn set_tampered(&self, tampered: bool) {
        self.shared.tampered.store(tampered, Ordering::SeqCst);
    }

    /// Waits this long before each answer.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many queries it has answered or is answering.
    pub fn queries(&self) -> u64 {
        self.shared.queries.load(Ordering::SeqCst)
    }
}

#[derive(serde::Deserialize)]
struct DnsParam {
    dns: String,
}

async fn answer(State(shared): State<Arc<Shared>>, Query(param): Query<DnsParam>) -> Response {
    shared.queries.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let Ok(query) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(param.dns.trim())
    else {
        return (StatusCode::BAD_REQUEST, "dns is not base64url").into_response();
    };
    let Some((name, ty, question_end)) = question(&query) else {
        return (StatusCode::BAD_REQUEST, "not a DNS query").into_response();
    };
    let records = crate::dnssec_records::all(shared.tampered.load(Ordering::SeqCst));
    let matching: Vec<&RR> = records
        .iter()
        .filter(|rr| rr.name().as_str().eq_ignore_ascii_case(&name))
        .filter(|rr| match rr {
            RR::RRSig(sig) => sig.ty == ty,
            other => other.ty() == ty,
        })
        .collect();
    // Header: id 0 (RFC 8484), a response, recursion desired and available, authenticated
    // data; NXDOMAIN when there is nothing. One question, the answers, nothing else.
    let flags: u16 = if matching.is_empty() { 0x81a3 } else { 0x81a0 };
    let mut message = vec![0, 0];
    message.extend(flags.to_be_bytes());
    message.extend([0, 1]);
    message.extend((matching.len() as u16).to_be_bytes());
    message.extend([0, 0, 0, 0]);
    message.extend(&query[12..question_end]);
    for rr in matching {
        write_rr(rr, 3600, &mut message);
    }
    ([(header::CONTENT_TYPE, "application/dns-message")], message).into_response()
}

/// The query's name (lower case, with the root's dot), type, and where its question ends.
fn question(query: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8(query.get(at..at + len)?.to_vec()).ok()?);
        at += len;
    }
    let ty = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let end = at + 4;
    query.get(..end)?;
    let name = if labels.is_empty() { ".".to_string() } else { format!("{}.", labels.join(".")) };
    Some((name.to_ascii_lowercase(), ty, end))
}
