"""Faults with the real parts: the chain stops, the worker dies mid-batch. Nothing lost, nothing twice.

Each test runs its own anvil (with a state file, so it can be stopped and started again),
the registry API and worker as separate processes, and talks to them over HTTP.
"""

from __future__ import annotations

import os

import httpx
import pytest
from web3 import HTTPProvider, Web3

from services.core.contract import ABI
from services.devchain.anvil import DEV_KEYS, Anvil
from services.devchain.deploy import deploy_registry
from services.ops.processes import free_port
from tests.support.stack import SERVICE_TOKEN, make_stack, wait_for

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def net(tmp_path):
    anvil = Anvil(port=free_port(), state_path=tmp_path / "chain" / "state.json", log_path=tmp_path / "anvil.log")
    anvil.start()
    w3 = Web3(HTTPProvider(anvil.rpc_url))
    address = deploy_registry(w3, DEV_KEYS[0])
    yield anvil, address
    anvil.stop()


@pytest.fixture
def stack(net, tmp_path):
    anvil, address = net
    s = make_stack(tmp_path / "stack", anvil.rpc_url, address, 31337, services=["registry"])
    yield s
    s.close()


def _hashes(n: int) -> list[str]:
    return ["0x" + os.urandom(32).hex() for _ in range(n)]


def _create_issuer(stack) -> str:
    r = httpx.post(f"{stack.url('registry')}/api/v1/issuers", headers=AUTH, json={
        "issuer_id": "iss_faults", "did": "did:web:example.org:issuers:faults", "public_key": _hashes(1)[0]})
    assert r.status_code == 201, r.text
    wait_for(lambda: httpx.get(f"{stack.url('registry')}/api/v1/issuers/iss_faults", headers=AUTH)
             .json()["state"] == "active", what="issuer registration")
    return r.json()["address"]


def _queue(stack, hashes) -> None:
    r = httpx.post(f"{stack.url('registry')}/api/v1/anchors", headers=AUTH,
                   json={"issuer_id": "iss_faults", "hashes": hashes})
    assert r.status_code == 202, r.text


def _all_confirmed(stack) -> bool:
    """One question instead of thousands: is anything still waiting to be confirmed?"""
    try:
        return httpx.get(f"{stack.url('registry')}/api/v1/chain").json()["unconfirmedAnchors"] == 0
    except httpx.HTTPError:
        return False


def _assert_each_anchored_exactly_once(rpc_url: str, contract: str, stack, hashes: list[str]) -> None:
    """Every hash's receipt points at a root the chain holds, and no root on chain is extra."""
    w3 = Web3(HTTPProvider(rpc_url))
    registry = w3.eth.contract(address=contract, abi=ABI)
    roots_on_chain = ["0x" + bytes(e["args"]["root"]).hex() for e in registry.events.RootAnchored.get_logs(from_block=0)]
    assert len(roots_on_chain) == len(set(roots_on_chain))
    with httpx.Client(base_url=stack.url("registry")) as client:
        receipts = [client.get(f"/api/v1/anchors/{h}").json() for h in hashes]
    used_roots = {r["root"] for r in receipts}
    assert used_roots == set(roots_on_chain), "a root on chain that no receipt uses means a hash went out twice"
    leaf_count = sum(e["args"]["leafCount"] for e in registry.events.RootAnchored.get_logs(from_block=0))
    assert leaf_count == len(hashes)
    assert {r["state"] for r in receipts} == {"confirmed"}
    for r in receipts[:: max(1, len(receipts) // 100)]:  # a sample: each is an eth_call
        assert registry.functions.verifyInclusion(r["root"], r["proof"], r["hash"]).call()


def test_chain_down_while_hashes_are_queued_loses_nothing_and_anchors_nothing_twice(net, stack):
    anvil, contract = net
    stack.start("registry-worker")
    _create_issuer(stack)
    anvil.stop()  # state is dumped on a clean stop
    hashes = _hashes(300)
    for chunk in (hashes[:100], hashes[100:]):
        _queue(stack, chunk)  # the API accepts work with the chain down
    status = httpx.get(f"{stack.url('registry')}/api/v1/chain").json()
    assert status["healthy"] is False and status["unconfirmedAnchors"] == 300
    import time
    time.sleep(3)  # the worker fails its passes meanwhile, and must survive them
    assert stack.procs["registry-worker"].alive()
    anvil.start()
    wait_for(lambda: _all_confirmed(stack), timeout=60, what="anchoring after the chain came back")
    _assert_each_anchored_exactly_once(anvil.rpc_url, contract, stack, hashes)


@pytest.mark.parametrize("crash_at", ["after_cut", "after_sign", "after_send"])
def test_worker_killed_mid_batch_then_restarted_anchors_each_hash_exactly_once(net, stack, crash_at):
    anvil, contract = net
    stack.start("registry-worker")
    _create_issuer(stack)
    stack.stop("registry-worker")
    hashes = _hashes(120)
    _queue(stack, hashes)
    doomed = stack.start("registry-worker", {"MICROCRED_TEST_CRASH_AT": crash_at})
    wait_for(lambda: not doomed.alive(), timeout=30, what=f"the worker to die at {crash_at}")
    assert doomed.popen.returncode == 86, doomed.log_tail()
    stack.procs.pop("registry-worker", None)
    # The dead worker's lease must lapse before another may send for the account.
    stack.start("registry-worker")
    wait_for(lambda: _all_confirmed(stack), timeout=90, what="every hash confirmed after the restart")
    _assert_each_anchored_exactly_once(anvil.rpc_url, contract, stack, hashes)


def test_worker_sigkilled_repeatedly_under_load_still_anchors_each_hash_once(net, stack):
    import random
    import time

    anvil, contract = net
    small_batches = {"MICROCRED_ANCHOR_MAX_LEAVES": "40"}  # ~50 transactions: kills land mid-stream
    stack.start("registry-worker", small_batches)
    _create_issuer(stack)
    hashes = _hashes(2000)
    for i in range(0, len(hashes), 500):
        _queue(stack, hashes[i:i + 500])
    for _ in range(4):
        time.sleep(random.uniform(0.3, 1.2))
        stack.kill("registry-worker")
        stack.start("registry-worker", small_batches)
    assert not _all_confirmed(stack), "the kills should interrupt work in progress"
    wait_for(lambda: _all_confirmed(stack), timeout=120, what="anchoring after repeated kills")
    _assert_each_anchored_exactly_once(anvil.rpc_url, contract, stack, hashes)
