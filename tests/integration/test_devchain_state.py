"""The embedded chain's state file: a restart loses nothing the services read, and stays small.

Real anvil processes with ``state_path`` (what ``make run`` starts). The long-run figures
(10,000 blocks) are bench/devchain.py's; here a short chain proves the properties.
"""

from __future__ import annotations

import os

import pytest
from web3 import HTTPProvider, Web3

from services.core.contract import ABI
from services.devchain.anvil import Anvil
from services.devchain.deploy import DEV_ADDRESSES, OPERATOR_KEY, deploy_registry

OWNER, ISSUER = DEV_ADDRESSES[0], DEV_ADDRESSES[1]


def _wait(w3: Web3, tx) -> dict:
    return w3.eth.wait_for_transaction_receipt(tx, timeout=60, poll_latency=0.01)


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "chain" / "state.json"


def _build(anvil: Anvil) -> dict:
    w3 = Web3(HTTPProvider(anvil.rpc_url))
    address = deploy_registry(w3, OPERATOR_KEY)
    registry = w3.eth.contract(address=address, abi=ABI)
    _wait(w3, registry.functions.registerIssuer(ISSUER, "did:web:state.example", b"\x22" * 32).transact({"from": OWNER}))
    roots, txs = [], []
    for _ in range(5):
        root = os.urandom(32)
        txs.append(registry.functions.anchorRoot(root, 3).transact({"from": ISSUER}))
        _wait(w3, txs[-1])
        roots.append(root)
        w3.provider.make_request("anvil_mine", [hex(50)])
    revoked = os.urandom(32)
    _wait(w3, registry.functions.revoke(revoked).transact({"from": ISSUER}))
    return {"w3": w3, "registry": registry, "roots": roots, "txs": txs, "revoked": revoked,
            "head": w3.eth.block_number, "records": [registry.functions.anchorOf(r).call() for r in roots]}


def _assert_intact(chain: dict) -> None:
    w3, registry = chain["w3"], chain["registry"]
    assert w3.eth.block_number == chain["head"]
    assert w3.eth.get_code(registry.address)
    assert [registry.functions.anchorOf(r).call() for r in chain["roots"]] == chain["records"]
    assert registry.functions.revokedAt(ISSUER, chain["revoked"]).call() > 0
    assert registry.functions.issuer(ISSUER).call()[0] == "did:web:state.example"
    for tx in chain["txs"]:
        receipt = w3.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1 and w3.eth.get_block(receipt["blockNumber"])["hash"] == receipt["blockHash"]
    assert len(registry.events.RootAnchored.get_logs(from_block=0)) == len(chain["roots"])
    # nonces carried over: a new transaction from the same account goes through
    assert _wait(w3, registry.functions.anchorRoot(os.urandom(32), 1).transact({"from": ISSUER}))["status"] == 1


def test_a_restarted_chain_keeps_blocks_receipts_logs_and_records(state_path):
    anvil = Anvil(state_path=state_path)
    assert "--preserve-historical-states" not in anvil.argv() and "--prune-history" in anvil.argv()
    with anvil:
        chain = _build(anvil)
    size = state_path.stat().st_size
    assert size < 2_000_000, f"{size} bytes for {chain['head']} blocks: whole states per block are back"
    with Anvil(port=anvil.port, state_path=state_path):
        _assert_intact(chain)
        # the latest state answers; nothing here needs an older block's state after a restart
        assert chain["registry"].functions.anchorOf(chain["roots"][0]).call(block_identifier="latest")


def test_a_state_file_cut_short_by_a_crash_is_replaced_by_the_last_good_one(state_path):
    anvil = Anvil(state_path=state_path, log_path=state_path.parent / "anvil.log")
    with anvil:
        chain = _build(anvil)
    with Anvil(port=anvil.port, state_path=state_path, log_path=anvil.log_path):
        pass  # this start loads the file, finds it good and keeps a copy
    assert anvil.good_copy.exists()
    data = state_path.read_bytes()
    state_path.write_bytes(data[: len(data) // 2])  # what a SIGKILL in the middle of a dump leaves
    with Anvil(port=anvil.port, state_path=state_path, log_path=anvil.log_path):
        _assert_intact(chain)
    assert list(state_path.parent.glob("state.json.broken-*")), "the cut file is kept for a look"
    assert "restored the last good copy" in anvil.log_path.read_text()


def test_the_state_file_is_written_when_the_chain_moves_and_never_while_it_is_idle(state_path):
    """Dumps follow changes (services/devchain/anvil.py): a new block is on file within a few
    seconds, without a stop, so even a chain killed outright keeps it; an idle chain's file is
    not rewritten at all (anvil's own periodic dump rewrote the whole chain every 2 s)."""
    import time

    anvil = Anvil(state_path=state_path, state_interval=1)
    with anvil:
        w3 = Web3(HTTPProvider(anvil.rpc_url))
        assert anvil.dump_if_moved() is False  # nothing happened since it started
        w3.provider.make_request("anvil_mine", [hex(7)])
        head = w3.eth.block_number
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (state_path.exists() and anvil._dumped_head is not None
                                                   and anvil._dumped_head == w3.eth.get_block("latest")["hash"].to_0x_hex()):
            time.sleep(0.2)
        written = state_path.stat().st_mtime_ns
        time.sleep(3.5)
        assert state_path.stat().st_mtime_ns == written, "an idle chain's state file was rewritten"
        anvil.process.kill()  # no dump at a stop
        anvil.process.wait(10)
    with Anvil(port=anvil.port, state_path=state_path) as again:
        assert Web3(HTTPProvider(again.rpc_url)).eth.block_number == head
