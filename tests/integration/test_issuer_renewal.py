"""Renewal and what is about to lapse (docs/issuer.md, "Renewal"), over the real app and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.issuer.models import Credential
from tests.integration.issuer_support import auth, count, create_achievement, create_issuer, issue, issuer_client

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


@pytest.fixture
def lakeside(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False) as client:
        key = create_issuer(client)["api_key"]
        yield client, key, create_achievement(client, key, validity_days=730)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_renewal_issues_the_successor_linked_both_ways(lakeside):
    client, key, achievement = lakeside
    r = client.post("/api/v1/credentials", headers=auth(key), json={
        "achievement_id": achievement["id"], "valid_from": "2025-01-10T00:00:00Z",
        "recipient": {"name": "Ada", "email": "ada@example.org", "did": DID},
        "evidence": [{"id": "https://x.example/e", "name": "Essay"}]})
    old = r.json()
    r = client.post(f"/api/v1/credentials/{old['id']}/renew", json={}, headers=auth(key))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] != old["id"] and new["replaces"] == old["id"] and new["replaced_by"] is None
    assert new["learner_id"] == old["learner_id"] and new["achievement_id"] == old["achievement_id"]
    subject, old_subject = new["credential"]["credentialSubject"], old["credential"]["credentialSubject"]
    assert subject == old_subject  # same DID, name, identity hash and salt, and achievement
    assert new["credential"]["evidence"] == old["credential"]["evidence"]
    valid_from, valid_until = _when(new["credential"]["validFrom"]), _when(new["credential"]["validUntil"])
    assert abs(valid_from - datetime.now(UTC)) < timedelta(minutes=5)
    assert valid_until - valid_from == timedelta(days=730)
    assert new["credential"]["credentialStatus"] != old["credential"]["credentialStatus"]  # its own entries

    again = client.get(f"/api/v1/credentials/{old['id']}", headers=auth(key)).json()
    assert again["replaced_by"] == new["id"] and again["status"] == old["status"]  # not revoked: it lapses
    status = client.get(f"/public/credentials/{old['id']}/status").json()
    assert status["renewedBy"] == new["url"] and status["revoked"] is False
    assert client.get(f"/public/credentials/{new['id']}/status").json()["renewedBy"] is None

    twice = client.post(f"/api/v1/credentials/{old['id']}/renew", json={}, headers=auth(key))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_renewed"
    assert new["id"] in twice.json()["error"]["message"]
    assert count(client, Credential) == 2


def test_a_renewal_takes_a_valid_until_within_the_shelf_life(lakeside):
    client, key, achievement = lakeside
    old = issue(client, key, achievement["id"])
    soon = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for bad, code in (("2020-01-01T00:00:00Z", "invalid_request"),
                      ((datetime.now(UTC) + timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%SZ"), "invalid_request"),
                      ("soon", "invalid_request")):
        r = client.post(f"/api/v1/credentials/{old['id']}/renew", json={"valid_until": bad}, headers=auth(key))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert count(client, Credential) == 1
    r = client.post(f"/api/v1/credentials/{old['id']}/renew", json={"valid_until": soon}, headers=auth(key))
    assert r.status_code == 201 and r.json()["credential"]["validUntil"] == soon


def test_revoked_unknown_and_other_issuers_credentials_are_not_renewed(lakeside):
    client, key, achievement = lakeside
    revoked = issue(client, key, achievement["id"])
    client.post(f"/api/v1/credentials/{revoked['id']}/revoke", json={"reason": "error"}, headers=auth(key))
    r = client.post(f"/api/v1/credentials/{revoked['id']}/renew", json={}, headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "credential_revoked"
    other = create_issuer(client, "beta")["api_key"]
    mine = issue(client, key, achievement["id"], email="b@example.org")
    assert client.post(f"/api/v1/credentials/{mine['id']}/renew", json={}, headers=auth(other)).status_code == 404
    assert client.post("/api/v1/credentials/nope/renew", json={}, headers=auth(key)).status_code == 404
    no_shelf_life = create_achievement(client, key, name="For ever", validity_days=None)
    forever = issue(client, key, no_shelf_life["id"], email="c@example.org")
    r = client.post(f"/api/v1/credentials/{forever['id']}/renew", json={}, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_validity"
    assert count(client, Credential) == 3


def test_expiring_within_lists_what_is_about_to_lapse(lakeside):
    client, key, achievement = lakeside
    short = create_achievement(client, key, name="Short", validity_days=20)
    lapsing = issue(client, key, short["id"], email="a@example.org")
    issue(client, key, achievement["id"], email="b@example.org")  # 730 days
    gone = issue(client, key, short["id"], email="c@example.org", valid_from="2020-01-01T00:00:00Z")  # lapsed
    revoked = issue(client, key, short["id"], email="d@example.org")
    client.post(f"/api/v1/credentials/{revoked['id']}/revoke", json={"reason": "error"}, headers=auth(key))
    renewed = issue(client, key, short["id"], email="e@example.org")
    successor = client.post(f"/api/v1/credentials/{renewed['id']}/renew", json={}, headers=auth(key)).json()

    def listed(within: str) -> list[str]:
        r = client.get("/api/v1/credentials", params={"expiring_within": within}, headers=auth(key))
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert listed("30d") == [lapsing["id"], successor["id"]]
    assert listed("12h") == [] and listed("19d") == []
    assert len(listed("800d")) == 3 and gone["id"] not in listed("800d")
    for junk in ("30", "d30", "30 d", "-3d", "0d", "1.5d", "30days", "99999999d", "30D", "1w"):
        r = client.get("/api/v1/credentials", params={"expiring_within": junk}, headers=auth(key))
        assert r.status_code == 422 and r.json()["error"]["code"] in ("invalid_duration", "invalid_request"), junk
