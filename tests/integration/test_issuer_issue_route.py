"""``POST /api/v1/credentials`` authenticates, reads its body, issues and commits in one worker thread,
through none of FastAPI's dependencies (docs/issuer.md, "Single issuance"): it still refuses in the
order, with the words, FastAPI's dependencies and declared body gave; a revoked key is refused at
once; OpenAPI still describes it; on SQLite its transactions queue on one in-process lock. SQLite
and PostgreSQL, as the migrations build them.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.issuer.credentials import service
from services.issuer.models import Credential, IdempotencyRecord
from tests.integration.issuer_support import auth, count, create_achievement, create_issuer

NOT_AN_OBJECT = "body: Input should be a valid dictionary or object to extract fields from"


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    return issuer["api_key"], achievement["id"]


def _post(client, headers: dict, content: bytes, content_type: str | None = "application/json"):
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    return client.post("/api/v1/credentials", headers=headers, content=content)


def _body(achievement_id: str, email: str = "ada@example.org") -> bytes:
    return b'{"achievement_id": "%s", "recipient": {"name": "Ada", "email": "%s"}}' % (
        achievement_id.encode(), email.encode())


def test_the_key_is_checked_before_the_header_and_the_body(client, lakeside):
    key, _ = lakeside
    reader = client.post("/api/v1/api-keys", json={"name": "r", "scopes": ["read"]}, headers=auth(key)).json()["key"]
    r = _post(client, {}, b"[1]")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = _post(client, {"Authorization": "Bearer mc_live_" + "x" * 43}, b"[1]")
    assert r.status_code == 401 and r.json()["error"]["message"] == "unknown API key"
    r = _post(client, {**auth(reader), "Idempotency-Key": " "}, b"[1]")
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = _post(client, {**auth(key), "Idempotency-Key": "\x07"}, b"[1]")
    assert r.status_code == 422 and r.json()["error"]["message"] == "Idempotency-Key: 1 to 255 printable characters"
    assert count(client, Credential) == 0


@pytest.mark.parametrize("content, content_type, message", [
    (b"", None, "body: Field required"),
    (b"", "application/json", "body: Field required"),
    (b"[1]", "application/json", NOT_AN_OBJECT),
    (b"null", "application/json", NOT_AN_OBJECT),
    (b'"x"', "application/json", NOT_AN_OBJECT),
    ("{a}", None, NOT_AN_OBJECT),                   # no Content-Type: not JSON, as FastAPI has it
    ("{a}", "text/plain", NOT_AN_OBJECT),
    (b"a=1", "application/x-www-form-urlencoded", NOT_AN_OBJECT),
    (b'{"recipient": {"name": "A", "email": "a@example.org"}}', "application/json", "achievement_id: Field required"),
])
def test_a_bad_body_is_refused_with_fastapis_words(client, lakeside, content, content_type, message):
    key, achievement_id = lakeside
    if content == "{a}":
        content = _body(achievement_id)
    r = _post(client, auth(key), content, content_type)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"code": "invalid_request", "message": message}
    assert count(client, Credential) == 0


def test_a_json_content_type_of_any_kind_is_read(client, lakeside):
    key, achievement_id = lakeside
    r = _post(client, auth(key), _body(achievement_id), "application/vc+json; charset=utf-8")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json" and r.json()["credential"]["id"] == r.json()["url"]


def test_a_revoked_key_issues_nothing_from_the_next_request_on(client, lakeside):
    key, achievement_id = lakeside
    other = client.post("/api/v1/api-keys", json={"name": "i", "scopes": ["issue"]}, headers=auth(key)).json()
    assert _post(client, auth(other["key"]), _body(achievement_id, "a@example.org")).status_code == 201
    assert client.post(f"/api/v1/api-keys/{other['id']}/revoke", headers=auth(key)).status_code == 200
    r = _post(client, auth(other["key"]), _body(achievement_id, "b@example.org"))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert count(client, Credential) == 1


def test_an_idempotent_replay_is_200_with_the_same_credential(client, lakeside):
    key, achievement_id = lakeside
    first = _post(client, {**auth(key), "Idempotency-Key": "order-9"}, _body(achievement_id))
    again = _post(client, {**auth(key), "Idempotency-Key": "order-9"}, _body(achievement_id))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["credential"] == first.json()["credential"]
    assert count(client, Credential) == 1 and count(client, IdempotencyRecord) == 1


def test_openapi_still_describes_the_body_the_header_and_the_answer(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/credentials"]["post"]

    def resolved(schema: dict) -> dict:  # a reference into the document's components (as for a declared body)
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    schema = resolved(operation["requestBody"]["content"]["application/json"]["schema"])
    assert operation["requestBody"]["required"] is True
    assert set(schema["required"]) == {"achievement_id", "recipient"}
    assert set(resolved(schema["properties"]["recipient"])["properties"]) >= {"name", "email", "did"}
    assert "#/$defs/" not in str(schema)  # no reference dangles in the document
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/CredentialRead")


def test_on_sqlite_issue_transactions_queue_in_the_process(client, lakeside, database_url, monkeypatch):
    """Four issues at once: on SQLite never two inside the use case together (they run in turn on the
    process's issue-writer thread, not in SQLite's sleeping busy handler); on PostgreSQL no such thread."""
    key, achievement_id = lakeside
    sqlite = database_url.startswith("sqlite")
    assert (client.app.state.issue_writer is not None) == sqlite
    inside, most, lock = 0, 0, threading.Lock()
    real = service.issue_credential

    def slow(*args, **kwargs):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.05)  # long enough that four requests sent together overlap without the lock
            return real(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(service, "issue_credential", slow)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: _post(client, auth(key), _body(achievement_id, f"q{i}@example.org")),
                                range(4)))
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    assert count(client, Credential) == 4
    if sqlite:
        assert most == 1
    else:
        assert most > 1


def test_on_sqlite_the_app_checkpoints_its_log_in_a_thread(client, database_url):
    """(services/core/walcheckpoint.py: no request's commit pays for copying the log back.)"""
    running = [t for t in threading.enumerate() if t.name == "sqlite-wal-checkpoint" and t.is_alive()]
    assert len(running) == (1 if database_url.startswith("sqlite") else 0)


def test_a_new_credential_wakes_the_relay_and_a_replay_does_not(client, lakeside, monkeypatch):
    key, achievement_id = lakeside
    woken = threading.Event()
    monkeypatch.setattr(client.app.state, "wake_relay", woken, raising=False)
    headers = {**auth(key), "Idempotency-Key": "order-10"}
    assert _post(client, headers, _body(achievement_id)).status_code == 201
    assert woken.is_set()
    woken.clear()
    assert _post(client, headers, _body(achievement_id)).status_code == 200
    assert not woken.is_set()
