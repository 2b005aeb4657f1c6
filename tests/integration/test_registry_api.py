"""The registry's HTTP surface: what it accepts, what it refuses, and that refusals store nothing."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.core.db import make_engine, make_sessionmaker
from services.registry.app import create_app
from services.registry.models import Anchor, ChainAccount, ChainJob, JobKind, Revocation
from services.registry.settings import RegistrySettings

TOKEN = "service-token-for-tests-0123456789"


@pytest.fixture
def registry(database_url, tmp_path):
    settings = RegistrySettings(data_dir=tmp_path, database_url=database_url, service_token=TOKEN,
                                admin_token="admin-token-for-tests-0123", key_encryption_key="kek-for-tests-0123456789",
                                contract_address="", eth_rpc_url="http://127.0.0.1:1")
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        client.sessions = make_sessionmaker(make_engine(database_url))
        yield client


def _count(client, model) -> int:
    with client.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _h(i: int) -> str:
    return "0x" + f"{i:064x}"


def _issuer(client, issuer_id="iss_a", key=None):
    r = client.post("/api/v1/issuers", json={"issuer_id": issuer_id, "did": f"did:web:example.org:{issuer_id}",
                                             "public_key": key or "0x" + os.urandom(32).hex()})
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_creating_an_issuer_makes_a_sealed_account_and_queues_funding_and_registration(registry):
    body = _issuer(registry)
    assert body["address"].startswith("0x") and len(body["address"]) == 42
    assert body["state"] == "registering"
    with registry.sessions() as s:
        account = s.scalar(select(ChainAccount))
        jobs = s.scalars(select(ChainJob).order_by(ChainJob.id)).all()
    assert account.sealed_key.startswith("v1:")
    assert account.address[2:].lower() not in account.sealed_key.lower()
    assert [j.kind for j in jobs] == [JobKind.fund, JobKind.register_issuer]
    assert jobs[1].payload["account"] == body["address"]


def test_creating_the_same_issuer_twice_is_idempotent_and_a_different_key_conflicts(registry):
    key = "0x" + "ab" * 32
    first = _issuer(registry, key=key)
    again = registry.post("/api/v1/issuers", json={"issuer_id": "iss_a", "did": "did:web:example.org:iss_a",
                                                   "public_key": key})
    assert again.status_code == 200 and again.json()["address"] == first["address"]
    clash = registry.post("/api/v1/issuers", json={"issuer_id": "iss_a", "did": "did:web:example.org:iss_a",
                                                   "public_key": "0x" + "cd" * 32})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "conflict"
    assert _count(registry, ChainAccount) == 1


def test_queueing_hashes_stores_them_once_and_receipts_say_queued(registry):
    _issuer(registry)
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(1), _h(2), _h(2).upper().replace("0X", "0x")]})
    assert r.status_code == 202, r.text
    assert r.json() == {"issuer_id": "iss_a", "queued": 2, "already_queued": 0}
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(2), _h(3)]})
    assert r.json()["queued"] == 1 and r.json()["already_queued"] == 1
    assert _count(registry, Anchor) == 3
    receipt = registry.get(f"/api/v1/anchors/{_h(1)}").json()
    assert receipt["state"] == "queued" and receipt["root"] is None and receipt["txHash"] is None


def test_a_hash_queued_by_one_issuer_cannot_be_claimed_by_another(registry):
    _issuer(registry, "iss_a")
    _issuer(registry, "iss_b")
    registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(7)]})
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_b", "hashes": [_h(7), _h(8)]})
    assert r.status_code == 409
    assert _count(registry, Anchor) == 1


@pytest.mark.parametrize("bad", ["0x1234", "not-hex", "0x" + "zz" * 32, "0x" + "00" * 32, 12, None, "0x" + "ab" * 33])
def test_malformed_hashes_are_refused_and_nothing_is_stored(registry, bad):
    _issuer(registry)
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(1), bad]})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert _count(registry, Anchor) == 0


@pytest.mark.parametrize("path", ["/api/v1/anchors", "/api/v1/revocations"])
def test_unknown_issuer_is_a_404_and_nothing_is_stored(registry, path):
    r = registry.post(path, json={"issuer_id": "nobody", "hashes": [_h(1)]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert _count(registry, Anchor) == 0 and _count(registry, Revocation) == 0


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic abc", "Bearer "])
@pytest.mark.parametrize("path,body", [
    ("/api/v1/issuers", {"issuer_id": "x", "did": "did:web:x", "public_key": "0x" + "ab" * 32}),
    ("/api/v1/anchors", {"issuer_id": "x", "hashes": ["0x" + "ab" * 32]}),
    ("/api/v1/revocations", {"issuer_id": "x", "hashes": ["0x" + "ab" * 32]}),
])
def test_writes_need_the_service_token(registry, auth, path, body):
    headers = {"Authorization": auth} if auth else {}
    registry.headers.pop("Authorization", None)
    r = registry.post(path, json=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert _count(registry, ChainAccount) == 0 and _count(registry, Anchor) == 0


def test_oversized_body_is_a_413_and_nothing_is_stored(registry):
    _issuer(registry)
    payload = '{"issuer_id": "iss_a", "hashes": [' + ",".join(f'"{_h(i)}"' for i in range(16_000)) + "]}"
    r = registry.post("/api/v1/anchors", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert _count(registry, Anchor) == 0


def test_too_many_hashes_in_one_request_is_refused(registry):
    _issuer(registry)
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(i + 1) for i in range(10_001)]})
    assert r.status_code in (413, 422)
    assert _count(registry, Anchor) == 0


def test_unknown_fields_and_wrong_types_are_refused(registry):
    r = registry.post("/api/v1/issuers", json={"issuer_id": "x", "did": "did:web:x", "public_key": "0x" + "ab" * 32,
                                               "admin": True})
    assert r.status_code == 422
    r = registry.post("/api/v1/anchors", content="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert _count(registry, ChainAccount) == 0


def test_receipt_of_a_never_queued_or_malformed_hash(registry):
    assert registry.get(f"/api/v1/anchors/{_h(99)}").status_code == 404
    r = registry.get("/api/v1/anchors/0xnothex")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_revocations_are_queued_once_per_issuer(registry):
    _issuer(registry)
    r = registry.post("/api/v1/revocations", json={"issuer_id": "iss_a", "hashes": [_h(1), _h(1), _h(2)]})
    assert r.status_code == 202 and r.json()["queued"] == 2
    r = registry.post("/api/v1/revocations", json={"issuer_id": "iss_a", "hashes": [_h(1)]})
    assert r.json()["already_queued"] == 1
    assert registry.get(f"/api/v1/revocations/{_h(1)}").json()[0]["state"] == "queued"


def test_chain_status_reports_an_unreachable_chain_without_failing(registry):
    r = registry.get("/api/v1/chain")
    assert r.status_code == 200
    body = r.json()
    assert body["healthy"] is False and body["error"]
    assert body["confirmationsRequired"] == 1


# ------------------------------------------------------------------ keys and the hashes they signed

def test_anchors_may_name_the_key_that_signed_them_and_it_is_stored_per_hash(registry):
    key = "0x" + "ab" * 32
    _issuer(registry, key=key)
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(1), _h(2)], "public_key": key.upper().replace("0X", "0x")})
    assert r.status_code == 202 and r.json()["queued"] == 2
    registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(3)]})  # no key: as before
    with registry.sessions() as s:
        assert {a.hash: a.public_key for a in s.scalars(select(Anchor))} == {_h(1): key, _h(2): key, _h(3): None}
    issuer = registry.get("/api/v1/issuers/iss_a").json()
    (state,) = issuer["keys"]
    assert state["public_key"] == key and state["state"] == "queued" and state["anchors_waiting"] == 2
    assert state["valid_from"] is None and state["retirement"] is None
    assert issuer["anchors_waiting_for_unknown_keys"] == 0


@pytest.mark.parametrize("bad", ["0x1234", "0x" + "00" * 32, "nope", 5])
def test_a_malformed_public_key_on_anchors_is_refused_and_nothing_is_stored(registry, bad):
    _issuer(registry)
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(1)], "public_key": bad})
    assert r.status_code == 422
    assert _count(registry, Anchor) == 0


def test_revocations_take_no_public_key(registry):
    _issuer(registry)
    r = registry.post("/api/v1/revocations", json={"issuer_id": "iss_a", "hashes": [_h(1)], "public_key": "0x" + "ab" * 32})
    assert r.status_code == 422 and _count(registry, Revocation) == 0


def test_hashes_of_a_key_never_registered_wait_and_are_counted(registry):
    _issuer(registry)
    registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(1)], "public_key": "0x" + "ef" * 32})
    assert registry.get("/api/v1/issuers/iss_a").json()["anchors_waiting_for_unknown_keys"] == 1


def test_rotation_retire_at_null_or_absent_is_the_block_time_and_a_given_time_is_kept(registry):
    first, second, third = ("0x" + c * 32 for c in ("a1", "b2", "c3"))
    _issuer(registry, key=first)
    r = registry.post("/api/v1/issuers/iss_a/keys", json={"public_key": second, "retire": first, "retire_at": None,
                                                          "compromised": False})
    assert r.status_code == 202, r.text
    keys = {k["public_key"]: k for k in r.json()["keys"]}
    assert keys[second]["state"] == "queued" and keys[first]["retirement"]["requested_valid_until"] == 0
    # a normal retirement keeps the second the issuer stopped signing, by the issuer's clock
    r = registry.post("/api/v1/issuers/iss_a/keys", json={"public_key": third, "retire": second, "retire_at": 1_700_000_000})
    assert {k["public_key"]: k for k in r.json()["keys"]}[second]["retirement"]["requested_valid_until"] == 1_700_000_000
    r = registry.post("/api/v1/issuers/iss_a/keys", json={"retire": third, "retire_at": 1_600_000_000, "compromised": True})
    retirement = {k["public_key"]: k for k in r.json()["keys"]}[third]["retirement"]
    assert retirement["requested_valid_until"] == 1_600_000_000 and retirement["compromised"] is True
    with registry.sessions() as s:
        jobs = s.scalars(select(ChainJob).where(ChainJob.kind == JobKind.retire_key).order_by(ChainJob.id)).all()
    assert [j.payload["validUntil"] for j in jobs] == [0, 1_700_000_000, 1_600_000_000]
    assert {j.subject for j in jobs} == {r.json()["address"]}
    r = registry.post("/api/v1/issuers/iss_a/keys", json={"retire": third, "retire_at": -1, "compromised": True})
    assert r.status_code == 422


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/jobs"), ("POST", "/api/v1/jobs/1/acknowledge"),
                                         ("POST", "/api/v1/jobs/1/retry")])
def test_job_routes_need_the_service_token(registry, method, path):
    registry.headers.pop("Authorization", None)
    assert registry.request(method, path).status_code == 401


def test_acknowledging_or_retrying_a_job_that_has_not_failed_is_a_conflict(registry):
    _issuer(registry)
    with registry.sessions() as s:
        job_id = s.scalar(select(ChainJob.id).where(ChainJob.kind == JobKind.register_issuer))
    assert registry.post(f"/api/v1/jobs/{job_id}/acknowledge").status_code == 409
    assert registry.post(f"/api/v1/jobs/{job_id}/retry").status_code == 409
    assert registry.post("/api/v1/jobs/999999/retry").status_code == 404
    assert registry.get("/api/v1/jobs").json() == []


def test_chain_status_lists_failed_jobs_even_without_a_chain(registry):
    from services.core.db import utcnow
    from services.registry.models import JobState

    _issuer(registry)
    with registry.sessions.begin() as s:
        job = s.scalar(select(ChainJob).where(ChainJob.kind == JobKind.register_issuer))
        job.state, job.last_error, job.failed_at = JobState.failed, "EmptyDid()", utcnow()
    body = registry.get("/api/v1/chain").json()
    assert body["healthy"] is False and body["chainReachable"] is False
    assert body["failedJobs"] == body["unacknowledgedFailedJobs"] == 1
    (failed,) = body["recentFailedJobs"]
    assert failed["kind"] == "register_issuer" and failed["issuer_id"] == "iss_a" and failed["error"] == "EmptyDid()"
