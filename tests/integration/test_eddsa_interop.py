"""Our eddsa-rdfc-2022 against Digital Bazaar's JS stack, run by ``node tests/interop/eddsa.mjs``.

Credentials we sign must verify with @digitalbazaar/vc (what DCC and most OB 3.0
verifiers run), ones it signs must verify with ours, and both sides must canonicalise
varied credentials to the same bytes and reject the same unsafe ones. The JS side loads
contexts from the same bundled files, never from the network.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import anchorproof, dataintegrity, multiformats
from services.core.jsonld import JsonLdDocumentError, canonicalize, credential_hash
from tests.support.credential_corpus import corpus
from tests.support.node import require_packages, run_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "eddsa.mjs"
CREDENTIAL_FILE = REPO / "tests" / "interop" / "ob3-credential.json"
VECTORS = REPO.parent / "shared" / "reference" / "vc-di-eddsa"
NODE_PACKAGES = ("@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite",
                 "@digitalbazaar/ed25519-multikey", "jsonld")

require_packages(*NODE_PACKAGES)


def node(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    return run_script(SCRIPT, command, payload=payload)


def credential() -> dict[str, Any]:
    return json.loads(CREDENTIAL_FILE.read_text())


def did_key_public_key(verification_method: str) -> bytes:
    """The key a ``did:key:z6Mk…#z6Mk…`` verification method names (did:key is self-describing)."""
    did, _, fragment = verification_method.partition("#")
    key = did.removeprefix("did:key:")
    assert did.startswith("did:key:") and fragment == key, verification_method
    return multiformats.decode_public_key(key)


@pytest.fixture(scope="module")
def issuer_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signed_by_us(issuer_key) -> dict[str, Any]:
    public = issuer_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    did = f"did:key:{multiformats.encode_public_key(public)}"
    document = credential()
    document["issuer"]["id"] = did
    return dataintegrity.sign(document, issuer_key, f"{did}#{did.removeprefix('did:key:')}", "2026-11-22T10:00:00Z")


ANCHOR = anchorproof.encode(anchorproof.AnchorReceipt(
    chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
    account="0x70997970C51812dc3A010C7d01b50e0d17dc79C8", root="0x" + "ab" * 32, path=("0x" + "cd" * 32,),
    tx_hash="0x" + "ef" * 32, block_number=12), "2026-11-22T10:05:00Z")


def test_a_credential_we_sign_verifies_with_the_js_libraries(signed_by_us):
    assert node("verify", {"credential": signed_by_us}) == {"verified": True, "errors": []}


def test_it_still_verifies_there_once_the_anchor_proof_joins_the_set(signed_by_us):
    anchored = {**signed_by_us, "proof": [signed_by_us["proof"], ANCHOR]}
    assert node("verify", {"credential": anchored})["verified"] is True


def test_the_js_libraries_reject_it_when_changed(signed_by_us):
    tampered = copy.deepcopy(signed_by_us)
    tampered["credentialSubject"]["achievement"]["name"] = "Critical Thinking (Advanced)"
    assert node("verify", {"credential": tampered})["verified"] is False


def test_a_credential_the_js_libraries_sign_verifies_with_ours():
    signed = node("sign", {"credential": credential()})["credential"]
    result = dataintegrity.verify(signed, did_key_public_key)
    assert result.valid
    assert result.verification_method.startswith(signed["issuer"]["id"] + "#")
    assert result.document_hash == credential_hash(signed)

    anchored = {**signed, "proof": [signed["proof"], ANCHOR]}
    assert dataintegrity.verify(anchored, did_key_public_key).document_hash == result.document_hash

    signed["validUntil"] = "2030-11-22T10:00:00Z"
    assert not dataintegrity.verify(signed, did_key_public_key).valid


def varied_credentials() -> list[dict[str, Any]]:
    """Credentials that exercise different shapes of the OB 3.0 and VC contexts."""
    base = credential()
    unicode = copy.deepcopy(base)
    unicode["credentialSubject"]["name"] = "Zoë Ñúñez-O'Brien 山田 \u202e\"quoted\"\n"
    unicode["credentialSubject"]["achievement"]["description"] = "Émpathie — l'écoute active. ✓ 🎓"
    minimal = copy.deepcopy(base)
    for key in ("validUntil", "credentialStatus"):
        del minimal[key]
    del minimal["credentialSubject"]["achievement"]["alignment"]
    rich = copy.deepcopy(base)
    achievement = rich["credentialSubject"]["achievement"]
    achievement["alignment"] = [dict(achievement["alignment"][0], targetName=f"Skill {i}") for i in range(4)]
    achievement["creator"] = {"id": rich["issuer"]["id"], "type": ["Profile"], "name": "Lakeside"}
    achievement["image"] = {"id": "data:image/png;base64,iVBORw0KGgo=", "type": "Image", "caption": "Badge"}
    rich["evidence"] = [{"id": "https://lakeside.example.edu/evidence/1", "type": ["Evidence"], "name": "Essay"}]
    rich["credentialSubject"]["id"] = "did:example:learner-1"
    older_context = copy.deepcopy(minimal)
    older_context["@context"][1] = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json"
    documents = [base, unicode, minimal, rich, older_context]
    if VECTORS.is_dir():
        documents.append(json.loads((VECTORS / "unsigned.json").read_text()))
    return documents


def test_canonical_forms_are_byte_identical_to_jsonld_js():
    documents = varied_credentials()
    theirs = node("canonize", {"documents": documents})["results"]
    for document, result in zip(documents, theirs, strict=True):
        assert canonicalize(document) == result["nquads"]


def test_a_generated_corpus_is_byte_identical_to_jsonld_js():
    """Varied generated credentials (tests/support/credential_corpus.py; the same ones every run),
    canonicalised by our fast path, our full path and jsonld.js."""
    documents = corpus(seed=2026, count=40)
    theirs = node("canonize", {"documents": documents})["results"]
    for document, result in zip(documents, theirs, strict=True):
        if "error" in result:  # e.g. a 3.0.3 term used with the 3.0.2 context: both sides refuse it
            with pytest.raises(JsonLdDocumentError):
                canonicalize(document)
            continue
        assert canonicalize(document) == result["nquads"]
        assert canonicalize(document, fast=False) == result["nquads"]
    assert sum("nquads" in result for result in theirs) >= 30


def unsafe_variants() -> list[dict[str, Any]]:
    variants = []
    for path, key, value in [((), "foo", 1), (("credentialSubject", "achievement"), "level", "advanced"),
                             (("credentialSubject", "achievement", "alignment", 0), "weight", 2),
                             ((), "type", ["VerifiableCredential", "Fancy"]),
                             (("credentialSubject", "achievement"), "id", "achievements/1")]:
        document = credential()
        target = document
        for step in path:
            target = target[step]
        target[key] = value
        variants.append(document)
    return variants


def test_both_sides_reject_the_same_unsafe_documents():
    documents = unsafe_variants()
    theirs = node("canonize", {"documents": documents})["results"]
    for document, result in zip(documents, theirs, strict=True):
        assert "error" in result, result
        with pytest.raises(JsonLdDocumentError):
            canonicalize(document)
