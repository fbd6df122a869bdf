"""A real wallet on the devnet, driven through the generated Python bindings: created from a
recovery phrase, started, paid 50 000 sat through the LSP (a just-in-time channel) by a merchant,
paying the merchant back, its history, events in the listener, typed errors, push
registration, pause/resume (the app's trip to the background) and stop/restart. The tests of this module share one wallet and run in order;
the fee tests at the end use wallets of their own."""

import asyncio
import re

import pytest

from conftest import MNEMONIC, LogCollector, Recorder, wait_until

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def logs(doze):
    collector = LogCollector()
    # Only the first call in a process installs the listener.
    doze.init_logging(doze.LogLevel.INFO, collector)
    return collector


@pytest.fixture(scope="module")
def phone(doze, scene, logs, tmp_path_factory):
    storage = tmp_path_factory.mktemp("phone")
    wallet = doze.Wallet(scene.config(doze, str(storage)), MNEMONIC, None)
    recorder = Recorder()
    wallet.set_event_listener(recorder)
    asyncio.run(wallet.start())
    yield wallet, recorder, storage
    if wallet.state() == doze.LifecycleState.RUNNING:
        wallet.stop_blocking()


def test_started_wallet_is_running_and_empty(doze, phone, logs):
    wallet, _, _ = phone
    assert wallet.state() == doze.LifecycleState.RUNNING
    assert re.fullmatch(r"0[23][0-9a-f]{64}", wallet.node_id())
    balances = wallet.balances()
    assert (balances.lightning_spendable_sat, balances.onchain_confirmed_sat) == (0, 0)
    assert wallet.list_payments() == []
    assert any("wallet started" in e.message for e in logs.entries), "logs reach the LogListener"
    assert all(isinstance(e.level, doze.LogLevel) for e in logs.entries)


def test_starting_twice_or_from_a_second_wallet_is_refused(doze, scene, phone):
    wallet, _, storage = phone
    with pytest.raises(doze.WalletError.AlreadyRunning):
        asyncio.run(wallet.start())
    second = doze.Wallet(scene.config(doze, str(storage)), MNEMONIC)
    with pytest.raises(doze.WalletError.StorageLocked) as raised:
        second.start_blocking()
    assert "locked" in str(raised.value)


def test_receive_50k_sat_through_the_lsp(doze, scene, phone):
    wallet, recorder, _ = phone
    invoice = asyncio.run(wallet.receive_bolt11(50_000_000, "first sats", 3600))
    assert invoice.via_jit_channel, "no channel yet: the LSP opens one"
    assert invoice.amount_msat == 50_000_000 and invoice.bolt11.startswith("lnbcrt")
    assert scene.merchant_pays(invoice.bolt11)
    received = recorder.wait_for(lambda e: e.kind.is_payment_received())
    assert received.kind.amount_msat == 50_000_000
    assert received.kind.payment_hash == invoice.payment_hash
    assert received.id == f"payment-received:{received.kind.payment_id}"
    recorder.wait_for(lambda e: e.kind.is_channel_ready())
    wait_until("the received sats are spendable", lambda: wallet.balances().lightning_spendable_sat > 45_000)
    assert wallet.balances().lightning_inbound_sat > 0


def test_receive_errors_are_typed(doze, phone):
    wallet, _, _ = phone
    with pytest.raises(doze.ReceiveError.InvalidAmount):
        asyncio.run(wallet.receive_bolt11(0, "nothing", 3600))
    with pytest.raises(doze.ReceiveError.InvalidAmount):
        asyncio.run(wallet.receive_bolt11(1000, "no time", 0))


def test_pay_a_merchant_invoice(doze, scene, phone):
    wallet, recorder, _ = phone
    invoice = scene.merchant_invoice(20_000_000)
    payment_id = asyncio.run(wallet.pay_bolt11(invoice["bolt11"], None))
    sent = recorder.wait_for(lambda e: e.kind.is_payment_sent() and e.kind.payment_id == payment_id)
    assert sent.id == f"payment-sent:{payment_id}"
    assert sent.kind.payment_hash == invoice["payment_hash"]
    wait_until("the merchant has it", lambda: scene.merchant_status(invoice["payment_hash"]) == "succeeded")
    with pytest.raises(doze.SendError.DuplicatePayment):
        asyncio.run(wallet.pay_bolt11(invoice["bolt11"], None))


