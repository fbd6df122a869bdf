//! Where the LSP reads the chain from and broadcasts to: an Esplora HTTP API, a bitcoind's
//! JSON-RPC, or an Electrum server. Exactly one is set in the config file:
//!
//! ```toml
//! esplora_url = "https://blockstream.info/api"    # an Esplora API, or
//! electrum_url = "ssl://electrum.example.com:50002" # an Electrum server (tcp:// or ssl://), or
//!
//! [bitcoind_rpc]                                  # the operator's own bitcoind
//! host = "127.0.0.1"                              # optional, this by default
//! port = 8332
//! cookie_file = "/var/lib/bitcoind/.cookie"       # bitcoind's cookie, read at each start; or
//! # rpc_user = "lsp"                              # rpcuser/rpcpassword (or an rpcauth entry)
//! # rpc_password = "…"
//! ```
//!
//! With `[bitcoind_rpc]`, the LSP checks at start that bitcoind takes the login and follows the
//! configured network (a `getblockchaininfo`); ldk-node then polls it every 2 s whatever
//! `background_sync` says (its bitcoind chain source has no manual mode). The calls it makes and
//! what bitcoind needs for them (no `-txindex`) are in the README's "Running the LSP against your
//! own bitcoind".

use std::path::{Path, PathBuf};
use std::time::Duration;

use ldk_node::bitcoin::Network;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::ConfigError;
use crate::error::LspError;

/// The chain source, validated. `Debug` and `Display` never show the RPC password.
#[derive(Clone, PartialEq, Eq)]
pub enum ChainSource {
    /// An Esplora HTTP API (`esplora_url`), e.g. `http://127.0.0.1:3002`, without a trailing
    /// slash.
    Esplora {
        /// The base URL.
        url: String,
    },
    /// A bitcoind's JSON-RPC (`[bitcoind_rpc]`).
    BitcoindRpc {
        /// Its host name or IP address.
        host: String,
        /// Its RPC port (8332 on mainnet, 18443 on regtest by default).
        port: u16,
        /// How to log in.
        auth: RpcAuth,
    },
    /// An Electrum server (`electrum_url`): `tcp://host:port` or `ssl://host:port`.
    Electrum {
        /// The server's URL.
        url: String,
    },
}

/// How the LSP logs in to bitcoind's RPC.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// bitcoind's cookie file (`<datadir>/.cookie`, or where `-rpccookiefile` puts it). It is
    /// read when the LSP starts: bitcoind writes a new one each time it starts.
    CookieFile(PathBuf),
    /// `rpcuser`/`rpcpassword`, or the user and password of an `rpcauth` entry.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcAuth::CookieFile(path) => f.debug_tuple("CookieFile").field(path).finish(),
            RpcAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl std::fmt::Debug for ChainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainSource::Esplora { url } => f.debug_struct("Esplora").field("url", url).finish(),
            ChainSource::BitcoindRpc { host, port, auth } => f
                .debug_struct("BitcoindRpc")
                .field("host", host)
                .field("port", port)
                .field("auth", auth)
                .finish(),
            ChainSource::Electrum { url } => f.debug_struct("Electrum").field("url", url).finish(),
        }
    }
}

impl std::fmt::Display for ChainSource {
    /// What an error message names: "the Esplora API at …", "bitcoind's RPC at host:port", "the
    /// Electrum server at …".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainSource::Esplora { url } => write!(f, "the Esplora API at {url}"),
            ChainSource::BitcoindRpc { host, port, .. } => {
                write!(f, "bitcoind's RPC at {host}:{port}")
            }
            ChainSource::Electrum { url } => write!(f, "the Electrum server at {url}"),
        }
    }
}

impl RpcAuth {
    /// The user and password to log in with, reading the cookie file if that is the way.
    /// A missing, unreadable or malformed cookie is an error naming the file (never its
    /// content).
    pub fn login(&self) -> Result<(String, String), LspError> {
        let path = match self {
            RpcAuth::UserPassword { user, password } => {
                return Ok((user.clone(), password.clone()))
            }
            RpcAuth::CookieFile(path) => path,
        };
        let cookie_error = |reason: String| LspError::RpcCookie { path: path.clone(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| cookie_error(e.to_string()))?;
        match text.trim_end().split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok((user.to_string(), password.to_string()))
            }
            _ => Err(cookie_error("it does not hold `user:password` as bitcoind writes it".into())),
        }
    }
}

/// `[bitcoind_rpc]` as written in the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BitcoindRpcTable {
    #[serde(default = "default_rpc_host")]
    host: String,
    port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cookie_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rpc_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rpc_password: Option<String>,
}

fn default_rpc_host() -> String {
    "127.0.0.1".into()
}

/// The chain-source keys of the file, as written.
#[derive(Debug, Default)]
pub(crate) struct ChainSourceKeys {
    pub esplora_url: Option<String>,
    pub electrum_url: Option<String>,
    pub bitcoind_rpc: Option<BitcoindRpcTable>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, reason: reason.into() }
}

