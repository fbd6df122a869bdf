//! Connecting to LSPs without being held by one, and reconnecting them. ldk-node's `connect`
//! returns when the peer has answered: after a 10 s timeout for an address that does not answer,
//! and never for one that accepts the connection and then says nothing. So every attempt runs on
//! a thread of its own, and each caller waits for it only as long as it can afford: `start()` a
//! bounded time, a wake until its deadline, push registration a moment. A session reconnects an
//! LSP whose connection ended ([`keep_connected`]) after a pause, rather than at ldk-node's next
//! 60 s round.

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::Node;

use crate::config::ParsedLsp;

/// Connects `node` to `lsp` on a thread of its own, persisting the peer if `persist`; a failure
/// is logged at `failure_level`. The receiver hears when the attempt ended. `None` if no thread
/// could be started. An attempt that hangs outlives its caller's wait: it ends when the
/// connection does.
pub(crate) fn connect_alongside(
    node: &Arc<Node>,
    lsp: &ParsedLsp,
    persist: bool,
    failure_level: log::Level,
) -> Option<Receiver<()>> {
    let (node, lsp) = (Arc::clone(node), lsp.clone());
    let (done, ended) = std::sync::mpsc::channel();
    let spawned = crate::tasks::thread("doze-connect-lsp", move || {
        if let Err(e) = node.connect(lsp.node_id, lsp.address.clone(), persist) {
            log::log!(failure_level, "could not connect to the LSP {}: {e}", lsp.node_id);
        }
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => Some(ended),
        Err(e) => {
            log::warn!("could not start connecting to an LSP: {e}");
            None
        }
    }
}

/// Connects `node` to `lsp`, trying again after a failure with a pause that starts at
/// `first_pause` and doubles (up to 2 s), until `deadline`; whether it is connected then.
/// Failed attempts are logged at debug level: the caller says what a final failure means.
pub(crate) fn connect_before(
    node: &Arc<Node>,
    lsp: &ParsedLsp,
    persist: bool,
    deadline: Instant,
    first_pause: Duration,
) -> bool {
    let connected = || node.list_peers().iter().any(|p| p.node_id == lsp.node_id && p.is_connected);
    let mut pause = first_pause;
    loop {
        let Some(attempt) = connect_alongside(node, lsp, persist, log::Level::Debug) else {
            return false;
        };
        if attempt.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
            log::info!("the LSP {} did not answer in time", lsp.node_id);
            return false;
        }
        if connected() {
            return true;
        }
        if Instant::now() + pause >= deadline {
            return false;
        }
        // The LSP is down, or the network is not up yet.
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// How long `start()` waits for the connection to the primary LSP.
const PRIMARY_LSP_CONNECT_WAIT: Duration = Duration::from_secs(12);
/// How long `start()` tries again after the primary LSP refused the connection: an LSP that
/// has not yet seen this node's previous connection go (the notification extension's, which
/// just ended, or the app's own before a pause) refuses a second one from the same node.
const PRIMARY_LSP_RETRY_WINDOW: Duration = Duration::from_secs(3);

/// Connects the LSPs through their relays. ldk-node's `connect` returns after a 10 s timeout
/// for an address that does not answer, and never for one that accepts the connection but
/// never answers; so every LSP connects on a thread of its own, and this waits for the primary
/// LSP only (receiving through it needs the connection), for at most
/// [`PRIMARY_LSP_CONNECT_WAIT`], trying again for [`PRIMARY_LSP_RETRY_WINDOW`] after a
/// refusal. An LSP still not connected then is reconnected later by [`keep_connected`].
pub(crate) fn connect_lsps(
    node: &Arc<Node>,
    primary: Option<&ParsedLsp>,
    additional: &[ParsedLsp],
) {
    for lsp in additional {
        connect_alongside(node, lsp, true, log::Level::Warn);
    }
    let Some(lsp) = primary else { return };
    let started = Instant::now();
    let connected = || node.list_peers().iter().any(|p| p.node_id == lsp.node_id && p.is_connected);
    let mut pause = Duration::from_millis(25);
    loop {
        let Some(done) = connect_alongside(node, lsp, true, log::Level::Debug) else { return };
        let left = PRIMARY_LSP_CONNECT_WAIT.saturating_sub(started.elapsed());
        if done.recv_timeout(left).is_err() {
            log::warn!(
                "the LSP did not answer within {} s; starting without it",
                PRIMARY_LSP_CONNECT_WAIT.as_secs()
            );
            return;
        }
        if connected() {
            return wait_for_reestablishment(node, lsp);
        }
        if started.elapsed() + pause >= PRIMARY_LSP_RETRY_WINDOW {
            log::warn!("could not connect to the LSP {}; starting without it", lsp.node_id);
            return;
        }
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// How long `start()` waits, once connected, for the LSP's channels to be usable again.
const REESTABLISH_WAIT: Duration = Duration::from_secs(2);

/// Waits (up to [`REESTABLISH_WAIT`]) until every ready channel with `lsp` is usable: after a
/// connection the peers exchange `channel_reestablish` before a channel carries payments, and
/// an app that reads its balance right after `start()` or `resume()` should see its channels.
fn wait_for_reestablishment(node: &Arc<Node>, lsp: &ParsedLsp) {
    let deadline = Instant::now() + REESTABLISH_WAIT;
    let waiting = || {
        node.list_channels()
            .iter()
            .any(|c| c.counterparty_node_id == lsp.node_id && c.is_channel_ready && !c.is_usable)
    };
    while waiting() && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(5));
    }
}

/// A connection that lasted this long was working: the next reconnection comes quickly.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);
/// The pauses between reconnections to an LSP: doubling from the first to the last.
const FIRST_RECONNECT: Duration = Duration::from_secs(1);
const LAST_RECONNECT: Duration = Duration::from_secs(30);

/// Reconnects an LSP whose relayed connection ended, after a pause that doubles while
/// connections keep failing (an LSP that still holds an earlier connection of this node
/// refuses the new one until that one is gone); `on_ended` hears of each end first. Ends when
/// the session's fence is cut.
pub(crate) async fn keep_connected(
    node: Arc<Node>,
    lsps: Vec<ParsedLsp>,
    mut ended: tokio::sync::mpsc::UnboundedReceiver<crate::net::relay::Ended>,
    fence: Arc<crate::net::relay::Fence>,
    on_ended: impl Fn(PublicKey) + Send + 'static,
) {
    let mut pauses = std::collections::HashMap::new();
    loop {
        let (node_id, lasted) = tokio::select! {
            ended = ended.recv() => match ended {
                Some(ended) => ended,
                None => return,
            },
            _ = fence.wait() => return,
        };
        on_ended(node_id);
        let pause = pauses.entry(node_id).or_insert(FIRST_RECONNECT);
        if lasted >= STABLE_CONNECTION {
            *pause = FIRST_RECONNECT;
        }
        let wait = *pause;
        *pause = (*pause * 2).min(LAST_RECONNECT);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = fence.wait() => return,
        }
        let connected = node.list_peers().iter().any(|p| p.node_id == node_id && p.is_connected);
        if let (false, Some(lsp)) = (connected, lsps.iter().find(|l| l.node_id == node_id)) {
            // The attempt's end, if it fails, comes back through the relay.
            connect_alongside(&node, lsp, true, log::Level::Debug);
        }
    }
}
