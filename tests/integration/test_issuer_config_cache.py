"""The single issue's per-process cache of its issuer's facts (services/issuer/credentials/context.py):
every change to what it caches is seen by the very next issue, on SQLite and PostgreSQL.

The changes are made as another process would make them — through a connection of its own,
or through the API — never by telling the cache: the database's triggers (migration 0018) bump
the issuer's ``config_version`` and that alone must make the next issue read afresh.
"""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, inspect, select, text, update

from services.core import urlsafety
from services.issuer.credentials import context
from services.issuer.models import (Achievement, AwardJob, Credential, Issuer, PathwayComponent, SigningKey,
                                    StatusEntry, StatusList, WebhookEvent)
from tests.integration.issuer_support import auth, create_achievement, create_issuer, issue, issuer_client

WATCHED = ("issuer_signing_keys", "issuer_achievements", "issuer_pathway_components", "issuer_webhook_endpoints")


@pytest.fixture(autouse=True)
def _fresh_cache():
    context.clear()
    yield
    context.clear()


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    issue(client, issuer["api_key"], achievement["id"], email="first@example.org")  # fills the cache
    return issuer["api_key"], achievement["id"], issuer["id"]


def _version(client, issuer_id: str) -> int:
    with client.sessions() as s:
        return s.scalar(select(Issuer.config_version).where(Issuer.id == issuer_id))


def test_every_watched_table_has_its_three_triggers(client):
    """SQLite drops a table's triggers when a batch migration rebuilds it: this fails if one is gone."""
    with client.sessions() as s:
        if s.get_bind().dialect.name == "postgresql":
            names = set(s.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
        else:
            names = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
    assert {f"{t}_bump_{op}" for t in WATCHED for op in ("insert", "update", "delete")} <= names
    assert "config_version" in {c["name"] for c in inspect(client.sessions().get_bind()).get_columns("issuer_issuers")}


def test_issuing_twice_reads_nothing_about_the_issuer_again(client, lakeside):
    """Cached: the next issue of an achievement runs none of the five reads."""
    key, achievement_id, _ = lakeside
    issue(client, key, achievement_id, email="again@example.org")  # after the first opened the status lists
    seen = _statements(client, lambda: issue(client, key, achievement_id, email="second@example.org"))
    # the API key with its issuer, the learner, the entries, the credential, the outbox; on PostgreSQL
    # the entries' savepoint (SAVEPOINT, RELEASE) and the relay's NOTIFY too
    postgres = client.app.state.sessions.kw["bind"].dialect.name == "postgresql"
    assert len([s for s in seen if not s.startswith("NOTIFY")]) == (7 if postgres else 5), seen
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    for table in (*WATCHED, "issuer_status_lists"):
        assert not [s for s in selects if f"FROM {table}" in s], (table, selects)


def test_a_rotation_signs_the_next_credential_with_the_new_key(client, lakeside):
    key, achievement_id, issuer_id = lakeside
    before = _version(client, issuer_id)
    r = client.post("/api/v1/issuer/signing-keys/rotate", json={}, headers=auth(key))
    assert r.status_code == 200, r.text
    assert _version(client, issuer_id) > before
    new = issue(client, key, achievement_id, email="after@example.org")
    with client.sessions() as s:
        active = s.scalar(select(SigningKey).where(SigningKey.issuer_id == issuer_id, SigningKey.state == "active"))
        stored = s.get(Credential, new["id"])
    assert stored.signing_key_id == active.id
    assert new["credential"]["proof"][0]["verificationMethod"].endswith("#" + active.multikey)


def test_an_achievement_made_a_pathway_elsewhere_is_refused_at_once(client, lakeside):
    key, achievement_id, _ = lakeside
    with client.sessions() as s, s.begin():  # another process's write, not through this app
        s.execute(update(Achievement).where(Achievement.id == achievement_id)
                  .values(requires={"k": 1, "of": ["ach_other"]}))
    r = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                 "recipient": {"name": "Ada", "email": "ada2@example.org"}},
                    headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "pathway_awarded_automatically", r.text


def test_a_changed_achievement_is_what_the_next_credential_says(client, lakeside):
    key, achievement_id, _ = lakeside
    with client.sessions() as s, s.begin():
        s.execute(update(Achievement).where(Achievement.id == achievement_id).values(name="Critical Thinking II"))
    new = issue(client, key, achievement_id, email="renamed@example.org")
    assert new["credential"]["credentialSubject"]["achievement"]["name"] == "Critical Thinking II"


def test_a_new_pathway_over_the_achievement_queues_an_award_job_on_the_next_issue(client, lakeside):
    key, achievement_id, issuer_id = lakeside
    other = create_achievement(client, key, name="Teamwork")
    r = client.post("/api/v1/achievements", headers=auth(key), json={
        "name": "Leader", "description": "Both.", "criteria": {"narrative": "Hold both."},
        "requires": {"all_of": [achievement_id, other["id"]]}})
    assert r.status_code == 201, r.text
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PathwayComponent)) == 2
        jobs = s.scalar(select(func.count()).select_from(AwardJob))
    issue(client, key, achievement_id, email="component@example.org")
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardJob)) == jobs + 1


