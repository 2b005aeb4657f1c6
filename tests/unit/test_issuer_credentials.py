"""The credential builder, identity hashing, status rules, did:web and DID documents: pure functions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from services.core.credential import CONTEXTS, check_shape
from services.core.jsonld import UnsafeDocumentError, canonicalize
from services.issuer.credentials import document as cred
from services.issuer import keys

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PROFILE = cred.ProfileData(did="did:web:issuer.example:issuers:lakeside", name="Lakeside CC",
                           url="https://lakeside.example.edu", email="registrar@lakeside.example.edu",
                           image_url="https://issuer.example/public/images/" + "a" * 64 + ".png",
                           linkedin_organization_id="12345")
ACHIEVEMENT = cred.AchievementData(
    id_url="https://issuer.example/public/achievements/ach_1", name="Critical Thinking",
    description="Weighs evidence.", criteria_narrative="Passed the capstone.", criteria_url="https://x.example/c",
    image_url="https://issuer.example/public/images/" + "b" * 64 + ".svg", image_caption="the badge",
    achievement_type="MicroCredential",
    alignment=[{"targetName": "Critical thinking", "targetUrl": "https://www.onetonline.org/x",
                "targetFramework": "O*NET", "targetCode": "2.A.2.a", "targetType": "ext:ONetElement"}],
    tags=["reasoning"], validity_days=365)


def _credential(**overrides) -> dict:
    args = dict(credential_id="abc", public_base_url="https://verify.example/", profile=cred.profile_document(PROFILE),
                achievement=cred.achievement_document(ACHIEVEMENT), recipient_name="Ada Lovelace",
                recipient_email=" Ada@Example.org ", salt="pepper", valid_from=NOW,
                valid_until=cred.valid_until_for(NOW, 365),
                evidence=[{"id": "https://x.example/e", "name": "Capstone", "narrative": "An essay."}])
    args.update(overrides)
    return cred.build_credential(**args)


def test_identity_hash_follows_the_ob3_example():
    # OB 3.0 §IdentityHash: 'a@example.com' salted with 'Kosher'
    assert cred.identity_hash("a@example.com", "Kosher") == \
        "sha256$" + hashlib.sha256(b"a@example.comKosher").hexdigest()


def test_email_is_normalised_before_hashing_and_never_written_in_clear():
    doc = _credential()
    identity = doc["credentialSubject"]["identifier"][0]
    assert identity == {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
                        "identityHash": cred.identity_hash("ada@example.org", "pepper"), "salt": "pepper"}
    assert "ada@example.org" not in str(doc).lower()


def test_credential_has_the_design_shape_and_canonicalises_in_safe_mode():
    doc = _credential()
    assert doc["@context"] == list(CONTEXTS)
    assert doc["id"] == "https://verify.example/c/abc"
    assert doc["credentialStatus"] == {"id": "https://verify.example/c/abc/status", "type": cred.STATUS_TYPE}
    assert doc["validUntil"] == "2027-11-22T10:00:00Z"
    assert doc["issuer"]["otherIdentifier"][0]["identifier"] == "12345"
    nquads = canonicalize(doc)  # raises if anything would be dropped
    assert cred.STATUS_TYPE in nquads and "Ada Lovelace" in nquads
    check_shape({**doc, "proof": [{}]})


def test_an_undefined_property_is_refused_by_safe_mode():
    doc = _credential()
    doc["credentialSubject"]["achievement"]["level"] = "advanced"
    with pytest.raises(UnsafeDocumentError):
        canonicalize(doc)


def test_optional_parts_are_left_out_when_absent():
    doc = _credential(valid_until=None, evidence=None,
                      achievement=cred.achievement_document(cred.AchievementData(
                          id_url="https://i.example/a", name="N", description="D", criteria_narrative="C")))
    assert "validUntil" not in doc and "evidence" not in doc
    assert set(doc["credentialSubject"]["achievement"]) == {"id", "type", "name", "description", "criteria"}
    canonicalize(doc)


def test_credential_ids_are_random_and_at_least_128_bits():
    ids = {cred.new_credential_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 and all(ch.isalnum() or ch in "-_" for ch in i) for i in ids)


@pytest.mark.parametrize("kwargs,expected", [
    (dict(revoked_at=NOW, anchored=True), "revoked"),
    (dict(signed_after_key_invalid=True, anchored=True), "invalid"),
    (dict(valid_until=NOW - timedelta(seconds=1), anchored=True), "expired"),
    (dict(anchored=False), "pending"),
    (dict(anchored=True), "anchored"),
    (dict(anchored=True, valid_until=NOW + timedelta(days=1)), "anchored"),
])
def test_status_decision(kwargs, expected):
    args = dict(revoked_at=None, valid_from=NOW - timedelta(days=1), valid_until=None, anchored=False,
                signed_after_key_invalid=False, now=NOW)
    args.update(kwargs)
    assert cred.status_of(**args) == expected


@pytest.mark.parametrize("url,did", [
    ("http://127.0.0.1:8001", "did:web:127.0.0.1%3A8001:issuers:lakeside"),
    ("https://issuer.example", "did:web:issuer.example:issuers:lakeside"),
    ("https://example.edu/badges/", "did:web:example.edu:badges:issuers:lakeside"),
])
def test_did_web_encodes_port_and_path(url, did):
    assert keys.did_web(url, "lakeside") == did


def test_did_document_lists_every_key_for_assertion_and_the_chain_account_apart():
    doc = keys.did_document("did:web:x:issuers:a", ["z6MkA", "z6MkB"], (31337, "0x" + "ab" * 20))
    assert doc["id"] == "did:web:x:issuers:a"
    assert doc["assertionMethod"] == ["did:web:x:issuers:a#z6MkA", "did:web:x:issuers:a#z6MkB"]
    multikeys = [m for m in doc["verificationMethod"] if m["type"] == "Multikey"]
    assert [m["publicKeyMultibase"] for m in multikeys] == ["z6MkA", "z6MkB"]
    account = [m for m in doc["verificationMethod"] if m["type"] == "EcdsaSecp256k1RecoveryMethod2020"]
    assert account[0]["blockchainAccountId"] == "eip155:31337:0x" + "ab" * 20
    assert account[0]["id"] not in doc["assertionMethod"]


def test_sealed_signing_key_opens_only_for_its_issuer_and_key():
    from services.core.secretbox import SecretBoxError

    new = keys.new_signing_key("kek-0123456789abcdef", "iss_a")
    assert new.multikey.startswith("z6Mk") and new.public_key.startswith("0x") and len(new.public_key) == 66
    seed = keys.open_seed("kek-0123456789abcdef", "iss_a", new.public_key, new.sealed)
    assert len(seed) == 32 and seed.hex() not in new.sealed
    with pytest.raises(SecretBoxError):
        keys.open_seed("kek-0123456789abcdef", "iss_b", new.public_key, new.sealed)
    with pytest.raises(SecretBoxError):
        keys.open_seed("another-kek-0123456789", "iss_a", new.public_key, new.sealed)