def test_send_errors_are_typed(doze, scene, phone):
    wallet, _, _ = phone
    with pytest.raises(doze.SendError.InvalidInvoice):
        asyncio.run(wallet.pay_bolt11("lnbcrt1garbage", None))
    other = scene.merchant_invoice(1_000_000)["bolt11"]
    with pytest.raises(doze.SendError.InvalidAmount) as raised:
        asyncio.run(wallet.pay_bolt11(other, 2_000_000))
    assert "1000000 msat" in str(raised.value)
    with pytest.raises(doze.SendError.InsufficientFunds):
        asyncio.run(wallet.send_onchain(wallet.new_onchain_address(), 100_000_000))
    mainnet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    with pytest.raises(doze.SendError.WrongNetwork) as raised:
        asyncio.run(wallet.send_onchain(mainnet, 1000))
    assert "mainnet" in str(raised.value) and "regtest" in str(raised.value)


def test_history_lists_both_payments(doze, phone):
    wallet, _, _ = phone
    wait_until(
        "both payments settled",
        lambda: sum(p.status == doze.PaymentStatus.SUCCEEDED for p in wallet.list_payments()) == 2,
    )
    history = wallet.list_payments()
    inbound = [p for p in history if p.direction == doze.PaymentDirection.INBOUND]
    outbound = [p for p in history if p.direction == doze.PaymentDirection.OUTBOUND]
    assert [p.kind for p in inbound] == [doze.PaymentKind.BOLT11_JIT]
    assert [(p.kind, p.amount_msat) for p in outbound] == [(doze.PaymentKind.BOLT11, 20_000_000)]
    assert all(p.payment_hash and len(p.payment_hash) == 64 for p in history)
    assert history == sorted(history, key=lambda p: p.created_at_secs, reverse=True)


def test_history_pages(doze, phone):
    wallet, _, _ = phone
    page = wallet.list_payments_page(doze.PaymentFilter(), None, 50)
    assert isinstance(page.payments, list)
    outbound = wallet.list_payments_page(doze.PaymentFilter(direction=doze.PaymentDirection.OUTBOUND), None, 50)
    assert all(p.direction == doze.PaymentDirection.OUTBOUND for p in outbound.payments)


def test_sync_reports_in_the_listener(doze, scene, phone):
    wallet, recorder, _ = phone
    scene.mine(1)
    asyncio.run(wallet.sync())
    recorder.wait_for(lambda e: e.kind.is_sync_started())
    recorder.wait_for(lambda e: e.kind.is_sync_completed())


def test_a_listener_that_raises_breaks_nothing(doze, scene, tmp_path):
    class Raising(Recorder):
        def on_event(self, event):
            super().on_event(event)
            raise RuntimeError("the app's listener fails")

    wallet = doze.Wallet(scene.config(doze, str(tmp_path / "raising")), "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong")
    listener = Raising()
    wallet.set_event_listener(listener)
    wallet.start_blocking()
    asyncio.run(wallet.sync())  # SyncStarted/SyncCompleted go to the raising listener
    asyncio.run(wallet.sync())
    assert sum(e.kind.is_sync_completed() for e in listener.events) == 2, "delivery goes on"
    wallet.stop_blocking()


def test_concurrent_async_calls_share_one_event_loop(doze, phone):
    wallet, _, _ = phone

    async def both():
        return await asyncio.gather(
            wallet.receive_bolt11(1_000_000, "a", 600), wallet.receive_bolt11(None, "any amount", 600)
        )

    fixed, open_amount = asyncio.run(both())
    assert fixed.amount_msat == 1_000_000 and open_amount.amount_msat is None
    assert not fixed.via_jit_channel, "the JIT channel has room now"


