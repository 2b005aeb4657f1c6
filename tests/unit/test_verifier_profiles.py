"""A learner's profile on the verifier with a fake checker: the verifier's own verdicts decide the
progress, the JSON keys, grouping, escaping, headers, the embed, oEmbed, and 404 the moment a
listing is gone."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from services.verifier.app import create_app
from services.verifier.settings import VerifierSettings
from tests.unit.verifier_fakes import BASE, CREDENTIAL, FakeProfileChecker

PROFILE_ID = "PrOfIlE_0123456789-abcdefghijklm"
HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}
NAMES = {"nanoAAAAAAAAAAAAAAAA01": "Active Listening", "nanoBBBBBBBBBBBBBBBB02": "Perspective Taking",
         "nanoCCCCCCCCCCCCCCCC03": "Conflict <Resolution>", "microDDDDDDDDDDDDDDD04": "Customer Empathy",
         "otherEEEEEEEEEEEEEEE05": "First Aid"}


def _credential(credential_id: str, name: str, level: str | None = None) -> dict:
    c = copy.deepcopy(CREDENTIAL)
    c["id"] = f"{BASE}/c/{credential_id}"
    c["credentialSubject"]["achievement"]["name"] = name
    if level:
        c["credentialSubject"]["achievement"]["resultDescription"] = [{
            "id": "urn:rd", "type": ["ResultDescription"], "resultType": "RubricCriterionLevel", "requiredLevel": "urn:l",
            "rubricCriterionLevel": [{"id": "urn:l", "type": ["RubricCriterionLevel"], "name": level}]}]
    return c


def _url(credential_id: str) -> str:
    return f"{BASE}/c/{credential_id}"


def _listing(held: tuple[str, ...], awarded: bool) -> dict:
    ids = [*held, *(["microDDDDDDDDDDDDDDD04"] if awarded else []), "otherEEEEEEEEEEEEEEE05"]
    nanos = ["nanoAAAAAAAAAAAAAAAA01", "nanoBBBBBBBBBBBBBBBB02", "nanoCCCCCCCCCCCCCCCC03"]
    return {"profile_id": PROFILE_ID, "issuer": {"id": "did:web:x", "name": "Cascade & Co", "url": "javascript:alert(1)"},
            "credentials": [{"id": i, "url": _url(i), "achievement_id": "a", "pathway": i.startswith("micro")} for i in ids]
            + [{"id": "x", "url": "https://elsewhere.example/c/AAAAAAAAAAAAAAAAAAAA", "achievement_id": None,
                "pathway": False}],
            "pathways": [{"achievement_id": "ach_micro", "name": "Customer Empathy", "required": 3, "of": 3,
                          "held": len(held), "complete": awarded,
                          "credential_url": _url("microDDDDDDDDDDDDDDD04") if awarded else None,
                          "components": [{"achievement_id": f"ach_{n}", "name": NAMES[n], "held": n in held,
                                          "credential_url": _url(n) if n in held else None, "external": False}
                                         for n in nanos]}]}


def _checker(held=("nanoAAAAAAAAAAAAAAAA01", "nanoBBBBBBBBBBBBBBBB02"), awarded=False, statuses=None):
    credentials = {i: _credential(i, n, "Foundational" if i.startswith("nano") else None) for i, n in NAMES.items()}
    return FakeProfileChecker(credentials, {PROFILE_ID: _listing(held, awarded)}, statuses)


def _client(tmp_path, checker) -> TestClient:
    return TestClient(create_app(VerifierSettings(data_dir=tmp_path, public_base_url=BASE,
                                                  contract_address="0x" + "ab" * 20), checker=checker))


def test_the_json_has_stable_keys_and_the_verifiers_own_count(tmp_path):
    with _client(tmp_path, _checker()) as client:
        r = client.get(f"/p/{PROFILE_ID}", headers=JSON)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"profile_id", "url", "learner_name", "issuer", "checked_at", "counts", "credentials",
                         "pathways"}
    assert body["url"] == f"{BASE}/p/{PROFILE_ID}" and body["learner_name"] == "Ada Lovelace"
    assert body["issuer"] == {"id": "did:web:x", "name": "Cascade & Co", "url": None}  # a javascript: URL is no link
    # another host's URL in a listing is never checked nor shown
    assert [c["url"] for c in body["credentials"]] == [_url("nanoAAAAAAAAAAAAAAAA01"), _url("nanoBBBBBBBBBBBBBBBB02"),
                                                       _url("otherEEEEEEEEEEEEEEE05")]
    first = body["credentials"][0]
    assert set(first) >= {"id", "url", "name", "achievement", "level", "skills", "status", "verified", "pathway"}
    assert (first["name"], first["level"], first["status"], first["verified"]) == ("Active Listening", "Foundational",
                                                                                   "valid", True)
    assert first["skills"] == [{"name": "Analysis", "framework": "ESCO", "code": "S1.2",
                                "url": "https://skills.example/analysis"}]
    (pathway,) = body["pathways"]
    assert {k: pathway[k] for k in ("name", "required", "held", "complete", "credential_url", "text")} == {
        "name": "Customer Empathy", "required": 3, "held": 2, "complete": False, "credential_url": None,
        "text": "2 of 3 toward Customer Empathy"}
    assert body["counts"] == {"credentials": 3, "valid": 3}


def test_a_revoked_component_does_not_count_and_an_awarded_pathway_is_complete(tmp_path):
    held = ("nanoAAAAAAAAAAAAAAAA01", "nanoBBBBBBBBBBBBBBBB02", "nanoCCCCCCCCCCCCCCCC03")
    with _client(tmp_path, _checker(held, True, {"nanoBBBBBBBBBBBBBBBB02": "revoked"})) as client:
        body = client.get(f"/p/{PROFILE_ID}", headers=JSON).json()
    (pathway,) = body["pathways"]
    assert (pathway["held"], pathway["complete"]) == (2, True)  # the issuer said 3; this verifier finds one revoked
    assert pathway["credential_url"] == _url("microDDDDDDDDDDDDDDD04")
    assert [c["held"] for c in pathway["components"]] == [True, False, True]
    with _client(tmp_path, _checker(held, True, {"microDDDDDDDDDDDDDDD04": "invalid"})) as client:
        (pathway,) = client.get(f"/p/{PROFILE_ID}", headers=JSON).json()["pathways"]
    assert pathway["complete"] is False  # an awarded credential that does not verify completes nothing


def test_the_page_groups_by_pathway_with_an_accessible_progress_bar(tmp_path):
    with _client(tmp_path, _checker()) as client:
        r = client.get(f"/p/{PROFILE_ID}", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert '<progress id="progress-1" max="3" value="2"' in html
    assert "2 of 3 toward <em>Customer Empathy</em>" in html
    assert "Still to earn: Conflict &lt;Resolution&gt;" in html and "<Resolution>" not in html  # escaped
    assert html.index("Customer Empathy") < html.index("Other credentials") < html.index("First Aid")
    assert html.count('class="cred"') == 3 and html.count('data-status="valid"') >= 3
    assert 'href="https://skills.example/analysis"' in html and '<span class="level">Foundational</span>' in html
    assert "javascript:" not in html
    assert f'type="application/json+oembed" href="{BASE}/oembed?url=http%3A%2F%2F127.0.0.1%3A8000%2Fp%2F{PROFILE_ID}' in html


def test_the_embed_is_framable_and_shows_every_badge(tmp_path):
    with _client(tmp_path, _checker()) as client:
        r = client.get(f"/p/{PROFILE_ID}/embed")
        assert r.status_code == 200 and "x-frame-options" not in r.headers
        assert "frame-ancestors *" in r.headers["content-security-policy"]
        assert r.text.count("/badge.svg") == 3 and "2 of 3 toward Customer Empathy" in r.text
        o = client.get("/oembed", params={"url": f"{BASE}/p/{PROFILE_ID}", "maxwidth": 300})
        assert o.status_code == 200 and o.headers["cache-control"] == "no-store"
        body = o.json()
        assert body["type"] == "rich" and body["title"] == "Credentials of Ada Lovelace" and body["width"] == 300
        assert f'src="{BASE}/p/{PROFILE_ID}/embed"' in body["html"]


def test_a_withdrawn_profile_is_404_at_once_everywhere(tmp_path):
    checker = _checker()
    with _client(tmp_path, checker) as client:
        for _ in range(2):  # read (and so cached, if anything were) before the withdrawal
            assert client.get(f"/p/{PROFILE_ID}", headers=JSON).status_code == 200
        checker.profiles.clear()  # the issuer now answers 404
        assert client.get(f"/p/{PROFILE_ID}", headers=JSON).json()["error"]["code"] == "not_found"
        page = client.get(f"/p/{PROFILE_ID}", headers=HTML)
        assert page.status_code == 404 and "its owner withdrew it" in page.text
        assert client.get(f"/p/{PROFILE_ID}/embed").status_code == 404
        assert client.get("/oembed", params={"url": f"{BASE}/p/{PROFILE_ID}"}).status_code == 404
        reads = checker.profile_reads
        for bad in ("short", "x" * 65, "has.dot.in.it.0123456"):
            assert client.get(f"/p/{bad}", headers=JSON).status_code == 404
        assert checker.profile_reads == reads  # a malformed id never reaches the issuer


@pytest.mark.parametrize("url", [f"{BASE}/p/", f"{BASE}/p/short", "https://elsewhere.example/p/" + PROFILE_ID])
def test_oembed_refuses_what_is_not_our_profile(tmp_path, url):
    with _client(tmp_path, _checker()) as client:
        assert client.get("/oembed", params={"url": url}).status_code == 404


def test_a_credential_that_cannot_be_read_now_is_unavailable_and_an_issuer_down_is_503(tmp_path):
    from services.core.errors import UpstreamUnavailable

    checker = _checker()
    original = checker.verify_credential_id

    async def flaky(credential_id):
        if credential_id == "nanoBBBBBBBBBBBBBBBB02":
            raise UpstreamUnavailable("the issuer service answered 502")
        return await original(credential_id)

    checker.verify_credential_id = flaky
    with _client(tmp_path, checker) as client:
        body = client.get(f"/p/{PROFILE_ID}", headers=JSON).json()
        assert [c["status"] for c in body["credentials"]] == ["valid", "unavailable", "valid"]
        assert body["pathways"][0]["held"] == 1  # what cannot be checked now does not count

        async def down(profile_id):
            raise UpstreamUnavailable("the issuer service could not be reached (ConnectError)")

        checker.fetch_profile = down
        r = client.get(f"/p/{PROFILE_ID}", headers=JSON)
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"


def test_profiles_share_the_verification_rate_limit(tmp_path):
    """Each view checks every listed credential, so a client gets the verify API's budget, no more."""
    settings = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="0x" + "ab" * 20,
                                rate_limit_per_minute=20)  # a burst of 5
    with TestClient(create_app(settings, checker=_checker())) as client:
        codes = [client.get(f"/p/{PROFILE_ID}" + ("/embed" if i % 2 else ""), headers=JSON).status_code
                 for i in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
