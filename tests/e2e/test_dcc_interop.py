"""The Digital Credentials Consortium's ``@digitalcredentials/verifier-core`` on our credentials, over the real services.

verifier-core is what VerifierPlus and the Learner Credential Wallet run. Given one of our
credentials (tests/interop/dcc_verifier_core.mjs), it resolves the issuer's did:web itself —
here over http on loopback, as a TLS front of the issuer service would serve it — fetches our
status list credentials from their URLs, and must report the signature, the revocation and
suspension status and the expiry as passing; once we revoke the credential, its revocation
step must fail (the signature still passing); a suspended one fails its suspension step. A
generic VC 2.0 credential issued through the VC-API passes the same steps. Contexts come from
our bundled copies; nothing is fetched from the internet (verifier-core's OB JSON Schema check
is answered from ../shared/reference when it is there, and otherwise finds it unreachable,
which it reports apart from the steps).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from services.core import statuslist
from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "dcc_verifier_core.mjs"
PACKAGE = "@digitalcredentials/verifier-core"
ACHIEVEMENT = {"name": "Data Literacy", "description": "Reads, questions and presents data soundly.",
               "criteria": {"narrative": "Completed the four-week data literacy course and its project."},
               "validity_days": 365}
STEPS = ("valid_signature", "revocation_status", "suspension_status", "expiration")
OB_SCHEMA_URL = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
OB_SCHEMA = REPO.parent / "shared" / "reference" / "ob3" / "ob_v3p0_achievementcredential_schema.json"

if shutil.which("node") is None:
    pytest.skip("node is not installed: cannot run DCC's verifier-core", allow_module_level=True)
if not (REPO / "node_modules" / PACKAGE).is_dir():
    pytest.skip(f"node_modules lacks {PACKAGE} (run npm ci)", allow_module_level=True)


def verifier_core(credential: dict) -> dict:
    """verifier-core's log as {step id: valid}, with its errors and the URLs it fetched."""
    documents = {OB_SCHEMA_URL: json.loads(OB_SCHEMA.read_text())} if OB_SCHEMA.is_file() else {}
    run = subprocess.run(["node", str(SCRIPT)], cwd=REPO,
                         input=json.dumps({"credential": credential, "documents": documents}),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    result["steps"] = {entry["id"]: entry["valid"] for entry in result["log"]}
    return result


@pytest.fixture(scope="module")
def issuer(stack):
    api = new_issuer(stack.url("issuer"), "riverside", name="Riverside Institute")
    yield api, api.info, api.achievement(**ACHIEVEMENT)
    api.close()


def _issue(api, achievement: dict) -> dict:
    return api.issue(achievement["id"], name="Ada Learner")


def _served_with_bit(document: dict, purpose: str, bit: bool, did: str) -> bool:
    """The status list credential at the entry's URL is published and has the entry's bit as ``bit``."""
    entry = next(e for e in document["credentialStatus"] if e.get("statusPurpose") == purpose)
    r = httpx.get(entry["statusListCredential"], timeout=10)
    if r.status_code != 200:
        return False
    bits = statuslist.read_list(r.json(), entry["statusListCredential"], purpose, did)
    return statuslist.get_bit(bits, int(entry["statusListIndex"])) is bit


def test_verifier_core_passes_our_credential_then_sees_it_revoked(issuer):
    api, info, achievement = issuer
    issued = _issue(api, achievement)
    document = issued["credential"]
    assert document["validUntil"]  # so the expiry step has a date to check
    wait_for(lambda: _served_with_bit(document, "revocation", False, info["did"]), timeout=60,
             what="the revocation list published")
    result = verifier_core(document)
    assert result["errors"] is None, result
    assert {step: result["steps"].get(step) for step in STEPS} == dict.fromkeys(STEPS, True), result["log"]
    # it resolved our did:web itself (https, served over http on loopback) and read our lists at their URLs
    did_url = info["did_document_url"].replace("http://", "https://")
    assert did_url in result["fetched"], result["fetched"]
    assert {e["statusListCredential"] for e in document["credentialStatus"]} <= set(result["fetched"])

    r = api.post(f"/api/v1/credentials/{issued['id']}/revoke", json={"reason": "issued in error"})
    assert r.status_code == 200, r.text
    wait_for(lambda: _served_with_bit(document, "revocation", True, info["did"]), timeout=60,
             what="the revocation published in the list")
    result = verifier_core(document)
    assert result["steps"]["valid_signature"] is True, result["log"]
    assert result["steps"]["revocation_status"] is False, result["log"]
    assert result["steps"]["expiration"] is True


def test_verifier_core_sees_a_suspension(issuer):
    api, info, achievement = issuer
    issued = _issue(api, achievement)
    r = api.post(f"/api/v1/credentials/{issued['id']}/suspend", json={"reason": "under review"})
    assert r.status_code == 200, r.text
    wait_for(lambda: _served_with_bit(issued["credential"], "suspension", True, info["did"]), timeout=60,
             what="the suspension published in the list")
    result = verifier_core(issued["credential"])
    assert result["steps"]["valid_signature"] is True and result["steps"]["revocation_status"] is True, result["log"]
    assert result["steps"]["suspension_status"] is False, result["log"]


def test_verifier_core_passes_a_generic_vc2_credential_of_the_vcapi(issuer):
    api, info, _achievement = issuer
    credential = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"],
                  "validUntil": "2099-01-01T00:00:00Z",
                  "credentialSubject": {"id": "did:example:ada", "name": "Ada Learner"}}
    r = api.post("/credentials/issue", json={"credential": credential})
    assert r.status_code == 201, r.text
    document = r.json()["verifiableCredential"]
    wait_for(lambda: _served_with_bit(document, "revocation", False, info["did"]), timeout=60,
             what="the revocation list published")
    result = verifier_core(document)
    assert result["errors"] is None, result
    assert {step: result["steps"].get(step) for step in STEPS} == dict.fromkeys(STEPS, True), result["log"]
