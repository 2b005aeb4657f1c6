"""Bitstring Status Lists across the implementation boundary, over the real services.

Forward: a credential our issuer signed, once anchored and with its status lists on chain, is
verified by Digital Bazaar's ``@digitalbazaar/vc`` (eddsa-rdfc-2022) with
``@digitalbazaar/vc-bitstring-status-list``'s ``checkStatus`` (tests/interop/bitstring_status.mjs).
The JS is handed what a standard verifier would fetch — the issuer's DID document and the
status list credentials served at each entry's ``statusListCredential`` URL — fetched here from
the running issuer (each served version being the one whose hash is on chain), so it needs no
network. Through suspension, its lifting and revocation, the JS reads the same bits our
verifier reports.

Reverse: a credential and its BitstringStatusListCredentials made entirely by Digital Bazaar's
libraries (a did:key issuer; the lists served by a loopback HTTP server here) are given to our
verifier's ``POST /api/v1/verify``; what it says is recorded (docs/status-lists.md,
*Interoperability*).

Skipped with a message without node or the JS packages (``npm ci``). Nothing is fetched from
the internet.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.core import statuslist
from services.core.jsonld import credential_hash
from tests.support.issuers import new_issuer
from tests.support.json_server import JsonServer
from tests.support.node import require_packages, run_script
from tests.support.stack import make_stack, wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "bitstring_status.mjs"
NODE_PACKAGES = ("@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite",
                 "@digitalbazaar/ed25519-multikey", "@digitalbazaar/vc-bitstring-status-list")

require_packages(*NODE_PACKAGES, why="cannot cross-check status lists with the JS libraries")

ACHIEVEMENT = {"name": "Critical Thinking", "description": "Weighs evidence and argues to a sound conclusion.",
               "criteria": {"narrative": "Wrote and defended three assessed case analyses."}}
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"


def run_js(command: str, payload: dict) -> dict:
    return run_script(SCRIPT, command, payload=payload)


@pytest.fixture(scope="module")
def stack(devnet, tmp_path_factory):
    s = make_stack(tmp_path_factory.mktemp("status-interop"), devnet.rpc_url, devnet.address, 31337,
                   services=["registry", "registry-worker", "issuer", "issuer-outbox"],
                   MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_STATUS_LIST_INTERVAL="0.5")
    try:
        # Only the verifier may reach loopback hosts of anyone's: the reverse test serves a
        # third party's lists and credential on 127.0.0.1.
        s.start("verifier", {"MICROCRED_TRUSTED_HOSTS": "127.0.0.1"})
    except BaseException:
        s.close()
        raise
    yield s
    s.close()


def _verify(verifier: httpx.Client, body: dict) -> dict:
    r = verifier.post("/api/v1/verify", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _report(verifier: httpx.Client, credential_id: str) -> dict:
    r = verifier.get(f"/c/{credential_id}", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def _checks(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


# -- forward: our credential, Digital Bazaar's verifier ------------------------------------------------
class OurIssuer:
    def __init__(self, stack, devnet, slug: str) -> None:
        self.base = stack.env["MICROCRED_ISSUER_URL"]
        self.devnet = devnet
        self.api = new_issuer(self.base, slug, name="Northgate College")
        self.info, self.slug = self.api.info, self.api.slug
        self.account = self.api.wait_active()["registry"]["address"]
        self.achievement = self.api.achievement(**ACHIEVEMENT)

    def issue(self) -> dict:
        return self.api.issue(self.achievement["id"], name="Ada Learner")

    def anchored_document(self, credential_id: str) -> dict:
        wait_for(lambda: (r := self.api.get(f"/api/v1/credentials/{credential_id}")).status_code == 200
                 and r.json()["anchored_at"], timeout=60, what="the credential anchored")
        document = httpx.get(f"{self.base}/public/credentials/{credential_id}", timeout=10).json()
        assert any(p.get("cryptosuite") == "eddsa-rdfc-2022" for p in document["proof"])
        return document

    def did_documents(self) -> dict[str, dict]:
        """The DID document and each verification method by id, as a DID resolver would hand them over."""
        did = httpx.get(f"{self.base}/issuers/{self.slug}/did.json", timeout=10).json()
        documents = {did["id"]: did}
        for method in did["verificationMethod"]:
            documents[method["id"]] = {"@context": MULTIKEY_CONTEXT, **method}
        return documents

    def published(self, entry: dict, bit: bool) -> dict | None:
        """The list credential served at the entry's URL, once the chain holds exactly its hash and its
        bit for the entry is ``bit`` (as our own reader sees it); None until then."""
        r = httpx.get(entry["statusListCredential"], timeout=10)
        if r.status_code != 200:
            return None
        document = r.json()
        served_hash = credential_hash(document)
        on_chain, _set_at = self.devnet.contract.functions.statusListOf(
            self.account, statuslist.list_id(entry["statusListCredential"])).call()
        if on_chain != served_hash:
            return None
        bits = statuslist.read_list(document, entry["statusListCredential"], entry["statusPurpose"], self.info["did"])
        return document if statuslist.get_bit(bits, int(entry["statusListIndex"])) is bit else None


def _entries(document: dict) -> dict[str, dict]:
    found = {e["statusPurpose"]: e for e in document["credentialStatus"] if e["type"] == "BitstringStatusListEntry"}
    assert set(found) == {"revocation", "suspension"}, document["credentialStatus"]
    return found


def _digital_bazaar(issuer: OurIssuer, document: dict, entries: dict[str, dict], *, revoked: bool,
                    suspended: bool) -> dict:
    """Wait until both lists as served are on chain with the expected bits, then ask the JS."""
    lists = {}
    for purpose, expected in (("revocation", revoked), ("suspension", suspended)):
        entry = entries[purpose]
        lists[entry["statusListCredential"]] = wait_for(
            lambda entry=entry, expected=expected: issuer.published(entry, expected), timeout=60,
            what=f"the {purpose} list with the bit {'set' if expected else 'clear'} served and on chain")
    return run_js("verify", {"credential": document, "documents": {**issuer.did_documents(), **lists}})


def test_digital_bazaar_reads_our_suspension_and_revocation(stack, devnet, verifier):
    issuer = OurIssuer(stack, devnet, "northgate")
    issued = issuer.issue()
    document = issuer.anchored_document(issued["id"])
    entries = _entries(document)
    try:
        result = _digital_bazaar(issuer, document, entries, revoked=False, suspended=False)
        assert result["verified"] is True, result["errors"]
        assert result["statusResult"]["verified"] is True and len(result["statusResult"]["results"]) == 2
        assert result["status"] == {"revocation": False, "suspension": False}, result
        report = wait_for(lambda: (r := _report(verifier, issued["id"]))["status"] == "valid" and r, timeout=30,
                          what="our verifier to say valid")
        assert _checks(report)["revocation"]["status"] == "passed"

        r = issuer.api.post(f"/api/v1/credentials/{issued['id']}/suspend", json={"reason": "under review"})
        assert r.status_code == 200 and r.json()["status"] == "suspended", r.text
        result = _digital_bazaar(issuer, document, entries, revoked=False, suspended=True)
        # vc-bitstring-status-list's "verified" means the status could be read and trusted; the bit is `status`
        assert result["verified"] is True, result["errors"]
        assert result["status"] == {"revocation": False, "suspension": True}, result
        report = wait_for(lambda: (r := _report(verifier, issued["id"]))["status"] == "suspended" and r, timeout=30,
                          what="our verifier to say suspended")
        assert report["verified"] is False
        assert "under review" in _checks(report)["revocation"]["message"], report
        # the downloaded file, verified on its own, says the same
        assert _verify(verifier, {"credential": document})["status"] == "suspended"

        r = issuer.api.post(f"/api/v1/credentials/{issued['id']}/unsuspend")
        assert r.status_code == 200 and r.json()["status"] != "suspended", r.text
        result = _digital_bazaar(issuer, document, entries, revoked=False, suspended=False)
        assert result["verified"] is True and result["status"] == {"revocation": False, "suspension": False}, result
        wait_for(lambda: _report(verifier, issued["id"])["status"] == "valid", timeout=30,
                 what="our verifier to say valid again")

        r = issuer.api.post(f"/api/v1/credentials/{issued['id']}/revoke", json={"reason": "issued in error"})
        assert r.status_code == 200 and r.json()["status"] == "revoked", r.text
        result = _digital_bazaar(issuer, document, entries, revoked=True, suspended=False)
        assert result["verified"] is True, result["errors"]
        assert result["status"] == {"revocation": True, "suspension": False}, result
        report = wait_for(lambda: (r := _report(verifier, issued["id"]))["status"] == "revoked" and r, timeout=30,
                          what="our verifier to say revoked")
        assert _checks(report)["revocation"]["status"] == "failed"
        assert _verify(verifier, {"credential": document})["status"] == "revoked"
    except AssertionError:
        print(stack.logs())
        raise


def test_digital_bazaar_refuses_a_tampered_copy_of_our_list(stack, devnet):
    """The JS does check our list's signature: a changed bit in a served list is not read as a status."""
    issuer = OurIssuer(stack, devnet, "tamper")
    issued = issuer.issue()
    document = issuer.anchored_document(issued["id"])
    entries = _entries(document)
    entry = entries["revocation"]
    served = wait_for(lambda: issuer.published(entry, False), timeout=60, what="the revocation list on chain")
    bits = bytearray(statuslist.decode(served["credentialSubject"]["encodedList"]))
    statuslist.set_bits(bits, on=[int(entry["statusListIndex"])])
    forged = json.loads(json.dumps(served))
    forged["credentialSubject"]["encodedList"] = statuslist.encode(bits)
    suspension = wait_for(lambda: issuer.published(entries["suspension"], False), timeout=60,
                          what="the suspension list on chain")
    result = run_js("verify", {"credential": document, "documents": {
        **issuer.did_documents(), entry["statusListCredential"]: forged,
        entries["suspension"]["statusListCredential"]: suspension}})
    assert result["verified"] is False and result["statusResult"]["verified"] is False, result
    assert any("not verified" in e for e in result["errors"]), result


