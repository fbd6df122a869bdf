//! The mempool refuses what bitcoind refuses in the cases a wallet hits, with a reason, over the
//! same `POST /tx` that ldk-node broadcasts through; and reorgs put transactions back.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{absolute, relative, Amount, OutPoint, Sequence, Transaction, TxOut};
use doze_devnet::{Devnet, COINBASE_MATURITY};

/// Posts `tx` the way esplora-client does; returns the status and the body.
fn post_tx(devnet: &Devnet, tx: &Transaction) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/tx", devnet.esplora_url()))
        .body(serialize_hex(tx))
        .send()
        .expect("POST /tx");
    (response.status().as_u16(), response.text().unwrap_or_default())
}

fn pay_to_faucet(value: Amount, devnet: &Devnet) -> Vec<TxOut> {
    vec![TxOut { value, script_pubkey: devnet.faucet().script() }]
}

fn coin(devnet: &Devnet) -> (OutPoint, TxOut) {
    devnet.faucet_coins().into_iter().max_by_key(|(_, o)| o.value).expect("a faucet coin")
}

/// A spend of `input` back to the faucet whose fee is `fee(weight)` for its own weight, with
/// its virtual size (weight / 4 rounded up). The signature's length, so the weight, depends on
/// the fee: this tries fees until one fits.
fn spend_paying(
    devnet: &Devnet,
    input: &(OutPoint, TxOut),
    fee: impl Fn(u64) -> u64,
) -> (Transaction, u64) {
    (1..10_000)
        .find_map(|sat| {
            let tx = devnet.faucet().sign(
                std::slice::from_ref(input),
                pay_to_faucet(input.1.value - Amount::from_sat(sat), devnet),
            );
            let weight = tx.weight().to_wu();
            (fee(weight) == sat).then_some((tx, weight.div_ceil(4)))
        })
        .expect("a fee that fits the size")
}

#[test]
fn double_spends_are_rejected_unless_they_replace_with_more_fee() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let value = input.1.value;
    let first = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(value - Amount::from_sat(1_000), &devnet),
    );
    assert_eq!(post_tx(&devnet, &first).0, 200);
    assert_eq!(post_tx(&devnet, &first).0, 200, "the same transaction again is not an error");

    let cheaper = devnet
        .faucet()
        .sign(std::slice::from_ref(&input), pay_to_faucet(value - Amount::from_sat(900), &devnet));
    let (status, reason) = post_tx(&devnet, &cheaper);
    assert_eq!(status, 400);
    let expected = format!(
        "insufficient fee, rejecting replacement {}; new feerate 0.0000",
        cheaper.compute_txid()
    );
    assert!(reason.contains(&expected), "{reason}");
    assert!(reason.contains(" BTC/kvB <= old feerate 0.0000"), "{reason}");

    devnet.mine(1);
    let late =
        devnet.faucet().sign(&[input], pay_to_faucet(value - Amount::from_sat(5_000), &devnet));
    let (status, reason) = post_tx(&devnet, &late);
    assert_eq!(status, 400);
    assert!(reason.contains("bad-txns-inputs-missingorspent"), "{reason}");
    let (status, reason) = post_tx(&devnet, &first);
    assert_eq!(status, 400);
    assert!(reason.contains("already in block chain"), "{reason}");
}

#[test]
fn replacement_with_more_fee_evicts_the_original_and_its_children() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let value = input.1.value;
    let parent = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(value - Amount::from_sat(1_000), &devnet),
    );
    let parent_txid = devnet.broadcast(parent.clone()).expect("parent");
    let child_input = (OutPoint { txid: parent_txid, vout: 0 }, parent.output[0].clone());
    let child = devnet.faucet().sign(
        std::slice::from_ref(&child_input),
        pay_to_faucet(child_input.1.value - Amount::from_sat(1_000), &devnet),
    );
    devnet.broadcast(child).expect("child of a mempool parent");
    assert_eq!(devnet.mempool_len(), 2);

    // A higher fee rate than the parent, but less than parent and child pay together.
    let short = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(value - Amount::from_sat(1_500), &devnet),
    );
    let (status, reason) = post_tx(&devnet, &short);
    assert_eq!(status, 400);
    let expected = format!(
        "insufficient fee, rejecting replacement {}, less fees than conflicting txs; \
         0.000015 < 0.00002",
        short.compute_txid()
    );
    assert!(reason.contains(&expected), "{reason}");
    assert_eq!(devnet.mempool_len(), 2, "nothing evicted");

    let replacement =
        devnet.faucet().sign(&[input], pay_to_faucet(value - Amount::from_sat(3_000), &devnet));
    assert_eq!(post_tx(&devnet, &replacement).0, 200);
    assert_eq!(devnet.mempool_len(), 1, "parent and child evicted");
}

