//! The chain's tip, learned at the start of a wake, and the channel manager brought up to it.
//!
//! # Why
//!
//! The wake reads the channel manager with the best block it was last persisted with: where
//! the app's node last synced, which for a phone asleep for weeks is weeks of blocks ago. LDK
//! 0.2.7 checks an HTLC to us against that height only for being *too soon*
//! (`create_recv_pending_htlc_info`: an expiry within `HTLC_FAIL_BACK_BUFFER`, 39 blocks, of
//! the height, or under the invoice's `min_final_cltv_expiry_delta`); `CLTV_FAR_FAR_AWAY` ("too
//! far") is checked for forwarded HTLCs only (`check_incoming_htlc_cltv`), which a phone never
//! forwards. So a stale height refuses nothing a payer sends (the wake test pays a phone three
//! weeks behind the chain with or without this module); it lets through what it should refuse:
//! an HTLC that expires within blocks, whose preimage the phone would give away with too
//! little time to enforce the claim on chain should the LSP not settle it. LDK's own contract
//! (`ChannelManagerReadArgs`) is to bring the manager to the chain before it handles anything.
//!
//! # How, and what it costs
//!
//! One request, `GET /blocks` (Esplora's latest blocks, newest first), sent as the wake starts
//! and answered while the LSP connection comes up: its newest entry carries the tip's height
//! and every field of its header, which is rebuilt here and checked against the block's id and
//! its own proof of work (`/blocks/tip/hash`, then `/block/:hash/header` and a height would be
//! three requests). Messages flow meanwhile (the mailbox flush, our release); only the
//! processing of arrived HTLCs waits for the answer, at most [`TIP_PATIENCE`] from the start.
//! An HTLC needs our release to reach the payer's LSP first: in every wake measured (loopback,
//! and chain source and LSP 100 ms away) the answer came before the LSP connection was up, and
//! no HTLC waited. A chain source that refuses, fails or stays silent is given up on:
//! the wake goes on with the stored best block, as it always did, and reports it.
//!
//! # Always, and the manager only
//!
//! Asked on every wake, not only when the stored best block is older than some threshold:
//! staleness is counted in blocks, which only the chain source knows (the clock says little:
//! on regtest blocks come at will, on mainnet they come in bursts), and the margins it guards
//! are 39 blocks, about six hours, shorter than the time since the app last ran before most
//! pushes. The request overlaps the LSP connection, so it costs one small request and no
//! latency on the payment's path.
//!
//! The tip goes to the channel manager only, never backwards (a lower tip is a reorganisation
//! or a lagging server, which takes `transaction_unconfirmed` calls only the app's chain sync
//! can make), and not while a channel waits for its funding to confirm: the wake learns no
//! confirmations, and height alone would time out such a channel (`FundingTimedOut`). The
//! channel monitors keep their best block: what theirs drives is on-chain enforcement
//! (claiming or timing out HTLCs by force-closing, transactions that need fee bumps from the
//! on-chain wallet and the sweeper), which only the app's node can carry through, and a
//! chain-sync update would rewrite whole monitors (backed up too) in a wake's budget. LDK keeps
//! each `Confirm` implementer's best block on its own (ldk-node's transaction sync brings each
//! to the tip at the app's next start); `ChannelManager::read` compares update ids, not best
//! blocks, so a manager ahead of its monitors in height is no kill-safety concern (DESIGN.md).

use std::time::{Duration, Instant};

use ldk_node::bitcoin::block::{Header, Version};
use ldk_node::bitcoin::hashes::Hash as _;
use ldk_node::bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use ldk_node::lightning::chain::Confirm;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::stack::ChannelManager;
use crate::wake::outcome::{ChainTipCheck, ChainTipStatus};

/// How long from the wake's start arrived HTLCs wait for the chain's tip before they are
/// processed with the stored best block: a request's round trips on a slow phone network.
pub(crate) const TIP_PATIENCE: Duration = Duration::from_secs(2);

/// One entry of Esplora's `GET /blocks` (its other fields are not needed).
#[derive(Deserialize)]
struct BlockInfo {
    id: String,
    height: u32,
    version: i32,
    timestamp: u32,
    merkle_root: String,
    previousblockhash: Option<String>,
    nonce: u32,
    bits: u32,
}

/// The chain's tip as the chain source reported it.
struct ChainTip {
    height: u32,
    header: Header,
}

