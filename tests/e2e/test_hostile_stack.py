"""Hostile input against the real processes: nothing crashes, nothing answers 5xx, nothing leaks.

The registry, the issuer and the verifier run as uvicorn processes (tests/support/stack.py)
with their real imports — web3 raises the recursion limit to 100,000 in each of them, which
is what turned a deeply nested body into a SIGSEGV. Each test then checks the processes are
still alive and logged no unhandled error.
"""

from __future__ import annotations

import os

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from services.issuer.models import Batch
from tests.support.issuers import new_issuer

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
HOSTILE = {
    "100,000 levels deep": b"[" * 100_000 + b"]" * 100_000,
    "260 levels deep": b'{"a":' * 260 + b"1" + b"}" * 260,
    "10**30": b'{"a": 1000000000000000000000000000000}',
    "a lone surrogate": b'{"name": "\\ud800"}',
    "a huge array": b'{"a": [' + b"0," * 300_000 + b"0]}",
}


@pytest.fixture(scope="module")
def issuer(stack):
    with new_issuer(stack.url("issuer"), "hostile", active=False, name="Hostile College") as api:
        api.achievement_id = api.achievement(name="Empathy", description="Shares feelings.",
                                             criteria={"narrative": "Six sessions."})["id"]
        yield api


NAMES = ("registry", "issuer", "verifier")


def _log(proc) -> str:
    return proc.log_path.read_text(errors="replace") if proc.log_path and proc.log_path.exists() else ""


@pytest.fixture(autouse=True)
def nothing_crashed(stack):
    """After each test: every process alive and answering, and nothing new in its log is an unhandled error."""
    before = {name: len(_log(stack.procs[name])) for name in NAMES}
    yield
    for name in NAMES:
        proc = stack.procs[name]
        assert proc.alive(), f"{name} died (exit {proc.popen.returncode}):\n{proc.log_tail(80)}"
        assert httpx.get(f"{proc.url}/docs", timeout=10).status_code == 200, name
        new = _log(proc)[before[name]:]
        assert "unhandled error" not in new and "Traceback" not in new, f"{name} logged:\n{new[-4000:]}"


def _json_error(r: httpx.Response, status: int = 422) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert set(r.json()["error"]) == {"code", "message"}
    return r.json()["error"]


# -- the verifier --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_documents_at_the_verify_api(stack, name):
    url = f"{stack.url('verifier')}/api/v1/verify"
    for body in (HOSTILE[name], b'{"credential": ' + HOSTILE[name] + b"}"):
        r = httpx.post(url, content=body, headers=JSON, timeout=30)
        assert 400 <= r.status_code < 500 and set(r.json()["error"]) == {"code", "message"}, (name, r.text[:300])


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_at_the_upload_form(stack, name):
    data = HOSTILE[name]
    r = httpx.post(f"{stack.url('verifier')}/verify", files={"file": ("credential.json", data, "application/json")},
                   timeout=30)
    assert r.status_code in (413, 422) and "Verify a credential" in r.text, (name, r.status_code)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"x"', b"{not json", b'{"credential": "x"}', b'{"credential": [{}]}',
                                 b'{"credential": {"credentialSubject": "x", "issuer": [1], "proof": "z"}}',
                                 b'{"credential": {"@context": {"@vocab": "x"}, "type": 5}}'])
def test_odd_shapes_at_the_verify_api_are_never_a_5xx(stack, raw):
    r = httpx.post(f"{stack.url('verifier')}/api/v1/verify", content=raw, headers=JSON, timeout=30)
    assert r.status_code < 500, (r.status_code, r.text[:300])


@pytest.mark.parametrize("url", ["{issuer}/public/credentials/AbCdEfGh\tIjKl", "{issuer}/public/cred\nentials/AbCdEfGhIjKl",
                                 "{issuer}/public/credentials/AbCdEfGh\x00IjKl", "http://93.184.216.34/c/a\x00b",
                                 "http://93.184.216.34/c/a b", "http://exa\tmple.org/c/x", "http://[::1",
                                 "https://example.org:99999/"])
def test_unusable_pasted_urls_are_a_422(stack, url):
    verifier = stack.url("verifier")
    url = url.replace("{issuer}", stack.url("issuer"))
    assert _json_error(httpx.post(f"{verifier}/api/v1/verify", json={"url": url}, timeout=30))["code"] == "url_refused"
    page = httpx.post(f"{verifier}/verify", data={"url": url}, timeout=30)
    assert page.status_code == 422 and "Verify a credential" in page.text