def test_push_registration_reaches_the_lsp_and_its_refusals_are_typed(doze, scene, phone):
    wallet, _, _ = phone
    # The LSP checks the signed request and the target: a webhook must be http(s).
    with pytest.raises(doze.PushError.RegistrationFailed) as raised:
        asyncio.run(wallet.register_for_push("doze-python-tests", doze.PushTarget.WEBHOOK(url="ftp://127.0.0.1/push")))
    assert "http" in str(raised.value)
    with pytest.raises(doze.PushError.InvalidConfig):
        asyncio.run(wallet.register_for_push("", doze.PushTarget.WEBHOOK(url="http://127.0.0.1:9/push")))
    with pytest.raises(doze.PushError.OfferNotReady):
        asyncio.run(wallet.receive_offer(200))
    assert wallet.cached_offer() is None


def test_a_forged_push_is_refused_while_running(doze, phone):
    wallet, _, _ = phone
    headers = {"x-lsps5-timestamp": "2020-01-01T00:00:00.000Z", "x-lsps5-signature": "00"}
    with pytest.raises(doze.PushError.InvalidPush):
        wallet.handle_push_blocking(b'{"jsonrpc":"2.0","method":"lsps5.onion_message_incoming","params":{}}', headers, 5000)
    assert wallet.state() == doze.LifecycleState.RUNNING


def test_parse_and_quote_then_send(doze, scene, phone):
    wallet, recorder, _ = phone
    invoice = scene.merchant_invoice(5_000_000)
    request = doze.parse(invoice["bolt11"].upper(), doze.Network.REGTEST)
    assert request.is_bolt11()
    assert (request.amount_msat, request.payment_hash) == (5_000_000, invoice["payment_hash"])
    assert request.payee_pubkey == scene.info["merchant_node_id"]

    quote = wallet.prepare_send(invoice["bolt11"], None, None)
    assert quote.blocker is None and quote.amount_msat == 5_000_000 and quote.fee_cap_msat >= 10_000
    assert quote.request.is_bolt11() and quote.request.payment_hash == invoice["payment_hash"]
    too_much = wallet.prepare_send(scene.merchant_invoice(900_000_000)["bolt11"], None, None)
    assert too_much.blocker is not None and too_much.blocker.is_insufficient_balance()
    assert too_much.blocker.available_msat < 900_000_000
    with pytest.raises(doze.SendError.InsufficientFunds) as raised:
        asyncio.run(wallet.send(too_much))
    assert "sat available" in str(raised.value)
    with pytest.raises(doze.SendError.InvalidRequest):
        wallet.prepare_send("hello", None, None)

    payment_id = asyncio.run(wallet.send(quote))
    recorder.wait_for(lambda e: e.kind.is_payment_sent() and e.kind.payment_id == payment_id)
    wait_until("the merchant has it", lambda: scene.merchant_status(invoice["payment_hash"]) == "succeeded")


def test_a_lightning_address_is_quoted_then_paid(doze, scene, phone):
    wallet, recorder, _ = phone
    assert doze.parse("₿alice@shop.test", doze.Network.REGTEST).is_name()
    terms = wallet.prepare_send("alice@shop.test", None, None)
    assert terms.blocker is not None and terms.blocker.is_amount_required()
    assert terms.request.is_lnurl_pay()
    recipient = terms.recipient
    assert recipient.name == "alice@shop.test"
    assert recipient.method == doze.ResolutionMethod.LIGHTNING_ADDRESS
    assert (recipient.min_sendable_msat, recipient.max_sendable_msat) == (1_000, 100_000_000)
    assert recipient.description == "Pay alice at the test shop"

    quote = wallet.prepare_send("₿alice@shop.test", 3_000_000, None)
    assert quote.blocker is None and quote.amount_msat == 3_000_000
    assert quote.request.is_bolt11() and quote.recipient.name == "alice@shop.test"
    payment_id = asyncio.run(wallet.send(quote))
    recorder.wait_for(lambda e: e.kind.is_payment_sent() and e.kind.payment_id == payment_id)
    wait_until("the merchant has it", lambda: scene.merchant_status(quote.request.payment_hash) == "succeeded")

    with pytest.raises(doze.SendError.NameResolution) as raised:
        wallet.prepare_send("nobody@shop.test", 3_000_000, None)
    assert "no payment record" in str(raised.value)