#[test]
fn transactions_below_the_minimum_relay_fee_are_refused() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let zero_fee =
        devnet.faucet().sign(std::slice::from_ref(&input), pay_to_faucet(input.1.value, &devnet));
    let (status, reason) = post_tx(&devnet, &zero_fee);
    assert_eq!(status, 400);
    assert!(reason.contains("min relay fee not met, 0 < "), "{reason}");

    let (below, vsize) = spend_paying(&devnet, &input, |weight| weight.div_ceil(4) - 1);
    let (status, reason) = post_tx(&devnet, &below);
    assert_eq!(status, 400);
    let expected = format!("min relay fee not met, {} < {vsize}", vsize - 1);
    assert!(reason.contains(&expected), "{reason}");
    assert_eq!(devnet.mempool_len(), 0);

    let (exact, _) = spend_paying(&devnet, &input, |weight| weight.div_ceil(4));
    assert_eq!(post_tx(&devnet, &exact).0, 200, "1 sat/vB exactly is enough");

    // LDK's floor, 253 sat per 1000 weight units (1.012 sat/vB), rounded down as LDK does.
    let input = coin(&devnet);
    let (floor, vsize) = spend_paying(&devnet, &input, |weight| weight * 253 / 1000);
    let fee = input.1.value - floor.output[0].value;
    assert!(fee.to_sat() < vsize + 2, "close to the threshold: {fee} for {vsize} vB");
    assert_eq!(post_tx(&devnet, &floor).0, 200, "253 sat/kW clears 1 sat/vB");
}

#[test]
fn a_replacement_pays_the_incremental_relay_fee_on_top_of_what_it_evicts() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let (original, _) = spend_paying(&devnet, &input, |_| 1_000);
    let original_txid = devnet.broadcast(original).expect("original");

    // More in total and per vbyte, but 1 sat short of 1 sat/vB of its own size on top.
    let (short, vsize) = spend_paying(&devnet, &input, |weight| 1_000 + weight.div_ceil(4) - 1);
    let (status, reason) = post_tx(&devnet, &short);
    assert_eq!(status, 400);
    // bitcoind's FormatMoney: BTC, trailing zeros trimmed.
    let btc = |sat: u64| format!("0.00000{sat:03}").trim_end_matches('0').to_owned();
    let expected = format!(
        "insufficient fee, rejecting replacement {}, not enough additional fees to relay; \
         {} < {}",
        short.compute_txid(),
        btc(vsize - 1),
        btc(vsize)
    );
    assert!(reason.contains(&expected), "{reason}");
    assert!(devnet.in_mempool(&original_txid), "the original stays");

    let (enough, _) = spend_paying(&devnet, &input, |weight| 1_000 + weight.div_ceil(4));
    let (status, body) = post_tx(&devnet, &enough);
    assert_eq!(status, 200, "{body}");
    assert!(devnet.in_mempool(&enough.compute_txid()));
    assert!(!devnet.in_mempool(&original_txid), "replaced");
    assert_eq!(devnet.mempool_len(), 1);
}

#[test]
fn immature_coinbase_spend_is_rejected() {
    let devnet = Devnet::start().expect("devnet");
    devnet.state().mine(1, Some(devnet.faucet().script()));
    let (tip, _) = devnet.tip();
    let coinbase =
        devnet.state().chain().block_at(tip).map(|r| r.block.txdata[0].clone()).expect("tip block");
    let outpoint = OutPoint { txid: coinbase.compute_txid(), vout: 0 };
    let spend = devnet.faucet().sign(
        &[(outpoint, coinbase.output[0].clone())],
        pay_to_faucet(coinbase.output[0].value - Amount::from_sat(1_000), &devnet),
    );
    let (status, reason) = post_tx(&devnet, &spend);
    assert_eq!(status, 400);
    assert!(reason.contains("bad-txns-premature-spend-of-coinbase"), "{reason}");

    devnet.mine(COINBASE_MATURITY - 2);
    assert!(post_tx(&devnet, &spend).1.contains("premature"), "one block short");
    devnet.mine(1);
    assert_eq!(post_tx(&devnet, &spend).0, 200, "mature after {COINBASE_MATURITY} blocks");
}

