"""The issuer's VC-API routes (services/issuer/vcapi.py) in process, on SQLite and PostgreSQL, fake registry.

A credential the caller built is signed as our own issuance signs, stored, anchored and
revocable like any other; whatever is refused leaves nothing behind.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from services.core import dataintegrity
from services.core.credential import check_shape
from services.core.multiformats import decode_public_key
from services.issuer.credentials.document import identity_object
from services.issuer.models import Credential, IdempotencyRecord, OutboxKind, OutboxMessage, StatusEntry, StatusList
from tests.integration.issuer_support import (anchor_everything, auth, count, create_achievement, create_issuer,
                                              issue)

CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
SPEC_REVOKE = {"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}, "status": True}


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    return issuer, achievement


def _credential(achievement: dict, **extra) -> dict:
    """What a VC-API caller builds: everything but what is the issuer's to fill in."""
    return {"@context": CONTEXTS, "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "credentialSubject": {"type": ["AchievementSubject"], "name": "Ada Lovelace",
                                  "identifier": [identity_object("ada@example.org", "pepper-123")],
                                  "achievement": {"id": achievement["achievement"]["id"]}},
            **extra}


def _issue(client, key: str, credential: dict, options: dict | None = None):
    body = {"credential": credential} if options is None else {"credential": credential, "options": options}
    return client.post("/credentials/issue", json=body, headers=auth(key))


def _key_of(vc: dict) -> bytes:
    return decode_public_key(vc["proof"][0]["verificationMethod"].split("#", 1)[1])


def _stored(client) -> tuple[int, int, int]:
    """Credentials, anchor messages and status list entries: what an issuance writes."""
    with client.sessions() as s:
        anchors = len(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.anchor)).all())
    return count(client, Credential), anchors, count(client, StatusEntry)


# -- issuing ---------------------------------------------------------------------------------------
def test_a_caller_built_credential_is_signed_stored_and_listed_like_our_own(client, lakeside):
    issuer, achievement = lakeside
    before = datetime.now(UTC).replace(microsecond=0)
    r = _issue(client, issuer["api_key"], _credential(achievement))
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    our_id = vc["id"].rsplit("/", 1)[1]
    assert vc["id"] == f"http://verify.test/c/{our_id}" and r.headers["location"] == f"/credentials/{our_id}"
    # filled in as our own issuance fills them
    profile = client.get("/issuers/lakeside").json()
    assert vc["issuer"] == {k: v for k, v in profile.items() if k != "@context"}
    assert vc["name"] == "Critical Thinking"
    assert vc["credentialSubject"]["achievement"] == achievement["achievement"]
    valid_from = datetime.fromisoformat(vc["validFrom"].replace("Z", "+00:00"))
    assert before <= valid_from <= datetime.now(UTC)
    assert vc["validUntil"] == (valid_from + timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # its own indices in the issuer's status lists, as a credential of POST /api/v1/credentials gets them
    ours = issue(client, issuer["api_key"], achievement["id"])["credential"]["credentialStatus"]
    status = vc["credentialStatus"]
    assert [(e["type"], e["statusPurpose"], e["statusListCredential"]) for e in status] == [
        (e["type"], e["statusPurpose"], e["statusListCredential"]) for e in ours]
    assert status[0]["statusListCredential"] == "http://issuer.test:8001/status-lists/lakeside/revocation/1"
    with client.sessions() as s:
        rows = s.execute(select(StatusList.purpose, StatusEntry.index).join(StatusList)
                         .where(StatusEntry.credential_id == our_id)).all()
    assert sorted(rows) == sorted((e["statusPurpose"], int(e["statusListIndex"])) for e in status)
    # signed with the issuer's active key, and what our verifier requires
    result = dataintegrity.verify_all(vc, _key_of(vc))
    assert result.valid and vc["proof"][0]["verificationMethod"].startswith(issuer["did"] + "#")
    check_shape(vc)
    # in our issuer API, pending, with its hash on its way to the registry
    read = client.get(f"/api/v1/credentials/{our_id}", headers=auth(issuer["api_key"])).json()
    assert read["status"] == "pending" and read["credential"] == vc
    assert read["credential_hash"] == "0x" + result.document_hash.hex()
    assert read["achievement_id"] == achievement["id"]
    listed = client.get("/api/v1/credentials", headers=auth(issuer["api_key"])).json()["items"]
    assert our_id in [c["id"] for c in listed]
    with client.sessions() as s:
        message = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.anchor)  # its own: the first
                          .order_by(OutboxMessage.id)).first()
    assert message.payload == {"hashes": [read["credential_hash"]]}
    # the VC-API read: the credential itself, by our id or our URL
    for ref in (our_id, quote(vc["id"], safe="")):
        got = client.get(f"/credentials/{ref}", headers=auth(issuer["api_key"]))
        assert got.status_code == 200 and got.json() == vc
    # anchored like any other: the anchor proof joins the set, and the eddsa proof still verifies
    anchor_everything(client)
    assert client.registry.anchored[read["credential_hash"]]
    anchored = client.get(f"/credentials/{our_id}", headers=auth(issuer["api_key"])).json()
    assert [p["cryptosuite"] for p in anchored["proof"]] == ["eddsa-rdfc-2022", "microcred-anchor-2026"]
    assert dataintegrity.verify_all(anchored, _key_of(vc)).valid
    assert client.get(f"/api/v1/credentials/{our_id}", headers=auth(issuer["api_key"])).json()["status"] == "anchored"


