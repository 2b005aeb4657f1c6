"""Pathways over the real services (docs/pathways.md): anvil, registry and worker, issuer and outbox,
verifier, all over HTTP. A micro-credential appears by itself; a stacked one rests on it and on a
component from another issuer; the verifier checks every component; a tampered, revoked or
someone else's external component does not count.
"""

from __future__ import annotations

import copy

import httpx
import pytest

from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


def _achievement(api, name, **extra):
    return api.achievement(name=name, description=f"{name}, shown at work.",
                           criteria={"narrative": "Assessed in practice."}, **extra)


def _awarded(api, learner_id, achievement_id):
    items = api.get(f"/api/v1/learners/{learner_id}/credentials").json()["items"]
    return [i for i in items if i["achievement_id"] == achievement_id and i["pathway"]]


def _report(stack, url):
    r = httpx.get(url, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_pathways_award_once_stack_and_are_verified_component_by_component(stack):
    lakeside, hillcrest = new_issuer(stack.url("issuer"), "lakeside"), new_issuer(stack.url("issuer"), "hillcrest")
    listening = _achievement(lakeside, "Active Listening", achievementType="Competency")
    perspective = _achievement(lakeside, "Perspective Taking", achievementType="Competency")
    safety = _achievement(hillcrest, "Workplace Safety")
    micro = _achievement(lakeside, "Customer Empathy", achievementType="MicroCredential",
                         requires={"all_of": [listening["id"], perspective["id"]]})
    external_url = safety["achievement"]["id"]
    stacked = _achievement(lakeside, "Customer Service Certificate", achievementType="Certificate",
                           requires={"all_of": [micro["id"], {"achievement": external_url,
                                                              "issuer": hillcrest.info["did"]}]})
    first = lakeside.issue(listening["id"])
    learner = first["learner_id"]
    second = lakeside.issue(perspective["id"])
    [award] = wait_for(lambda: _awarded(lakeside, learner, micro["id"]), timeout=30, what="the micro-credential")

    # The verifier checks both components; once all are anchored the report says valid throughout.
    def settled():
        report = _report(stack, award["url"])
        return report if report["status"] == "valid" and all(c["status"] == "valid" for c in report["components"]) \
            else None
    report = wait_for(settled, timeout=60, what="the micro-credential and its components valid")
    assert {c["url"]: c["hash"] for c in report["components"]} == {first["url"]: first["credential_hash"],
                                                                   second["url"]: second["credential_hash"]}
    assert report["componentsValid"] is True and report["componentProblems"] == []
    page = httpx.get(award["url"], headers={"Accept": "text/html"}, timeout=30).text
    assert "Built from" in page and "Active Listening" in page and "Perspective Taking" in page

    # A component from another issuer: tampered, or someone else's, does not count.
    genuine = hillcrest.issue(safety["id"])
    grace = hillcrest.issue(safety["id"], email="grace@example.org", name="Grace Hopper")
    route = f"/api/v1/learners/{learner}/credentials/external"
    tampered = copy.deepcopy(genuine["credential"])
    tampered["credentialSubject"]["achievement"]["name"] = "Workplace Safety (Advanced)"
    r = lakeside.post(route, json={"credential": tampered, "email": "ada@example.org"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "invalid" and r.json()["counts"] is False
    r = lakeside.post(route, json={"credential": grace["credential"], "email": "ada@example.org"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "recipient_mismatch"
    r = hillcrest.post(route, json={"credential": genuine["credential"], "email": "ada@example.org"})
    assert r.status_code == 404  # another issuer's learner
    # The genuine one, as a baked PNG from the verifier: counts once it verifies (pending until anchored).
    png = wait_for(lambda: (p := httpx.get(genuine["url"] + "/badge.png", timeout=30)).status_code == 200 and p.content,
                   what="the baked badge")
    r = lakeside.post(route + "?email=ada@example.org", content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] in ("valid", "pending")
    [big] = wait_for(lambda: _awarded(lakeside, learner, stacked["id"]), timeout=60, what="the stacked credential")
    report = wait_for(lambda: (rep := _report(stack, big["url"]))["status"] == "valid"
                      and all(c["status"] == "valid" for c in rep["components"]) and rep, timeout=60,
                      what="the stacked credential valid")
    by_url = {c["url"]: c for c in report["components"]}
    assert by_url[genuine["url"]]["status"] == "valid"
    nested = by_url[award["url"]]["components"]
    assert {c["url"] for c in nested} == {first["url"], second["url"]}
    # the same PNG again changes nothing (200, the same record), and the award stays single
    r = lakeside.post(route + "?email=ada@example.org", content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    assert len(_awarded(lakeside, learner, stacked["id"])) == 1

    # A revoked component: the stacked credentials are not revoked, their reports say which component broke.
    r = lakeside.post(f"/api/v1/credentials/{first['id']}/revoke", json={"reason": "assessment voided"})
    assert r.status_code == 200
    report = wait_for(lambda: (rep := _report(stack, award["url"]))["componentsValid"] is False and rep,
                      timeout=30, what="the broken component reported")
    assert report["status"] == "valid"
    assert any("Active Listening is revoked" in p for p in report["componentProblems"])
    big_report = wait_for(lambda: (rep := _report(stack, big["url"]))["componentsValid"] is False and rep,
                          timeout=30, what="the broken nested component reported")
    assert any("Active Listening is revoked" in p for p in big_report["componentProblems"])


def test_a_revoked_external_component_never_counts(stack):
    lakeside, hillcrest = new_issuer(stack.url("issuer"), "lakeside2"), new_issuer(stack.url("issuer"), "hillcrest2")
    safety = _achievement(hillcrest, "Workplace Safety")
    local = _achievement(lakeside, "Induction")
    pathway = _achievement(lakeside, "Site Ready", requires={"all_of": [
        local["id"], {"achievement": safety["achievement"]["id"], "issuer": hillcrest.info["did"]}]})
    learner = lakeside.issue(local["id"], email="lin@example.org", name="Lin")["learner_id"]
    theirs = hillcrest.issue(safety["id"], email="lin@example.org", name="Lin")
    assert hillcrest.post(f"/api/v1/credentials/{theirs['id']}/revoke", json={"reason": "failed audit"}).status_code == 200
    r = lakeside.post(f"/api/v1/learners/{learner}/credentials/external",
                      json={"credential": theirs["credential"], "email": "lin@example.org"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "revoked" and r.json()["counts"] is False
    lakeside.issue(local["id"], email="lin@example.org", name="Lin")  # another award job for Lin
    listed = lakeside.get(f"/api/v1/learners/{learner}/credentials/external").json()["items"]
    assert [i["state"] for i in listed] == ["revoked"]
    assert wait_for(lambda: lakeside.get(f"/api/v1/learners/{learner}/credentials").json()["items"], what="items")
    assert _awarded(lakeside, learner, pathway["id"]) == []
