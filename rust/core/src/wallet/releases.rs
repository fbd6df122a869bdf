//! The releases a killed wake kept (`store/releases.rs`), sent again by the app's node.
//!
//! A wake keeps the reply path of each `release_held_htlc` before it answers, because the
//! phone's LSP hands `held_htlc_available` over once. When iOS kills the wake before the release
//! has left the phone, the next wake sends it again; but a user who opens the app instead brings
//! no wake, and the payment would wait at the payer's LSP until its HTLC times out, hours later.
//! So each session reads the kept releases at its start and sends them through its node's own
//! onion messenger (ldk-node's `Node::onion_messenger`, a Doze patch). A release that arrives
//! twice is ignored by the payer's LSP, so sending one that did go out costs nothing.
//!
//! **When they are sent:** once the node is connected to the primary LSP and its channels with
//! it are usable again (`net::connect::connect_lsps` waits for that at start; a session that
//! started without its LSP sends them when the LSP connects). A release sent earlier frees an
//! HTLC that reaches the phone's LSP while the phone is no usable peer of it, and the LSP fails
//! it back to the payer. The release goes to the reply path's first hop (the payer's LSP): if
//! that is not a peer, the messenger asks for the connection (`Event::ConnectionNeeded`) and
//! ldk-node's event handler makes it, as for any onion message of the node.
//!
//! **When they are forgotten:** see [`SessionReleases::forget_those_sent`]. The wake's own rule
//! (a wake forgets what it sent when it ends cleanly) is unchanged.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::onion_message::messenger::SendSuccess;
use ldk_node::Node;

use crate::mutex::lock;
use crate::net::relay::Fence;
use crate::net::release::{send_release, NotSent};
use crate::store::WalletDb;

/// How often a session that has releases to send and no usable LSP yet looks again. Cheap (a
/// look at the node's peers and channels), and short next to the HTLC's hours at the payer's
/// LSP.
const READY_TICK: Duration = Duration::from_millis(100);

/// How long after the LSP connects the releases wait for its channels to be usable: as long as
/// a session's start waits for them (`net::connect`). A channel still unusable then is not
/// coming back by waiting (closing, or the LSP refuses it), and a release then fails its HTLC
/// back to the payer at once rather than in hours.
const REESTABLISH_WAIT: Duration = Duration::from_secs(2);

/// How long a release must have been queued before a clean end counts it as gone. ldk-node's
/// background processor (LDK's mobile mode) hands queued onion messages to the peers'
/// connections at least every 100 ms, and at once to a peer that just connected; a release
/// queued later than this before the node stops may still be in the messenger's queue, which
/// the stop drops.
const FLUSH_MARGIN: Duration = Duration::from_secs(1);

/// A release this session queued.
#[derive(Debug, Clone)]
struct Sent {
    /// The kept reply path, as `store/releases.rs` keeps it.
    reply_path: Vec<u8>,
    /// When it was queued.
    at: Instant,
    /// The first hop it waited for (not a peer when it was queued), if it did.
    awaits: Option<PublicKey>,
    /// How many of the primary LSP's connections had ended when it was queued.
    lsp_ends: u64,
}

/// What a session knows of the connections at its clean end.
struct AtEnd<'a> {
    now: Instant,
    /// The primary LSP, if the wallet has one, and how many of its connections have ended.
    lsp: Option<(PublicKey, u64)>,
    /// Whether a node is a connected peer now.
    connected: &'a dyn Fn(&PublicKey) -> bool,
}

/// Whether `sent` has left the phone, as far as the session can tell at its clean end: it was
/// queued [`FLUSH_MARGIN`] ago or more; the first hop it waited for, if any, is connected (a
/// release queued for a connected peer had its first hop then); and the primary LSP is
/// connected, on the connection it had when the release was queued. The last is the session's
/// sign that the phone stayed online: a connection that dropped took what was queued for it,
/// and a phone that lost its network loses its other connections with it.
fn went_out(sent: &Sent, end: &AtEnd<'_>) -> bool {
    let queued_long_enough = end.now.saturating_duration_since(sent.at) >= FLUSH_MARGIN;
    let hop_connected = sent.awaits.is_none_or(|hop| (end.connected)(&hop));
    let lsp_stayed =
        end.lsp.is_none_or(|(lsp, ends)| ends == sent.lsp_ends && (end.connected)(&lsp));
    queued_long_enough && hop_connected && lsp_stayed
}

