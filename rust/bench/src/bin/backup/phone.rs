//! The bench's phones: a Doze `Wallet` or a stock ldk-node `Node`, on a local or a remote store,
//! and what they do for the bench (start, receive, send, restore).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use doze_core::{
    BackupAuth, BackupConfig, ChannelState, Network, Wallet, WalletConfig, WalletEventKind,
    WordCount,
};
use doze_testkit::Scene;
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::config::{AnchorChannelsConfig, AsyncPaymentsRole, Config, EsploraSyncConfig};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::Bolt11Invoice;
use ldk_node::{Event, Node};
use tempfile::TempDir;

use crate::counting_store::CountingStore;
use crate::events::{stock_event, stock_event_unless, TimedEvents};
use crate::{description, ms, STOCK_STORE_ID};

/// Where a phone keeps its node's state.
#[derive(Clone)]
pub(crate) enum Store {
    Local,
    /// A VSS server at this URL (the server itself or a proxy in front of it).
    Remote(String),
}

/// How a start went: its total and, for stock ldk-node, its parts.
pub(crate) struct StartTiming {
    pub(crate) total_ms: f64,
    pub(crate) parts: Vec<(&'static str, f64)>,
}

/// A phone of either kind.
pub(crate) enum Phone {
    Doze(DozePhone),
    Stock(StockPhone),
}

pub(crate) struct DozePhone {
    pub(crate) config: WalletConfig,
    pub(crate) mnemonic: String,
    pub(crate) wallet: Option<Wallet>,
    pub(crate) events: Arc<TimedEvents>,
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) dir: TempDir,
}

pub(crate) struct StockPhone {
    pub(crate) mnemonic: ldk_node::bip39::Mnemonic,
    pub(crate) store: Store,
    pub(crate) esplora: String,
    pub(crate) lsp_id: PublicKey,
    pub(crate) lsp_address: SocketAddress,
    pub(crate) node: Option<Node>,
    pub(crate) dir: TempDir,
    /// With a local store: every write the node makes, by object (see [`CountingStore`]).
    pub(crate) writes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl DozePhone {
    pub(crate) fn new(scene: &Scene, store: &Store) -> DozePhone {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = scene.phone_config(dir.path());
        if let Store::Remote(url) = store {
            config.backup = Some(BackupConfig { url: url.clone() });
        }
        let mnemonic = doze_core::generate_mnemonic(WordCount::Words12).to_string();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let mut phone =
            DozePhone { config, mnemonic, wallet: None, events: Arc::default(), rt, dir };
        phone.start();
        phone
    }

    pub(crate) fn wallet(&self) -> &Wallet {
        self.wallet.as_ref().expect("the wallet runs")
    }

    pub(crate) fn start(&mut self) -> StartTiming {
        let started = Instant::now();
        let wallet = Wallet::new(self.config.clone(), &self.mnemonic, None).expect("the wallet");
        wallet.set_event_listener(self.events.clone());
        self.rt.block_on(wallet.start()).expect("the wallet starts");
        self.wallet = Some(wallet);
        StartTiming { total_ms: ms(started.elapsed()), parts: Vec::new() }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(wallet) = self.wallet.take() {
            self.rt.block_on(wallet.stop()).expect("the wallet stops");
        }
    }

    /// Starts on a new, empty directory: a restore from the backup.
    pub(crate) fn restore(&mut self) -> StartTiming {
        self.stop();
        self.dir = tempfile::tempdir().expect("a temporary directory");
        self.config.storage_dir = self.dir.path().to_string_lossy().into_owned();
        self.start()
    }
}

impl StockPhone {
    pub(crate) fn new(
        scene: &Scene,
        store: &Store,
        writes: Arc<Mutex<BTreeMap<String, u64>>>,
    ) -> StockPhone {
        let lsp = scene.lsp_config();
        let mut phone = StockPhone {
            mnemonic: doze_core::generate_mnemonic(WordCount::Words12),
            store: store.clone(),
            esplora: scene.devnet.esplora_url(),
            lsp_id: PublicKey::from_str(&lsp.node_id).expect("the LSP's id"),
            lsp_address: SocketAddress::from_str(&lsp.address).expect("the LSP's address"),
            node: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            writes,
        };
        phone.start();
        phone
    }

