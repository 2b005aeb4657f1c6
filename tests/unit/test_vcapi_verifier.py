"""The verifier's VC-API routes (services/verifier/vcapi.py) over a fake checker: shapes, statuses, presentations.

The presentation's own proof is real eddsa-rdfc-2022 here, and its canonical form is checked
against stock pyld (our strict canonicaliser refuses the credentials' nested @context).
"""

from __future__ import annotations

import copy
import hashlib

import pyld.jsonld as pyld
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from services.core import dataintegrity
from services.core.jsonld import canonicalize, default_loader
from services.core.multiformats import encode_public_key, multibase_encode
from services.core.verification import CHECK_IDS
from services.verifier.app import create_app
from services.verifier.settings import VerifierSettings
from services.verifier.vcapi import CHECK_NAMES, presentation_nquads
from tests.unit.verifier_fakes import BASE, CREDENTIAL, FakeChecker

VC2 = "https://www.w3.org/ns/credentials/v2"


def _client(tmp_path, checker=None, **settings) -> TestClient:
    config = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="0x" + "ab" * 20, **settings)
    return TestClient(create_app(config, checker=checker or FakeChecker()))


@pytest.fixture
def checker():
    return FakeChecker()


@pytest.fixture
def client(tmp_path, checker):
    with _client(tmp_path, checker) as c:
        yield c


def _signed_credential(name: str) -> dict:
    """CREDENTIAL with another recipient and a real proof (by a did:key: the fake checker judges nothing)."""
    key = Ed25519PrivateKey.generate()
    multikey = encode_public_key(key.public_key().public_bytes_raw())
    document = copy.deepcopy(CREDENTIAL)
    document["credentialSubject"]["name"] = name
    return dataintegrity.sign(document, key, f"did:key:{multikey}#{multikey}", "2026-03-05T10:00:00Z")


def _stock_nquads(document: dict) -> str:
    loader = default_loader()
    return pyld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                     "documentLoader": loader, "base": None})


class Holder:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        multikey = encode_public_key(self.key.public_key().public_bytes_raw())
        self.did = f"did:key:{multikey}"
        self.vm = f"{self.did}#{multikey}"

    def present(self, *credentials: dict, challenge: str | None = None, domain=None, holder: str | None = "me",
                purpose: str = "authentication") -> dict:
        """A presentation signed as eddsa-rdfc-2022 says, its document hash from stock pyld (not from our code)."""
        vp = {"@context": [VC2], "type": ["VerifiablePresentation"], "verifiableCredential": list(credentials)}
        if holder:
            vp["holder"] = self.did if holder == "me" else holder
        proof = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-03-05T10:00:00Z",
                 "verificationMethod": self.vm, "proofPurpose": purpose}
        if challenge is not None:
            proof["challenge"] = challenge
        if domain is not None:
            proof["domain"] = domain
        document_hash = hashlib.sha256(_stock_nquads(vp).encode()).digest()
        proof_hash = hashlib.sha256(canonicalize(dataintegrity.proof_config(vp, proof)).encode()).digest()
        proof["proofValue"] = multibase_encode(self.key.sign(proof_hash + document_hash))
        return {**vp, "proof": proof}


