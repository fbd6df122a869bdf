//! The daemon's configuration file (TOML), parsed into a validated [`LspConfig`].
//!
//! ```toml
//! network = "regtest"
//! storage_dir = "lsp-data"            # relative paths are relative to the config file
//! esplora_url = "http://127.0.0.1:3002" # or electrum_url, or a [bitcoind_rpc] table
//! alias = "doze-lsp"
//! p2p_listen = "0.0.0.0:9735"
//! p2p_announce = "lsp.example.com:9735" # optional; what clients are told to dial
//! http_listen = "127.0.0.1:9736"
//! background_sync = true
//! prompt_forwarding = true            # false: LDK's randomly delayed forwarding batches
//!
//! [lsps2]
//! channel_opening_fee_ppm = 10000
//! min_channel_opening_fee_msat = 2000000
//!
//! [push]
//! gateway_url = "https://push-gateway.example.com/v1/send" # optional; for APNs/FCM targets
//! min_interval_secs = 60
//! postgres_url = "postgres://doze@127.0.0.1:5432/doze_push" # optional; shared by LSP nodes
//!
//! [http]
//! operator_token = "…"                # needed for the operator endpoints off loopback
//! registrations_per_minute_per_source = 30
//! ```
//!
//! Every `[lsps2]`, `[push]` and `[http]` key has a default (see [`Lsps2Config::default`],
//! [`PushConfig::default`] and [`HttpConfig::default`]). The chain source is exactly one of
//! `esplora_url`, `electrum_url` and `[bitcoind_rpc]` (see [`crate::chain_source`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::liquidity::LSPS2ServiceConfig;
use serde::{Deserialize, Serialize};

use crate::api::OpeningFeeTerms;
use crate::chain_source::{BitcoindRpcTable, ChainSource, ChainSourceKeys};
pub use crate::http::HttpConfig;
pub use crate::push::config::PushConfig;

/// The longest node alias ldk-node accepts, in bytes.
const MAX_ALIAS_BYTES: usize = 32;

/// Why a configuration could not be loaded. Each message names the file or the field to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is missing, unknown or of the wrong type.
    #[error(
        "invalid config {origin}{}: {message}",
        field.as_ref().map(|f| format!(" (field `{f}`)")).unwrap_or_default()
    )]
    Parse {
        /// The file (or `<string>` when parsed from memory).
        origin: String,
        /// The offending key, e.g. `lsps2.channel_opening_fee_ppm`, when it can be told.
        field: Option<String>,
        /// The TOML parser's explanation, with line and column.
        message: String,
    },
    /// An address field does not parse.
    #[error(
        "invalid address `{value}` for `{field}`: {reason} (expected host:port, \
         e.g. 127.0.0.1:9735)"
    )]
    Address {
        /// The key, e.g. `p2p_listen`.
        field: &'static str,
        /// The value found.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The network name is unknown.
    #[error(
        "unknown network `{value}` for `network`: expected one of bitcoin, testnet, testnet4, \
         signet, regtest"
    )]
    Network {
        /// The value found.
        value: String,
    },
    /// Not exactly one chain source is set.
    #[error(
        "{}: set exactly one of `esplora_url`, `electrum_url` and a `[bitcoind_rpc]` table",
        if found.is_empty() {
            "no chain source".to_string()
        } else {
            format!("more than one chain source ({})", found.join(", "))
        }
    )]
    ChainSource {
        /// The chain-source keys found (none, or more than one).
        found: Vec<&'static str>,
    },
    /// A value parses but is not acceptable.
    #[error("invalid value for `{field}`: {reason}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
}

