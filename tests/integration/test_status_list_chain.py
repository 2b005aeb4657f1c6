"""Status lists through the registry to the chain: real anvil, SQLite and PostgreSQL.

A list is known on chain by (issuer account, list id = keccak256 of its URL) and holds only the
latest list hash. The registry queues every version it is told of and sets only the newest of
each list: updates queued between two passes become one transaction, an older version is never
sent after a newer one, and nothing goes before the issuer's registration is confirmed. The
exactly-once machinery of anchors (sign → commit → broadcast → confirm, adopt an effect already
on chain, re-orgs, a worker replaced mid-way) carries these jobs too.
"""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.core import statuslist
from services.core.db import transaction
from services.core.jsonld import credential_hash
from services.registry import service
from services.registry.app import create_app
from services.registry.models import ChainJob, JobKind, JobState, Lease, StatusListState, StatusListUpdate
from services.registry.schemas import StatusListIn
from services.registry.worker import Worker
from tests.integration.test_registry_key_gating import KeyHarness, _active
from tests.integration.test_registry_worker import LostBroadcastWorker


def _h() -> str:
    return "0x" + os.urandom(32).hex()


def _list_id(url: str) -> str:
    return "0x" + statuslist.list_id(url).hex()


class ListHarness(KeyHarness):
    def queue_list(self, list_id: str, list_hash: str, version: int, issuer_id: str = "iss_k"):
        with transaction(self.sessions) as s:
            return service.queue_status_list(s, StatusListIn(issuer_id=issuer_id, list_id=list_id, hash=list_hash,
                                                             version=version))

    def read(self, list_id: str, issuer_id: str = "iss_k"):
        with self.sessions() as s:
            return service.status_list_state(s, issuer_id, list_id)

    def on_chain(self, address: str, list_id: str) -> tuple[str, int]:
        list_hash, set_at = self.chain.contract.functions.statusListOf(address, list_id).call()
        return "0x" + bytes(list_hash).hex(), set_at

    def set_events(self, address: str, list_id: str | None = None) -> list[dict]:
        """StatusListSet events of ``address`` (optionally of one list), oldest first, with their tx."""
        filters = {"issuer": address} if list_id is None else {"issuer": address, "listId": list_id}
        logs = self.chain.contract.events.StatusListSet.get_logs(from_block=0, argument_filters=filters)
        return [{"listId": "0x" + bytes(e["args"]["listId"]).hex(), "listHash": "0x" + bytes(e["args"]["listHash"]).hex(),
                 "tx": e["transactionHash"].to_0x_hex(), "block": e["blockNumber"]} for e in logs]

    def rows(self) -> dict[tuple[str, int], StatusListUpdate]:
        with self.sessions() as s:
            return {(r.list_id, r.version): r for r in s.scalars(select(StatusListUpdate))}

    def confirmed(self, list_id: str, version: int, issuer_id: str = "iss_k") -> bool:
        read = self.read(list_id, issuer_id)
        return read.version == version and read.state == "confirmed"

    def expire_leases(self) -> None:
        with transaction(self.sessions) as s:
            for lease in s.scalars(select(Lease)):
                lease.expires_at = lease.expires_at.replace(year=2000)

    def active_issuer(self, issuer_id: str = "iss_k") -> str:
        address, _key = self.new_issuer(issuer_id)
        worker = self.worker()
        self.settle(worker, lambda: (self.chain.mine(1), _active(self, issuer_id))[1])
        return address


@pytest.fixture
def lists(chain, database_url, tmp_path):
    h = ListHarness(chain, database_url, tmp_path)
    yield h
    h.engine.dispose()


@pytest.fixture
def lists2(chain, database_url, tmp_path):
    """Two confirmations: the issuer's registration can be mined and still not confirmed."""
    h = ListHarness(chain, database_url, tmp_path, confirmations=2)
    yield h
    h.engine.dispose()


