//! The async-payment topology on a devnet, built with real nodes:
//! ```text
//!  sender ──(private)── LSP-B ══(announced)══ LSP-A ──(private)── phone
//!  stock ldk-node        Doze Lsp              Doze Lsp              stock ldk-node or a
//!  AsyncPaymentsRole::   server role: holds    server role: static   Doze wallet
//!  Client (its HTLC is   the sender's HTLC     invoices, mailbox,
//!  held at LSP-B)                               pushes
//! ```
//!
//! What it takes, found building doze-lsp's pin test (`rust/lsp/tests/async_push.rs`):
//! - The **sender** must have `AsyncPaymentsRole::Client` (ldk-node sets
//!   `hold_outbound_htlcs_at_next_hop`): its HTLC is then held at LSP-B (server role:
//!   `enable_htlc_hold`), and after the HTLC is locked in it sends `held_htlc_available`
//!   towards the phone, so the sender may go offline. (Without the role, LDK keeps the
//!   payment at the sender, sends `held_htlc_available` with a reply path to itself, and
//!   sends the HTLC only when the phone answers: the sender must stay online. The scene
//!   uses the role, as Doze's phones do.)
//! - LDK's message router only routes onion messages **directly**: the sender connects to
//!   LSP-A (the blinded paths' introduction node) using LSP-A's **node announcement**, and
//!   the phone's `release_held_htlc` goes straight to LSP-B by LSP-B's node announcement. So
//!   the LSP-B–LSP-A channel must be announced (6 confirmations) and both LSPs' node
//!   announcements must reach the sender and the phone ([`AsyncScene::wait_for_gossip`]).
//!   ldk-node broadcasts a node announcement on a 30 s tick once it has a public channel, so
//!   building the scene takes up to ~30 s of waiting. LDK 0.2.7 sometimes drops the channel
//!   counterparty's `channel_update` (a race at announcement time); LDK re-broadcasts every
//!   6 blocks, so the wait mines single blocks while an update is missing.
//! - The phone builds its offer when a peer connects or on the 60 s timer tick after
//!   `set_paths_to_static_invoice_server`; [`AsyncScene::set_up_async_receive`] reconnects
//!   the phone to LSP-A to start at once, then polls `receive_async()`.
//! - LSP-A intercepts only once it has seen the phone disconnect
//!   ([`AsyncScene::wait_until_offline_at`]).
//! - On paying, LSP-A intercepts first the sender's `invoice_request`s that it forwards to the
//!   phone "in case it is online" (`... when sending OffersMessage`, one per request, ~100 ms
//!   after `send`), then the sender's `held_htlc_available` (`... when forwarding peeled onion
//!   message from <sender>`, some 50 ms later, once the HTLC is locked in at LSP-B). The push
//!   goes out on the first; the later ones fall within the rate limit.
//! - Wake the phone only once LSP-B holds the HTLC ([`AsyncScene::wait_for_held_htlcs_at_lsp_b`]):
//!   a `release_held_htlc` that arrives before that is dropped by LDK 0.2.7.
//!
//! Nodes log to files with `DOZE_TEST_NODE_LOGS=<dir>` (`lsp-a`, `lsp-b`, `sender`, the
//! phone's name); see [`crate::lsp::node_log_path`].

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use doze_core::WalletConfig;
use doze_devnet::nodes::{expect_event, wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::push::PushTarget;
use doze_lsp::{Lsp, LspConfig, Observers};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::config::AsyncPaymentsRole;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::{Event, Node};
use tempfile::TempDir;

use crate::lsp::{
    fund_lsp, has_usable_channel, is_connected, knows_announcement, log_lsp_to_file,
    log_node_to_file, open_channel_from_lsp, start_lsp,
};
use crate::phone::wallet_config;
use crate::register::{decode_paths, register};

/// What a node's graph knows of the scene's LSPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipState {
    /// The LSP-A–LSP-B channel is in the graph.
    pub channel: bool,
    /// ... with a `channel_update` from each side.
    pub both_updates: bool,
    /// LSP-A's node announcement is in the graph.
    pub lsp_a_announced: bool,
    /// LSP-B's node announcement is in the graph.
    pub lsp_b_announced: bool,
}

