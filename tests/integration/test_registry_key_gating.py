"""Keys are never a trap: anchors wait for their signing key, key jobs go in order and are never
refused for timing, and what fails for good is loud. Real anvil, SQLite and PostgreSQL.

The rule the verifier applies: a key validates a credential only if it was registered at or
before the anchor's block (validFrom ≤ anchoredAt). So every anchor of hashes signed by a key
must land in a block at or after that key's registerIssuer / addKey block.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.core.db import transaction
from services.registry import service
from services.registry.app import create_app
from services.registry.models import AccountState, Anchor, ChainAccount, ChainJob, ItemState, JobKind, JobState
from services.registry.schemas import AnchorsIn, IssuerCreate, KeyRotate
from tests.integration.test_registry_worker import Harness


def _h() -> str:
    return "0x" + os.urandom(32).hex()


class KeyHarness(Harness):
    """The worker harness, plus keys: issuers created without running the worker, rotations, reads."""

    def new_issuer(self, issuer_id: str = "iss_k") -> tuple[str, str]:
        key = _h()
        with transaction(self.sessions) as s:
            read, _ = service.create_issuer(s, self.settings, self.owner.address, IssuerCreate(
                issuer_id=issuer_id, did=f"did:web:example.org:issuers:{issuer_id}", public_key=key))
        self.accounts.append(read.address)
        return read.address, key

    def queue_signed(self, hashes: list[str], public_key: str | None, issuer_id: str = "iss_k"):
        with transaction(self.sessions) as s:
            return service.queue_anchors(s, AnchorsIn(issuer_id=issuer_id, hashes=hashes, public_key=public_key))

    def rotate(self, issuer_id: str = "iss_k", **body):
        with transaction(self.sessions) as s:
            return service.rotate_key(s, self.owner.address, issuer_id, KeyRotate(**body))

    def jobs(self, kind: JobKind | None = None) -> list[ChainJob]:
        with self.sessions() as s:
            query = select(ChainJob).order_by(ChainJob.id)
            if kind is not None:
                query = query.where(ChainJob.kind == kind)
            return list(s.scalars(query))

    def state_of(self, hashes: list[str]) -> set[ItemState]:
        anchors = self.anchors()
        return {anchors[h][0].state for h in hashes}

    def chain_keys(self, address: str) -> dict[str, tuple[int, int, bool]]:
        """publicKey -> (validFrom, validUntil, compromised), read from the contract."""
        return {"0x" + bytes(k[0]).hex(): (k[1], k[2], k[3])
                for k in self.chain.contract.functions.issuerKeys(address).call()}

    def anchored_at(self, h: str) -> tuple[int, int]:
        """(anchoredAt, blockNumber) of the root holding ``h``, read from the contract."""
        root = self.receipt(h).root
        _by, at, block = self.chain.contract.functions.anchorOf(root).call()
        assert at > 0, f"root of {h} not on chain"
        return at, block

    def key_block(self, job_kind: JobKind, public_key: str) -> int:
        (job,) = [j for j in self.jobs(job_kind) if j.payload["publicKey"] == public_key and j.state != JobState.failed]
        return job.block_number

    def ticks(self, worker, n: int, mine: bool = False) -> None:
        for _ in range(n):
            worker.tick(force_cut=True)
            if mine:
                self.chain.mine(1)
            time.sleep(0.02)


@pytest.fixture
def keys(chain, database_url, tmp_path):
    h = KeyHarness(chain, database_url, tmp_path)
    yield h
    h.engine.dispose()


@pytest.fixture
def keys2(chain, database_url, tmp_path):
    """Two confirmations: a transaction mined but not yet confirmed can be watched."""
    h = KeyHarness(chain, database_url, tmp_path, confirmations=2)
    yield h
    h.engine.dispose()


def _active(h: KeyHarness, issuer_id: str = "iss_k") -> bool:
    with h.sessions() as s:
        return s.scalar(select(ChainAccount.state).where(ChainAccount.issuer_id == issuer_id)) == AccountState.active


def test_hashes_queued_before_the_registration_confirms_anchor_only_after_it(keys2):
    h = keys2
    address, first = h.new_issuer()
    signed = [_h() for _ in range(8)]
    h.queue_signed(signed, first)  # at once: the registration is not even sent yet
    worker = h.worker()
    worker.tick(force_cut=True)  # registerIssuer mined: one confirmation of two
    assert h.chain.contract.functions.issuer(address).call()[2] > 0
    h.ticks(worker, 3)
    assert h.state_of(signed) == {ItemState.queued}
    assert [j for j in h.jobs(JobKind.anchor)] == []
    h.chain.mine(1)  # the registration's second confirmation

    def done() -> bool:
        h.chain.mine(1)
        return h.state_of(signed) == {ItemState.confirmed}

    h.settle(worker, done)
    valid_from = h.chain_keys(address)[first][0]
    anchored_at, anchor_block = h.anchored_at(signed[0])
    assert anchored_at >= valid_from
    assert anchor_block > h.key_block(JobKind.register_issuer, first)
    assert len({h.receipt(x).root for x in signed}) == 1


def test_hashes_of_a_new_key_wait_for_its_add_key_and_the_old_keys_do_not(keys2):
    h = keys2
    address, first = h.new_issuer()
    worker = h.worker()
    h.settle(worker, lambda: (h.chain.mine(1), _active(h))[1])
    new = _h()
    h.rotate(public_key=new, retire=first)
    by_new, by_old = [_h() for _ in range(8)], [_h() for _ in range(3)]
    h.queue_signed(by_new, new)  # the very second of the rotation
    h.queue_signed(by_old, first)
    worker.tick(force_cut=True)  # addKey mined, not confirmed; the old key's hashes go already
    assert h.chain_keys(address)[new][1] == 0
    assert h.state_of(by_new) == {ItemState.queued}
    assert h.state_of(by_old) == {ItemState.submitted}

    def done() -> bool:
        h.chain.mine(1)
        return h.state_of(by_new + by_old) == {ItemState.confirmed}

    h.settle(worker, done)
    on_chain = h.chain_keys(address)
    anchored_at, anchor_block = h.anchored_at(by_new[0])
    assert anchored_at >= on_chain[new][0]
    assert anchor_block > h.key_block(JobKind.add_key, new)
    assert h.receipt(by_new[0]).root != h.receipt(by_old[0]).root
    # the old key was retired at its block time, after its registration: nothing refused
    assert on_chain[first][1] >= on_chain[first][0] and on_chain[first][2] is False
    assert [j for j in h.jobs() if j.state == JobState.failed] == []


def test_ten_rotations_in_quick_succession_retire_every_key_on_chain(keys):
    h = keys
    address, first = h.new_issuer()
    chain_of_keys = [first]
    given: dict[str, int] = {}
    for i in range(10):  # before the registration is even sent
        new = _h()
        # issuers send the second they stopped signing by their own clock (kept as given, even
        # before the key's registration block); rotations queued by older issuers send none (the block time)
        extra = {"retire_at": int(time.time())} if i % 2 else {}
        if extra:
            given[chain_of_keys[-1]] = extra["retire_at"]
        h.rotate(public_key=new, retire=chain_of_keys[-1], **extra)
        chain_of_keys.append(new)
        h.queue_signed([_h()], new)
    worker = h.worker()
    key_jobs = lambda: [j for j in h.jobs() if j.kind in (JobKind.register_issuer, JobKind.add_key, JobKind.retire_key)]

    def mined_one_block_per_pass() -> bool:
        h.chain.mine(1)
        return all(j.state == JobState.confirmed for j in key_jobs())

    # No automine: sent transactions wait in the pool for the next block, as on a real chain, so a
    # retireKey sent before its addKey is mined would be estimated against a chain without the key.
    h.chain.rpc("evm_setAutomine", False)
    try:
        h.settle(worker, mined_one_block_per_pass, passes=80)
    finally:
        h.chain.rpc("evm_setAutomine", True)
    assert [j for j in h.jobs() if j.state == JobState.failed] == []
    on_chain = h.chain_keys(address)
    assert list(on_chain) == chain_of_keys
    for key in chain_of_keys[:-1]:
        valid_from, valid_until, compromised = on_chain[key]
        assert valid_from > 0 and compromised is False
        assert valid_until == given[key] if key in given else valid_until >= valid_from
        assert h.key_block(JobKind.retire_key, key) > h.key_block(
            JobKind.register_issuer if key == first else JobKind.add_key, key)
    assert on_chain[chain_of_keys[-1]][1] == 0  # the current key stays valid
    # applied in the order they were asked for
    blocks = [j.block_number for j in key_jobs()]
    assert blocks == sorted(blocks) and len(set(blocks)) == len(blocks)
    h.settle(worker, h.all_confirmed)
    for a, _job in h.anchors().values():
        assert h.anchored_at(a.hash)[0] >= on_chain[a.public_key][0]


def test_a_compromise_dated_before_the_keys_registration_reaches_the_chain_as_given(keys):
    h = keys
    address, first = h.new_issuer()
    worker = h.worker()
    h.settle(worker, lambda: _active(h))
    registered = h.chain_keys(address)[first][0]
    second, third = _h(), _h()
    h.rotate(public_key=second, retire=first, compromised=True, retire_at=registered - 100)
    # the new key is found leaked at once, "since it was created" (the issuer's clock, before its addKey block)
    h.rotate(public_key=third, retire=second, compromised=True, retire_at=registered)
    h.settle(worker, lambda: all(j.state in (JobState.confirmed, JobState.failed) for j in h.jobs()))
    assert [j for j in h.jobs() if j.state == JobState.failed] == []
    on_chain = h.chain_keys(address)
    assert on_chain[first] == (registered, registered - 100, True)
    assert on_chain[second][1:] == (registered, True) and on_chain[second][0] >= registered
    assert on_chain[third][1] == 0
    valid_at = h.chain.contract.functions.keyValidAt
    for key in (first, second):
        for t in (registered - 100, registered, on_chain[second][0], on_chain[second][0] + 10):
            assert not valid_at(address, key, t).call()


def test_a_repeated_rotation_delivery_queues_nothing_twice(keys):
    h = keys
    _address, first = h.new_issuer()
    new = _h()
    for _ in range(3):
        read = h.rotate(public_key=new, retire=first)
    assert [j.kind for j in h.jobs()][-2:] == [JobKind.add_key, JobKind.retire_key]
    assert len(h.jobs(JobKind.add_key)) == 1 and len(h.jobs(JobKind.retire_key)) == 1
    assert h.jobs(JobKind.retire_key)[0].payload["validUntil"] == 0
    assert [k.public_key for k in read.keys] == [first, new]
    assert {k.state for k in read.keys} == {"queued"} and read.keys[0].retirement.state == "queued"


# ------------------------------------------------------------------ loud failures, over HTTP

TOKEN = "t" * 32


@pytest.fixture
def api(keys):
    with TestClient(create_app(keys.settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def test_a_failed_job_turns_health_red_until_acknowledged(keys, api, caplog):
    h = keys
    address, first = h.new_issuer()
    worker = h.worker()
    h.settle(worker, lambda: _active(h))
    assert api.get("/api/v1/chain").json()["healthy"] is True
    unknown = _h()
    h.rotate(retire=unknown)  # a key this account never had: KeyNotFound
    with caplog.at_level(logging.ERROR, logger="microcred.registry.worker"):
        h.settle(worker, lambda: any(j.state == JobState.failed for j in h.jobs()))
    (failed,) = [j for j in h.jobs() if j.state == JobState.failed]
    assert failed.kind == JobKind.retire_key and "KeyNotFound" in failed.last_error
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"job {failed.id}" in m and "iss_k" in m and "KeyNotFound" in m for m in logged), logged

    status = api.get("/api/v1/chain").json()
    assert status["healthy"] is False and status["chainReachable"] is True
    assert status["failedJobs"] == 1 and status["unacknowledgedFailedJobs"] == 1
    (listed,) = status["recentFailedJobs"]
    assert listed["id"] == failed.id and listed["kind"] == "retire_key" and listed["issuer_id"] == "iss_k"
    assert listed["account"] == address and "KeyNotFound" in listed["error"] and listed["failedAt"]
    assert any("acknowledge" in p for p in status["problems"])
    assert [j["id"] for j in api.get("/api/v1/jobs", params={"unacknowledged": True}).json()] == [failed.id]

    r = api.post(f"/api/v1/jobs/{failed.id}/acknowledge")
    assert r.status_code == 200 and r.json()["acknowledgedAt"]
    status = api.get("/api/v1/chain").json()
    assert status["healthy"] is True and status["failedJobs"] == 1 and status["unacknowledgedFailedJobs"] == 0
    assert status["recentFailedJobs"] == []
    assert api.post(f"/api/v1/jobs/{failed.id + 1000}/acknowledge").status_code == 404
    api.headers.pop("Authorization")
    assert api.post(f"/api/v1/jobs/{failed.id}/acknowledge").status_code == 401


def test_hashes_of_a_key_whose_registration_failed_stay_queued_loudly_until_retried(keys, api, caplog):
    h = keys
    address, first = h.new_issuer()
    worker = h.worker()
    h.settle(worker, lambda: _active(h))
    new = _h()
    h.rotate(public_key=new, retire=first)
    (add,) = h.jobs(JobKind.add_key)
    with transaction(h.sessions) as s:  # as if the contract had refused it for good
        worker._fail(s, s.get(ChainJob, add.id), "KeyAlreadyRegistered(test)")
    signed = [_h() for _ in range(4)]
    h.queue_signed(signed, new)
    with caplog.at_level(logging.ERROR, logger="microcred.registry.worker"):
        h.ticks(worker, 3)
    assert h.state_of(signed) == {ItemState.queued}
    assert any("stay queued" in r.getMessage() and new in r.getMessage() for r in caplog.records)
    # the retirement of the old key waited for nothing failed; it went
    assert h.chain_keys(address)[first][1] > 0

    issuer = api.get("/api/v1/issuers/iss_k").json()
    states = {k["public_key"]: k for k in issuer["keys"]}
    assert states[first]["state"] == "confirmed" and states[first]["valid_from"] == h.chain_keys(address)[first][0]
    assert states[first]["retirement"]["state"] == "confirmed"
    assert states[new]["state"] == "failed" and "KeyAlreadyRegistered" in states[new]["error"]
    assert states[new]["anchors_waiting"] == 4
    status = api.get("/api/v1/chain").json()
    assert status["healthy"] is False
    assert [(w["public_key"], w["state"], w["anchors_waiting"]) for w in status["anchorsWaitingForKeys"]] == [
        (new, "failed", 4)]

    assert api.post(f"/api/v1/jobs/{add.id}/retry").status_code == 200
    h.settle(worker, lambda: h.state_of(signed) == {ItemState.confirmed})
    assert h.anchored_at(signed[0])[0] >= h.chain_keys(address)[new][0]
    status = api.get("/api/v1/chain").json()
    assert status["healthy"] is True and status["anchorsWaitingForKeys"] == []
    states = {k["public_key"]: k for k in api.get("/api/v1/issuers/iss_k").json()["keys"]}
    assert states[new]["state"] == "confirmed" and states[new]["anchors_waiting"] == 0
    # an anchor job is not retried: its hashes went back to the queue already
    with transaction(h.sessions) as s:
        job = s.scalar(select(ChainJob).where(ChainJob.kind == JobKind.anchor))
        worker._fail(s, job, "test")
    assert api.post(f"/api/v1/jobs/{job.id}/retry").status_code == 409


def test_hashes_without_a_key_are_anchored_as_before(keys):
    h = keys
    h.new_issuer()
    worker = h.worker()
    h.settle(worker, lambda: _active(h))
    old_style = [_h() for _ in range(3)]
    h.queue_signed(old_style, None)
    h.settle(worker, lambda: h.state_of(old_style) == {ItemState.confirmed})
    with h.sessions() as s:
        assert {a.public_key for a in s.scalars(select(Anchor))} == {None}
