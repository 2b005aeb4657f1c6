"""Verification across the real services (docs/verifier.md), all over HTTP.

anvil, the registry and its worker, the issuer and its outbox, and the verifier run as
processes; each test issues through the issuer API and asks the verifier what it sees.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import anchorproof, dataintegrity
from services.core.jsonld import credential_hash
from services.core.multiformats import encode_public_key
from tests.support.issuers import new_issuer
from tests.support.stack import SERVICE_TOKEN, wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Empathy", "description": "Understands and shares the feelings of others at work.",
               "criteria": {"narrative": "Completed six reflective practice sessions, observed and assessed."},
               "alignment": [{"targetName": "Social Perceptiveness", "targetFramework": "O*NET",
                              "targetCode": "2.B.1.a", "targetUrl": "https://www.onetonline.org/"}]}


class Issuer:
    def __init__(self, stack, slug: str):
        self.stack = stack
        self.api = new_issuer(stack.url("issuer"), slug, name=f"<b>{slug}</b> College")
        self.info = self.api.info
        self.achievement = self.api.achievement(**ACHIEVEMENT)

    def issue(self, **extra) -> dict:
        body = {"achievement_id": self.achievement["id"],
                "recipient": {"name": "Grace <script>alert(1)</script> Hopper", "email": f"{os.urandom(4).hex()}@example.org"},
                **extra}
        r = self.api.post("/api/v1/credentials", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def wait_anchored(self, credential: dict) -> dict:
        # Polled through any transient non-200 answer; wait_for reports the last one if it never anchors.
        wait_for(lambda: (r := self.api.get(f"/api/v1/credentials/{credential['id']}")).status_code == 200
                 and r.json()["anchored_at"], timeout=60, what="the credential anchored")
        return self.document(credential["id"])

    def document(self, credential_id: str) -> dict:
        return httpx.get(f"{self.stack.env['MICROCRED_ISSUER_URL']}/public/credentials/{credential_id}").json()


@pytest.fixture(scope="module")
def issuer(stack):
    return Issuer(stack, "alpha")


def _report(verifier, credential_id: str) -> dict:
    r = verifier.get(f"/c/{credential_id}", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def _verify(verifier, document: dict) -> dict:
    r = verifier.post("/api/v1/verify", json={"credential": document})
    assert r.status_code == 200, r.text
    return r.json()


def _checks(report: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


def test_issue_then_pending_then_valid(issuer, verifier):
    credential = issuer.issue()
    first = _report(verifier, credential["id"])
    assert first["status"] in ("pending", "valid")
    assert [c["id"] for c in first["checks"]] == ["format", "signature", "issuer", "integrity", "anchor",
                                                  "revocation", "expiry"]
    assert first["credential"]["name"] == "Empathy"
    document = issuer.wait_anchored(credential)
    report = wait_for(lambda: (r := _report(verifier, credential["id"]))["status"] == "valid" and r, timeout=30,
                      what="the verifier to say valid")
    assert report["verified"] is True
    assert set(_checks(report).values()) == {"passed"}
    assert report["anchor"]["chainId"] == 31337 and report["anchor"]["confirmations"] >= 1
    receipt = anchorproof.decode(anchorproof.find(document["proof"]))
    assert report["anchor"]["txHash"] == receipt.tx_hash and report["anchor"]["root"] == receipt.root
    # The downloaded file verifies on its own too.
    assert _verify(verifier, document)["status"] == "valid"


def _mutations(document: dict):
    """One small change at a time, anywhere in the credential."""
    yield "a letter of the achievement name", lambda d: d["credentialSubject"]["achievement"].update(name="Empathx")
    yield "the recipient's name", lambda d: d["credentialSubject"].update(name="Someone Else")
    yield "validFrom by one second", lambda d: d.update(validFrom=(
        datetime.fromisoformat(d["validFrom"].replace("Z", "+00:00")) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    yield "an undefined property", lambda d: d["credentialSubject"].update(level="advanced")
    yield "an extra alignment", lambda d: d["credentialSubject"]["achievement"].setdefault("alignment", []).append(
        {"type": ["Alignment"], "targetName": "Leadership", "targetUrl": "https://example.org/lead"})
    yield "the issuer's name", lambda d: d["issuer"].update(name="Harvard")
    yield "the signature's last character", lambda d: d["proof"][0].update(
        proofValue=d["proof"][0]["proofValue"][:-1] + ("A" if d["proof"][0]["proofValue"][-1] != "A" else "B"))
    yield "the proof's created time", lambda d: d["proof"][0].update(created="2020-01-01T00:00:00Z")


def test_any_single_change_to_the_downloaded_credential_is_invalid(issuer, verifier):
    document = issuer.wait_anchored(issuer.issue())
    assert _verify(verifier, document)["status"] == "valid"
    for what, mutate in _mutations(document):
        changed = copy.deepcopy(document)
        mutate(changed)
        assert changed != document, what
        report = _verify(verifier, changed)
        assert report["verified"] is False and report["status"] == "invalid", (what, report)


def test_revoked_credential_is_revoked_at_once_and_on_chain_later(issuer, verifier, stack):
    credential = issuer.issue()
    document = issuer.wait_anchored(credential)
    r = issuer.api.post(f"/api/v1/credentials/{credential['id']}/revoke", json={"reason": "issued in error"})
    assert r.status_code == 200, r.text
    report = wait_for(lambda: (rep := _report(verifier, credential["id"]))["status"] == "revoked" and rep,
                      timeout=10, what="revocation shown within seconds")
    assert report["verified"] is False and _checks(report)["revocation"] == "failed"
    # Then on chain: the revocation list's new version, with this credential's bit set, is the latest there.
    wait_for(lambda: "recorded on the blockchain" in next(
        c["message"] for c in _verify(verifier, document)["checks"] if c["id"] == "revocation"),
        timeout=60, what="the revocation on chain")
    assert _verify(verifier, document)["status"] == "revoked"


def test_past_valid_until_is_expired(issuer, verifier):
    short = issuer.api.post("/api/v1/achievements", json={**ACHIEVEMENT, "name": "Fire Safety", "validity_days": 1}).json()
    past = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = issuer.issue(achievement_id=short["id"], valid_from=past)
    issuer.wait_anchored(credential)
    report = _report(verifier, credential["id"])
    assert report["status"] == "expired" and _checks(report)["expiry"] == "failed"
    assert {k: v for k, v in _checks(report).items() if k != "expiry"} == {
        "format": "passed", "signature": "passed", "issuer": "passed", "integrity": "passed",
        "anchor": "passed", "revocation": "passed"}


def test_key_rotation_keeps_old_credentials_valid_and_new_ones_use_the_new_key(stack, verifier):
    issuer = Issuer(stack, "rotating")
    old = issuer.wait_anchored(issuer.issue())
    r = issuer.api.post("/api/v1/issuer/signing-keys/rotate", json={})
    assert r.status_code == 200, r.text
    new = issuer.wait_anchored(issuer.issue())
    assert old["proof"][0]["verificationMethod"] != new["proof"][0]["verificationMethod"]
    # The new key reaches the chain through the registry's queue; until then "issuer" cannot pass.
    wait_for(lambda: _verify(verifier, new)["status"] == "valid", timeout=60, what="the new credential valid")
    assert _verify(verifier, old)["status"] == "valid"


def test_a_credential_signed_by_an_unregistered_key_is_invalid(issuer, verifier):
    document = issuer.wait_anchored(issuer.issue())
    forged = copy.deepcopy(document)
    eddsa, anchor = forged.pop("proof")
    stranger = Ed25519PrivateKey.generate()
    multikey = encode_public_key(stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    did = document["issuer"]["id"]
    resigned = dataintegrity.sign(forged, stranger, f"{did}#{multikey}", eddsa["created"])
    resigned["proof"] = [resigned["proof"], anchor]  # the same document hash, so the same anchor
    report = _verify(verifier, resigned)
    assert report["status"] == "invalid"
    checks = _checks(report)
    assert checks["signature"] == "failed" and checks["integrity"] == "passed" and checks["issuer"] == "failed"
    signature = next(c for c in report["checks"] if c["id"] == "signature")
    assert "does not list" in signature["message"] and "genuine" not in signature["message"]


def test_a_strangers_own_did_key_signature_naming_our_issuer_is_invalid_never_genuine(issuer, verifier):
    document = issuer.wait_anchored(issuer.issue())
    forged = copy.deepcopy(document)
    forged.pop("proof")
    forged["credentialSubject"]["name"] = "Mallory Impostor"
    stranger = Ed25519PrivateKey.generate()
    multikey = encode_public_key(stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    resigned = dataintegrity.sign(forged, stranger, f"did:key:{multikey}#{multikey}", "2026-11-30T10:00:00Z")
    report = _verify(verifier, resigned)
    assert report["status"] == "invalid" and not report["verified"]
    signature = next(c for c in report["checks"] if c["id"] == "signature")
    assert signature["status"] == "failed" and f"did:key:{multikey}" in signature["message"]
    assert "genuine" not in signature["message"]


def test_a_credential_anchored_by_another_issuers_account_is_invalid(stack, issuer, verifier):
    other = Issuer(stack, "beta")
    # A forger who controls issuer beta's chain account anchors a credential claiming alpha's DID.
    document = issuer.wait_anchored(issuer.issue())
    forged = copy.deepcopy(document)
    forged.pop("proof")
    forged["credentialSubject"]["achievement"]["name"] = "Empathy (Distinction)"
    key = Ed25519PrivateKey.generate()
    multikey = encode_public_key(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    signed = dataintegrity.sign(forged, key, f"{forged['issuer']['id']}#{multikey}", datetime.now(UTC))
    h = "0x" + credential_hash(signed).hex()
    auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    beta_id = other.api.get("/api/v1/issuer").json()["id"]
    r = httpx.post(f"{stack.url('registry')}/api/v1/anchors", headers=auth, json={"issuer_id": beta_id, "hashes": [h]})
    assert r.status_code == 202, r.text
    receipt = wait_for(lambda: (r := httpx.get(f"{stack.url('registry')}/api/v1/anchors/{h}").json())["state"]
                       == "confirmed" and r, timeout=60, what="beta's anchor")
    signed["proof"] = [signed["proof"], anchorproof.encode(anchorproof.AnchorReceipt(
        chain_id=receipt["chainId"], contract=receipt["contract"], account=receipt["account"], root=receipt["root"],
        path=tuple(receipt["proof"]), tx_hash=receipt["txHash"], block_number=receipt["blockNumber"]),
        "2026-11-22T00:00:00Z")]
    report = _verify(verifier, signed)
    assert report["status"] == "invalid"
    assert _checks(report)["issuer"] == "failed" and _checks(report)["anchor"] == "passed"


def test_markup_in_names_is_shown_as_text(issuer, verifier):
    credential = issuer.issue()
    page = verifier.get(f"/c/{credential['id']}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "<b>alpha</b>" not in page.text


def test_unknown_credential_is_a_404(verifier):
    r = verifier.get("/c/does-not-exist-at-all-0123456789", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_cli_verifies_a_file_with_the_chain_alone(issuer, stack, tmp_path):
    import json
    import subprocess
    import sys

    from services.ops.processes import free_port

    document = issuer.wait_anchored(issuer.issue())
    good = tmp_path / "credential.json"
    good.write_text(json.dumps(document))
    bad = tmp_path / "tampered.json"
    tampered = copy.deepcopy(document)
    tampered["credentialSubject"]["achievement"]["name"] = "Empathy!"
    bad.write_text(json.dumps(tampered))
    # No issuer, no registry: only the file, the RPC endpoint and the contract address.
    argv = [sys.executable, "-m", "services.cli", "verify", "--rpc", stack.rpc_url, "--contract", stack.contract]
    env = {"PATH": os.environ.get("PATH", ""), "MICROCRED_DATA_DIR": str(tmp_path / "cli")}
    dead_chain = [sys.executable, "-m", "services.cli", "verify", "--rpc", f"http://127.0.0.1:{free_port()}",
                  "--contract", stack.contract, str(good)]
    # Four independent runs of the CLI, started at once (each spends seconds importing web3).
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for command in ([*argv, str(good), "--json"], [*argv, str(bad)],
                            [*argv, f"{stack.url('verifier')}/c/{document['id'].rsplit('/', 1)[1]}"], dead_chain)]

    def finished(run: subprocess.Popen) -> subprocess.CompletedProcess:
        try:
            out, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            raise
        return subprocess.CompletedProcess(run.args, run.returncode, out, err)

    ok, nok, page, down = (finished(run) for run in runs)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["status"] == "valid"
    assert nok.returncode == 1 and nok.stdout.startswith("INVALID"), nok.stdout + nok.stderr
    assert page.returncode == 0 and page.stdout.startswith("VALID"), page.stdout + page.stderr
    assert down.returncode == 3 and down.stdout.startswith("UNAVAILABLE"), down.stdout + down.stderr


def test_a_baked_badge_dropped_on_the_home_page_verifies(issuer, verifier):
    credential = issuer.issue()
    issuer.wait_anchored(credential)
    png = verifier.get(f"/c/{credential['id']}/badge.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    page = verifier.post("/verify", files={"file": ("badge.png", png.content, "image/png")})
    assert page.status_code == 200 and ">Verified<" in page.text
    junk = verifier.post("/verify", files={"file": ("x.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")})
    assert junk.status_code == 422 and "PNG" in junk.text


def test_embeds_and_oembed(issuer, verifier, stack):
    credential = issuer.issue()
    url = credential["url"]
    o = verifier.get("/oembed", params={"url": url})
    assert o.status_code == 200
    body = o.json()
    assert body["type"] == "rich" and body["version"] == "1.0" and f"/c/{credential['id']}/embed" in body["html"]
    assert verifier.get("/oembed", params={"url": "https://elsewhere.example/c/abc"}).status_code == 404
    svg = verifier.get(f"/c/{credential['id']}/badge.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<script" not in svg.text
    page = verifier.get(f"/c/{credential['id']}")
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    embed = verifier.get(f"/c/{credential['id']}/embed")
    assert "x-frame-options" not in embed.headers and "frame-ancestors *" in embed.headers["content-security-policy"]


@pytest.mark.parametrize("body,code", [
    ({"url": "http://169.254.169.254/latest/meta-data/"}, "url_refused"),
    ({"url": "http://10.0.0.1/credential.json"}, "url_refused"),
    ({"url": "file:///etc/passwd"}, "url_refused"),
    ({"url": "gopher://example.org/"}, "url_refused"),
    ({}, "invalid_request"),
    ({"url": "https://example.org/x", "credential": {}}, "invalid_request"),
])
def test_pasted_urls_that_point_inside_are_refused(verifier, body, code):
    r = verifier.post("/api/v1/verify", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_a_pasted_own_url_verifies_by_id(issuer, verifier):
    credential = issuer.issue()
    issuer.wait_anchored(credential)
    report = wait_for(lambda: (r := verifier.post("/api/v1/verify", json={"url": credential["url"]}).json())
                      ["status"] == "valid" and r, timeout=20, what="valid by URL")
    assert report["credential"]["id"] == credential["url"]


@pytest.fixture
def blind_verifier(stack, tmp_path):
    """A second verifier whose chain endpoint answers nothing (a closed port)."""
    from services.ops.processes import free_port, spawn_app, wait_http

    port = free_port()
    env = {**stack.env, "MICROCRED_ETH_RPC_URL": f"http://127.0.0.1:{free_port()}",
           "MICROCRED_PUBLIC_BASE_URL": stack.env["MICROCRED_PUBLIC_BASE_URL"]}
    proc = spawn_app("blind-verifier", "services.verifier.app:create_app", port, env, tmp_path)
    try:
        wait_http(proc, "/docs")
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            yield client
    finally:
        proc.stop()


def test_a_check_that_cannot_run_is_unavailable_never_invalid_nor_valid(issuer, verifier, blind_verifier):
    document = issuer.wait_anchored(issuer.issue())
    assert _verify(verifier, document)["status"] == "valid"
    report = _verify(blind_verifier, document)
    assert report["status"] == "unavailable" and report["verified"] is False
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["signature"]["status"] == "passed" and checks["integrity"]["status"] == "passed"
    for check_id in ("issuer", "anchor", "revocation"):
        assert checks[check_id]["status"] == "skipped"
        assert "right now" in checks[check_id]["message"]
    page = blind_verifier.post("/verify", files={"file": ("credential.json", json.dumps(document), "application/json")})
    assert "Cannot be checked right now" in page.text
    # a forgery is still invalid while the chain is down: the signature decides alone
    forged = copy.deepcopy(document)
    forged["credentialSubject"]["name"] = "Mallory Impostor"
    assert _verify(blind_verifier, forged)["status"] == "invalid"
