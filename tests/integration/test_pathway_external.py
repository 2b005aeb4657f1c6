"""External components over the issuer API with a stand-in verifier (docs/pathways.md,
"Components from elsewhere"): the recipient must be the learner, and only a ``valid`` verdict
counts — no answer is ``pending`` (fail closed) until a later check says otherwise. The real
verifier is in tests/e2e/test_pathways_stack.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from services.core import baking
from services.issuer.models import ExternalCredential, PathwayAward
from services.issuer.pathways.runner import AwardRunner
from services.issuer.pathways.verifier_client import VerifierUnavailable
from tests.integration.issuer_support import auth, create_achievement, create_issuer, issue, issuer_client, tiny_png


class StandInVerifier:
    def __init__(self):
        self.answers: dict[str, str] = {}  # credential id -> status; missing = unreachable
        self.calls = 0

    def verify(self, credential):
        self.calls += 1
        status = self.answers.get(credential.get("id"))
        if status is None:
            raise VerifierUnavailable("the verifier did not answer: test says down")
        return {"verified": status == "valid", "status": status, "checks": []}

    def close(self):
        pass


@pytest.fixture
def setup(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_awards=False, external_freshness=0) as client:
        verifier = StandInVerifier()
        client.app.state.verifier = verifier
        ours = create_issuer(client, "lakeside")["api_key"]
        theirs = create_issuer(client, "hillcrest")
        local = create_achievement(client, ours, name="Induction")["id"]
        safety = create_achievement(client, theirs["api_key"], name="Workplace Safety")
        pathway = client.post("/api/v1/achievements", json={
            "name": "Site Ready", "description": "Induction and safety.", "criteria": {"narrative": "Both."},
            "requires": {"all_of": [local, {"achievement": safety["achievement"]["id"], "issuer": theirs["did"]}]}},
            headers=auth(ours)).json()["id"]
        learner = issue(client, ours, local)["learner_id"]
        external = issue(client, theirs["api_key"], safety["id"])
        yield client, verifier, ours, learner, external, pathway


def _run(client, verifier):
    runner = AwardRunner(client.settings, client.sessions, verifier=verifier)
    for _ in range(5):
        runner.tick()


def _awards(client) -> int:
    with client.sessions() as s:
        return s.scalar(select(func.count()).select_from(PathwayAward))


def test_no_verdict_is_pending_and_counts_once_the_verifier_says_valid(setup):
    client, verifier, ours, learner, external, pathway = setup
    route = f"/api/v1/learners/{learner}/credentials/external"
    r = client.post(route, json={"credential": external["credential"], "email": "ada@example.org"}, headers=auth(ours))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "pending" and r.json()["counts"] is False
    _run(client, verifier)
    assert _awards(client) == 0
    verifier.answers[external["url"]] = "valid"
    with client.sessions.begin() as s:  # due now rather than after the backoff
        s.execute(update(ExternalCredential).values(next_check_at=func.now()))
    _run(client, verifier)
    assert _awards(client) == 1
    assert client.get(route, headers=auth(ours)).json()["items"][0]["counts"] is True


def test_a_component_revoked_before_the_award_does_not_count(setup):
    client, verifier, ours, learner, external, pathway = setup
    verifier.answers[external["url"]] = "valid"
    r = client.post(f"/api/v1/learners/{learner}/credentials/external",
                    json={"credential": external["credential"], "email": "ada@example.org"}, headers=auth(ours))
    assert r.json()["state"] == "valid"
    verifier.answers[external["url"]] = "revoked"  # revoked before the runner gets to it
    _run(client, verifier)
    assert _awards(client) == 0
    with client.sessions() as s:
        assert s.scalar(select(ExternalCredential.state)) == "revoked"


def test_a_baked_png_is_read_and_the_recipient_must_be_the_learner(setup):
    client, verifier, ours, learner, external, pathway = setup
    verifier.answers[external["url"]] = "valid"
    route = f"/api/v1/learners/{learner}/credentials/external"
    png = baking.bake(tiny_png(), external["credential"])
    r = client.post(route + "?email=someone@example.org", content=png, headers={**auth(ours), "Content-Type": "image/png"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "recipient_mismatch"
    r = client.post(route, content=png, headers={**auth(ours), "Content-Type": "image/png"})  # no email, no DID
    assert r.status_code == 422 and r.json()["error"]["code"] == "recipient_mismatch"
    r = client.post(route + "?email=ada@example.org", content=png, headers={**auth(ours), "Content-Type": "image/png"})
    assert r.status_code == 201 and r.json()["state"] == "valid", r.text
    r = client.post(route + "?email=ada@example.org", content=png, headers={**auth(ours), "Content-Type": "image/png"})
    assert r.status_code == 200
    r = client.post(route, content=b"\x89PNG\r\n\x1a\nbroken", headers={**auth(ours), "Content-Type": "image/png"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_credential"
    _run(client, verifier)
    assert _awards(client) == 1


def test_bad_submissions_are_refused(setup):
    client, verifier, ours, learner, external, pathway = setup
    route = f"/api/v1/learners/{learner}/credentials/external"
    own = issue(client, ours, client.get("/api/v1/achievements", headers=auth(ours)).json()[0]["id"])
    r = client.post(route, json={"credential": own["credential"], "email": "ada@example.org"}, headers=auth(ours))
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_external"
    r = client.post(route, json={"credential": {"id": "x"}}, headers=auth(ours))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_credential"
    r = client.post(route, json={"nope": 1}, headers=auth(ours))
    assert r.status_code == 422
    r = client.post("/api/v1/learners/lrn_nobody/credentials/external",
                    json={"credential": external["credential"], "email": "ada@example.org"}, headers=auth(ours))
    assert r.status_code == 404
    assert verifier.calls == 0  # nothing refused was sent to the verifier
