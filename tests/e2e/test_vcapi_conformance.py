"""What the W3C vc-di-eddsa test suite checks of our VC-API routes, with our own code, over the real services.

docs/vc-api.md ("Conformance") says how the suite itself was run. Here, the same cases:

* the issuer (`POST /credentials/issue`) signs the suite's generic VC 2.0 credential: one
  `DataIntegrityProof`, eddsa-rdfc-2022, `assertionMethod`, a `created` dateTime, a
  base58-btc multibase `proofValue` of 64 bytes, a verification method that the issuer's DID
  document lists as a Multikey (`publicKeyMultibase` `z6Mk…`) whose key checks the signature;
* the verifier (`POST /credentials/verify`, with the suite's `options.checks`) verifies it
  (200; pending, then valid once anchored), reports it as a VC 2.0 credential that is not an
  Open Badge, and fails it (400) once revoked;
* credentials signed here by a did:key, VC 1.1 as the suite signs them: valid alone and as a
  proof set (200), and 400 with `verified: false` for every defect the suite makes: no proof,
  a proof that is not an object, no type / verification method / purpose, another proof
  type, purpose or cryptosuite, a `proofValue` that is not base58-btc or does not match, an
  undefined term, a relative IRI, a `previousProof` naming no proof, an inline context; a
  credential that is not an object is 422.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core import dataintegrity
from services.core.multiformats import decode_public_key, encode_public_key, multibase_decode
from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

VC1 = "https://www.w3.org/2018/credentials/v1"
VC2 = "https://www.w3.org/ns/credentials/v2"
DI = "https://w3id.org/security/data-integrity/v2"
SUBJECT = {"id": "did:key:z6MktKwz7Ge1Yxzr4JHavN33wiwa8y81QdcMRLXQsrH9T53b", "name": "ExampleClaim"}
CREATED = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuer(stack):
    api = new_issuer(stack.url("issuer"), "suite", name="Suite Issuer", url="https://suite.example",
                     email="ops@suite.example")
    yield api, api.info
    api.close()


def _verify(verifier: httpx.Client, vc, options: dict | None = None) -> httpx.Response:
    return verifier.post("/credentials/verify", json={"verifiableCredential": vc,
                                                      "options": options or {"checks": ["proof"]}})


# -- issuing and verifying a generic VC 2.0 credential ---------------------------------------------------
def test_the_suites_vc2_credential_is_issued_with_a_conforming_proof_verified_then_revoked(stack, issuer, verifier):
    api, info = issuer
    credential = {"@context": [VC2], "id": "urn:uuid:86294362-4254-4f36-854f-3952fe42555d",
                  "type": ["VerifiableCredential"], "issuer": info["did"], "credentialSubject": SUBJECT}
    r = api.post("/credentials/issue", json={"credential": credential, "options": {}})
    assert r.status_code == 201, r.text
    vc = r.json()["verifiableCredential"]
    proofs = vc["proof"] if isinstance(vc["proof"], list) else [vc["proof"]]
    assert len(proofs) == 1
    proof = proofs[0]
    assert (proof["type"], proof["cryptosuite"], proof["proofPurpose"]) == (
        "DataIntegrityProof", "eddsa-rdfc-2022", "assertionMethod")
    datetime.fromisoformat(proof["created"].replace("Z", "+00:00"))
    assert proof["proofValue"].startswith("z") and len(multibase_decode(proof["proofValue"])) == 64
    # the verification method, dereferenced in the issuer's DID document: a Multikey, base58-btc
    did_document = httpx.get(info["did_document_url"], timeout=10).json()
    method = next(m for m in did_document["verificationMethod"] if m["id"] == proof["verificationMethod"])
    assert method["type"] == "Multikey" and method["controller"] == info["did"]
    assert method["publicKeyMultibase"].startswith("z6Mk")
    assert proof["verificationMethod"] in did_document["assertionMethod"]
    assert dataintegrity.verify_all(vc, decode_public_key(method["publicKeyMultibase"])).valid

    r = _verify(verifier, vc)
    assert r.status_code == 200, r.text
    body = wait_for(lambda: (b := _verify(verifier, vc).json())["verified"] and b, timeout=90,
                    what="the generic VC anchored and verified")
    report = body["report"]
    assert report["status"] == "valid" and body["errors"] == []
    assert "W3C Verifiable Credential 2.0" in report["checks"][0]["message"]
    assert "not an Open Badge" in report["checks"][0]["message"]
    assert any("Open Badge" in n for n in report["assurance"]["notProven"])
    assert report["credential"]["issuer"] == info["did"] and report["credential"]["recipient"] == "ExampleClaim"

    r = api.post("/credentials/status", json={"credentialId": vc["id"], "status": True, "credentialStatus": {
        "type": "BitstringStatusListEntry", "statusPurpose": "revocation"}})
    assert r.status_code == 200, r.text
    r = wait_for(lambda: (r := _verify(verifier, vc)).status_code == 400 and r, timeout=30,
                 what="the revocation seen by the verifier")
    assert r.json()["verified"] is False and r.json()["report"]["status"] == "revoked"


# -- verifying credentials signed elsewhere, and their defects -------------------------------------------
class DidKey:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        multikey = encode_public_key(self.key.public_key().public_bytes_raw())
        self.did = f"did:key:{multikey}"
        self.vm = f"{self.did}#{multikey}"

    def credential(self, version: str = "1.1") -> dict:
        if version == "1.1":  # what the suite signs: VC 1.1 with the Data Integrity context
            return {"@context": [VC1, DI], "id": "urn:uuid:7a2b9a36-3c4e-4c1f-9d3f-0c8a1f0d2b11",
                    "type": ["VerifiableCredential"], "issuer": self.did, "issuanceDate": "2020-03-16T22:37:26Z",
                    "credentialSubject": {"id": SUBJECT["id"]}}
        return {"@context": [VC2], "id": "urn:uuid:7a2b9a36-3c4e-4c1f-9d3f-0c8a1f0d2b12",
                "type": ["VerifiableCredential"], "issuer": self.did, "credentialSubject": dict(SUBJECT)}

    def sign(self, document: dict, **options) -> dict:
        return dataintegrity.sign(document, self.key, self.vm, CREATED, **options)


@pytest.fixture(scope="module")
def signer():
    return DidKey()


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_a_did_key_credential_and_a_proof_set_verify(verifier, signer, version):
    signed = signer.sign(signer.credential(version))
    r = _verify(verifier, signed)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["report"]["assurance"]["level"] == "signature"
    assert f"W3C Verifiable Credential {version}" in body["report"]["checks"][0]["message"]
    both = signer.sign(signed, proof_id="urn:uuid:second")  # a proof set: both proofs must verify
    assert len(both["proof"]) == 2
    r = _verify(verifier, both)
    assert r.status_code == 200 and r.json()["verified"] is True, r.text
    chained = signer.sign(signer.sign(signer.credential(version), proof_id="urn:uuid:first"),
                          previous_proof="urn:uuid:first")
    r = _verify(verifier, chained)
    assert r.status_code == 200 and r.json()["verified"] is True, r.text


def _defects(signer: DidKey) -> dict:
    good = signer.sign(signer.credential())

    def changed(change) -> dict:
        doc = copy.deepcopy(good)
        change(doc)
        return doc

    def proof_set(proof: dict) -> dict:
        return {**proof, "proofValue": good["proof"]["proofValue"]}

    return {
        "no proof": changed(lambda d: d.pop("proof")),
        "proof is null": changed(lambda d: d.update(proof=None)),
        "proof is a string": changed(lambda d: d.update(proof="proof")),
        "no proof.type": changed(lambda d: d["proof"].pop("type")),
        "no verificationMethod": changed(lambda d: d["proof"].pop("verificationMethod")),
        "no proofPurpose": changed(lambda d: d["proof"].pop("proofPurpose")),
        "another proof type": signer.sign(signer.credential()) | {
            "proof": {**good["proof"], "type": "UnknownProofType"}},
        "another purpose, signed": signer.sign(signer.credential(), proof_purpose="authentication"),
        "another cryptosuite": changed(lambda d: d["proof"].update(cryptosuite="eddsa-jcs-2022")),
        "proofValue not base58-btc": changed(lambda d: d["proof"].update(proofValue="u" + d["proof"]["proofValue"][1:])),
        "proofValue of another document": changed(lambda d: d["proof"].update(
            proofValue=signer.sign({**signer.credential(), "id": "urn:uuid:other"})["proof"]["proofValue"])),
        "a changed claim": changed(lambda d: d["credentialSubject"].update(id="did:example:mallory")),
        "an undefined term": changed(lambda d: d["credentialSubject"].update(undefinedTerm="undefinedTerm")),
        "a relative IRI": changed(lambda d: d["credentialSubject"].update(id="relative/subject")),
        # a chain whose first link is taken away (our signer refuses to make a dangling one)
        "previousProof naming no proof": {**(chain := signer.sign(signer.sign(signer.credential(), proof_id="urn:uuid:a"),
                                                                 previous_proof="urn:uuid:a")),
                                          "proof": [chain["proof"][1]]},
        "an inline context": changed(lambda d: d.update({"@context": [VC1, DI, {"name": "https://schema.org/name"}]})),
        "a proof set with one bad proof": changed(lambda d: d.update(proof=[
            d["proof"], proof_set({**d["proof"], "created": "2026-03-06T10:00:00Z"})])),
    }


FORMAT_DEFECTS = ("no proof", "an undefined term", "a relative IRI", "an inline context")


@pytest.mark.parametrize("defect", list(_defects(DidKey())))
def test_every_defect_the_suite_makes_is_400_and_not_verified(verifier, signer, defect):
    document = _defects(signer)[defect]
    r = _verify(verifier, document)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["verified"] is False and body["errors"], body
    assert body["report"]["status"] == "invalid"
    # each fails for its own defect: the shape, or the proof of a well-formed credential
    expected = "format" if defect in FORMAT_DEFECTS else "proof"
    assert [e["check"] for e in body["errors"]] == [expected], body["errors"]


def test_a_credential_that_is_not_an_object_is_refused(verifier, signer):
    import json
    r = _verify(verifier, json.dumps(signer.sign(signer.credential())))
    assert r.status_code == 422
