"""Endorsers and endorsements at the issuer (docs/endorsements.md): who may call what, on every route.

An endorser's key has the ``endorse`` scope alone, and the organisation's kind bounds what any of
its keys may do: every issuer route refuses it, every endorser route refuses an issuer's key, and
no key row can be given the other kind's scopes.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from services.issuer.models import ApiKey, Credential, Endorsement, OutboxKind, OutboxMessage, StatusEntry
from tests.integration.issuer_support import (ADMIN, auth, count, create_achievement, create_issuer, issue,
                                              issuer_client)

ENDORSER_ROUTES = {("POST", "/api/v1/endorsements"), ("GET", "/api/v1/endorsements"),
                   ("GET", "/api/v1/endorsements/{endorsement_id}"), ("GET", "/api/v1/endorser"),
                   ("POST", "/api/v1/endorser/signing-keys/rotate")}
ADMIN_ROUTES = {("POST", "/api/v1/issuers"), ("POST", "/api/v1/endorsers")}
# Revoking is shared: an endorser revokes its own endorsements there (and reaches nothing else).
SHARED = {("POST", "/api/v1/credentials/{credential_id}/revoke")}


def _create_endorser(client, slug="nusenda", name="Nusenda Credit Union") -> dict:
    r = client.post("/api/v1/endorsers", headers=auth(ADMIN),
                    json={"name": name, "slug": slug, "url": f"https://{slug}.example", "email": f"hr@{slug}.example"})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def world(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False) as client:
        issuer = create_issuer(client, "cascade")
        achievement = create_achievement(client, issuer["api_key"])
        credential = issue(client, issuer["api_key"], achievement["id"])
        endorser = _create_endorser(client)
        yield client, issuer, achievement, credential, endorser


def _api_routes(client):
    """(method, path) of every authenticated route, from the OpenAPI document: the issuer API and the VC-API."""
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not (path.startswith("/api/v1/") or path.startswith("/credentials")) or path == "/api/v1/health":
            continue
        for method in operations:
            yield method.upper(), path


def _call(client, method, path, key):
    concrete = re.sub(r"\{[^}]+\}", "x1234567890", path)
    return client.request(method, concrete, headers=auth(key), json={} if method != "GET" else None)


def test_every_issuer_route_refuses_an_endorser_key(world):
    client, _, _, _, endorser = world
    routes = set(_api_routes(client))
    issuer_only = routes - ENDORSER_ROUTES - ADMIN_ROUTES - SHARED
    assert len(issuer_only) >= 20  # the sweep sees the API, not an empty list
    before = count(client, Credential)
    for method, path in sorted(issuer_only):
        r = _call(client, method, path, endorser["api_key"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", (method, path, r.text)
    for method, path in ADMIN_ROUTES:
        assert _call(client, method, path, endorser["api_key"]).status_code == 401
    assert count(client, Credential) == before


def test_every_endorser_route_refuses_an_issuer_key(world):
    client, issuer, achievement, _, _ = world
    for method, path in ENDORSER_ROUTES:
        r = _call(client, method, path, issuer["api_key"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", (method, path, r.text)
    r = client.post("/api/v1/endorsements", headers=auth(issuer["api_key"]),
                    json={"achievement_id": achievement["id"], "comment": "We are great."})
    assert r.status_code == 403
    assert count(client, Endorsement) == 0


def test_no_key_gets_the_other_kinds_scopes(world):
    client, issuer, achievement, _, endorser = world
    # An issuer cannot mint itself an endorse key …
    r = client.post("/api/v1/api-keys", headers=auth(issuer["api_key"]), json={"name": "e", "scopes": ["endorse"]})
    assert r.status_code == 422
    # … and a key row that says otherwise (a bad migration, a hand edit) is bounded by the organisation's kind.
    with client.sessions.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.issuer_id == issuer["id"]).values(scopes=["issue", "endorse"]))
        s.execute(update(ApiKey).where(ApiKey.issuer_id == endorser["id"]).values(scopes=["endorse", "issue"]))
    r = client.post("/api/v1/endorsements", headers=auth(issuer["api_key"]),
                    json={"achievement_id": achievement["id"], "comment": "We are great."})
    assert r.status_code == 403
    r = client.post("/api/v1/credentials", headers=auth(endorser["api_key"]),
                    json={"achievement_id": achievement["id"], "recipient": {"name": "E", "email": "e@example.org"}})
    assert r.status_code == 403
    r = client.post("/api/v1/endorsements", headers=auth(endorser["api_key"]),
                    json={"achievement_id": achievement["id"], "comment": "Still fine."})
    assert r.status_code == 201, r.text


def test_an_endorser_is_made_like_an_issuer_and_shares_its_slugs(world):
    client, _, _, _, endorser = world
    assert endorser["did"].endswith(":issuers:nusenda") and endorser["id"].startswith("end_")
    assert client.registry.accounts[endorser["id"]]["did"] == endorser["did"]  # its own chain account
    assert client.get("/issuers/nusenda/did.json").status_code == 200
    assert client.get("/issuers/nusenda").json()["name"] == "Nusenda Credit Union"
    keys = client.get("/api/v1/endorser", headers=auth(endorser["api_key"])).json()["signing_keys"]
    assert len(keys) == 1 and keys[0]["state"] == "active"
    r = client.post("/api/v1/endorsers", json={"name": "X", "slug": "cascade", "url": "https://x.example",
                                               "email": "x@x.example"}, headers=auth(ADMIN))
    assert r.status_code == 409
    r = client.post("/api/v1/endorsers", json={"name": "X", "slug": "other", "url": "https://x.example",
                                               "email": "x@x.example"})
    assert r.status_code == 401


def test_public_lists_name_an_achievements_and_its_issuers_endorsements(world):
    client, issuer, achievement, _, endorser = world
    other = create_achievement(client, issuer["api_key"], name="Empathy")
    key = auth(endorser["api_key"])
    of_achievement = client.post("/api/v1/endorsements", headers=key,
                                 json={"achievement_id": achievement["id"], "comment": "Yes."}).json()
    of_issuer = client.post("/api/v1/endorsements", headers=key, json={"issuer": "cascade", "comment": "Yes."}).json()
    listed = client.get(f"/public/achievements/{achievement['id']}/endorsements").json()["items"]
    assert {(i["url"], i["about"]) for i in listed} == {(of_achievement["url"], "achievement"),
                                                        (of_issuer["url"], "issuer")}
    assert [i["url"] for i in client.get(f"/public/achievements/{other['id']}/endorsements").json()["items"]] == \
        [of_issuer["url"]]
    assert [i["url"] for i in client.get("/issuers/cascade/endorsements").json()["items"]] == [of_issuer["url"]]
    assert client.get("/public/achievements/ach_nope/endorsements").status_code == 404
    mine = client.get("/api/v1/endorsements", headers=key).json()["items"]
    assert [(m["about"], m["issuer"], m["comment"]) for m in mine] == [("achievement", "cascade", "Yes."),
                                                                        ("issuer", "cascade", "Yes.")]
    # The endorsement document is served like any credential, at the public credential route.
    document = client.get(f"/public/credentials/{of_issuer['id']}").json()
    assert document["credentialSubject"]["id"] == issuer["did"]


def test_an_endorser_rotates_its_own_key_and_signs_with_the_new_one(world):
    client, _, achievement, _, endorser = world
    key = auth(endorser["api_key"])
    r = client.post("/api/v1/endorser/signing-keys/rotate", headers=key, json={})
    assert r.status_code == 200, r.text
    new = r.json()["new_key"]
    with client.sessions() as s:  # the registry hears it through the outbox, for the endorser's own account
        queued = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.rotate_key)).all()
    assert [(m.issuer_id, m.payload["public_key"]) for m in queued] == [(endorser["id"], new["public_key"])]
    created = client.post("/api/v1/endorsements", headers=key,
                          json={"achievement_id": achievement["id"], "comment": "After the rotation."}).json()
    assert created["credential"]["proof"][0]["verificationMethod"] == new["verification_method"]


def _rows(client) -> tuple[int, int, int, int]:
    return (count(client, Endorsement), count(client, Credential), count(client, OutboxMessage),
            count(client, StatusEntry))


def test_concurrent_endorsements_of_one_subject_make_one_and_the_rest_change_nothing(world, monkeypatch):
    """Six POSTs at once (as replicas would): the database's unique index, not a read before the insert, decides."""
    client, issuer, achievement, _, endorser = world
    key = auth(endorser["api_key"])
    before = _rows(client)
    # Each transaction waits before committing, so every request reads "not endorsed yet" before any commits.
    monkeypatch.setenv("MICROCRED_TEST_COMMIT_DELAY", "0.3")
    for body in ({"achievement_id": achievement["id"], "comment": "Yes."}, {"issuer": "cascade", "comment": "Yes."}):
        with ThreadPoolExecutor(6) as ex:
            answers = list(ex.map(lambda _: client.post("/api/v1/endorsements", headers=key, json=body), range(6)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
        assert all(a.json()["error"]["code"] == "already_endorsed" for a in answers if a.status_code == 409)
    monkeypatch.delenv("MICROCRED_TEST_COMMIT_DELAY")
    # Two endorsements, each one credential, one anchor message and two status-list entries; nothing else.
    assert _rows(client) == (before[0] + 2, before[1] + 2, before[2] + 2, before[3] + 4)
    mine = client.get("/api/v1/endorsements", headers=key).json()["items"]
    assert sorted(m["about"] for m in mine) == ["achievement", "issuer"]


def test_a_revoked_endorsement_no_longer_stands_and_the_subject_can_be_endorsed_again(world):
    client, _, achievement, _, endorser = world
    key = auth(endorser["api_key"])
    body = {"achievement_id": achievement["id"], "comment": "Yes."}
    first = client.post("/api/v1/endorsements", headers=key, json=body).json()
    before = _rows(client)
    r = client.post("/api/v1/endorsements", headers=key, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_endorsed"
    assert _rows(client) == before
    assert client.post(f"/api/v1/credentials/{first['id']}/revoke", headers=key, json={"reason": "x"}
                       ).status_code == 200
    with client.sessions() as s:
        assert s.get(Endorsement, first["id"]).standing is False
    second = client.post("/api/v1/endorsements", headers=key, json={**body, "comment": "Yes, still."})
    assert second.status_code == 201, second.text
    r = client.post("/api/v1/endorsements", headers=key, json=body)
    assert r.status_code == 409


def test_one_endorser_revoking_again_and_again_pushes_no_one_out_of_the_public_list(world):
    client, _, achievement, _, loud = world
    quiet = _create_endorser(client, slug="bosque", name="Bosque Builders")
    kept = client.post("/api/v1/endorsements", headers=auth(quiet["api_key"]),
                       json={"achievement_id": achievement["id"], "comment": "Sound work."}).json()
    withdrawn = []
    for n in range(22):  # more than the old list of the newest 20, revoked ones included
        made = client.post("/api/v1/endorsements", headers=auth(loud["api_key"]),
                           json={"achievement_id": achievement["id"], "comment": f"Take {n}."}).json()
        assert client.post(f"/api/v1/credentials/{made['id']}/revoke", headers=auth(loud["api_key"]),
                           json={"reason": "changed my mind"}).status_code == 200
        withdrawn.append(made["url"])
    listed = [i["url"] for i in client.get(f"/public/achievements/{achievement['id']}/endorsements").json()["items"]]
    assert listed == [kept["url"], withdrawn[-1]]  # the standing one first, then the loud endorser's latest only
    standing = client.post("/api/v1/endorsements", headers=auth(loud["api_key"]),
                           json={"achievement_id": achievement["id"], "comment": "Final."}).json()
    listed = [i["url"] for i in client.get(f"/public/achievements/{achievement['id']}/endorsements").json()["items"]]
    assert listed == [standing["url"], kept["url"], withdrawn[-1]]


def test_the_migrated_table_is_the_models_with_its_partial_unique_indexes(database_url):
    """Migration 0013 and ``models.Endorsement`` agree: columns, indexes, and what each unique index covers."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect, text

    from services.core.db import make_engine
    from services.issuer.models import Base

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert [d for d in diffs if "issuer_endorsements" in repr(d)] == []
            indexes = {i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
                       for i in inspect(conn).get_indexes("issuer_endorsements")}
            if conn.dialect.name == "sqlite":
                sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all())
            else:
                sql = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all())
    finally:
        engine.dispose()
    modelled = {i.name: (tuple(c.name for c in i.columns), bool(i.unique)) for i in Endorsement.__table__.indexes}
    assert indexes == modelled
    normal = {name: re.sub(r"[()\s]+", " ", sql[name]).lower() for name in modelled if name.startswith("uq_")}
    assert "where standing and achievement_id is not null" in normal["uq_issuer_endorsements_standing_achievement"]
    assert "where standing and subject_issuer_id is not null" in normal["uq_issuer_endorsements_standing_issuer"]