    pub(crate) fn node(&self) -> &Node {
        self.node.as_ref().expect("the node runs")
    }

    /// The node Doze would build, stock.
    pub(crate) fn build(&self, dir: &Path) -> Node {
        let config = Config {
            network: ldk_node::bitcoin::Network::Regtest,
            storage_dir_path: dir.to_string_lossy().into_owned(),
            anchor_channels_config: Some(AnchorChannelsConfig {
                trusted_peers_no_reserve: vec![self.lsp_id],
                ..AnchorChannelsConfig::default()
            }),
            ..Config::default()
        };
        let mut builder = ldk_node::Builder::from_config(config);
        builder.set_chain_source_esplora(
            self.esplora.clone(),
            Some(EsploraSyncConfig { background_sync_config: None }),
        );
        builder.set_entropy_bip39_mnemonic(self.mnemonic.clone(), None);
        builder.set_log_facade_logger();
        builder.set_gossip_source_p2p();
        builder.set_liquidity_source_lsps2(self.lsp_id, self.lsp_address.clone(), None);
        builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
        match &self.store {
            Store::Local => {
                let inner = SqliteStore::new(
                    dir.to_path_buf(),
                    Some(SQLITE_DB_FILE_NAME.into()),
                    Some(KV_TABLE_NAME.into()),
                )
                .expect("the node's store");
                let writes = Arc::clone(&self.writes);
                builder.build_with_store(Arc::new(CountingStore { inner, writes }))
            }
            Store::Remote(url) => {
                let auth =
                    BackupAuth::from_mnemonic(&self.mnemonic.to_string(), None, Network::Regtest)
                        .expect("the backup key");
                builder.build_with_vss_store_and_header_provider(
                    url.clone(),
                    STOCK_STORE_ID.into(),
                    Arc::new(auth),
                )
            }
        }
        .expect("the stock node builds")
    }

    pub(crate) fn start(&mut self) -> StartTiming {
        let started = Instant::now();
        let node = self.build(self.dir.path());
        let built = started.elapsed();
        node.start().expect("the stock node starts");
        let node_started = started.elapsed();
        node.connect(self.lsp_id, self.lsp_address.clone(), true).expect("connects to the LSP");
        let connected = started.elapsed();
        node.sync_wallets().expect("the stock node syncs");
        let total = started.elapsed();
        self.node = Some(node);
        StartTiming {
            total_ms: ms(total),
            parts: vec![
                ("build", ms(built)),
                ("start", ms(node_started - built)),
                ("connect", ms(connected - node_started)),
                ("sync", ms(total - connected)),
            ],
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop().expect("the stock node stops");
        }
    }

    pub(crate) fn restore(&mut self) -> StartTiming {
        self.stop();
        self.dir = tempfile::tempdir().expect("a temporary directory");
        self.start()
    }
}

impl Phone {
    pub(crate) fn node_id(&self) -> PublicKey {
        match self {
            Phone::Doze(p) => p.wallet().node_id().expect("node id").parse().expect("a key"),
            Phone::Stock(p) => p.node().node_id(),
        }
    }

    pub(crate) fn sync(&self) {
        match self {
            Phone::Doze(p) => p.rt.block_on(p.wallet().sync()).expect("the wallet syncs"),
            Phone::Stock(p) => p.node().sync_wallets().expect("the node syncs"),
        }
    }

    pub(crate) fn has_usable_channel(&self) -> bool {
        match self {
            Phone::Doze(p) => p
                .wallet()
                .list_channels()
                .expect("channels")
                .iter()
                .any(|c| c.state == ChannelState::Usable),
            Phone::Stock(p) => p.node().list_channels().iter().any(|c| c.is_usable),
        }
    }