# -- /credentials/verify ---------------------------------------------------------------------------
def test_a_valid_credential_is_200_with_every_check_passed_and_the_report(client, checker):
    r = client.post("/credentials/verify", json={"verifiableCredential": CREDENTIAL, "options": {}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["warnings"] == [] and body["errors"] == []
    assert body["checks"] == [CHECK_NAMES[i] for i in CHECK_IDS]
    assert {"proof", "status", "expiration"} <= set(body["checks"])
    assert body["report"]["status"] == "valid" and [c["id"] for c in body["report"]["checks"]] == list(CHECK_IDS)
    assert checker.documents == [CREDENTIAL] and r.headers["cache-control"] == "no-store"


def test_a_pending_credential_is_200_not_verified_with_a_warning(tmp_path):
    with _client(tmp_path, FakeChecker(status="pending")) as client:
        r = client.post("/credentials/verify", json={"verifiableCredential": CREDENTIAL})
    assert r.status_code == 200
    body = r.json()
    assert body["verified"] is False and body["errors"] == []
    assert [(w["check"], w["id"], w["status"]) for w in body["warnings"]] == [("anchor", "anchor", "pending")]
    assert "anchor" not in body["checks"] and body["report"]["status"] == "pending"


@pytest.mark.parametrize("status, failed", [("invalid", "proof"), ("revoked", "status"), ("expired", "expiration")])
def test_a_failed_check_is_400_with_the_same_body_and_the_message(tmp_path, status, failed):
    with _client(tmp_path, FakeChecker(status=status)) as client:
        r = client.post("/credentials/verify", json={"verifiableCredential": CREDENTIAL})
    assert r.status_code == 400
    body = r.json()
    assert body["verified"] is False and [e["check"] for e in body["errors"]] == [failed]
    assert body["errors"][0]["message"] and failed not in body["checks"] and body["report"]["status"] == status


@pytest.mark.parametrize("body, code", [
    ({"verifiableCredential": CREDENTIAL, "options": {"challenge": "abc"}}, "unknown_option"),
    ({"verifiableCredential": CREDENTIAL, "options": {"checks": ["proof", "telepathy"]}}, "invalid_option"),
    ({"verifiableCredential": CREDENTIAL, "options": {"checks": "proof"}}, "invalid_option"),
    ({"verifiableCredential": CREDENTIAL, "options": {"checks": []}}, "invalid_option"),
    ({"verifiableCredential": CREDENTIAL, "extra": 1}, "unknown_data"),
])
def test_unknown_options_and_members_are_400_and_nothing_is_verified(client, checker, body, code):
    r = client.post("/credentials/verify", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert checker.documents == []


def test_the_checks_option_names_known_checks_and_every_check_still_runs(client, checker):
    # The W3C suites send options.checks = ["proof"]; the verdict still rests on all seven checks.
    r = client.post("/credentials/verify", json={"verifiableCredential": CREDENTIAL, "options": {"checks": ["proof"]}})
    assert r.status_code == 200 and checker.documents == [CREDENTIAL]
    assert len(r.json()["report"]["checks"]) == 7


def test_a_body_that_is_not_the_shape_is_422_and_hostile_json_is_refused_first(client, checker):
    assert client.post("/credentials/verify", json={"verifiableCredential": "a string"}).status_code == 422
    deep = b'{"verifiableCredential": ' + b'[' * 100 + b']' * 100 + b'}'
    r = client.post("/credentials/verify", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"
    assert checker.documents == []


def test_the_routes_are_rate_limited_like_the_verify_api(tmp_path):
    with _client(tmp_path, rate_limit_per_minute=4) as client:  # a burst of 5
        answers = [client.post("/credentials/verify", json={"verifiableCredential": CREDENTIAL}).status_code
                   for _ in range(6)]
        assert answers == [200] * 5 + [429]
        r = client.post("/presentations/verify", json={"verifiablePresentation": {
            "@context": [VC2], "type": "VerifiablePresentation", "verifiableCredential": [CREDENTIAL]}})
        assert r.status_code == 429 and r.headers["retry-after"]


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/credentials/verify"] and "post" in paths["/presentations/verify"]


# -- /presentations/verify -------------------------------------------------------------------------
def test_an_unsigned_presentation_of_two_credentials_verifies_each_and_warns_of_no_proof(client, checker):
    second = _signed_credential("Grace Hopper")
    vp = {"@context": [VC2], "type": ["VerifiablePresentation"], "verifiableCredential": [CREDENTIAL, second]}
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["errors"] == [] and body["checks"] == []
    assert [w["check"] for w in body["warnings"]] == ["proof"] and body["holder"] is None
    assert [(c["index"], c["id"], c["verified"]) for c in body["credentialResults"]] == [
        (0, CREDENTIAL["id"], True), (1, CREDENTIAL["id"], True)]
    assert body["credentialResults"][1]["report"]["credential"]["recipient"] == "Grace Hopper"
    assert checker.documents == [CREDENTIAL, second] and "verifiablePresentation" not in body


def test_a_signed_presentation_proves_its_holder_challenge_and_domain(client):
    holder = Holder()
    vp = holder.present(CREDENTIAL, _signed_credential("Grace Hopper"), challenge="c-123", domain="jobs.example")
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp, "options": {
        "challenge": "c-123", "domain": "jobs.example", "returnPresentation": True}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["checks"] == ["proof", "holder", "challenge", "domain"] and body["warnings"] == []
    assert body["verified"] is True and body["holder"] == holder.did and body["verifiablePresentation"] == vp
    assert len(body["credentialResults"]) == 2


@pytest.mark.parametrize("options, check", [({"challenge": "another"}, "challenge"),
                                            ({"challenge": "c-123", "domain": "elsewhere.example"}, "domain")])
def test_a_presentation_made_for_another_challenge_or_domain_fails(client, options, check):
    vp = Holder().present(CREDENTIAL, challenge="c-123", domain="jobs.example")
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp, "options": options})
    assert r.status_code == 400
    assert [e["check"] for e in r.json()["errors"]] == [check]


def test_a_challenge_asked_of_an_unsigned_or_unchallenged_presentation_fails(client):
    unsigned = {"@context": [VC2], "type": "VerifiablePresentation", "verifiableCredential": CREDENTIAL}
    r = client.post("/presentations/verify", json={"verifiablePresentation": unsigned,
                                                   "options": {"challenge": "c-1"}})
    assert r.status_code == 400 and r.json()["errors"][0]["check"] == "proof"
    r = client.post("/presentations/verify", json={"verifiablePresentation": Holder().present(CREDENTIAL),
                                                   "options": {"challenge": "c-1"}})
    assert r.status_code == 400 and [e["check"] for e in r.json()["errors"]] == ["challenge"]


def test_a_challenge_in_the_proof_but_not_in_the_options_is_a_warning(client):
    r = client.post("/presentations/verify", json={"verifiablePresentation": Holder().present(
        CREDENTIAL, challenge="c-9")})
    assert r.status_code == 200 and [w["check"] for w in r.json()["warnings"]] == ["challenge"]


def test_a_presentation_altered_after_signing_fails_its_proof(client):
    vp = Holder().present(CREDENTIAL, _signed_credential("Grace Hopper"), challenge="c-1")
    altered = copy.deepcopy(vp)
    altered["verifiableCredential"][1]["credentialSubject"]["name"] = "Mallory"
    r = client.post("/presentations/verify", json={"verifiablePresentation": altered,
                                                   "options": {"challenge": "c-1"}})
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert errors[0]["check"] == "proof" and "does not match" in errors[0]["message"]


def test_a_presentation_signed_by_someone_else_than_its_holder_fails(client):
    vp = Holder().present(CREDENTIAL, holder="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 400 and [e["check"] for e in r.json()["errors"]] == ["holder"]
    assert "proof" in r.json()["checks"]


def test_a_presentation_proof_of_the_wrong_purpose_or_key_cannot_be_checked(client):
    vp = Holder().present(CREDENTIAL, purpose="assertionMethod")
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 400 and "authentication" in r.json()["errors"][0]["message"]
    vp = Holder().present(CREDENTIAL)
    vp["proof"]["verificationMethod"] = "did:web:holder.example#key-1"
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 400 and "did:key" in r.json()["errors"][0]["message"]


def test_a_failing_credential_fails_the_presentation_and_says_which(tmp_path):
    with _client(tmp_path, FakeChecker(status="revoked")) as client:
        vp = Holder().present(CREDENTIAL)
        r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 400
    body = r.json()
    assert body["checks"] == ["proof", "holder"] and body["verified"] is False
    assert [(e["check"], e["credential"]) for e in body["errors"]] == [("credential", 0)]
    assert body["credentialResults"][0]["errors"][0]["check"] == "status"


@pytest.mark.parametrize("vp, code", [
    ({"@context": ["https://www.w3.org/2018/credentials/v1"], "type": "VerifiablePresentation"},
     "invalid_presentation"),
    ({"@context": [VC2], "type": "VerifiableCredential"}, "invalid_presentation"),
    ({"@context": [VC2], "type": "VerifiablePresentation", "verifiableCredential": [CREDENTIAL] * 21},
     "invalid_presentation"),
])
def test_what_is_not_a_presentation_we_check_is_400(client, checker, vp, code):
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp})
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert checker.documents == []
    r = client.post("/presentations/verify", json={"verifiablePresentation": vp, "options": {"nonce": "x"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_option"


# -- the presentation's canonical form -------------------------------------------------------------
@pytest.mark.parametrize("shape", ["two signed", "with id and one object", "no credentials", "tricky literal"])
def test_the_presentation_canonical_form_is_stock_pyld_s(shape):
    holder = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    vp = {"@context": [VC2], "type": ["VerifiablePresentation"], "holder": holder,
          "verifiableCredential": [_signed_credential("Ada"), _signed_credential("Grace")]}
    if shape == "with id and one object":
        vp = {**vp, "id": "urn:uuid:6f2c7a52-9a0f-4d0e-8a55-5ad3c9f1e6b1", "verifiableCredential": CREDENTIAL}
    elif shape == "no credentials":
        vp = {k: v for k, v in vp.items() if k != "verifiableCredential"}
    elif shape == "tricky literal":  # a blank-node label inside a string must stay text
        vp["verifiableCredential"] = [_signed_credential("_:c14n0 and _:c14n1")]
    assert presentation_nquads(vp) == _stock_nquads(vp)