def test_of_three_quick_versions_only_the_newest_reaches_the_chain(lists):
    h = lists
    address = h.active_issuer()
    list_id = _list_id("https://issuer.example/status/iss_k/revocation/1")
    versions = {v: _h() for v in (1, 2, 3)}
    for v, list_hash in versions.items():  # faster than a worker pass
        assert h.queue_list(list_id, list_hash, v).state == "queued"
    assert h.read(list_id).version == 3 and h.read(list_id).state == "queued"
    h.settle(h.worker(), lambda: h.confirmed(list_id, 3))

    read = h.read(list_id)
    assert read.hash == versions[3] and read.txHash and read.blockNumber
    on_chain_hash, set_at = h.on_chain(address, list_id)
    assert on_chain_hash == versions[3]
    block = h.chain.w3.eth.get_block(read.blockNumber)
    assert set_at == block["timestamp"] and read.setAt is not None
    events = h.set_events(address, list_id)
    assert [e["listHash"] for e in events] == [versions[3]]  # v1 and v2 never went
    assert events[0]["tx"] == read.txHash
    rows = h.rows()
    assert [rows[(list_id, v)].state for v in (1, 2, 3)] == [StatusListState.superseded, StatusListState.superseded,
                                                            StatusListState.confirmed]
    assert len(h.jobs(JobKind.status_list)) == 1


def test_updates_of_several_lists_between_passes_go_in_one_transaction(lists):
    h = lists
    address = h.active_issuer()
    revocation = _list_id("https://issuer.example/status/iss_k/revocation/1")
    suspension = _list_id("https://issuer.example/status/iss_k/suspension/1")
    hashes = {revocation: _h(), suspension: _h()}
    h.queue_list(revocation, _h(), 4)
    h.queue_list(revocation, hashes[revocation], 5)
    h.queue_list(suspension, hashes[suspension], 1)
    h.settle(h.worker(), lambda: h.confirmed(revocation, 5) and h.confirmed(suspension, 1))
    events = h.set_events(address)
    assert {e["listId"]: e["listHash"] for e in events} == hashes and len(events) == 2
    assert len({e["tx"] for e in events}) == 1  # one setStatusLists
    (job,) = h.jobs(JobKind.status_list)
    assert len(job.payload["lists"]) == 2
    assert h.read(revocation).txHash == h.read(suspension).txHash == job.tx_hash


def test_a_version_queued_while_another_is_in_flight_follows_it_and_the_latest_wins(lists):
    h = lists
    address = h.active_issuer()
    list_id = _list_id("https://issuer.example/status/iss_k/revocation/2")
    first, second, third = _h(), _h(), _h()
    h.queue_list(list_id, first, 1)
    worker = h.worker()
    h.settle(worker, lambda: h.confirmed(list_id, 1))
    h.queue_list(list_id, second, 2)
    h.queue_list(list_id, third, 3)
    h.settle(worker, lambda: h.confirmed(list_id, 3))
    assert h.on_chain(address, list_id)[0] == third
    assert [e["listHash"] for e in h.set_events(address, list_id)] == [first, third]


def test_a_lower_version_is_accepted_and_never_sent_after_a_newer_one(lists):
    h = lists
    address = h.active_issuer()
    list_id = _list_id("https://issuer.example/status/iss_k/suspension/7")
    newest, late, later = _h(), _h(), _h()
    h.queue_list(list_id, newest, 5)
    assert h.queue_list(list_id, late, 3).state == "superseded"  # before anything was sent
    worker = h.worker()
    h.settle(worker, lambda: h.confirmed(list_id, 5))
    assert h.queue_list(list_id, later, 4).state == "superseded"  # after the newer one is on chain
    for _ in range(3):
        worker.tick(force_cut=True)
    assert h.on_chain(address, list_id)[0] == newest
    assert [e["listHash"] for e in h.set_events(address, list_id)] == [newest]
    read = h.read(list_id)
    assert (read.version, read.hash, read.state) == (5, newest, "confirmed")


