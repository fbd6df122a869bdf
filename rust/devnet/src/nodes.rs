//! Helpers to run stock ldk-node nodes on a devnet, so that multi-node tests read like the
//! story they check: start nodes, fund them, open a channel, wait for it to be usable.
//!
//! Nodes run with background sync off; every wait here syncs the nodes and re-checks its
//! condition until a deadline, so no test sleeps a fixed time.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Amount, Network};
use ldk_node::config::EsploraSyncConfig;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::{Builder, Event, Node, UserChannelId};
use tempfile::TempDir;

use crate::Devnet;

/// How long a helper waits for a condition before giving up with a panic (tests only).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// A stock ldk-node node on the devnet, with its storage in a temporary directory that lives
/// as long as this value.
pub struct TestNode {
    /// The node itself.
    pub node: Arc<Node>,
    /// Where it listens for peers.
    pub address: SocketAddress,
    /// A name for logs and failure messages.
    pub name: String,
    dir: TempDir,
}

impl std::ops::Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl TestNode {
    /// The node's storage directory.
    pub fn storage_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A free loopback port (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Devnet {
    /// A regtest ldk-node builder pointed at this devnet, background sync off, listening on a
    /// free loopback port, storing in `dir`.
    pub fn node_builder(&self, name: &str, dir: &std::path::Path) -> (Builder, SocketAddress) {
        let port = free_port();
        let address = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port };
        let mut builder = Builder::new();
        builder.set_network(Network::Regtest);
        builder.set_storage_dir_path(dir.to_string_lossy().into_owned());
        builder.set_chain_source_esplora(
            self.esplora_url(),
            Some(EsploraSyncConfig { background_sync_config: None }),
        );
        builder.set_listening_addresses(vec![address.clone()]).expect("one listening address");
        builder.set_node_alias(name.to_string()).expect("a short alias");
        (builder, address)
    }

    /// Builds and starts a stock ldk-node node on this devnet.
    pub fn start_node(&self, name: &str) -> TestNode {
        self.start_node_with(name, |_| {})
    }

    /// Builds (after `configure` adjusts the builder) and starts a stock ldk-node node.
    pub fn start_node_with(&self, name: &str, configure: impl FnOnce(&mut Builder)) -> TestNode {
        self.try_start_node_with(name, configure).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Devnet::start_node_with`] for callers that report a failure instead of panicking
    /// (`doze demo`): the error says which node and what failed.
    pub fn try_start_node_with(
        &self,
        name: &str,
        configure: impl FnOnce(&mut Builder),
    ) -> Result<TestNode, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("doze-{name}-"))
            .tempdir()
            .map_err(|e| format!("{name}: cannot create a temporary directory: {e}"))?;
        let (mut builder, address) = self.node_builder(name, dir.path());
        configure(&mut builder);
        let node = Arc::new(builder.build().map_err(|e| format!("{name}: build failed: {e}"))?);
        node.start().map_err(|e| format!("{name}: start failed: {e}"))?;
        Ok(TestNode { node, address, name: name.to_string(), dir })
    }

    /// Funds `node`'s on-chain wallet with `amount`, confirms it and waits until the node's
    /// spendable on-chain balance shows it.
    pub fn fund_node(&self, node: &TestNode, amount: Amount) {
        self.try_fund_node(node, amount, DEFAULT_WAIT).unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Devnet::fund_node`] waiting at most `timeout`, with an error instead of a panic.
    pub fn try_fund_node(
        &self,
        node: &TestNode,
        amount: Amount,
        timeout: Duration,
    ) -> Result<(), String> {
        let before = node.list_balances().spendable_onchain_balance_sats;
        let address = node
            .onchain_payment()
            .new_address()
            .map_err(|e| format!("{}: no new address: {e}", node.name))?;
        self.fund_confirmed(&address, amount)
            .map_err(|e| format!("the faucet refused to fund {}: {e}", node.name))?;
        try_wait_until(&format!("{} sees its funding", node.name), timeout, || {
            let _ = node.sync_wallets();
            node.list_balances().spendable_onchain_balance_sats >= before + amount.to_sat()
        })
    }

    /// Opens an unannounced channel from `from` to `to` of `amount`, pushing `push_msat`,
    /// mines it to 6 confirmations, and waits for `ChannelReady` on both sides.
    pub fn open_channel(
        &self,
        from: &TestNode,
        to: &TestNode,
        amount: Amount,
        push_msat: Option<u64>,
    ) -> UserChannelId {
        self.open_channel_inner(from, to, amount, push_msat, false)
    }

    /// Like [`Devnet::open_channel`], but announced, so that other nodes can route through it.
    pub fn open_announced_channel(
        &self,
        from: &TestNode,
        to: &TestNode,
        amount: Amount,
        push_msat: Option<u64>,
    ) -> UserChannelId {
        self.open_channel_inner(from, to, amount, push_msat, true)
    }

    fn open_channel_inner(
        &self,
        from: &TestNode,
        to: &TestNode,
        amount: Amount,
        push_msat: Option<u64>,
        announced: bool,
    ) -> UserChannelId {
        let mempool_before = self.mempool_len();
        let open = if announced { Node::open_announced_channel } else { Node::open_channel };
        let user_channel_id =
            open(&from.node, to.node_id(), to.address.clone(), amount.to_sat(), push_msat, None)
                .unwrap_or_else(|e| {
                    panic!("{} -> {}: open_channel failed: {e}", from.name, to.name)
                });
        expect_event(from, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
        expect_event(to, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
        assert!(
            self.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT),
            "the funding transaction of {} -> {} never reached the mempool",
            from.name,
            to.name
        );
        self.mine(6);
        let _ = from.sync_wallets();
        let _ = to.sync_wallets();
        expect_event(from, DEFAULT_WAIT, |e| matches!(e, Event::ChannelReady { .. }));
        expect_event(to, DEFAULT_WAIT, |e| matches!(e, Event::ChannelReady { .. }));
        user_channel_id
    }

    /// Mines `count` blocks and syncs every node in `nodes`.
    pub fn mine_and_sync(&self, count: u32, nodes: &[&TestNode]) {
        self.mine(count);
        for node in nodes {
            node.sync_wallets().unwrap_or_else(|e| panic!("{}: sync failed: {e}", node.name));
        }
    }
}

/// The per-channel on-chain reserve ldk-node 0.7.1 keeps for anchor channels by default
/// (`AnchorChannelsConfig::per_channel_reserve_sats`); not exported by ldk-node.
pub const ANCHOR_RESERVE: Amount = Amount::from_sat(25_000);

/// Re-checks `condition` until it holds; panics with `what` after `timeout`. For tests: the
/// condition does the work of moving things forward (syncing, polling an event queue).
pub fn wait_until(what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    try_wait_until(what, timeout, condition).unwrap_or_else(|e| panic!("{e}"));
}

/// [`wait_until`] with an error naming `what` instead of a panic, for callers that report a
/// failure and go on (`doze demo`'s steps).
pub fn try_wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if condition() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting until {what}"));
        }
        // Back off between checks; each check is itself a network round-trip or a sync.
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Reads `state` until `done` accepts it, and returns it; panics after `timeout` with `what`
/// and the last state read (so that a failure says where things stood).
pub fn wait_for_state<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    state: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let now = poll_state(timeout, state, &done);
    assert!(done(&now), "timed out after {timeout:?} waiting until {what}; last seen: {now:?}");
    now
}

