//! The LSP on the chain sources operators run: the devnet's bitcoind JSON-RPC (logging in with
//! its cookie file, as with a local bitcoind) and its Electrum server. Over each, the LSP sees
//! its funding confirm, sees a payer's channel to it confirm, opens a JIT channel (LSPS2) to a
//! client and forwards the payment, broadcasts that channel's funding through the source and
//! sees it confirm, all without logging an error. The payer and the client read the devnet's
//! Esplora API: only the LSP's source changes.

mod common;

use std::time::Instant;

use common::{
    expect_lsp_event, expect_node_event, init_logs, jit_invoice, payer_with_channel,
    recording_observers, start_client, Recorded,
};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::{devnet_config_with, ChainSource, Lsp, LspError, RpcAuth};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::bitcoin::Network;
use ldk_node::Event;

const LSP_FUNDS: u64 = 1_000_000;
const PAYER_CHANNEL: u64 = 500_000;
const JIT_AMOUNT_MSAT: u64 = 50_000_000;

#[test]
fn an_lsp_on_bitcoind_rpc_serves_a_jit_channel() {
    let devnet = Devnet::start().expect("devnet");
    let rpc = devnet.bitcoind_rpc();
    let auth = RpcAuth::CookieFile(rpc.cookie_file.clone());
    jit_channel_over(
        &devnet,
        ChainSource::BitcoindRpc { host: rpc.host.clone(), port: rpc.port, auth },
    );
}

#[test]
fn an_lsp_on_electrum_serves_a_jit_channel() {
    let devnet = Devnet::start().expect("devnet");
    jit_channel_over(&devnet, ChainSource::Electrum { url: devnet.electrum_url() });
}

#[test]
fn a_refused_login_or_another_network_stops_the_start_with_the_reason() {
    let devnet = Devnet::start().expect("devnet");
    let rpc = devnet.bitcoind_rpc();
    let dir = tempfile::tempdir().expect("temp dir");
    let source = |password: &str| ChainSource::BitcoindRpc {
        host: rpc.host.clone(),
        port: rpc.port,
        auth: RpcAuth::UserPassword { user: rpc.user.clone(), password: password.into() },
    };

    let wrong = devnet_config_with(source("not-the-password"), dir.path());
    let error = Lsp::start(wrong).err().expect("a refused login stops the start");
    assert!(matches!(error, LspError::BitcoindRpc { .. }), "{error:?}");
    assert!(error.to_string().contains("refused the login"), "{error}");
    assert!(!error.to_string().contains("not-the-password"), "{error}");

    let mut signet = devnet_config_with(source(&rpc.password), dir.path());
    signet.network = Network::Signet;
    let error = Lsp::start(signet).err().expect("another network stops the start");
    assert!(error.to_string().contains("it follows `regtest`"), "{error}");

    let mut closed = devnet_config_with(source(&rpc.password), dir.path());
    closed.chain_source = ChainSource::BitcoindRpc {
        host: "127.0.0.1".into(),
        port: doze_devnet::nodes::free_port(),
        auth: RpcAuth::UserPassword { user: "u".into(), password: "p".into() },
    };
    let error = Lsp::start(closed).err().expect("nothing listening");
    assert!(error.to_string().contains("cannot reach it"), "{error}");
}

/// LDK broadcasts a zero-conf channel's funding again as the channel updates; one queued
/// before the block that confirms it and sent after is refused as confirmed (bitcoind's -27,
/// "Transaction outputs already in utxo set"), and ldk-node logs that as an error. Harmless,
/// and a real node answers the same.
fn is_late_rebroadcast(record: &str) -> bool {
    record.contains("Failed to broadcast transaction")
        && (record.contains("already in utxo set") || record.contains("already in block chain"))
}

/// Confirmations the LSP counts for its channel with `peer` (None until it has one).
fn lsp_confirmations(lsp: &Lsp, peer: PublicKey) -> Option<u32> {
    let channels = lsp.node().list_channels();
    channels.iter().find(|c| c.counterparty_node_id == peer).and_then(|c| c.confirmations)
}

fn jit_channel_over(devnet: &Devnet, source: ChainSource) {
    init_logs();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = devnet_config_with(source.clone(), dir.path());
    let (observers, Recorded { events: lsp_events, errors }) =
        recording_observers(is_late_rebroadcast);
    let lsp = Lsp::start_with_observers(config, observers).expect("the LSP starts");

    // Its on-chain wallet sees a confirmed payment through the source.
    let address = lsp.new_onchain_address().expect("address");
    devnet.fund_confirmed(&address, Amount::from_sat(LSP_FUNDS)).expect("faucet");
    wait_until("the LSP sees its funds", DEFAULT_WAIT, || {
        lsp.sync().is_ok() && lsp.node().list_balances().spendable_onchain_balance_sats >= LSP_FUNDS
    });
    eprintln!("{source:?}: funds seen after {:?}", started.elapsed());

    // A payer opens a channel to it; the LSP sees the funding confirm through the source.
    let payer = payer_with_channel(devnet, &lsp, &lsp_events, PAYER_CHANNEL);
    let payer_id = payer.node_id();
    assert!(lsp_confirmations(&lsp, payer_id).is_some_and(|c| c >= 6), "six blocks deep");

    // A client without a channel is paid through a JIT channel the LSP opens.
    let (client, _client_dir) = start_client(devnet, &lsp);
    let invoice = jit_invoice(&client, JIT_AMOUNT_MSAT);
    let mempool_before = devnet.mempool_len();
    payer.bolt11_payment().send(&invoice, None).expect("payer sends");
    let received = expect_node_event("client", &client, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentReceived { .. })
    });
    assert!(
        matches!(received, Event::PaymentReceived { amount_msat: JIT_AMOUNT_MSAT, .. }),
        "no opening fee in devnet_config: {received:?}"
    );
    expect_lsp_event(&lsp_events, DEFAULT_WAIT, |e| matches!(e, Event::PaymentForwarded { .. }));

    // The LSP broadcast the JIT channel's funding through the source; mined, it confirms.
    assert!(
        devnet.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT),
        "the LSP's funding transaction reached the chain through {source:?}"
    );
    devnet.mine(1);
    let client_id = client.node_id();
    wait_until("the LSP sees the JIT channel confirmed", DEFAULT_WAIT, || {
        lsp.sync().is_ok() && lsp_confirmations(&lsp, client_id).is_some_and(|c| c >= 1)
    });
    let spent = lsp.node().list_balances().total_onchain_balance_sats;
    assert!(spent < LSP_FUNDS, "the channel was paid from the LSP's wallet: {spent} sat left");

    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "the LSP logged errors over {source:?}: {errors:#?}");
    client.stop().expect("client stops");
    payer.stop().expect("payer stops");
    lsp.stop().expect("LSP stops");
    eprintln!("{source:?}: whole test {:?}", started.elapsed());
}