#[test]
fn bad_signature_is_rejected_by_script_verification() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let mut tx = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(input.1.value - Amount::from_sat(1_000), &devnet),
    );
    let mut items: Vec<Vec<u8>> = tx.input[0].witness.iter().map(|w| w.to_vec()).collect();
    items[0][10] ^= 0x01;
    tx.input[0].witness = bitcoin::Witness::from_slice(&items);
    let (status, reason) = post_tx(&devnet, &tx);
    assert_eq!(status, 400);
    assert!(reason.contains("mandatory-script-verify-flag-failed"), "{reason}");

    let wrong_amount = devnet.faucet().sign(
        &[(input.0, TxOut { value: input.1.value + Amount::from_sat(1), ..input.1.clone() })],
        pay_to_faucet(input.1.value - Amount::from_sat(1_000), &devnet),
    );
    let (status, reason) = post_tx(&devnet, &wrong_amount);
    assert_eq!(status, 400, "a signature over the wrong amount fails BIP143");
    assert!(reason.contains("mandatory-script-verify-flag-failed"), "{reason}");
}

#[test]
fn outputs_above_inputs_and_unknown_inputs_are_rejected() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let greedy = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(input.1.value + Amount::from_sat(1), &devnet),
    );
    let (status, reason) = post_tx(&devnet, &greedy);
    assert_eq!(status, 400);
    assert!(reason.contains("bad-txns-in-belowout"), "{reason}");

    let ghost = (OutPoint { txid: input.0.txid, vout: 99 }, input.1.clone());
    let spend = devnet.faucet().sign(&[ghost], pay_to_faucet(Amount::from_sat(1_000), &devnet));
    assert!(post_tx(&devnet, &spend).1.contains("bad-txns-inputs-missingorspent"));

    let garbage = reqwest::blocking::Client::new()
        .post(format!("{}/tx", devnet.esplora_url()))
        .body("not a transaction")
        .send()
        .unwrap();
    assert_eq!(garbage.status(), 400);
}

#[test]
fn absolute_and_relative_lock_times_are_enforced() {
    let devnet = Devnet::start().expect("devnet");
    let (height, _) = devnet.tip();
    let input = coin(&devnet);
    let mut locked = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(input.1.value - Amount::from_sat(1_000), &devnet),
    );
    locked.lock_time = absolute::LockTime::from_height(height + 5).unwrap();
    let locked = devnet.faucet().sign_tx(locked, std::slice::from_ref(&input.1));
    let (status, reason) = post_tx(&devnet, &locked);
    assert_eq!(status, 400);
    assert!(reason.contains("non-final"), "{reason}");
    devnet.mine(4);
    assert!(
        post_tx(&devnet, &locked).1.contains("non-final"),
        "lock time equal to the next height"
    );
    devnet.mine(1);
    assert_eq!(post_tx(&devnet, &locked).0, 200, "final once the next block is past the lock");
    devnet.mine(1);

    // A child relatively locked by 3 blocks on a coin confirmed in the last block.
    let parent_out = (OutPoint { txid: locked.compute_txid(), vout: 0 }, locked.output[0].clone());
    let mut child = devnet.faucet().sign(
        std::slice::from_ref(&parent_out),
        pay_to_faucet(parent_out.1.value - Amount::from_sat(1_000), &devnet),
    );
    child.input[0].sequence = Sequence::from(relative::LockTime::from_height(3));
    let child = devnet.faucet().sign_tx(child, std::slice::from_ref(&parent_out.1));
    let (status, reason) = post_tx(&devnet, &child);
    assert_eq!(status, 400);
    assert!(reason.contains("non-BIP68-final"), "{reason}");
    devnet.mine(2);
    assert_eq!(post_tx(&devnet, &child).0, 200, "three blocks deep in the next block");
}

#[test]
fn invalidated_blocks_return_transactions_to_the_mempool() {
    let devnet = Devnet::start().expect("devnet");
    let input = coin(&devnet);
    let tx = devnet.faucet().sign(
        std::slice::from_ref(&input),
        pay_to_faucet(input.1.value - Amount::from_sat(1_000), &devnet),
    );
    let txid = devnet.broadcast(tx).expect("accepted");
    let stale = devnet.mine(1)[0];
    devnet.mine(2);
    assert!(devnet.confirmation_height(&txid).is_some());

    let removed = devnet.invalidate(3);
    assert_eq!(removed.len(), 3);
    assert!(devnet.confirmation_height(&txid).is_none());
    assert!(devnet.in_mempool(&txid), "back in the mempool");
    assert!(!devnet.state().chain().in_best_chain(&stale));

    let status: serde_json::Value =
        reqwest::blocking::get(format!("{}/block/{stale}/status", devnet.esplora_url()))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(status["in_best_chain"], false);

    let (height_before, _) = devnet.tip();
    devnet.mine(4);
    assert_eq!(
        devnet.confirmation_height(&txid),
        Some(height_before + 1),
        "confirmed again on the new chain"
    );
}
