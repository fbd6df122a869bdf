//! What a wallet needs to know before it starts: network, where it stores its state, where it
//! reads the chain, and which LSP it leans on. Plain data: with the `uniffi` feature these are
//! the records and enums Swift, Kotlin and Python see.

use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::ln::msgs::SocketAddress;

use crate::error::WalletError;

/// The Bitcoin network a wallet runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Network {
    /// Mainnet.
    Bitcoin,
    /// Testnet3.
    Testnet,
    /// Signet.
    Signet,
    /// Local regtest (the devnet).
    Regtest,
}

impl Network {
    pub(crate) fn to_bitcoin(self) -> ldk_node::bitcoin::Network {
        match self {
            Network::Bitcoin => ldk_node::bitcoin::Network::Bitcoin,
            Network::Testnet => ldk_node::bitcoin::Network::Testnet,
            Network::Signet => ldk_node::bitcoin::Network::Signet,
            Network::Regtest => ldk_node::bitcoin::Network::Regtest,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin mainnet",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

/// Where the wallet reads the chain from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChainSource {
    /// An Esplora HTTP server, e.g. `https://blockstream.info/api`.
    Esplora {
        /// Base URL of the server.
        url: String,
    },
    /// An Electrum server, e.g. `ssl://electrum.blockstream.info:50002`.
    Electrum {
        /// Server URL.
        url: String,
    },
}

/// The Lightning Service Provider the phone opens channels with, receives through, and
/// registers for push notifications with. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LspConfig {
    /// The LSP's node id (hex public key).
    pub node_id: String,
    /// The LSP's address, `host:port`.
    pub address: String,
    /// An access token, if the LSP requires one for LSPS2.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub token: Option<String>,
    /// The LSP's HTTPS API base URL (push registration), e.g. `https://lsp.example.com`.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub api_url: Option<String>,
}

impl std::fmt::Debug for LspConfig {
    /// The token is a secret: `Debug` (and so every log or error showing a configuration) says
    /// only whether it is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LspConfig")
            .field("node_id", &self.node_id)
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// Everything a wallet needs besides its recovery phrase.
//
// The field order is the order of the Swift/Kotlin/Python initializer's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WalletConfig {
    /// The network.
    pub network: Network,
    /// A directory the wallet owns (the app and its extension share it: an App Group container
    /// on iOS). The node's SQLite store and Doze's own files live here; the recovery phrase
    /// never does.
    pub storage_dir: String,
    /// Where to read the chain.
    pub chain_source: ChainSource,
    /// The LSP, if any: it opens the wallet's JIT channels, serves its offline offers and
    /// pushes its wakes.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub lsp: Option<LspConfig>,
    /// The most the LSP may take for opening a just-in-time channel, in msat: an invoice
    /// whose channel would cost more is refused (`WalletError::JitFeeTooHigh`) before
    /// anything is created. `None`: any fee the LSP quotes (each invoice reports its fee in
    /// `ReceiveInvoice.lsp_fee_msat`, and the wallet refuses a payment from which the LSP
    /// takes more than it quoted, whatever this limit).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_jit_fee_msat: Option<u64>,
    /// A Rapid Gossip Sync server URL. Without one the phone learns gossip from its peers (its
    /// LSP), which is what the devnet uses; production phones should set one.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub rgs_url: Option<String>,
    /// Whether the node syncs the chain on a timer while running. Apps in the foreground want
    /// this; tests and short wakes call `Wallet.sync()` instead.
    #[cfg_attr(feature = "uniffi", uniffi(default = true))]
    pub background_sync: bool,
    /// Other LSPs the wallet keeps channels with (liquidity bought elsewhere, a previous LSP).
    /// The wallet stays connected to them, lets them open channels to it without an on-chain
    /// anchor reserve, and splits sends over their channels too; receiving and pushes still
    /// go through `lsp`.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub additional_lsps: Vec<LspConfig>,
    /// Where the channel state is backed up, if anywhere. Without a backup, a restore from the
    /// recovery phrase brings back the on-chain funds only: the channels' funds are lost with
    /// the phone. With one, the wallet needs the server to start, and every channel update is
    /// on the server before it counts.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub backup: Option<BackupConfig>,
    /// How names (`₿alice@example.com`, `alice@example.com`) and LNURLs are looked up. `None`:
    /// the defaults of [`NameResolutionConfig`] (a public DNS-over-HTTPS resolver, 10 s).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub name_resolution: Option<NameResolutionConfig>,
}

/// The DNS-over-HTTPS resolver names are looked up with unless the app sets another: it sees
/// which names the wallet looks up (not what is paid), so an app may prefer its own.
pub const DEFAULT_DOH_URL: &str = "https://cloudflare-dns.com/dns-query";

/// How long one lookup step (a name's records, an LNURL server's terms, its invoice) may take
/// unless the app sets another limit.
pub const DEFAULT_NAME_TIMEOUT_SECS: u32 = 10;

/// How the wallet looks up names and LNURLs (`pay/names/`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NameResolutionConfig {
    /// The DNS-over-HTTPS (RFC 8484) resolver BIP 353 names are asked of, e.g.
    /// `https://cloudflare-dns.com/dns-query`. Whatever it answers is verified on the phone
    /// (DNSSEC, from the root key down): it can refuse to answer, not forge one.
    #[cfg_attr(feature = "uniffi", uniffi(default = "https://cloudflare-dns.com/dns-query"))]
    pub doh_url: String,
    /// How long each request of a lookup may take, in seconds (1 to 120); a whole step (a
    /// name's records and terms, or an invoice) may take twice that.
    #[cfg_attr(feature = "uniffi", uniffi(default = 10))]
    pub timeout_secs: u32,
    /// Domains whose Lightning Address server is reached at another base URL, like curl's
    /// `--resolve`: `alice@shop.test` asks `{base_url}/.well-known/lnurlp/alice`. For test
    /// networks and private deployments; each base URL must be `https`, or plain `http` to
    /// this device (`127.0.0.1`, `[::1]`, `localhost`) on a network other than mainnet.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub domain_routes: Vec<DomainRoute>,
}