impl ChainSourceKeys {
    /// The one chain source the keys set, checked.
    pub(crate) fn validate(self) -> Result<ChainSource, ConfigError> {
        let set: Vec<&'static str> = [
            self.esplora_url.is_some().then_some("esplora_url"),
            self.electrum_url.is_some().then_some("electrum_url"),
            self.bitcoind_rpc.is_some().then_some("[bitcoind_rpc]"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if set.len() != 1 {
            return Err(ConfigError::ChainSource { found: set });
        }
        if let Some(url) = self.esplora_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "esplora_url",
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            return Ok(ChainSource::Esplora { url: url.trim_end_matches('/').to_string() });
        }
        if let Some(url) = self.electrum_url {
            let address = url.strip_prefix("tcp://").or_else(|| url.strip_prefix("ssl://"));
            if !address.and_then(|a| a.rsplit_once(':')).is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            }) {
                return Err(invalid(
                    "electrum_url",
                    format!("`{url}` is not tcp://host:port or ssl://host:port"),
                ));
            }
            return Ok(ChainSource::Electrum { url });
        }
        let Some(rpc) = self.bitcoind_rpc else {
            return Err(ConfigError::ChainSource { found: set });
        };
        rpc.validate()
    }
}

impl BitcoindRpcTable {
    fn validate(self) -> Result<ChainSource, ConfigError> {
        let host = self.host.trim().to_string();
        if host.is_empty() || host.contains("://") || host.contains('/') {
            return Err(invalid(
                "bitcoind_rpc.host",
                format!("`{host}` is not a host name or IP address (no scheme, no port)"),
            ));
        }
        if self.port == 0 {
            return Err(invalid("bitcoind_rpc.port", "must be bitcoind's RPC port, not 0"));
        }
        let auth = match (self.cookie_file, self.rpc_user, self.rpc_password) {
            (Some(path), None, None) if !path.as_os_str().is_empty() => RpcAuth::CookieFile(path),
            (Some(_), None, None) => {
                return Err(invalid("bitcoind_rpc.cookie_file", "must name bitcoind's cookie file"))
            }
            (Some(_), ..) => {
                return Err(invalid(
                    "bitcoind_rpc.cookie_file",
                    "set either cookie_file or rpc_user and rpc_password, not both",
                ))
            }
            (None, Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                RpcAuth::UserPassword { user, password }
            }
            (None, Some(_), Some(_)) => {
                return Err(invalid("bitcoind_rpc.rpc_user", "user and password must not be empty"))
            }
            (None, Some(_), None) => {
                return Err(invalid("bitcoind_rpc.rpc_password", "rpc_user needs rpc_password"))
            }
            (None, None, Some(_)) => {
                return Err(invalid("bitcoind_rpc.rpc_user", "rpc_password needs rpc_user"))
            }
            (None, None, None) => {
                return Err(invalid(
                    "bitcoind_rpc",
                    "set cookie_file (bitcoind's .cookie) or rpc_user and rpc_password",
                ))
            }
        };
        Ok(ChainSource::BitcoindRpc { host, port: self.port, auth })
    }
}

impl ChainSource {
    /// The file's keys for this source.
    pub(crate) fn to_keys(&self) -> ChainSourceKeys {
        match self.clone() {
            ChainSource::Esplora { url } => {
                ChainSourceKeys { esplora_url: Some(url), ..ChainSourceKeys::default() }
            }
            ChainSource::Electrum { url } => {
                ChainSourceKeys { electrum_url: Some(url), ..ChainSourceKeys::default() }
            }
            ChainSource::BitcoindRpc { host, port, auth } => {
                let (cookie_file, rpc_user, rpc_password) = match auth {
                    RpcAuth::CookieFile(path) => (Some(path), None, None),
                    RpcAuth::UserPassword { user, password } => (None, Some(user), Some(password)),
                };
                let table = BitcoindRpcTable { host, port, cookie_file, rpc_user, rpc_password };
                ChainSourceKeys { bitcoind_rpc: Some(table), ..ChainSourceKeys::default() }
            }
        }
    }

    /// A relative cookie file taken relative to `base` (the config file's directory).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let ChainSource::BitcoindRpc { auth: RpcAuth::CookieFile(path), .. } = self {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

/// bitcoind's name of `network` (`getblockchaininfo`'s `chain`).
fn bitcoind_chain(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "main",
        Network::Testnet => "test",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// Asks bitcoind at `host:port` for `getblockchaininfo` with `login` and checks that it follows
/// `network`. ldk-node would start anyway on a refused login or another chain (on regtest,
/// signet and testnet it falls back to default fees) and only log errors every 2 s; this makes
/// either a typed error at start. Blocking: call it outside an async runtime.
pub(crate) fn check_bitcoind(
    host: &str,
    port: u16,
    (user, password): (&str, &str),
    network: Network,
) -> Result<(), LspError> {
    // An IPv6 address goes in brackets in a URL.
    let authority =
        if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let source = format!("bitcoind's RPC at {authority}");
    let fail = |reason: String| LspError::BitcoindRpc { chain_source: source.clone(), reason };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail(format!("no HTTP client: {e}")))?;
    let request = json!({ "method": "getblockchaininfo", "params": [], "id": "doze-lsp" });
    let response = client
        .post(format!("http://{authority}/"))
        .basic_auth(user, Some(password))
        .json(&request)
        .send()
        .map_err(|e| fail(format!("cannot reach it: {e}")))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(fail(format!(
            "it refused the login (HTTP {}): check `bitcoind_rpc.cookie_file`, or `rpc_user` \
             and `rpc_password`",
            status.as_u16()
        )));
    }
    let answer: Value = response
        .json()
        .map_err(|e| fail(format!("not a JSON-RPC answer (HTTP {}): {e}", status.as_u16())))?;
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        return Err(fail(format!("getblockchaininfo failed: {error}")));
    }
    let chain = answer["result"]["chain"].as_str().unwrap_or("an unknown chain");
    let expected = bitcoind_chain(network);
    if chain != expected {
        return Err(fail(format!(
            "it follows `{chain}`, and the config says network = \"{network}\" (bitcoind's \
             `{expected}`)"
        )));
    }
    Ok(())
}