/// The header of `info`, checked: its fields hash to the block's id, and that hash meets the
/// target the header claims.
fn tip_of(info: &BlockInfo) -> Result<ChainTip, String> {
    let hash = |text: &str| text.parse::<BlockHash>().map_err(|e| format!("{text:?}: {e}"));
    let header = Header {
        version: Version::from_consensus(info.version),
        prev_blockhash: match &info.previousblockhash {
            Some(prev) => hash(prev)?,
            None => BlockHash::all_zeros(),
        },
        merkle_root: info
            .merkle_root
            .parse::<TxMerkleNode>()
            .map_err(|e| format!("merkle root {:?}: {e}", info.merkle_root))?,
        time: info.timestamp,
        bits: CompactTarget::from_consensus(info.bits),
        nonce: info.nonce,
    };
    let id = hash(&info.id)?;
    if header.block_hash() != id {
        return Err(format!("the fields of block {id} do not hash to its id"));
    }
    header.validate_pow(header.target()).map_err(|e| format!("block {id}: {e}"))?;
    Ok(ChainTip { height: info.height, header })
}

/// Asks the Esplora server at `base` for its latest blocks; the newest, checked.
async fn fetch(base: String, timeout: Duration) -> Result<ChainTip, String> {
    let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    let response = client.get(format!("{base}/blocks")).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let blocks: Vec<BlockInfo> = response.json().await.map_err(|e| e.to_string())?;
    let newest = blocks.iter().max_by_key(|b| b.height).ok_or("no blocks in the answer")?;
    tip_of(newest)
}

/// Why there is no answer when the request's task ended without one.
const DROPPED: &str = "the request was dropped";

/// An answer (or why there is none), and when it came.
type Answer = (Result<ChainTip, String>, Instant);

/// The lookup of one wake: started with it, answered beside the LSP connection, applied by the
/// engine's loop before it processes arrived HTLCs.
pub(crate) struct TipLookup {
    answer: Option<oneshot::Receiver<Answer>>,
    received: Option<Answer>,
    task: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
    patience_until: Instant,
    learned_at: Option<Instant>,
    held_since: Option<Instant>,
    held: Duration,
    check: ChainTipCheck,
}

impl TipLookup {
    /// Sends the request to the Esplora server at `esplora` (none: nothing is asked), to be
    /// answered before `deadline`. Call inside the engine's runtime.
    pub(crate) fn start(
        esplora: Option<&str>,
        manager: &ChannelManager,
        deadline: Instant,
    ) -> Self {
        let now = Instant::now();
        let stored_height = manager.current_best_block().height;
        let mut check = ChainTipCheck { stored_height, ..ChainTipCheck::default() };
        let (answer, task) = match esplora {
            Some(base) => {
                let (send, receive) = oneshot::channel();
                let (base, timeout) = (base.to_string(), deadline.saturating_duration_since(now));
                let task = crate::tasks::spawn_here(async move {
                    let tip = fetch(base, timeout).await;
                    let _ = send.send((tip, Instant::now()));
                });
                check.requests = 1;
                (Some(receive), Some(task))
            }
            None => {
                log::info!(
                    "wake: no Esplora chain source: the stored best block ({stored_height}) stays"
                );
                (None, None)
            }
        };
        TipLookup {
            answer,
            received: None,
            task,
            started: now,
            patience_until: now + TIP_PATIENCE,
            learned_at: None,
            held_since: None,
            held: Duration::ZERO,
            check,
        }
    }

    /// Whether arrived HTLCs may be processed now (`pending`: some are waiting): once the
    /// answer was applied, or patience ran out. Call after [`TipLookup::poll`].
    pub(crate) fn forwards_may_run(&mut self, pending: bool, now: Instant) -> bool {
        let settled =
            (self.answer.is_none() && self.received.is_none()) || now >= self.patience_until;
        if settled {
            if let Some(since) = self.held_since.take() {
                self.held += now.saturating_duration_since(since);
            }
        } else if pending && self.held_since.is_none() {
            log::debug!("wake: arrived HTLCs wait for the chain's tip");
            self.held_since = Some(now);
        }
        settled
    }

