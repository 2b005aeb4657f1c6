"""The outbox tells the registry which key signed each hash, and how to retire a key (fake registry)."""

from __future__ import annotations

from sqlalchemy import select

from services.issuer.models import OutboxKind, OutboxMessage
from services.issuer.outbox import Relay, _rotation
from tests.integration.issuer_support import (auth, create_achievement, create_issuer, issue,
                                              issuer_client)


def test_each_hash_goes_with_the_key_that_signed_it_and_rotations_retire_as_the_chain_expects(database_url, tmp_path):
    with issuer_client(database_url, tmp_path) as client:
        relay = Relay(client.settings, client.sessions, client.registry, holder="test-relay")
        try:
            key = create_issuer(client)["api_key"]
            achievement = create_achievement(client, key)
            first = [issue(client, key, achievement["id"], email=f"a{i}@example.org") for i in range(3)]
            plain = client.post("/api/v1/issuer/signing-keys/rotate", json={}, headers=auth(key)).json()
            second = [issue(client, key, achievement["id"], email=f"b{i}@example.org") for i in range(2)]
            leaked = client.post("/api/v1/issuer/signing-keys/rotate", json={"compromised": True},
                                 headers=auth(key)).json()
            third = issue(client, key, achievement["id"], email="c@example.org")
            relay.tick()
        finally:
            relay.close()
        fake = client.registry
        old_key, mid_key = plain["retired_key"]["public_key"], plain["new_key"]["public_key"]
        assert leaked["retired_key"]["public_key"] == mid_key
        new_key = leaked["new_key"]["public_key"]
        assert {fake.anchor_keys[c["credential_hash"]] for c in first} == {old_key}
        assert {fake.anchor_keys[c["credential_hash"]] for c in second} == {mid_key}
        assert fake.anchor_keys[third["credential_hash"]] == new_key
        (_, normal), (_, compromise) = fake.rotations
        assert normal["retire"] == old_key and normal["public_key"] == mid_key
        # a normal retirement names the second after the rotation by the issuer's clock
        assert normal["compromised"] is False and isinstance(normal["retire_at"], int) and normal["retire_at"] > 0
        assert compromise["retire"] == mid_key and compromise["compromised"] is True
        assert isinstance(compromise["retire_at"], int) and compromise["retire_at"] > 0
        with client.sessions() as s:
            stored = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.rotate_key)
                               .order_by(OutboxMessage.id)).all()
        assert compromise["retire_at"] == int(stored[1].payload["retire_at"])


def test_hashes_of_two_keys_in_one_merged_delivery_go_as_one_call_per_key(database_url, tmp_path):
    with issuer_client(database_url, tmp_path) as client:
        relay = Relay(client.settings, client.sessions, client.registry, holder="test-relay")
        try:
            key = create_issuer(client)["api_key"]
            achievement = create_achievement(client, key)
            before = issue(client, key, achievement["id"], email="a@example.org")
            client.post("/api/v1/issuer/signing-keys/rotate", json={}, headers=auth(key))
            relay.tick()  # everything so far delivered
            after = issue(client, key, achievement["id"], email="b@example.org")
            with client.sessions.begin() as s:  # the registry lost the first one: queued again behind the new one
                from services.issuer.anchoring import repository as repo
                issuer_id = s.scalar(select(OutboxMessage.issuer_id).limit(1))
                repo.add_outbox(s, issuer_id, OutboxKind.anchor, {"hashes": [before["credential_hash"]]})
            calls = len([c for c in client.registry.calls if c == "queue_anchors"])
            client.registry.anchor_keys.clear()
            relay.tick()
        finally:
            relay.close()
        assert len([c for c in client.registry.calls if c == "queue_anchors"]) - calls == 2
        keys = client.registry.anchor_keys
        assert keys[before["credential_hash"]] != keys[after["credential_hash"]]
        assert None not in keys.values()


def test_rotation_bodies():
    assert _rotation({"public_key": "0xn", "retire": "0xo", "retire_at": 1_700_000_000.0, "compromised": False}) == {
        "public_key": "0xn", "retire": "0xo", "retire_at": 1_700_000_000, "compromised": False}
    assert _rotation({"public_key": "0xn", "retire": "0xo", "retire_at": None, "compromised": False})[
        "retire_at"] is None  # queued before the rule: the block time
    assert _rotation({"public_key": "0xn", "retire": "0xo", "retire_at": 1_600_000_000.0, "compromised": True})[
        "retire_at"] == 1_600_000_000
    assert _rotation({"public_key": "0xn"}) == {"public_key": "0xn"}
