"""Batch signing is exactly eddsa-rdfc-2022 (services.core.dataintegrity), one canonicalisation per document."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core import dataintegrity
from services.core.jsonld import credential_hash
from services.issuer.credentials import document as cred
from services.issuer.signing import SigningPool, sign_documents

SEED = bytes(range(32))
VM = "did:web:issuer.example:issuers:a#z6MkTest"
CREATED = "2026-11-22T10:00:00Z"


def _docs(n: int) -> list[dict]:
    achievement = cred.achievement_document(cred.AchievementData(
        id_url="https://issuer.example/public/achievements/ach_1", name="Empathy", description="Listens.",
        criteria_narrative="Role plays."))
    profile = cred.profile_document(cred.ProfileData(did="did:web:issuer.example:issuers:a", name="A",
                                                     url="https://a.example", email="a@a.example"))
    return [cred.build_credential(credential_id=f"id{i}", public_base_url="https://v.example", profile=profile,
                                  achievement=achievement, recipient_name=f"Learner {i}",
                                  recipient_email=f"l{i}@example.org", salt="s", valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                                  valid_until=None) for i in range(n)]


def test_signing_matches_dataintegrity_sign_and_hash_byte_for_byte():
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    for doc, outcome in zip(_docs(3), sign_documents(SEED, VM, CREATED, _docs(3)), strict=True):
        reference = dataintegrity.sign_and_hash(doc, key, VM, CREATED)
        assert outcome.error is None
        assert outcome.document["proof"] == [reference.proof]  # a set, as the OB 3.0 schema wants
        assert outcome.credential_hash == "0x" + reference.document_hash.hex()
        assert outcome.credential_hash == "0x" + credential_hash(outcome.document).hex()
        public = key.public_key().public_bytes_raw()
        assert dataintegrity.verify(outcome.document, public).valid


def test_an_unsafe_document_gets_an_error_not_a_signature():
    docs = _docs(2)
    docs[0]["credentialSubject"]["favouriteColour"] = "blue"
    first, second = sign_documents(SEED, VM, CREATED, docs)
    assert first.document is None and "favouriteColour" in first.error
    assert second.error is None


def test_the_process_pool_gives_the_same_result_in_order():
    pool = SigningPool(2)
    try:
        docs = _docs(20)
        outcomes = pool.gather(pool.submit(SEED, VM, CREATED, docs))
    finally:
        pool.shutdown()
    assert [o.document for o in outcomes] == [o.document for o in sign_documents(SEED, VM, CREATED, docs)]