    /// Takes the answer if it came, and brings `manager` up to the tip it names.
    pub(crate) fn poll(&mut self, manager: &ChannelManager) {
        if let Some(answer) = self.answer.as_mut().filter(|_| self.received.is_none()) {
            match answer.try_recv() {
                Ok(received) => self.received = Some(received),
                Err(oneshot::error::TryRecvError::Empty) => {}
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.received = Some((Err(DROPPED.into()), Instant::now()))
                }
            }
        }
        let Some((received, at)) = self.received.take() else { return };
        self.answer = None;
        self.check.request_ms = Some(at.saturating_duration_since(self.started).as_millis() as u64);
        match received {
            Ok(tip) => {
                self.learned_at = Some(at);
                self.apply(manager, &tip);
            }
            Err(e) => {
                self.check.status = ChainTipStatus::Unreachable;
                log::info!(
                    "wake: the chain's tip is unknown ({e}): going on with the stored best \
                     block ({})",
                    self.check.stored_height
                );
            }
        }
    }

    fn apply(&mut self, manager: &ChannelManager, tip: &ChainTip) {
        let stored = self.check.stored_height;
        self.check.tip_height = Some(tip.height);
        if tip.height <= stored {
            self.check.status = ChainTipStatus::Current;
            log::debug!(
                "wake: the stored best block ({stored}) is the chain's tip ({})",
                tip.height
            );
            return;
        }
        if let Some(channel) = manager.list_channels().iter().find(|c| !c.is_channel_ready) {
            self.check.status = ChainTipStatus::KeptForApp;
            log::info!(
                "wake: the chain is at {}, the stored best block at {stored}; kept, as channel \
                 {} waits for its funding to confirm (the app's chain sync sees it)",
                tip.height,
                channel.channel_id
            );
            return;
        }
        // Nothing written here: the loop's next persistence round writes the manager. Killed
        // before it, the store keeps the old best block; after it, the manager is ahead of the
        // monitors in height only, which `ChannelManager::read` does not compare (module docs).
        manager.best_block_updated(&tip.header, tip.height);
        self.check.status = ChainTipStatus::Advanced;
        log::info!(
            "wake: the chain moved on by {} blocks since the store's best block ({stored}): the \
             channel manager is at the tip ({}, {})",
            tip.height - stored,
            tip.height,
            tip.header.block_hash()
        );
    }

    /// Resolves when the answer comes, or when patience runs out; never once answered.
    /// Cancel-safe: an answer is kept as soon as it is taken.
    pub(crate) async fn changed(&mut self) {
        let impatient = Instant::now() < self.patience_until;
        let patience = tokio::time::sleep_until(self.patience_until.into());
        let Some(answer) = self.answer.as_mut() else {
            return std::future::pending().await;
        };
        let received = tokio::select! {
            received = answer => received,
            _ = patience, if impatient => return,
        };
        // A receiver that gave its value answers no more: keep the value, drop the receiver.
        self.answer = None;
        self.received = Some(received.unwrap_or_else(|_| (Err(DROPPED.into()), Instant::now())));
    }

    /// The report and when the tip was learned (if it was), once the wake is done with the
    /// chain source: a request still unanswered is given up (its task stopped).
    pub(crate) fn finish(mut self, manager: &ChannelManager) -> (ChainTipCheck, Option<Instant>) {
        self.poll(manager);
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if self.answer.take().is_some() {
            self.check.status = ChainTipStatus::Unreachable;
            log::info!("wake: the chain source did not answer before the wake ended");
        }
        let held = self.held + self.held_since.map_or(Duration::ZERO, |s| s.elapsed());
        self.check.htlcs_waited_ms = held.as_millis() as u64;
        (self.check, self.learned_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regtest's genesis block as Esplora's `/blocks` shows it (`nonce` 2), or altered.
    fn genesis(nonce: u32) -> BlockInfo {
        BlockInfo {
            id: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206".into(),
            height: 0,
            version: 1,
            timestamp: 1296688602,
            merkle_root: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b".into(),
            previousblockhash: None,
            nonce,
            bits: 0x207f_ffff,
        }
    }

    #[test]
    fn a_header_rebuilt_from_its_fields_is_checked_against_its_id() {
        let tip = tip_of(&genesis(2)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tip.height, 0);
        assert_eq!(
            tip.header.block_hash().to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
        let altered = tip_of(&genesis(3)).err().unwrap_or_default();
        assert!(altered.contains("do not hash to its id"), "{altered}");
    }
}
