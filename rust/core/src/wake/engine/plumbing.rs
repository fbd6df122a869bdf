//! The small parts of a wake's LDK stack that differ from the node's: a broadcaster that sends
//! what LDK queues itself (the node leaves that to its chain source, which a wake does not
//! start) and a payment router that finds nothing (a wake sends no payment). Everything else
//! is ldk-node's own type (`ldk_node::doze_stack`), so that LDK is compiled once for both.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use ldk_node::bitcoin::consensus::encode::serialize_hex;
use ldk_node::bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use ldk_node::doze_stack::Broadcaster;
use ldk_node::lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use ldk_node::lightning::ln::channel_state::ChannelDetails;
use ldk_node::lightning::routing::router::{InFlightHtlcs, Route, RouteParameters, Router};

/// Sends the transactions LDK queues for broadcast (ldk-node's queue, as the node's own stack
/// has it) to the chain source, and remembers that it did: a wake broadcasts only when a
/// channel is being closed (the manager on disk was stale, or the LSP failed the channel), a
/// state the wake leaves to the app.
pub(crate) struct ChainBroadcaster {
    queue: Arc<Broadcaster>,
    esplora_url: Option<String>,
    runtime: tokio::runtime::Handle,
    broadcast: Mutex<usize>,
}

impl ChainBroadcaster {
    /// Broadcasts what LDK queues on `queue` through the Esplora server at `esplora_url`
    /// (`None`: only logs; the app's node rebroadcasts what its monitors still need at its
    /// next start).
    pub(crate) fn new(
        queue: Arc<Broadcaster>,
        esplora_url: Option<String>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        ChainBroadcaster { queue, esplora_url, runtime, broadcast: Mutex::new(0) }
    }

    /// Sends what LDK queued since the last call; how many transactions LDK asked to
    /// broadcast in all. Nothing else takes from the queue, so it is never locked here.
    pub(crate) fn flush(&self) -> usize {
        let mut broadcast = self.broadcast.lock().unwrap_or_else(|p| p.into_inner());
        let mut lock = std::pin::pin!(self.queue.get_broadcast_queue());
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(mut queue) = lock.as_mut().poll(&mut cx) else {
            return *broadcast;
        };
        while let Ok(txs) = queue.try_recv() {
            *broadcast += txs.len();
            log::warn!("wake: LDK broadcasts {} transaction(s): a channel is closing", txs.len());
            let Some(url) = self.esplora_url.clone() else { continue };
            for tx in txs {
                let (url, body, txid) =
                    (format!("{url}/tx"), serialize_hex(&tx), tx.compute_txid());
                crate::tasks::spawn(&self.runtime, async move {
                    let client = reqwest::Client::new();
                    match client.post(url).body(body).send().await {
                        Ok(r) if r.status().is_success() => log::info!("wake: broadcast {txid}"),
                        Ok(r) => {
                            log::warn!("wake: the chain source refused {txid}: {}", r.status())
                        }
                        Err(e) => log::warn!("wake: could not broadcast {txid}: {e}"),
                    }
                });
            }
        }
        *broadcast
    }
}

/// A router that finds no route: a wake sends no payment, and reading the channel manager
/// never asks for one.
pub(crate) struct NoRoutes;

impl Router for NoRoutes {
    fn find_route(
        &self,
        _payer: &PublicKey,
        _params: &RouteParameters,
        _first_hops: Option<&[&ChannelDetails]>,
        _inflight: InFlightHtlcs,
    ) -> Result<Route, &'static str> {
        Err("a wake sends no payments")
    }

    fn create_blinded_payment_paths<T: secp256k1::Signing + secp256k1::Verification>(
        &self,
        _recipient: PublicKey,
        _first_hops: Vec<ChannelDetails>,
        _tlvs: ReceiveTlvs,
        _amount_msats: Option<u64>,
        _secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedPaymentPath>, ()> {
        Err(())
    }
}
