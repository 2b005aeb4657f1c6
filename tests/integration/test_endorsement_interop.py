"""Our EndorsementCredential (docs/endorsements.md) against Digital Bazaar's JS stack: what DCC and most
OB 3.0 verifiers run must accept an endorsement we sign, and both sides must canonicalise it alike."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import dataintegrity, multiformats
from services.core.credential import check_shape, endorsement_of
from services.core.jsonld import canonicalize
from services.core.statuslist import entry
from services.issuer.credentials import document as cred
from tests.integration.test_eddsa_interop import node


def _endorsement() -> dict:
    key = Ed25519PrivateKey.generate()
    did = "did:key:" + multiformats.encode_public_key(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    profile = cred.profile_document(cred.ProfileData(did=did, name="Nusenda Credit Union", url="https://nusenda.example",
                                                     email="hr@nusenda.example"))
    status = [entry("https://issuer.example/status-lists/nusenda/revocation/1", "revocation", 7),
              entry("https://issuer.example/status-lists/nusenda/suspension/1", "suspension", 9)]
    unsigned = cred.build_endorsement(credential_id="ykBFcI9GAiMGXEVhtPJjwQ", public_base_url="https://verify.example",
                                      profile=profile, about="https://issuer.example/public/achievements/ach_1",
                                      about_name="Critical Thinking", comment="We hire on it.\nEvery year.",
                                      valid_from=datetime(2026, 12, 2, tzinfo=UTC), status=status)
    return dataintegrity.sign(unsigned, key, f"{did}#{did.removeprefix('did:key:')}", "2026-12-02T10:00:00Z")


def test_an_endorsement_we_sign_verifies_with_the_js_libraries():
    signed = _endorsement()
    assert check_shape(signed) == "ob3"
    assert endorsement_of(signed)["comment"] == "We hire on it.\nEvery year."
    assert node("verify", {"credential": signed}) == {"verified": True, "errors": []}
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    assert node("canonize", {"documents": [unsecured]})["results"][0]["nquads"] == canonicalize(unsecured)
