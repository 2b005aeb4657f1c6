"""The issuer API over HTTP (in process), on SQLite and PostgreSQL built by the migrations.

The registry is a fake here (tests/integration/issuer_support.py); test_issuer_registry_http.py
and tests/e2e use the real one.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.core import dataintegrity
from services.core.jsonld import credential_hash
from services.core.multiformats import decode_public_key
from services.issuer.models import (Achievement, ApiKey, Credential, IdempotencyRecord, Image, Issuer, OutboxKind,
                                    OutboxMessage, SigningKey, StatusList)
from tests.integration.issuer_support import (ADMIN, ACHIEVEMENT, auth, count, create_achievement, create_issuer,
                                              data_uri, issue, tiny_png)


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    return issuer["api_key"], achievement["id"], issuer


def _public_key(document: dict) -> bytes:
    return decode_public_key(document["proof"][0]["verificationMethod"].split("#", 1)[1])


# -- issuers -------------------------------------------------------------------------------------
def test_creating_an_issuer_gives_a_did_a_key_shown_once_and_a_chain_account(client):
    body = create_issuer(client, linkedin_organization_id="1337")
    assert body["did"] == "did:web:issuer.test%3A8001:issuers:lakeside"
    assert body["api_key"].startswith("mc_live_")
    assert body["registry"]["state"] == "registering" and body["registry"]["address"].startswith("0x")
    with client.sessions() as s:
        issuer = s.scalar(select(Issuer))
        key = s.scalar(select(SigningKey))
        api_key = s.scalar(select(ApiKey))
        message = s.scalar(select(OutboxMessage))
    assert api_key.key_hash != body["api_key"] and body["api_key"] not in str(api_key.__dict__)
    assert key.sealed_private_key.startswith("v1:")
    assert client.registry.accounts[issuer.id]["public_key"] == key.public_key
    assert message.kind == OutboxKind.register_issuer and message.state.value == "done"
    me = client.get("/api/v1/issuer", headers=auth(body["api_key"])).json()
    assert me["slug"] == "lakeside" and me["signing_keys"][0]["verification_method"].endswith(key.multikey)


def test_profile_and_did_document_are_public(client):
    body = create_issuer(client, linkedin_organization_id="1337", logo=data_uri(tiny_png()))
    profile = client.get("/issuers/lakeside").json()
    assert profile["id"] == body["did"] and profile["type"] == ["Profile"] and profile["name"] == "Lakeside College"
    assert profile["image"]["id"].startswith("http://issuer.test:8001/public/images/")
    assert profile["otherIdentifier"][0]["identifier"] == "1337"
    assert client.get(profile["image"]["id"].removeprefix("http://issuer.test:8001")).content.startswith(b"\x89PNG")
    did = client.get("/issuers/lakeside/did.json")
    assert did.headers["content-type"].startswith("application/did+json")
    doc = did.json()
    assert doc["id"] == body["did"]
    assert doc["assertionMethod"] == [m["id"] for m in doc["verificationMethod"] if m["type"] == "Multikey"]
    assert client.get("/issuers/nobody").status_code == 404


@pytest.mark.parametrize("token", [None, "wrong-admin-token-0123456789", "mc_live_notakey0000000000000000"])
def test_only_the_admin_token_creates_issuers(client, token):
    headers = auth(token) if token else {}
    r = client.post("/api/v1/issuers", json={"name": "X", "slug": "xx", "url": "https://x.example",
                                             "email": "a@x.example"}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert count(client, Issuer) == 0


def test_an_issuers_api_key_cannot_create_issuers(client):
    key = create_issuer(client)["api_key"]
    r = client.post("/api/v1/issuers", json={"name": "X", "slug": "xx", "url": "https://x.example",
                                             "email": "a@x.example"}, headers=auth(key))
    assert r.status_code == 401
    assert count(client, Issuer) == 1


@pytest.mark.parametrize("body", [
    {"name": "X", "slug": "Bad Slug", "url": "https://x.example", "email": "a@x.example"},
    {"name": "X", "slug": "xx", "url": "javascript:alert(1)", "email": "a@x.example"},
    {"name": "X", "slug": "xx", "url": "https://x.example", "email": "not-an-email"},
    {"name": "", "slug": "xx", "url": "https://x.example", "email": "a@x.example"},
    {"name": "X", "slug": "xx", "url": "https://x.example", "email": "a@x.example", "admin": True},
    {"name": "X", "slug": "xx", "url": "https://x.example", "email": "a@x.example", "logo": "ftp://x"},
    {"name": "X", "slug": "xx", "url": "https://x.example", "email": "a@x.example",
     "logo": data_uri(b"<html>hi</html>", "image/svg+xml")},
    {"slug": "xx"},
])
def test_bad_issuer_bodies_are_refused_and_nothing_is_stored(client, body):
    r = client.post("/api/v1/issuers", json=body, headers=auth(ADMIN))
    assert r.status_code == 422, r.text
    assert set(r.json()["error"]) == {"code", "message"}
    assert count(client, Issuer) == 0 and count(client, SigningKey) == 0 and count(client, Image) == 0


def test_a_taken_slug_is_a_conflict(client):
    create_issuer(client)
    r = client.post("/api/v1/issuers", json={"name": "Y", "slug": "lakeside", "url": "https://y.example",
                                             "email": "a@y.example"}, headers=auth(ADMIN))
    assert r.status_code == 409 and r.json()["error"]["code"] == "slug_taken"
    assert count(client, Issuer) == 1


# -- API keys ---------------------------------------------------------------------------------------
def test_api_keys_are_created_listed_scoped_and_revoked(client, lakeside):
    key, achievement_id, _ = lakeside
    r = client.post("/api/v1/api-keys", json={"name": "read only", "scopes": ["read"]}, headers=auth(key))
    assert r.status_code == 201
    reader = r.json()
    assert reader["key"].startswith(reader["prefix"]) and reader["scopes"] == ["read"]
    listed = client.get("/api/v1/api-keys", headers=auth(key)).json()
    assert len(listed) == 2 and all("key" not in k for k in listed)
    assert client.get("/api/v1/achievements", headers=auth(reader["key"])).status_code == 200
    r = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                 "recipient": {"name": "A", "email": "a@example.org"}},
                    headers=auth(reader["key"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert client.get("/api/v1/api-keys", headers=auth(reader["key"])).status_code == 403
    assert client.post(f"/api/v1/api-keys/{reader['id']}/revoke", headers=auth(key)).json()["revoked_at"]
    r = client.get("/api/v1/achievements", headers=auth(reader["key"]))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert count(client, Credential) == 0


@pytest.mark.parametrize("body", [{"name": "x", "scopes": []}, {"name": "x", "scopes": ["admin"]},
                                  {"name": "", "scopes": ["read"]}, {"scopes": ["read"]}])
def test_bad_api_key_requests_are_refused(client, lakeside, body):
    r = client.post("/api/v1/api-keys", json=body, headers=auth(lakeside[0]))
    assert r.status_code == 422
    assert count(client, ApiKey) == 1


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer mc_live_" + "x" * 43])
def test_issuer_routes_need_a_valid_api_key(client, lakeside, header):
    r = client.get("/api/v1/achievements", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


# -- achievements and images ---------------------------------------------------------------------------
def test_achievement_with_an_uploaded_svg_image(client, lakeside):
    key = lakeside[0]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>x()</script><circle r="4"/></svg>'
    r = client.post("/api/v1/images", files={"file": ("badge.svg", svg, "image/svg+xml")}, headers=auth(key))
    assert r.status_code == 201, r.text
    image = r.json()
    served = client.get(image["url"].removeprefix("http://issuer.test:8001"))
    assert served.headers["content-type"] == "image/svg+xml" and b"script" not in served.content
    assert "sandbox" in served.headers["content-security-policy"]
    achievement = create_achievement(client, key, image=image["id"], image_caption="The badge")
    assert achievement["achievement"]["image"] == {"id": image["url"], "type": "Image", "caption": "The badge"}
    assert achievement["achievement"]["criteria"] == ACHIEVEMENT["criteria"]
    assert achievement["achievement"]["alignment"][0]["type"] == ["Alignment"]
    listed = client.get("/api/v1/achievements", headers=auth(key)).json()
    assert {a["id"] for a in listed} == {lakeside[1], achievement["id"]}
    public = client.get(f"/public/achievements/{achievement['id']}").json()
    assert public["id"] == achievement["achievement"]["id"]


@pytest.mark.parametrize("content,status,code", [
    (b"GIF89a" + b"\x00" * 20, 422, "invalid_image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "invalid_image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg">' + b" " * (600 * 1024) + b"</svg>", 413, "payload_too_large"),
])
def test_bad_or_oversized_uploads_are_refused_and_nothing_is_stored(client, lakeside, content, status, code):
    r = client.post("/api/v1/images", files={"file": ("x", content, "image/png")}, headers=auth(lakeside[0]))
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert count(client, Image) == 0


@pytest.mark.parametrize("change", [
    {"image": "0" * 64},
    {"criteria": {}},
    {"achievementType": "Nonsense"},
    {"alignment": [{"targetName": "x"}]},
    {"validity_days": 0},
    {"level": "expert"},
    {"name": "x" * 201},
])
def test_bad_achievements_are_refused_and_nothing_is_stored(client, lakeside, change):
    r = client.post("/api/v1/achievements", json={**ACHIEVEMENT, **change}, headers=auth(lakeside[0]))
    assert r.status_code == 422, r.text
    assert count(client, Achievement) == 1


# -- issuing -------------------------------------------------------------------------------------------------
def test_an_issued_credential_is_signed_hashed_and_queued_for_anchoring(client, lakeside):
    key, achievement_id, issuer = lakeside
    body = issue(client, key, achievement_id, evidence=[{"id": "https://x.example/essay", "name": "Capstone"}],
                 valid_from="2026-11-01T09:00:00+01:00")
    doc = body["credential"]
    assert body["status"] == "pending" and body["url"] == doc["id"] == f"http://verify.test/c/{body['id']}"
    assert len(body["id"]) >= 22
    assert doc["issuer"]["id"] == issuer["did"]
    assert doc["validFrom"] == "2026-11-01T08:00:00Z" and doc["validUntil"] == "2028-10-31T08:00:00Z"
    assert doc["evidence"] == [{"type": ["Evidence"], "id": "https://x.example/essay", "name": "Capstone"}]
    assert "ada@example.org" not in str(doc)
    result = dataintegrity.verify(doc, _public_key(doc))
    assert result.valid and "0x" + result.document_hash.hex() == body["credential_hash"]
    assert "0x" + credential_hash(doc).hex() == body["credential_hash"]
    with client.sessions() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.anchor))
    assert message.payload == {"hashes": [body["credential_hash"]]}
    assert client.get(f"/api/v1/credentials/{body['id']}", headers=auth(key)).json() == body
    assert client.get(f"/public/credentials/{body['id']}").json() == doc


def test_idempotency_key_same_body_same_credential_other_body_conflict(client, lakeside):
    key, achievement_id, _ = lakeside
    first = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                     "recipient": {"name": "Ada", "email": "ada@example.org"}},
                        headers={**auth(key), "Idempotency-Key": "order-17"})
    again = client.post("/api/v1/credentials", json={"recipient": {"email": "ada@example.org", "name": "Ada"},
                                                     "achievement_id": achievement_id},
                        headers={**auth(key), "Idempotency-Key": "order-17"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["credential"] == first.json()["credential"]
    other = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                     "recipient": {"name": "Bob", "email": "bob@example.org"}},
                        headers={**auth(key), "Idempotency-Key": "order-17"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert count(client, Credential) == 1 and count(client, IdempotencyRecord) == 1
    without = issue(client, key, achievement_id)
    assert without["id"] != first.json()["id"] and count(client, Credential) == 2


@pytest.mark.parametrize("body,status", [
    ({"achievement_id": "ach_unknown", "recipient": {"name": "A", "email": "a@example.org"}}, 404),
    ({"recipient": {"name": "A", "email": "a@example.org"}}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "A", "email": "not an email"}}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "", "email": "a@example.org"}}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "A\x00B", "email": "a@example.org"}}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "A", "email": "a@example.org"}, "valid_from": "2026-01-01T00:00:00"}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "A", "email": "a@example.org"}, "evidence": [{}]}, 422),
    ({"achievement_id": "{a}", "recipient": {"name": "A", "email": "a@example.org"}, "extra": 1}, 422),
    ([1, 2, 3], 422),
])
def test_bad_issue_requests_are_clear_4xx_and_store_nothing(client, lakeside, body, status):
    key, achievement_id, _ = lakeside
    if isinstance(body, dict) and body.get("achievement_id") == "{a}":
        body["achievement_id"] = achievement_id
    r = client.post("/api/v1/credentials", json=body, headers=auth(key))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] and r.json()["error"]["message"]
    assert count(client, Credential) == 0 and count(client, OutboxMessage) == 1  # the registration only


def test_malformed_json_and_oversized_bodies(client, lakeside):
    key = lakeside[0]
    r = client.post("/api/v1/credentials", content=b"{not json", headers={**auth(key), "Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/api/v1/credentials", content=b"x" * (3 * 1024 * 1024),
                    headers={**auth(key), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert count(client, Credential) == 0


def test_revocation_is_immediate_public_and_queued_once(client, lakeside):
    key, achievement_id, _ = lakeside
    body = issue(client, key, achievement_id)
    assert client.get(f"/public/credentials/{body['id']}/status").json() == {
        "revoked": False, "revokedAt": None, "reason": None,
        "suspended": False, "suspendedAt": None, "suspensionReason": None, "renewedBy": None}
    r = client.post(f"/api/v1/credentials/{body['id']}/revoke", json={"reason": "issued in error"}, headers=auth(key))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    status = client.get(f"/public/credentials/{body['id']}/status")
    assert status.headers["cache-control"] == "no-store"
    assert status.json()["revoked"] is True and status.json()["reason"] == "issued in error"
    assert status.json()["revokedAt"].endswith("Z")
    again = client.post(f"/api/v1/credentials/{body['id']}/revoke", json={"reason": "other"}, headers=auth(key))
    assert again.status_code == 200 and again.json()["revocation_reason"] == "issued in error"
    with client.sessions() as s:
        revokes = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.revoke)).all()
        revocation_list = s.scalar(select(StatusList).where(StatusList.purpose == "revocation"))
    # Its bit is set once, counted once on its revocation list (created: 1, revoked: 2); a
    # credential with status list entries is never revoked per hash (test_issuer_status_lists.py).
    assert revokes == [] and revocation_list.changes == 2
    assert client.post(f"/api/v1/credentials/{body['id']}/revoke", json={}, headers=auth(key)).status_code == 422
    assert client.post("/api/v1/credentials/nope/revoke", json={"reason": "x"}, headers=auth(key)).status_code == 404


def test_listing_credentials_pages_with_a_cursor(client, lakeside):
    key, achievement_id, _ = lakeside
    ids = {issue(client, key, achievement_id, email=f"l{i}@example.org")["id"] for i in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/credentials", params=params, headers=auth(key)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert client.get("/api/v1/credentials", params={"cursor": "garbage"}, headers=auth(key)).status_code == 422


def test_public_reads_of_unknown_things_are_404_json(client):
    for path in ("/public/credentials/nope", "/public/credentials/nope/status", "/public/achievements/nope",
                 "/public/images/" + "a" * 64 + ".png", "/public/images/../../etc/passwd"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path


# -- chain problems are loud -------------------------------------------------------------------
def test_a_key_job_that_failed_for_good_is_shown_on_the_issuer(client, lakeside):
    key, _, issuer = lakeside
    from services.issuer.outbox import Relay

    rotated = client.post("/api/v1/issuer/signing-keys/rotate", json={"compromised": True}, headers=auth(key)).json()
    Relay(client.settings, client.sessions, client.registry).tick()  # the rotation reaches the registry
    healthy = client.get("/api/v1/issuer", headers=auth(key)).json()
    assert healthy["chain_problems"] == []
    assert all(k["chain"]["registration"] == "confirmed" for k in healthy["signing_keys"])

    old = rotated["retired_key"]["public_key"]
    client.registry.key_failures[old] = {"retirement_state": "failed", "retirement_error": "KeyNotFound(…)"}
    body = client.get("/api/v1/issuer", headers=auth(key)).json()
    assert len(body["chain_problems"]) == 1 and old in body["chain_problems"][0]
    assert "compromise" in body["chain_problems"][0] and "KeyNotFound" in body["chain_problems"][0]
    retired = next(k for k in body["signing_keys"] if k["public_key"] == old)
    assert retired["chain"]["retirement"] == "failed" and retired["chain"]["problem"]

    client.registry.up = False
    down = client.get("/api/v1/issuer", headers=auth(key)).json()
    assert "could not be asked" in down["chain_problems"][0]
    assert all(k["chain"] is None for k in down["signing_keys"])


def test_the_largest_credential_the_api_accepts_can_be_signed_and_verified(client):
    """The schema's maxima stay inside the canonicalisation limits (docs/signing.md), so nothing accepted is refused later."""
    key = create_issuer(client, "maximal")["api_key"]
    alignment = [{"targetName": f"Skill {i}", "targetUrl": f"https://skills.example/{i}", "targetFramework": "ESCO",
                  "targetCode": f"S{i}", "targetDescription": "A skill.", "targetType": "ceasn:Competency"}
                 for i in range(30)]
    achievement = create_achievement(client, key, alignment=alignment, tags=[f"tag {i}" for i in range(30)])
    evidence = [{"id": f"https://portfolio.example/{i}", "name": f"Work {i}", "description": "Done.",
                 "narrative": "Observed.", "genre": "Project", "audience": "Employers"} for i in range(10)]
    body = issue(client, key, achievement["id"], evidence=evidence)
    assert body["status"] == "pending"
    signed = body["credential"]
    result = dataintegrity.verify_all(signed, lambda vm: decode_public_key(vm.split("#", 1)[1]))
    assert result.valid and "0x" + result.document_hash.hex() == body["credential_hash"]
    too_many = client.post("/api/v1/achievements", headers=auth(key),
                           json={**ACHIEVEMENT, "alignment": alignment + alignment[:1]})
    assert too_many.status_code == 422