impl Default for NameResolutionConfig {
    fn default() -> Self {
        NameResolutionConfig {
            doh_url: DEFAULT_DOH_URL.into(),
            timeout_secs: DEFAULT_NAME_TIMEOUT_SECS,
            domain_routes: Vec::new(),
        }
    }
}

impl NameResolutionConfig {
    /// Checks the URLs against [`allowed_url`] and the timeout's range.
    pub(crate) fn check(&self, network: Network) -> Result<(), WalletError> {
        let bad = |field: &str, why: String| {
            WalletError::InvalidConfig(format!("name_resolution.{field}: {why}"))
        };
        allowed_url(self.doh_url.trim(), network).map_err(|why| bad("doh_url", why))?;
        if !(1..=120).contains(&self.timeout_secs) {
            return Err(bad("timeout_secs", format!("{} is not 1 to 120", self.timeout_secs)));
        }
        for (i, route) in self.domain_routes.iter().enumerate() {
            let field = format!("domain_routes[{i}]");
            if route.domain.trim().is_empty() || route.domain.contains('/') {
                return Err(bad(&field, format!("{:?} is not a domain", route.domain)));
            }
            allowed_url(route.base_url.trim(), network).map_err(|why| bad(&field, why))?;
        }
        Ok(())
    }
}

/// Whether the wallet may fetch `url` (a DoH resolver, an LNURL server) on `network`: `https`
/// always; plain `http` only to this device and never on mainnet, where anyone on the path
/// could rewrite the answer (the payee's invoice). Loopback cannot be intercepted, and the
/// devnet's servers and the bindings' tests live there. Returns the URL parsed, or why not.
pub(crate) fn allowed_url(url: &str, network: Network) -> Result<reqwest::Url, String> {
    let clipped = doze_redact::clip(url, 60);
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("{clipped:?} is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" => {
            let loopback = parsed.host_str().is_some_and(|host| {
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
            if loopback && network != Network::Bitcoin {
                Ok(parsed)
            } else {
                Err(format!(
                    "{clipped:?} is plain http: only https is allowed (http only to this device, \
                     and not on mainnet)"
                ))
            }
        }
        _ => Err(format!("{clipped:?} is not an https URL")),
    }
}

/// One entry of [`NameResolutionConfig::domain_routes`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DomainRoute {
    /// The domain of the names it applies to, e.g. `shop.test`.
    pub domain: String,
    /// Where that domain's LNURL-pay server is, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
}

/// An [`LspConfig`] checked and parsed.
#[derive(Debug, Clone)]
pub(crate) struct ParsedLsp {
    pub node_id: PublicKey,
    pub address: SocketAddress,
    pub token: Option<String>,
    pub api_url: Option<String>,
}

impl LspConfig {
    /// Checks and parses; `field` names this entry in error messages (`lsp`,
    /// `additional_lsps[0]`).
    pub(crate) fn parse(&self, field: &str) -> Result<ParsedLsp, WalletError> {
        let node_id = PublicKey::from_str(self.node_id.trim()).map_err(|_| {
            WalletError::InvalidConfig(format!(
                "{field}.node_id {:?} is not a node public key",
                self.node_id
            ))
        })?;
        let address = SocketAddress::from_str(self.address.trim()).map_err(|_| {
            WalletError::InvalidConfig(format!(
                "{field}.address {:?} is not host:port",
                self.address
            ))
        })?;
        let api_url = match self.api_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(url) => {
                return Err(WalletError::InvalidConfig(format!(
                    "{field}.api_url {url:?} is not an http(s) URL"
                )))
            }
        };
        Ok(ParsedLsp { node_id, address, token: self.token.clone(), api_url })
    }
}

/// The LSPs of a checked [`WalletConfig`].
#[derive(Debug, Clone)]
pub(crate) struct ParsedLsps {
    pub primary: Option<ParsedLsp>,
    pub additional: Vec<ParsedLsp>,
}

impl WalletConfig {
    /// Checks the configuration without touching disk or network.
    pub(crate) fn validate(&self) -> Result<ParsedLsps, WalletError> {
        if self.storage_dir.trim().is_empty() {
            return Err(WalletError::InvalidConfig("storage_dir is empty".into()));
        }
        let url = match &self.chain_source {
            ChainSource::Esplora { url } | ChainSource::Electrum { url } => url,
        };
        if url.trim().is_empty() {
            return Err(WalletError::InvalidConfig("chain_source url is empty".into()));
        }
        let primary = self.lsp.as_ref().map(|lsp| lsp.parse("lsp")).transpose()?;
        let additional = self
            .additional_lsps
            .iter()
            .enumerate()
            .map(|(i, lsp)| lsp.parse(&format!("additional_lsps[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::HashSet::new();
        for id in primary.iter().chain(&additional).map(|l| l.node_id) {
            if !seen.insert(id) {
                return Err(WalletError::InvalidConfig(format!("the LSP {id} is listed twice")));
            }
        }
        if let Some(names) = &self.name_resolution {
            names.check(self.network)?;
        }
        Ok(ParsedLsps { primary, additional })
    }
}

/// Where the wallet's channel state is backed up: a VSS server (LDK's `vss-server`) with its
/// signature authorizer. The wallet signs in with a key from its recovery phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackupConfig {
    /// The server's base URL, e.g. `https://backup.example.com/vss`.
    pub url: String,
}
