"""Hostile input never crashes a process or yields a 5xx: the verify API, the upload form, pasted
URLs, the CLI, the JSON body middleware of every service, and the issuer's request schemas.

The verifier runs with a fake checker here (no I/O); tests/e2e/test_hostile_stack.py sends the
same documents to the real processes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from services.core import baking
from services.core import urlsafety
from services.verifier import fetch
from services.verifier.app import create_app
from services.verifier.badge import generated_png
from services.verifier.fetch import FetchRefused, check_url
from services.verifier.settings import VerifierSettings
from tests.unit.verifier_fakes import BASE, CREDENTIAL, CREDENTIAL_ID, FakeChecker

ISSUER = "http://127.0.0.1:8001"
REGISTRY = "http://127.0.0.1:8002"
JSON = {"Content-Type": "application/json"}


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# Each is the *value* of "credential" (or a whole upload); the reason the refusal names.
HOSTILE = {
    "100,000 levels deep": (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
    "260 levels deep": (deep(260), "nested deeper than 64"),
    "10**30": (b'{"a": 1000000000000000000000000000000}', "beyond"),
    "a lone surrogate": (b'{"name": "\\ud800"}', "lone surrogate"),
    "a huge array": (b'{"a": [' + b"0," * 300_000 + b"0]}", "more than 200000 values"),
}
NOT_AN_OBJECT = [b"[1, 2]", b'"a string"', b"42", b"null", b"true"]


def _client(tmp_path, checker=None, **settings) -> TestClient:
    config = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, issuer_url=ISSUER, registry_url=REGISTRY,
                              contract_address="0x" + "ab" * 20, rate_limit_per_minute=100_000, **settings)
    return TestClient(create_app(config, checker=checker or FakeChecker()), raise_server_exceptions=False)


@pytest.fixture
def checker():
    return FakeChecker()


@pytest.fixture
def client(tmp_path, checker):
    with _client(tmp_path, checker) as c:
        yield c


def _is_json_error(r: httpx.Response, status: int = 422) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


# -- POST /api/v1/verify ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_documents_at_the_verify_api_are_a_clear_422(client, checker, name):
    raw, reason = HOSTILE[name]
    error = _is_json_error(client.post("/api/v1/verify", content=b'{"credential": ' + raw + b"}", headers=JSON))
    assert error["code"] == "invalid_json" and reason in error["message"]
    assert checker.documents == []  # never reached the checker


@pytest.mark.parametrize("raw", NOT_AN_OBJECT + [b"{not json", b"", b"\xff\xfe{}", b'{"credential": NaN}'])
def test_non_object_and_non_json_bodies_are_a_clear_4xx(client, raw):
    r = client.post("/api/v1/verify", content=raw, headers=JSON)
    assert 400 <= r.status_code < 500 and set(r.json()["error"]) == {"code", "message"}, r.text


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_a_credential_that_is_not_an_object_is_a_422(client, raw):
    _is_json_error(client.post("/api/v1/verify", content=b'{"credential": ' + raw + b"}", headers=JSON))


def test_a_hundred_thousand_levels_do_not_kill_a_process_with_py_eccs_recursion_limit(tmp_path):
    """In a subprocess, so that the crash this guards against (SIGSEGV) shows as a failure."""
    script = textwrap.dedent(f"""
        import py_ecc  # noqa: F401 - as in the real verifier (web3): the recursion limit becomes 100,000
        from fastapi.testclient import TestClient
        from services.verifier.app import create_app
        from services.verifier.settings import VerifierSettings
        from tests.unit.verifier_fakes import FakeChecker
        app = create_app(VerifierSettings(data_dir={str(tmp_path)!r}, contract_address="0x" + "ab" * 20),
                         checker=FakeChecker())
        with TestClient(app) as c:
            for body in (b"[" * 100_000 + b"]" * 100_000, b'{{"credential": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"):
                r = c.post("/api/v1/verify", content=body, headers={{"Content-Type": "application/json"}})
                print(r.status_code, r.json()["error"]["code"])
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the process died (exit {run.returncode}): {run.stderr[-2000:]}"
    assert run.stdout.split() == ["422", "invalid_json", "422", "invalid_json"]


# -- the upload form ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_at_the_upload_form_are_explained(client, checker, name):
    raw, reason = HOSTILE[name]
    if len(raw) > 512 * 1024:
        raw = deep(300)  # the form's own size limit (413) would answer first
        reason = "nested deeper than 64"
    r = client.post("/verify", files={"file": ("credential.json", raw, "application/json")})
    assert r.status_code == 422 and "Verify a credential" in r.text and reason in r.text
    assert checker.documents == []


def test_a_hostile_credential_baked_into_a_png_is_refused(client, checker):
    png = baking.bake(generated_png("x", "y"), {"a": json.loads(deep(200))})
    r = client.post("/verify", files={"file": ("badge.png", png, "image/png")})
    assert r.status_code == 422 and "nested deeper than 64" in r.text and checker.documents == []


# -- pasted URLs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "http://93.184.216.34/c/a\tb", "http://93.184.216.34/c/a\nb", "http://93.184.216.34/c/a\x00b",
    "http://93.184.216.34/c/a\rb", "http://93.184.216.34/c/a b", "http://93.184.216.34/\x85x", "http://93.184.216.34/\u2028x",
    "http://badges.example/c/\x00", "http://bad\tges.example/c/x", f"{ISSUER}/public/credentials/{CREDENTIAL_ID}\x00",
    f"{ISSUER}/public/credentials/{CREDENTIAL_ID}\t?", f"{ISSUER}/public/cred\nentials/{CREDENTIAL_ID}",
    f"{BASE}/c/{CREDENTIAL_ID}x\x00y",
])
def test_a_url_with_a_control_character_or_whitespace_is_a_422_and_never_fetched(client, monkeypatch, url):
    _badges_example_is_public(monkeypatch)
    asked = _recording(client)
    error = _is_json_error(client.post("/api/v1/verify", json={"url": url}))
    assert error["code"] == "url_refused" and "control character or whitespace" in error["message"], error
    page = client.post("/verify", data={"url": url})
    assert page.status_code == 422 and "control character or whitespace" in page.text
    assert asked == []


