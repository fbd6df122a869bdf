//! A restore without a backup server: the recovery phrase on an empty storage directory brings
//! back the node id and the on-chain funds (both come from the seed), and nothing else. What a
//! backup adds is issue #12's remote store.

use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Scene};
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