def test_our_own_ports_and_paths_are_no_oracle(stack):
    issuer, registry, verifier = (stack.url(n) for n in ("issuer", "registry", "verifier"))
    closed = f"http://127.0.0.1:{httpx.URL(verifier).port + 20000 if httpx.URL(verifier).port < 40000 else 9}"
    answers = {}
    for url in (f"{issuer}/api/v1/issuer", f"{issuer}/docs", f"{issuer}/api/v1/health", f"{registry}/api/v1/chain",
                f"{registry}/docs", stack.rpc_url, f"{verifier}/api/v1/health", f"{verifier}/docs",
                f"{issuer}/c/AbCdEfGhIjKlMnOp", f"{registry}/public/credentials/AbCdEfGhIjKlMnOp", f"{closed}/x"):
        error = _json_error(httpx.post(f"{verifier}/api/v1/verify", json={"url": url}, timeout=30))
        assert error["code"] == "url_refused", (url, error)
        answers[url] = error["message"]
    # An open port, a closed one, an admin API or a health route: the same answer, so nothing is learnt.
    assert set(answers.values()) == {"127.0.0.1 points to a private or local address, which is not fetched"}, answers


def test_the_issuers_public_credential_url_is_still_verified(stack, issuer):
    r = issuer.post("/api/v1/credentials", json={"achievement_id": issuer.achievement_id,
                                                 "recipient": {"name": "Ada", "email": f"{os.urandom(4).hex()}@example.org"}})
    assert r.status_code == 201, r.text
    credential = r.json()
    url = f"{stack.url('issuer')}/public/credentials/{credential['id']}"
    r = httpx.post(f"{stack.url('verifier')}/api/v1/verify", json={"url": url}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["credential"]["id"] == credential["url"]
    assert r.json()["checks"][0] == {"id": "format", "status": "passed", "message": r.json()["checks"][0]["message"]}


# -- the issuer and the registry ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_documents_at_the_issuer_and_the_registry(stack, issuer, name):
    r = issuer.post("/api/v1/credentials", content=HOSTILE[name], headers=JSON)
    assert _json_error(r)["code"] == "invalid_json", name
    r = httpx.post(f"{stack.url('registry')}/api/v1/anchors", content=HOSTILE[name], headers=JSON, timeout=30)
    assert _json_error(r)["code"] == "invalid_json", name


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "0500-01-01T00:00:00Z", "1899-12-31T23:59:59Z",
                                  "9999-12-31T23:59:59Z"])
def test_dates_out_of_range_are_a_422_and_no_batch_is_left_running(stack, issuer, when):
    email = f"{os.urandom(6).hex()}@example.org"
    r = issuer.post("/api/v1/credentials", json={"achievement_id": issuer.achievement_id, "valid_from": when,
                                                 "recipient": {"name": "Ada", "email": email}})
    assert "valid_from" in _json_error(r)["message"]
    r = issuer.post("/api/v1/credentials/batch", json={"achievement_id": issuer.achievement_id, "valid_from": when,
                                                       "recipients": [{"name": "Ada", "email": email}]})
    assert "valid_from" in _json_error(r)["message"]
    _no_batch_and_no_email(stack, issuer, email)


@pytest.mark.parametrize("name", ["Ada\u202egnp.exe", "Ada\u2066Lovelace\u2069", "Ada\u0085", "Ada\u009b2J", "Ada\u200f"])
def test_names_with_bidi_or_c1_characters_are_a_422_and_a_batch_with_one_is_refused_whole(stack, issuer, name):
    email = f"{os.urandom(6).hex()}@example.org"
    r = issuer.post("/api/v1/credentials", json={"achievement_id": issuer.achievement_id,
                                                 "recipient": {"name": name, "email": email}})
    assert "recipient.name" in _json_error(r)["message"]
    good = [{"name": f"Learner {i}", "email": f"{os.urandom(6).hex()}@example.org"} for i in range(3)]
    r = issuer.post("/api/v1/credentials/batch", json={"achievement_id": issuer.achievement_id,
                                                       "recipients": [*good, {"name": name, "email": email}]})
    assert "row 3" in _json_error(r)["message"]
    for row in [*good, {"email": email}]:
        _no_batch_and_no_email(stack, issuer, row["email"])


def _no_batch_and_no_email(stack, issuer, email: str) -> None:
    """The test's issuer has no batch (the stack is shared: others' batches are theirs), and the
    address is nowhere in the database file."""
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as c:
            assert c.scalar(select(func.count()).select_from(Batch).where(Batch.issuer_id == issuer.info["id"])) == 0
    finally:
        engine.dispose()
    path = stack.database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            with open(path + suffix, "rb") as f:
                assert email.encode() not in f.read(), f"{email} is stored"