def test_a_push_while_the_app_holds_the_wallet_returns_at_once(doze, scene, phone):
    wallet, _, storage = phone
    extension = doze.Wallet(scene.config(doze, str(storage)), MNEMONIC)
    payload, headers = scene.lsp_push()
    outcome = extension.handle_push_blocking(payload, headers, 20_000)
    assert outcome.ended == doze.WakeEnd.APP_HOLDS_WALLET
    assert outcome.payments == [] and outcome.timings.node_started_ms is None
    assert wallet.state() == doze.LifecycleState.RUNNING


def test_pause_lets_go_of_the_wallet_and_resume_brings_it_back(doze, scene, phone):
    # What an app does when it goes to the background and comes back (iOS kills a suspended
    # app that holds a lock in a shared container: 0xdead10cc).
    wallet, _, storage = phone
    before = wallet.list_payments()
    asyncio.run(wallet.pause())
    assert wallet.state() == doze.LifecycleState.PAUSED
    with pytest.raises(doze.WalletError.Paused) as raised:
        wallet.node_id()
    assert "resume()" in str(raised.value)
    with pytest.raises(doze.SendError.Paused):
        asyncio.run(wallet.pay_bolt11(scene.merchant_invoice(1_000)["bolt11"], None))
    assert wallet.list_payments() == before, "the history stays readable"
    wallet.pause_blocking()  # a second pause does nothing
    # While the app is paused, the extension can take the wallet.
    extension = doze.Wallet(scene.config(doze, str(storage)), MNEMONIC)
    payload, headers = scene.lsp_push()
    outcome = extension.handle_push_blocking(payload, headers, 20_000)
    assert outcome.ended == doze.WakeEnd.NOTHING_PENDING, outcome
    del extension
    asyncio.run(wallet.resume())
    assert wallet.state() == doze.LifecycleState.RUNNING
    assert wallet.list_payments() == before
    wallet.resume_blocking()  # a running wallet stays as it is
    assert wallet.state() == doze.LifecycleState.RUNNING


def test_stop_then_restart_blocking_keeps_the_history(doze, scene, phone):
    wallet, _, _ = phone
    before = wallet.list_payments()
    asyncio.run(wallet.stop())
    assert wallet.state() == doze.LifecycleState.STOPPED
    with pytest.raises(doze.WalletError.NotRunning):
        wallet.node_id()
    with pytest.raises(doze.SendError.NotRunning):
        asyncio.run(wallet.pay_bolt11(scene.merchant_invoice(1_000)["bolt11"], None))
    wallet.start_blocking()
    assert wallet.state() == doze.LifecycleState.RUNNING
    assert wallet.list_payments() == before
    wallet.stop_blocking()
    assert wallet.state() == doze.LifecycleState.STOPPED


def test_a_signed_push_wakes_the_stopped_wallet_and_a_replay_is_refused(doze, scene, phone):
    wallet, _, storage = phone
    assert wallet.state() == doze.LifecycleState.STOPPED
    # As a notification extension would: a fresh Wallet object, the async call.
    extension = doze.Wallet(scene.config(doze, str(storage)), MNEMONIC)
    payload, headers = scene.lsp_push()
    outcome = asyncio.run(extension.handle_push(payload, headers, 20_000))
    assert outcome.ended == doze.WakeEnd.NOTHING_PENDING, outcome
    assert outcome.payments == [] and outcome.notification_text
    assert outcome.dedup_key.startswith("push:")
    assert outcome.timings.lsp_connected_ms is not None and outcome.timings.total_ms < 15_000
    assert extension.state() == doze.LifecycleState.STOPPED
    with pytest.raises(doze.PushError.InvalidPush) as raised:
        extension.handle_push_blocking(payload, headers, 20_000)
    assert "replayed" in str(raised.value)