/// The kept releases of one session: read at its start, sent once its LSP is usable, forgotten
/// at its clean end if they went out.
pub(crate) struct SessionReleases {
    storage_dir: PathBuf,
    /// The primary LSP, if the wallet has one.
    primary: Option<PublicKey>,
    /// Read at the start and not sent yet.
    unsent: Mutex<Vec<Vec<u8>>>,
    /// Queued by this session.
    sent: Mutex<Vec<Sent>>,
    /// How many relayed connections to the primary LSP ended during the session.
    lsp_ends: AtomicU64,
}

impl SessionReleases {
    /// Reads the releases kept in `storage_dir`'s `doze.sqlite`, with a connection of its own
    /// that is closed again at once (a session keeps no handle on it: see `session.rs`). None
    /// is read if the database cannot be: the next start or wake reads them.
    pub(crate) fn read(storage_dir: &Path, primary: Option<PublicKey>) -> Arc<SessionReleases> {
        let kept = WalletDb::open(storage_dir).and_then(|db| db.kept_releases());
        let unsent = kept.unwrap_or_else(|e| {
            log::warn!("the releases a wake kept were not read: {e}");
            Vec::new()
        });
        if !unsent.is_empty() {
            log::info!("{} release(s) a killed wake kept will be sent again", unsent.len());
        }
        Arc::new(SessionReleases {
            storage_dir: storage_dir.to_path_buf(),
            primary,
            unsent: Mutex::new(unsent),
            sent: Mutex::new(Vec::new()),
            lsp_ends: AtomicU64::new(0),
        })
    }

    /// Whether releases are waiting to be sent.
    pub(crate) fn has_unsent(&self) -> bool {
        !lock(&self.unsent).is_empty()
    }

