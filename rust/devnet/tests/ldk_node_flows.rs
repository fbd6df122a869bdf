//! Stock ldk-node 0.7.1 runs unmodified on the devnet: on-chain funding, a channel with a BOLT11
//! payment and a cooperative close, a force close with an anchor CPFP, and reorgs seen by both
//! BDK and LDK.

use std::time::Instant;

use bitcoin::Amount;
use doze_devnet::nodes::{expect_event, wait_until, DEFAULT_WAIT};
use doze_devnet::Devnet;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::Event;

fn init_logs() {
    let _ = env_logger_lite();
}

/// Minimal logger so failures show the devnet's rejection reasons.
fn env_logger_lite() -> Result<(), log::SetLoggerError> {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info && m.target().starts_with("doze")
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{} {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    log::set_boxed_logger(Box::new(Stderr)).map(|()| log::set_max_level(log::LevelFilter::Info))
}

#[test]
fn a_funded_node_sees_its_balance_and_a_reorg_unconfirms_it() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let alice = devnet.start_node("alice");
    devnet.fund_node(&alice, Amount::from_sat(100_000));
    let balances = alice.list_balances();
    assert_eq!(balances.spendable_onchain_balance_sats, 100_000);
    assert_eq!(balances.total_onchain_balance_sats, 100_000);

    devnet.invalidate(1);
    devnet.mine_empty(2);
    wait_until("alice sees the funding unconfirmed", DEFAULT_WAIT, || {
        alice.sync_wallets().is_ok() && alice.list_balances().spendable_onchain_balance_sats == 0
    });
    assert_eq!(alice.list_balances().total_onchain_balance_sats, 100_000, "still pending");

    devnet.mine(1);
    wait_until("alice sees it confirmed again", DEFAULT_WAIT, || {
        alice.sync_wallets().is_ok()
            && alice.list_balances().spendable_onchain_balance_sats == 100_000
    });
    alice.stop().expect("stop");
}

