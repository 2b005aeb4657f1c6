"""The verifier's routes with a fake checker: content negotiation, headers, embeds, oEmbed, uploads, limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.core import baking
from services.verifier.app import create_app
from services.verifier.badge import generated_png
from services.verifier.settings import VerifierSettings
from tests.unit.verifier_fakes import BASE, CREDENTIAL, CREDENTIAL_ID, FakeChecker

PAGE = f"/c/{CREDENTIAL_ID}"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _client(tmp_path, checker=None, **settings) -> TestClient:
    config = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="0x" + "ab" * 20, **settings)
    return TestClient(create_app(config, checker=checker or FakeChecker()))


@pytest.fixture
def client(tmp_path):
    with _client(tmp_path) as c:
        yield c


def test_the_page_is_html_for_browsers_and_the_report_for_json_clients(client):
    page = client.get(PAGE, headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Verified" in page.text and "Critical Thinking" in page.text
    assert page.headers["cache-control"] == "no-cache" and page.headers["vary"] == "Accept"
    report = client.get(PAGE, headers={"Accept": "application/json"}).json()
    assert set(report) == {"verified", "status", "checks", "credential", "anchor"}
    assert report["verified"] is True and report["credential"]["name"] == "Critical Thinking"
    assert [c["id"] for c in report["checks"]][0] == "format"


def test_every_response_but_the_embed_refuses_framing(client):
    for path in ("/", PAGE, f"{PAGE}/badge.svg", "/api/v1/health", "/static/verifier.css", "/c/nope-nope-nope"):
        r = client.get(path, headers=HTML)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"]
    embed = client.get(f"{PAGE}/embed")
    assert embed.status_code == 200 and "x-frame-options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert "x-embeddable" not in embed.headers
    assert "Critical Thinking" in embed.text and f'href="{BASE}{PAGE}"' in embed.text


def test_the_csp_allows_no_inline_script(client):
    csp = client.get(PAGE).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp


def test_an_unknown_credential_is_a_page_for_browsers_and_json_for_clients(client):
    page = client.get("/c/unknownunknown", headers=HTML)
    assert page.status_code == 404 and "Nothing here" in page.text and page.headers["content-type"].startswith("text/html")
    for path in ("/c/unknownunknown", "/c/unknownunknown/embed", "/c/x", "/c/unknownunknown/credential.json"):
        r = client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    assert client.get("/c/" + "x" * 65, headers=HTML).status_code == 404


def test_the_credential_file_and_the_badges(client):
    file = client.get(f"{PAGE}/credential.json")
    assert file.json() == CREDENTIAL and "attachment" in file.headers["content-disposition"]
    svg = client.get(f"{PAGE}/badge.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "Critical Thinking" in svg.text
    png = client.get(f"{PAGE}/badge.png")
    assert png.headers["content-type"] == "image/png" and baking.unbake(png.content) == CREDENTIAL


def test_oembed_answers_only_for_our_credential_urls(client):
    o = client.get("/oembed", params={"url": f"{BASE}{PAGE}", "format": "json"}).json()
    assert o["version"] == "1.0" and o["type"] == "rich" and o["title"] == "Critical Thinking"
    assert f'src="{BASE}{PAGE}/embed"' in o["html"] and o["width"] == 380
    assert o["thumbnail_url"] == f"{BASE}{PAGE}/badge.png"
    small = client.get("/oembed", params={"url": f"{BASE}{PAGE}", "maxwidth": 200}).json()
    assert small["width"] == 200 and 'width="200"' in small["html"]
    for url in ("https://elsewhere.example/c/" + CREDENTIAL_ID, f"{BASE}/docs", f"{BASE}/c/", BASE + ".evil.example/c/x",
                f"http://127.0.0.1:80001/c/{CREDENTIAL_ID}", f"{BASE}/c/unknownunknown"):
        assert client.get("/oembed", params={"url": url}).status_code == 404, url
    assert client.get("/oembed", params={"url": f"{BASE}{PAGE}", "format": "xml"}).status_code == 501
    assert client.get("/oembed", params={"url": f"{BASE}{PAGE}", "maxwidth": -1}).status_code == 422


def test_the_page_links_its_oembed_url_encoded(client):
    html = client.get(PAGE).text
    assert f"/oembed?url=http%3A%2F%2F127.0.0.1%3A8000%2Fc%2F{CREDENTIAL_ID}&amp;format=json" in html


def test_verify_api_takes_a_document_or_our_own_url(tmp_path):
    checker = FakeChecker()
    with _client(tmp_path, checker) as client:
        r = client.post("/api/v1/verify", json={"credential": CREDENTIAL})
        assert r.status_code == 200 and r.json()["status"] == "valid" and checker.documents == [CREDENTIAL]
        r = client.post("/api/v1/verify", json={"url": f"{BASE}{PAGE}"})
        assert r.json()["credential"]["id"] == CREDENTIAL["id"] and len(checker.documents) == 1  # by id, not fetched


@pytest.mark.parametrize("body,status", [({}, 422), ({"url": "x", "credential": {}}, 422), ({"nope": 1}, 422),
                                         ({"url": "file:///etc/passwd"}, 422), ({"url": "http://127.0.0.1:8545/"}, 422),
                                         ({"url": "http://169.254.169.254/"}, 422), ({"credential": [1]}, 422)])
def test_verify_api_refuses_bad_bodies_and_hostile_urls_with_json_errors(client, body, status):
    r = client.post("/api/v1/verify", json=body)
    assert r.status_code == status and set(r.json()["error"]) == {"code", "message"}


def test_a_refused_url_says_why(client):
    r = client.post("/api/v1/verify", json={"url": "http://10.0.0.1/c/x"})
    assert r.json()["error"] == {"code": "url_refused",
                                 "message": "10.0.0.1 points to a private or local address, which is not fetched"}


def test_bodies_over_the_limit_are_refused(client):
    r = client.post("/api/v1/verify", content=b'{"credential": {"x": "' + b"a" * (1024 * 1024) + b'"}}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_verify_api_is_rate_limited_with_retry_after(tmp_path):
    with _client(tmp_path, rate_limit_per_minute=20) as client:
        codes = [client.post("/api/v1/verify", json={"credential": CREDENTIAL}).status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[-1] == 429
        r = client.post("/api/v1/verify", json={"credential": CREDENTIAL})
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


def test_the_home_page_form_verifies_a_baked_png_a_json_file_and_redirects_our_own_link(client):
    home = client.get("/")
    assert home.status_code == 200 and 'enctype="multipart/form-data"' in home.text
    png = baking.bake(generated_png("Critical Thinking", "Cascade & Co"), CREDENTIAL)
    r = client.post("/verify", files={"file": ("badge.png", png, "image/png")})
    assert r.status_code == 200 and "Verified" in r.text and "Ada Lovelace" in r.text and "noindex" in r.text
    r = client.post("/verify", files={"file": ("c.json", b'{"id": "x"}', "application/json")})
    assert r.status_code == 200
    r = client.post("/verify", data={"url": f"{BASE}{PAGE}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == PAGE


@pytest.mark.parametrize("upload,message", [
    ((b"\x89PNG\r\n\x1a\nnot really", "image/png"), "truncated"),
    ((b"<html>", "text/html"), "neither a credential"),
    ((b"[1, 2]", "application/json"), "does not hold a credential"),
    ((b"{" + b" " * (600 * 1024) + b"}", "application/json"), "larger than"),
])
def test_the_home_page_form_explains_a_bad_file(client, upload, message):
    r = client.post("/verify", files={"file": ("f", *upload)})
    assert r.status_code in (413, 422) and message in r.text and "Verify a credential" in r.text


def test_the_home_page_form_asks_for_something(client):
    r = client.post("/verify", data={"url": ""})
    assert r.status_code == 422 and "paste a badge link or choose a file" in r.text


def test_the_openapi_document_lists_the_public_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/verify", "/c/{credential_id}", "/c/{credential_id}/embed", "/oembed",
                 "/c/{credential_id}/badge.svg", "/c/{credential_id}/credential.json"):
        assert path in paths


def test_head_is_answered_wherever_get_is(client):
    for path in (PAGE, f"{PAGE}/embed", f"{PAGE}/badge.svg", f"{PAGE}/badge.png", "/"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b"", path


def _with_issuer_images(client: TestClient, images: dict[str, tuple[bytes, str]]) -> list[str]:
    import httpx

    from services.verifier.badge import ImageSource

    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        found = images.get(str(request.url))
        if found is None:
            return httpx.Response(404)
        return httpx.Response(200, content=found[0], headers={"content-type": found[1]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client.app.state.images = ImageSource(http, "http://127.0.0.1:8001")
    return asked


def test_the_achievements_own_image_is_the_badge_and_the_baked_png_is_made_from_it(tmp_path):
    import copy

    png_url = "http://127.0.0.1:8001/public/images/" + "b" * 64 + ".png"
    logo_url = "http://127.0.0.1:8001/public/images/" + "c" * 64 + ".svg"
    credential = copy.deepcopy(CREDENTIAL)
    credential["credentialSubject"]["achievement"]["image"] = {"id": png_url, "type": "Image"}
    credential["issuer"]["image"] = {"id": logo_url, "type": "Image"}
    own_png = generated_png("Their own artwork", "")
    logo = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>'
    with _client(tmp_path, FakeChecker({PAGE.rsplit("/", 1)[1]: credential})) as client:
        asked = _with_issuer_images(client, {png_url: (own_png, "image/png"), logo_url: (logo, "image/svg+xml")})
        svg = client.get(f"{PAGE}/badge.svg").text
        assert "data:image/png;base64," in svg and "<image" in svg
        baked = client.get(f"{PAGE}/badge.png").content
        assert baking.unbake(baked) == credential
        assert [k for _, _, k, _ in baking.chunks(baked)] == [k for _, _, k, _ in baking.chunks(own_png)][:-1] + [b"iTXt", b"IEND"]
        shown = client.get(f"{PAGE}/logo")
        assert shown.headers["content-type"].startswith("image/svg+xml") and "data:image/svg+xml;base64," in shown.text
        assert 'src="http://127.0.0.1:8000' + PAGE + '/logo"' in client.get(PAGE).text
        client.get(f"{PAGE}/badge.svg")
        assert asked.count(png_url) == 1  # kept: image URLs of our issuer never change


def test_an_image_elsewhere_is_never_fetched_and_the_generated_badge_is_used(tmp_path):
    import copy

    credential = copy.deepcopy(CREDENTIAL)
    credential["credentialSubject"]["achievement"]["image"] = "http://169.254.169.254/latest/meta-data"
    with _client(tmp_path, FakeChecker({PAGE.rsplit("/", 1)[1]: credential})) as client:
        asked = _with_issuer_images(client, {})
        svg = client.get(f"{PAGE}/badge.svg").text
        assert "Critical" in svg and "<image" not in svg and asked == []
        assert client.get(f"{PAGE}/logo").status_code == 404


def test_when_the_issuer_does_not_answer_nothing_is_decided(tmp_path):
    from services.core.errors import UpstreamUnavailable

    class Down(FakeChecker):
        async def verify_credential_id(self, credential_id):
            raise UpstreamUnavailable("the issuer service could not be reached (ConnectError)")

    with _client(tmp_path, Down()) as client:
        page = client.get(PAGE, headers=HTML)
        assert page.status_code == 503 and "Cannot check right now" in page.text and "Verified" not in page.text
        r = client.get(PAGE, headers={"Accept": "application/json"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
