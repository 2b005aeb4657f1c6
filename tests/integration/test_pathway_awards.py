"""Pathway awards over the issuer API, on SQLite and PostgreSQL (docs/pathways.md, "Exactly once").

The award runner is driven by hand here (``run_awards=False``), so each test says when it runs;
several runners at once stand for several processes.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from services.core.jsonld import canonicalize
from services.issuer.models import AwardJob, Credential, PathwayAward
from services.core.multiformats import digest_multibase, sha256_from_digest_multibase as hash_from_digest
from services.issuer.pathways.runner import AwardRunner
from tests.integration.issuer_support import SCHEMA, auth, create_achievement, create_issuer, issue, issuer_client


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_awards=False) as c:
        yield c


def _nano(client, key, name):
    return create_achievement(client, key, name=name, achievementType="Competency")["id"]


def _pathway(client, key, requires, name="Customer Empathy", **extra):
    r = client.post("/api/v1/achievements", json={
        "name": name, "description": "Stacks its nano-credentials.", "criteria": {"narrative": "Hold them all."},
        "achievementType": "MicroCredential", "requires": requires, **extra}, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _run(client, runners: int = 1) -> None:
    """Work every award job, with ``runners`` runners at once, until none is left."""
    pool = [AwardRunner(client.settings, client.sessions, holder=f"runner-{n}") for n in range(runners)]
    for _ in range(10):
        with ThreadPoolExecutor(runners) as ex:
            list(ex.map(lambda r: r.tick(), pool))
        with client.sessions() as s:
            if not s.scalar(select(func.count()).select_from(AwardJob)):
                return
    raise AssertionError("award jobs left over")


def _awarded(client, learner_id, pathway_id) -> list[Credential]:
    with client.sessions() as s:
        return list(s.scalars(select(Credential).where(Credential.learner_id == learner_id,
                                                       Credential.achievement_id == pathway_id)))


def _learner_items(client, key, learner_id) -> list[dict]:
    r = client.get(f"/api/v1/learners/{learner_id}/credentials", headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_the_last_component_awards_the_pathway_naming_its_components(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Perspective Taking")
    micro = _pathway(client, key, {"all_of": [a, b]}, validity_days=365)
    first = issue(client, key, a)
    _run(client)
    assert _awarded(client, first["learner_id"], micro) == []  # one of two: nothing yet
    second = issue(client, key, b, email=" ADA@example.org ")  # the same learner, however the address is written
    assert second["learner_id"] == first["learner_id"]
    _run(client)
    [award] = _awarded(client, first["learner_id"], micro)
    document = json.loads(award.document)
    evidence = {e["id"]: e for e in document["evidence"]}
    assert set(evidence) == {first["url"], second["url"]}
    for component in (first, second):
        e = evidence[component["url"]]
        assert hash_from_digest(e["digestMultibase"]) == component["credential_hash"]
        assert component["credential_hash"] in e["narrative"] and e["type"] == ["Evidence"]
    assert document["credentialSubject"]["identifier"] == second["credential"]["credentialSubject"]["identifier"]
    assert document["credentialSubject"]["achievement"]["name"] == "Customer Empathy"
    assert "validUntil" in document
    canonicalize({k: v for k, v in document.items() if k != "proof"})  # strict safe mode
    items = {i["achievement_id"]: i for i in _learner_items(client, key, first["learner_id"])}
    assert items[micro]["pathway"] is True and items[a]["pathway"] is False


def test_the_pathway_credential_meets_the_ob3_json_schema(client):
    if not SCHEMA.exists():
        pytest.skip(f"OB 3.0 JSON Schema not found at {SCHEMA}")
    from jsonschema import Draft201909Validator
    validator = Draft201909Validator(json.loads(SCHEMA.read_text()), format_checker=Draft201909Validator.FORMAT_CHECKER)
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    micro = _pathway(client, key, {"all_of": [a]})
    learner = issue(client, key, a)["learner_id"]
    _run(client)
    [award] = _awarded(client, learner, micro)
    document = json.loads(award.document)
    for entry in document["credentialStatus"]:  # our one known departure: two entries (see test_issuer_ob3_schema)
        errors = list(validator.iter_errors({**document, "credentialStatus": entry}))
        assert not errors, [e.message for e in errors[:5]]


def test_nested_pathways_award_in_one_pass_nano_micro_stacked(client):
    key = create_issuer(client)["api_key"]
    a, b, c = (_nano(client, key, n) for n in ("Active Listening", "Perspective Taking", "De-escalation"))
    micro = _pathway(client, key, {"all_of": [a, b]})
    stacked = _pathway(client, key, {"all_of": [micro, c]}, name="Customer Service Certificate")
    learner = issue(client, key, a)["learner_id"]
    issue(client, key, c)
    _run(client)
    assert _awarded(client, learner, stacked) == []
    issue(client, key, b)
    _run(client)
    [m] = _awarded(client, learner, micro)
    [s] = _awarded(client, learner, stacked)
    urls = {e["id"] for e in json.loads(s.document)["evidence"]}
    assert json.loads(m.document)["id"] in urls and len(urls) == 2


def test_k_of_n_awards_at_the_kth_and_not_again_at_the_nth(client):
    key = create_issuer(client)["api_key"]
    a, b, c = (_nano(client, key, n) for n in ("One", "Two", "Three"))
    micro = _pathway(client, key, {"k_of_n": {"k": 2, "of": [a, b, c]}})
    learner = issue(client, key, a)["learner_id"]
    _run(client)
    assert _awarded(client, learner, micro) == []
    issue(client, key, c)
    _run(client)
    assert len(_awarded(client, learner, micro)) == 1
    issue(client, key, b)
    _run(client)
    assert len(_awarded(client, learner, micro)) == 1
    [award] = _awarded(client, learner, micro)
    assert len(json.loads(award.document)["evidence"]) == 2


def test_twenty_parallel_issues_of_the_last_component_award_exactly_once(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Perspective Taking")
    micro = _pathway(client, key, {"all_of": [a, b]})
    learner = issue(client, key, a)["learner_id"]
    start = threading.Barrier(20)

    def one(_):
        start.wait()
        r = client.post("/api/v1/credentials", json={"achievement_id": b, "recipient": {
            "name": "Ada Lovelace", "email": "ada@example.org"}}, headers=auth(key))
        return r.status_code

    with ThreadPoolExecutor(20) as ex:
        statuses = list(ex.map(one, range(20)))
    assert statuses == [201] * 20
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardJob)) >= 1
    _run(client, runners=4)  # four runners at once, as four processes would
    assert len(_awarded(client, learner, micro)) == 1
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PathwayAward)) == 1
    _run(client, runners=2)  # and a later pass changes nothing
    assert len(_awarded(client, learner, micro)) == 1


def test_the_same_job_worked_twice_at_once_awards_once(client):
    """Two runners on the same learner's jobs at the same moment: the unique award row decides."""
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    micro = _pathway(client, key, {"all_of": [a]})
    learner = issue(client, key, a)["learner_id"]
    issue(client, key, a)  # the component twice: two jobs
    with client.sessions() as s:
        jobs = list(s.scalars(select(AwardJob.id)))
    assert len(jobs) == 2
    runners = [AwardRunner(client.settings, client.sessions, holder=f"r{n}") for n in range(2)]
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda pair: pair[0].process(pair[1]), zip(runners, jobs)))
    _run(client)
    assert len(_awarded(client, learner, micro)) == 1


