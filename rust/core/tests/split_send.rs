//! One balance, many channels: a phone with three channels to its LSP, none large enough
//! alone, pays a BOLT 12 offer and a BOLT11 invoice for more than any one channel holds; a
//! recipient that cannot take a split payment gets the specific refusal; send max empties the
//! Lightning balance; the history records each payment with its request and attempts.

use doze_core::{PaymentDirection, PaymentFilter, SendBlocker, Wallet};
use doze_devnet::nodes::{wait_until, DEFAULT_WAIT};
use doze_testkit::phone::{assert_paid, largest_channel_msat, start_phone};
use doze_testkit::{runtime, Scene};
use ldk_node::lightning::ln::msgs::SocketAddress;

fn channel_limits(phone: &Wallet) -> (u64, u64) {
    let b = phone.balances().unwrap();
    (b.max_sendable_lightning_sat * 1000, b.lightning_spendable_sat * 1000)
}

#[test]
fn three_channels_to_one_lsp_carry_payments_no_channel_could_alone() {
    let scene = Scene::new();
    let shop = scene.start_shop();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);

    // Channel 1: the JIT channel of the first payment. Channels 2 and 3: the LSP opens them with
    // part of their balance on the phone's side.
    let invoice =
        rt.block_on(phone.receive_bolt11(Some(50_000_000), "first".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    let phone_id: ldk_node::bitcoin::secp256k1::PublicKey =
        phone.node_id().unwrap().parse().unwrap();
    // Already connected: unused.
    let connected = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    // The LSP funds each channel from confirmed coins: confirm the JIT funding first, then each
    // new funding before the next open spends its change.
    assert!(scene.devnet.wait_for_mempool_len(1, DEFAULT_WAIT));
    scene.devnet.mine(1);
    for _ in 0..2 {
        scene.lsp.sync().unwrap();
        scene
            .lsp
            .node()
            .open_channel(phone_id, connected.clone(), 100_000, Some(40_000_000), None)
            .expect("LSP opens a channel");
        assert!(scene.devnet.wait_for_mempool_len(1, DEFAULT_WAIT), "funding broadcast");
        scene.devnet.mine(1);
    }
    scene.devnet.mine(6);
    wait_until("three usable channels", DEFAULT_WAIT, || {
        scene.lsp.sync().is_ok() && rt.block_on(phone.sync()).is_ok() && {
            let b = phone.balances().unwrap();
            b.lightning_spendable_sat > 120_000 && b.pending_sat == 0
        }
    });

    // Keysend cannot be split: enough in total, but no single channel carries it.
    let (total_msat, _) = channel_limits(&phone);
    assert!(largest_channel_msat(&scene.lsp, &phone) < total_msat * 9 / 10);
    let keysend = phone
        .prepare_send(&scene.merchant.node_id().to_string(), Some(total_msat * 9 / 10), None)
        .unwrap();
    assert!(
        matches!(keysend.blocker, Some(SendBlocker::RecipientCannotSplit { .. })),
        "{keysend:?}"
    );
    assert!(keysend.max_sendable_msat < total_msat * 9 / 10);

    // A BOLT 12 offer for 60 000 sat: more than any channel (each holds at most ~49 000 sat).
    assert!(largest_channel_msat(&scene.lsp, &phone) < 60_000_000);
    let offer =
        shop.bolt12_payment().receive(60_000_000, "tea", None, None).expect("offer").to_string();
    let quote = phone.prepare_send(&offer, None, None).unwrap();
    assert!(quote.payable(), "{quote:?}");
    assert!(quote.recipient_accepts_split && quote.max_path_count > 1);
    assert_eq!(quote.fee_cap_msat, 600_000, "1 % of 60 000 sat");
    let id = rt.block_on(phone.send(quote)).unwrap();
    assert_paid(&recorder, &id);
    wait_until("the shop is paid", DEFAULT_WAIT, || {
        shop.list_payments().iter().any(|p| {
            p.direction == ldk_node::payment::PaymentDirection::Inbound
                && p.status == ldk_node::payment::PaymentStatus::Succeeded
                && p.amount_msat == Some(60_000_000)
        })
    });

    // BOLT11 for 50 000 sat: still more than any channel.
    wait_until("the split settles", DEFAULT_WAIT, || phone.balances().unwrap().pending_sat == 0);
    assert!(largest_channel_msat(&scene.lsp, &phone) < 50_000_000);
    let quote = phone.prepare_send(&scene.merchant_invoice(50_000_000), None, None).unwrap();
    assert!(quote.payable(), "{quote:?}");
    assert!(quote.recipient_accepts_split && quote.max_path_count > 1);
    let id = rt.block_on(phone.send(quote)).unwrap();
    assert_paid(&recorder, &id);
    wait_until("the split settles", DEFAULT_WAIT, || phone.balances().unwrap().pending_sat == 0);

    // Send max to an open invoice: nothing spendable is left.
    let max_quote = phone.prepare_send_max(&scene.merchant_open_invoice(), None).unwrap();
    assert!(max_quote.payable() && max_quote.send_max, "{max_quote:?}");
    let id = rt.block_on(phone.send(max_quote)).unwrap();
    assert_paid(&recorder, &id);
    wait_until("the balance is spent", DEFAULT_WAIT, || phone.balances().unwrap().pending_sat == 0);
    let left = phone.balances().unwrap();
    assert!(left.max_sendable_lightning_sat <= 10, "left {left:?}");

    // The history has each payment with its request and attempt.
    let page = phone
        .list_payments_page(
            PaymentFilter {
                direction: Some(PaymentDirection::Outbound),
                ..PaymentFilter::default()
            },
            None,
            50,
        )
        .unwrap();
    assert_eq!(page.payments.len(), 3, "{page:?}");
    assert!(page.payments.iter().any(|p| p.request.as_deref() == Some(offer.as_str())), "{page:?}");
    let attempts = phone.payment_attempts(&id).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "succeeded");
    rt.block_on(phone.stop()).unwrap();
}