def test_a_new_webhook_endpoint_gets_the_next_credentials_event(client, lakeside, monkeypatch):
    key, achievement_id, _ = lakeside
    real = urlsafety._addresses_blocking  # the partner's host resolves to loopback at registration
    monkeypatch.setattr(urlsafety, "_addresses_blocking",
                        lambda host, port: ["127.0.0.1"] if host == "hooks.partner.example" else real(host, port))
    r = client.post("/api/v1/webhooks", json={"url": "https://hooks.partner.example/in", "events": ["credential.issued"]},
                    headers=auth(key))
    assert r.status_code == 201, r.text
    new = issue(client, key, achievement_id, email="hooked@example.org")
    with client.sessions() as s:
        bodies = [orjson.loads(b) for b in s.scalars(select(WebhookEvent.body))]
    assert [b["data"]["credential"]["id"] for b in bodies if b["type"] == "credential.issued"] == [new["id"]]
    r = client.delete(f"/api/v1/webhooks/{r.json()['id']}", headers=auth(key))
    assert r.status_code == 204, r.text
    issue(client, key, achievement_id, email="unhooked@example.org")
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == len(bodies)


def test_a_list_filled_elsewhere_is_left_for_the_next_one(database_url, tmp_path):
    """Status lists bump no version (issuances open and fill them concurrently): a cached list that
    another process filled fails the insert like a taken index, the next list is used, and the
    cache reads the lists again."""
    from services.core.db import transaction
    from services.issuer import statuslists

    with issuer_client(database_url, tmp_path, run_batches=False, test_status_list_entries=4) as client:
        key = create_issuer(client)["api_key"]
        achievement_id = create_achievement(client, key)["id"]
        issue(client, key, achievement_id, email="one@example.org")  # opens list 1 of each purpose
        with client.sessions() as s:
            issuer = s.scalar(select(Issuer))
            cached = context.open_lists(s, issuer, context.facts(issuer))  # as the next issue would cache them
        assert [sl.url[-2:] for sl in cached] == ["/1", "/1"]
        with transaction(client.sessions) as session:  # another process takes the rest, and opens list 2
            statuslists.allocate(session, client.settings, issuer, ["x1", "x2", "x3", "x4"])
        with client.sessions() as s:
            assert [(sl.number, sl.full) for sl in s.scalars(select(StatusList).order_by(StatusList.id))] == [
                (1, True), (1, True), (2, False), (2, False)]
        assert context.facts(issuer).open_lists is cached  # not read again: nothing bumped the version
        third = issue(client, key, achievement_id, email="three@example.org")
        assert context.facts(issuer).open_lists == []  # emptied by the failed try: read again next time
        fourth = issue(client, key, achievement_id, email="four@example.org")
        for credential in (third, fourth):
            urls = {e["statusListCredential"] for e in credential["credential"]["credentialStatus"]}
            assert len(urls) == 2 and all(u.endswith("/2") for u in urls), urls


def _statements(client, fn) -> list[str]:
    from sqlalchemy import event

    engine = client.app.state.sessions.kw["bind"]
    seen: list[str] = []
    listener = lambda conn, cursor, statement, params, ctx, many: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def test_a_revocation_does_not_empty_the_cache(client, lakeside):
    """A revocation changes a credential, its entry and its list's count: none of them cached."""
    key, achievement_id, issuer_id = lakeside
    credential = issue(client, key, achievement_id, email="revoked@example.org")
    before = _version(client, issuer_id)
    r = client.post(f"/api/v1/credentials/{credential['id']}/revoke", json={"reason": "mistake"}, headers=auth(key))
    assert r.status_code == 200, r.text
    assert _version(client, issuer_id) == before


def test_no_issuer_is_served_anothers_facts(client, lakeside):
    key, achievement_id, issuer_id = lakeside
    harbor = create_issuer(client, slug="harbor")
    theirs = create_achievement(client, harbor["api_key"], name="Harbor Safety")
    # Lakeside's key on Harbor's (cached nowhere for Lakeside) achievement, and the other way round.
    r = client.post("/api/v1/credentials", json={"achievement_id": theirs["id"],
                                                 "recipient": {"name": "Ada", "email": "x@example.org"}},
                    headers=auth(key))
    assert r.status_code == 404, r.text
    issue(client, harbor["api_key"], theirs["id"], email="h@example.org")  # Harbor's entry filled
    r = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                 "recipient": {"name": "Ada", "email": "y@example.org"}},
                    headers=auth(harbor["api_key"]))
    assert r.status_code == 404, r.text
    mine = issue(client, key, achievement_id, email="z@example.org")
    assert mine["credential"]["issuer"]["id"].endswith(":issuers:lakeside")
    with client.sessions() as s:
        signer = s.get(SigningKey, s.get(Credential, mine["id"]).signing_key_id)
    assert signer.issuer_id == issuer_id
