"""Achievements with a competency level, a skill category, credits and hours (docs/issuer.md, "Achievements").

Over the real app and database: what is stored is answered, filtered, carried into the
credential as OB 3.0 terms (safe-mode canonicalisation passes, the 1EdTech JSON Schema too).
"""

from __future__ import annotations

import json

import pytest

from services.core.jsonld import canonicalize
from tests.integration.issuer_support import SCHEMA, auth, create_achievement, create_issuer, issue, issuer_client

ONET = {"targetName": "Active Listening", "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.A.1.b",
        "targetFramework": "O*NET", "targetCode": "2.A.1.b"}
ESCO = {"targetName": "listen actively", "targetFramework": "ESCO", "targetCode": "S1.1.1",
        "targetUrl": "http://data.europa.eu/esco/skill/0e8ab2bd-9f12-4d05-8c2b-1ed8e6b1e1d2"}


@pytest.fixture
def lakeside(sqlite_url, tmp_path):
    with issuer_client(sqlite_url, tmp_path, run_batches=False) as client:
        yield client, create_issuer(client)["api_key"]


def test_level_category_credits_and_hours_are_stored_and_carried_into_the_credential(lakeside):
    client, key = lakeside
    achievement = create_achievement(client, key, name="Active Listening", level="foundational",
                                     category="soft", hours=4, credits=0.5, alignment=[ONET, ESCO],
                                     achievementType="Competency")
    assert (achievement["level"], achievement["category"], achievement["hours"], achievement["credits"]) == \
        ("foundational", "soft", 4, 0.5)
    document = achievement["achievement"]
    assert document["fieldOfStudy"] == "soft" and document["creditsAvailable"] == 0.5
    assert document["achievementType"] == "Competency"
    [level] = document["resultDescription"]
    assert level["resultType"] == "RubricCriterionLevel"
    assert level["requiredLevel"] == f"{document['id']}#level-foundational"
    assert [x["level"] for x in level["rubricCriterionLevel"]] == ["foundational", "intermediate", "advanced"]
    assert "hours" not in json.dumps(document)  # no OB 3.0 term: kept by the issuer only
    credential = issue(client, key, achievement["id"])["credential"]
    assert credential["credentialSubject"]["achievement"] == document
    nquads = canonicalize({k: v for k, v in credential.items() if k != "proof"})  # strict safe mode
    assert "https://purl.imsglobal.org/spec/vc/ob/vocab.html#requiredLevel" in nquads
    assert "https://purl.imsglobal.org/spec/vc/ob/vocab.html#fieldOfStudy" in nquads
    if SCHEMA.exists():
        from jsonschema import Draft201909Validator
        validator = Draft201909Validator(json.loads(SCHEMA.read_text()))
        variant = {**credential, "credentialStatus": credential["credentialStatus"][0]}
        assert not list(validator.iter_errors(variant))


def test_achievements_are_filtered_by_level_and_category(lakeside):
    client, key = lakeside
    a = create_achievement(client, key, name="Listening", level="foundational", category="soft")
    b = create_achievement(client, key, name="Empathy", level="intermediate", category="Soft")
    c = create_achievement(client, key, name="Drones", level="advanced", category="technical")
    plain = create_achievement(client, key, name="Plain")

    def ids(**params):
        r = client.get("/api/v1/achievements", params=params, headers=auth(key))
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert ids() == [a["id"], b["id"], c["id"], plain["id"]]
    assert ids(level="intermediate") == [b["id"]]
    assert ids(category="soft") == [a["id"], b["id"]]  # regardless of case
    assert ids(category="soft", level="foundational") == [a["id"]]
    assert ids(category="industry") == []
    assert "level" not in plain["achievement"] and "resultDescription" not in plain["achievement"]


@pytest.mark.parametrize("field,value", [("level", "expert"), ("level", "Foundational"), ("credits", -1),
                                         ("hours", 0), ("category", "a\u202eb"), ("category", "x" * 65)])
def test_bad_values_are_refused(lakeside, field, value):
    client, key = lakeside
    r = client.post("/api/v1/achievements", headers=auth(key), json={
        "name": "X", "description": "Y", "criteria": {"narrative": "Z"}, field: value})
    assert r.status_code == 422 and r.json()["error"]["code"] in ("invalid_request", "unsafe_text")
    assert client.get("/api/v1/achievements", headers=auth(key)).json() == []
    bad_filter = client.get("/api/v1/achievements", params={"level": "expert"}, headers=auth(key))
    assert bad_filter.status_code == 422
