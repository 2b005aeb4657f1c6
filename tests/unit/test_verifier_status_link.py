"""``GET /c/{id}/status`` (every credential's ``credentialStatus.id``) relays the issuer's public status."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from services.verifier.app import create_app
from services.verifier.settings import VerifierSettings
from tests.unit.verifier_fakes import FakeChecker

BASE = "https://verify.example"
ISSUER = "http://issuer.internal:8001"
KNOWN, REVOKED = "AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"


def _issuer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == f"/public/credentials/{KNOWN}/status":
        return httpx.Response(200, json={"revoked": False, "revokedAt": None, "reason": None})
    if path == f"/public/credentials/{REVOKED}/status":
        return httpx.Response(200, json={"revoked": True, "revokedAt": "2026-11-30T10:00:00Z", "reason": "withdrawn"})
    return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such credential"}})


@pytest.fixture
def make_client(tmp_path):
    def make(handler):
        settings = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, issuer_url=ISSUER,
                                    contract_address="0x" + "ab" * 20)
        client = TestClient(create_app(settings, checker=FakeChecker()))
        client.__enter__()
        client.app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        return client

    made = []
    yield lambda handler=_issuer: made.append(make(handler)) or made[-1]
    for client in made:
        client.__exit__(None, None, None)


def test_not_revoked_is_json_with_a_short_cache(make_client):
    client = make_client()
    for accept in ("application/json", "text/html,application/xhtml+xml", "*/*"):
        r = client.get(f"/c/{KNOWN}/status", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["id"] == f"{BASE}/c/{KNOWN}/status" and body["credential"] == f"{BASE}/c/{KNOWN}"
        assert body["revoked"] is False and body["revokedAt"] is None and body["reason"] is None
        assert body["checkedAt"].endswith("Z")
        assert r.headers["cache-control"] == "public, max-age=5"


def test_revoked_says_when_and_why_and_may_be_cached_longer(make_client):
    r = make_client().get(f"/c/{REVOKED}/status")
    assert r.status_code == 200
    assert r.json() | {"checkedAt": None} == {"id": f"{BASE}/c/{REVOKED}/status", "credential": f"{BASE}/c/{REVOKED}",
                                              "revoked": True, "revokedAt": "2026-11-30T10:00:00Z",
                                              "reason": "withdrawn", "checkedAt": None}
    assert r.headers["cache-control"] == "public, max-age=3600"


def test_head_answers_like_get(make_client):
    r = make_client().head(f"/c/{KNOWN}/status")
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("credential_id", ["CCCCCCCCCCCCCCCCCCCCCC", "short", "x" * 65, "bad.chars.in.id"])
def test_unknown_or_malformed_ids_are_404_json(make_client, credential_id):
    r = make_client().get(f"/c/{credential_id}/status", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("failure", ["down", "500", "garbage", "not-a-status"])
def test_an_issuer_that_does_not_answer_is_503_json_and_decides_nothing(make_client, failure):
    def handler(request: httpx.Request) -> httpx.Response:
        if failure == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if failure == "500":
            return httpx.Response(500, text="boom")
        if failure == "garbage":
            return httpx.Response(200, text="<html>")
        return httpx.Response(200, json={"revoked": "no"})

    r = make_client(handler).get(f"/c/{KNOWN}/status")
    assert r.status_code == 503 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "issuer_unavailable"
    assert r.headers["cache-control"] == "no-store" and r.headers["retry-after"] == "5"


def test_the_route_is_in_the_openapi_schema(make_client):
    assert "/c/{credential_id}/status" in make_client().get("/openapi.json").json()["paths"]