def test_what_the_caller_writes_is_signed_as_written(client, lakeside):
    issuer, achievement = lakeside
    profile = {k: v for k, v in client.get("/issuers/lakeside").json().items() if k != "@context"}
    credential = _credential(achievement, id="urn:uuid:0c4f4a92-1d7e-4c2b-9d1e-3f0a6b7c8d9e",
                             name="Critical Thinking — with distinction", issuer=profile,
                             validFrom="2026-01-15T09:30:00+01:00", validUntil="2027-01-15T09:30:00+01:00",
                             description="Awarded at the spring ceremony.",
                             evidence=[{"type": ["Evidence"], "name": "Capstone", "narrative": "Line one.\nLine two."}])
    credential["credentialSubject"]["achievement"] = copy.deepcopy(achievement["achievement"])
    r = _issue(client, issuer["api_key"], credential)
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    for key in ("id", "name", "issuer", "validFrom", "validUntil", "description", "evidence", "credentialSubject"):
        assert vc[key] == credential[key], key
    assert dataintegrity.verify_all(vc, _key_of(vc)).valid
    # the caller's own id names it too, and only once
    got = client.get(f"/credentials/{quote(credential['id'], safe='')}", headers=auth(issuer["api_key"]))
    assert got.status_code == 200 and got.json() == vc
    again = _issue(client, issuer["api_key"], credential)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_issued"
    assert count(client, Credential) == 1


