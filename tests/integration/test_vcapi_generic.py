"""Generic W3C Verifiable Credentials 2.0 through the issuer's VC-API (docs/vc-api.md, "Generic VCs").

What the W3C vc-di-eddsa test suite sends `POST /credentials/issue`: a plain
`VerifiableCredential` with the VC 2.0 context (and perhaps other bundled contexts), no
achievement. It is signed, given status entries and anchored like a badge; what is not a VC 2.0
credential made of bundled contexts is refused, and nothing is stored.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from services.core import dataintegrity
from services.core.credential import VC2, check_shape
from services.core.multiformats import decode_public_key
from services.issuer.models import Credential, OutboxKind, OutboxMessage, StatusEntry
from tests.integration.issuer_support import auth, count, create_issuer

VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"
SUBJECT = {"id": "did:key:z6MktKwz7Ge1Yxzr4JHavN33wiwa8y81QdcMRLXQsrH9T53b", "name": "ExampleClaim"}


@pytest.fixture
def lakeside(client):
    return create_issuer(client)


def _suite_vc(**extra) -> dict:
    """The credential of the W3C Data Integrity suites, VC 2.0 version."""
    return {"@context": [VC2_CONTEXT], "id": "urn:uuid:86294362-4254-4f36-854f-3952fe42555d",
            "type": ["VerifiableCredential"], "credentialSubject": dict(SUBJECT), **extra}


def _issue(client, key: str, credential: dict, options: dict | None = None):
    body = {"credential": credential} if options is None else {"credential": credential, "options": options}
    return client.post("/credentials/issue", json=body, headers=auth(key))


def _stored(client) -> tuple[int, int, int]:
    with client.sessions() as s:
        anchors = len(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.anchor)).all())
    return count(client, Credential), anchors, count(client, StatusEntry)


def test_a_generic_vc2_credential_is_signed_given_status_and_stored_like_a_badge(client, lakeside):
    r = _issue(client, lakeside["api_key"], _suite_vc(issuer=lakeside["did"]))
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    # kept as written: contexts, id, type, subject; the issuer is the caller's DID; no badge name invented
    assert vc["@context"] == [VC2_CONTEXT] and vc["id"] == "urn:uuid:86294362-4254-4f36-854f-3952fe42555d"
    assert vc["type"] == ["VerifiableCredential"] and vc["credentialSubject"] == SUBJECT
    assert vc["issuer"] == lakeside["did"] and "name" not in vc and "validFrom" in vc
    assert [(e["type"], e["statusPurpose"]) for e in vc["credentialStatus"]] == [
        ("BitstringStatusListEntry", "revocation"), ("BitstringStatusListEntry", "suspension")]
    proof = vc["proof"][0]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"].startswith(lakeside["did"] + "#")
    key = decode_public_key(proof["verificationMethod"].split("#", 1)[1])
    result = dataintegrity.verify_all(vc, key)
    assert result.valid
    assert check_shape(vc) == VC2
    # stored without an achievement, anchored like any other, readable by every name
    our_id = r.headers["location"].rsplit("/", 1)[1]
    read = client.get(f"/api/v1/credentials/{our_id}", headers=auth(lakeside["api_key"])).json()
    assert read["achievement_id"] is None and read["status"] == "pending" and read["credential"] == vc
    with client.sessions() as s:
        message = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.anchor)).first()
    assert message.payload == {"hashes": ["0x" + result.document_hash.hex()]}
    for ref in (our_id, quote(vc["id"], safe="")):
        got = client.get(f"/credentials/{ref}", headers=auth(lakeside["api_key"]))
        assert got.status_code == 200 and got.json() == vc
    listed = client.get("/api/v1/credentials", headers=auth(lakeside["api_key"])).json()["items"]
    assert our_id in [c["id"] for c in listed]
    # revocable like a badge
    revoke = {"credentialId": vc["id"], "status": True,
              "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}}
    r = client.post("/credentials/status", json=revoke, headers=auth(lakeside["api_key"]))
    assert r.status_code == 200 and r.json()["status"] == "revoked"


def test_bundled_contexts_such_as_the_vc_examples_one_may_follow_and_the_issuer_may_be_left_out(client, lakeside):
    credential = {"@context": [VC2_CONTEXT, EXAMPLES], "type": ["VerifiableCredential", "ExampleAlumniCredential"],
                  "name": "Alumni of Example University", "validFrom": "2026-01-01T00:00:00Z",
                  "validUntil": "2031-01-01T00:00:00Z",
                  "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "Example University"}}
    r = _issue(client, lakeside["api_key"], credential)
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    assert vc["@context"] == [VC2_CONTEXT, EXAMPLES] and vc["issuer"] == lakeside["did"]
    assert vc["id"].startswith("http://verify.test/c/")  # our URL, as for a badge without an id
    assert (vc["validFrom"], vc["validUntil"]) == ("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")
    assert vc["name"] == "Alumni of Example University"
    assert check_shape(vc) == VC2
    # several subjects are a VC's right
    two = _suite_vc(id="urn:uuid:2", credentialSubject=[dict(SUBJECT), {"id": "did:example:other"}])
    r = _issue(client, lakeside["api_key"], two)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("change,code,words", [
    ({"@context": ["https://www.w3.org/2018/credentials/v1"], "issuanceDate": "2026-01-01T00:00:00Z"},
     "invalid_credential", "not VC 1.1"),
    ({"@context": [VC2_CONTEXT, "https://evil.example/context.json"]}, "invalid_credential",
     "'https://evil.example/context.json'"),
    ({"@context": [VC2_CONTEXT, {"@vocab": "https://evil.example/#"}]}, "invalid_credential", "inline context"),
    ({"@context": [VC2_CONTEXT, VC2_CONTEXT]}, "invalid_credential", "twice"),
    # an Open Badges context makes it an Open Badge: then the badge rules hold
    ({"@context": [VC2_CONTEXT, "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]},
     "invalid_credential", "OpenBadgeCredential"),
    ({"type": ["ExampleCredential"]}, "invalid_credential", "VerifiableCredential"),
    ({"credentialSubject": "did:example:abc"}, "invalid_credential", "credentialSubject"),
    ({"credentialSubject": []}, "invalid_credential", "credentialSubject"),
    ({"issuer": "did:key:z6MktKwz7Ge1Yxzr4JHavN33wiwa8y81QdcMRLXQsrH9T53b"}, "issuer_mismatch", "not the DID"),
    ({"issuer": {"id": "@did", "name": "Someone else"}}, "issuer_mismatch", "its DID alone"),
    ({"proof": {"type": "DataIntegrityProof"}}, "invalid_credential", "unsigned credentials only"),
    ({"credentialStatus": {"type": "BitstringStatusListEntry"}}, "invalid_credential", "this issuer's to assign"),
    ({"validFrom": "yesterday"}, "invalid_credential", "validFrom"),
    ({"validFrom": "2026-01-01T00:00:00Z", "validUntil": "2025-01-01T00:00:00Z"}, "invalid_credential",
     "after validFrom"),
    ({"credentialSubject": {"id": "did:example:abc", "name": "two\nlines"}}, "unsafe_text", "credentialSubject.name"),
    ({"id": "not a url"}, "invalid_id", "id"),
])
def test_what_is_not_a_vc2_credential_of_bundled_contexts_is_refused_and_nothing_is_stored(client, lakeside, change,
                                                                                          code, words):
    if isinstance(change.get("issuer"), dict) and change["issuer"].get("id") == "@did":
        change = {**change, "issuer": {**change["issuer"], "id": lakeside["did"]}}
    credential = {**_suite_vc(), **change}
    before = _stored(client)
    r = _issue(client, lakeside["api_key"], credential)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if words:
        assert words in error["message"]
    assert _stored(client) == before