/// The LSPS2 (bLIP-52, JIT channels) service parameters offered to clients. Its `Debug` never
/// shows the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lsps2Config {
    /// Proportional channel-opening fee, in parts per million of the payment.
    pub channel_opening_fee_ppm: u32,
    /// Minimum channel-opening fee, in millisatoshis.
    pub min_channel_opening_fee_msat: u64,
    /// Extra capacity opened on top of the forwarded amount, in parts per million of it
    /// (1_000_000 opens a channel twice the payment, leaving as much again for later receives).
    pub channel_over_provisioning_ppm: u32,
    /// Blocks after confirmation the LSP promises to keep a JIT channel open.
    pub min_channel_lifetime: u32,
    /// The largest `to_self_delay` (blocks) a client may ask for.
    pub max_client_to_self_delay: u32,
    /// Smallest payment that may open a JIT channel, in millisatoshis.
    pub min_payment_size_msat: u64,
    /// Largest payment that may open a JIT channel, in millisatoshis.
    pub max_payment_size_msat: u64,
    /// If set, clients must present this token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_token: Option<String>,
    /// Whether to advertise the LSPS2 service in the node announcement.
    pub advertise_service: bool,
    /// "Client trusts LSP" model: the funding transaction is only broadcast once the client
    /// has claimed the payment (see bLIP-52). Off by default ("LSP trusts client").
    pub client_trusts_lsp: bool,
}

impl std::fmt::Debug for Lsps2Config {
    /// The token is a secret: `Debug` (and so every log of the config) says only whether it
    /// is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lsps2Config")
            .field("channel_opening_fee_ppm", &self.channel_opening_fee_ppm)
            .field("min_channel_opening_fee_msat", &self.min_channel_opening_fee_msat)
            .field("channel_over_provisioning_ppm", &self.channel_over_provisioning_ppm)
            .field("min_channel_lifetime", &self.min_channel_lifetime)
            .field("max_client_to_self_delay", &self.max_client_to_self_delay)
            .field("min_payment_size_msat", &self.min_payment_size_msat)
            .field("max_payment_size_msat", &self.max_payment_size_msat)
            .field("require_token", &self.require_token.as_ref().map(|_| "<redacted>"))
            .field("advertise_service", &self.advertise_service)
            .field("client_trusts_lsp", &self.client_trusts_lsp)
            .finish()
    }
}

impl Default for Lsps2Config {
    /// 1 % with a 2 000 sat minimum, 10 % over-provisioning, a 30-day lifetime, payments
    /// between 10 000 sat and 1 BTC.
    fn default() -> Self {
        Lsps2Config {
            channel_opening_fee_ppm: 10_000,
            min_channel_opening_fee_msat: 2_000_000,
            channel_over_provisioning_ppm: 100_000,
            min_channel_lifetime: 4_320,
            max_client_to_self_delay: 2_016,
            min_payment_size_msat: 10_000_000,
            max_payment_size_msat: 100_000_000_000,
            require_token: None,
            advertise_service: false,
            client_trusts_lsp: false,
        }
    }
}

impl From<&Lsps2Config> for OpeningFeeTerms {
    fn from(c: &Lsps2Config) -> Self {
        // The same numbers ldk-node's LSPS2 service puts in its `opening_fee_params`.
        OpeningFeeTerms {
            min_fee_msat: c.min_channel_opening_fee_msat,
            proportional: c.channel_opening_fee_ppm,
            min_payment_size_msat: c.min_payment_size_msat,
            max_payment_size_msat: c.max_payment_size_msat,
        }
    }
}

impl From<&Lsps2Config> for LSPS2ServiceConfig {
    fn from(c: &Lsps2Config) -> Self {
        LSPS2ServiceConfig {
            require_token: c.require_token.clone(),
            advertise_service: c.advertise_service,
            channel_opening_fee_ppm: c.channel_opening_fee_ppm,
            channel_over_provisioning_ppm: c.channel_over_provisioning_ppm,
            min_channel_opening_fee_msat: c.min_channel_opening_fee_msat,
            min_channel_lifetime: c.min_channel_lifetime,
            max_client_to_self_delay: c.max_client_to_self_delay,
            min_payment_size_msat: c.min_payment_size_msat,
            max_payment_size_msat: c.max_payment_size_msat,
            client_trusts_lsp: c.client_trusts_lsp,
        }
    }
}

