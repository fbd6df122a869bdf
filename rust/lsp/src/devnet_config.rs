//! A ready-made configuration for tests and demos on the local devnet (`doze-devnet`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;

use crate::chain_source::ChainSource;
use crate::config::{HttpConfig, LspConfig, Lsps2Config, PushConfig};

/// A regtest LSP on loopback: P2P on a free port, the operator API on a port the OS picks,
/// background sync off (call `Lsp::sync`), and LSPS2 terms that get out of a test's way:
/// no opening fee, payments from 1 sat to 1 BTC, and 100 % over-provisioning so a JIT
/// channel opened for a payment leaves as much again of inbound capacity for the next one.
/// Push: no gateway, the default one push per peer per minute, retries 100 ms and 200 ms apart.
pub fn devnet_config(esplora_url: &str, storage_dir: &Path) -> LspConfig {
    let url = esplora_url.trim_end_matches('/').to_string();
    devnet_config_with(ChainSource::Esplora { url }, storage_dir)
}

/// [`devnet_config`] reading the chain from `chain_source`: the devnet's bitcoind RPC or
/// Electrum server (`doze_devnet::Devnet::bitcoind_rpc`, `electrum_url`) as well as Esplora.
pub fn devnet_config_with(chain_source: ChainSource, storage_dir: &Path) -> LspConfig {
    LspConfig {
        network: Network::Regtest,
        storage_dir: storage_dir.to_path_buf(),
        chain_source,
        alias: "doze-lsp".into(),
        p2p_listen: SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: free_loopback_port() },
        p2p_announce: None,
        http_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        background_sync: false,
        prompt_forwarding: true,
        lsps2: Lsps2Config {
            channel_opening_fee_ppm: 0,
            min_channel_opening_fee_msat: 0,
            channel_over_provisioning_ppm: 1_000_000,
            min_channel_lifetime: 144,
            max_client_to_self_delay: 2_016,
            min_payment_size_msat: 1_000,
            max_payment_size_msat: 100_000_000_000,
            require_token: None,
            advertise_service: false,
            client_trusts_lsp: false,
        },
        // Quick retries, so that a test of them does not wait seconds.
        push: PushConfig {
            retry_backoff_ms: 100,
            request_timeout_secs: 5,
            ..PushConfig::default()
        },
        http: HttpConfig::default(),
    }
}

/// A loopback port free right now (bound and released; the OS does not hand it out again at
/// once). ldk-node binds its listener itself, so it needs a concrete port up front.
fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9735)
}