/// Reads `state` until `done` accepts it or `timeout` passes, and returns the last state read
/// either way (for callers that report a timeout themselves).
pub fn poll_state<T>(
    timeout: Duration,
    mut state: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        let now = state();
        if done(&now) || Instant::now() >= deadline {
            return now;
        }
        // Back off between checks; each check is itself a network round-trip or a sync.
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Waits for the next event of `node` that satisfies `matches`, marking every event handled on
/// the way (events that do not match are logged and skipped). Panics after `timeout`.
pub fn expect_event(node: &TestNode, timeout: Duration, matches: impl Fn(&Event) -> bool) -> Event {
    try_expect_event(&node.node, &node.name, timeout, matches).unwrap_or_else(|e| panic!("{e}"))
}

/// [`expect_event`] for any ldk-node `node` (named `name` in the error), with an error instead
/// of a panic. Runs its own current-thread runtime: call it outside async code.
pub fn try_expect_event(
    node: &Node,
    name: &str,
    timeout: Duration,
    matches: impl Fn(&Event) -> bool,
) -> Result<Event, String> {
    let deadline = Instant::now() + timeout;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("{name}: no runtime to wait for events: {e}"))?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = runtime
            .block_on(async { tokio::time::timeout(left, node.next_event_async()).await })
            .map_err(|_| format!("{name}: timed out after {timeout:?} waiting for an event"))?;
        node.event_handled().map_err(|e| format!("{name}: event_handled failed: {e}"))?;
        if matches(&event) {
            return Ok(event);
        }
        log::debug!("{name}: skipped event {event:?}");
    }
}
