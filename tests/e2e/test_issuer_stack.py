"""The issuer with the real registry, its worker and anvil, all as processes, over HTTP.

A credential issued through the API ends up anchored on chain with its anchor proof
attached, and its revocation reaches the contract; with the registry down, nothing the
issuer accepted is lost.
"""

from __future__ import annotations

import httpx
import pytest

from services.core import anchorproof, dataintegrity, statuslist
from services.core.multiformats import decode_public_key
from tests.support.issuers import new_issuer
from tests.support.stack import SERVICE_TOKEN, make_stack, wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Drone Operations", "description": "Flies a small UAS safely and lawfully.",
               "criteria": {"narrative": "Passed the practical flight test and the airspace exam."},
               "achievementType": "MicroCredential", "validity_days": 365,
               "alignment": [{"targetName": "Operate unmanned aircraft", "targetUrl": "https://example.org/skills/uas",
                              "targetFramework": "Lightcast", "targetCode": "KS440W865GC4VRBW6LJP"}]}


@pytest.fixture
def stack(chain, tmp_path):
    s = make_stack(tmp_path / "stack", chain.rpc_url, chain.address, 31337,
                   MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_SIGN_PROCESSES="2")
    yield s
    s.close()


def _status(api: httpx.Client, credential_id: str) -> str:
    return api.get(f"/api/v1/credentials/{credential_id}").json()["status"]


def _revocation_state(stack, credential_hash: str) -> str | None:
    r = httpx.get(f"{stack.url('registry')}/api/v1/revocations/{credential_hash}",
                  headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
    return r.json()[0]["state"] if r.status_code == 200 and r.json() else None


def test_issued_credentials_are_anchored_on_chain_and_revocations_reach_it(stack, chain):
    stack.start_many(("registry", "registry-worker", "issuer", "issuer-outbox"))
    with new_issuer(stack.url("issuer"), "skyward", unique=False, active=False, name="Skyward Training") as api:
        assert api.info["registry"]["address"], "the registry was up: the account comes back at once"
        api.wait_active()
        achievement = api.achievement(**ACHIEVEMENT)
        single = api.post("/api/v1/credentials", json={"achievement_id": achievement["id"],
                                                       "recipient": {"name": "Amelia", "email": "amelia@example.org"}},
                          headers={"Idempotency-Key": "e2e-1"}).json()
        r = api.post("/api/v1/credentials/batch", json={
            "achievement_id": achievement["id"],
            "recipients": [{"name": f"Pilot {i}", "email": f"pilot{i}@example.org"} for i in range(40)]})
        assert r.status_code == 202, r.text
        batch = r.json()

        answers: list[tuple[int, str]] = []

        def batch_done() -> bool:
            progress = api.get(f"/api/v1/credentials/batches/{batch['id']}")
            answers.append((progress.status_code, progress.text[:200]))
            return progress.status_code == 200 and progress.json()["state"] == "done"

        try:
            wait_for(batch_done, timeout=60, what="the batch")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answers: {answers[-3:]}") from None
        wait_for(lambda: _status(api, single["id"]) == "anchored", timeout=90, what="the credential anchored")
        issued = api.get(f"/api/v1/credentials/batches/{batch['id']}").json()["credentials"]
        assert len(issued) == 40
        wait_for(lambda: _status(api, issued[-1]["id"]) == "anchored", timeout=90, what="the batch anchored")

        document = httpx.get(f"{stack.env['MICROCRED_ISSUER_URL']}/public/credentials/{single['id']}").json()
        eddsa, anchor = document["proof"]
        assert dataintegrity.verify(document, decode_public_key(eddsa["verificationMethod"].split("#")[1])).valid
        receipt = anchorproof.decode(anchor)
        assert receipt.chain_id == 31337 and receipt.contract.lower() == chain.address.lower()
        assert receipt.account == api.info["registry"]["address"]
        registry = chain.contract
        assert registry.functions.verifyInclusion(receipt.root, list(receipt.path), single["credential_hash"]).call()
        assert registry.functions.anchorOf(receipt.root).call()[0] == receipt.account

        did = httpx.get(f"{stack.env['MICROCRED_ISSUER_URL']}/issuers/skyward/did.json").json()
        assert any(m.get("blockchainAccountId") == f"eip155:31337:{receipt.account}" for m in did["verificationMethod"])

        r = api.post(f"/api/v1/credentials/{single['id']}/revoke", json={"reason": "licence suspended"})
        assert r.json()["status"] == "revoked"
        # it reaches the chain as the revocation list's new version (docs/status-lists.md)
        entry = next(e for e in document["credentialStatus"] if e["statusPurpose"] == "revocation")

        def revoked_on_chain() -> bool:
            served = httpx.get(entry["statusListCredential"])
            if served.status_code != 200:
                return False
            bits = statuslist.read_list(served.json(), entry["statusListCredential"], "revocation", api.info["did"])
            on_chain = registry.functions.statusListOf(receipt.account, statuslist.list_id(
                entry["statusListCredential"])).call()[0]
            return statuslist.get_bit(bits, int(entry["statusListIndex"])) and \
                served.headers["etag"] == f'"0x{on_chain.hex()}"'

        wait_for(revoked_on_chain, timeout=60, what="the revocation list with its bit set, as the chain's newest")
        assert registry.functions.revokedAt(receipt.account, single["credential_hash"]).call() == 0  # not per hash


def test_with_the_registry_down_nothing_the_issuer_accepted_is_lost(stack):
    stack.start_many(("issuer", "issuer-outbox"))
    with new_issuer(stack.url("issuer"), "harbor", active=False, name="Harbor Credit Union") as api:
        assert api.info["registry"] == {"state": "pending", "address": None, "chain_id": None}
        achievement = api.achievement(**ACHIEVEMENT)
        ids = [api.post("/api/v1/credentials", json={"achievement_id": achievement["id"], "recipient": {
            "name": f"Member {i}", "email": f"m{i}@example.org"}}).json()["id"] for i in range(5)]
        revoked = ids[0]
        api.post(f"/api/v1/credentials/{revoked}/revoke", json={"reason": "duplicate"})
        stack.start_many(("registry", "registry-worker"))
        api.wait_active(timeout=90)  # registered once the registry came up
        wait_for(lambda: all(_status(api, i) == "anchored" for i in ids[1:]), timeout=120,
                 what="every credential anchored")
        assert _status(api, revoked) == "revoked"
