//! How a wake reaches its LSP and its backup server: directly on loopback, or through latency
//! proxies that make them look as far away as a phone's network does.

use std::net::SocketAddr;
use std::time::Duration;

use doze_core::{BackupConfig, LspConfig, WalletConfig};
use doze_testkit::latency_proxy::LatencyProxy;

/// A link: the round-trip times to the LSP and to the backup server, and the proxies that
/// add them (none for 0 ms).
pub(crate) struct Link {
    pub(crate) lsp_rtt_ms: u64,
    pub(crate) backup_rtt_ms: u64,
    /// LSP-A's own address.
    lsp_direct: SocketAddr,
    lsp: Option<LatencyProxy>,
    /// The Doze wallets' way to the backup server.
    pub(crate) doze_backup: Option<LatencyProxy>,
    /// The stock phone's (its own proxy, so each side's requests are counted apart).
    pub(crate) stock_backup: Option<LatencyProxy>,
}

fn proxy(target: SocketAddr, rtt_ms: u64) -> Option<LatencyProxy> {
    (rtt_ms > 0).then(|| LatencyProxy::start(target, Duration::from_millis(rtt_ms) / 2))
}

impl Link {
    /// No proxy anywhere: LSP-A at `lsp`.
    pub(crate) fn direct(lsp: SocketAddr) -> Link {
        Link {
            lsp_rtt_ms: 0,
            backup_rtt_ms: 0,
            lsp_direct: lsp,
            lsp: None,
            doze_backup: None,
            stock_backup: None,
        }
    }

    /// `lsp_ms:backup_ms,…`, with proxies in front of `lsp` (LSP-A's peer address) and
    /// `backup` (the backup server).
    pub(crate) fn parse(spec: &str, lsp: SocketAddr, backup: SocketAddr) -> Vec<Link> {
        spec.split(',')
            .map(|pair| {
                let (lsp_ms, backup_ms) = pair.split_once(':').expect("lsp_ms:backup_ms");
                let lsp_rtt_ms: u64 = lsp_ms.parse().expect("lsp ms");
                let backup_rtt_ms: u64 = backup_ms.parse().expect("backup ms");
                Link {
                    lsp_rtt_ms,
                    backup_rtt_ms,
                    lsp_direct: lsp,
                    lsp: proxy(lsp, lsp_rtt_ms),
                    doze_backup: proxy(backup, backup_rtt_ms),
                    stock_backup: proxy(backup, backup_rtt_ms),
                }
            })
            .collect()
    }

    /// Whether nothing is proxied.
    pub(crate) fn is_direct(&self) -> bool {
        self.lsp_rtt_ms == 0 && self.backup_rtt_ms == 0
    }

    /// `rtt<ms>` when both are the same, `lsp<ms>_backup<ms>` otherwise.
    pub(crate) fn name(&self) -> String {
        if self.lsp_rtt_ms == self.backup_rtt_ms {
            format!("rtt{}", self.lsp_rtt_ms)
        } else {
            format!("lsp{}_backup{}", self.lsp_rtt_ms, self.backup_rtt_ms)
        }
    }

    /// Where the wake dials LSP-A over this link.
    pub(crate) fn lsp_address(&self) -> String {
        match &self.lsp {
            Some(proxy) => proxy.addr().to_string(),
            None => self.lsp_direct.to_string(),
        }
    }

    /// `config` over this link: the LSP's address through its proxy, and the backup as given.
    pub(crate) fn config(
        &self,
        config: &WalletConfig,
        backup: Option<&(String, Option<&LatencyProxy>)>,
    ) -> WalletConfig {
        let lsp = config.lsp.clone().map(|lsp| match &self.lsp {
            Some(proxy) => LspConfig { address: proxy.addr().to_string(), ..lsp },
            None => lsp,
        });
        let backup = backup.map(|(url, _)| BackupConfig { url: url.clone() });
        WalletConfig { lsp, backup, ..config.clone() }
    }
}