def test_a_repeated_version_is_idempotent_and_another_hash_for_it_conflicts(lists):
    from services.core.errors import Conflict

    h = lists
    h.new_issuer()
    list_id, list_hash = _h(), _h()
    h.queue_list(list_id, list_hash, 1)
    assert h.queue_list(list_id, list_hash, 1).state == "queued"
    with pytest.raises(Conflict):
        h.queue_list(list_id, _h(), 1)
    assert len(h.rows()) == 1


def test_an_unregistered_issuers_update_waits_for_the_registration(lists2):
    h = lists2
    address, _key = h.new_issuer()
    list_id, list_hash = _list_id("https://issuer.example/status/iss_k/revocation/1"), _h()
    h.queue_list(list_id, list_hash, 1)  # before the registerIssuer is even sent
    worker = h.worker()
    worker.tick(force_cut=True)  # registerIssuer mined: one confirmation of two
    assert h.chain.contract.functions.issuer(address).call()[2] > 0
    h.ticks(worker, 3)
    assert h.read(list_id).state == "queued"
    assert h.jobs(JobKind.status_list) == []
    assert h.on_chain(address, list_id) == ("0x" + "00" * 32, 0)

    def done() -> bool:
        h.chain.mine(1)
        return h.confirmed(list_id, 1)

    h.settle(worker, done)
    assert h.on_chain(address, list_id)[0] == list_hash
    assert h.read(list_id).blockNumber > h.key_block(JobKind.register_issuer, _key)


class CrashAfterCutWorker(Worker):
    """Cuts its jobs, then "dies" before it signs anything."""

    def _send_pending(self, sender, limit=None):
        return 0


@pytest.mark.parametrize("crash", ["after_cut", "after_sign"])
def test_a_worker_replaced_mid_way_leaves_the_newest_version_on_chain_once(lists, crash):
    h = lists
    address = h.active_issuer()
    list_id = _list_id("https://issuer.example/status/iss_k/revocation/3")
    versions = {v: _h() for v in (1, 2, 3)}
    h.queue_list(list_id, versions[1], 1)
    h.worker(holder="doomed", cls=CrashAfterCutWorker if crash == "after_cut" else LostBroadcastWorker).tick()
    (job,) = h.jobs(JobKind.status_list)
    assert job.state == (JobState.pending if crash == "after_cut" else JobState.sent)
    assert h.set_events(address, list_id) == []
    h.queue_list(list_id, versions[2], 2)
    h.queue_list(list_id, versions[3], 3)
    h.expire_leases()  # the dead worker's lease runs out
    h.settle(h.worker(holder="successor"), lambda: h.confirmed(list_id, 3))
    events = h.set_events(address, list_id)
    assert events[-1]["listHash"] == versions[3] and h.on_chain(address, list_id)[0] == versions[3]
    assert versions[2] not in {e["listHash"] for e in events}
    if crash == "after_cut":
        # the job was never signed: it takes the newest version instead, one transaction in all
        assert [e["listHash"] for e in events] == [versions[3]]
        assert len(h.jobs(JobKind.status_list)) == 1
    else:
        # the signed transaction was committed before the "crash": it is broadcast as it is, once
        assert [e["listHash"] for e in events] == [versions[1], versions[3]]
    assert {j.state for j in h.jobs(JobKind.status_list)} == {JobState.confirmed}


def test_a_reorg_that_drops_the_update_sends_the_newest_version_instead(lists):
    h = lists
    address = h.active_issuer()
    list_id = _list_id("https://issuer.example/status/iss_k/revocation/4")
    before = h.chain.snapshot()
    first, second = _h(), _h()
    h.queue_list(list_id, first, 1)
    worker = h.worker()
    h.settle(worker, lambda: h.confirmed(list_id, 1))
    h.chain.revert(before)  # the block holding setStatusList is gone
    h.chain.mine(3)
    assert h.on_chain(address, list_id)[0] == "0x" + "00" * 32
    h.queue_list(list_id, second, 2)
    h.settle(worker, lambda: h.confirmed(list_id, 2))
    assert h.on_chain(address, list_id)[0] == second
    assert [e["listHash"] for e in h.set_events(address, list_id)] == [second]
    (job,) = h.jobs(JobKind.status_list)  # the same job, re-sent with the newest version
    assert job.payload["lists"] == [{"listId": list_id, "hash": second, "version": 2}]
    assert h.rows()[(list_id, 1)].state == StatusListState.superseded