impl GossipState {
    /// What `node` knows about the channel between `a` and `b` and their announcements.
    pub fn of(node: &Node, a: PublicKey, b: PublicKey) -> GossipState {
        let (id_a, id_b) = (NodeId::from_pubkey(&a), NodeId::from_pubkey(&b));
        let graph = node.network_graph();
        let channel =
            graph.list_channels().into_iter().filter_map(|scid| graph.channel(scid)).find(|c| {
                (c.node_one == id_a && c.node_two == id_b)
                    || (c.node_one == id_b && c.node_two == id_a)
            });
        GossipState {
            channel: channel.is_some(),
            both_updates: channel.is_some_and(|c| c.one_to_two.is_some() && c.two_to_one.is_some()),
            lsp_a_announced: knows_announcement(node, a),
            lsp_b_announced: knows_announcement(node, b),
        }
    }

    /// Everything the scene needs.
    pub fn complete(&self) -> bool {
        self.channel && self.both_updates && self.lsp_a_announced && self.lsp_b_announced
    }
}

/// Channel sizes and funding of the scene, in satoshis.
pub const LSP_FUNDS: u64 = 3_000_000;
/// The sender's on-chain funds.
pub const SENDER_FUNDS: u64 = 1_000_000;
/// sender → LSP-B.
pub const SENDER_CHANNEL: u64 = 500_000;
/// LSP-B → LSP-A (announced).
pub const LSP_CHANNEL: u64 = 1_000_000;
/// LSP-A → phone.
pub const PHONE_CHANNEL: u64 = 500_000;
/// A stock phone's on-chain funds (the anchor reserve ldk-node wants before accepting a
/// channel from a peer it does not trust for it).
pub const PHONE_RESERVE_FUNDS: u64 = 100_000;

/// The async-payment topology (see the module docs): two Doze LSPs with an announced channel,
/// a stock sender behind LSP-B. Add a phone with [`AsyncScene::start_phone`] (stock
/// ldk-node) or open a channel from LSP-A to a phone of your own with
/// [`AsyncScene::open_channel_to_phone`].
pub struct AsyncScene {
    /// The phone's LSP: static-invoice server, onion-message mailbox, pushes.
    pub lsp_a: Lsp,
    /// The sender's LSP: holds the sender's HTLC until the phone releases it.
    pub lsp_b: Lsp,
    /// A stock ldk-node sender with `AsyncPaymentsRole::Client` and a private channel to LSP-B.
    pub sender: TestNode,
    held_at_lsp_b: Arc<HeldHtlcs>,
    _dirs: (TempDir, TempDir),
}

/// Counts an LSP's "Intercepted held HTLC with id ..., holding until the recipient is online"
/// records (LDK `ln::channelmanager`, trace level; there is no event for it): how a test knows
/// the payer's LSP holds its HTLC. Attach [`HeldHtlcs::observers`] to the LSP.
#[derive(Default)]
pub struct HeldHtlcs {
    count: Mutex<u64>,
    changed: Condvar,
}

/// The text of LDK's record that an HTLC is now held for an offline recipient.
pub const HELD_HTLC_PREFIX: &str = "Intercepted held HTLC with id ";

impl HeldHtlcs {
    /// A counter at zero.
    pub fn new() -> Arc<HeldHtlcs> {
        Arc::new(HeldHtlcs::default())
    }

    /// `observers` with one more that counts the LSP's held HTLCs here.
    pub fn observers(self: &Arc<Self>, observers: Observers) -> Observers {
        let held = Arc::clone(self);
        observers.on_log(move |record| {
            if record.module_path.ends_with("ln::channelmanager")
                && record.args.to_string().starts_with(HELD_HTLC_PREFIX)
            {
                *held.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                held.changed.notify_all();
            }
        })
    }

    /// How many HTLCs the LSP has put on hold so far.
    pub fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the LSP has put `count` HTLCs on hold in total; on timeout, an error.
    pub fn wait_for(&self, count: u64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut held = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *held < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out after {timeout:?}: the LSP holds {} HTLC(s), not {count}",
                    *held
                ));
            }
            held = self.changed.wait_timeout(held, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(())
    }
}

impl AsyncScene {
    /// Builds the scene: starts both LSPs (`configure_a` adjusts LSP-A's config, `observers_a`
    /// are attached to it from the start), funds them and the sender, opens sender → LSP-B
    /// (private) and LSP-B → LSP-A (announced), confirms them, and waits until the sender's
    /// graph has both LSPs' node announcements and the LSP channel's updates.
    pub fn start(
        devnet: &Devnet,
        observers_a: Observers,
        configure_a: impl FnOnce(&mut LspConfig),
    ) -> AsyncScene {
        AsyncScene::start_with_lsps(devnet, observers_a, configure_a, |_| {})
    }

