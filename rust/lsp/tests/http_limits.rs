//! The LSP's HTTP server against clients that hold on to it or flood it: half-sent headers,
//! idle keep-alive connections, slow bodies, too many connections, big bodies, registration
//! floods, and strangers at the operator endpoints. Each limit answers JSON (where the server
//! answers at all) and lets go of what the client held.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{get_json, init_logs};
use doze_devnet::Devnet;
use doze_lsp::api::{ApiError, Health, NodeInfo};
use doze_lsp::push::{ErrorCode, PushApiError};
use doze_lsp::{Lsp, Observers};
use doze_testkit::lsp::start_lsp;

/// How much later than its limit the server may act (a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(5);

fn connect(addr: SocketAddr) -> TcpStream {
    let addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// Everything the server sends until it closes the connection, or `None` if it has not
/// closed it within `within`.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            // A reset is a close too (the server dropped a connection with unread input).
            Err(_) => return Some(String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

/// The JSON body of a raw HTTP answer.
fn json_body<T: serde::de::DeserializeOwned>(answer: &str) -> T {
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no body: {answer}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not the expected JSON ({e}): {body}"))
}

fn post_register_raw(
    url: &str,
    body: impl Into<reqwest::blocking::Body>,
) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(format!("{url}/v1/push/register"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("POST")
}

#[test]
fn slow_and_idle_clients_are_cut_off_and_connections_are_capped() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    let lsp = start_lsp(&devnet, dir.path(), Observers::new(), |c| {
        c.http.header_read_timeout_secs = 2;
        c.http.request_timeout_secs = 3;
        c.http.max_connections = 32;
    });
    let addr = lsp.http_addr();

    // The attack the limits are for: connections that send half a header and wait.
    let mut slow: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut stream = connect(addr);
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: lsp\r\nX-Slow: a").expect("write");
            stream
        })
        .collect();
    let opened = Instant::now();
    // One over the cap is answered 503 with JSON at once, and closed.
    for _ in 0..8 {
        let mut extra = connect(addr);
        let answer = read_until_closed(&mut extra, SLACK).expect("an answer and a close");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
        let error: ApiError = json_body(&answer);
        assert!(error.error.contains("too many open connections"), "{}", error.error);
    }
    assert_eq!(lsp.http_stats().refused_connections, 8);
    // Each half-sent header is cut off at the header timeout: no connection is held past it.
    for stream in &mut slow {
        let left =
            (opened + Duration::from_secs(2) + SLACK).saturating_duration_since(Instant::now());
        assert!(read_until_closed(stream, left).is_some(), "held past the header timeout");
    }
    eprintln!("32 half-sent headers cut off after {:?}", opened.elapsed());
    // The slots are free again.
    let health: Health = get_json(&lsp.http_url(), "/health", 200);
    assert_eq!(health.status, "ok");

    // A keep-alive connection that goes quiet after an answer is closed after as long.
    let mut idle = connect(addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: lsp\r\n\r\n").expect("write");
    let answered = Instant::now();
    let answer = read_until_closed(&mut idle, Duration::from_secs(2) + SLACK)
        .expect("closed after idling for the header timeout");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answered.elapsed() >= Duration::from_secs(1), "not cut off early: {answer}");

    // A body that never arrives: 408 with JSON at the request timeout, then closed.
    let mut trickle = connect(addr);
    trickle
        .write_all(
            b"POST /v1/push/register HTTP/1.1\r\nHost: lsp\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\n\r\n{\"node_id\":",
        )
        .expect("write");
    let answer = read_until_closed(&mut trickle, Duration::from_secs(3) + SLACK)
        .expect("answered within the request timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let error: ApiError = json_body(&answer);
    assert!(error.error.contains("within 3 s"), "{}", error.error);
    assert_eq!(lsp.http_stats().timed_out_requests, 1);
    assert_eq!(lsp.push().store().counts().expect("counts"), (0, 0), "nothing stored");
    lsp.stop().expect("LSP stops");
}

#[test]
fn bodies_and_registrations_per_source_are_bounded_with_json_answers() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    let lsp = start_lsp(&devnet, dir.path(), Observers::new(), |c| {
        c.http.max_body_bytes = 4096;
        c.http.registrations_per_minute_per_source = 3;
        c.http.forwarded_for_header = Some("x-forwarded-for".into());
    });
    let url = lsp.http_url();

    // Too big: 413 too_large.
    let response = post_register_raw(&url, vec![b'x'; 8192]);
    assert_eq!(response.status().as_u16(), 413);
    // The body is left unread, so the server closes the connection, and says so: a client's
    // pool must not send its next request on it.
    assert_eq!(response.headers()["connection"], "close");
    let error: PushApiError = response.json().expect("a JSON error");
    assert_eq!(error.code, ErrorCode::TooLarge, "{}", error.error);
    // Two malformed ones: 400 each. That is this source's three for the minute.
    for _ in 0..2 {
        let response = post_register_raw(&url, "{not json");
        assert_eq!(response.status().as_u16(), 400);
    }
    // The fourth: 429 rate_limited, with when to come back (3 a minute: one per 20 s).
    let response = post_register_raw(&url, "{not json");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["connection"], "close", "the body was not read");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let error: PushApiError = response.json().expect("a JSON error");
    assert_eq!(error.code, ErrorCode::RateLimited, "{}", error.error);
    assert_eq!(error.retry_after_secs, Some(retry_after));

    // Another client behind the same loopback proxy is another source, with its own allowance.
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/push/register"))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.5")
        .body("{not json")
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400, "not rate limited");
    assert_eq!(lsp.push().store().counts().expect("counts"), (0, 0), "nothing stored");
    // Other endpoints are not limited by registrations.
    let health: Health = get_json(&url, "/health", 200);
    assert_eq!(health.status, "ok");
    lsp.stop().expect("LSP stops");
}

