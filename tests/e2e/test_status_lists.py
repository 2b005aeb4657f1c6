"""Status lists end to end: issuer (two relay processes), the real registry and its worker, anvil.

Every list a new credential points to gets a version on chain; after a revocation (and a
suspension, and its lifting) the contract's ``statusListOf(account, list id)`` comes to equal
the hash of the version the issuer serves, and that version, signed by the key in the
issuer's DID document, has the credential's bit set (then cleared). Two relays run, so the
lease must keep one publisher: versions go 1, 2, 3 … with no gap and nothing refused.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.core import dataintegrity, statuslist
from services.core.jsonld import credential_hash
from services.core.multiformats import decode_public_key
from services.ops.processes import spawn_module
from tests.support.stack import ADMIN_TOKEN, WORKERS, make_stack, wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Empathy", "description": "Listens actively and responds with care.",
               "criteria": {"narrative": "Completed the workshop and its observed role play."}}


@pytest.fixture
def stack(chain, database_url, tmp_path):
    s = make_stack(tmp_path / "stack", chain.rpc_url, chain.address, 31337, database_url=database_url,
                   MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_STATUS_LIST_INTERVAL="0.5",
                   MICROCRED_SIGN_PROCESSES="1")
    yield s
    s.close()


def _entry(credential: dict, purpose: str) -> dict:
    return next(e for e in credential["credentialStatus"] if e["statusPurpose"] == purpose)


def _served(entry: dict) -> tuple[str, dict] | None:
    """(hash, document) of the version the issuer serves now for the entry's list; None before version 1."""
    r = httpx.get(entry["statusListCredential"], timeout=10)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    document = r.json()
    assert r.headers["etag"] == f'"0x{credential_hash(document).hex()}"'
    return r.headers["etag"].strip('"'), document


def _on_chain(chain, account: str, entry: dict) -> str:
    list_hash, _set_at = chain.contract.functions.statusListOf(
        account, statuslist.list_id(entry["statusListCredential"])).call()
    return "0x" + list_hash.hex()


def _bit(document: dict, entry: dict, issuer_did: str) -> bool:
    bits = statuslist.read_list(document, entry["statusListCredential"], entry["statusPurpose"], issuer_did)
    return statuslist.get_bit(bits, int(entry["statusListIndex"]))


def _chain_serves(chain, account: str, entry: dict, did: str, bit: bool):
    """The served version, if the chain holds exactly its hash and it has the credential's bit as ``bit``."""
    served = _served(entry)
    if served is None:
        return None
    list_hash, document = served
    if _on_chain(chain, account, entry) == list_hash and _bit(document, entry, did) is bit:
        return list_hash, document
    return None


