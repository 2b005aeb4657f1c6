"""Learners' profiles on the issuer (docs/learners.md, "The profile") over the real app and database:
one per learner, withdrawn at once, the listing's pathway progress, and no issuer acting for another."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from services.issuer.models import AwardJob, LearnerProfile
from services.issuer.pathways.runner import AwardRunner
from tests.integration.issuer_support import auth, count, create_achievement, create_issuer, issue, issuer_client


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_awards=False) as c:
        yield c


def _award_all(client) -> None:
    runner = AwardRunner(client.settings, client.sessions, holder="test")
    for _ in range(10):
        runner.tick()
        with client.sessions() as s:
            if not s.scalar(select(func.count()).select_from(AwardJob)):
                return
    raise AssertionError("award jobs left over")


def test_one_profile_per_learner_withdrawn_at_once(client):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    learner = issue(client, key, achievement["id"])["learner_id"]
    route = f"/api/v1/learners/{learner}/profile"
    assert client.get(route, headers=auth(key)).status_code == 404

    first = client.post(route, headers=auth(key))
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {"profile_id", "url"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", body["profile_id"])  # 192 random bits, URL-safe
    assert body["url"] == f"http://verify.test/p/{body['profile_id']}"
    again = client.post(route, headers=auth(key))
    assert again.status_code == 200 and again.json() == body  # asking again: the same profile
    assert client.get(route, headers=auth(key)).json() == body
    listed = client.get(f"/public/profiles/{body['profile_id']}")
    assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"

    assert client.delete(route, headers=auth(key)).status_code == 204
    gone = client.get(f"/public/profiles/{body['profile_id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert client.get(route, headers=auth(key)).status_code == 404
    assert client.delete(route, headers=auth(key)).status_code == 204  # idempotent
    assert count(client, LearnerProfile) == 0

    renewed = client.post(route, headers=auth(key)).json()
    assert renewed["profile_id"] != body["profile_id"]  # a new profile is a new URL; the old stays 404
    assert client.get(f"/public/profiles/{body['profile_id']}").status_code == 404
    assert client.get(f"/public/profiles/{renewed['profile_id']}").status_code == 200


def test_concurrent_creation_makes_one_profile(client):
    key = create_issuer(client)["api_key"]
    learner = issue(client, key, create_achievement(client, key)["id"])["learner_id"]
    with ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(lambda _: client.post(f"/api/v1/learners/{learner}/profile", headers=auth(key)),
                              range(6)))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert len({a.json()["profile_id"] for a in answers}) == 1
    assert count(client, LearnerProfile) == 1


def test_the_listing_names_credentials_and_pathway_progress(client):
    key = create_issuer(client)["api_key"]
    nanos = [create_achievement(client, key, name=n, achievementType="Competency")["id"]
             for n in ("Active Listening", "Perspective Taking", "Conflict Resolution")]
    r = client.post("/api/v1/achievements", headers=auth(key), json={
        "name": "Customer Empathy", "description": "Stacks three.", "criteria": {"narrative": "Hold them all."},
        "achievementType": "MicroCredential", "requires": {"all_of": nanos}})
    micro = r.json()["id"]
    unrelated = create_achievement(client, key, name="First Aid")["id"]
    untouched = client.post("/api/v1/achievements", headers=auth(key), json={
        "name": "Team Leadership", "description": "Another pathway.", "criteria": {"narrative": "Hold two."},
        "requires": {"k_of_n": {"k": 2, "of": [unrelated, nanos[0]]}}}).json()["id"]
    a = issue(client, key, nanos[0])
    b = issue(client, key, nanos[1])
    other_learner = issue(client, key, nanos[2], email="grace@example.org", name="Grace Hopper")
    learner = a["learner_id"]
    profile = client.post(f"/api/v1/learners/{learner}/profile", headers=auth(key)).json()
    _award_all(client)

    listing = client.get(f"/public/profiles/{profile['profile_id']}").json()
    assert [c["url"] for c in listing["credentials"]] == [a["url"], b["url"]]  # only this learner's
    assert other_learner["url"] not in str(listing)
    assert listing["issuer"]["name"] == "Lakeside College"
    by_name = {p["name"]: p for p in listing["pathways"]}
    empathy = by_name["Customer Empathy"]
    assert (empathy["required"], empathy["of"], empathy["held"], empathy["complete"]) == (3, 3, 2, False)
    assert empathy["credential_url"] is None
    assert [(c["name"], c["held"], c["credential_url"]) for c in empathy["components"]] == [
        ("Active Listening", True, a["url"]), ("Perspective Taking", True, b["url"]), ("Conflict Resolution", False, None)]
    leadership = by_name["Team Leadership"]  # k of n: one of the two it needs
    assert (leadership["required"], leadership["of"], leadership["held"]) == (2, 2, 1)
    assert leadership["achievement_id"] == untouched

    c = issue(client, key, nanos[2])
    _award_all(client)
    listing = client.get(f"/public/profiles/{profile['profile_id']}").json()
    awarded = [x for x in listing["credentials"] if x["pathway"]]
    assert len(awarded) == 1 and awarded[0]["achievement_id"] == micro
    empathy = {p["name"]: p for p in listing["pathways"]}["Customer Empathy"]
    assert (empathy["held"], empathy["complete"], empathy["credential_url"]) == (3, True, awarded[0]["url"])
    assert c["url"] in [x["url"] for x in listing["credentials"]]


def test_no_issuer_can_make_see_or_withdraw_another_issuers_profile(client):
    lakeside = create_issuer(client)["api_key"]
    hillcrest = create_issuer(client, "hillcrest")["api_key"]
    ours = issue(client, lakeside, create_achievement(client, lakeside)["id"])
    theirs = issue(client, hillcrest, create_achievement(client, hillcrest)["id"])  # the same email
    assert ours["learner_id"] != theirs["learner_id"]
    route = f"/api/v1/learners/{ours['learner_id']}/profile"
    profile = client.post(route, headers=auth(lakeside)).json()
    for method in ("post", "get", "delete"):
        r = getattr(client, method)(route, headers=auth(hillcrest))
        assert r.status_code == 404, (method, r.text)
        assert ours["learner_id"] in r.json()["error"]["message"]  # the same 404 as a learner that does not exist
    assert client.get(route, headers=auth(lakeside)).json() == profile  # untouched
    assert count(client, LearnerProfile) == 1
    listing = client.get(f"/public/profiles/{profile['profile_id']}").json()
    assert [c["url"] for c in listing["credentials"]] == [ours["url"]]  # not the other issuer's, same person
    assert client.post(route).status_code == 401
    read_only = client.post("/api/v1/api-keys", headers=auth(lakeside), json={"name": "ro", "scopes": ["read"]})
    assert read_only.status_code == 201, read_only.text
    ro = read_only.json()["key"]
    assert client.post(route, headers=auth(ro)).status_code == 403  # making or withdrawing one needs 'issue'
    assert client.delete(route, headers=auth(ro)).status_code == 403
    assert client.get(route, headers=auth(ro)).status_code == 200
    for bad in ("x" * 65, "nothing-here-0123456789", "%2E%2E%2Fapi"):
        assert client.get(f"/public/profiles/{bad}").status_code in (404, 422)