/// A validated LSP configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LspConfig {
    /// The Bitcoin network.
    pub network: Network,
    /// Where the node keeps its key (`lsp_seed`), channels and wallet.
    pub storage_dir: PathBuf,
    /// Where the node reads the chain and broadcasts: an Esplora API, a bitcoind's RPC or an
    /// Electrum server.
    pub chain_source: ChainSource,
    /// The node alias announced to the network (at most 32 bytes; required for the
    /// async-payments server role).
    pub alias: String,
    /// The Lightning P2P listening address.
    pub p2p_listen: SocketAddress,
    /// The address clients should dial, if not `p2p_listen` (e.g. a public hostname).
    pub p2p_announce: Option<SocketAddress>,
    /// Where the operator HTTP API listens (port 0 picks a free port).
    pub http_listen: SocketAddr,
    /// Whether the node syncs its wallets in the background; if off, call `Lsp::sync`.
    pub background_sync: bool,
    /// Whether HTLCs are forwarded as soon as they can be (the default) rather than in LDK's
    /// batches held for a random 9–200 ms each. A phone's wake waits on every forward of its
    /// payment; the batches make it harder for someone watching both sides of this node to pair
    /// its incoming and outgoing HTLCs by timing (see the README's "The LSP's share of a
    /// wake").
    pub prompt_forwarding: bool,
    /// The LSPS2 service parameters.
    pub lsps2: Lsps2Config,
    /// Push registration and dispatch.
    pub push: PushConfig,
    /// The HTTP server's operator token and limits.
    pub http: HttpConfig,
}

/// The file as written: strings where [`LspConfig`] has typed values.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    network: String,
    storage_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    esplora_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    electrum_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bitcoind_rpc: Option<BitcoindRpcTable>,
    #[serde(default = "default_alias")]
    alias: String,
    #[serde(default = "default_p2p_listen")]
    p2p_listen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p2p_announce: Option<String>,
    #[serde(default = "default_http_listen")]
    http_listen: String,
    #[serde(default = "default_true")]
    background_sync: bool,
    #[serde(default = "default_true")]
    prompt_forwarding: bool,
    #[serde(default)]
    lsps2: Lsps2Config,
    #[serde(default)]
    push: PushConfig,
    #[serde(default)]
    http: HttpConfig,
}

fn default_alias() -> String {
    "doze-lsp".into()
}
fn default_p2p_listen() -> String {
    "0.0.0.0:9735".into()
}
fn default_http_listen() -> String {
    "127.0.0.1:9736".into()
}
fn default_true() -> bool {
    true
}

impl LspConfig {
    /// Reads and validates a TOML config file. A relative `storage_dir` is taken relative to
    /// the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<LspConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        if config.storage_dir.is_relative() {
            config.storage_dir = base.join(&config.storage_dir);
        }
        config.chain_source.resolve_paths(base);
        Ok(config)
    }

    /// Parses and validates a TOML document (paths are kept as written).
    pub fn from_toml_str(text: &str) -> Result<LspConfig, ConfigError> {
        Self::parse(text, "<string>")
    }

    /// Writes this configuration as a TOML document that [`LspConfig::from_toml_str`] reads
    /// back to an equal value.
    pub fn to_toml(&self) -> String {
        let ChainSourceKeys { esplora_url, electrum_url, bitcoind_rpc } =
            self.chain_source.to_keys();
        let file = FileConfig {
            network: self.network.to_string(),
            storage_dir: self.storage_dir.clone(),
            esplora_url,
            electrum_url,
            bitcoind_rpc,
            alias: self.alias.clone(),
            p2p_listen: self.p2p_listen.to_string(),
            p2p_announce: self.p2p_announce.as_ref().map(ToString::to_string),
            http_listen: self.http_listen.to_string(),
            background_sync: self.background_sync,
            prompt_forwarding: self.prompt_forwarding,
            lsps2: self.lsps2.clone(),
            push: self.push.clone(),
            http: self.http.clone(),
        };
        // Every field is a string, number, bool or table: serialization cannot fail.
        toml::to_string_pretty(&file).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }

    fn parse(text: &str, origin: &str) -> Result<LspConfig, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            field: offending_field(&e, text),
            message: e.to_string().trim_end().to_string(),
        })?;
        file.validate()
    }
}

