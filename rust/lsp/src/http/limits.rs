//! What one client may take from the LSP's HTTP server: the `[http]` config table and the
//! per-source registration rate limit.
//!
//! The server faces the open internet (through a reverse proxy, at least for the phones'
//! paths), so every resource a stranger can hold is bounded: a connection's time to send its
//! headers (also the time a keep-alive connection may sit idle), a request's time including
//! its body, the number of open connections, a body's size, and how often one source may
//! register. None of these is needed by an honest phone, which sends one small request now
//! and then.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The `[http]` table: the operator API's token and the public surface's limits.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The bearer token the operator endpoints (`/v1/node`, `/v1/channels`,
    /// `/v1/push/registrations/…`, `/v1/push/stats`) ask for (`Authorization: Bearer …`).
    /// Without one they answer only when `http_listen` is a loopback address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_token: Option<String>,
    /// Seconds a connection has to send a request's headers; also how long a keep-alive
    /// connection may sit idle between requests.
    pub header_read_timeout_secs: u64,
    /// Seconds a request has from its headers to its answer, its body included.
    pub request_timeout_secs: u64,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// The largest request body, in bytes (a registration is well under 2 KiB).
    pub max_body_bytes: usize,
    /// Registrations one source may make per minute (a burst of as many, then refilled
    /// evenly); one more is answered 429 with `Retry-After`.
    pub registrations_per_minute_per_source: u32,
    /// The header a reverse proxy on loopback puts the client's address in (e.g.
    /// `X-Forwarded-For`; its last entry is used). Unset: the TCP peer is the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_for_header: Option<String>,
}

impl Default for HttpConfig {
    /// No operator token (loopback only), 10 s for headers and idling, 30 s per request, 512
    /// connections, 16 KiB bodies, 30 registrations per source per minute.
    fn default() -> Self {
        HttpConfig {
            operator_token: None,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 512,
            max_body_bytes: 16 * 1024,
            registrations_per_minute_per_source: 30,
            forwarded_for_header: None,
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    /// The token is a secret: `Debug` (and so every log of the config) says only whether it
    /// is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("operator_token", &self.operator_token.as_ref().map(|_| "<redacted>"))
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("registrations_per_minute_per_source", &self.registrations_per_minute_per_source)
            .field("forwarded_for_header", &self.forwarded_for_header)
            .finish()
    }
}

impl HttpConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("http.header_read_timeout_secs", self.header_read_timeout_secs),
            ("http.request_timeout_secs", self.request_timeout_secs),
            ("http.max_connections", self.max_connections as u64),
            (
                "http.registrations_per_minute_per_source",
                self.registrations_per_minute_per_source.into(),
            ),
        ];
        for (field, value) in at_least_one {
            if value == 0 {
                return Err(ConfigError::Invalid { field, reason: "must be at least 1".into() });
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                field: "http.max_body_bytes",
                reason: format!(
                    "{} is too small for a registration (at least 1024)",
                    self.max_body_bytes
                ),
            });
        }
        if self.operator_token.as_ref().is_some_and(|t| t.trim().len() < 16) {
            return Err(ConfigError::Invalid {
                field: "http.operator_token",
                reason: "must be at least 16 characters (use a random string)".into(),
            });
        }
        Ok(())
    }

    /// The time a connection has to send its headers.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// The time a request has from its headers to its answer.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Sources tracked at most (about 40 bytes each). When full, sources whose allowance is whole
/// again are forgotten (at most once a second); if none is, a new source waits a minute.
const MAX_TRACKED_SOURCES: usize = 100_000;

/// A token bucket per source: `per_minute` requests at once, refilled evenly over a minute.
pub(crate) struct SourceLimiter {
    per_minute: u32,
    forwarded_for_header: Option<String>,
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    by_source: HashMap<IpAddr, Bucket>,
    pruned_at: Option<Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The allowance at `now`: what was left, refilled at `per_sec` up to `capacity`.
    fn tokens_at(&self, now: Instant, per_sec: f64, capacity: f64) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * per_sec).min(capacity)
    }
}