def test_channels_are_listed_and_a_cooperative_close_brings_the_balance_on_chain(doze, scene, phone):
    wallet, recorder, _ = phone
    wallet.start_blocking()
    wait_until(
        "the channel is usable",
        lambda: any(c.state.is_usable() for c in wallet.list_channels()),
    )
    [channel] = wallet.list_channels()
    assert channel.outbound_sat > 0 and channel.inbound_sat > 0
    assert channel.capacity_sat >= channel.outbound_sat + channel.inbound_sat
    before = wallet.balances()
    assert before.lightning_sat >= channel.outbound_sat + channel.reserve_sat
    with pytest.raises(doze.WalletError.UnknownChannel):
        asyncio.run(wallet.close_channel("00" * 32))
    asyncio.run(wallet.close_channel(channel.channel_id))
    wait_until("the channel is gone", lambda: wallet.list_channels() == [])
    closed = recorder.wait_for(
        lambda e: e.kind.is_channel_closed() and e.kind.channel_id == channel.channel_id
    )
    assert closed.kind.close_kind == doze.ChannelCloseKind.COOPERATIVE

    def total(b):
        return b.lightning_sat + b.onchain_confirmed_sat + b.onchain_unconfirmed_sat + b.pending_sat

    def on_chain():
        scene.mine(1)
        asyncio.run(wallet.sync())
        after = wallet.balances()
        # The LSP pays the closing fee: every sat comes back, none is counted twice.
        assert total(after) == total(before), (before, after)
        return after.onchain_confirmed_sat == before.onchain_confirmed_sat + before.lightning_sat

    wait_until("the channel's balance is on-chain", on_chain)
    received = [p for p in wallet.list_payments() if p.kind == doze.PaymentKind.ONCHAIN]
    assert [p.amount_msat for p in received] == [before.lightning_sat * 1000]
    wallet.stop_blocking()


def test_a_restore_on_a_new_phone_has_the_same_node_id_and_on_chain_funds(doze, scene, phone, tmp_path):
    wallet, _, _ = phone
    wallet.start_blocking()
    node_id, onchain = wallet.node_id(), wallet.balances().onchain_confirmed_sat
    wallet.stop_blocking()
    assert onchain > 0
    restored = doze.Wallet(scene.config(doze, str(tmp_path)), MNEMONIC, None)
    asyncio.run(restored.start())
    assert restored.node_id() == node_id

    def found():
        asyncio.run(restored.sync())
        return restored.balances().onchain_confirmed_sat == onchain

    wait_until("the restored wallet finds the on-chain funds", found)
    restored.stop_blocking()


# Its own phrase: its own node and its own keyspace on the backup server.
BACKUP_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"


def test_a_backed_up_wallet_is_restored_with_its_channel_and_the_old_phone_is_refused(doze, scene, tmp_path):
    def backed_up(path):
        config = scene.config(doze, str(path))
        config.backup = doze.BackupConfig(url=scene.info["backup_url"])
        return config

    old = doze.Wallet(backed_up(tmp_path / "old"), BACKUP_MNEMONIC, None)
    recorder = Recorder()
    old.set_event_listener(recorder)
    old.start_blocking()
    invoice = asyncio.run(old.receive_bolt11(30_000_000, "backed up", 3600))
    assert scene.merchant_pays(invoice.bolt11)
    recorder.wait_for(lambda e: e.kind.is_payment_received())
    wait_until(
        "the channel settles",
        lambda: old.balances().lightning_spendable_sat > 0 and old.balances().pending_sat == 0,
    )
    node_id, channels, spendable = old.node_id(), old.list_channels(), old.balances().lightning_spendable_sat
    old.stop_blocking()

    # The phone is lost; the phrase goes into a new one, with the same backup.
    new = doze.Wallet(backed_up(tmp_path / "new"), BACKUP_MNEMONIC, None)
    new.start_blocking()
    assert new.node_id() == node_id
    assert [c.channel_id for c in new.list_channels()] == [c.channel_id for c in channels]
    assert new.balances().lightning_spendable_sat == spendable
    assert [p.amount_msat for p in new.list_payments()] == [30_000_000]
    new.stop_blocking()

    # The old phone, found again, must not run the same channel.
    with pytest.raises(doze.WalletError.WalletMoved) as refused:
        old.start_blocking()
    assert "another device" in str(refused.value)