impl FileConfig {
    fn validate(self) -> Result<LspConfig, ConfigError> {
        let network = Network::from_str(self.network.trim())
            .map_err(|_| ConfigError::Network { value: self.network.clone() })?;
        if self.storage_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                field: "storage_dir",
                reason: "must name a directory".into(),
            });
        }
        let chain_source = ChainSourceKeys {
            esplora_url: self.esplora_url,
            electrum_url: self.electrum_url,
            bitcoind_rpc: self.bitcoind_rpc,
        }
        .validate()?;
        if self.alias.is_empty() || self.alias.len() > MAX_ALIAS_BYTES {
            return Err(ConfigError::Invalid {
                field: "alias",
                reason: format!(
                    "must be 1 to {MAX_ALIAS_BYTES} bytes, `{}` is {}",
                    self.alias,
                    self.alias.len()
                ),
            });
        }
        let p2p_listen = lightning_address("p2p_listen", &self.p2p_listen)?;
        let p2p_announce = self
            .p2p_announce
            .as_deref()
            .map(|a| lightning_address("p2p_announce", a))
            .transpose()?;
        let http_listen =
            SocketAddr::from_str(self.http_listen.trim()).map_err(|e| ConfigError::Address {
                field: "http_listen",
                value: self.http_listen.clone(),
                reason: e.to_string(),
            })?;
        let l = &self.lsps2;
        if l.min_payment_size_msat > l.max_payment_size_msat {
            return Err(ConfigError::Invalid {
                field: "lsps2.min_payment_size_msat",
                reason: format!(
                    "{} is above lsps2.max_payment_size_msat ({})",
                    l.min_payment_size_msat, l.max_payment_size_msat
                ),
            });
        }
        self.push.validate()?;
        self.http.validate()?;
        Ok(LspConfig {
            network,
            storage_dir: self.storage_dir,
            chain_source,
            alias: self.alias,
            p2p_listen,
            p2p_announce,
            http_listen,
            background_sync: self.background_sync,
            prompt_forwarding: self.prompt_forwarding,
            lsps2: self.lsps2,
            push: self.push,
            http: self.http,
        })
    }
}

fn lightning_address(field: &'static str, value: &str) -> Result<SocketAddress, ConfigError> {
    SocketAddress::from_str(value.trim()).map_err(|e| ConfigError::Address {
        field,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// The key a TOML error is about: named in the message (missing/unknown field), or found on
/// the line the error points at, prefixed by the table that line is in.
fn offending_field(error: &toml::de::Error, text: &str) -> Option<String> {
    let message = error.message();
    let named = ["missing field `", "unknown field `"].iter().find_map(|prefix| {
        let start = message.find(prefix)? + prefix.len();
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_string())
    });
    let span = error.span();
    let (table, line) = match &span {
        Some(span) => table_and_line(text, span.start),
        None => (None, ""),
    };
    let key = named.or_else(|| {
        let (key, _) = line.split_once('=')?;
        Some(key.trim().trim_matches('"').to_string())
    })?;
    // A missing key is reported at the table it belongs in (the header line, or the whole
    // document when the span starts at 0).
    let header = line.trim().strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match (header, table) {
        (Some(header), _) if span.as_ref().is_some_and(|s| s.start > 0) => {
            Some(format!("{}.{key}", header.trim()))
        }
        (None, Some(table)) => Some(format!("{table}.{key}")),
        _ => Some(key),
    }
}

/// The `[table]` in force at byte `offset` of `text`, and the line containing `offset`.
fn table_and_line(text: &str, offset: usize) -> (Option<String>, &str) {
    let mut table = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        if offset < end {
            return (table, line.trim_end());
        }
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            table = Some(name.trim().to_string());
        }
        start = end;
    }
    (table, "")
}
