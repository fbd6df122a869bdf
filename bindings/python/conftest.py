"""Fixtures for the Python suite: the generated `doze` module and the devnet scene.

Environment:
  DOZE_BINDINGS_PY   directory holding the generated doze.py and libdoze.so
                     (default: $CARGO_TARGET_DIR/bindings/python)
  DOZE_TEST_SCENE    the doze-test-scene binary (default: $CARGO_TARGET_DIR/debug/examples/doze-test-scene)
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import urllib.request

import pytest

_target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache" / "doze-target"))
_bindings = pathlib.Path(os.environ.get("DOZE_BINDINGS_PY", _target / "bindings" / "python"))
sys.path.insert(0, str(_bindings))

SCENE_BIN = pathlib.Path(os.environ.get("DOZE_TEST_SCENE", _target / "debug" / "examples" / "doze-test-scene"))

# A fixed test phrase (never used for real funds).
MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
WAIT = 90.0


class SceneClient:
    """The running doze-test-scene: its JSON description plus its control API."""

    def __init__(self, info: dict, process: subprocess.Popen):
        self.info = info
        self.process = process

    def call(self, path: str, body: dict | None = None, timeout: float = 120.0) -> dict:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(
            self.info["control_url"] + path, data=data, headers={"content-type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def merchant_pays(self, bolt11: str) -> bool:
        answer = self.call("/merchant/pay", {"bolt11": bolt11})
        return bool(answer["paid"])

    def merchant_invoice(self, amount_msat: int) -> dict:
        return self.call("/merchant/invoice", {"amount_msat": amount_msat})

    def merchant_status(self, payment_hash: str) -> str:
        return self.call("/merchant/received", {"payment_hash": payment_hash})["status"]

    def mine(self, blocks: int = 1) -> int:
        return self.call("/mine", {"blocks": blocks})["height"]

    def lsp_push(self) -> tuple[bytes, dict]:
        """A push notification signed by the scene's LSP, as its dispatcher sends it."""
        push = self.call("/lsp/push")
        headers = {"x-lsps5-timestamp": push["timestamp"], "x-lsps5-signature": push["signature"]}
        return bytes.fromhex(push["payload_hex"]), headers

    def config(self, doze, storage_dir: str, max_jit_fee_msat: int | None = None):
        return doze.WalletConfig(
            network=doze.Network.REGTEST,
            storage_dir=storage_dir,
            chain_source=doze.ChainSource.ESPLORA(url=self.info["esplora_url"]),
            lsp=doze.LspConfig(
                node_id=self.info["lsp_node_id"],
                address=self.info["lsp_address"],
                token=None,
                api_url=self.info["lsp_api_url"],
            ),
            max_jit_fee_msat=max_jit_fee_msat,
            rgs_url=None,
            background_sync=False,
            name_resolution=self.name_resolution(doze),
        )

    def name_resolution(self, doze):
        """The scene's DoH server, and `shop.test`'s Lightning Addresses at its LNURL server
        (plain http to loopback: allowed on regtest only)."""
        if "lnurl_base_url" not in self.info:
            return None
        return doze.NameResolutionConfig(
            doh_url=self.info["doh_url"],
            timeout_secs=10,
            domain_routes=[doze.DomainRoute(domain="shop.test", base_url=self.info["lnurl_base_url"])],
        )

    def esplora(self, path: str) -> dict:
        """A GET of the devnet's Esplora API (e.g. `/tx/<txid>`)."""
        with urllib.request.urlopen(self.info["esplora_url"] + path, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def doze():
    import doze as module  # the generated bindings

    return module


def _start_scene(*args: str):
    if not SCENE_BIN.exists():
        pytest.fail(f"{SCENE_BIN} is missing: ./scripts/build")
    process = subprocess.Popen([str(SCENE_BIN), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        pytest.fail(f"doze-test-scene exited with {process.returncode} before it was ready")
    return SceneClient(json.loads(line), process)


def _stop_scene(client: SceneClient):
    client.process.stdin.close()  # the scene stops when its stdin closes
    try:
        client.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        client.process.kill()


@pytest.fixture(scope="session")
def scene():
    client = _start_scene()
    yield client
    _stop_scene(client)


@pytest.fixture(scope="module")
def fee_scene():
    """The plain scene with an LSP that charges for JIT channels (`jit_fee_ppm`,
    `jit_min_fee_msat` in its info)."""
    client = _start_scene("--lsp-fees")
    yield client
    _stop_scene(client)


@pytest.fixture(scope="module")
def async_scene():
    """The async-payment scene: sender ── LSP-B ══ LSP-A, the wallet's LSP being LSP-A."""
    client = _start_scene("--async")
    yield client
    _stop_scene(client)


class Recorder:
    """An EventListener that records events and lets a test wait for one."""

    def __init__(self):
        self.events = []
        self.changed = threading.Condition()

    def on_event(self, event):
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, what, timeout: float = WAIT):
        with self.changed:
            found = self.changed.wait_for(lambda: next((e for e in self.events if what(e)), None), timeout)
        assert found is not None, f"no matching event within {timeout}s; got {self.events}"
        return found


class LogCollector:
    """A LogListener that keeps every record."""

    def __init__(self):
        self.entries = []
        self.lock = threading.Lock()

    def log(self, entry):
        with self.lock:
            self.entries.append(entry)


def wait_until(what: str, condition, timeout: float = WAIT, pause: float = 0.1):
    import time

    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting until {what}"
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
