"""Proof sets, proof chains and credentials/v1 documents against Digital Bazaar's JS stack.

``node tests/interop/eddsa_proofsets.mjs`` checks each proof with @digitalbazaar/data-integrity
over the input document Data Integrity 1.0 §4.4 defines (jsonld-signatures has no proof chains
of its own, so the script builds that document; canonicalisation, hashes and signatures are
the JS libraries'), and signs chained proofs the same way. What we make must verify there,
what they make must verify here, and both sides must fail the same tampered documents.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import dataintegrity, multiformats
from services.core.jsonld import credential_hash
from tests.support.node import require_packages, run_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "eddsa_proofsets.mjs"
NODE_PACKAGES = ("@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite",
                 "@digitalbazaar/ed25519-multikey", "jsonld-signatures")
V1 = "https://www.w3.org/2018/credentials/v1"
V2 = "https://www.w3.org/ns/credentials/v2"
DI = dataintegrity.DATA_INTEGRITY_CONTEXT
ALUMNI = {"AlumniCredential": "https://www.example.org/AlumniCredential", "alumniOf": "https://www.example.org/alumniOf"}

require_packages(*NODE_PACKAGES)


def node(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    return run_script(SCRIPT, command, payload=payload)


def did_key(verification_method: str) -> bytes:
    return multiformats.decode_public_key(verification_method.split("#", 1)[1])


class Signer:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        multikey = multiformats.encode_public_key(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self.did = f"did:key:{multikey}"
        self.vm = f"{self.did}#{multikey}"

    def sign(self, document: dict[str, Any], created: str = "2026-11-22T10:00:00Z", **kwargs: Any) -> dict[str, Any]:
        return dataintegrity.sign(document, self.key, self.vm, created, **kwargs)


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def bob() -> Signer:
    return Signer()


def vc2(issuer: str) -> dict[str, Any]:
    return {"@context": [V2, ALUMNI], "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"], "issuer": issuer,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"}}


def vc1(issuer: str) -> dict[str, Any]:
    return {"@context": [V1, ALUMNI], "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"], "issuer": issuer,
            "issuanceDate": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"}}


def theirs(document: dict[str, Any]) -> list[bool]:
    return [proof["verified"] for proof in node("verify", {"credential": document})["proofs"]]


def ours(document: dict[str, Any]) -> list[bool]:
    return [proof.valid for proof in dataintegrity.verify_all(document, did_key).proofs]


def test_a_proof_set_we_make_verifies_proof_by_proof_with_the_js_libraries(alice, bob):
    both = bob.sign(alice.sign(vc2(alice.did)))
    result = node("verify", {"credential": both})
    assert [p["verified"] for p in result["proofs"]] == [True, True], result
    assert result["vcjs"]["verified"] is True and result["vcjs"]["proofs"][0] is True

    tampered = copy.deepcopy(both)
    tampered["proof"][1]["created"] = "2026-11-22T11:00:00Z"
    assert theirs(tampered) == ours(tampered) == [True, False]


def test_a_chain_we_make_verifies_with_the_js_libraries(alice, bob):
    first = alice.sign(vc2(alice.did), proof_id="urn:uuid:first")
    chain = bob.sign(first, "2026-11-22T10:10:00Z", previous_proof="urn:uuid:first")
    listed = bob.sign(first, "2026-11-22T10:10:00Z", previous_proof=["urn:uuid:first"])
    assert theirs(chain) == ours(chain) == [True, True]
    assert theirs(listed) == ours(listed) == [True, True]

    tampered = copy.deepcopy(chain)
    tampered["proof"][0]["created"] = "2026-11-22T09:00:00Z"
    assert theirs(tampered) == ours(tampered) == [False, False]


def test_a_chain_the_js_libraries_make_verifies_with_ours(alice):
    first = node("sign", {"credential": vc2(alice.did), "id": "urn:uuid:first"})["credential"]
    chain = node("sign", {"credential": first, "previousProof": "urn:uuid:first"})["credential"]
    result = dataintegrity.verify_all(chain, did_key)
    assert result.valid, result
    assert result.proofs[0].document_hash == result.document_hash == credential_hash(vc2(alice.did))
    assert result.proofs[1].document_hash != result.document_hash

    # and a chained proof of ours on top of theirs: a mixed set
    mixed = alice.sign(chain, previous_proof=["urn:uuid:first"])
    assert theirs(mixed) == ours(mixed) == [True, True, True]

    tampered = copy.deepcopy(chain)
    tampered["proof"][0]["proofValue"] = tampered["proof"][1]["proofValue"]
    assert theirs(tampered) == ours(tampered) == [False, False]


def test_a_credentials_v1_document_we_sign_verifies_with_the_js_libraries(alice):
    signed = alice.sign(vc1(alice.did))
    assert signed["@context"] == [V1, ALUMNI, DI]
    result = node("verify", {"credential": signed})
    assert result["vcjs"] == {"verified": True, "proofs": [True]}, result


def test_a_credentials_v1_document_the_js_libraries_issue_verifies_with_ours():
    signed = node("issue", {"credential": vc1("did:example:replaced")})["credential"]
    assert signed["@context"] == [V1, ALUMNI, DI]  # their suite adds the context, as ours does
    assert dataintegrity.verify(signed, did_key).valid
    # without the context in the document, both sides add it to the proof configuration
    bare = {**signed, "@context": [V1, ALUMNI]}
    assert dataintegrity.verify(bare, did_key).valid
    assert theirs(bare) == [True]