def test_an_update_already_on_chain_is_adopted_not_sent_again(lists):
    h = lists
    address = h.active_issuer()
    list_id, list_hash = _h(), _h()
    h.queue_list(list_id, list_hash, 1)
    worker = h.worker()
    h.settle(worker, lambda: h.confirmed(list_id, 1))
    tx_hash = h.read(list_id).txHash
    with transaction(h.sessions) as s:  # forget what the worker learnt: the job looks unsent again
        job = s.scalar(select(ChainJob).where(ChainJob.kind == JobKind.status_list))
        job.state, job.tx_hash, job.raw_tx, job.block_number, job.block_hash = JobState.pending, None, None, None, None
        job.attempts = 1
    h.settle(worker, lambda: h.confirmed(list_id, 1))
    assert h.read(list_id).txHash == tx_hash
    assert len(h.set_events(address, list_id)) == 1


def test_a_suspended_issuers_update_fails_loudly_and_waits_in_the_queue(lists):
    h = lists
    address = h.active_issuer()
    owner = h.owner
    fn = h.chain.contract.functions.setIssuerActive(address, False)
    tx = fn.build_transaction({"from": owner.address, "nonce": h.chain.w3.eth.get_transaction_count(owner.address)})
    h.chain.w3.eth.send_raw_transaction(owner.sign_transaction(tx).raw_transaction)
    list_id = _h()
    h.queue_list(list_id, _h(), 1)

    def failed() -> bool:
        return any(j.state == JobState.failed for j in h.jobs(JobKind.status_list))

    h.settle(h.worker(), failed)
    (job, *_) = h.jobs(JobKind.status_list)
    assert "IssuerNotActive" in job.last_error
    assert h.read(list_id).state == "queued"  # given back, not lost
    with h.sessions() as s:
        status = service.chain_status(s, h.settings, h.adapter, owner.address)
    assert status.pendingStatusListUpdates == 1 and not status.healthy


def test_a_real_list_credential_hash_is_what_reaches_the_chain(lists):
    """The ids and hashes as the issuer makes them: keccak256 of the list's URL, its credential hash."""
    h = lists
    address = h.active_issuer()
    url = "https://issuer.example/status/iss_k/revocation/9"
    bits = statuslist.empty()
    statuslist.set_bits(bits, on=[7, 4_096, 131_071])
    document = statuslist.list_credential(list_url=url, issuer="did:web:issuer.example", purpose="revocation",
                                          bits=bits, valid_from="2026-12-02T00:00:00Z")
    list_hash = "0x" + credential_hash(document).hex()
    h.queue_list(_list_id(url), list_hash, 1)
    h.settle(h.worker(), lambda: h.confirmed(_list_id(url), 1))
    from eth_utils import keccak

    assert h.on_chain(address, "0x" + keccak(text=url).hex())[0] == list_hash


# ------------------------------------------------------------------ the HTTP surface and the client

TOKEN = "service-token-for-tests-0123456789"


@pytest.fixture
def api(chain, database_url, tmp_path):
    from services.core.db import make_engine, make_sessionmaker
    from services.registry.settings import RegistrySettings

    settings = RegistrySettings(data_dir=tmp_path, database_url=database_url, service_token=TOKEN,
                                admin_token="admin-token-for-tests-0123", key_encryption_key="k" * 32,
                                contract_address=chain.address, eth_rpc_url=chain.rpc_url,
                                owner_private_key=chain.owner_key)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        engine = make_engine(database_url)
        client.sessions = make_sessionmaker(engine)
        client.settings = settings
        yield client
        engine.dispose()