    /// [`AsyncScene::start`] with `configure_both` applied to both LSPs' configs first (e.g.
    /// how they forward, for a benchmark of the LSPs' share of a wake).
    pub fn start_with_lsps(
        devnet: &Devnet,
        observers_a: Observers,
        configure_a: impl FnOnce(&mut LspConfig),
        configure_both: impl Fn(&mut LspConfig),
    ) -> AsyncScene {
        let started = Instant::now();
        let dir_a = tempfile::Builder::new().prefix("doze-lsp-a-").tempdir().expect("temp dir");
        let dir_b = tempfile::Builder::new().prefix("doze-lsp-b-").tempdir().expect("temp dir");
        let lsp_a = start_lsp(devnet, dir_a.path(), log_lsp_to_file(observers_a, "lsp-a"), |c| {
            c.alias = "lsp-a".into();
            configure_both(c);
            configure_a(c);
        });
        let held_at_lsp_b = HeldHtlcs::new();
        let observers_b = held_at_lsp_b.observers(Observers::new());
        let lsp_b = start_lsp(devnet, dir_b.path(), log_lsp_to_file(observers_b, "lsp-b"), |c| {
            c.alias = "lsp-b".into();
            configure_both(c);
        });
        let sender = devnet.start_node_with("sender", |builder| {
            log_node_to_file(builder, "sender");
            builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
        });
        fund_lsp(devnet, &lsp_a, Amount::from_sat(LSP_FUNDS));
        fund_lsp(devnet, &lsp_b, Amount::from_sat(LSP_FUNDS));
        devnet.fund_node(&sender, Amount::from_sat(SENDER_FUNDS));

        let mempool_before = devnet.mempool_len();
        sender
            .open_channel(lsp_b.node_id(), lsp_b.p2p_address(), SENDER_CHANNEL, None, None)
            .expect("sender opens a channel to LSP-B");
        lsp_b
            .node()
            .open_announced_channel(lsp_a.node_id(), lsp_a.p2p_address(), LSP_CHANNEL, None, None)
            .expect("LSP-B opens an announced channel to LSP-A");
        assert!(
            devnet.wait_for_mempool_len(mempool_before + 2, DEFAULT_WAIT),
            "both funding transactions broadcast"
        );
        let scene = AsyncScene { lsp_a, lsp_b, sender, held_at_lsp_b, _dirs: (dir_a, dir_b) };
        scene.confirm(devnet, &[]);
        wait_until("the sender's and the LSPs' channels are usable", DEFAULT_WAIT, || {
            has_usable_channel(&scene.sender, scene.lsp_b.node_id())
                && has_usable_channel(&scene.lsp_b.node(), scene.lsp_a.node_id())
                && has_usable_channel(&scene.lsp_a.node(), scene.lsp_b.node_id())
        });
        scene.wait_for_gossip(devnet, "sender", &scene.sender, Duration::from_secs(120));
        log::info!(target: "doze_testkit", "async scene ready in {:?}", started.elapsed());
        scene
    }

    /// Mines 6 blocks and syncs both LSPs, the sender and `others`.
    pub fn confirm(&self, devnet: &Devnet, others: &[&Node]) {
        devnet.mine(6);
        self.lsp_a.sync().expect("LSP-A sync");
        self.lsp_b.sync().expect("LSP-B sync");
        self.sender.sync_wallets().expect("sender sync");
        for node in others {
            node.sync_wallets().expect("sync");
        }
    }

