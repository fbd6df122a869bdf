//! The wallet's channels, for a "channels" screen: what each holds and can do, and closing one.
//! A close sends the channel's balance to the wallet's own on-chain wallet: [`Wallet::balances`]
//! counts it in `pending_sat` until the on-chain wallet holds the transaction that pays it
//! (a cooperative close's at once, a force close's sweep after the channel's timelock, about a
//! day on mainnet), then in the on-chain fields; the history shows that transaction after a
//! `sync()`. A `ChannelClosed` event says how the channel closed.

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::{ChannelDetails, Node, NodeError, UserChannelId};

use crate::error::WalletError;
use crate::wallet::Wallet;

/// Where a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChannelState {
    /// The funding transaction waits for confirmations; nothing can be sent or received yet.
    Opening {
        /// Confirmations so far.
        confirmations: u32,
        /// Confirmations the channel needs.
        required: u32,
    },
    /// Open, but the peer is not connected: payments wait until it is.
    Offline,
    /// Open and connected: payments can use it.
    Usable,
}

/// One channel of the wallet, in satoshis.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChannelInfo {
    /// The channel's id (hex); pass it to [`Wallet::close_channel`].
    pub channel_id: String,
    /// The node at the other end (the LSP, for a phone), hex.
    pub peer_node_id: String,
    /// The channel's size.
    pub capacity_sat: u64,
    /// What the wallet can send over it now.
    pub outbound_sat: u64,
    /// Its inbound capacity: what the peer's side holds beyond the reserve, all the wallet can
    /// receive over it. One payment brings in less if that is above the value the wallet
    /// accepts in flight on the channel at once (a tenth of a channel from an additional LSP);
    /// [`Balances::lightning_inbound_sat`](crate::Balances::lightning_inbound_sat) counts that.
    pub inbound_sat: u64,
    /// The part of the wallet's balance it cannot spend (the channel reserve); it comes back
    /// when the channel closes.
    pub reserve_sat: u64,
    /// Where it stands.
    pub state: ChannelState,
    /// The funding transaction's id (hex), to show in a block explorer; `None` while the
    /// channel is being negotiated. A channel the LSP opens is funded by the LSP: a zero-conf
    /// channel's funding may not be on-chain yet.
    pub funding_txid: Option<String>,
}

impl From<&ChannelDetails> for ChannelInfo {
    fn from(c: &ChannelDetails) -> Self {
        let state = if !c.is_channel_ready {
            ChannelState::Opening {
                confirmations: c.confirmations.unwrap_or(0),
                required: c.confirmations_required.unwrap_or(0),
            }
        } else if c.is_usable {
            ChannelState::Usable
        } else {
            ChannelState::Offline
        };
        ChannelInfo {
            channel_id: c.channel_id.to_string(),
            peer_node_id: c.counterparty_node_id.to_string(),
            capacity_sat: c.channel_value_sats,
            outbound_sat: c.outbound_capacity_msat / 1000,
            inbound_sat: c.inbound_capacity_msat / 1000,
            reserve_sat: c.unspendable_punishment_reserve.unwrap_or(0),
            state,
            funding_txid: c.funding_txo.map(|o| o.txid.to_string()),
        }
    }
}

impl Wallet {
    /// The wallet's open and opening channels.
    pub fn list_channels(&self) -> Result<Vec<ChannelInfo>, WalletError> {
        Ok(self.inner.node()?.list_channels().iter().map(ChannelInfo::from).collect())
    }

    /// Closes a channel cooperatively with its peer: its balance goes to the wallet's own
    /// on-chain wallet in one transaction both sides sign, spendable once it confirms. The peer
    /// must be online; a `ChannelClosed` event follows.
    pub async fn close_channel(&self, channel_id: &str) -> Result<(), WalletError> {
        self.close(channel_id, |node, id, peer| node.close_channel(id, peer)).await
    }

    /// Closes a channel alone, without its peer: the last resort when the peer is gone for
    /// good or does not answer a cooperative close.
    ///
    /// **Warning for the app's UI**: the wallet broadcasts its latest commitment transaction;
    /// its balance comes back only after the channel's timelock (up to two weeks, typically a
    /// day), less the fee of the sweep that brings it on-chain, and a payment in flight
    /// resolves on-chain. The commitment pays the fee rate the channel last agreed (the LSP,
    /// which opened it, pays it); the wallet does not bump it (ldk-node leaves bumping to the
    /// LSPs it trusts), so after a steep fee rise it may wait long to confirm. Prefer
    /// [`Wallet::close_channel`] whenever the peer is reachable.
    pub async fn force_close_channel(
        &self,
        channel_id: &str,
        reason: Option<String>,
    ) -> Result<(), WalletError> {
        self.close(channel_id, |node, id, peer| node.force_close_channel(id, peer, reason)).await
    }

    /// Moves `amount_sat` out of a channel to an on-chain address without closing it (a
    /// splice out): the channel stays usable while the splice confirms, then holds that much
    /// less. The on-chain fee is paid from the channel's balance too. The peer must be online
    /// and support splicing (LDK 0.2 and ldk-node 0.7 peers do; the reference LSP accepts it).
    /// Use it to move Lightning funds on-chain without giving up the channel.
    pub async fn splice_out(
        &self,
        channel_id: &str,
        address: &str,
        amount_sat: u64,
    ) -> Result<(), WalletError> {
        if amount_sat == 0 {
            return Err(WalletError::InvalidAmount("move more than 0 sat out".into()));
        }
        let address = crate::pay::send::parse_address(address, self.inner.config.network)?;
        let channel_id = channel_id.to_string();
        self.blocking(move |inner| {
            let node = inner.node_for_channel_update()?;
            let channels = node.list_channels();
            let (user_channel_id, peer) = find(&channels, &channel_id)?;
            let outbound_sat = channels
                .iter()
                .find(|c| c.user_channel_id == user_channel_id)
                .map_or(0, |c| c.outbound_capacity_msat / 1000);
            if amount_sat > outbound_sat {
                return Err(WalletError::InsufficientFunds(format!(
                    "the channel can move out at most {outbound_sat} sat now, before the fee"
                )));
            }
            let spliced = node.splice_out(&user_channel_id, peer, &address, amount_sat);
            node.settle(spliced.map_err(|e| {
                match e {
                    NodeError::ChannelSplicingFailed => WalletError::Node(
                        "the splice could not start: the peer may be offline or not support \
                     splicing, or the amount leaves too little for the fee"
                            .into(),
                    ),
                    other => other.into(),
                }
            }))
        })
        .await
    }

    /// Finds the channel `channel_id` and closes it with `close`.
    async fn close<F>(&self, channel_id: &str, close: F) -> Result<(), WalletError>
    where
        F: FnOnce(&Node, &UserChannelId, PublicKey) -> Result<(), NodeError> + Send + 'static,
    {
        let channel_id = channel_id.to_string();
        self.blocking(move |inner| {
            let node = inner.node_for_channel_update()?;
            let (user_channel_id, peer) = find(&node.list_channels(), &channel_id)?;
            node.settle(close(&node, &user_channel_id, peer).map_err(WalletError::from))
        })
        .await
    }
}

fn find(
    channels: &[ChannelDetails],
    channel_id: &str,
) -> Result<(UserChannelId, PublicKey), WalletError> {
    channels
        .iter()
        .find(|c| c.channel_id.to_string().eq_ignore_ascii_case(channel_id))
        .map(|c| (c.user_channel_id, c.counterparty_node_id))
        .ok_or_else(|| WalletError::UnknownChannel(channel_id.to_string()))
}
