"""Webhooks over the real system: the issuer API, the registry and its worker on anvil, and the outbox
process that runs the deliverer, all as processes; a real receiver on loopback (docs/webhooks.md).

A credential's issuance, its anchoring on chain and its revocation reach the receiver signed,
in order; with the outbox process killed and the receiver down meanwhile, every event still
arrives once both are back.
"""

from __future__ import annotations

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.stack import ADMIN_TOKEN, make_stack, wait_for
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Forklift Safety", "description": "Operates a counterbalance forklift safely.",
               "criteria": {"narrative": "Passed the practical assessment."}, "achievementType": "MicroCredential"}


@pytest.fixture
def stack(chain, tmp_path):
    s = make_stack(tmp_path / "stack", chain.rpc_url, chain.address, 31337, MICROCRED_OUTBOX_INTERVAL="0.2",
                   MICROCRED_SIGN_PROCESSES="1", MICROCRED_WEBHOOK_RETRY_BASE="0.5",
                   MICROCRED_WEBHOOK_RETRY_MAX="1")
    yield s
    s.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def test_issued_anchored_revoked_reach_a_partner_signed_and_in_order(stack, receiver):
    for name in ("registry", "registry-worker", "issuer", "issuer-outbox"):
        stack.start(name)
    base = stack.env["MICROCRED_ISSUER_URL"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        r = admin.post("/api/v1/issuers", json={"name": "Depot Training", "slug": "depot",
                                                "url": "https://depot.example", "email": "ops@depot.example"})
    assert r.status_code == 201, r.text
    issuer = r.json()
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issuer['api_key']}"}, timeout=30)
    with api:
        r = api.post("/api/v1/webhooks", json={"url": receiver.url, "events": [
            "credential.issued", "credential.anchored", "credential.revoked"]})
        assert r.status_code == 201, r.text
        hook = r.json()
        # an address the issuer may not reach is refused at registration, over HTTP too
        r = api.post("/api/v1/webhooks", json={"url": "http://169.254.169.254/", "events": ["credential.issued"]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "url_refused"
        achievement = api.post("/api/v1/achievements", json=ACHIEVEMENT).json()
        first = api.post("/api/v1/credentials", json={"achievement_id": achievement["id"], "recipient": {
            "name": "Ada Lovelace", "email": "ada@example.org"}}).json()
        wait_for(lambda: api.get(f"/api/v1/credentials/{first['id']}").json()["status"] == "anchored", timeout=90,
                 what="the first credential anchored on chain")
        assert api.post(f"/api/v1/credentials/{first['id']}/revoke", json={"reason": "issued in error"}).status_code == 200
        wait_for(lambda: len(receiver.events()) == 3, timeout=30, what="three events delivered")
        assert [e["type"] for e in receiver.events()] == ["credential.issued", "credential.anchored",
                                                          "credential.revoked"]
        for got in receiver.received:
            event = Webhook(hook["secret"]).verify(got.body, got.headers)
            assert event["data"]["credential"]["id"] == first["id"] and event["data"]["issuer"]["id"] == issuer["id"]
        anchored = receiver.events()[1]["data"]["anchor"]
        assert anchored["tx_hash"].startswith("0x") and anchored["block_number"] >= 1

        # The receiver answers before the deliverer records the delivery; a kill in between sends that one
        # again later (at least once, by design), so the kill waits for the three to be recorded.
        wait_for(lambda: [d["state"] for d in api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]]
                 == ["delivered"] * 3, timeout=30, what="the three deliveries recorded")
        # the deliverer's process killed and the receiver down: what happens meanwhile waits in the database
        stack.kill("issuer-outbox")
        receiver.stop()
        second = api.post("/api/v1/credentials", json={"achievement_id": achievement["id"], "recipient": {
            "name": "Grace Hopper", "email": "grace@example.org"}}).json()
        assert api.post(f"/api/v1/credentials/{second['id']}/revoke", json={"reason": "duplicate"}).status_code == 200
        stack.start("issuer-outbox")
        wait_for(lambda: any(d["attempts"] for d in api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")
                             .json()["items"] if d["state"] == "pending"), timeout=30, what="a failed attempt")
        receiver.start()
        wait_for(lambda: len(receiver.events()) == 6, timeout=60, what="the waiting events delivered")
        later = [e["type"] for e in receiver.events()[3:]]
        # issued before revoked for the second credential; its anchoring may come before or after the revocation
        assert later[0] == "credential.issued"
        assert sorted(later) == ["credential.anchored", "credential.issued", "credential.revoked"]
        assert len({e["id"] for e in receiver.events()}) == 6
        log = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        assert all(d["state"] == "delivered" for d in log) and len(log) == 6