#[test]
fn two_nodes_open_a_channel_pay_and_close_cooperatively() {
    init_logs();
    let started = Instant::now();
    let devnet = Devnet::start().expect("devnet");
    let alice = devnet.start_node("alice");
    let bob = devnet.start_node("bob");
    devnet.fund_node(&alice, Amount::from_sat(1_000_000));

    let channel = devnet.open_channel(&alice, &bob, Amount::from_sat(500_000), None);
    let description = Bolt11InvoiceDescription::Direct(Description::new("coffee".into()).unwrap());
    let invoice = bob.bolt11_payment().receive(50_000_000, &description, 3600).expect("invoice");
    let payment_id = alice.bolt11_payment().send(&invoice, None).expect("send");
    let sent = expect_event(&alice, DEFAULT_WAIT, |e| {
        matches!(e, Event::PaymentSuccessful { .. } | Event::PaymentFailed { .. })
    });
    assert!(
        matches!(sent, Event::PaymentSuccessful { payment_id: Some(id), .. } if id == payment_id),
        "{sent:?}"
    );
    let received = expect_event(&bob, DEFAULT_WAIT, |e| matches!(e, Event::PaymentReceived { .. }));
    assert!(matches!(received, Event::PaymentReceived { amount_msat: 50_000_000, .. }));
    let paid_and_open = started.elapsed();

    alice.close_channel(&channel, bob.node_id()).expect("close");
    expect_event(&alice, DEFAULT_WAIT, |e| matches!(e, Event::ChannelClosed { .. }));
    expect_event(&bob, DEFAULT_WAIT, |e| matches!(e, Event::ChannelClosed { .. }));
    assert!(devnet.wait_for_mempool_len(1, DEFAULT_WAIT), "closing transaction broadcast");
    // Six blocks: LDK reports the closing outputs as claimable until they are reorg-safe.
    devnet.mine(6);
    wait_until("both on-chain balances settle", DEFAULT_WAIT, || {
        alice.sync_wallets().is_ok()
            && bob.sync_wallets().is_ok()
            && bob.list_balances().spendable_onchain_balance_sats == 50_000
            && alice.list_balances().lightning_balances.is_empty()
            && bob.list_balances().lightning_balances.is_empty()
    });
    let alice_onchain = alice.list_balances().total_onchain_balance_sats;
    assert!(alice_onchain < 1_000_000 - 50_000, "alice paid 50k sat and the fees");
    assert!(alice_onchain > 1_000_000 - 50_000 - 10_000, "fees stay small: {alice_onchain}");
    eprintln!(
        "timing: open channel + pay took {:?}; with close {:?}",
        paid_and_open,
        started.elapsed()
    );
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

#[test]
fn a_reorg_of_a_confirmed_funding_transaction_is_seen_by_both_nodes() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    let alice = devnet.start_node("alice");
    let bob = devnet.start_node("bob");
    devnet.fund_node(&alice, Amount::from_sat(400_000));
    alice.open_channel(bob.node_id(), bob.address.clone(), 200_000, None, None).expect("open");
    expect_event(&alice, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
    expect_event(&bob, DEFAULT_WAIT, |e| matches!(e, Event::ChannelPending { .. }));
    assert!(devnet.wait_for_mempool_len(1, DEFAULT_WAIT));
    let confirmations = |node: &doze_devnet::nodes::TestNode| {
        node.list_channels().first().and_then(|c| c.confirmations).unwrap_or(0)
    };

    devnet.mine(2);
    wait_until("both see 2 confirmations", DEFAULT_WAIT, || {
        alice.sync_wallets().is_ok()
            && bob.sync_wallets().is_ok()
            && confirmations(&alice) == 2
            && confirmations(&bob) == 2
    });

    devnet.invalidate(2);
    devnet.mine_empty(3);
    wait_until("both see the funding transaction unconfirmed", DEFAULT_WAIT, || {
        alice.sync_wallets().is_ok()
            && bob.sync_wallets().is_ok()
            && confirmations(&alice) == 0
            && confirmations(&bob) == 0
    });
    assert!(!alice.list_channels()[0].is_channel_ready);

    devnet.mine(6);
    assert!(devnet.mempool_len() == 0, "the funding transaction confirmed on the longer chain");
    let _ = alice.sync_wallets();
    let _ = bob.sync_wallets();
    expect_event(&alice, DEFAULT_WAIT, |e| matches!(e, Event::ChannelReady { .. }));
    expect_event(&bob, DEFAULT_WAIT, |e| matches!(e, Event::ChannelReady { .. }));
    assert_eq!(confirmations(&alice), 6, "confirmed again on the competing chain");
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}

/// The fee and virtual size (weight / 4 rounded up) of `txid`, as Esplora reports them, and the
/// txids its inputs spend.
fn fee_vsize_parents(devnet: &Devnet, txid: &str) -> (u64, u64, Vec<String>) {
    let tx: serde_json::Value =
        reqwest::blocking::get(format!("{}/tx/{txid}", devnet.esplora_url()))
            .and_then(|r| r.json())
            .expect("GET /tx");
    let parents = tx["vin"].as_array().expect("vin").iter();
    let parents = parents.map(|i| i["txid"].as_str().expect("txid").to_string()).collect();
    let weight = tx["weight"].as_u64().expect("weight");
    (tx["fee"].as_u64().expect("fee"), weight.div_ceil(4), parents)
}

/// A channel opened while fees are at LDK's floor (253 sat/kW, 1.012 sat/vB) is force-closed
/// after they rose: ldk-node broadcasts the commitment, at the floor, on its own through
/// `POST /tx`, and the devnet, like bitcoind with its 1 sat/vB minimum relay fee, accepts it.
/// Bob, told of the close, broadcasts his own commitment too: at the same fee rate it cannot
/// replace Alice's (bitcoind's "new feerate <= old feerate"), as on a real network.
#[test]
fn a_force_close_at_the_fee_floor_gets_its_commitment_confirmed() {
    init_logs();
    let devnet = Devnet::start().expect("devnet");
    devnet.state().set_fee_rate(1.0);
    let alice = devnet.start_node("alice");
    let bob = devnet.start_node("bob");
    devnet.fund_node(&alice, Amount::from_sat(1_000_000));
    let channel = devnet.open_channel(&alice, &bob, Amount::from_sat(500_000), Some(50_000_000));
    let funding = alice.list_channels()[0].funding_txo.expect("a funding outpoint");

    devnet.state().set_fee_rate(20.0);
    alice.sync_wallets().expect("sync, which also fetches the fee estimates");
    alice.force_close_channel(&channel, bob.node_id(), None).expect("force close");
    expect_event(&alice, DEFAULT_WAIT, |e| matches!(e, Event::ChannelClosed { .. }));
    assert!(devnet.wait_for_mempool_len(1, DEFAULT_WAIT), "a commitment broadcast");
    // Leave ldk-node time to follow with a CPFP child.
    std::thread::sleep(std::time::Duration::from_secs(3));

    let txids: Vec<String> =
        reqwest::blocking::get(format!("{}/mempool/txids", devnet.esplora_url()))
            .and_then(|r| r.json())
            .expect("GET /mempool/txids");
    let funding_txid = funding.txid.to_string();
    let mut commitment = None;
    for txid in &txids {
        let (fee, vsize, parents) = fee_vsize_parents(&devnet, txid);
        eprintln!("mempool: {txid} pays {fee} sat for {vsize} vB, spends {parents:?}");
        assert!(fee >= vsize, "each pays the minimum relay fee on its own");
        if parents.contains(&funding_txid) {
            commitment = Some(txid.clone());
        }
    }
    let commitment = commitment.expect("a commitment spends the funding output");
    devnet.mine(1);
    assert!(devnet.confirmation_height(&commitment.parse().unwrap()).is_some());
    assert_eq!(devnet.mempool_len(), 0, "everything confirmed");
    alice.stop().expect("stop");
    bob.stop().expect("stop");
}