impl SourceLimiter {
    pub(crate) fn new(config: &HttpConfig) -> SourceLimiter {
        SourceLimiter {
            per_minute: config.registrations_per_minute_per_source.max(1),
            forwarded_for_header: config.forwarded_for_header.clone(),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// The source of a request from `peer`: the proxy's header when the peer is a loopback
    /// proxy and the header is configured, else the peer; IPv6 sources by their /64 (one
    /// subscriber's whole prefix is one source).
    pub(crate) fn source(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let forwarded = self
            .forwarded_for_header
            .as_deref()
            .filter(|_| peer.ip().is_loopback())
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        match forwarded.unwrap_or(peer.ip()) {
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
            v4 => v4,
        }
    }

    /// Takes one request's allowance from `source`, or says in how many seconds it has one.
    pub(crate) fn take(&self, source: IpAddr, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Buckets { by_source, pruned_at } = &mut *buckets;
        if by_source.len() >= MAX_TRACKED_SOURCES && !by_source.contains_key(&source) {
            if pruned_at.is_none_or(|at| now.saturating_duration_since(at).as_secs() >= 1) {
                *pruned_at = Some(now);
                by_source.retain(|_, b| b.tokens_at(now, per_sec, capacity) < capacity);
            }
            if by_source.len() >= MAX_TRACKED_SOURCES {
                return Err(60);
            }
        }
        let bucket = by_source.entry(source).or_insert(Bucket { tokens: capacity, at: now });
        bucket.tokens = bucket.tokens_at(now, per_sec, capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }

    /// How many sources are tracked (bounded by [`MAX_TRACKED_SOURCES`] plus live ones).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).by_source.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, header: Option<&str>) -> SourceLimiter {
        SourceLimiter::new(&HttpConfig {
            registrations_per_minute_per_source: per_minute,
            forwarded_for_header: header.map(String::from),
            ..HttpConfig::default()
        })
    }

    #[test]
    fn a_source_gets_its_burst_then_waits_for_the_refill() {
        let limiter = limiter(6, None);
        let source: IpAddr = "203.0.113.7".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..6 {
            assert_eq!(limiter.take(source, start), Ok(()));
        }
        assert_eq!(limiter.take(source, start), Err(10), "one per 10 s at 6 a minute");
        let other: IpAddr = "203.0.113.8".parse().expect("ip");
        assert_eq!(limiter.take(other, start), Ok(()), "another source has its own allowance");
        assert_eq!(limiter.take(source, start + Duration::from_secs(10)), Ok(()));
        assert!(limiter.take(source, start + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn sources_are_the_proxys_last_entry_and_an_ipv6_prefix() {
        let limiter = limiter(6, Some("x-forwarded-for"));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9".parse().expect("header"));
        let proxy: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        assert_eq!(limiter.source(proxy, &headers), "203.0.113.9".parse::<IpAddr>().expect("ip"));
        // Only a loopback proxy is believed.
        let stranger: SocketAddr = "192.0.2.4:5000".parse().expect("addr");
        assert_eq!(limiter.source(stranger, &headers), stranger.ip());
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().expect("addr");
        assert_eq!(
            limiter.source(v6, &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn the_sources_tracked_stay_bounded() {
        let limiter = limiter(60, None);
        let start = Instant::now();
        let refused = (0..(MAX_TRACKED_SOURCES as u32 + 500))
            .filter(|i| limiter.take(IpAddr::from(i.to_be_bytes()), start).is_err())
            .count();
        assert_eq!(refused, 500, "past the bound, new sources wait");
        assert_eq!(limiter.tracked(), MAX_TRACKED_SOURCES);
        // A minute later every bucket is whole again and forgotten when a new source comes.
        let later = start + Duration::from_secs(61);
        assert_eq!(limiter.take("192.0.2.1".parse().expect("ip"), later), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }
}
