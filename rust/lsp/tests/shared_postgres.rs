//! Two LSP nodes sharing one PostgreSQL push store (a real server on loopback), each with its
//! own phone (stock ldk-node nodes with a channel from it) registered over HTTP: each node
//! lists and pushes only its own phones, a registration seen by one is a replay at the other,
//! a phone that moves to the other node keeps getting pushed, and a node restarted keeps its
//! registrations (they live in PostgreSQL, not beside the node).

mod common;

use std::time::Instant;

use common::{get_json, init_logs};
use doze_devnet::nodes::{wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::push::{ErrorCode, PushLog, PushTarget, RegistrationInfo, RegistrationPage};
use doze_lsp::{Lsp, Observers};
use doze_testkit::lsp::{fund_lsp, open_channel_from_lsp, start_lsp};
use doze_testkit::postgres::Postgres;
use doze_testkit::register::{post_register, register, signed_request};
use doze_testkit::WebhookReceiver;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Amount;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;

/// Starts an LSP storing in `dir` with its push store in `postgres`, and funds it.
fn start_shared_lsp(devnet: &Devnet, dir: &std::path::Path, postgres: &Postgres) -> Lsp {
    let url = postgres.url();
    let lsp = start_lsp(devnet, dir, Observers::new(), |c| c.push.postgres_url = Some(url));
    assert_eq!(lsp.push().store().kind(), "postgres");
    lsp
}

/// A stock node with on-chain funds for its anchor reserve and a private channel from `lsp`.
fn phone_of(devnet: &Devnet, lsp: &Lsp, name: &str) -> TestNode {
    let phone = devnet.start_node(name);
    devnet.fund_node(&phone, Amount::from_sat(100_000));
    open_channel_with(devnet, lsp, &phone);
    phone
}

fn open_channel_with(devnet: &Devnet, lsp: &Lsp, phone: &TestNode) {
    let address = Some(phone.address.clone());
    open_channel_from_lsp(devnet, lsp, phone.node_id(), address, 200_000, &[phone]);
}

/// Whether `lsp`'s network graph has it (from its announced channel).
fn in_own_graph(lsp: &Lsp) -> bool {
    lsp.node().network_graph().node(&NodeId::from_pubkey(&lsp.node_id())).is_some()
}

/// The node ids on the operator's list of registered phones.
fn listed(lsp: &Lsp) -> Vec<String> {
    let page: RegistrationPage = get_json(&lsp.http_url(), "/v1/push/registrations", 200);
    page.registrations.into_iter().map(|r| r.node_id).collect()
}

/// Signals `lsp` that a message waits for `phone` and checks that `hook` receives exactly one
/// more push, signed by `lsp`, and that `lsp` counted it delivered (which it does once the
/// delivery log has the row).
fn pushed_by(lsp: &Lsp, phone: PublicKey, hook: &WebhookReceiver) {
    let before = hook.received().len();
    let delivered = lsp.push_stats().delivered;
    assert!(lsp.push().notify(phone));
    let received = hook.wait_for(before + 1, DEFAULT_WAIT);
    received[before]
        .validate(lsp.node_id(), &LSPS5Validator::new())
        .unwrap_or_else(|e| panic!("the push is not signed by the LSP that sent it: {e}"));
    wait_until("the delivery is recorded", DEFAULT_WAIT, || {
        lsp.push_stats().delivered == delivered + 1
    });
}

#[test]
fn two_lsp_nodes_share_one_postgres_and_keep_their_own_phones() {
    init_logs();
    let started = Instant::now();
    let postgres = Postgres::start();
    let devnet = Devnet::start().expect("devnet");
    let (dir_a, dir_b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let lsp_a = start_shared_lsp(&devnet, dir_a.path(), &postgres);
    let lsp_b = start_shared_lsp(&devnet, dir_b.path(), &postgres);
    fund_lsp(&devnet, &lsp_a, Amount::from_sat(1_000_000));
    fund_lsp(&devnet, &lsp_b, Amount::from_sat(1_000_000));
    let phone_a = phone_of(&devnet, &lsp_a, "phone-a");
    let phone_b = phone_of(&devnet, &lsp_b, "phone-b");
    // Announced LSPs, as in a deployment: LDK builds blinded paths to an unannounced node only
    // through its one peer, and LSP-B has two phones by the end.
    let mempool_before = devnet.mempool_len();
    lsp_b
        .node()
        .open_announced_channel(lsp_a.node_id(), lsp_a.p2p_address(), 300_000, None, None)
        .expect("LSP-B opens an announced channel to LSP-A");
    assert!(devnet.wait_for_mempool_len(mempool_before + 1, DEFAULT_WAIT), "funding broadcast");
    devnet.mine(6);
    wait_until("both LSPs are in their own graphs", DEFAULT_WAIT, || {
        lsp_a.sync().is_ok() && lsp_b.sync().is_ok() && in_own_graph(&lsp_a) && in_own_graph(&lsp_b)
    });
    let (id_a, id_b) = (phone_a.node_id(), phone_b.node_id());
    eprintln!("two LSPs on one PostgreSQL, a phone each, after {:?}", started.elapsed());

    let (hook_a, hook_b) = (WebhookReceiver::start(), WebhookReceiver::start());
    let request_a = signed_request(&phone_a, PushTarget::webhook(hook_a.url()));
    post_register(&lsp_a.http_url(), &request_a).expect("phone A registers at LSP-A");
    register(&lsp_b.http_url(), &phone_b, PushTarget::webhook(hook_b.url()))
        .expect("phone B registers at LSP-B");

    // Each node lists its own phone only, and pushes only its own.
    assert_eq!(listed(&lsp_a), vec![id_a.to_string()]);
    assert_eq!(listed(&lsp_b), vec![id_b.to_string()]);
    pushed_by(&lsp_a, id_a, &hook_a);
    pushed_by(&lsp_b, id_b, &hook_b);
    assert!(lsp_a.push().notify(id_b));
    wait_until("LSP-A ignores LSP-B's phone", DEFAULT_WAIT, || {
        lsp_a.push_stats().unregistered == 1
    });
    assert_eq!(hook_b.received().len(), 1, "LSP-A pushed a phone it does not serve");

    // The request phone A signed for LSP-A names no LSP: LSP-B refuses it as a replay (the
    // nonce is shared), before it even looks for a channel.
    let replayed = post_register(&lsp_b.http_url(), &request_a).expect_err("a replay");
    assert_eq!((replayed.0, replayed.1.code), (409, ErrorCode::ReplayedNonce), "{:?}", replayed.1);

    // Phone A moves: LSP-B opens a channel to it, it registers there, and LSP-B pushes it.
    open_channel_with(&devnet, &lsp_b, &phone_a);
    register(&lsp_b.http_url(), &phone_a, PushTarget::webhook(hook_a.url()))
        .expect("phone A registers at LSP-B");
    let mut at_b = listed(&lsp_b);
    at_b.sort();
    let mut expected = vec![id_a.to_string(), id_b.to_string()];
    expected.sort();
    assert_eq!(at_b, expected);
    pushed_by(&lsp_b, id_a, &hook_a);

    // Each node's delivery log holds its own deliveries.
    let log_a: PushLog = get_json(&lsp_a.http_url(), "/v1/push/log", 200);
    let log_b: PushLog = get_json(&lsp_b.http_url(), "/v1/push/log", 200);
    let peers = |log: &PushLog| log.entries.iter().map(|e| e.node_id.clone()).collect::<Vec<_>>();
    assert_eq!(peers(&log_a), vec![id_a.to_string()]);
    assert_eq!(peers(&log_b), vec![id_a.to_string(), id_b.to_string()]);

    // LSP-A restarts: its registrations come back from PostgreSQL, and it pushes as before.
    let lsp_a_id = lsp_a.node_id();
    drop(lsp_a);
    let lsp_a = start_shared_lsp(&devnet, dir_a.path(), &postgres);
    assert_eq!(lsp_a.node_id(), lsp_a_id);
    let info: RegistrationInfo =
        get_json(&lsp_a.http_url(), &format!("/v1/push/registrations/{id_a}"), 200);
    assert_eq!(info.node_id, id_a.to_string());
    pushed_by(&lsp_a, id_a, &hook_a);
    eprintln!("done after {:?}", started.elapsed());
}