def test_revocation_and_suspension_reach_the_chain_as_the_served_list_version(stack, chain):
    for name in ("registry", "registry-worker", "issuer", "issuer-outbox"):
        stack.start(name)
    # a second relay process: only the one holding the lease may publish
    stack.procs["issuer-outbox-2"] = spawn_module("issuer-outbox-2", WORKERS["issuer-outbox"], stack.env,
                                                  stack.root / "logs")
    base = stack.env["MICROCRED_ISSUER_URL"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        r = admin.post("/api/v1/issuers", json={"name": "Harbour Training", "slug": "harbour",
                                                "url": "https://harbour.example", "email": "ops@harbour.example"})
    assert r.status_code == 201, r.text
    issuer = r.json()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issuer['api_key']}"}, timeout=30) as api:
        wait_for(lambda: api.get("/api/v1/issuer").json()["registry"]["state"] == "active", timeout=60,
                 what="the issuer registered on chain")
        account = api.get("/api/v1/issuer").json()["registry"]["address"]
        achievement = api.post("/api/v1/achievements", json=ACHIEVEMENT).json()
        creds = [api.post("/api/v1/credentials", json={"achievement_id": achievement["id"], "recipient": {
            "name": f"Learner {i}", "email": f"l{i}@example.org"}}).json() for i in range(3)]
        documents = [c["credential"] for c in creds]
        revocation = [_entry(d, "revocation") for d in documents]
        suspension = [_entry(d, "suspension") for d in documents]
        did = issuer["did"]
        try:
            # every list a credential points to is on chain soon after issuance (version 1, empty)
            first, _ = wait_for(lambda: _chain_serves(chain, account, revocation[0], did, False), timeout=60,
                                what="version 1 of the revocation list on chain")
            wait_for(lambda: _chain_serves(chain, account, suspension[0], did, False), timeout=60,
                     what="version 1 of the suspension list on chain")

            r = api.post(f"/api/v1/credentials/{creds[0]['id']}/revoke", json={"reason": "issued in error"})
            assert r.status_code == 200 and r.json()["status"] == "revoked"
            r = api.post(f"/api/v1/credentials/{creds[1]['id']}/suspend", json={"reason": "under review"})
            assert r.status_code == 200 and r.json()["status"] == "suspended"

            revoked_hash, revoked_list = wait_for(
                lambda: _chain_serves(chain, account, revocation[0], did, True), timeout=60,
                what="statusListOf(account, revocation list) = the served version, with the revoked bit set")
            assert revoked_hash != first
            assert [_bit(revoked_list, e, did) for e in revocation] == [True, False, False]
            suspended_hash, suspended_list = wait_for(
                lambda: _chain_serves(chain, account, suspension[1], did, True), timeout=60,
                what="statusListOf(account, suspension list) = the served version, with the suspended bit set")
            assert [_bit(suspended_list, e, did) for e in suspension] == [False, True, False]

            # signed by the key the issuer's DID document lists as an assertion method
            did_document = httpx.get(f"{base}/issuers/harbour/did.json").json()
            for document in (revoked_list, suspended_list):
                method = document["proof"]["verificationMethod"]
                assert method in did_document["assertionMethod"]
                listed = next(m for m in did_document["verificationMethod"] if m["id"] == method)
                assert dataintegrity.verify_all(document, decode_public_key(listed["publicKeyMultibase"])).valid
            # the version the chain names stays at its own URL, unchanged
            pinned = httpx.get(f"{revocation[0]['statusListCredential']}/versions/{revoked_hash}")
            assert pinned.status_code == 200 and pinned.json() == revoked_list
            assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"

            # lifting the suspension reaches the chain too
            assert api.post(f"/api/v1/credentials/{creds[1]['id']}/unsuspend").json()["status"] != "suspended"
            lifted_hash, _ = wait_for(lambda: _chain_serves(chain, account, suspension[1], did, False), timeout=60,
                                      what="the lifted suspension on chain")
            assert lifted_hash != suspended_hash
            registry = httpx.get(f"{stack.url('registry')}/api/v1/status-lists/"
                                 f"0x{statuslist.list_id(suspension[1]['statusListCredential']).hex()}",
                                 params={"issuer_id": issuer["id"]}).json()
            assert registry["hash"] == lifted_hash
            assert wait_for(lambda: httpx.get(
                f"{stack.url('registry')}/api/v1/status-lists/{registry['list_id']}",
                params={"issuer_id": issuer["id"]}).json()["state"] == "confirmed", timeout=30, what="confirmed")
        except AssertionError:
            print(stack.logs())
            raise

    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text(
                "SELECT l.purpose, v.version FROM issuer_status_list_versions v "
                "JOIN issuer_status_lists l ON l.id = v.status_list_id ORDER BY l.purpose, v.version")).all()
            refused = conn.execute(text("SELECT count(*) FROM issuer_outbox WHERE state = 'failed'")).scalar()
    finally:
        engine.dispose()
    by_purpose: dict[str, list[int]] = {}
    for purpose, version in versions:
        by_purpose.setdefault(purpose, []).append(version)
    assert by_purpose["revocation"] == list(range(1, len(by_purpose["revocation"]) + 1))
    assert by_purpose["suspension"] == list(range(1, len(by_purpose["suspension"]) + 1))
    assert len(by_purpose["suspension"]) >= 3 and refused == 0
