"""Tenants are isolated: issuer A's API keys can neither read, issue for, nor revoke anything of B's."""

from __future__ import annotations

import pytest

from services.issuer.models import Achievement, Batch, Credential, Image
from tests.integration.issuer_support import (auth, count, create_achievement, create_issuer, issue, issuer_client,
                                              tiny_png)


@pytest.fixture
def two(database_url, tmp_path):
    # no batch runner: B's batch stays queued, so counts only change through the calls under test
    with issuer_client(database_url, tmp_path, run_batches=False) as client:
        a, b = create_issuer(client, "alpha"), create_issuer(client, "beta")
        a_ach = create_achievement(client, a["api_key"])
        b_ach = create_achievement(client, b["api_key"], name="Empathy")
        b_cred = issue(client, b["api_key"], b_ach["id"])
        r = client.post("/api/v1/credentials/batch", headers=auth(b["api_key"]),
                        json={"achievement_id": b_ach["id"], "recipients": [{"name": "B", "email": "b@example.org"}]})
        assert r.status_code == 202
        yield client, a["api_key"], a_ach, b_ach, b_cred, r.json()["id"]


def test_a_cannot_read_bs_credentials(two):
    client, a_key, _, b_ach, b_cred, _ = two
    r = client.get(f"/api/v1/credentials/{b_cred['id']}", headers=auth(a_key))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/credentials", headers=auth(a_key)).json()["items"] == []
    listed = client.get("/api/v1/credentials", params={"achievement_id": b_ach["id"]}, headers=auth(a_key)).json()
    assert listed["items"] == []


def test_a_cannot_read_bs_achievements_or_batches(two):
    client, a_key, a_ach, b_ach, _, b_batch = two
    assert client.get(f"/api/v1/achievements/{b_ach['id']}", headers=auth(a_key)).status_code == 404
    assert [x["id"] for x in client.get("/api/v1/achievements", headers=auth(a_key)).json()] == [a_ach["id"]]
    assert client.get(f"/api/v1/credentials/batches/{b_batch}", headers=auth(a_key)).status_code == 404


def test_a_cannot_issue_with_bs_achievement(two):
    client, a_key, _, b_ach, _, _ = two
    before = count(client, Credential)
    r = client.post("/api/v1/credentials", headers=auth(a_key),
                    json={"achievement_id": b_ach["id"], "recipient": {"name": "X", "email": "x@example.org"}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_achievement"
    r = client.post("/api/v1/credentials/batch", headers=auth(a_key),
                    json={"achievement_id": b_ach["id"], "recipients": [{"name": "X", "email": "x@example.org"}]})
    assert r.status_code == 404
    assert count(client, Credential) == before and count(client, Batch) == 1


def test_a_cannot_revoke_bs_credential(two):
    client, a_key, _, _, b_cred, _ = two
    r = client.post(f"/api/v1/credentials/{b_cred['id']}/revoke", json={"reason": "hostile"}, headers=auth(a_key))
    assert r.status_code == 404
    assert client.get(f"/public/credentials/{b_cred['id']}/status").json()["revoked"] is False


def test_a_cannot_use_bs_image_or_manage_bs_keys(two):
    client, a_key, _, _, _, _ = two
    b_key = client.post("/api/v1/issuers", json={"name": "G", "slug": "gamma", "url": "https://g.example",
                                                 "email": "g@g.example"},
                        headers=auth("admin-token-for-issuer-tests-0123")).json()["api_key"]
    image = client.post("/api/v1/images", files={"file": ("i.png", tiny_png(), "image/png")}, headers=auth(b_key))
    assert image.status_code == 201
    r = client.post("/api/v1/achievements", headers=auth(a_key),
                    json={"name": "N", "description": "D", "criteria": {"narrative": "C"}, "image": image.json()["id"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_image"
    assert count(client, Image) == 1 and count(client, Achievement) == 2
    b_keys = client.get("/api/v1/api-keys", headers=auth(b_key)).json()
    r = client.post(f"/api/v1/api-keys/{b_keys[0]['id']}/revoke", headers=auth(a_key))
    assert r.status_code == 404
    assert client.get("/api/v1/issuer", headers=auth(b_key)).status_code == 200
