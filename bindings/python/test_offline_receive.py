"""Doze's heart through the Python bindings: a wallet registers for push with its LSP and gets
an offline offer, then stops. A sender behind its own LSP pays the offer; the LSP pushes; a
fresh Wallet object (the notification extension's stand-in) hands the push to handle_push,
which receives the payment and reports it in the WakeOutcome."""

import asyncio

import pytest

from conftest import Recorder, wait_until

pytestmark = pytest.mark.devnet

PHONE_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
AMOUNT_MSAT = 21_000_000


def test_an_offline_wallet_is_pushed_awake_and_paid(doze, async_scene, tmp_path):
    scene = async_scene
    config = scene.config(doze, str(tmp_path / "phone"))

    # The app: a channel from its LSP, the gossip to reach the sender's LSP, a push
    # registration and an offer to show.
    app = doze.Wallet(config, PHONE_MNEMONIC)
    app.set_event_listener(Recorder())
    asyncio.run(app.start())
    phone_id = app.node_id()
    scene.call("/async/open_channel", {"node_id": phone_id, "sats": 200_000})
    wait_until(
        "the wallet's channel is usable and it knows both LSPs",
        lambda: (
            asyncio.run(app.sync()) is None
            and app.balances().lightning_inbound_sat > 0
            and app.knows_node(scene.info["lsp_b_node_id"])
            and app.knows_node(scene.info["lsp_node_id"])
        ),
        timeout=150,
    )
    # As the OfferNotReady message says: stay online and retry. Registering again reconnects
    # to the LSP, which makes LDK build the offer at once instead of on its 60 s timer.
    offer = None
    for attempt in range(3):
        target = doze.PushTarget.WEBHOOK(url=scene.info["webhook_url"])
        registration = asyncio.run(app.register_for_push("doze-python", target))
        assert registration.lsp_node_id == scene.info["lsp_node_id"]
        try:
            offer = asyncio.run(app.receive_offer(60_000))
            break
        except doze.PushError.OfferNotReady:
            if attempt == 2:
                raise
    assert offer.startswith("lno") and app.cached_offer() == offer
    assert doze.parse(offer, doze.Network.REGTEST).is_bolt12_offer()
    app.stop_blocking()
    del app  # the app's process is gone
    scene.call("/async/wait_offline", {"node_id": phone_id})

    # The sender pays while the wallet is offline; the LSP pushes.
    scene.call("/async/pay_offer", {"offer": offer, "amount_msat": AMOUNT_MSAT})
    push = scene.call("/async/wait_push", timeout=180)
    payload = bytes.fromhex(push["payload_hex"])
    headers = {"x-lsps5-timestamp": push["timestamp"], "x-lsps5-signature": push["signature"]}

    extension = doze.Wallet(config, PHONE_MNEMONIC)
    outcome = asyncio.run(extension.handle_push(payload, headers, 25_000))
    assert outcome.ended == doze.WakeEnd.PAID, outcome
    assert [p.amount_msat for p in outcome.payments] == [AMOUNT_MSAT]
    assert outcome.notification_text == "Received 21,000 sats"
    assert outcome.timings.payment_received_ms is not None
    assert outcome.dedup_key.startswith("payment-received:")
    assert extension.state() == doze.LifecycleState.STOPPED
    assert scene.call("/async/sender_outcome")["paid"]

    with pytest.raises(doze.PushError.InvalidPush) as raised:
        extension.handle_push_blocking(payload, headers, 25_000)
    assert "replayed" in str(raised.value)

    inbound = extension.list_payments_page(doze.PaymentFilter(direction=doze.PaymentDirection.INBOUND), None, 10)
    assert any(p.amount_msat == AMOUNT_MSAT for p in inbound.payments), inbound
