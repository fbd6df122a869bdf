//! A restore without a backup server: the recovery phrase on an empty storage directory brings
//! back the node id and the on-chain funds (both come from the seed), and nothing else. What a
//! backup adds is issue #12's remote store. A send of the old phone that the new one replaces
//! (both spending the same coins) ends failed in the old phone's history, not pending for ever.

use doze_core::{OnchainFee, PaymentStatus};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::start_phone;
use doze_testkit::{address_elsewhere, runtime, Scene};
use ldk_node::bitcoin::{Address, Amount};

#[test]
fn a_restore_without_backup_brings_back_the_node_id_and_the_onchain_funds() {
    let scene = Scene::new();
    let rt = runtime();
    let old_phone_dir = tempfile::tempdir().unwrap();
    let (phone, _) = start_phone(&scene, old_phone_dir.path(), &rt);
    let node_id = phone.node_id().unwrap();
    let address = phone.new_onchain_address().unwrap();
    let address = address.parse::<Address<_>>().unwrap().assume_checked();
    scene.devnet.fund(&address, Amount::from_sat(250_000)).unwrap();
    scene.devnet.mine(1);
    wait_until("the old phone sees its funds", DEFAULT_WAIT, || {
        rt.block_on(phone.sync()).is_ok() && phone.balances().unwrap().onchain_confirmed_sat > 0
    });
    rt.block_on(phone.stop()).unwrap();
    drop(phone);

    // The phone is lost; the same phrase on a new one.
    let new_phone_dir = tempfile::tempdir().unwrap();
    let (restored, _) = start_phone(&scene, new_phone_dir.path(), &rt);
    assert_eq!(restored.node_id().unwrap(), node_id, "the node id comes from the seed");
    wait_until("the restored wallet finds the funds", DEFAULT_WAIT, || {
        rt.block_on(restored.sync()).is_ok()
            && restored.balances().unwrap().onchain_confirmed_sat == 250_000
    });
    rt.block_on(restored.stop()).unwrap();
}

#[test]
fn a_send_replaced_by_another_wallet_on_the_seed_ends_failed() {
    let scene = Scene::new();
    scene.devnet.state().set_fee_rates(2.0, &[(1, 60.0), (6, 2.0)]);
    let rt = runtime();
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old, _) = start_phone(&scene, old_dir.path(), &rt);
    let address = old.new_onchain_address().unwrap();
    let address = address.parse::<Address<_>>().unwrap().assume_checked();
    scene.devnet.fund_confirmed(&address, Amount::from_sat(200_000)).unwrap();
    scene.devnet.mine(1);
    // Both wallets know the coin before either spends it.
    let (new, _) = start_phone(&scene, new_dir.path(), &rt);
    for wallet in [&old, &new] {
        wait_until("the wallet sees its coin", DEFAULT_WAIT, || {
            rt.block_on(wallet.sync()).is_ok()
                && wallet.balances().unwrap().onchain_spendable_sat == 200_000
        });
    }
    let to = address_elsewhere().to_string();
    let slow = rt
        .block_on(old.send_onchain(&to, Some(50_000), Some(OnchainFee::Rate { sat_per_vb: 2 })))
        .unwrap();
    // The other wallet, not synced since, spends the same coin at a rate that replaces it.
    let fast = rt
        .block_on(new.send_onchain(&to, Some(60_000), Some(OnchainFee::Rate { sat_per_vb: 40 })))
        .unwrap();
    assert_ne!(slow, fast);
    let status = |txid: &str| {
        let payments = old.list_payments().unwrap();
        payments.into_iter().find(|p| p.txid.as_deref() == Some(txid)).map(|p| p.status)
    };
    rt.block_on(old.sync()).unwrap();
    assert_eq!(status(&slow), Some(PaymentStatus::Pending), "replaced, but not yet confirmed");

    // Once the replacement is 6 blocks deep, the replaced send cannot confirm any more.
    scene.devnet.mine(6);
    wait_until("the replaced send ends failed", DEFAULT_WAIT, || {
        rt.block_on(old.sync()).is_ok()
            && status(&slow) == Some(PaymentStatus::Failed)
            && status(&fast) == Some(PaymentStatus::Succeeded)
    });
    let balances = old.balances().unwrap();
    assert_eq!(balances.pending_sat, 0, "nothing is left pending: {balances:?}");
    for wallet in [old, new] {
        rt.block_on(wallet.stop()).unwrap();
    }
}