    /// A BOLT11 invoice of this phone and its payment hash (hex).
    pub(crate) fn invoice(&self, amount_msat: u64) -> (Bolt11Invoice, String) {
        let invoice: Bolt11Invoice = match self {
            Phone::Doze(p) => {
                let invoice = p
                    .rt
                    .block_on(p.wallet().receive_bolt11(Some(amount_msat), "bench".into(), 3600))
                    .expect("the phone's invoice");
                assert!(!invoice.via_jit_channel, "the phone's channel takes it");
                invoice.bolt11.parse().expect("an invoice")
            }
            Phone::Stock(p) => p
                .node()
                .bolt11_payment()
                .receive(amount_msat, &description(), 3600)
                .expect("the stock phone's invoice"),
        };
        let hash = invoice.payment_hash().to_string();
        (invoice, hash)
    }

    /// When this phone had the payment with hash `hash` (hex).
    pub(crate) fn received(&self, hash: &str, who: &str, cancel: &AtomicBool) -> Option<Instant> {
        let at = match self {
            Phone::Doze(p) => p
                .events
                .wait_unless(&format!("{who}: PaymentReceived"), cancel, |e| {
                    matches!(e, WalletEventKind::PaymentReceived { payment_hash, .. }
                            if payment_hash == hash)
                })
                .map(|(at, _)| at),
            Phone::Stock(p) => {
                stock_event_unless(p.node(), &format!("{who}: PaymentReceived"), cancel, |e| {
                    matches!(e, Event::PaymentReceived { payment_hash, .. }
                        if payment_hash.0.to_lower_hex_string() == hash)
                })
                .map(|(at, _)| at)
            }
        };
        at
    }

    /// The phone's channels and its LSP connection, for a failure's message.
    pub(crate) fn state(&self) -> String {
        match self {
            Phone::Doze(p) => format!("channels {:?}", p.wallet().list_channels()),
            Phone::Stock(p) => format!(
                "peers {:?}, channels usable {:?}",
                p.node().list_peers().iter().map(|x| x.is_connected).collect::<Vec<_>>(),
                p.node().list_channels().iter().map(|c| c.is_usable).collect::<Vec<_>>()
            ),
        }
    }

    /// Pays `invoice`; when the phone learnt it was paid, or why it failed.
    pub(crate) fn pay(&self, invoice: &Bolt11Invoice) -> Result<Instant, String> {
        match self {
            Phone::Doze(p) => {
                let id =
                    p.rt.block_on(p.wallet().pay_bolt11(&invoice.to_string(), None))
                        .map_err(|e| e.to_string())?;
                let (at, event) = p.events.wait("the payment's outcome", |e| match e {
                    WalletEventKind::PaymentSent { payment_id, .. }
                    | WalletEventKind::PaymentFailed { payment_id, .. } => *payment_id == id,
                    _ => false,
                });
                match event.kind {
                    WalletEventKind::PaymentSent { .. } => Ok(at),
                    other => Err(format!("{other:?}")),
                }
            }
            Phone::Stock(p) => {
                let id =
                    p.node().bolt11_payment().send(invoice, None).map_err(|e| e.to_string())?;
                let (at, event) = stock_event(p.node(), "the payment's outcome", |e| match e {
                    Event::PaymentSuccessful { payment_id, .. }
                    | Event::PaymentFailed { payment_id, .. } => *payment_id == Some(id),
                    _ => false,
                });
                match event {
                    Event::PaymentSuccessful { .. } => Ok(at),
                    other => Err(format!("{other:?}")),
                }
            }
        }
    }

    pub(crate) fn stop(&mut self) {
        match self {
            Phone::Doze(p) => p.stop(),
            Phone::Stock(p) => p.stop(),
        }
    }

    pub(crate) fn start(&mut self) -> StartTiming {
        match self {
            Phone::Doze(p) => p.start(),
            Phone::Stock(p) => p.start(),
        }
    }

    pub(crate) fn restore(&mut self) -> StartTiming {
        match self {
            Phone::Doze(p) => p.restore(),
            Phone::Stock(p) => p.restore(),
        }
    }
}
