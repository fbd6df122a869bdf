//! The one way name resolution fetches anything: a GET with a timeout, no redirects (a
//! redirect could lead from https to a place [`allowed_url`] refuses) and a bound on the body,
//! read in chunks so that a hostile server's endless answer costs at most that bound.

use std::time::Duration;

use crate::config::{allowed_url, Network};

/// Why a fetch failed, before the caller words it for the step it was in.
#[derive(Debug)]
pub(super) enum Failure {
    /// The URL is refused by policy (the reason says why).
    Refused(String),
    /// No connection, a TLS failure, or a broken answer.
    Unreachable(String),
    /// No complete answer in time.
    TimedOut,
    /// An HTTP status other than 200.
    Status(u16),
    /// The answer is larger than the bound.
    TooBig(usize),
}

impl Failure {
    /// In words a person can act on.
    pub(super) fn words(&self, timeout: Duration) -> String {
        match self {
            Failure::Refused(why) => why.clone(),
            Failure::Unreachable(why) => {
                format!("it could not be reached ({why}); check the connection and try again")
            }
            Failure::TimedOut => format!(
                "no answer within {} s; check the connection and try again later",
                timeout.as_secs()
            ),
            Failure::Status(code) => format!("it answered with HTTP status {code}"),
            Failure::TooBig(limit) => format!("its answer is larger than {limit} bytes"),
        }
    }
}

/// A client for name resolution: `timeout` for each request (connecting included).
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot make an HTTP client ({e})"))
}

/// GETs `url` (checked against [`allowed_url`] for `network`) and returns at most
/// `max_bytes` of body, or why not.
pub(super) async fn get(
    client: &reqwest::Client,
    url: &str,
    network: Network,
    accept: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let url = allowed_url(url, network).map_err(Failure::Refused)?;
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| if e.is_timeout() { Failure::TimedOut } else { unreachable(&e) })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(Failure::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(Failure::TooBig(max_bytes));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                Failure::TimedOut
            } else {
                unreachable(&e)
            }
        })?;
        let Some(chunk) = chunk else { return Ok(body) };
        if body.len() + chunk.len() > max_bytes {
            return Err(Failure::TooBig(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
}

/// A reqwest error without its URL (which may carry a query a person need not see twice).
fn unreachable(e: &reqwest::Error) -> Failure {
    let kind = if e.is_connect() {
        "no connection"
    } else if e.is_body() || e.is_decode() {
        "a broken answer"
    } else {
        "a request error"
    };
    Failure::Unreachable(kind.into())
}