# A regtest address nobody in these tests owns (BIP173's test program).
ELSEWHERE = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def test_a_jit_channel_fee_is_shown_before_sharing_and_capped(doze, fee_scene, tmp_path):
    ppm, min_fee = int(fee_scene.info["jit_fee_ppm"]), int(fee_scene.info["jit_min_fee_msat"])
    amount = 150_000_000
    fee = max(min_fee, -(-amount * ppm // 1_000_000))  # 1 %, rounded up: 1 500 sat
    mnemonic = doze.generate_mnemonic(doze.WordCount.WORDS12)
    storage = str(tmp_path / "jit")

    capped = doze.Wallet(fee_scene.config(doze, storage, max_jit_fee_msat=1_000_000), mnemonic)
    capped.start_blocking()
    terms = asyncio.run(capped.jit_fee_terms())
    assert (terms.min_fee_msat, terms.proportional_ppm) == (min_fee, ppm)
    with pytest.raises(doze.ReceiveError.JitFeeTooHigh) as raised:
        asyncio.run(capped.receive_bolt11(amount, "too dear", 3600))
    assert str(raised.value) == "the LSP asks 1,500 sat to open a channel for this payment; your limit is 1,000 sat"
    capped.stop_blocking()

    wallet = doze.Wallet(fee_scene.config(doze, storage, max_jit_fee_msat=fee), mnemonic)
    recorder = Recorder()
    wallet.set_event_listener(recorder)
    wallet.start_blocking()
    assert wallet.list_payments() == [], "the refusal created nothing"
    invoice = asyncio.run(wallet.receive_bolt11(amount, "coffee", 3600))
    assert invoice.via_jit_channel and invoice.lsp_fee_msat == fee
    assert fee_scene.merchant_pays(invoice.bolt11)
    received = recorder.wait_for(lambda e: e.kind.is_payment_received())
    assert received.kind.amount_msat == amount - fee, "the LSP took what it quoted"
    wallet.stop_blocking()


def test_an_onchain_send_pays_the_chosen_fee_rate(doze, scene, tmp_path):
    wallet = doze.Wallet(scene.config(doze, str(tmp_path / "onchain")), doze.generate_mnemonic(doze.WordCount.WORDS12))
    wallet.start_blocking()
    estimates = asyncio.run(wallet.onchain_fee_estimates())
    assert estimates.next_block_sat_per_vb >= estimates.one_hour_sat_per_vb >= estimates.economy_sat_per_vb >= 1
    scene.call("/fund", {"address": wallet.new_onchain_address(), "amount_sat": 200_000})
    scene.mine(1)

    def funded():
        asyncio.run(wallet.sync())
        return wallet.balances().onchain_spendable_sat == 200_000

    wait_until("the wallet's funds confirm", funded)
    with pytest.raises(doze.SendError.InvalidFeeRate) as raised:
        asyncio.run(wallet.send_onchain(ELSEWHERE, 10_000, doze.OnchainFee.RATE(sat_per_vb=0)))
    assert "below 1 sat/vB" in str(raised.value)

    txid = asyncio.run(wallet.send_onchain(ELSEWHERE, 50_000, doze.OnchainFee.RATE(sat_per_vb=6)))
    tx = scene.esplora(f"/tx/{txid}")
    rate = tx["fee"] * 4 / tx["weight"]  # sat per vbyte of weight, as the wallet prices it
    assert abs(rate - 6) < 0.06, f"paid {tx['fee']} sat for {tx['weight']} WU: {rate:.3f} sat/vB"
    wallet.stop_blocking()
