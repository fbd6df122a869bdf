//! A JIT channel end to end, with stock ldk-node nodes around the LSP: a payer with a channel
//! to the LSP pays a client that has no channel yet; the LSP opens one (LSPS2) on the terms
//! of its config, forwards the payment less its fee, and shows the new channel in its API.
//! The payer's ordinary channel is none of the LSPS2 service's business: no error is logged
//! for it.

mod common;

use std::time::Instant;

use common::{
    expect_lsp_event, expect_node_event, get_json, init_logs, jit_invoice, payer_with_channel,
    recording_observers, start_client, Recorded,
};
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::api::{ChannelList, NodeInfo};
use doze_lsp::{devnet_config, Lsp};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::Event;

const LSP_FUNDS: u64 = 1_000_000;
const PAYER_CHANNEL: u64 = 500_000;
const JIT_AMOUNT_MSAT: u64 = 50_000_000;
const FEE_PPM: u32 = 10_000; // 1 %, from the LSP's config

#[test]
fn a_payment_to_a_client_without_a_channel_opens_a_jit_channel() {
    init_logs();
    let started = Instant::now();
    let devnet = Devnet::start().expect("devnet");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = devnet_config(&devnet.esplora_url(), dir.path());
    config.lsps2.channel_opening_fee_ppm = FEE_PPM;
    let (observers, Recorded { events: lsp_events, errors }) = recording_observers(|_| false);
    let lsp = Lsp::start_with_observers(config, observers).expect("the LSP starts");
    let url = lsp.http_url();

    // The LSP's own on-chain wallet pays for JIT channels.
    let address = lsp.new_onchain_address().expect("address");
    devnet.fund_confirmed(&address, Amount::from_sat(LSP_FUNDS)).expect("faucet");
    wait_until("the LSP sees its funds", DEFAULT_WAIT, || {
        lsp.sync().is_ok() && lsp.node().list_balances().spendable_onchain_balance_sats >= LSP_FUNDS
    });
    let info: NodeInfo = get_json(&url, "/v1/node", 200);
    assert_eq!(info.onchain.total_sats, LSP_FUNDS);

    // A payer with a confirmed channel to the LSP.
    let payer = payer_with_channel(&devnet, &lsp, &lsp_events, PAYER_CHANNEL);
    wait_until("the payer's channel is usable at the LSP", DEFAULT_WAIT, || {
        let channels: ChannelList = get_json(&url, "/v1/channels", 200);
        channels
            .channels
            .iter()
            .any(|c| c.counterparty_node_id == payer.node_id().to_string() && c.is_usable)
    });
    eprintln!("payer channel ready after {:?}", started.elapsed());

    // A client (a phone) with no channel and no on-chain funds asks for a JIT invoice.
    let (client, _client_dir) = start_client(&devnet, &lsp);
    let invoice = jit_invoice(&client, JIT_AMOUNT_MSAT);
    let jit_started = Instant::now();
    let payment_id = payer.bolt11_payment().send(&invoice, None).expect("payer sends");

    let fee_msat = JIT_AMOUNT_MSAT * u64::from(FEE_PPM) / 1_000_000;
    let received = expect_node_event("client", &client, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    assert!(
        matches!(
            received,
            Event::PaymentReceived { amount_msat, .. } if amount_msat == JIT_AMOUNT_MSAT - fee_msat
        ),
        "the client gets the payment less the LSP's opening fee: {received:?}"
    );
    let sent = expect_event(&payer, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id),
        "{sent:?}"
    );
    eprintln!("JIT payment received {:?} after sending", jit_started.elapsed());

    // The LSP saw it all as events, and its API shows the channel it opened.
    let client_id = client.node_id();
    expect_lsp_event(&lsp_events, DEFAULT_WAIT, |e| {
        matches!(
            e,
            Event::ChannelReady { counterparty_node_id: Some(id), .. } if *id == client_id
        )
    });
    let forwarded = expect_lsp_event(&lsp_events, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentForwarded { .. })
    });
    assert!(
        matches!(
            forwarded,
            Event::PaymentForwarded { skimmed_fee_msat: Some(fee), .. } if fee == fee_msat
        ),
        "{forwarded:?}"
    );
    let channels: ChannelList = get_json(&url, "/v1/channels", 200);
    let jit = channels
        .channels
        .iter()
        .find(|c| c.counterparty_node_id == client_id.to_string())
        .unwrap_or_else(|| panic!("no channel to the client in {channels:?}"));
    let forwarded_sat = (JIT_AMOUNT_MSAT - fee_msat) / 1000;
    assert_eq!(jit.capacity_sats, 2 * forwarded_sat, "100 % over-provisioning (devnet_config)");
    assert!(jit.is_outbound && jit.is_usable && jit.is_channel_ready, "{jit:?}");
    assert_eq!(jit.confirmations_required, Some(0), "a zero-conf JIT channel");

    // The spare capacity takes a second payment without a new channel.
    let description =
        Bolt11InvoiceDescription::Direct(Description::new("more".into()).expect("description"));
    let invoice = client.bolt11_payment().receive(20_000_000, &description, 3600).expect("invoice");
    payer.bolt11_payment().send(&invoice, None).expect("second payment");
    let received = expect_node_event("client", &client, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    assert!(
        matches!(received, Event::PaymentReceived { amount_msat: 20_000_000, .. }),
        "{received:?}"
    );
    let channels: ChannelList = get_json(&url, "/v1/channels", 200);
    assert_eq!(channels.channels.len(), 2, "still one channel per peer: {channels:?}");

    // The payer's channel was ready and forwarded over without an error (ldk-node hands every
    // channel's events to the LSPS2 service, which knows only the channels it opened).
    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "the LSP logged errors: {errors:#?}");

    client.stop().expect("client stops");
    payer.stop().expect("payer stops");
    lsp.stop().expect("LSP stops");
    eprintln!("whole test {:?}", started.elapsed());
}