def _issuer(client, issuer_id="iss_api"):
    r = client.post("/api/v1/issuers", json={"issuer_id": issuer_id, "did": f"did:web:example.org:{issuer_id}",
                                             "public_key": _h()})
    assert r.status_code == 201, r.text


def test_the_api_queues_answers_and_refuses(api):
    _issuer(api)
    list_id, list_hash = _h(), _h()
    body = {"issuer_id": "iss_api", "list_id": list_id, "hash": list_hash, "version": 1}
    r = api.post("/api/v1/status-lists", json=body)
    assert r.status_code == 202, r.text
    assert r.json() == {"issuer_id": "iss_api", "list_id": list_id, "version": 1, "state": "queued"}
    assert api.post("/api/v1/status-lists", json=body).json()["state"] == "queued"  # idempotent
    assert api.post("/api/v1/status-lists", json={**body, "hash": _h()}).status_code == 409
    newer_hash = _h()
    newer = api.post("/api/v1/status-lists", json={**body, "hash": newer_hash, "version": 2})
    assert newer.status_code == 202 and newer.json()["version"] == 2
    older = api.post("/api/v1/status-lists", json={**body, "hash": _h(), "version": 0})
    assert older.status_code == 422

    read = api.get(f"/api/v1/status-lists/{list_id}", params={"issuer_id": "iss_api"}, headers={"Authorization": ""})
    assert read.status_code == 200, read.text  # public
    assert read.json() == {"issuer_id": "iss_api", "list_id": list_id, "version": 2, "hash": newer_hash,
                           "state": "queued", "txHash": None, "blockNumber": None, "setAt": None}
    assert api.get("/api/v1/chain").json()["pendingStatusListUpdates"] == 1  # v1 is superseded by v2

    for bad in ({**body, "list_id": "0x1234"}, {**body, "hash": "0x" + "00" * 32}, {**body, "version": "one"},
                {**body, "extra": 1}, {k: v for k, v in body.items() if k != "version"}):
        assert api.post("/api/v1/status-lists", json=bad).status_code == 422, bad
    assert api.post("/api/v1/status-lists", json={**body, "issuer_id": "nobody"}).status_code == 404
    assert api.post("/api/v1/status-lists", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get(f"/api/v1/status-lists/{_h()}", params={"issuer_id": "iss_api"}).status_code == 404
    assert api.get(f"/api/v1/status-lists/{list_id}", params={"issuer_id": "nobody"}).status_code == 404
    assert api.get(f"/api/v1/status-lists/{list_id}").status_code == 422  # issuer_id is required
    assert api.get("/api/v1/status-lists/0xnothex", params={"issuer_id": "iss_api"}).status_code == 422


def test_the_issuers_client_queues_and_reads_through_to_the_chain(api, chain):
    from services.issuer.registry_client import HttpRegistry, RegistryRefused

    _issuer(api, "iss_cli")
    registry = HttpRegistry("http://testserver", TOKEN, transport=api._transport)
    list_id, list_hash = _list_id("https://issuer.example/status/iss_cli/revocation/1"), _h()
    assert registry.status_list("iss_cli", list_id) is None
    assert registry.queue_status_list("iss_cli", list_id, list_hash, 1) == {
        "issuer_id": "iss_cli", "list_id": list_id, "version": 1, "state": "queued"}
    harness = ListHarness(chain, api.settings.database_url, api.settings.data_dir)  # the same key-encryption key
    try:
        harness.settle(harness.worker(),
                       lambda: (registry.status_list("iss_cli", list_id) or {}).get("state") == "confirmed")
    finally:
        harness.engine.dispose()
    read = registry.status_list("iss_cli", list_id)
    assert read["hash"] == list_hash and read["version"] == 1 and read["txHash"] and read["setAt"]
    assert api.get("/api/v1/chain").json()["pendingStatusListUpdates"] == 0
    with pytest.raises(RegistryRefused) as refused:
        registry.queue_status_list("iss_cli", list_id, _h(), 1)
    assert refused.value.status == 409
    registry.close()
