"""The VC-API over the real services (anvil, registry and worker, issuer and outbox, verifier), all over HTTP.

A credential issued at the issuer's ``POST /credentials/issue`` is pending at the verifier's
``POST /credentials/verify`` until its anchor is confirmed on chain, then valid; altered, or
revoked through ``POST /credentials/status``, it fails; a presentation of two such credentials
verifies with its holder's proof and challenge.
"""

from __future__ import annotations

import copy

import httpx
import pytest

from services.issuer.credentials.document import identity_object
from tests.support.issuers import new_issuer
from tests.support.stack import wait_for
from tests.unit.test_vcapi_verifier import Holder

pytestmark = pytest.mark.slow

CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
ACHIEVEMENT = {"name": "Drone Operations", "description": "Flies a small UAS safely and lawfully.",
               "criteria": {"narrative": "Passed the practical flight test and the airspace exam."},
               "achievementType": "MicroCredential", "validity_days": 365}


@pytest.fixture(scope="module")
def issuer(stack):
    api = new_issuer(stack.url("issuer"), "skyward", name="Skyward Training", url="https://skyward.example",
                     email="ops@skyward.example")
    yield api, api.achievement(**ACHIEVEMENT)
    api.close()


def _issue(api: httpx.Client, achievement: dict, name: str) -> dict:
    credential = {"@context": CONTEXTS, "type": ["VerifiableCredential", "OpenBadgeCredential"],
                  "credentialSubject": {"type": ["AchievementSubject"], "name": name,
                                        "identifier": [identity_object(f"{name.split()[0].lower()}@example.org", "s")],
                                        "achievement": {"id": achievement["achievement"]["id"]}}}
    r = api.post("/credentials/issue", json={"credential": credential, "options": {}})
    assert r.status_code == 201, r.text
    return r.json()["verifiableCredential"]


def _anchored(api: httpx.Client, vc: dict) -> dict:
    our_id = vc["id"].rsplit("/", 1)[1]
    wait_for(lambda: api.get(f"/api/v1/credentials/{our_id}").json()["status"] == "anchored", timeout=90,
             what="the anchor proof attached at the issuer")
    return api.get(f"/credentials/{our_id}").json()


def _verify(verifier: httpx.Client, vc: dict) -> httpx.Response:
    return verifier.post("/credentials/verify", json={"verifiableCredential": vc, "options": {}})


def _valid(verifier: httpx.Client, vc: dict) -> dict | None:
    r = _verify(verifier, vc)
    return r.json() if r.status_code == 200 and r.json()["verified"] else None


def test_a_vcapi_credential_is_pending_then_valid_and_fails_altered_or_revoked(stack, issuer, verifier):
    api, achievement = issuer
    stack.stop("registry-worker")  # nothing is anchored until it is back: the first answer is "pending"
    try:
        vc = _issue(api, achievement, "Amelia Earhart")
        r = _verify(verifier, vc)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verified"] is False and body["errors"] == [] and body["report"]["status"] == "pending"
        assert {"format", "proof", "expiration"} <= set(body["checks"])
        assert "anchor" in {w["check"] for w in body["warnings"]}
    finally:
        stack.start("registry-worker")
    body = wait_for(lambda: _valid(verifier, vc), timeout=90, what="the VC-API credential verified")
    assert body["warnings"] == [] and body["report"]["status"] == "valid"
    assert body["checks"] == ["format", "proof", "issuer", "integrity", "anchor", "status", "expiration"]
    # the issuer's copy gets the anchor proof (the verifier asked the registry meanwhile), and verifies the same way
    anchored = _anchored(api, vc)
    assert [p["cryptosuite"] for p in anchored["proof"]] == ["eddsa-rdfc-2022", "microcred-anchor-2026"]
    assert _valid(verifier, anchored)

    altered = copy.deepcopy(anchored)
    altered["credentialSubject"]["name"] = "Mallory"
    r = _verify(verifier, altered)
    assert r.status_code == 400 and r.json()["verified"] is False
    assert "proof" in {e["check"] for e in r.json()["errors"]} and r.json()["report"]["status"] == "invalid"

    r = api.post("/credentials/status", json={"credentialId": vc["id"], "status": True, "credentialStatus": {
        "type": "BitstringStatusListEntry", "statusPurpose": "revocation"}})
    assert r.status_code == 200 and r.json()["status"] == "revoked", r.text
    r = wait_for(lambda: (r := _verify(verifier, anchored)).status_code == 400 and r, timeout=30,
                 what="the revocation seen by the verifier")
    assert [e["check"] for e in r.json()["errors"]] == ["status"] and r.json()["report"]["status"] == "revoked"


def test_a_presentation_of_two_vcapi_credentials(issuer, verifier):
    api, achievement = issuer
    first, second = _issue(api, achievement, "Bessie Coleman"), _issue(api, achievement, "Harriet Quimby")
    ready = [_anchored(api, vc) for vc in (first, second)]
    assert all(_valid(verifier, vc) for vc in ready)
    holder = Holder()
    vp = holder.present(*ready, challenge="job-4711", domain="hr.example")
    r = verifier.post("/presentations/verify", json={"verifiablePresentation": vp,
                                                     "options": {"challenge": "job-4711", "domain": "hr.example"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["errors"] == [] and body["holder"] == holder.did
    assert body["checks"] == ["proof", "holder", "challenge", "domain"]
    assert [(c["index"], c["verified"], c["report"]["credential"]["recipient"]) for c in body["credentialResults"]] \
        == [(0, True, "Bessie Coleman"), (1, True, "Harriet Quimby")]
    # replayed for another challenge, or with one of its credentials altered, it fails
    r = verifier.post("/presentations/verify", json={"verifiablePresentation": vp, "options": {"challenge": "other"}})
    assert r.status_code == 400 and [e["check"] for e in r.json()["errors"]] == ["challenge"]
    altered = copy.deepcopy(vp)
    altered["verifiableCredential"][1]["credentialSubject"]["name"] = "Mallory"
    r = verifier.post("/presentations/verify", json={"verifiablePresentation": altered,
                                                     "options": {"challenge": "job-4711"}})
    assert r.status_code == 400
    assert [(e["check"], e.get("credential")) for e in r.json()["errors"]] == [("proof", None), ("credential", 1)]
