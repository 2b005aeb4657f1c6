"""Learners (docs/learners.md) over the real app and database: every path links a credential to its
learner, the email is never stored, another issuer's learner is 404, concurrent first credentials
make one learner."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from services.issuer.batches.runner import BatchRunner
from services.issuer.models import Issuer, Learner
from services.issuer.signing import SigningPool
from tests.integration.issuer_support import (auth, count, create_achievement, create_issuer, issue,
                                              issuer_client)

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


@pytest.fixture
def lakeside(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False) as client:
        issuer = create_issuer(client)
        yield client, issuer["api_key"], create_achievement(client, issuer["api_key"])


def _dump(client) -> str:
    """Every value of every issuer table, as text: what someone with the database would see."""
    with client.sessions() as s:
        names = [n for n in s.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars()
                 if n.startswith("issuer_")] if client.settings.database_url.startswith("sqlite") else \
            list(s.execute(text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'issuer_%'")).scalars())
        return "\n".join(str(row) for n in names for row in s.execute(text(f'SELECT * FROM "{n}"')))


def test_one_learner_links_single_issues_batch_rows_and_a_did(lakeside):
    client, key, achievement = lakeside
    first = issue(client, key, achievement["id"], email="Ada@Example.org ")
    r = client.post("/api/v1/credentials", headers=auth(key), json={
        "achievement_id": achievement["id"], "recipient": {"name": "Ada", "email": "ADA@example.org", "did": DID}})
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["credential"]["credentialSubject"]["id"] == DID
    assert "id" not in first["credential"]["credentialSubject"]
    other = issue(client, key, achievement["id"], email="grace@example.org")
    assert first["learner_id"] and first["learner_id"] == second["learner_id"] != other["learner_id"]

    batch = client.post("/api/v1/credentials/batch", headers=auth(key), json={
        "achievement_id": achievement["id"], "recipients": [{"name": "Ada", "email": "ada@EXAMPLE.org"},
                                                            {"name": "Alan", "email": "alan@example.org"}]}).json()
    BatchRunner(client.settings, client.sessions, SigningPool(1)).tick()
    rows = client.get(f"/api/v1/credentials/batches/{batch['id']}", headers=auth(key)).json()["credentials"]
    from_batch = [client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json() for c in rows]
    assert from_batch[0]["learner_id"] == first["learner_id"]
    assert from_batch[1]["learner_id"] not in (first["learner_id"], other["learner_id"])

    learner = first["learner_id"]
    listed = client.get(f"/api/v1/learners/{learner}/credentials", headers=auth(key))
    assert listed.status_code == 200
    assert listed.json()["items"] == [
        {"id": c["id"], "url": c["url"], "achievement_id": achievement["id"], "status": "pending", "pathway": False}
        for c in (first, second, from_batch[0])]
    assert client.get(f"/api/v1/learners/{learner}", headers=auth(key)).json()["did"] == DID
    found = client.get("/api/v1/learners", params={"email": " ada@example.ORG"}, headers=auth(key)).json()
    assert [x["id"] for x in found["items"]] == [learner]
    assert client.get("/api/v1/learners", params={"email": "nobody@example.org"},
                      headers=auth(key)).json() == {"items": []}
    assert count(client, Learner) == 3

    stored = _dump(client).lower()
    for address in ("ada@example.org", "grace@example.org", "alan@example.org"):
        assert address not in stored  # the batch's rows went with it; nothing else kept an address
    with client.sessions() as s:
        sealed = s.scalar(select(Issuer.sealed_learner_secret))
    assert sealed and sealed.startswith("v1:")  # sealed at rest, like signing keys


def test_another_issuers_learner_is_404_and_the_same_person_is_another_learner_there(lakeside):
    client, key, achievement = lakeside
    mine = issue(client, key, achievement["id"])
    other_key = create_issuer(client, "beta")["api_key"]
    theirs = issue(client, other_key, create_achievement(client, other_key)["id"])
    assert theirs["learner_id"] != mine["learner_id"]
    for path in (f"/api/v1/learners/{mine['learner_id']}", f"/api/v1/learners/{mine['learner_id']}/credentials"):
        r = client.get(path, headers=auth(other_key))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    with client.sessions() as s:
        keys = set(s.scalars(select(Learner.email_key)))
    assert len(keys) == 2  # one secret per issuer: the same address hashes differently


def test_bad_email_or_did_is_refused_and_nothing_is_made(lakeside):
    client, key, achievement = lakeside
    assert client.get("/api/v1/learners", params={"email": "not-an-email"}, headers=auth(key)).status_code == 422
    for did in ("did:", "did:key:", "key:z6Mk", "did:key:z6Mk hack", "did:Key:x"):
        r = client.post("/api/v1/credentials", headers=auth(key), json={
            "achievement_id": achievement["id"], "recipient": {"name": "A", "email": "a@example.org", "did": did}})
        assert r.status_code == 422, did
    assert count(client, Learner) == 0


def test_concurrent_first_credentials_of_one_person_make_one_learner(lakeside):
    """Six writers at once (as replicas would), before the issuer even has its learner secret."""
    import threading

    from services.core.db import transaction
    from services.issuer.learners import service as learners

    client, _, _ = lakeside
    with client.sessions() as s:
        issuer = s.scalar(select(Issuer))
    assert issuer.sealed_learner_secret is None
    start, found, errors = threading.Barrier(6), [], []

    def writer() -> None:
        try:
            start.wait()
            with transaction(client.sessions) as session:
                found.append(learners.link(session, client.settings, issuer, email="same@example.org"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(found) == 6 and len(set(found)) == 1 and count(client, Learner) == 1


def test_credentials_issued_before_learners_have_none(lakeside):
    client, key, achievement = lakeside
    old = issue(client, key, achievement["id"])
    with client.sessions.begin() as s:  # as a row from before the migration: no learner
        s.execute(text("UPDATE issuer_credentials SET learner_id = NULL"))
    assert client.get(f"/api/v1/credentials/{old['id']}", headers=auth(key)).json()["learner_id"] is None
    assert client.get(f"/api/v1/learners/{old['learner_id']}/credentials", headers=auth(key)).json() == {"items": []}