    /// Notes that a relayed connection to `lsp` ended (see `net::connect::keep_connected`).
    pub(crate) fn connection_ended(&self, lsp: PublicKey) {
        if self.primary == Some(lsp) {
            self.lsp_ends.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Sends the releases once `node` can receive the HTLCs they free (see the module docs);
    /// returns when they are queued, or when `fence` is cut (the session ends: they stay kept).
    pub(crate) async fn send_when_ready(self: Arc<Self>, node: Arc<Node>, fence: Arc<Fence>) {
        let mut connected_since: Option<Instant> = None;
        loop {
            if fence.is_cut() {
                return;
            }
            let ready = match self.primary {
                None => true,
                Some(lsp) if is_connected(&node, &lsp) => {
                    let since = *connected_since.get_or_insert_with(Instant::now);
                    channels_usable(&node, &lsp) || since.elapsed() >= REESTABLISH_WAIT
                }
                Some(_) => {
                    connected_since = None;
                    false
                }
            };
            if ready {
                return self.send_now(&node);
            }
            tokio::select! {
                _ = tokio::time::sleep(READY_TICK) => {}
                _ = fence.wait() => return,
            }
        }
    }

    /// Queues every unsent release on `node`'s onion messenger.
    fn send_now(&self, node: &Node) {
        let unsent = std::mem::take(&mut *lock(&self.unsent));
        let messenger = node.onion_messenger();
        let lsp_ends = self.lsp_ends.load(Ordering::SeqCst);
        let mut sent = lock(&self.sent);
        for reply_path in unsent {
            let awaits = match send_release(&messenger, &reply_path) {
                Ok(SendSuccess::Buffered) => None,
                Ok(SendSuccess::BufferedAwaitingConnection(hop)) => Some(hop),
                // Kept: the next start or wake tries again (a path that cannot be found now
                // may be found once the graph knows the payer's LSP).
                Err(NotSent::Unreadable(e)) => {
                    log::warn!("a kept release is unreadable: {e:?}");
                    continue;
                }
                Err(NotSent::Refused(e)) => {
                    log::info!("a kept release could not be sent: {e:?}");
                    continue;
                }
            };
            log::info!("sending again a release a killed wake kept");
            sent.push(Sent { reply_path, at: Instant::now(), awaits, lsp_ends });
        }
    }

    /// At a clean end of the session (stop or pause, its store intact), while its connections
    /// are still up: forgets the releases it sent that went out ([`went_out`]).
    ///
    /// Why this rule: a release forgotten before it left strands its payment at the payer's
    /// LSP for hours, while one sent again is ignored there; so a release is kept unless the
    /// session saw it leave, as far as it can see. A session killed after queueing one never
    /// gets here, and a session that ends too soon after queueing, or whose connections
    /// dropped meanwhile, keeps it: the next start or wake sends it again. A release that went
    /// out is forgotten at the first clean end after it, so the app does not send it at every
    /// start; one that keeps failing to go out is dropped after 24 h (`store/releases.rs`),
    /// when its HTLC has long timed out.
    pub(crate) fn forget_those_sent(&self, node: &Node) {
        let connected = |id: &PublicKey| is_connected(node, id);
        let end = AtEnd {
            now: Instant::now(),
            lsp: self.primary.map(|lsp| (lsp, self.lsp_ends.load(Ordering::SeqCst))),
            connected: &connected,
        };
        let (out, kept): (Vec<Sent>, Vec<Sent>) =
            lock(&self.sent).drain(..).partition(|sent| went_out(sent, &end));
        if !kept.is_empty() {
            log::info!("{} release(s) sent again stay kept: not seen leaving", kept.len());
        }
        if out.is_empty() {
            return;
        }
        let paths: Vec<Vec<u8>> = out.into_iter().map(|sent| sent.reply_path).collect();
        match WalletDb::open(&self.storage_dir).and_then(|db| db.forget_releases(&paths)) {
            Ok(()) => log::info!("{} release(s) sent again went out: forgotten", paths.len()),
            // Kept, then: sent again at the next start, which costs nothing.
            Err(e) => log::warn!("releases sent again not forgotten: {e}"),
        }
    }
}

fn is_connected(node: &Node, id: &PublicKey) -> bool {
    node.list_peers().iter().any(|p| p.node_id == *id && p.is_connected)
}

/// Whether every ready channel with `lsp` is usable (reestablished after the connection).
fn channels_usable(node: &Node, lsp: &PublicKey) -> bool {
    node.list_channels()
        .iter()
        .filter(|c| c.counterparty_node_id == *lsp && c.is_channel_ready)
        .all(|c| c.is_usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PublicKey {
        use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
        let secret = SecretKey::from_slice(&[byte; 32]).expect("a valid key");
        PublicKey::from_secret_key(&Secp256k1::new(), &secret)
    }

    fn end<'a>(
        now: Instant,
        lsp: PublicKey,
        ends: u64,
        connected: &'a dyn Fn(&PublicKey) -> bool,
    ) -> AtEnd<'a> {
        AtEnd { now, lsp: Some((lsp, ends)), connected }
    }

    #[test]
    fn a_release_went_out_only_if_queued_a_while_ago_with_its_connections_up() {
        let (lsp, payers_lsp) = (key(1), key(2));
        let now = Instant::now();
        let sent = |ago: Duration, awaits: Option<PublicKey>, lsp_ends: u64| Sent {
            reply_path: vec![1],
            at: now.checked_sub(ago).expect("an instant that long ago"),
            awaits,
            lsp_ends,
        };
        let all = |_: &PublicKey| true;
        let lsp_only = |id: &PublicKey| *id == lsp;
        let none = |_: &PublicKey| false;
        let a_while = Duration::from_secs(2);
        let soon = Duration::from_millis(10);
        assert!(went_out(&sent(a_while, None, 0), &end(now, lsp, 0, &all)));
        assert!(went_out(&sent(a_while, Some(payers_lsp), 3), &end(now, lsp, 3, &all)));
        assert!(!went_out(&sent(soon, None, 0), &end(now, lsp, 0, &all)), "too soon");
        let hop_missing = end(now, lsp, 0, &lsp_only);
        assert!(!went_out(&sent(a_while, Some(payers_lsp), 0), &hop_missing), "no first hop");
        assert!(!went_out(&sent(a_while, None, 0), &end(now, lsp, 1, &all)), "LSP reconnected");
        assert!(!went_out(&sent(a_while, None, 0), &end(now, lsp, 0, &none)), "LSP gone");
        let no_lsp = AtEnd { now, lsp: None, connected: &none };
        assert!(went_out(&sent(a_while, None, 0), &no_lsp), "a wallet without an LSP");
    }
}
