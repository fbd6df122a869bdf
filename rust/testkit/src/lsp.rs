//! Doze LSPs and stock ldk-node nodes on a devnet: starting and funding them, opening channels
//! between them, and what a node sees of its peers and its graph. Node logs go to files with
//! `DOZE_TEST_NODE_LOGS=<dir>` ([`node_log_path`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doze_devnet::nodes::{try_expect_event, try_wait_until, wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{devnet_config, Lsp, LspConfig, Observers};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::logger::LogLevel;
use ldk_node::{Event, Node};

/// Where a scene node named `name` logs, when `DOZE_TEST_NODE_LOGS` names a directory.
pub fn node_log_path(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("DOZE_TEST_NODE_LOGS")?);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join(format!("{}-{name}.log", std::process::id())))
}

/// Has a stock node log at trace level to [`node_log_path`] (if enabled).
pub fn log_node_to_file(builder: &mut ldk_node::Builder, name: &str) {
    if let Some(path) = node_log_path(name) {
        builder.set_filesystem_logger(
            Some(path.to_string_lossy().into_owned()),
            Some(LogLevel::Trace),
        );
    }
}

/// Adds an observer writing an LSP's records (trace level and above) to [`node_log_path`]
/// (if enabled).
pub fn log_lsp_to_file(observers: Observers, name: &str) -> Observers {
    let Some(path) = node_log_path(name) else {
        return observers;
    };
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else {
        return observers;
    };
    let file = Mutex::new(std::io::LineWriter::new(file));
    let started = Instant::now();
    observers.on_log(move |record| {
        if record.level >= LogLevel::Trace {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(
                file,
                "{:>10.3} {:<5} [{}:{}] {}",
                started.elapsed().as_secs_f64(),
                record.level.to_string(),
                record.module_path,
                record.line,
                record.args
            );
        }
    })
}

/// Starts a Doze LSP on `devnet` storing in `dir`, with `configure` applied to
/// [`devnet_config`] and `observers` attached.
pub fn start_lsp(
    devnet: &Devnet,
    dir: &std::path::Path,
    observers: Observers,
    configure: impl FnOnce(&mut LspConfig),
) -> Lsp {
    try_start_lsp(devnet, dir, observers, configure)
        .unwrap_or_else(|e| panic!("the LSP did not start: {e}"))
}

/// [`start_lsp`] with the LSP's error instead of a panic.
pub fn try_start_lsp(
    devnet: &Devnet,
    dir: &std::path::Path,
    observers: Observers,
    configure: impl FnOnce(&mut LspConfig),
) -> Result<Lsp, String> {
    let mut config = devnet_config(&devnet.esplora_url(), dir);
    configure(&mut config);
    // The P2P port is picked free and released before ldk-node binds it; another process can
    // take it in between. Retry on a fresh port rather than fail the scene.
    let mut last_error = String::new();
    for _ in 0..3 {
        match Lsp::start_with_observers(config.clone(), observers.clone()) {
            Ok(lsp) => return Ok(lsp),
            Err(e) => {
                log::warn!(
                    target: "doze_testkit",
                    "the LSP did not start ({e}); retrying on another port"
                );
                config.p2p_listen = devnet_config(&devnet.esplora_url(), dir).p2p_listen;
                last_error = e.to_string();
            }
        }
    }
    Err(last_error)
}

/// Funds an LSP's on-chain wallet with `amount` and waits until it is spendable.
pub fn fund_lsp(devnet: &Devnet, lsp: &Lsp, amount: Amount) {
    try_fund_lsp(devnet, lsp, amount, DEFAULT_WAIT).unwrap_or_else(|e| panic!("{e}"));
}

