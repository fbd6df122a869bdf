//! The bench's world: a devnet, one Doze LSP (ldk-node in the server role) pushing to the
//! loopback gateway, and a few stock ldk-node "phones" with channels from it. The LSP opens an
//! announced channel to the first phone, so that it is in its own graph: LDK builds blinded
//! paths to an unannounced node only through its one peer, and the LSP has several.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doze_devnet::nodes::{wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{Lsp, LspConfig};
use doze_testkit::lsp::{has_usable_channel, is_connected, start_lsp};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::routing::gossip::NodeId;
use tempfile::TempDir;

use crate::channels::PersistProbe;

/// On-chain coins the LSP gets, and their size: enough for every channel of part 4 and its
/// anchor reserve, in many coins so that funding transactions need not chain.
const LSP_COINS: u32 = 40;
const LSP_COIN: Amount = Amount::from_sat(50_000_000);

/// What each phone gets on chain: ldk-node accepts an inbound anchor channel only with 25,000
/// sat of reserve per channel, and part 4 opens hundreds to a few phones.
const PHONE_FUNDS: Amount = Amount::from_sat(100_000_000);

/// The channel each phone first gets from the LSP.
pub const PHONE_CHANNEL_SATS: u64 = 200_000;

/// The devnet, the LSP and its phones. Fields drop in order: the LSP before its directory.
pub struct Scene {
    /// The LSP (`None` only while it restarts).
    pub lsp: Option<Lsp>,
    /// The stock ldk-node phones with channels from the LSP.
    pub phones: Vec<TestNode>,
    /// The chain.
    pub devnet: Devnet,
    /// The LSP's storage directory.
    pub dir: TempDir,
    /// The manager-persist probe on the LSP's log hub (part 4).
    pub probe: Arc<PersistProbe>,
    gateway_url: String,
}

/// The bench's changes to the devnet config, said in the README: the gateway, quick retries
/// (10 ms, doubling), and the per-phone and per-source registration bounds out of the way of
/// phones that register over and over (part 3).
fn configure(config: &mut LspConfig, gateway_url: &str, postgres_url: Option<String>) {
    config.push.gateway_url = Some(gateway_url.to_string());
    config.push.retry_backoff_ms = 10;
    config.push.max_registrations_per_window = 1_000_000;
    config.http.registrations_per_minute_per_source = 1_000_000;
    config.push.postgres_url = postgres_url;
}

impl Scene {
    /// Starts the devnet, the LSP (SQLite push store) and `phones` phones with a channel each.
    pub fn start(phones: usize, gateway_url: &str) -> Scene {
        let started = Instant::now();
        let devnet = Devnet::start().expect("the devnet starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let probe = PersistProbe::new();
        let lsp =
            start_lsp(&devnet, dir.path(), probe.observers(), |c| configure(c, gateway_url, None));
        for _ in 0..LSP_COINS {
            let address = lsp.new_onchain_address().expect("an LSP address");
            devnet.fund(&address, LSP_COIN).expect("the faucet funds the LSP");
        }
        let phones: Vec<TestNode> =
            (0..phones).map(|i| devnet.start_node(&format!("phone-{i}"))).collect();
        for phone in &phones {
            let address = phone.onchain_payment().new_address().expect("a phone address");
            devnet.fund(&address, PHONE_FUNDS).expect("the faucet funds a phone");
        }
        devnet.mine(1);
        let lsp_funds = u64::from(LSP_COINS) * LSP_COIN.to_sat();
        wait_until("the LSP and the phones see their coins", DEFAULT_WAIT, || {
            lsp.sync().is_ok()
                && lsp.node().list_balances().spendable_onchain_balance_sats >= lsp_funds
                && phones.iter().all(|p| {
                    p.sync_wallets().is_ok()
                        && p.list_balances().spendable_onchain_balance_sats >= PHONE_FUNDS.to_sat()
                })
        });
        let scene = Scene {
            lsp: Some(lsp),
            phones,
            devnet,
            dir,
            probe,
            gateway_url: gateway_url.to_string(),
        };
        for (i, phone) in scene.phones.iter().enumerate() {
            scene.open_channel(phone, PHONE_CHANNEL_SATS, i == 0);
        }
        scene.devnet.mine(6);
        scene.wait_usable("the phones' channels are usable and the LSP is in its graph", || {
            let lsp = scene.lsp();
            lsp.node().network_graph().node(&NodeId::from_pubkey(&lsp.node_id())).is_some()
        });
        eprintln!(
            "scene: LSP, {} phones with channels in {:?}",
            scene.phones.len(),
            started.elapsed()
        );
        scene
    }

    /// The running LSP.
    pub fn lsp(&self) -> &Lsp {
        self.lsp.as_ref().expect("the LSP runs")
    }

    /// The LSP's storage directory.
    pub fn storage_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Has the LSP open a channel of `sats` to `phone` and waits until its funding transaction
    /// is in the mempool and in the LSP's wallet (so that the next one spends other coins).
    pub fn open_channel(&self, phone: &TestNode, sats: u64, announced: bool) {
        let lsp = self.lsp();
        let node = lsp.node();
        let before = self.devnet.mempool_len();
        let open = if announced {
            ldk_node::Node::open_announced_channel
        } else {
            ldk_node::Node::open_channel
        };
        open(&node, phone.node_id(), phone.address.clone(), sats, None, None)
            .unwrap_or_else(|e| panic!("the LSP opens a channel to {}: {e}", phone.name));
        assert!(
            self.devnet.wait_for_mempool_len(before + 1, DEFAULT_WAIT),
            "the funding transaction to {} reached the mempool",
            phone.name
        );
        lsp.sync().expect("the LSP syncs");
    }

    /// Syncs everyone until every channel of the LSP is usable and `also` holds.
    pub fn wait_usable(&self, what: &str, also: impl Fn() -> bool) {
        let lsp = self.lsp();
        wait_until(what, Duration::from_secs(300), || {
            let phones_synced = self.phones.iter().all(|p| p.sync_wallets().is_ok());
            phones_synced
                && lsp.sync().is_ok()
                && lsp.node().list_channels().iter().all(|c| c.is_usable)
                && also()
        });
    }

    /// Stops the LSP and starts it again on the same node, with its push store in SQLite or,
    /// with `postgres_url`, in PostgreSQL; waits until it is connected to every phone again
    /// with usable channels.
    pub fn restart(&mut self, postgres_url: Option<String>) {
        let lsp = self.lsp.take().expect("the LSP runs");
        lsp.stop().expect("the LSP stops");
        drop(lsp);
        let lsp = start_lsp(&self.devnet, self.dir.path(), self.probe.observers(), |c| {
            configure(c, &self.gateway_url, postgres_url)
        });
        self.lsp = Some(lsp);
        let lsp = self.lsp();
        wait_until("the phones are connected to the restarted LSP", DEFAULT_WAIT, || {
            self.phones.iter().all(|p| {
                is_connected(&lsp.node(), p.node_id())
                    && has_usable_channel(&lsp.node(), p.node_id())
            })
        });
    }
}
