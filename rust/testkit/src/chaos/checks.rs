//! The chaos run's invariants, checked on the app's journal (its events and its state after a
//! start) and on the other nodes' own records:
//!
//! - **no channel is force-closed** (nobody closes a channel in a run: any close is a failure);
//! - **every payment ends in the same final state on both sides**, and none is paid twice;
//! - **every payment's event reaches the app's listener** (by id; deliveries repeated after a
//!   kill cut one short are counted);
//! - **the channels' sats are conserved**: what the phone holds, what the LSP holds and the
//!   commitment fee add up to the channels' capacity, to the sat.

use std::collections::{HashMap, HashSet};

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::{LightningBalance, Node};
use serde_json::Value;

use super::journal::of_kind;
use super::supervisor::Outcomes;

/// Whether a funding transaction (by txid) reached the chain: in the devnet's mempool or
/// mined.
pub type FundingSeen<'a> = &'a dyn Fn(&str) -> bool;

/// The channel ids of the phone's JIT channel opens cut short before their funding
/// transaction was ever broadcast: no money moved. Either the phone's node says so
/// ("Unfunded"), or the channel closed while its funding transaction (as the phone's snapshots
/// knew it) never reached the chain. The second is a kill between the two sides' persistence
/// of a new channel: the phone stored it and the LSP, killed (or its peer gone) before it
/// stored its side, forgot it and so never broadcast its funding; on reconnection the LSP
/// answers the phone's `channel_reestablish` for a channel it does not know with a bogus one
/// (LDK's way to ask for a force close) and the phone's node closes it, with nothing in it.
fn aborted_open_ids<'e>(entries: &'e [Value], funding_seen: FundingSeen) -> HashSet<&'e str> {
    let funding = funding_txids(entries);
    events(entries)
        .filter_map(|e| {
            let close = e["kind"].get("ChannelClosed")?;
            let id = close["channel_id"].as_str()?;
            // A channel the app never heard of cannot have held its money either.
            let never_funded = funding.get(id).is_none_or(|txid| !funding_seen(txid));
            (close["close_kind"] == "Unfunded" || never_funded).then_some(id)
        })
        .collect()
}

/// Channel opens cut short before funding (no money moved), by the app's events.
pub fn aborted_opens(entries: &[Value], funding_seen: FundingSeen) -> usize {
    aborted_open_ids(entries, funding_seen).len()
}

/// The funding txid of every channel the app heard of (its `ChannelPending` events and its
/// snapshots).
fn funding_txids(entries: &[Value]) -> HashMap<&str, &str> {
    let pending = events(entries).filter_map(|e| e["kind"].get("ChannelPending"));
    entries
        .iter()
        .filter_map(|e| e["state"]["channels"].as_array())
        .flatten()
        .chain(pending)
        .filter_map(|c| Some((c["channel_id"].as_str()?, c["funding_txid"].as_str()?)))
        .collect()
}

/// An anchor output: in an anchor channel's commitment transaction, counted in neither side's
/// balance nor in LDK's `transaction_fee_satoshis`.
const ANCHOR_SAT: u64 = 330;

/// What a successful check compared.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Comparisons made.
    pub comparisons: usize,
    /// Channels force-closed (always 0 in an `Ok`).
    pub force_closes: usize,
}

/// The final check's result and its counts.
pub struct EndCheck {
    /// The invariants.
    pub result: Result<Checked, String>,
    /// The payer's payments to the phone.
    pub to_phone: Outcomes,
    /// The phone's payments.
    pub from_phone: Outcomes,
    /// Events the listener heard more than once.
    pub repeated_events: usize,
}

fn events(entries: &[Value]) -> impl Iterator<Item = &Value> {
    of_kind(entries, "event").map(|e| &e["event"])
}

