//! Doze as the payer of an async payment (the design's seed 004, the sender's side): a Doze
//! phone behind LSP-B pays the offer of a Doze phone behind LSP-A that is offline. The payer's
//! HTLC is held at its own LSP, and the payer's process goes away too. The recipient's LSP
//! pushes; a fresh `doze wake` releases the HTLC and takes the payment. At its next start the
//! payer hears `PaymentSent` (its LSP hands the preimage over as the channel reestablishes) and
//! its history shows the payment succeeded, once.

use std::sync::Arc;
use std::time::Duration;

use doze_core::{PaymentDirection, PaymentStatus, Wallet, WalletConfig, WalletEventKind};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_lsp::Observers;
use doze_testkit::phone::wallet_config;
use doze_testkit::{AsyncScene, PhoneScene, Recorder};
use ldk_node::lightning_invoice::Bolt11Invoice;

const PAYER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";
const FUNDS_MSAT: u64 = 80_000_000;
const AMOUNT_MSAT: u64 = 17_000_000;

/// Builds and starts the payer's wallet (its own recovery phrase) with a recorder.
fn start_payer(config: &WalletConfig, phone: &PhoneScene) -> (Wallet, Arc<Recorder>) {
    let payer = Wallet::new(config.clone(), PAYER_MNEMONIC, None)
        .unwrap_or_else(|e| panic!("the payer's wallet builds: {e}"));
    let recorder = Recorder::new();
    payer.set_event_listener(recorder.clone());
    phone.rt.block_on(payer.start()).unwrap_or_else(|e| panic!("the payer starts: {e}"));
    (payer, recorder)
}

#[test]
fn a_doze_phone_pays_an_offline_doze_phone_goes_offline_and_sees_it_paid_at_its_next_start() {
    let doze = std::path::Path::new(env!("CARGO_BIN_EXE_doze"));
    let (phone, webhook, offer) = PhoneScene::start_offline(doze, Observers::new());
    let scene = &phone.scene;

    // The payer: its own LSP (LSP-B), a channel from it opened just in time for its first
    // sats (from the scene's sender), and the graph to reach LSP-A.
    let payer_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let payer_config = wallet_config(&phone.devnet, &scene.lsp_b, payer_dir.path());
    let (payer, recorder) = start_payer(&payer_config, &phone);
    let funds = phone
        .rt
        .block_on(payer.receive_bolt11(Some(FUNDS_MSAT), "funds".into(), 3600))
        .unwrap_or_else(|e| panic!("the payer's invoice: {e}"));
    assert!(funds.via_jit_channel, "the payer's first channel comes from LSP-B");
    let invoice: Bolt11Invoice = funds.bolt11.parse().unwrap_or_else(|e| panic!("{e:?}"));
    scene.sender.bolt11_payment().send(&invoice, None).unwrap_or_else(|e| panic!("{e}"));
    let lsp_a = scene.lsp_a.node_id().to_string();
    wait_until("the payer can spend and knows LSP-A", Duration::from_secs(120), || {
        phone.rt.block_on(payer.sync()).is_ok()
            && payer
                .balances()
                .is_ok_and(|b| b.lightning_spendable_sat > 50_000 && b.pending_sat == 0)
            && payer.knows_node(&lsp_a).unwrap_or(false)
    });

    // It pays the offline phone's offer: the HTLC is held at LSP-B, and the payer goes away.
    let pushes = webhook.received().len();
    let quote = payer
        .prepare_send(&offer.to_string(), Some(AMOUNT_MSAT), None)
        .unwrap_or_else(|e| panic!("the payer's quote: {e}"));
    assert!(quote.payable(), "{quote:?}");
    let payment_id =
        phone.rt.block_on(payer.send(quote)).unwrap_or_else(|e| panic!("the payer sends: {e}"));
    scene.wait_for_held_htlcs_at_lsp_b(1, DEFAULT_WAIT);
    let payer_id = payer.node_id().unwrap_or_else(|e| panic!("{e}"));
    phone.rt.block_on(payer.stop()).unwrap_or_else(|e| panic!("the payer stops: {e}"));
    drop(payer);
    let payer_id = payer_id.parse().unwrap_or_else(|e| panic!("{e}"));
    AsyncScene::wait_until_offline_at(&scene.lsp_b, payer_id, DEFAULT_WAIT);

    // The recipient's LSP pushes; a fresh wake releases the held HTLC and is paid.
    let push = webhook
        .wait_for(pushes + 1, Duration::from_secs(60))
        .pop()
        .unwrap_or_else(|| panic!("no push for the payment"));
    let (outcome, log) = phone.wake(&push, "info");
    assert_eq!(outcome["ended"], "Paid", "{outcome}\n{log}");
    assert_eq!(outcome["payments"][0]["amount_msat"], AMOUNT_MSAT, "{outcome}");

    // The payer's next start: its LSP hands the preimage over, the app hears it was paid.
    drop(recorder);
    let (payer, recorder) = start_payer(&payer_config, &phone);
    let event = recorder.wait_for(DEFAULT_WAIT, |e| match &e.kind {
        WalletEventKind::PaymentSent { payment_id: id, .. }
        | WalletEventKind::PaymentFailed { payment_id: id, .. } => *id == payment_id,
        _ => false,
    });
    assert!(matches!(event.kind, WalletEventKind::PaymentSent { .. }), "{event:?}");
    let history = payer.list_payments().unwrap_or_else(|e| panic!("the payer's history: {e}"));
    let rows: Vec<_> = history.iter().filter(|p| p.id == payment_id).collect();
    assert_eq!(rows.len(), 1, "the payment once in the payer's history: {history:?}");
    assert_eq!(rows[0].direction, PaymentDirection::Outbound);
    assert_eq!(rows[0].status, PaymentStatus::Succeeded, "{:?}", rows[0]);
    assert_eq!(rows[0].amount_msat, Some(AMOUNT_MSAT));
    phone.rt.block_on(payer.stop()).unwrap_or_else(|e| panic!("the payer stops: {e}"));
}