/// [`fund_lsp`] waiting at most `timeout`, with an error instead of a panic.
pub fn try_fund_lsp(
    devnet: &Devnet,
    lsp: &Lsp,
    amount: Amount,
    timeout: Duration,
) -> Result<(), String> {
    let before = lsp.node().list_balances().spendable_onchain_balance_sats;
    let address = lsp.new_onchain_address().map_err(|e| format!("no LSP address: {e}"))?;
    devnet
        .fund_confirmed(&address, amount)
        .map_err(|e| format!("the faucet refused to fund the LSP: {e}"))?;
    try_wait_until("the LSP sees its funds", timeout, || {
        lsp.sync().is_ok()
            && lsp.node().list_balances().spendable_onchain_balance_sats >= before + amount.to_sat()
    })
}

/// Has the stock node `node` open a channel of `sats` to `lsp` (`push_msat` of it on the LSP's
/// side), announced or not, mines 6 blocks and waits (at most `timeout` for each wait) until
/// the channel is usable at both ends.
pub fn open_channel_to_lsp(
    devnet: &Devnet,
    node: &TestNode,
    lsp: &Lsp,
    sats: u64,
    push_msat: u64,
    announced: bool,
    timeout: Duration,
) -> Result<(), String> {
    let mempool_before = devnet.mempool_len();
    let open = if announced { Node::open_announced_channel } else { Node::open_channel };
    open(node, lsp.node_id(), lsp.p2p_address(), sats, Some(push_msat), None)
        .map_err(|e| format!("{}: open_channel failed: {e}", node.name))?;
    try_expect_event(node, &node.name, timeout, |e| matches!(e, Event::ChannelPending { .. }))?;
    if !devnet.wait_for_mempool_len(mempool_before + 1, timeout) {
        return Err(format!("the funding transaction of {} never reached the mempool", node.name));
    }
    devnet.mine(6);
    let lsp_id = lsp.node_id();
    try_wait_until(&format!("the channel of {} to the LSP is usable", node.name), timeout, || {
        node.sync_wallets().is_ok() && lsp.sync().is_ok() && has_usable_channel(node, lsp_id)
    })
}

/// Whether `node` has a usable channel with `peer`.
pub fn has_usable_channel(node: &Node, peer: PublicKey) -> bool {
    node.list_channels().iter().any(|c| c.counterparty_node_id == peer && c.is_usable)
}

/// Whether `node` is connected to `peer`.
pub fn is_connected(node: &Node, peer: PublicKey) -> bool {
    node.list_peers().iter().any(|p| p.node_id == peer && p.is_connected)
}

/// Whether `node`'s graph has `peer`'s node announcement.
pub fn knows_announcement(node: &Node, peer: PublicKey) -> bool {
    node.network_graph()
        .node(&NodeId::from_pubkey(&peer))
        .is_some_and(|n| n.announcement_info.is_some())
}

/// Has `lsp` open a private channel of `sats` to `peer` (dialing `address`, or over the
/// existing connection when `None`), mines 6 blocks, syncs `lsp` and `others`, and waits
/// until `lsp` sees the channel usable. The peer must accept it (e.g. trust the LSP for the
/// anchor reserve, or have on-chain funds for it).
pub fn open_channel_from_lsp(
    devnet: &Devnet,
    lsp: &Lsp,
    peer: PublicKey,
    address: Option<SocketAddress>,
    sats: u64,
    others: &[&Node],
) {
    let node = lsp.node();
    let address = address.unwrap_or_else(|| {
        node.list_peers()
            .into_iter()
            .find(|p| p.node_id == peer && p.is_connected)
            .map(|p| p.address)
            .unwrap_or_else(|| {
                panic!("{peer} is not connected to the LSP and no address was given")
            })
    });
    let mempool_before = devnet.mempool_len();
    node.open_channel(peer, address, sats, None, None).expect("the LSP opens a channel");
    assert!(
        devnet.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT),
        "the channel's funding broadcast"
    );
    devnet.mine(6);
    lsp.sync().expect("LSP sync");
    for other in others {
        other.sync_wallets().expect("sync");
    }
    wait_until("the channel is usable at the LSP", DEFAULT_WAIT, || {
        has_usable_channel(&node, peer)
    });
}