    /// Waits until `node`'s graph has the announced LSP-B–LSP-A channel with both directions'
    /// updates and both LSPs' node announcements (what the sender needs to reach LSP-A, and
    /// the phone to reach LSP-B).
    ///
    /// LDK 0.2.7 sometimes loses a channel counterparty's `channel_update`: when an LSP's
    /// update reaches the other LSP before that one has handled its own channel announcement,
    /// the other's gossip rejects it (unknown channel), and a channel counterparty is never
    /// sent the announcement itself. LDK re-broadcasts both every 6 blocks, so when updates
    /// are missing this mines single blocks (syncing the scene's nodes and `node`) until they
    /// arrive.
    pub fn wait_for_gossip(&self, devnet: &Devnet, name: &str, node: &Node, timeout: Duration) {
        let (a, b) = (self.lsp_a.node_id(), self.lsp_b.node_id());
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        let mut updates_missing_since: Option<Instant> = None;
        let mut nudges = 0;
        loop {
            let state = GossipState::of(node, a, b);
            if state.complete() {
                break;
            }
            assert!(
                started.elapsed() < timeout,
                "timed out after {timeout:?} waiting until {name} learns the LSPs' channel and \
                 node announcements ({nudges} block(s) mined to re-broadcast): \
                 {name} has {state:?}; LSP-A has {:?}; LSP-B has {:?}",
                GossipState::of(&self.lsp_a.node(), a, b),
                GossipState::of(&self.lsp_b.node(), a, b),
            );
            let updates_missing = [
                GossipState::of(&self.lsp_a.node(), a, b),
                GossipState::of(&self.lsp_b.node(), a, b),
                state,
            ]
            .iter()
            .any(|s| s.channel && !s.both_updates);
            let since = if updates_missing {
                *updates_missing_since.get_or_insert_with(Instant::now)
            } else {
                Instant::now()
            };
            if !updates_missing {
                updates_missing_since = None;
            } else if since.elapsed() > Duration::from_secs(2) {
                nudges += 1;
                log::info!(
                    target: "doze_testkit",
                    "{name}: a channel_update is missing ({state:?}); mining a block so that the \
                     LSPs re-broadcast"
                );
                devnet.mine(1);
                self.lsp_a.sync().expect("LSP-A sync");
                self.lsp_b.sync().expect("LSP-B sync");
                self.sender.sync_wallets().expect("sender sync");
                node.sync_wallets().expect("sync");
                updates_missing_since = Some(Instant::now());
            }
            std::thread::park_timeout(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
        log::info!(
            target: "doze_testkit",
            "{name} has the LSPs' gossip after {:?} ({nudges} block(s) mined to re-broadcast)",
            started.elapsed()
        );
    }

    /// Starts a stock ldk-node phone with `AsyncPaymentsRole::Client`, funds its anchor
    /// reserve, has LSP-A open a private channel to it and waits until it is usable and the
    /// phone has the LSPs' gossip.
    pub fn start_phone(&self, devnet: &Devnet, name: &str) -> TestNode {
        let phone = devnet.start_node_with(name, |builder| {
            log_node_to_file(builder, name);
            builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("client role");
        });
        devnet.fund_node(&phone, Amount::from_sat(PHONE_RESERVE_FUNDS));
        self.open_channel_to_phone(
            devnet,
            phone.node_id(),
            Some(phone.address.clone()),
            PHONE_CHANNEL,
            &[&phone],
        );
        self.wait_for_gossip(devnet, name, &phone, Duration::from_secs(120));
        phone
    }

    /// Has LSP-A open a private channel of `sats` to `phone` (see [`open_channel_from_lsp`]),
    /// syncing the whole scene and `others`.
    pub fn open_channel_to_phone(
        &self,
        devnet: &Devnet,
        phone: PublicKey,
        address: Option<SocketAddress>,
        sats: u64,
        others: &[&Node],
    ) {
        let mut all: Vec<&Node> = vec![&self.sender];
        all.extend_from_slice(others);
        open_channel_from_lsp(devnet, &self.lsp_a, phone, address, sats, &all);
        self.lsp_b.sync().expect("LSP-B sync");
    }

    /// Registers `phone` at LSP-A for pushes to `webhook`, gives it the paths, and waits until
    /// `receive_async()` returns an offer (LSP-A persisted the phone's static invoice). The
    /// phone is reconnected to LSP-A once so that it starts building the offer at once.
    pub fn set_up_async_receive(
        &self,
        phone: &Node,
        target: PushTarget,
        timeout: Duration,
    ) -> Offer {
        let registered = register(&self.lsp_a.http_url(), phone, target)
            .unwrap_or_else(|(status, e)| panic!("registration refused: {status} {e:?}"));
        assert_eq!(registered.lsp_node_id, self.lsp_a.node_id().to_string());
        phone
            .bolt12_payment()
            .set_paths_to_static_invoice_server(decode_paths(&registered))
            .expect("the phone takes the paths");
        // The offer cache refreshes when a peer connects (or on a 60 s timer).
        let (lsp, address) = (self.lsp_a.node_id(), self.lsp_a.p2p_address());
        let _ = phone.disconnect(lsp);
        wait_until("the phone reconnects to LSP-A", DEFAULT_WAIT, || {
            phone.connect(lsp, address.clone(), true).is_ok() && is_connected(phone, lsp)
        });
        let started = Instant::now();
        let mut offer = None;
        wait_until(
            "the phone's async offer is ready (static invoice persisted at LSP-A)",
            timeout,
            || {
                offer = phone.bolt12_payment().receive_async().ok();
                offer.is_some()
            },
        );
        log::info!(
            target: "doze_testkit",
            "async offer ready {:?} after the paths were set",
            started.elapsed()
        );
        offer.expect("checked")
    }

    /// How many HTLCs LSP-B has put on hold for an offline recipient so far.
    pub fn held_htlcs_at_lsp_b(&self) -> u64 {
        self.held_at_lsp_b.count()
    }

    /// Waits until LSP-B has put `count` HTLCs on hold in total. Wake the phone only after
    /// this: LDK 0.2.7 drops a `release_held_htlc` that reaches LSP-B before the sender's HTLC
    /// is irrevocably committed there ("Failed to release HTLC with intercept_id ..: HTLC not
    /// found"), and nothing sends it again, so a phone that answers within milliseconds of the
    /// interception can strand the payment until it times out.
    pub fn wait_for_held_htlcs_at_lsp_b(&self, count: u64, timeout: Duration) {
        self.try_wait_for_held_htlcs_at_lsp_b(count, timeout)
            .unwrap_or_else(|e| panic!("LSP-B: {e}"));
    }

    /// [`AsyncScene::wait_for_held_htlcs_at_lsp_b`] with an error instead of a panic.
    pub fn try_wait_for_held_htlcs_at_lsp_b(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<(), String> {
        self.held_at_lsp_b.wait_for(count, timeout)
    }

    /// Waits until `lsp` no longer sees `peer` connected (so that it intercepts messages for
    /// it rather than forwarding them).
    pub fn wait_until_offline_at(lsp: &Lsp, peer: PublicKey, timeout: Duration) {
        let node = lsp.node();
        wait_until("the LSP sees the phone disconnected", timeout, || !is_connected(&node, peer));
    }
}

impl AsyncScene {
    /// A Doze phone's configuration behind LSP-A (with its HTTP API), storing in `dir`.
    pub fn phone_config(&self, devnet: &Devnet, dir: &std::path::Path) -> WalletConfig {
        wallet_config(devnet, &self.lsp_a, dir)
    }

    /// The sender's next payment outcome: whether it succeeded. Panics after `timeout`.
    pub fn sender_outcome(&self, timeout: Duration) -> bool {
        let outcome = expect_event(&self.sender, timeout, |e| {
            matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
        });
        matches!(outcome, Event::PaymentSuccessful { .. })
    }
}

/// Collects an LSP's onion-message interception records (ldk-node's `OnionMessageIntercepted`
/// handling, logged per message): how a test knows that the sender's `held_htlc_available` is
/// in the phone's mailbox, to launch a wake when a real phone would be woken. Attach
/// [`Interceptions::observers`] to LSP-A.
#[derive(Default)]
pub struct Interceptions {
    records: Mutex<Vec<String>>,
}

impl Interceptions {
    /// None yet.
    pub fn new() -> Arc<Interceptions> {
        Arc::new(Interceptions::default())
    }

    /// `observers` with one more that records the LSP's interceptions here.
    pub fn observers(self: &Arc<Self>, observers: Observers) -> Observers {
        let seen = Arc::clone(self);
        observers.on_log(move |record| {
            if record.module_path.contains("onion_message") {
                let text = record.args.to_string();
                if text.contains("OnionMessageIntercepted") {
                    seen.records.lock().unwrap_or_else(|p| p.into_inner()).push(text);
                }
            }
        })
    }

    /// How many onion messages from `sender` (its `held_htlc_available`s) were intercepted.
    pub fn from_sender(&self, sender: PublicKey) -> usize {
        let suffix = format!("when forwarding peeled onion message from {sender}");
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.iter().filter(|t| t.ends_with(&suffix)).count()
    }

    /// Waits until more than `before` messages from `sender` were intercepted.
    pub fn wait_from_sender(&self, sender: PublicKey, before: usize, timeout: Duration) {
        wait_until("the LSP holds the sender's held_htlc_available", timeout, || {
            self.from_sender(sender) > before
        });
    }
}