# -- reverse: Digital Bazaar's credential and lists, our verifier --------------------------------------
@pytest.fixture
def list_server():
    server = JsonServer()
    yield server
    server.close()


def test_our_verifier_on_a_digital_bazaar_credential_and_lists(verifier, list_server):
    made = run_js("issue", {"listBase": f"{list_server.url}/lists"})
    credential, entries, lists = made["credential"], made["entries"], made["lists"]
    paths = {purpose: httpx.URL(entries[purpose]["url"]).path for purpose in entries}
    list_server.documents["/credential.json"] = credential

    def serve(revocation: str, suspension: str) -> dict:
        list_server.documents[paths["revocation"]] = lists["revocation"][revocation]
        list_server.documents[paths["suspension"]] = lists["suspension"][suspension]
        documents = {entries[p]["url"]: httpx.get(entries[p]["url"], timeout=10).json() for p in entries}
        return run_js("verify", {"credential": credential, "documents": documents})

    states = {}
    for revocation, suspension in (("clear", "clear"), ("clear", "set"), ("set", "clear")):
        js = serve(revocation, suspension)
        # Digital Bazaar's own verifier reads its own lists as set up
        assert js["verified"] is True, js["errors"]
        assert js["status"] == {"revocation": revocation == "set", "suspension": suspension == "set"}, js
        asked_before = len(list_server.requests)
        by_value = _verify(verifier, {"credential": credential})
        by_url = _verify(verifier, {"url": f"{list_server.url}/credential.json"})
        states[(revocation, suspension)] = {
            "credential": by_value, "url": by_url,
            "lists_fetched": [p for p in list_server.requests[asked_before:] if p.startswith("/lists/")]}

    for (revocation, suspension), seen in states.items():
        print(f"OBSERVED revocation={revocation} suspension={suspension} lists fetched: {seen['lists_fetched']}")
        for how in ("credential", "url"):
            report = seen[how]
            checks = _checks(report)
            print(f"OBSERVED   {how}: {report['status']} "
                  + json.dumps({c["id"]: [c["status"], c["message"]] for c in report["checks"]}))
        for how in ("credential", "url"):
            report = seen[how]
            checks = _checks(report)
            # The shape and the signature are standard, and our verifier accepts them as such.
            assert checks["format"]["status"] == "passed", (how, report)
            assert checks["signature"]["status"] == "passed", (how, report)
            # The list is read, its signature and issuer checked, and its bits believed: a list its
            # issuer signed saying revoked or suspended is never answered "not revoked", and a clear
            # one does not fail the check.
            if (revocation, suspension) == ("clear", "clear"):
                assert checks["revocation"]["status"] == "passed", (how, report)
                assert report["status"] not in ("revoked", "suspended"), (how, report)
            else:
                assert checks["revocation"]["status"] == "failed", (how, report)
                assert report["verified"] is False and report["status"] != "valid", (how, report)
            if suspension == "set":
                assert "suspended" in checks["revocation"]["message"], (how, report)
            if revocation == "set":
                assert "revoked" in checks["revocation"]["message"], (how, report)

    # A list whose bits were changed after signing, and a list signed by someone else (another
    # did:key, same URL): Digital Bazaar's verifier and ours refuse both.
    stranger = run_js("issue", {"listBase": f"{list_server.url}/lists"})
    forged = json.loads(json.dumps(lists["revocation"]["clear"]))
    forged["credentialSubject"]["encodedList"] = lists["revocation"]["set"]["credentialSubject"]["encodedList"]
    for what, bad in (("bits changed after signing", forged),
                      ("signed by another issuer", stranger["lists"]["revocation"]["clear"])):
        list_server.documents[paths["revocation"]] = bad
        list_server.documents[paths["suspension"]] = lists["suspension"]["clear"]
        js = run_js("verify", {"credential": credential, "documents": {
            entries["revocation"]["url"]: bad, entries["suspension"]["url"]: lists["suspension"]["clear"]}})
        assert js["verified"] is False and js["statusResult"]["verified"] is False, (what, js)
        report = _verify(verifier, {"credential": credential})
        print(f"OBSERVED {what}: {report['status']} {_checks(report)['revocation']}")
        assert _checks(report)["revocation"]["status"] == "failed", (what, report)
        assert report["verified"] is False and report["status"] not in ("valid", "suspended"), (what, report)


def test_a_third_party_revocation_is_not_said_to_be_on_chain(verifier, list_server):
    made = run_js("issue", {"listBase": f"{list_server.url}/lists"})
    credential, entries, lists = made["credential"], made["entries"], made["lists"]
    list_server.documents[httpx.URL(entries["revocation"]["url"]).path] = lists["revocation"]["set"]
    list_server.documents[httpx.URL(entries["suspension"]["url"]).path] = lists["suspension"]["clear"]
    report = _verify(verifier, {"credential": credential})
    revocation = _checks(report)["revocation"]
    assert report["status"] == "revoked" and revocation["status"] == "failed", report
    assert "blockchain" not in revocation["message"], revocation
