"""The parts of the API that need no network: recovery phrases, typed errors, configuration,
a wallet that is not running, and the library's metadata."""

import asyncio

import pytest

from conftest import MNEMONIC


def test_generate_mnemonic_gives_12_or_24_valid_words(doze):
    twelve = doze.generate_mnemonic(doze.WordCount.WORDS12)
    twenty_four = doze.generate_mnemonic(doze.WordCount.WORDS24)
    assert len(twelve.split()) == 12 and len(twenty_four.split()) == 24
    assert doze.parse_mnemonic(twelve) == twelve
    assert doze.generate_mnemonic(doze.WordCount.WORDS12) != twelve


def test_parse_mnemonic_normalises_case_and_whitespace(doze):
    messy = "  ABANDON abandon\tabandon abandon abandon abandon\nabandon abandon abandon abandon abandon About "
    assert doze.parse_mnemonic(messy) == MNEMONIC


@pytest.mark.parametrize(
    "phrase, variant, words",
    [
        ("abandon " * 11, "WrongWordCount", ["12 or 24 words", "11"]),
        (MNEMONIC.replace("abandon", "abandn", 1), "UnknownWord", ["word 1 "]),
        ("abandon " * 12, "BadChecksum", ["checksum"]),
    ],
)
def test_bad_mnemonics_raise_typed_errors_with_messages(doze, phrase, variant, words):
    with pytest.raises(doze.MnemonicError) as raised:
        doze.parse_mnemonic(phrase)
    assert isinstance(raised.value, getattr(doze.MnemonicError, variant))
    for word in words:
        assert word in str(raised.value)
    assert "abandn" not in str(raised.value), "a mistyped word is never echoed"


def _config(doze, storage_dir, url="http://127.0.0.1:9", lsp=None):
    return doze.WalletConfig(
        network=doze.Network.REGTEST,
        storage_dir=storage_dir,
        chain_source=doze.ChainSource.ESPLORA(url=url),
        lsp=lsp,
        rgs_url=None,
        background_sync=False,
    )


def test_wallet_new_refuses_a_bad_phrase_and_a_bad_config(doze, tmp_path):
    with pytest.raises(doze.WalletError.InvalidMnemonic) as raised:
        doze.Wallet(_config(doze, str(tmp_path)), "abandon " * 12, None)
    assert "checksum" in str(raised.value)
    with pytest.raises(doze.WalletError.InvalidConfig) as raised:
        doze.Wallet(_config(doze, ""), MNEMONIC, None)
    assert "storage_dir" in str(raised.value)
    bad_lsp = doze.LspConfig(node_id="not-a-key", address="127.0.0.1:9735", token=None, api_url=None)
    with pytest.raises(doze.WalletError.InvalidConfig) as raised:
        doze.Wallet(_config(doze, str(tmp_path), lsp=bad_lsp), MNEMONIC, None)
    assert "lsp.node_id" in str(raised.value)


def test_record_defaults(doze, tmp_path):
    config = doze.WalletConfig(
        network=doze.Network.REGTEST, storage_dir=str(tmp_path), chain_source=doze.ChainSource.ESPLORA(url="http://x")
    )
    assert config.lsp is None and config.rgs_url is None and config.background_sync is True
    lsp = doze.LspConfig(node_id="02" + "11" * 32, address="127.0.0.1:9735")
    assert lsp.token is None and lsp.api_url is None


def test_a_wallet_that_is_not_running_says_so_in_every_area(doze, tmp_path):
    wallet = doze.Wallet(_config(doze, str(tmp_path)), MNEMONIC)  # passphrase defaults to None
    assert wallet.state() == doze.LifecycleState.CREATED
    with pytest.raises(doze.WalletError.NotRunning):
        wallet.node_id()
    with pytest.raises(doze.WalletError.NotRunning):
        wallet.balances()
    with pytest.raises(doze.ReceiveError.NotRunning):
        wallet.new_onchain_address()
    with pytest.raises(doze.WalletError.NotRunning):
        asyncio.run(wallet.stop())
    with pytest.raises(doze.WalletError.NotRunning):
        wallet.stop_blocking()
    with pytest.raises(doze.ReceiveError.NotRunning):
        asyncio.run(wallet.receive_bolt11(1000, "x", 60))
    assert wallet.cached_offer() is None


def test_input_errors_come_before_the_node_is_needed(doze, tmp_path):
    wallet = doze.Wallet(_config(doze, str(tmp_path)), MNEMONIC)
    with pytest.raises(doze.SendError.InvalidInvoice) as raised:
        asyncio.run(wallet.pay_bolt11("lnbcrt1notaninvoice", None))
    assert "invoice" in str(raised.value)
    with pytest.raises(doze.SendError.InvalidAddress):
        asyncio.run(wallet.send_onchain("not-an-address", 1000))
    with pytest.raises(doze.ReceiveError.InvalidAmount):
        asyncio.run(wallet.receive_bolt11(0, "zero", 60))
    with pytest.raises(doze.PushError.NoLsp):
        asyncio.run(wallet.register_for_push("app", doze.PushTarget.WEBHOOK(url="http://127.0.0.1:9/hook")))


G = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"


def test_a_push_without_an_lsp_or_with_a_forged_payload_is_refused(doze, tmp_path):
    wallet = doze.Wallet(_config(doze, str(tmp_path / "a")), MNEMONIC)
    with pytest.raises(doze.PushError.NoLsp):
        wallet.handle_push_blocking(b"{}", {}, 2000)
    lsp = doze.LspConfig(node_id=G, address="127.0.0.1:9")
    wallet = doze.Wallet(_config(doze, str(tmp_path / "b"), lsp=lsp), MNEMONIC)
    with pytest.raises(doze.PushError.InvalidPush) as raised:
        wallet.handle_push_blocking(b"{}", {"x-lsps5-timestamp": "2020-01-01T00:00:00.000Z"}, 2000)
    assert "x-lsps5-signature" in str(raised.value)
    headers = {"x-lsps5-timestamp": "2020-01-01T00:00:00.000Z", "x-lsps5-signature": "abc"}
    with pytest.raises(doze.PushError.InvalidPush) as raised:
        asyncio.run(wallet.handle_push(b"{}", headers, 2000))
    assert "expired" in str(raised.value)
    assert wallet.state() == doze.LifecycleState.CREATED, "nothing started for a refused push"


def test_version(doze):
    assert doze.doze_version().count(".") == 2


def test_parse_reads_addresses_node_ids_and_refuses_with_typed_errors(doze):
    mainnet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    request = doze.parse(f"bitcoin:{mainnet.upper()}?amount=0.001&label=coffee", doze.Network.BITCOIN)
    assert request.is_on_chain()
    assert (request.address, request.amount_sat, request.label) == (mainnet, 100_000, "coffee")
    with pytest.raises(doze.ParseError.WrongNetwork) as raised:
        doze.parse(mainnet, doze.Network.REGTEST)
    assert "regtest" in str(raised.value)
    keysend = doze.parse(G, doze.Network.REGTEST)
    assert keysend.is_keysend() and keysend.node_id == G
    with pytest.raises(doze.ParseError.Empty):
        doze.parse("   ", doze.Network.REGTEST)
    with pytest.raises(doze.ParseError.UnknownFormat):
        doze.parse("hello", doze.Network.REGTEST)
    with pytest.raises(doze.ParseError.InvalidInvoice):
        doze.parse("lnbcrt1garbage", doze.Network.REGTEST)
