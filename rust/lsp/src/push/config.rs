//! The `[push]` table of the config file: where notifications go, how often and how hard the
//! LSP tries, the registration bounds, and where registrations are kept.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Push registration and dispatch (bLIP-55 / LSPS5 notifications over HTTPS): see
/// [`crate::push`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Where notifications for `apns` and `fcm` targets go: a push gateway that holds the
    /// APNs/FCM credentials and forwards them. Without one, such notifications are logged
    /// and dropped; `webhook` targets are posted to directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
    /// At most one notification per peer in this many seconds (bLIP-55 asks LSPs not to
    /// send the same notification repeatedly in a short time).
    pub min_interval_secs: u64,
    /// How far a registration's timestamp may be from the LSP's clock, in seconds (either way).
    pub timestamp_window_secs: u64,
    /// Delivery attempts per notification (the first one included).
    pub max_attempts: u32,
    /// Pause before the first retry, in milliseconds; it doubles for each further one (at
    /// most one minute).
    pub retry_backoff_ms: u64,
    /// Notifications waiting for the dispatcher; when it is full, new ones are dropped (and
    /// counted), never waited for.
    pub queue_capacity: usize,
    /// Timeout of one delivery attempt (connect and answer), in seconds.
    pub request_timeout_secs: u64,
    /// Registrations one phone may make within `timestamp_window_secs` (each keeps its nonce
    /// that long); one more is answered 429.
    pub max_registrations_per_window: u32,
    /// Keep registrations, nonces and the delivery log in this PostgreSQL database instead of
    /// `push.sqlite3` in `storage_dir`, e.g. `postgres://doze@db.internal:5432/doze_push`.
    /// Several LSP nodes may share one: each keeps its own phones (see
    /// [`crate::push::store`]). Plain TCP: keep the database on loopback or a private network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_url: Option<String>,
}

impl Default for PushConfig {
    /// No gateway, one push per peer per minute, a ±10 minute registration window with at most
    /// 10 registrations per phone in it, 3 attempts 1 s and 2 s apart, a queue of 256, 10 s
    /// per attempt.
    fn default() -> Self {
        PushConfig {
            gateway_url: None,
            min_interval_secs: 60,
            timestamp_window_secs: 600,
            max_attempts: 3,
            retry_backoff_ms: 1_000,
            queue_capacity: 256,
            request_timeout_secs: 10,
            max_registrations_per_window: 10,
            postgres_url: None,
        }
    }
}

impl PushConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.gateway_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    field: "push.gateway_url",
                    reason: format!("`{url}` is not an http:// or https:// URL"),
                });
            }
        }
        if let Some(url) = &self.postgres_url {
            // The reason never repeats the URL: it may hold the database password.
            let parsed =
                url.parse::<tokio_postgres::Config>().map_err(|e| ConfigError::Invalid {
                    field: "push.postgres_url",
                    reason: format!(
                        "not a PostgreSQL URL or connection string ({e}); e.g. \
                     postgres://user:password@127.0.0.1:5432/doze_push"
                    ),
                })?;
            if parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                return Err(ConfigError::Invalid {
                    field: "push.postgres_url",
                    reason: "sslmode=require: the LSP connects to PostgreSQL without TLS; keep \
                             it on loopback or a private network and drop sslmode"
                        .into(),
                });
            }
        }
        let at_least_one = [
            ("push.max_attempts", u64::from(self.max_attempts)),
            ("push.queue_capacity", self.queue_capacity as u64),
            ("push.request_timeout_secs", self.request_timeout_secs),
            ("push.max_registrations_per_window", self.max_registrations_per_window.into()),
        ];
        for (field, value) in at_least_one {
            if value == 0 {
                return Err(ConfigError::Invalid { field, reason: "must be at least 1".into() });
            }
        }
        Ok(())
    }
}