@pytest.mark.parametrize("url", ["http://[::1", "https://93.184.216.34:0/", "http://a..b/", "http://" + "a" * 64 + ".example/",
                                 "https://example.org/" + "x" * 3000, "http://93.184.216.34:99999/", "http:///x",
                                 "http://[fe80::1%25eth0]/"])
def test_a_url_that_does_not_parse_is_a_422(client, url):
    asked = _recording(client)
    error = _is_json_error(client.post("/api/v1/verify", json={"url": url}))
    assert error["code"] in ("url_refused", "invalid_request") and error["message"] and asked == [], url


def test_a_trailing_newline_of_a_pasted_own_url_is_forgiven(client):
    r = client.post("/api/v1/verify", json={"url": f"{BASE}/c/{CREDENTIAL_ID}\n"})
    assert r.status_code == 200 and r.json()["credential"]["id"] == CREDENTIAL["id"]


def _badges_example_is_public(monkeypatch) -> None:
    """badges.example resolves to a public address; every other name as it really does."""
    real = urlsafety._addresses

    async def resolve(host, port):
        return ["93.184.216.34"] if host == "badges.example" else await real(host, port)

    monkeypatch.setattr(urlsafety, "_addresses", resolve)


def _recording(client: TestClient, answers: dict[str, httpx.Response] | None = None) -> list[str]:
    """Replace the verifier's HTTP client: every request is recorded, and answered from ``answers``."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        asked.append(url)
        return (answers or {}).get(url) or httpx.Response(200, json={"status": "ok", "admin": True})

    client.app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return asked


@pytest.mark.parametrize("url", [
    f"{ISSUER}/api/v1/issuer", f"{ISSUER}/api/v1/credentials", f"{ISSUER}/docs", f"{ISSUER}/",
    f"{ISSUER}/public/credentials/{CREDENTIAL_ID}/status", f"{ISSUER}/public/credentials/x/../../api/v1/issuer",
    f"{ISSUER}/public/credentials/%2e%2e", f"{ISSUER}/c/{CREDENTIAL_ID}", f"https://127.0.0.1:8001/public/credentials/{CREDENTIAL_ID}",
    f"http://127.0.0.1:8003/public/credentials/{CREDENTIAL_ID}", f"http://127.0.0.1/public/credentials/{CREDENTIAL_ID}",
    f"{REGISTRY}/api/v1/chain", f"{REGISTRY}/api/v1/anchors/0x00", "http://127.0.0.1:8545/", f"{BASE}/api/v1/health",
    f"{BASE}/docs", "http://127.0.0.1:8000.evil.example/c/x", "http://localhost:8001/api/v1/issuer",
])
def test_our_own_hosts_are_no_port_or_path_oracle(client, url):
    asked = _recording(client)
    error = _is_json_error(client.post("/api/v1/verify", json={"url": url}))
    assert error["code"] == "url_refused", error
    assert asked == [], f"{url} was fetched"


def test_the_refusal_is_the_same_for_an_open_and_a_closed_port(client):
    _recording(client)
    answers = {client.post("/api/v1/verify", json={"url": f"http://127.0.0.1:{port}/x"}).json()["error"]["message"]
               for port in (8001, 8002, 8545, 9, 65000)}
    assert answers == {"127.0.0.1 points to a private or local address, which is not fetched"}


def test_the_issuers_public_credential_route_is_trusted(client, checker):
    url = f"{ISSUER}/public/credentials/{CREDENTIAL_ID}"
    asked = _recording(client, {url: httpx.Response(200, json=CREDENTIAL)})
    r = client.post("/api/v1/verify", json={"url": url})
    assert r.status_code == 200 and asked == [url] and checker.documents == [CREDENTIAL]


def test_a_public_page_redirecting_to_our_admin_api_is_refused(client, monkeypatch):
    _badges_example_is_public(monkeypatch)
    asked = _recording(client, {"http://93.184.216.34/badge": httpx.Response(
        302, headers={"Location": f"{ISSUER}/api/v1/issuer"})})
    error = _is_json_error(client.post("/api/v1/verify", json={"url": "http://badges.example/badge"}))
    assert error["code"] == "url_refused" and "private or local" in error["message"]
    assert asked == ["http://93.184.216.34/badge"]


def test_a_fetched_document_goes_through_safejson(client, monkeypatch):
    _badges_example_is_public(monkeypatch)
    _recording(client, {"http://93.184.216.34/c.json": httpx.Response(200, content=deep(300)),
                        "http://93.184.216.34/big.json": httpx.Response(200, content=b'{"a": 1e999}'),
                        "http://93.184.216.34/int.json": httpx.Response(200, content=b'{"a": 10000000000000000000000}')})
    for path, why in (("c.json", "nested deeper than 64"), ("big.json", "did not return JSON"), ("int.json", "beyond")):
        error = _is_json_error(client.post("/api/v1/verify", json={"url": f"http://badges.example/{path}"}))
        assert error["code"] == "url_refused" and why in error["message"], error


def test_check_url_trusts_a_route_only_at_its_origin_and_path():
    from services.verifier.fetch import TrustedRoute

    route = TrustedRoute.under("http://127.0.0.1:8001/base/", r"/public/credentials/[A-Za-z0-9_-]{8,64}")
    ok = asyncio.run(check_url(f"http://127.0.0.1:8001/base/public/credentials/{CREDENTIAL_ID}?x=1#f", set(), [route]))
    assert ok.url == f"http://127.0.0.1:8001/base/public/credentials/{CREDENTIAL_ID}?x=1" and ok.headers == {}
    for url in (f"http://127.0.0.1:8001/public/credentials/{CREDENTIAL_ID}", "http://127.0.0.1:8001/base/api/v1/issuer",
                f"http://127.0.0.1:8002/base/public/credentials/{CREDENTIAL_ID}"):
        with pytest.raises(FetchRefused, match="private or local"):
            asyncio.run(check_url(url, set(), [route]))


@pytest.mark.parametrize("exc", [httpx.InvalidURL("bad"), UnicodeEncodeError("ascii", "é", 0, 1, "x"),
                                 httpx.StreamClosed(), httpx.LocalProtocolError("bad header")])
def test_no_httpx_exception_escapes_a_fetch(monkeypatch, exc):
    _badges_example_is_public(monkeypatch)

    def handler(request):
        raise exc

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await fetch.fetch_json(http, "http://badges.example/x", trusted_hosts=set(), max_bytes=1000,
                                          timeout=5)

    with pytest.raises(FetchRefused):
        asyncio.run(run())


# -- the JSON body middleware, in any app -----------------------------------------------------------------
class Body(BaseModel):
    value: object = None


def _tiny_app(max_bytes: int = 10_000) -> TestClient:
    from services.core.web import install_error_handlers, install_request_guards

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    def echo(body: Body) -> dict:
        return {"value": body.value}

    install_request_guards(app, max_bytes=max_bytes)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                          "application/ld+json", "application/vnd.api+json"])
def test_the_middleware_checks_every_body_fastapi_would_parse_as_json(content_type):
    with _tiny_app() as c:
        r = c.post("/echo", content=deep(100), headers={"Content-Type": content_type})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"
        r = c.post("/echo", content=b'{"value": [1, "\xc3\xa9", {"b": null}]}', headers={"Content-Type": content_type})
        assert r.status_code == 200 and r.json() == {"value": [1, "é", {"b": None}]}  # passed on unchanged


def test_the_middleware_passes_other_bodies_and_chunked_ones():
    with _tiny_app() as c:
        assert c.post("/echo", content=b"[" * 1000, headers={"Content-Type": "text/plain"}).status_code == 422
        chunks = iter([b'{"value": ', b"[" * 70, b"]" * 70, b"}"])
        r = c.post("/echo", content=chunks, headers={"Content-Type": "application/json"})  # Transfer-Encoding: chunked
        assert r.status_code == 422 and "deeper than 64" in r.json()["error"]["message"]
        assert c.get("/echo").status_code == 405  # no body: untouched


def test_the_middleware_keeps_the_413_of_the_size_limit():
    with _tiny_app(max_bytes=100) as c:
        r = c.post("/echo", content=b'{"value": "' + b"a" * 200 + b'"}', headers=JSON)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        r = c.post("/echo", content=iter([b'{"value": "', b"a" * 200, b'"}']), headers=JSON)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_every_service_installs_the_middleware(tmp_path):
    from services.issuer.app import create_app as issuer_app
    from services.issuer.settings import IssuerSettings
    from services.registry.app import create_app as registry_app
    from services.registry.settings import RegistrySettings
    from services.core.web import SafeJsonBodies

    apps = [issuer_app(IssuerSettings(data_dir=tmp_path, admin_token="a" * 32)),
            registry_app(RegistrySettings(data_dir=tmp_path)),
            create_app(VerifierSettings(data_dir=tmp_path), checker=FakeChecker())]
    for app in apps:
        assert SafeJsonBodies in [m.cls for m in app.user_middleware], app.title
        client = TestClient(app, raise_server_exceptions=False)  # no lifespan: the middleware answers first
        r = client.post("/api/v1/anything", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json", app.title


# -- the CLI ----------------------------------------------------------------------------------------------
CLI = ["verify", "--rpc", "http://127.0.0.1:9", "--contract", "0x" + "ab" * 20]


def _cli(*args: str):
    from services.cli import app

    return CliRunner().invoke(app, [*CLI, *args])


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot read"), result.stderr
    return lines[0]


@pytest.mark.parametrize("name", [n for n in HOSTILE if n != "100,000 levels deep"])
def test_the_cli_refuses_hostile_files_with_one_line_and_exit_2(tmp_path, name):
    raw, reason = HOSTILE[name]
    path = tmp_path / "credential.json"
    path.write_bytes(raw)
    assert reason in _one_line_exit_2(_cli(str(path)))


@pytest.mark.parametrize("content", NOT_AN_OBJECT + [b"{x", b"", b"\xff", b"\x89PNG\r\n\x1a\nbroken"])
def test_the_cli_refuses_what_is_not_a_credential_with_exit_2(tmp_path, content):
    path = tmp_path / "f"
    path.write_bytes(content)
    _one_line_exit_2(_cli(str(path)))


@pytest.mark.parametrize("source", ["/nonexistent/credential.json", "/", "http://exa\tmple.org/c/x", "http://[::1",
                                    "http://127.0.0.1:9/c/abcdefghijk"])
def test_the_cli_refuses_unreadable_sources_with_exit_2(source):
    _one_line_exit_2(_cli(source))


def test_the_cli_refuses_bad_options_with_exit_2(tmp_path):
    from services.cli import app

    path = tmp_path / "c.json"
    path.write_text("{}")
    for args in (["--contract", "0xnope"], ["--rpc", "not a url"], ["--rpc", "ftp://x"]):
        result = CliRunner().invoke(app, ["verify", str(path), *args, *(["--contract", "0x" + "ab" * 20]
                                                                        if "--contract" not in args else [])])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.output)


def test_the_cli_survives_a_hundred_thousand_levels_in_a_real_process(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(HOSTILE["100,000 levels deep"][0])
    run = subprocess.run([sys.executable, "-m", "services.cli", *CLI, str(path)], capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin", "MICROCRED_DATA_DIR": str(tmp_path / "data")})
    assert run.returncode == 2, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr and run.stderr.strip() == (
        f"cannot read {path}: the JSON is nested deeper than 64 levels")


def test_the_cli_does_not_print_a_credentials_control_characters(tmp_path):
    from services.cli import _shown

    assert _shown("\x1b]0;owned\x07Ada\u202egnp.exe\r") == "\ufffd]0;owned\ufffdAda\ufffdgnp.exe\ufffd"
    assert _shown("Zoë \u200d 李") == "Zoë \u200d 李" and _shown(None) is None


# -- the issuer's request schemas (no database: tests/integration/test_hostile_issuance.py has the API) -----
def _refused_by(model, body: dict, type_: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert type_ in {e["type"] for e in caught.value.errors()}, caught.value.errors()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "0500-01-01T00:00:00Z",
                                  "1899-12-31T23:59:59Z", "1900-01-01T00:30:00+01:00", "9999-12-31T23:59:59Z",
                                  "9999-12-31T23:00:00-01:00", "9900-01-01T00:00:00Z", -2.3e9])
def test_dates_outside_1900_to_9899_are_refused(when):
    from services.issuer.batches.schemas import BatchCreate
    from services.issuer.credentials.schemas import CredentialCreate
    from services.issuer.issuers.schemas import KeyRotate

    recipient = {"name": "Ada", "email": "ada@example.org"}
    _refused_by(CredentialCreate, {"achievement_id": "a", "recipient": recipient, "valid_from": when}, "date_out_of_range")
    _refused_by(BatchCreate, {"achievement_id": "a", "recipients": [recipient], "valid_from": when}, "date_out_of_range")
    _refused_by(KeyRotate, {"compromised": True, "compromised_at": when}, "date_out_of_range")


def test_dates_inside_the_range_are_kept():
    from services.issuer.credentials.schemas import CredentialCreate

    for when in ("1900-01-01T00:00:00Z", "2026-03-05T10:00:00+05:30", "9899-12-31T23:59:59Z"):
        body = CredentialCreate.model_validate({"achievement_id": "a", "recipient": {"name": "A", "email": "a@b.org"},
                                                "valid_from": when})
        assert body.valid_from is not None