def test_options_created_and_credential_id(client, lakeside):
    issuer, achievement = lakeside
    key_created = client.get("/api/v1/issuer", headers=auth(issuer["api_key"])).json()["signing_keys"][0]["created_at"]
    created = (datetime.fromisoformat(key_created) + timedelta(seconds=1)).astimezone(UTC)
    r = _issue(client, issuer["api_key"], _credential(achievement),
               {"created": created.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"), "credentialId": "crm:enrolment-4711"})
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    assert vc["proof"][0]["created"] == created.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert dataintegrity.verify_all(vc, _key_of(vc)).valid
    got = client.get("/credentials/crm:enrolment-4711", headers=auth(issuer["api_key"]))
    assert got.status_code == 200 and got.json() == vc


def test_the_issuer_may_be_given_as_its_did(client, lakeside):
    issuer, achievement = lakeside
    r = _issue(client, issuer["api_key"], _credential(achievement, issuer=issuer["did"]))
    assert r.status_code == 201, r.text
    assert r.json()["verifiableCredential"]["issuer"]["name"] == "Lakeside College"


def _bidi(credential: dict) -> dict:
    credential["credentialSubject"]["name"] = "Ada \u202eecalevoL"
    return credential


def _plain_email(credential: dict) -> dict:
    credential["credentialSubject"]["identifier"] = [
        {"type": "IdentityObject", "identityType": "emailAddress", "hashed": False, "identityHash": "ada@example.org"}]
    return credential


def _achievement_changed(credential: dict) -> dict:
    credential["credentialSubject"]["achievement"]["name"] = "Harvard Law Degree"
    return credential


def _compact_form_attack(credential: dict) -> dict:
    credential["description"] = {"@value": "Capstone", "@language": "en"}
    return credential


REFUSED = [
    ("another issuer's DID", lambda c: {**c, "issuer": "did:web:issuer.test%3A8001:issuers:harvard"},
     None, "issuer_mismatch"),
    ("our DID with another name", lambda c: {**c, "issuer": {"id": "DID", "name": "Harvard University"}},
     None, "issuer_mismatch"),
    ("an unknown option", lambda c: c, {"proofType": "Ed25519Signature2020"}, "unknown_option"),
    ("a challenge", lambda c: c, {"challenge": "abc"}, "unknown_option"),
    ("a domain", lambda c: c, {"domain": "example.com"}, "unknown_option"),
    ("mandatory pointers", lambda c: c, {"mandatoryPointers": ["/issuer"]}, "unknown_option"),
    ("created in the future", lambda c: c, {"created": "2999-01-01T00:00:00Z"}, "invalid_option"),
    ("created before the key", lambda c: c, {"created": "2001-01-01T00:00:00Z"}, "invalid_option"),
    ("another context", lambda c: {**c, "@context": ["https://www.w3.org/ns/credentials/v2"]}, None,
     "invalid_credential"),
    ("not an OpenBadgeCredential", lambda c: {**c, "type": ["VerifiableCredential"]}, None, "invalid_credential"),
    ("a proof already", lambda c: {**c, "proof": {"type": "DataIntegrityProof"}}, None, "invalid_credential"),
    ("its own credentialStatus", lambda c: {**c, "credentialStatus": {"id": "https://x.example/s", "type": "X"}},
     None, "invalid_credential"),
    ("no credentialSubject", lambda c: {k: v for k, v in c.items() if k != "credentialSubject"}, None,
     "invalid_credential"),
    ("an achievement not ours", lambda c: {**c, "credentialSubject": {**c["credentialSubject"], "achievement": {
        "id": "https://elsewhere.example/a/1", "type": ["Achievement"], "name": "X", "description": "Y",
        "criteria": {"narrative": "Z"}}}}, None, "unknown_achievement"),
    ("an achievement changed", _achievement_changed, None, "achievement_mismatch"),
    ("a bidi control in a name", _bidi, None, "unsafe_text"),
    ("a plain email", _plain_email, None, "invalid_credential"),
    ("a value object (compact form)", _compact_form_attack, None, "unsafe_document"),
    ("an IRI as a key", lambda c: {**c, "https://example.org/level": "gold"}, None, "unsafe_document"),
    ("validUntil beyond the shelf life", lambda c: {**c, "validFrom": "2026-01-01T00:00:00Z",
                                                     "validUntil": "2030-01-01T00:00:00Z"}, None, "invalid_credential"),
    ("validFrom without a time zone", lambda c: {**c, "validFrom": "2026-01-01T00:00:00"}, None,
     "invalid_credential"),
    ("validFrom in year 1", lambda c: {**c, "validFrom": "0001-01-01T00:00:00Z"}, None, "invalid_credential"),
    ("an id under our credential URLs", lambda c: {**c, "id": "http://verify.test/c/someone-elses-id"}, None,
     "invalid_id"),
    ("an id that is not a URL", lambda c: {**c, "id": "just words"}, None, "invalid_id"),
    ("more evidence than our issuance takes", lambda c: {**c, "evidence": [
        {"type": ["Evidence"], "name": f"e{i}"} for i in range(11)]}, None, "invalid_credential"),
    ("evidence our issuance would refuse", lambda c: {**c, "evidence": [
        {"type": ["Evidence"], "id": "javascript:alert(1)", "name": "x"}]}, None, "invalid_credential"),
    ("a recipient name longer than ours", lambda c: {**c, "credentialSubject": {
        **c["credentialSubject"], "name": "A" * 201}}, None, "invalid_credential"),
    ("an array over the limits", lambda c: {**c, "keywords": [f"k{i}" for i in range(65)]}, None,
     "credential_too_large"),
]


@pytest.mark.parametrize("label, change, options, code", REFUSED, ids=[r[0] for r in REFUSED])
def test_what_our_issuance_would_refuse_is_400_and_nothing_is_stored(client, lakeside, label, change, options, code):
    issuer, achievement = lakeside
    credential = change(copy.deepcopy(_credential(achievement)))
    if isinstance(credential.get("issuer"), dict) and credential["issuer"].get("id") == "DID":
        credential["issuer"]["id"] = issuer["did"]
    before = _stored(client)
    r = _issue(client, issuer["api_key"], credential, options)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert _stored(client) == before
    with client.sessions() as s:
        assert s.scalar(select(IdempotencyRecord)) is None


def test_an_unknown_request_member_is_400_and_a_malformed_body_422(client, lakeside):
    issuer, achievement = lakeside
    r = client.post("/credentials/issue", json={"credential": _credential(achievement), "@context": ["x"]},
                    headers=auth(issuer["api_key"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_data"
    r = client.post("/credentials/issue", json={"credential": "not an object"}, headers=auth(issuer["api_key"]))
    assert r.status_code == 422
    assert count(client, Credential) == 0


def test_the_routes_take_our_api_keys_and_their_scopes(client, lakeside):
    issuer, achievement = lakeside
    assert client.post("/credentials/issue", json={"credential": _credential(achievement)}).status_code == 401
    reader = client.post("/api/v1/api-keys", json={"name": "reader", "scopes": ["read"]},
                         headers=auth(issuer["api_key"])).json()["key"]
    r = _issue(client, reader, _credential(achievement))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    vc = _issue(client, issuer["api_key"], _credential(achievement)).json()["verifiableCredential"]
    assert client.get(f"/credentials/{quote(vc['id'], safe='')}", headers=auth(reader)).status_code == 200
    r = client.post("/credentials/status", json={"credentialId": vc["id"], **SPEC_REVOKE}, headers=auth(reader))
    assert r.status_code == 403
    issuing = client.post("/api/v1/api-keys", json={"name": "issuing", "scopes": ["issue"]},
                          headers=auth(issuer["api_key"])).json()["key"]
    assert client.get(f"/credentials/{quote(vc['id'], safe='')}", headers=auth(issuing)).status_code == 403


def test_another_issuers_key_can_neither_read_nor_change_it(client, lakeside):
    issuer, achievement = lakeside
    vc = _issue(client, issuer["api_key"], _credential(
        achievement, id="urn:uuid:5b0e3c1a-0000-4000-8000-000000000001")).json()["verifiableCredential"]
    other = create_issuer(client, "harbor")["api_key"]
    our_id = client.get("/api/v1/credentials", headers=auth(issuer["api_key"])).json()["items"][0]["id"]
    for ref in (our_id, quote(f"http://verify.test/c/{our_id}", safe=""), quote(vc["id"], safe="")):
        assert client.get(f"/credentials/{ref}", headers=auth(other)).status_code == 404
    for ref in (our_id, vc["id"]):
        r = client.post("/credentials/status", json={"credentialId": ref, **SPEC_REVOKE}, headers=auth(other))
        assert r.status_code == 404
    # nor issue under its DID
    r = _issue(client, other, _credential(achievement, issuer=issuer["did"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "issuer_mismatch"
    assert client.get(f"/api/v1/credentials/{our_id}", headers=auth(issuer["api_key"])).json()["status"] == "pending"


# -- status ----------------------------------------------------------------------------------------
def test_credentials_status_revokes_through_our_revocation(client, lakeside):
    issuer, achievement = lakeside
    vc = _issue(client, issuer["api_key"], _credential(achievement)).json()["verifiableCredential"]
    our_id = vc["id"].rsplit("/", 1)[1]
    r = client.post("/credentials/status", json={"credentialId": vc["id"], **SPEC_REVOKE, "reason": "exam voided"},
                    headers=auth(issuer["api_key"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "revoked" and body["id"] == our_id and body["revocationReason"] == "exam voided"
    read = client.get(f"/api/v1/credentials/{our_id}", headers=auth(issuer["api_key"])).json()
    assert read["status"] == "revoked" and read["revocation_reason"] == "exam voided"
    assert client.get(f"/public/credentials/{our_id}/status").json()["revoked"] is True
    assert _bits(client, our_id) == {"revocation": True, "suspension": False}  # published with the list's next version
    # first revocation wins; the list form (status: "revoked") is accepted too
    again = client.post("/credentials/status", json={"credentialId": our_id, "credentialStatus": [
        {"type": "BitstringStatusListEntry", "status": "revoked", "statusPurpose": "revocation"}]},
        headers=auth(issuer["api_key"]))
    assert again.status_code == 200 and again.json()["revocationReason"] == "exam voided"


def _bits(client, credential_id: str) -> dict[str, bool]:
    with client.sessions() as s:
        return dict(s.execute(select(StatusList.purpose, StatusEntry.is_set).join(StatusList)
                              .where(StatusEntry.credential_id == credential_id)).all())


def test_credentials_status_suspends_and_lifts_a_suspension(client, lakeside):
    issuer, achievement = lakeside
    vc = _issue(client, issuer["api_key"], _credential(achievement)).json()["verifiableCredential"]
    our_id = vc["id"].rsplit("/", 1)[1]

    def update(**body):
        return client.post("/credentials/status", json={"credentialId": vc["id"], **body},
                           headers=auth(issuer["api_key"]))

    suspension = {"type": "BitstringStatusListEntry", "statusPurpose": "suspension"}
    r = update(credentialStatus=suspension, status=True, reason="under review")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended" and r.json()["suspensionReason"] == "under review"
    assert r.json()["suspendedAt"]
    assert _bits(client, our_id) == {"revocation": False, "suspension": True}
    assert client.get(f"/public/credentials/{our_id}/status").json()["suspended"] is True
    r = update(credentialStatus=suspension, status=False)
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["suspendedAt"] is None
    assert _bits(client, our_id) == {"revocation": False, "suspension": False}
    # the list form, with the entry the credential carries
    r = update(credentialStatus=[{**vc["credentialStatus"][1], "status": "suspended"}])
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = update(credentialStatus=[{"type": "BitstringStatusListEntry", "status": "unsuspended"}])
    assert r.status_code == 200 and r.json()["status"] == "pending"
    # a revoked credential is not suspended (revocation is final and says more)
    assert update(**SPEC_REVOKE).json()["status"] == "revoked"
    r = update(credentialStatus=suspension, status=True)
    assert r.status_code == 409 and r.json()["error"]["code"] == "credential_revoked"


def test_credentials_status_by_the_entry_the_credential_carries(client, lakeside):
    issuer, achievement = lakeside
    vc = _issue(client, issuer["api_key"], _credential(achievement)).json()["verifiableCredential"]
    entry = vc["credentialStatus"][0]
    assert entry["statusPurpose"] == "revocation"
    r = client.post("/credentials/status", json={"credentialId": vc["id"], "credentialStatus": entry, "status": True},
                    headers=auth(issuer["api_key"]))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = client.post("/credentials/status", json={"credentialId": vc["id"], "status": True, "credentialStatus": {
        **entry, "id": "https://elsewhere.example/status/1"}}, headers=auth(issuer["api_key"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_status"


@pytest.mark.parametrize("body, code", [
    ({"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}, "status": False},
     "revocation_final"),
    ({"credentialStatus": [{"type": "BitstringStatusListEntry", "status": "suspended"},
                           {"type": "BitstringStatusListEntry", "status": "unsuspended"}]}, "invalid_status"),
    ({"credentialStatus": [{"type": "BitstringStatusListEntry", "status": "suspended",
                            "statusPurpose": "revocation"}]}, "invalid_status"),
    ({"credentialStatus": {"type": "StatusList2021Entry", "statusPurpose": "revocation"}, "status": True},
     "invalid_status"),
    ({"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "refresh"}, "status": True},
     "invalid_status"),
    ({"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}}, "invalid_status"),
    ({"credentialStatus": [{"type": "BitstringStatusListEntry", "status": "deleted"}]}, "invalid_status"),
    ({**SPEC_REVOKE, "reason": "bad \u202e reason"}, "invalid_status"),
    ({**SPEC_REVOKE, "indexAllocator": "x"}, "unknown_data"),
])
def test_status_changes_this_service_does_not_make_are_400_and_change_nothing(client, lakeside, body, code):
    issuer, achievement = lakeside
    vc = _issue(client, issuer["api_key"], _credential(achievement)).json()["verifiableCredential"]
    r = client.post("/credentials/status", json={"credentialId": vc["id"], **body}, headers=auth(issuer["api_key"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    our_id = vc["id"].rsplit("/", 1)[1]
    assert client.get(f"/api/v1/credentials/{our_id}", headers=auth(issuer["api_key"])).json()["status"] == "pending"


def test_status_of_an_unknown_credential_is_404(client, lakeside):
    issuer, _ = lakeside
    r = client.post("/credentials/status", json={"credentialId": "urn:uuid:nothing-here", **SPEC_REVOKE},
                    headers=auth(issuer["api_key"]))
    assert r.status_code == 404
    assert client.get("/credentials/nothing-here", headers=auth(issuer["api_key"])).status_code == 404


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/credentials/issue", "/credentials/status", "/credentials/{credential_id}"} <= set(paths)
