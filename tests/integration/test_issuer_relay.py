"""The outbox relay against a fake registry: nothing lost while it is down, anchors attached once confirmed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.core import anchorproof, dataintegrity
from services.core.db import utcnow
from services.core.multiformats import decode_public_key
from services.issuer.anchoring import repository as anchoring_repo
from services.issuer.models import Credential, Issuer, Lease, OutboxKind, OutboxMessage, OutboxState, StatusList
from services.issuer.batches.runner import BatchRunner
from services.issuer.outbox import Relay
from services.issuer.signing import SigningPool
from tests.support.stack import wait_for
from tests.integration.issuer_support import (FakeRegistry, auth, create_achievement, create_issuer, issue,
                                              issuer_client, registry_bit)


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path) as c:
        c.relay = Relay(c.settings, c.sessions, c.registry, holder="test-relay")
        yield c
        c.relay.close()


def _due_now(client) -> None:
    with client.sessions.begin() as s:
        s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def _poll_now(client) -> None:
    with client.sessions.begin() as s:
        s.execute(update(Credential).values(anchor_next_poll_at=None))


def _messages(client) -> list[OutboxMessage]:
    with client.sessions() as s:
        return s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_registry_down_loses_nothing_and_order_is_kept(client):
    client.registry.up = False
    issuer = create_issuer(client)
    assert issuer["registry"] == {"state": "pending", "address": None, "chain_id": None}
    key = issuer["api_key"]
    achievement = create_achievement(client, key)
    creds = [issue(client, key, achievement["id"], email=f"p{i}@example.org") for i in range(3)]
    client.post(f"/api/v1/credentials/{creds[0]['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    client.relay.tick()
    assert all(m.state == OutboxState.pending for m in _messages(client))
    assert _messages(client)[0].attempts == 1 and "unreachable" in _messages(client)[0].last_error
    client.registry.up = True
    _due_now(client)
    client.relay.tick()
    assert all(m.state == OutboxState.done for m in _messages(client))
    assert issuer["id"] in client.registry.accounts
    # the three single-credential anchor messages went as one call
    assert client.registry.calls.count("queue_anchors") == 1
    assert set(client.registry.anchored) == {c["credential_hash"] for c in creds}
    # the revocation reached the registry as a status list version with the credential's bit set
    assert client.registry.revoked == []
    assert registry_bit(client, creds[0]["credential"], "revocation") is True
    assert registry_bit(client, creds[1]["credential"], "revocation") is False
    with client.sessions() as s:
        row = s.get(Issuer, issuer["id"])
        assert row.chain_address == client.registry.accounts[issuer["id"]]["address"]


def test_confirmed_anchors_are_attached_as_a_second_proof(client):
    issuer = create_issuer(client)
    key = issuer["api_key"]
    achievement = create_achievement(client, key)
    creds = [issue(client, key, achievement["id"], email=f"p{i}@example.org") for i in range(3)]
    client.relay.tick()
    client.relay.tick()
    assert client.get(f"/api/v1/credentials/{creds[0]['id']}", headers=auth(key)).json()["status"] == "pending"
    client.registry.confirm_all()
    _poll_now(client)  # do not wait for the next poll time
    client.relay.tick()
    for c in creds:
        read = client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json()
        assert read["status"] == "anchored" and read["anchored_at"]
        doc = read["credential"]
        assert [p["cryptosuite"] for p in doc["proof"]] == ["eddsa-rdfc-2022", anchorproof.CRYPTOSUITE]
        receipt = anchorproof.decode(doc["proof"][1])
        assert receipt == anchorproof.AnchorReceipt(
            chain_id=31337, contract="0x" + "cd" * 20, account=client.registry.accounts[issuer["id"]]["address"],
            root=client.registry.receipts[c["credential_hash"]]["root"],
            path=tuple(client.registry.receipts[c["credential_hash"]]["proof"]),
            tx_hash=client.registry.receipts[c["credential_hash"]]["txHash"], block_number=7)
        vm = doc["proof"][0]["verificationMethod"]
        assert dataintegrity.verify(doc, decode_public_key(vm.split("#")[1])).valid
        assert client.get(f"/public/credentials/{c['id']}").json() == doc


def test_polling_stops_at_the_first_unconfirmed_receipt(client):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    first = issue(client, key, achievement["id"], email="a@example.org")
    client.relay.tick()
    client.registry.confirm_all()
    later = [issue(client, key, achievement["id"], email=f"l{i}@example.org") for i in range(5)]
    client.relay.deliver()
    _poll_now(client)
    polls_before = client.registry.calls.count("anchor_receipt")
    client.relay.tick()
    # the first is anchored; of the later five (queued), the first window was asked for, then it stopped
    assert client.get(f"/api/v1/credentials/{first['id']}", headers=auth(key)).json()["status"] == "anchored"
    assert all(client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json()["status"] == "pending"
               for c in later)
    assert client.registry.calls.count("anchor_receipt") - polls_before == 6
    with client.sessions() as s:  # fresh: not put off, the next pass asks again (their root is on its way)
        assert s.scalars(select(Credential.anchor_next_poll_at).where(Credential.anchor_state == "queued")).all() \
            == [None] * 5
    client.relay.tick()  # the next pass asks for the oldest alone: unconfirmed, so none behind it is
    assert client.registry.calls.count("anchor_receipt") - polls_before == 7
    client.registry.confirm_all()
    client.relay.tick()  # confirmed: the oldest, then the four behind it, at once
    assert client.registry.calls.count("anchor_receipt") - polls_before == 12
    assert all(client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json()["status"] == "anchored"
               for c in later)


def test_a_refused_message_is_marked_failed_and_the_rest_still_flow(client):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    issue(client, key, achievement["id"])
    original = client.registry.queue_anchors

    def refuse(issuer_id, hashes, public_key=None):
        from services.issuer.registry_client import RegistryRefused
        raise RegistryRefused(409, "conflict", "hash queued by another issuer")

    client.registry.queue_anchors = refuse
    client.relay.tick()
    failed = [m for m in _messages(client) if m.kind == OutboxKind.anchor]
    assert failed[0].state == OutboxState.failed and "another issuer" in failed[0].last_error
    client.registry.queue_anchors = original
    issue(client, key, achievement["id"], email="b@example.org")
    client.relay.tick()
    assert [m.state for m in _messages(client) if m.kind == OutboxKind.anchor] == [OutboxState.failed, OutboxState.done]


def test_only_one_relay_works_at_a_time(client):
    create_issuer(client)
    other = Relay(client.settings, client.sessions, FakeRegistry(), holder="other-relay")
    client.relay.tick()
    assert other.tick() is False
    other.close()


def test_key_rotation_registers_the_new_key_and_compromise_invalidates_later_credentials(client):
    issuer = create_issuer(client)
    key = issuer["api_key"]
    achievement = create_achievement(client, key)
    before = issue(client, key, achievement["id"], email="before@example.org")
    r = client.post("/api/v1/issuer/signing-keys/rotate", json={"compromised": True,
                                                                "compromised_at": "2000-01-01T00:00:00Z"},
                    headers=auth(key))
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["retired_key"]["compromised"] and rotated["invalidated_credentials"] == 1
    after = issue(client, key, achievement["id"], email="after@example.org")
    assert after["credential"]["proof"][0]["verificationMethod"] == rotated["new_key"]["verification_method"]
    assert client.get(f"/api/v1/credentials/{before['id']}", headers=auth(key)).json()["status"] == "invalid"
    did = client.get("/issuers/lakeside/did.json").json()
    assert {m["publicKeyMultibase"] for m in did["verificationMethod"] if m["type"] == "Multikey"} == {
        rotated["new_key"]["multikey"], rotated["retired_key"]["multikey"]}
    client.relay.tick()
    (issuer_id, body), = client.registry.rotations
    assert issuer_id == issuer["id"]
    assert body["public_key"] == rotated["new_key"]["public_key"] and body["retire"] == rotated["retired_key"]["public_key"]
    assert body["compromised"] is True and isinstance(body["retire_at"], int)
    plain = client.post("/api/v1/issuer/signing-keys/rotate", json={}, headers=auth(key)).json()
    assert plain["retired_key"]["compromised"] is False and plain["invalidated_credentials"] == 0
    assert client.get(f"/api/v1/credentials/{after['id']}", headers=auth(key)).json()["status"] == "pending"
    bad = client.post("/api/v1/issuer/signing-keys/rotate", json={"compromised_at": "2000-01-01T00:00:00Z"},
                      headers=auth(key))
    assert bad.status_code == 422


def test_registration_is_followed_until_active_and_the_did_document_gains_the_chain_account(client):
    issuer = create_issuer(client)
    client.registry.accounts[issuer["id"]]["state"] = "active"
    client.relay.follow_registrations(every=0)
    me = client.get("/api/v1/issuer", headers=auth(issuer["api_key"])).json()
    assert me["registry"]["state"] == "active" and me["registry"]["chain_id"] == 31337
    did = client.get("/issuers/lakeside/did.json").json()
    account = [m for m in did["verificationMethod"] if m["type"] == "EcdsaSecp256k1RecoveryMethod2020"][0]
    assert account["blockchainAccountId"] == f"eip155:31337:{me['registry']['address']}"


def test_messages_pending_while_a_large_window_is_attached_are_delivered_between_its_parts(client):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    batch = client.post("/api/v1/credentials/batch", headers=auth(key), json={
        "achievement_id": achievement["id"],
        "recipients": [{"name": f"L {i}", "email": f"l{i}@example.org"} for i in range(520)]}).json()
    BatchRunner(client.settings, client.sessions, SigningPool(1)).tick()  # or the API's own runner does it
    wait_for(lambda: client.get(f"/api/v1/credentials/batches/{batch['id']}", params={"limit": 0},
                                headers=auth(key)).json()["state"] == "done", what="the batch signed")
    client.relay.deliver()
    client.registry.confirm_all()
    _poll_now(client)
    late = issue(client, key, achievement["id"], email="late@example.org")  # its anchor message is pending
    client.relay.collect_anchors()  # attaches 520 in two parts, delivering in between
    progress = client.get(f"/api/v1/credentials/batches/{batch['id']}", params={"limit": 0}, headers=auth(key)).json()
    assert progress["anchored"] == 520
    assert late["credential_hash"] in client.registry.anchored
    assert all(m.state == OutboxState.done for m in _messages(client) if m.kind == OutboxKind.anchor)


def test_receipts_unconfirmed_for_long_back_off_each_by_its_age_and_the_relay_rests(client):
    # A slow chain: after STUCK_AFTER, no probe each pass; the window is asked once and each waits.
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    for i in range(3):
        issue(client, key, achievement["id"], email=f"w{i}@example.org")
    client.relay.deliver()
    with client.sessions.begin() as s:
        s.execute(update(Credential).values(anchor_next_poll_at=None, created_at=utcnow() - timedelta(minutes=4)))
    polls_before = client.registry.calls.count("anchor_receipt")
    client.relay.collect_anchors()
    assert client.registry.calls.count("anchor_receipt") - polls_before == 3
    with client.sessions() as s:
        assert anchoring_repo.awaiting_anchor(s, s.scalar(select(Issuer.id)), utcnow(), 10) == []  # all put off
    client.relay.collect_anchors()  # nothing due: nothing asked
    assert client.registry.calls.count("anchor_receipt") - polls_before == 3


def test_a_stuck_anchor_does_not_hold_back_the_credentials_behind_it(client):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    stuck = issue(client, key, achievement["id"], email="stuck@example.org")
    behind = [issue(client, key, achievement["id"], email=f"b{i}@example.org") for i in range(40)]
    client.relay.deliver()
    client.registry.confirm_all()
    client.registry.receipts[stuck["credential_hash"]] = {**client.registry.receipts[stuck["credential_hash"]],
                                                          "state": "submitted"}
    with client.sessions.begin() as s:  # the stuck one has waited ten minutes already
        s.execute(update(Credential).values(anchor_next_poll_at=None))
        s.execute(update(Credential).where(Credential.id == stuck["id"])
                  .values(created_at=utcnow() - timedelta(minutes=10)))
    client.relay.collect_anchors()  # first window: the stuck one answers "submitted"; it waits a minute now
    _two_seconds_pass(client)
    client.relay.collect_anchors()
    assert all(client.get(f"/api/v1/credentials/{c['id']}", headers=auth(key)).json()["status"] == "anchored"
               for c in behind)
    assert client.get(f"/api/v1/credentials/{stuck['id']}", headers=auth(key)).json()["status"] == "pending"


def _two_seconds_pass(client) -> None:
    with client.sessions.begin() as s:
        s.execute(update(Credential).where(Credential.anchor_next_poll_at <= utcnow() + timedelta(seconds=2))
                  .values(anchor_next_poll_at=None))


def _settle(client, passes: int = 10) -> None:
    """Passes until the relay has nothing left to do: issuers active, lists published, anchors attached."""
    for _ in range(passes):
        for account in client.registry.accounts.values():
            account["state"] = "active"
        client.registry.confirm_all()
        _due_now(client)
        _poll_now(client)
        client.relay._last_registration_poll = 0.0  # follow registrations now, not in 2 s
        with client.sessions.begin() as s:  # status lists: as if their interval had passed
            s.execute(update(StatusList).values(published_at=utcnow() - timedelta(hours=1)))
        client.relay.tick()
        with client.sessions() as s:
            if not anchoring_repo.work_due(s, utcnow(), utcnow()):
                return
    raise AssertionError("the relay never ran out of work")


def test_an_idle_relay_pass_takes_no_lease_and_asks_the_registry_nothing(client):
    """Work, not tenants, sets the relay's cost: with every issuer registered and every anchor
    attached, a pass is one query, whatever the number of issuers."""
    keys = [create_issuer(client, slug=f"idle-{i}")["api_key"] for i in range(5)]
    achievement = create_achievement(client, keys[0])
    issue(client, keys[0], achievement["id"])
    _settle(client)
    client.registry.calls.clear()
    with client.sessions() as s:
        lease_before = s.scalar(select(Lease.expires_at).where(Lease.name == "issuer-outbox"))
    assert client.relay.tick() is False
    assert client.registry.calls == []
    with client.sessions() as s:
        assert s.scalar(select(Lease.expires_at).where(Lease.name == "issuer-outbox")) == lease_before
    # New work is seen by that one query: the next pass delivers it.
    credential = issue(client, keys[3], create_achievement(client, keys[3])["id"])
    client.relay.tick()
    assert "queue_anchors" in client.registry.calls
    assert credential["credential_hash"] in client.registry.anchored


def test_a_message_waiting_for_its_retry_time_is_not_due(client):
    client.registry.up = False
    create_issuer(client)
    client.relay.tick()  # the registry is down: the registration waits for its backoff
    client.registry.up = True
    with client.sessions() as s:
        assert [m.state for m in s.scalars(select(OutboxMessage))] == [OutboxState.pending]
        assert not anchoring_repo.work_due(s, utcnow(), utcnow() - timedelta(hours=1))
    _due_now(client)
    with client.sessions() as s:
        assert anchoring_repo.work_due(s, utcnow(), utcnow() - timedelta(hours=1))


def test_the_relay_knows_when_nothing_at_all_is_outstanding(client):
    """``outstanding`` (what lets an idle relay back off to MICROCRED_OUTBOX_IDLE_INTERVAL): true
    while a receipt is still awaited even when none is due, false once everything is settled."""
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    _settle(client)  # registered: nothing is followed any more
    issue(client, key, achievement["id"])
    client.relay.tick()  # delivered: the anchor is now awaited, its receipt asked for later
    with client.sessions.begin() as s:
        s.execute(update(Credential).values(anchor_next_poll_at=utcnow() + timedelta(hours=1)))
    with client.sessions() as s:
        assert anchoring_repo.work_state(s, utcnow(), utcnow() - timedelta(hours=1)) == (False, True)
    assert client.relay.tick() is False and client.relay.outstanding is True
    _settle(client)
    assert client.relay.tick() is False and client.relay.outstanding is False


def test_a_new_outbox_message_wakes_a_waiting_relay(client, database_url):
    """PostgreSQL: the NOTIFY sent with the message; a SQLite file: the commit (data_version).
    A wait with nothing committed runs its full time."""
    import threading

    from services.core.wakeup import Wakeup

    if ":memory:" in database_url:
        pytest.skip("an in-memory SQLite database has no other process to wake")
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    _settle(client)
    waiter, stop = Wakeup(database_url, anchoring_repo.OUTBOX_CHANNEL), threading.Event()
    try:
        assert waiter.wait(stop, 0.6) is False
        outcome: list[bool] = []
        thread = threading.Thread(target=lambda: outcome.append(waiter.wait(stop, 120.0)))
        thread.start()
        issue(client, key, achievement["id"])
        thread.join(60.0)
        woken = not thread.is_alive()
        stop.set()
        thread.join()
        assert woken and outcome == [True], "the new credential's outbox message did not wake the relay"
    finally:
        waiter.close()
