"""POST /api/v1/verify with a pasted credential: answered below FastAPI's routing, as the declared route would.

The declared route still takes every other body; ``{"credential": X, "url": null}`` is one of
them, so it gives the declared route's answer for the same credential to compare with.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.core.web import JSON_BODY
from services.verifier.app import create_app
from services.verifier.pasted import pasted_credential
from services.verifier.settings import VerifierSettings
from tests.unit.test_observability import TOKEN, value
from tests.unit.verifier_fakes import BASE, CREDENTIAL, FakeChecker

COMPARED = ("content-type", "cache-control", "content-security-policy", "x-frame-options", "x-content-type-options",
            "referrer-policy", "cross-origin-opener-policy")


def _client(tmp_path, checker, **settings) -> TestClient:
    config = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="0x" + "ab" * 20,
                              metrics_token=TOKEN, **settings)
    return TestClient(create_app(config, checker=checker))


@pytest.mark.parametrize("body,taken", [
    ({"credential": {"id": "x"}}, True),
    ({"credential": {}}, True),
    ({"credential": {"id": "x"}, "url": None}, False),
    ({"url": "https://example.org/c/1"}, False),
    ({"credential": [1]}, False),
    ({"credential": "text"}, False),
    ({"credential": None}, False),
    ([{"credential": {}}], False),
    ("text", False),
])
def test_only_a_body_of_exactly_one_credential_object_is_taken(body, taken):
    found = pasted_credential({JSON_BODY: body})
    assert (found is not None) == taken
    if taken:
        assert found is body["credential"]
    assert pasted_credential({}) is None  # nothing parsed (no JSON body): the declared route


def test_the_fast_path_answers_as_the_declared_route_does(tmp_path):
    checker = FakeChecker()
    with _client(tmp_path, checker) as client:
        fast = client.post("/api/v1/verify", json={"credential": CREDENTIAL})
        declared = client.post("/api/v1/verify", json={"credential": CREDENTIAL, "url": None})
    assert fast.status_code == declared.status_code == 200
    assert fast.json() == declared.json() and fast.json()["credential"]["name"] == "Critical Thinking"
    for header in COMPARED:
        assert fast.headers.get(header) == declared.headers.get(header), header
    assert fast.headers["cache-control"] == "no-store" and len(fast.headers["x-request-id"]) == 32
    assert int(fast.headers["content-length"]) == len(fast.content)
    assert checker.documents == [CREDENTIAL, CREDENTIAL]


def test_fast_path_requests_are_timed_under_the_route_template(tmp_path):
    with _client(tmp_path, FakeChecker()) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(3):
            assert client.post("/api/v1/verify", json={"credential": CREDENTIAL}).status_code == 200
        text = client.get("/metrics", headers=auth).text
    assert value(text, "microcred_http_request_duration_seconds_count", method="POST", route="/api/v1/verify",
                 status="2xx") == 3


def test_the_rate_limit_holds_on_the_fast_path(tmp_path):
    checker = FakeChecker()
    with _client(tmp_path, checker, rate_limit_per_minute=3) as client:
        codes = [client.post("/api/v1/verify", json={"credential": CREDENTIAL}) for _ in range(6)]
    assert [r.status_code for r in codes][:3] == [200] * 3 and codes[-1].status_code == 429
    assert codes[-1].json()["error"]["code"] == "rate_limited" and int(codes[-1].headers["retry-after"]) >= 1
    assert len(checker.documents) == sum(r.status_code == 200 for r in codes)  # a refused one checks nothing


@pytest.mark.parametrize("content,status,code", [
    (b'{"credential": {"id": "x"', 422, "invalid_json"),
    (b'{"credential": {"n": 1e400}}', 422, "invalid_json"),
    (b'{"credential": {"x": "' + b"a" * (1024 * 1024) + b'"}}', 413, "payload_too_large"),
    (b'{"credential": {"id": "x"}, "other": 1}', 422, "invalid_request"),
    (b'{"credential": 5}', 422, "invalid_request"),
])
def test_bodies_the_guards_or_the_declared_route_refuse_never_reach_the_checker(tmp_path, content, status, code):
    checker = FakeChecker()
    with _client(tmp_path, checker) as client:
        r = client.post("/api/v1/verify", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert checker.documents == []