def test_awards_happen_while_the_registry_is_down(client):
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    micro = _pathway(client, key, {"all_of": [a]})
    client.registry.up = False
    learner = issue(client, key, a)["learner_id"]
    _run(client)
    [award] = _awarded(client, learner, micro)
    assert award.anchor_state.value == "pending"  # its anchor waits in the outbox like any other


def test_a_revoked_suspended_or_other_learners_component_does_not_count(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Perspective Taking")
    micro = _pathway(client, key, {"all_of": [a, b]})
    first = issue(client, key, a)
    client.post(f"/api/v1/credentials/{first['id']}/revoke", json={"reason": "issued in error"}, headers=auth(key))
    issue(client, key, b)
    issue(client, key, a, name="Grace Hopper", email="grace@example.org")  # someone else's a
    _run(client)
    assert _awarded(client, first["learner_id"], micro) == []
    again = issue(client, key, a)  # earned again
    _run(client)
    assert len(_awarded(client, again["learner_id"], micro)) == 1


def test_a_batch_row_can_complete_a_pathway(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Perspective Taking")
    micro = _pathway(client, key, {"all_of": [a, b]})
    learner = issue(client, key, a)["learner_id"]
    r = client.post("/api/v1/credentials/batch", json={"achievement_id": b, "recipients": [
        {"name": "Ada Lovelace", "email": "ada@example.org"}, {"name": "Grace Hopper", "email": "grace@example.org"}]},
        headers=auth(key))
    assert r.status_code == 202, r.text
    from services.issuer.batches.runner import BatchRunner
    from services.issuer.signing import SigningPool
    pool = SigningPool(1)
    try:
        BatchRunner(client.settings, client.sessions, pool).tick()
    finally:
        pool.shutdown()
    _run(client)
    assert len(_awarded(client, learner, micro)) == 1
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PathwayAward)) == 1  # Grace holds only b


def test_a_pathway_defined_after_its_components_were_earned_is_awarded(client):
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    learner = issue(client, key, a)["learner_id"]
    micro = _pathway(client, key, {"all_of": [a]})
    _run(client)
    assert len(_awarded(client, learner, micro)) == 1


def test_no_issuer_awards_on_anothers_components(client):
    ours = create_issuer(client, "lakeside")["api_key"]
    theirs = create_issuer(client, "hillcrest")["api_key"]
    a = _nano(client, ours, "Active Listening")
    theirs_a = _nano(client, theirs, "Active Listening")
    _pathway(client, ours, {"all_of": [a]})
    learner_there = issue(client, theirs, theirs_a)["learner_id"]  # same person, other issuer
    _run(client)
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PathwayAward)) == 0
    r = client.get(f"/api/v1/learners/{learner_there}/credentials", headers=auth(ours))
    assert r.status_code == 404


def test_digest_multibase_round_trips():
    h = "0x" + "ab" * 32
    assert hash_from_digest(digest_multibase(h)) == h
    assert hash_from_digest("zabc") is None and hash_from_digest("u" + "A" * 10) is None