#[test]
fn operator_endpoints_need_the_token_off_loopback() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let token = "a-random-operator-token-0123456789";
    let public = |token: Option<&str>| {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = token.map(String::from);
        let lsp = start_lsp(&devnet, dir.path(), Observers::new(), move |c| {
            c.http_listen = SocketAddr::from(([0, 0, 0, 0], 0));
            c.http.operator_token = token;
        });
        (dir, lsp)
    };
    let get = |lsp: &Lsp, path: &str, bearer: Option<&str>| {
        let url = format!("http://127.0.0.1:{}{path}", lsp.http_addr().port());
        let mut request = reqwest::blocking::Client::new().get(url);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().expect("GET")
    };
    let operator_paths = ["/v1/node", "/v1/channels", "/v1/push/stats"];

    // On every interface without a token: the phones' endpoints answer, the operator's refuse.
    let (_dir, open) = public(None);
    for path in operator_paths {
        let response = get(&open, path, Some(token));
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let error: ApiError = response.json().expect("a JSON error");
        assert!(error.error.contains("http.operator_token"), "{}", error.error);
    }
    assert_eq!(get(&open, "/health", None).status().as_u16(), 200);
    assert_eq!(get(&open, "/v1/lsps2/fees", None).status().as_u16(), 200);
    open.stop().expect("LSP stops");

    // With a token: only its holder.
    let (_dir, guarded) = public(Some(token));
    for path in operator_paths {
        for bearer in [None, Some("a-wrong-operator-token-0123456789")] {
            let response = get(&guarded, path, bearer);
            assert_eq!(response.status().as_u16(), 401, "{path} with {bearer:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let error: ApiError = response.json().expect("a JSON error");
            assert!(!error.error.contains(token), "the token is never echoed");
        }
    }
    let info: NodeInfo = get(&guarded, "/v1/node", Some(token)).json().expect("NodeInfo");
    assert_eq!(info.node_id, guarded.node_id().to_string());
    assert_eq!(get(&guarded, "/v1/push/stats", Some(token)).status().as_u16(), 200);
    let shown = format!("{:?}", guarded.config());
    assert!(!shown.contains(token), "Debug of the config redacts the token: {shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    guarded.stop().expect("LSP stops");
}
