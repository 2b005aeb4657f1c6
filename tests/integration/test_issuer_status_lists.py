"""The issuer's W3C Bitstring Status Lists (docs/status-lists.md), on SQLite and PostgreSQL.

Indices (random, unique per list, a new list when one is full), the entries in issued
credentials, revoke / suspend / unsuspend and their answers, publishing (one version per
interval with every change since the last, stored, queued at the registry through the
outbox, one publisher), the public routes (caching headers, ETag / 304, immutable versions),
signatures, and credentials issued before status lists.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from services.core import dataintegrity, statuslist
from services.core.db import utcnow
from services.core.jsonld import credential_hash
from services.core.multiformats import decode_public_key
from services.issuer import signing, statuslists, statuslists_repository as repo
from services.issuer.achievements import repository as achievements_repo
from services.issuer.credentials import builder, document as cred, repository as credentials_repo, service
from services.issuer.issuers import repository as issuers_repo
from services.issuer.batches.runner import BatchRunner
from services.issuer.models import (Issuer, OutboxKind, OutboxMessage, OutboxState, SigningKey,
                                    StatusEntry, StatusList, StatusListVersion)
from services.issuer.outbox import Relay
from services.issuer.signing import SigningPool
from tests.integration.issuer_support import (auth, create_achievement, create_issuer, issue, issuer_client,
                                              registry_bit, served_bit, status_entry)

ISSUER_URL = "http://issuer.test:8001"


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False) as c:
        c.relay = Relay(c.settings, c.sessions, c.registry, holder="test-relay")
        yield c
        c.relay.close()


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    return issuer["api_key"], achievement["id"], issuer


def _lists(client, purpose: str | None = None) -> list[StatusList]:
    with client.sessions() as s:
        query = select(StatusList).order_by(StatusList.purpose, StatusList.number)
        if purpose:
            query = query.where(StatusList.purpose == purpose)
        return list(s.scalars(query))


def _versions(client, status_list: StatusList) -> list[StatusListVersion]:
    with client.sessions() as s:
        return list(repo.status_list_versions(s, status_list.id))


def _run_batch(client, key: str, achievement_id: str, emails: list[str]) -> list[dict]:
    r = client.post("/api/v1/credentials/batch", headers=auth(key), json={
        "achievement_id": achievement_id, "recipients": [{"name": e.split("@")[0], "email": e} for e in emails]})
    assert r.status_code == 202, r.text
    BatchRunner(client.settings, client.sessions, SigningPool(1)).tick()
    batch = client.get(f"/api/v1/credentials/batches/{r.json()['id']}", headers=auth(key)).json()
    assert batch["state"] == "done" and batch["issued"] == len(emails), batch
    return [client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json() for c in batch["credentials"]]


def _publish_now(client) -> None:
    """Let every list be due at once (as if the interval had passed), then run a relay pass."""
    with client.sessions.begin() as s:
        s.execute(update(StatusList).where(StatusList.published_at.is_not(None))
                  .values(published_at=utcnow() - timedelta(hours=1)))
    client.relay.tick()


def _public_key(document: dict) -> bytes:
    proof = document["proof"][0] if isinstance(document["proof"], list) else document["proof"]
    return decode_public_key(proof["verificationMethod"].split("#", 1)[1])


def _served(client, credential: dict, purpose: str) -> dict:
    url = status_entry(credential, purpose)["statusListCredential"]
    r = client.get(url.removeprefix(ISSUER_URL))
    assert r.status_code == 200, r.text
    return r.json()


# -- indices ------------------------------------------------------------------------------------------
def test_every_new_credential_points_into_a_revocation_and_a_suspension_list(client, lakeside):
    key, achievement_id, issuer = lakeside
    single = [issue(client, key, achievement_id, email=f"s{i}@example.org") for i in range(12)]
    batched = _run_batch(client, key, achievement_id, [f"b{i}@example.org" for i in range(12)])
    by_purpose: dict[str, list[int]] = {"revocation": [], "suspension": []}
    for read in single + batched:
        document = read["credential"]
        status = document["credentialStatus"]
        assert [e["statusPurpose"] for e in status] == ["revocation", "suspension"]
        for entry, purpose in zip(status, ("revocation", "suspension"), strict=True):
            url = f"{ISSUER_URL}/status-lists/lakeside/{purpose}/1"
            assert entry == statuslist.entry(url, purpose, int(entry["statusListIndex"]))
            assert entry["type"] == "BitstringStatusListEntry" and entry["id"] == f"{url}#{entry['statusListIndex']}"
            by_purpose[purpose].append(int(entry["statusListIndex"]))
        # signed over the entries, and what the parser reads back
        assert dataintegrity.verify(document, _public_key(document)).valid
        assert [(e.purpose, e.list_url) for e in statuslist.entries(status)] == [
            ("revocation", f"{ISSUER_URL}/status-lists/lakeside/revocation/1"),
            ("suspension", f"{ISSUER_URL}/status-lists/lakeside/suspension/1")]
    for purpose, indices in by_purpose.items():
        assert len(set(indices)) == 24, f"{purpose}: an index given twice"
        assert all(0 <= i < statuslist.MIN_ENTRIES for i in indices)
        # random, not in issuance order and spread over the list (24 sorted draws: 1 in 24!)
        assert indices != sorted(indices) and max(indices) - min(indices) > statuslist.MIN_ENTRIES // 4
    assert by_purpose["revocation"] != by_purpose["suspension"]
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusEntry)) == 48
        rows = s.execute(select(StatusEntry.credential_id, StatusList.purpose, StatusEntry.index)
                         .join(StatusList, StatusList.id == StatusEntry.status_list_id)).all()
    stored = {(cid, purpose): index for cid, purpose, index in rows}
    for read in single + batched:
        for entry in read["credential"]["credentialStatus"]:
            assert stored[(read["id"], entry["statusPurpose"])] == int(entry["statusListIndex"])
    assert [(sl.purpose, sl.number, sl.capacity, sl.full) for sl in _lists(client)] == [
        ("revocation", 1, statuslist.MIN_ENTRIES, False), ("suspension", 1, statuslist.MIN_ENTRIES, False)]
    assert [sl.list_id for sl in _lists(client)] == ["0x" + statuslist.list_id(sl.url).hex() for sl in _lists(client)]


def test_the_probe_of_a_new_achievement_allocates_nothing(client):
    key = create_issuer(client)["api_key"]
    create_achievement(client, key)
    assert _lists(client) == []


def test_a_full_list_opens_the_next_one_for_single_and_batch_issuance(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False, test_status_list_entries=4) as client:
        key = create_issuer(client)["api_key"]
        achievement_id = create_achievement(client, key)["id"]
        reads = [issue(client, key, achievement_id, email=f"s{i}@example.org") for i in range(3)]
        reads += _run_batch(client, key, achievement_id, [f"b{i}@example.org" for i in range(5)])  # fills 1, 2
        reads.append(issue(client, key, achievement_id, email="last@example.org"))
        lists = _lists(client)
        assert [(sl.purpose, sl.number, sl.capacity, sl.full) for sl in lists] == [
            ("revocation", 1, 4, True), ("revocation", 2, 4, True), ("revocation", 3, 4, False),
            ("suspension", 1, 4, True), ("suspension", 2, 4, True), ("suspension", 3, 4, False)]
        for purpose in ("revocation", "suspension"):
            used: dict[str, set[int]] = {}
            for read in reads:
                entry = status_entry(read["credential"], purpose)
                used.setdefault(entry["statusListCredential"], set()).add(int(entry["statusListIndex"]))
            base = f"{ISSUER_URL}/status-lists/lakeside/{purpose}"
            assert sorted(used) == [f"{base}/1", f"{base}/2", f"{base}/3"]
            assert used[f"{base}/1"] == used[f"{base}/2"] == {0, 1, 2, 3} and len(used[f"{base}/3"]) == 1
        # the bitstring keeps the standard's size whatever the test capacity
        relay = Relay(client.settings, client.sessions, client.registry)
        relay.tick()
        relay.close()
        document = _served(client, reads[0]["credential"], "revocation")
        assert len(statuslist.decode(document["credentialSubject"]["encodedList"])) * 8 == statuslist.MIN_ENTRIES


def test_an_index_taken_by_a_concurrent_transaction_is_drawn_again(client, lakeside, monkeypatch):
    key, achievement_id, _ = lakeside
    first = issue(client, key, achievement_id, email="first@example.org")
    taken = int(status_entry(first["credential"], "revocation")["statusListIndex"])
    # The first draws hit an index another transaction has just written but not committed
    # (invisible to the check): the insert fails on the unique constraint and is drawn again,
    # first by the one-statement try, then by the general path.
    draws = iter([True, True, True])  # the first try draws once per list, then the general path
    real_draw = statuslists._draw
    monkeypatch.setattr(statuslists, "_draw",
                        lambda size, count: [taken] * count if next(draws, False) else real_draw(size, count))
    real_taken, blind = repo.taken_indices, iter([True])
    monkeypatch.setattr(repo, "taken_indices",
                        lambda s, lid, c: set() if next(blind, False) else real_taken(s, lid, c))
    real_insert, collisions = repo.insert_status_entry_rows, []

    def insert(session, rows):
        try:
            real_insert(session, rows)
        except IntegrityError:
            collisions.append(rows)
            raise

    monkeypatch.setattr(repo, "insert_status_entry_rows", insert)
    second = issue(client, key, achievement_id, email="second@example.org")
    assert len(collisions) == 2 and all(taken in [index for _, index, _ in rows] for rows in collisions)
    assert int(status_entry(second["credential"], "revocation")["statusListIndex"]) != taken
    # nothing of the first try is left behind: the credential holds one entry per list
    with client.sessions() as session:
        assert len(repo.status_entries_of(session, second["id"])) == 2


def test_a_crowded_list_still_finds_its_last_free_index(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False, test_status_list_entries=64) as client:
        key = create_issuer(client)["api_key"]
        achievement_id = create_achievement(client, key)["id"]
        reads = _run_batch(client, key, achievement_id, [f"b{i}@example.org" for i in range(63)])
        last = issue(client, key, achievement_id, email="last@example.org")
        indices = {int(status_entry(r["credential"], "revocation")["statusListIndex"]) for r in reads + [last]}
        assert indices == set(range(64))
        assert all(status_entry(r["credential"], "revocation")["statusListCredential"].endswith("/revocation/1")
                   for r in reads + [last])


# -- revoke, suspend, unsuspend ------------------------------------------------------------------------
def test_suspension_is_set_lifted_and_answered_everywhere(client, lakeside):
    key, achievement_id, _ = lakeside
    body = issue(client, key, achievement_id)
    cid = body["id"]
    r = client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "under review"}, headers=auth(key))
    assert r.status_code == 200, r.text
    read = r.json()
    assert read["status"] == "suspended" and read["suspension_reason"] == "under review" and read["suspended_at"]
    assert read["suspended"] is True and read["revoked"] is False
    public = client.get(f"/public/credentials/{cid}/status")
    assert public.headers["cache-control"] == "no-store"
    assert public.json() == {"revoked": False, "revokedAt": None, "reason": None, "suspended": True,
                             "suspendedAt": public.json()["suspendedAt"], "suspensionReason": "under review",
                             "renewedBy": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", public.json()["suspendedAt"])
    # the first suspension wins
    again = client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "other"}, headers=auth(key)).json()
    assert (again["suspended_at"], again["suspension_reason"]) == (read["suspended_at"], "under review")
    assert client.get(f"/api/v1/credentials/{cid}", headers=auth(key)).json()["status"] == "suspended"
    # lifted; lifting again is idempotent (200, nothing changes)
    lifted = client.post(f"/api/v1/credentials/{cid}/unsuspend", headers=auth(key))
    assert lifted.status_code == 200 and lifted.json()["status"] == "pending"
    assert lifted.json()["suspended_at"] is None and lifted.json()["suspension_reason"] is None
    assert lifted.json()["suspended"] is False
    assert client.get(f"/public/credentials/{cid}/status").json()["suspended"] is False
    assert client.post(f"/api/v1/credentials/{cid}/unsuspend", headers=auth(key)).json()["status"] == "pending"
    suspension = _lists(client, "suspension")[0]
    assert suspension.changes == 3  # created, suspended, lifted: the repeated calls changed nothing
    # suspended again, then revoked: revocation is final and wins the status
    client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "again"}, headers=auth(key))
    revoked = client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "fraud"}, headers=auth(key)).json()
    assert revoked["status"] == "revoked" and revoked["revocation_reason"] == "fraud"
    assert revoked["revoked"] is True and revoked["suspended"] is True and revoked["suspension_reason"] == "again"
    status = client.get(f"/public/credentials/{cid}/status").json()
    assert status["revoked"] is True and status["reason"] == "fraud" and status["suspended"] is True
    assert _lists(client, "revocation")[0].changes == 2


def test_a_revoked_credential_cannot_be_suspended_and_bad_calls_are_refused(client, lakeside):
    key, achievement_id, issuer = lakeside
    cid = issue(client, key, achievement_id)["id"]
    client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "issued in error"}, headers=auth(key))
    r = client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "x"}, headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "credential_revoked"
    assert client.get(f"/public/credentials/{cid}/status").json()["suspended"] is False
    assert client.post(f"/api/v1/credentials/{cid}/suspend", json={}, headers=auth(key)).status_code == 422
    assert client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "a\u202eb"},
                       headers=auth(key)).status_code == 422
    assert client.post("/api/v1/credentials/nope/suspend", json={"reason": "x"}, headers=auth(key)).status_code == 404
    assert client.post("/api/v1/credentials/nope/unsuspend", headers=auth(key)).status_code == 404
    reader = client.post("/api/v1/api-keys", json={"name": "reader", "scopes": ["read"]}, headers=auth(key)).json()
    other = issue(client, key, achievement_id, email="o@example.org")["id"]
    for action in ("suspend", "unsuspend"):
        r = client.post(f"/api/v1/credentials/{other}/{action}", json={"reason": "x"}, headers=auth(reader["key"]))
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    # another issuer's credential is not found
    stranger = create_issuer(client, "hillside")["api_key"]
    assert client.post(f"/api/v1/credentials/{other}/suspend", json={"reason": "x"},
                       headers=auth(stranger)).status_code == 404


def test_revoking_a_credential_with_status_lists_sets_its_bit_and_queues_no_per_hash_revocation(client, lakeside):
    key, achievement_id, _ = lakeside
    creds = [issue(client, key, achievement_id, email=f"r{i}@example.org") for i in range(3)]
    client.relay.tick()
    client.post(f"/api/v1/credentials/{creds[1]['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    client.post(f"/api/v1/credentials/{creds[1]['id']}/revoke", json={"reason": "again"}, headers=auth(key))
    _publish_now(client)
    assert [served_bit(client, c["credential"], "revocation") for c in creds] == [False, True, False]
    assert [served_bit(client, c["credential"], "suspension") for c in creds] == [False, False, False]
    assert [registry_bit(client, c["credential"], "revocation") for c in creds] == [False, True, False]
    assert client.registry.revoked == []
    with client.sessions() as s:
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.revoke)).all() == []


# -- publishing -------------------------------------------------------------------------------------
def test_a_new_list_is_published_as_version_1_and_queued_at_the_registry(client, lakeside):
    key, achievement_id, issuer = lakeside
    read = issue(client, key, achievement_id)
    assert client.get(status_entry(read["credential"], "revocation")["statusListCredential"]
                      .removeprefix(ISSUER_URL)).status_code == 404  # not published yet
    client.relay.tick()
    for status_list in _lists(client):
        (version,) = _versions(client, status_list)
        assert version.version == 1 and status_list.version == 1
        assert status_list.published_changes == status_list.changes == 1
        assert (issuer["id"], status_list.list_id, version.hash, 1) in client.registry.status_lists
    assert served_bit(client, read["credential"], "revocation") is False
    with client.sessions() as s:
        messages = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.status_list)).all()
    assert sorted(m.payload["version"] for m in messages) == [1, 1]
    assert all(m.state == OutboxState.done for m in messages)


def test_publishing_coalesces_all_changes_of_an_interval_into_one_version(database_url, tmp_path):
    # The interval is long enough for the six calls below on a loaded CI machine (1.64 s was seen).
    with issuer_client(database_url, tmp_path, run_batches=False, status_list_interval=3.0) as client:
        relay = Relay(client.settings, client.sessions, client.registry, holder="test-relay")
        try:
            key = create_issuer(client)["api_key"]
            achievement_id = create_achievement(client, key)["id"]
            creds = [issue(client, key, achievement_id, email=f"c{i}@example.org") for i in range(8)]
            relay.tick()  # version 1 of both lists
            started = time.monotonic()
            for c in creds[:5]:
                client.post(f"/api/v1/credentials/{c['id']}/revoke", json={"reason": "batch"}, headers=auth(key))
            client.post(f"/api/v1/credentials/{creds[6]['id']}/suspend", json={"reason": "s"}, headers=auth(key))
            relay.tick()
            revocation, suspension = _lists(client, "revocation")[0], _lists(client, "suspension")[0]
            assert time.monotonic() - started < 3.0, "the machine was too slow for this interval"
            assert (revocation.version, suspension.version) == (1, 1), "published again inside the interval"
            assert revocation.changes == 6 and suspension.changes == 2
            time.sleep(max(0.0, 3.1 - (time.monotonic() - started)))
            relay.tick()
            revocation, suspension = _lists(client, "revocation")[0], _lists(client, "suspension")[0]
            assert (revocation.version, suspension.version) == (2, 2)
            assert revocation.published_changes == 6 and suspension.published_changes == 2
            assert [served_bit(client, c["credential"], "revocation") for c in creds] == [True] * 5 + [False] * 3
            assert [served_bit(client, c["credential"], "suspension") for c in creds] == [False] * 6 + [True, False]
            queued = [(lid, v) for _, lid, _, v in client.registry.status_lists]
            assert sorted(queued) == sorted([(revocation.list_id, 1), (revocation.list_id, 2),
                                             (suspension.list_id, 1), (suspension.list_id, 2)])
            relay.tick()  # nothing changed since: no version 3
            assert _lists(client, "revocation")[0].version == 2
        finally:
            relay.close()


def test_nothing_is_lost_while_the_registry_is_down(client, lakeside):
    key, achievement_id, issuer = lakeside
    read = issue(client, key, achievement_id)
    client.registry.up = False
    client.relay.tick()
    client.post(f"/api/v1/credentials/{read['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    _publish_now(client)
    assert _lists(client, "revocation")[0].version == 2  # published, waiting in the outbox
    with client.sessions() as s:
        waiting = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.status_list,
                                                        OutboxMessage.state == OutboxState.pending)).all()
    assert len(waiting) == 3  # version 1 of both lists, version 2 of the revocation list
    client.registry.up = True
    with client.sessions.begin() as s:
        s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    client.relay.tick()
    assert registry_bit(client, read["credential"], "revocation") is True
    assert client.registry.newest_status_list(_lists(client, "revocation")[0].list_id)[0] == 2


def test_only_the_relay_holding_the_lease_publishes(client, lakeside):
    key, achievement_id, _ = lakeside
    issue(client, key, achievement_id)
    other = Relay(client.settings, client.sessions, client.registry, holder="other-relay")
    try:
        client.relay.tick()
        assert all(sl.version == 1 for sl in _lists(client))
        cid = issue(client, key, achievement_id, email="b@example.org")["id"]
        client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "r"}, headers=auth(key))
        with client.sessions.begin() as s:
            s.execute(update(StatusList).values(published_at=utcnow() - timedelta(hours=1)))
        other.tick()  # the lease is held by test-relay: nothing is published
        assert _lists(client, "revocation")[0].version == 1
        client.relay.tick()
        assert _lists(client, "revocation")[0].version == 2
    finally:
        other.close()
    # and a publisher that lost the race cannot store the same version twice
    status_list = _lists(client, "revocation")[0]
    with client.sessions.begin() as s:
        stale = StatusListVersion(status_list_id=status_list.id, version=2, hash="0x" + "00" * 32, document="{}",
                                  created_at=utcnow())
        assert repo.record_status_list_version(s, status_list, stale, status_list.changes) is False
    assert [v.version for v in _versions(client, status_list)] == [1, 2]


def test_a_new_signing_key_signs_the_next_version_of_every_list(client, lakeside):
    key, achievement_id, _ = lakeside
    read = issue(client, key, achievement_id)
    client.relay.tick()
    rotated = client.post("/api/v1/issuer/signing-keys/rotate", json={}, headers=auth(key)).json()
    _publish_now(client)
    for purpose in ("revocation", "suspension"):
        document = _served(client, read["credential"], purpose)
        assert document["proof"]["verificationMethod"] == rotated["new_key"]["verification_method"]
        assert dataintegrity.verify_all(document, _public_key(document)).valid


# -- the public routes ---------------------------------------------------------------------------------
def test_lists_are_served_signed_with_caching_headers_etag_and_immutable_versions(client, lakeside):
    key, achievement_id, issuer = lakeside
    creds = [issue(client, key, achievement_id, email=f"v{i}@example.org") for i in range(2)]
    client.relay.tick()
    entry = status_entry(creds[0]["credential"], "revocation")
    path = entry["statusListCredential"].removeprefix(ISSUER_URL)
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/vc+ld+json"
    assert first.headers["cache-control"] == "public, max-age=2"
    document = first.json()
    first_hash = "0x" + credential_hash(document).hex()
    assert first.headers["etag"] == f'"{first_hash}"'
    # a W3C BitstringStatusListCredential of this issuer, signed by its active key
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["id"] == entry["statusListCredential"] and document["issuer"] == issuer["did"]
    assert document["credentialSubject"]["statusPurpose"] == "revocation"
    result = dataintegrity.verify_all(document, _public_key(document))
    assert result.valid and "0x" + result.document_hash.hex() == first_hash
    assert document["proof"]["proofPurpose"] == "assertionMethod"
    assert document["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    with client.sessions() as s:
        active = s.scalar(select(SigningKey).where(SigningKey.state == "active"))
    assert document["proof"]["verificationMethod"] == f"{issuer['did']}#{active.multikey}"
    # conditional requests
    assert client.get(path, headers={"If-None-Match": f'"{first_hash}"'}).status_code == 304
    not_modified = client.get(path, headers={"If-None-Match": f'W/"x", "{first_hash}"'})
    assert not_modified.status_code == 304 and not_modified.headers["etag"] == f'"{first_hash}"'
    assert not_modified.content == b""
    assert client.get(path, headers={"If-None-Match": '"0xother"'}).status_code == 200
    assert client.get(path, headers={"Accept": "application/json"}).headers["content-type"] == "application/json"
    # a new version after a revocation; the old one stays, byte for byte, at its own URL
    client.post(f"/api/v1/credentials/{creds[0]['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    _publish_now(client)
    second = client.get(path, headers={"If-None-Match": f'"{first_hash}"'})
    assert second.status_code == 200 and second.headers["etag"] != f'"{first_hash}"'
    second_hash = second.headers["etag"].strip('"')
    assert served_bit(client, creds[0]["credential"], "revocation") is True
    assert served_bit(client, creds[0]["credential"], "revocation", first_hash) is False
    old = client.get(f"{path}/versions/{first_hash}")
    assert old.status_code == 200 and old.content == first.content
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert old.headers["etag"] == f'"{first_hash}"'
    assert client.get(f"{path}/versions/{first_hash}", headers={"If-None-Match": f'"{first_hash}"'}).status_code == 304
    newest = client.get(f"{path}/versions/{second_hash}")
    assert newest.status_code == 200 and newest.content == second.content
    assert dataintegrity.verify_all(newest.json(), _public_key(newest.json())).valid
    # unknown: 404
    for bad in ("/status-lists/nobody/revocation/1", "/status-lists/lakeside/other/1",
                "/status-lists/lakeside/revocation/2", "/status-lists/lakeside/revocation/01",
                "/status-lists/lakeside/revocation/0", "/status-lists/lakeside/revocation/x",
                f"{path}/versions/0x{'ab' * 32}", f"{path}/versions/{first_hash.upper()}", f"{path}/versions/nope",
                f"/status-lists/hillside/revocation/1/versions/{first_hash}"):
        r = client.get(bad)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad


def test_another_issuers_list_is_its_own(client, lakeside):
    key, achievement_id, _ = lakeside
    other_key = create_issuer(client, "hillside")["api_key"]
    other_achievement = create_achievement(client, other_key)["id"]
    mine = issue(client, key, achievement_id)
    theirs = issue(client, other_key, other_achievement)
    client.relay.tick()
    assert status_entry(theirs["credential"], "revocation")["statusListCredential"] == \
        f"{ISSUER_URL}/status-lists/hillside/revocation/1"
    client.post(f"/api/v1/credentials/{mine['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    # a key of one issuer cannot touch the other's credential
    assert client.post(f"/api/v1/credentials/{theirs['id']}/revoke", json={"reason": "x"},
                       headers=auth(key)).status_code == 404
    _publish_now(client)
    assert served_bit(client, mine["credential"], "revocation") is True
    theirs_list = _served(client, theirs["credential"], "revocation")
    assert theirs_list["issuer"] != _served(client, mine["credential"], "revocation")["issuer"]
    assert statuslist.get_bit(statuslist.decode(theirs_list["credentialSubject"]["encodedList"]),
                              int(status_entry(mine["credential"], "revocation")["statusListIndex"])) is False


# -- credentials issued before status lists --------------------------------------------------------------
def _legacy_credential(client, key: str, achievement_id: str) -> dict:
    """A credential as issued before status lists: the old single entry, no status list index."""
    with client.sessions.begin() as s:
        issuer = s.scalar(select(Issuer))
        achievement = achievements_repo.achievement(s, issuer.id, achievement_id)
        signing_key = issuers_repo.active_signing_key(s, issuer.id)
        context = service.signer(client.settings, issuer, signing_key)
        now = utcnow()
        cid = cred.new_credential_id()
        unsigned = builder.build(client.settings, builder.template(client.settings, issuer, achievement),
                                 credential_id=cid, subject=builder.recipient_subject("Old Timer", "old@example.org"),
                                 valid_from=now, valid_until=None, status=None)
        outcome = signing.sign_documents(context.seed, context.verification_method, cred.xsd_datetime(now),
                                         [unsigned])[0]
        credentials_repo.insert_credentials(s, [credentials_repo.credential_row(
            credential_id=cid, issuer_id=issuer.id, achievement_id=achievement.id, key_id=signing_key.id,
            document=outcome.document, credential_hash=outcome.credential_hash, valid_from=now, valid_until=None,
            now=now)])
    return client.get(f"/api/v1/credentials/{cid}", headers=auth(key)).json()


def test_credentials_issued_before_status_lists_keep_their_status_and_are_revoked_per_hash(client, lakeside):
    key, achievement_id, issuer = lakeside
    old = _legacy_credential(client, key, achievement_id)
    assert old["credential"]["credentialStatus"] == {"id": f"http://verify.test/c/{old['id']}/status",
                                                     "type": "urn:microcred:MicrocredRevocation2026"}
    r = client.post(f"/api/v1/credentials/{old['id']}/suspend", json={"reason": "x"}, headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_suspension_list"
    assert client.post(f"/api/v1/credentials/{old['id']}/unsuspend", headers=auth(key)).status_code == 200
    revoked = client.post(f"/api/v1/credentials/{old['id']}/revoke", json={"reason": "old"}, headers=auth(key))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    status = client.get(f"/public/credentials/{old['id']}/status").json()
    assert status["revoked"] is True and status["reason"] == "old" and status["suspended"] is False
    with client.sessions() as s:
        revokes = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.revoke)).all()
    assert [m.payload for m in revokes] == [{"hashes": [old["credential_hash"]]}]
    assert _lists(client) == []  # no list was touched
    client.relay.tick()
    assert client.registry.revoked == [(issuer["id"], old["credential_hash"])]
    # and its document is unchanged, still valid under its signature
    document = client.get(f"/public/credentials/{old['id']}").json()
    assert document == old["credential"] and dataintegrity.verify(document, _public_key(document)).valid


def test_the_stored_document_is_what_is_served(client, lakeside):
    key, achievement_id, _ = lakeside
    issue(client, key, achievement_id)
    client.relay.tick()
    status_list = _lists(client, "suspension")[0]
    (version,) = _versions(client, status_list)
    r = client.get(status_list.url.removeprefix(ISSUER_URL))
    assert r.content == version.document.encode() and orjson.loads(version.document)["id"] == status_list.url
    assert version.hash == "0x" + credential_hash(orjson.loads(version.document)).hex()


def test_concurrent_issuances_for_one_issuer_never_share_an_index_and_open_each_list_once(database_url, tmp_path):
    """Six writers at once (as replicas would), lists of 8: every (list, index) once, no list over 8."""
    import threading

    from services.core.db import transaction

    with issuer_client(database_url, tmp_path, run_batches=False, test_status_list_entries=8) as client:
        create_issuer(client)
        with client.sessions() as s:
            issuer = s.scalar(select(Issuer))
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def writer(n: int) -> None:
            try:
                start.wait()
                for i in range(5):
                    with transaction(client.sessions) as session:
                        statuslists.allocate(session, client.settings, issuer, [f"c{n}-{i}"])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        with client.sessions() as s:
            rows = s.execute(select(StatusList.purpose, StatusList.number, StatusEntry.index, StatusEntry.credential_id)
                             .join(StatusEntry, StatusEntry.status_list_id == StatusList.id)).all()
        for purpose in ("revocation", "suspension"):
            mine = [(number, index) for p, number, index, _ in rows if p == purpose]
            assert len(mine) == 30 and len(set(mine)) == 30
            assert all(0 <= index < 8 for _, index in mine)
            per_list = {n: sum(1 for number, _ in mine if number == n) for n, _ in mine}
            assert sorted(per_list) == [1, 2, 3, 4] and per_list[1] == per_list[2] == per_list[3] == 8
            assert sorted(cid for p, _, _, cid in rows if p == purpose) == sorted(
                f"c{n}-{i}" for n in range(6) for i in range(5))
        assert [(sl.purpose, sl.number, sl.full) for sl in _lists(client)] == [
            (p, n, n < 4) for p in ("revocation", "suspension") for n in (1, 2, 3, 4)]
