"""Keys are never a trap: whatever the timing, a credential ends `valid`, and is never `invalid` on the way.

The real services over HTTP on a real anvil. Each test issues at the worst moment — the
first second of a new issuer, the second of a rotation, racing rotations — and polls the
verifier until the verdict settles, recording every verdict it saw on the way.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.issuers import IssuerApi, new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Initiative", "description": "Acts without being asked when something needs doing.",
               "criteria": {"narrative": "Led an improvement project from idea to result, assessed by a mentor."}}


def fresh_issuer(stack, slug: str) -> IssuerApi:
    """An issuer created and used at once: no waiting for its registration on chain."""
    api = new_issuer(stack.url("issuer"), slug, active=False)
    api.achievement_id = api.achievement(**ACHIEVEMENT)["id"]  # type: ignore[attr-defined] # the key works at once
    return api


def issue(api: IssuerApi) -> dict:
    return api.issue(api.achievement_id, email=f"{os.urandom(4).hex()}@example.org")  # type: ignore[attr-defined]


def signing_proof(credential: dict) -> dict:
    proofs = credential["credential"]["proof"]
    proofs = proofs if isinstance(proofs, list) else [proofs]
    return next(p for p in proofs if p.get("cryptosuite") == "eddsa-rdfc-2022")


def signing_method(credential: dict) -> str:
    return signing_proof(credential)["verificationMethod"]


LAST_REPORTS: dict[str, dict] = {}


def verdict(verifier: httpx.Client, credential_id: str) -> str:
    r = verifier.get(f"/c/{credential_id}", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    LAST_REPORTS[credential_id] = r.json()
    return r.json()["status"]


def why(seen: dict[str, list[str]]) -> str:
    """The histories, and the checks of every credential that did not end valid (for failure messages)."""
    bad = {cid: [(c["id"], c["status"], c["message"]) for c in LAST_REPORTS[cid]["checks"] if c["status"] != "passed"]
           for cid, history in seen.items() if history[-1] != "valid"}
    return f"{seen}\n{bad}"


def settle(verifier: httpx.Client, credential_ids: list[str], timeout: float = 120) -> dict[str, list[str]]:
    """Poll every credential until none is pending; every verdict seen, per credential."""
    seen: dict[str, list[str]] = {cid: [] for cid in credential_ids}
    deadline = time.monotonic() + timeout
    open_ids = set(credential_ids)
    while open_ids and time.monotonic() < deadline:
        for cid in list(open_ids):
            status = verdict(verifier, cid)
            if not seen[cid] or seen[cid][-1] != status:
                seen[cid].append(status)
            if status not in ("pending", "unavailable"):
                open_ids.discard(cid)
        time.sleep(0.3)
    assert not open_ids, f"still pending after {timeout}s: {sorted(open_ids)}"
    return seen


def test_twenty_new_issuers_issuing_at_once_all_end_valid_and_the_issuer_agrees(stack, verifier):
    def one(i: int) -> tuple[httpx.Client, list[str]]:
        api = fresh_issuer(stack, f"rush{i}")
        return api, [issue(api)["id"] for _ in range(2)]

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(20)))
    ids = [cid for _, batch in results for cid in batch]
    seen = settle(verifier, ids)
    assert all(history[-1] == "valid" for history in seen.values()), why(seen)
    assert not any("invalid" in history for history in seen.values()), why(seen)
    for api, batch in results:
        for cid in batch:
            wait_for(lambda: api.get(f"/api/v1/credentials/{cid}").json()["status"] == "anchored", timeout=30,
                     what="the issuer to say anchored")


def test_a_rotation_in_the_second_of_issuing_keeps_both_credentials_valid(stack, verifier):
    api = fresh_issuer(stack, "samesecond")
    before = issue(api)
    r = api.post("/api/v1/issuer/signing-keys/rotate", json={})
    assert r.status_code == 200, r.text
    after = issue(api)
    assert signing_method(after) != signing_method(before)
    seen = settle(verifier, [before["id"], after["id"]])
    account = api.get("/api/v1/issuer").json()["registry"]["address"]
    chain_keys = stack.devnet.contract.functions.issuerKeys(account).call()
    assert seen[before["id"]][-1] == "valid" and seen[after["id"]][-1] == "valid", (
        why(seen), signing_proof(before)["created"], chain_keys)
    assert not any("invalid" in history for history in seen.values()), why(seen)


def test_concurrent_rotations_leave_exactly_one_active_key_at_the_issuer_and_on_chain(stack):
    api = fresh_issuer(stack, "racing")
    barrier = threading.Barrier(4)

    def rotate(_: int) -> int:
        barrier.wait()
        return api.post("/api/v1/issuer/signing-keys/rotate", json={}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(rotate, range(4)))
    assert set(codes) <= {200, 409} and 200 in codes, codes
    issuer = api.get("/api/v1/issuer").json()
    active = [k for k in issuer["signing_keys"] if k["state"] == "active"]
    assert len(active) == 1
    assert len(issuer["signing_keys"]) == 1 + codes.count(200)
    account = wait_for(lambda: api.get("/api/v1/issuer").json()["registry"].get("address"), timeout=60,
                       what="the issuer's chain account")

    def unretired_on_chain() -> list[str]:
        keys = stack.devnet.contract.functions.issuerKeys(account).call()
        return ["0x" + bytes(k[0]).hex() for k in keys if k[2] == 0]

    wait_for(lambda: len(stack.devnet.contract.functions.issuerKeys(account).call()) == len(issuer["signing_keys"])
             and unretired_on_chain() == [active[0]["public_key"]], timeout=90,
             what="exactly the issuer's one active key unretired on chain")


def test_a_backdated_compromise_invalidates_exactly_what_it_says(stack, verifier):
    api = fresh_issuer(stack, "leaky")
    first = issue(api)
    assert settle(verifier, [first["id"]])[first["id"]][-1] == "valid"
    # The compromise rule compares the issuer's clock (created) and the chain's (the anchor's
    # block time), and a dev chain's block clock can drift from the wall clock: date the leak
    # after both of the first credential's times, and sign the later ones after the leak.
    anchored_at = datetime.fromisoformat(api.get(f"/api/v1/credentials/{first['id']}").json()["anchored_at"])
    created = datetime.fromisoformat(signing_proof(first)["created"].replace("Z", "+00:00"))
    leaked_at = max(anchored_at, created).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < leaked_at + timedelta(seconds=1):
        time.sleep(0.2)
    later = [issue(api), issue(api)]
    assert all(s[-1] == "valid" for s in settle(verifier, [c["id"] for c in later]).values())
    r = api.post("/api/v1/issuer/signing-keys/rotate",
                 json={"compromised": True, "compromised_at": leaked_at.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["invalidated_credentials"] == 2
    for c in later:
        wait_for(lambda: verdict(verifier, c["id"]) == "invalid", timeout=90, what="the leaked key's credential invalid")
        assert api.get(f"/api/v1/credentials/{c['id']}").json()["status"] == "invalid"
    assert verdict(verifier, first["id"]) == "valid"  # signed and anchored before the leak
    fresh = issue(api)
    assert settle(verifier, [fresh["id"]])[fresh["id"]][-1] == "valid"


def test_a_compromise_dated_before_the_key_existed_reaches_the_chain_and_invalidates_all(stack, verifier):
    api = fresh_issuer(stack, "neverkey")
    issued = [issue(api) for _ in range(3)]
    assert all(s[-1] == "valid" for s in settle(verifier, [c["id"] for c in issued]).values())
    r = api.post("/api/v1/issuer/signing-keys/rotate",
                 json={"compromised": True, "compromised_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["invalidated_credentials"] == 3
    for c in issued:
        wait_for(lambda: verdict(verifier, c["id"]) == "invalid", timeout=90, what="every credential of the key invalid")
