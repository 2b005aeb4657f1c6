"""Learners' profiles over the real services (docs/learners.md, docs/verifier.md): anvil, registry and
worker, issuer and outbox, verifier, all over HTTP. The profile shows the verifier's own verdicts and
pathway progress; withdrawn, its page, JSON, embed and oEmbed are 404 at once; no issuer can make, see
or withdraw the profile of another issuer's learner, and a profile shows only its own learner's
credentials of its own issuer."""

from __future__ import annotations

import httpx
import pytest

from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


def _issuer(stack, slug):
    """A new issuer on the shared stack (tests/e2e/conftest.py), its slug made unique."""
    return new_issuer(stack.url("issuer"), slug, name=f"{slug.title()} College")


def _achievement(api, name, **extra):
    r = api.post("/api/v1/achievements", json={"name": name, "description": f"{name}, shown at work.",
                                               "criteria": {"narrative": "Assessed in practice."}, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _issue(api, achievement_id, email="ada@example.org", name="Ada Lovelace"):
    r = api.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                              "recipient": {"name": name, "email": email}})
    assert r.status_code == 201, r.text
    return r.json()


def _profile(url):
    r = httpx.get(url, headers=JSON, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_progress_verdicts_and_withdrawal_at_once(stack):
    api = _issuer(stack, "lakeside")
    nanos = [_achievement(api, n, achievementType="Competency", level="foundational",
                          alignment=[{"targetName": n, "targetFramework": "O*NET", "targetCode": "2.A.1.b",
                                      "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.A.1.b"}])
             for n in ("Active Listening", "Perspective Taking", "Conflict Resolution")]
    _achievement(api, "Customer Empathy", achievementType="MicroCredential", requires={"all_of": nanos})
    first, second = _issue(api, nanos[0]), _issue(api, nanos[1])
    r = api.post(f"/api/v1/learners/{first['learner_id']}/profile")
    assert r.status_code == 201, r.text
    url, profile_id = r.json()["url"], r.json()["profile_id"]
    assert url == f"{stack.env['MICROCRED_PUBLIC_BASE_URL']}/p/{profile_id}"
    wait_for(lambda: all(c["status"] == "valid" for c in _profile(url)["credentials"]), timeout=60,
             what="both anchored")
    body = _profile(url)
    assert body["learner_name"] == "Ada Lovelace"
    assert [c["url"] for c in body["credentials"]] == [first["url"], second["url"]]
    (pathway,) = body["pathways"]
    assert pathway["text"] == "2 of 3 toward Customer Empathy" and pathway["complete"] is False
    page = httpx.get(url, headers=HTML, timeout=30)
    assert page.status_code == 200 and "2 of 3 toward <em>Customer Empathy</em>" in page.text

    # The verifier's own verdict decides: a revoked component shows as revoked and stops counting.
    assert api.post(f"/api/v1/credentials/{second['id']}/revoke", json={"reason": "issued in error"}).status_code == 200
    wait_for(lambda: [c["status"] for c in _profile(url)["credentials"]] == ["valid", "revoked"], timeout=30,
             what="the revocation on the profile")
    assert _profile(url)["pathways"][0]["text"] == "1 of 3 toward Customer Empathy"

    # Withdrawn: every view of it is 404 on the very next request, however often it was read before.
    embed = httpx.get(url + "/embed", timeout=30)
    assert embed.status_code == 200 and "frame-ancestors *" in embed.headers["content-security-policy"]
    oembed_url = f"{stack.env['MICROCRED_PUBLIC_BASE_URL']}/oembed"
    assert httpx.get(oembed_url, params={"url": url}, timeout=30).status_code == 200
    for _ in range(3):
        assert httpx.get(url, headers=JSON, timeout=30).headers["cache-control"] == "no-store"
    assert api.delete(f"/api/v1/learners/{first['learner_id']}/profile").status_code == 204
    assert httpx.get(url, headers=JSON, timeout=30).status_code == 404
    gone = httpx.get(url, headers=HTML, timeout=30)
    assert gone.status_code == 404 and "withdrew it" in gone.text
    assert httpx.get(url + "/embed", timeout=30).status_code == 404
    assert httpx.get(oembed_url, params={"url": url}, timeout=30).status_code == 404
    assert httpx.get(f"{stack.env['MICROCRED_ISSUER_URL']}/public/profiles/{profile_id}", timeout=30).status_code == 404
    # A new profile is a new URL; the old one stays gone.
    again = api.post(f"/api/v1/learners/{first['learner_id']}/profile").json()
    assert again["profile_id"] != profile_id
    assert httpx.get(url, headers=JSON, timeout=30).status_code == 404
    assert httpx.get(again["url"], headers=JSON, timeout=30).status_code == 200


def test_no_issuer_acts_for_another_and_a_profile_shows_only_its_learners_credentials(stack):
    north, south = _issuer(stack, "northgate"), _issuer(stack, "southbank")
    n_ach, s_ach = _achievement(north, "Team Leadership"), _achievement(south, "Food Safety")
    ada_north = _issue(north, n_ach)
    grace_north = _issue(north, n_ach, email="grace@example.org", name="Grace Hopper")
    ada_south = _issue(south, s_ach)  # the same person at another issuer: another learner
    assert len({ada_north["learner_id"], grace_north["learner_id"], ada_south["learner_id"]}) == 3
    route = f"/api/v1/learners/{ada_north['learner_id']}/profile"
    assert south.post(route).status_code == 404
    assert south.get(route).status_code == 404
    profile = north.post(route).json()
    for method in ("get", "delete", "post"):
        r = getattr(south, method)(route)
        assert r.status_code == 404, (method, r.text)
    assert north.get(route).json() == profile  # still there, unchanged
    body = _profile(profile["url"])
    assert [c["url"] for c in body["credentials"]] == [ada_north["url"]]
    shown = str(body)
    assert grace_north["url"] not in shown and ada_south["url"] not in shown and "Food Safety" not in shown
    # south's own learner's profile is south's only
    south_profile = south.post(f"/api/v1/learners/{ada_south['learner_id']}/profile").json()
    assert [c["url"] for c in _profile(south_profile["url"])["credentials"]] == [ada_south["url"]]
    assert south_profile["profile_id"] != profile["profile_id"]