/// The payments of an app state in the journal.
pub fn payments(state: &Value) -> &[Value] {
    state["payments"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn succeeded_inbound(state: &Value) -> impl Iterator<Item = &Value> {
    payments(state).iter().filter(|p| p["inbound"] == true && p["status"] == "Succeeded")
}

/// After every start of the app: no channel closed, a channel left, no payment received twice.
pub fn after_start(
    entries: &[Value],
    state: &Value,
    funding_seen: FundingSeen,
) -> Result<Checked, String> {
    // A channel open cut short before its funding was broadcast moved no money; any other
    // close is a failure.
    let aborted = aborted_open_ids(entries, funding_seen);
    let closes: Vec<&Value> = events(entries)
        .filter(|e| {
            e["kind"]
                .get("ChannelClosed")
                .is_some_and(|c| c["channel_id"].as_str().is_none_or(|id| !aborted.contains(id)))
        })
        .collect();
    if !closes.is_empty() {
        return Err(format!("a channel was closed: {closes:?}"));
    }
    if state["channels"].as_array().is_none_or(|c| c.is_empty()) {
        return Err(format!("the phone has no channel after a start: {state}"));
    }
    let mut seen = HashSet::new();
    for payment in succeeded_inbound(state) {
        if let Some(hash) = payment["hash"].as_str() {
            if !seen.insert(hash) {
                return Err(format!("payment {hash} was received twice: {state}"));
            }
        }
    }
    Ok(Checked { comparisons: 3, force_closes: 0 })
}

/// After the phone's LSP restarted: it has every channel the phone had at its last start
/// (`phone_state`) whose funding reached the chain, none closed; `channels` is the LSP's
/// operator API's list. A channel whose funding the LSP never broadcast may be gone: the
/// LSP was killed before it stored its side of the open (see [`aborted_opens`]).
pub fn lsp_keeps_channels(
    channels: &[Value],
    phone: &str,
    phone_state: &Value,
    funding_seen: FundingSeen,
) -> Result<Checked, String> {
    let at_lsp: HashSet<&str> = channels
        .iter()
        .filter(|c| c["counterparty_node_id"] == phone)
        .filter_map(|c| c["channel_id"].as_str())
        .collect();
    let phone_channels = phone_state["channels"].as_array().map(Vec::as_slice).unwrap_or_default();
    for channel in phone_channels {
        let id = channel["channel_id"].as_str().unwrap_or_default();
        let funded = channel["funding_txid"].as_str().is_some_and(funding_seen);
        if funded && !at_lsp.contains(id) {
            return Err(format!("after its restart the LSP no longer has channel {id}"));
        }
    }
    Ok(Checked { comparisons: phone_channels.len(), force_closes: 0 })
}

fn node_hash(kind: &PaymentKind) -> Option<String> {
    match kind {
        PaymentKind::Bolt11 { hash, .. } | PaymentKind::Bolt11Jit { hash, .. } => {
            Some(hash.to_string())
        }
        PaymentKind::Bolt12Offer { hash, .. } | PaymentKind::Bolt12Refund { hash, .. } => {
            hash.map(|h| h.to_string())
        }
        PaymentKind::Spontaneous { hash, .. } => Some(hash.to_string()),
        PaymentKind::Onchain { .. } => None,
    }
}

/// At the end: everything [`after_start`] checks, then both sides' views of every payment,
/// the events, and the channels' sats, on the app's final `state` and the payer's and the
/// LSP's nodes.
pub fn at_end(
    entries: &[Value],
    state: &Value,
    payer: &Node,
    lsp: &Node,
    to_phone: &[PaymentId],
    funding_seen: FundingSeen,
) -> EndCheck {
    let mut end = EndCheck {
        result: Ok(Checked::default()),
        to_phone: Outcomes::default(),
        from_phone: Outcomes::default(),
        repeated_events: 0,
    };
    end.result = check_end(entries, state, payer, lsp, to_phone, funding_seen, &mut end);
    end
}

fn check_end(
    entries: &[Value],
    state: &Value,
    payer: &Node,
    lsp: &Node,
    to_phone: &[PaymentId],
    funding_seen: FundingSeen,
    end: &mut EndCheck,
) -> Result<Checked, String> {
    let mut checked = after_start(entries, state, funding_seen)?;
    let phone_received: HashMap<&str, usize> = succeeded_inbound(state)
        .filter_map(|p| p["hash"].as_str())
        .fold(HashMap::new(), |mut counts, hash| {
            *counts.entry(hash).or_default() += 1;
            counts
        });

    // The payer's payments to the phone: succeeded there exactly when received here, once.
    for id in to_phone {
        let details = payer.payment(id).ok_or(format!("the payer forgot payment {id}"))?;
        end.to_phone.made += 1;
        let hash = node_hash(&details.kind);
        let received = hash.as_deref().and_then(|h| phone_received.get(h)).copied().unwrap_or(0);
        let agrees = match details.status {
            PaymentStatus::Succeeded => {
                end.to_phone.succeeded += 1;
                received == 1
            }
            PaymentStatus::Failed => {
                end.to_phone.failed += 1;
                received == 0
            }
            PaymentStatus::Pending => false,
        };
        if !agrees {
            return Err(format!(
                "the payer's payment {id} ({hash:?}) is {:?} there and received {received} \
                 time(s) by the phone",
                details.status
            ));
        }
        checked.comparisons += 1;
    }

    // The phone's payments: final, and a Lightning one succeeded here exactly when the payer
    // received it.
    let payer_received: HashMap<String, usize> = payer
        .list_payments()
        .iter()
        .filter(|p| {
            p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
        })
        .filter_map(|p| node_hash(&p.kind))
        .fold(HashMap::new(), |mut counts, hash| {
            *counts.entry(hash).or_default() += 1;
            counts
        });
    if let Some((hash, n)) = payer_received.iter().find(|(_, n)| **n > 1) {
        return Err(format!("the payer received payment {hash} {n} times"));
    }
    for payment in payments(state).iter().filter(|p| p["inbound"] == false) {
        end.from_phone.made += 1;
        match payment["status"].as_str() {
            Some("Succeeded") => end.from_phone.succeeded += 1,
            Some("Failed") => end.from_phone.failed += 1,
            _ => return Err(format!("the phone's payment did not end: {payment}")),
        }
        if let Some(hash) = payment["hash"].as_str() {
            let at_payer = payer_received.get(hash).copied().unwrap_or(0);
            if (payment["status"] == "Succeeded") != (at_payer == 1) {
                return Err(format!(
                    "the phone's payment {payment} was received {at_payer} time(s) by the payer"
                ));
            }
        }
        checked.comparisons += 1;
    }

    // Every finished Lightning payment's event reached the listener.
    let mut heard: HashMap<&str, usize> = HashMap::new();
    for event in events(entries) {
        if let Some(id) = event["id"].as_str() {
            *heard.entry(id).or_default() += 1;
        }
    }
    end.repeated_events = heard.values().map(|n| n - 1).sum();
    let event_payment_ids: HashSet<&str> = events(entries)
        .filter_map(|e| e["kind"].as_object()?.values().next()?["payment_id"].as_str())
        .collect();
    for payment in payments(state) {
        let lightning = payment["hash"].is_string();
        let finished = matches!(payment["status"].as_str(), Some("Succeeded" | "Failed"));
        let id = payment["id"].as_str().unwrap_or_default();
        if lightning && finished && !event_payment_ids.contains(id) {
            return Err(format!("no event reached the app for payment {payment}"));
        }
        checked.comparisons += 1;
    }

    // The sats of the phone's channels: the phone's, the LSP's and the commitment fee (and the
    // anchors) make the capacity.
    checked.comparisons += conserved(state, lsp)?;
    Ok(checked)
}

fn conserved(state: &Value, lsp: &Node) -> Result<usize, String> {
    let channels = state["channels"].as_array().cloned().unwrap_or_default();
    let capacity: u64 = channels.iter().filter_map(|c| c["capacity_sat"].as_u64()).sum();
    let ids: HashSet<&str> = channels.iter().filter_map(|c| c["channel_id"].as_str()).collect();
    let phone_sat = state["balances"]["lightning_sat"].as_u64().unwrap_or(0);
    if state["balances"]["pending_sat"].as_u64() != Some(0) {
        return Err(format!("the phone has funds in flight at the end: {}", state["balances"]));
    }
    let mut lsp_sat = 0;
    let mut fee_sat = 0;
    for balance in lsp.list_balances().lightning_balances {
        if let LightningBalance::ClaimableOnChannelClose {
            channel_id,
            amount_satoshis,
            transaction_fee_satoshis,
            ..
        } = balance
        {
            if ids.contains(channel_id.to_string().as_str()) {
                lsp_sat += amount_satoshis;
                fee_sat += transaction_fee_satoshis;
            }
        }
    }
    // What is left is the anchor outputs: 330 sat each, one per side that has an output of
    // its own (a side with nothing in the channel has no anchor: LDK counts its 330 sat in the
    // fee), so one or two per channel.
    let anchors = capacity.checked_sub(phone_sat + lsp_sat + fee_sat);
    let n = channels.len() as u64;
    let whole = anchors.filter(|a| a % ANCHOR_SAT == 0 && (n..=2 * n).contains(&(a / ANCHOR_SAT)));
    if whole.is_none() {
        return Err(format!(
            "the phone's channels hold {capacity} sat, but the phone has {phone_sat}, the LSP \
             {lsp_sat} and the commitment fees {fee_sat}: {anchors:?} sat left, not one or two \
             anchors of {ANCHOR_SAT} sat for each of the {n} channels"
        ));
    }
    Ok(1)
}
