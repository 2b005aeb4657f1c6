"""Request ids, JSON log lines and /metrics on an app (the verifier's, in process): docs/operations.md."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.core import logs, metrics, requestid
from services.core.errors import Forbidden, Unauthorized
from services.verifier.app import create_app
from services.verifier.settings import VerifierSettings
from tests.unit.verifier_fakes import BASE, CREDENTIAL_ID

TOKEN = "metrics-token-for-tests-0123456789"
NOWHERE = "http://127.0.0.1:9"  # nothing listens: our own credentials cannot be fetched


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


# -- the request id ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("good", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1.2_x", "a" * 128])
def test_a_plain_request_id_is_kept(good):
    assert requestid.accept(good) == good


@pytest.mark.parametrize("junk", [None, "", "a" * 129, "has space", "semi;colon", "new\nline", "é", "-leading",
                                  '"quoted"', "a/b", "<script>"])
def test_anything_else_is_replaced_by_a_new_random_id(junk):
    made = requestid.accept(junk)
    assert made != junk and len(made) == 32 and int(made, 16) >= 0
    assert requestid.accept(junk) != made  # random, not derived from the junk


def test_the_id_goes_only_to_the_services_it_was_given():
    import httpx

    hooks = requestid.httpx_hooks("http://127.0.0.1:8002")["request"][0]
    token = requestid.bind("req-42")
    try:
        ours = httpx.Request("GET", "http://127.0.0.1:8002/api/v1/anchors/0x00")
        theirs = httpx.Request("GET", "https://elsewhere.example/credential.json")
        other_port = httpx.Request("GET", "http://127.0.0.1:8545/")
        for request in (ours, theirs, other_port):
            hooks(request)
    finally:
        requestid.reset(token)
    assert ours.headers["x-request-id"] == "req-42"
    assert "x-request-id" not in theirs.headers and "x-request-id" not in other_port.headers
    outside = httpx.Request("GET", "http://127.0.0.1:8002/x")
    hooks(outside)  # no request being served: nothing to send
    assert "x-request-id" not in outside.headers


# -- log lines ----------------------------------------------------------------------------------------------
@pytest.fixture
def captured():
    """The JSON handler, writing into a buffer; the root logger as it was afterwards."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    logs.configure("unit-test", "info", "json")
    handler = next(h for h in root.handlers if getattr(h, "_microcred_handler", False))
    buffer = io.StringIO()
    handler.__class__ = logging.StreamHandler  # write into the buffer instead of stderr
    handler.stream = buffer
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(before[0])


def test_a_log_line_is_one_json_object_with_the_fields_and_the_request_id(captured):
    token = requestid.bind("req-7")
    try:
        logging.getLogger("microcred.test").info("hello %s", "world", extra={"route": "/c/{credential_id}"})
    finally:
        requestid.reset(token)
    logging.getLogger("microcred.test").warning("no request here")
    first, second = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert first["msg"] == "hello world" and first["level"] == "INFO" and first["logger"] == "microcred.test"
    assert first["service"] == "unit-test" and first["request_id"] == "req-7" and first["route"] == "/c/{credential_id}"
    assert first["ts"].startswith("20") and first["ts"].endswith("+00:00")
    assert second["level"] == "WARNING" and "request_id" not in second


def test_emails_api_keys_and_bearer_tokens_never_reach_a_line(captured):
    log = logging.getLogger("microcred.test")
    log.info("issued to %s with key %s", "ada@example.org", "mc_live_abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
             extra={"header": "Bearer s3cr3t-token-value", "who": "grace.hopper@navy.example.mil"})
    try:
        raise ValueError("bad recipient bob@example.com")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    for secret in ("ada@example.org", "abcdefghijklmnop", "s3cr3t-token-value", "grace.hopper", "bob@example.com"):
        assert secret not in text
    line = json.loads(text.splitlines()[0])
    assert line["msg"] == "issued to <email> with key mc_live_<redacted>" and line["who"] == "<email>"
    assert line["header"] == "Bearer <redacted>"


def test_text_format_is_one_readable_line():
    record = logging.LogRecord("microcred.x", logging.INFO, "", 0, "plain %d", (1,), None)
    record.service, record.request_id = "issuer", "r1"
    assert logs.formatter("text").format(record).endswith("INFO issuer microcred.x [r1] plain 1")


# -- who may read /metrics -------------------------------------------------------------------------------
def test_without_a_token_only_loopback_clients_read_metrics():
    for host in ("127.0.0.1", "127.8.9.10", "::1"):
        metrics.check_access(None, host, None)
    for host in ("10.0.0.5", "203.0.113.9", "testclient", None):
        with pytest.raises(Forbidden):
            metrics.check_access(None, host, None)


def test_with_a_token_everyone_needs_it_loopback_too():
    metrics.check_access(TOKEN, "203.0.113.9", f"Bearer {TOKEN}")
    for header in (None, "", f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x"):
        with pytest.raises(Unauthorized):
            metrics.check_access(TOKEN, "127.0.0.1", header)


# -- the verifier app in process -------------------------------------------------------------------------
def _client(tmp_path, **settings) -> TestClient:
    # No contract: the real checker, failing closed on the chain checks (no I/O needed for a pasted document).
    config = VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="", issuer_url=NOWHERE,
                              registry_url=NOWHERE, **settings)
    return TestClient(create_app(config))


def test_metrics_are_refused_to_a_remote_client_without_a_token(tmp_path):
    with _client(tmp_path) as client:  # TestClient's address is "testclient": not loopback
        r = client.get("/metrics")
    assert r.status_code == 403 and r.json()["error"]["code"] == "metrics_forbidden"


def test_metrics_with_a_token_answer_in_prometheus_format_with_the_route_histogram(tmp_path):
    with _client(tmp_path, metrics_token=TOKEN) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code == 401
        client.get(f"/c/{CREDENTIAL_ID}", headers={"Accept": "application/json"})
        client.get("/c/another-credential-id-000000000000", headers={"Accept": "application/json"})
        client.get("/no/such/path/12345")
        client.head("/api/v1/health")
        r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    routes = {s.labels["route"] for f in text_string_to_metric_families(text)
              if f.name == "microcred_http_request_duration_seconds" for s in f.samples}
    # Two credential ids, one series: the template, never the raw path.
    assert "/c/{credential_id}" in routes and not any(CREDENTIAL_ID in r for r in routes)
    assert metrics.UNMATCHED in routes and "/no/such/path/12345" not in routes
    assert value(text, "microcred_http_request_duration_seconds_count", method="HEAD", route="/api/v1/health",
                 status="2xx") == 1
    assert value(text, "microcred_http_request_duration_seconds_count", method="GET", route=metrics.UNMATCHED,
                 status="4xx") == 1
    assert "process_cpu_seconds_total" in text or "python_info" in text  # the process-wide registry follows


def test_the_request_id_comes_back_and_junk_is_replaced(tmp_path):
    with _client(tmp_path) as client:
        kept = client.get("/api/v1/health", headers={"X-Request-ID": "client-chosen-id-1"})
        replaced = client.get("/api/v1/health", headers={"X-Request-ID": "x" * 300})
        made = client.get("/api/v1/health")
        error = client.get("/no/such/path", headers={"X-Request-ID": "for-a-404"})
    assert kept.headers["x-request-id"] == "client-chosen-id-1"
    assert replaced.headers["x-request-id"] != "x" * 300 and len(replaced.headers["x-request-id"]) == 32
    assert len(made.headers["x-request-id"]) == 32
    assert error.status_code == 404 and error.headers["x-request-id"] == "for-a-404"


def test_a_verification_increments_the_verdict_and_per_check_counters(tmp_path):
    with _client(tmp_path, metrics_token=TOKEN) as client:
        before = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        r = client.post("/api/v1/verify", json={"credential": {"not": "a credential"}})
        assert r.status_code == 200, r.text
        report = r.json()
        after = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert report["status"] == "invalid"
    assert value(after, "microcred_verifier_verifications_total", status="invalid") == \
        value(before, "microcred_verifier_verifications_total", status="invalid") + 1
    for check in report["checks"]:
        labels = {"check": check["id"], "status": check["status"]}
        assert value(after, "microcred_verifier_checks_total", **labels) == \
            value(before, "microcred_verifier_checks_total", **labels) + 1, labels
    assert value(after, "microcred_verifier_verification_duration_seconds_count") == 1


def test_an_unhandled_error_is_a_500_that_still_carries_the_request_id(tmp_path):
    app = create_app(VerifierSettings(data_dir=tmp_path, public_base_url=BASE, contract_address="",
                                      issuer_url=NOWHERE, registry_url=NOWHERE, metrics_token=TOKEN))

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom", headers={"X-Request-ID": "trace-the-500"})
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-request-id"] == "trace-the-500"
    assert value(text, "microcred_http_request_duration_seconds_count", method="GET", route="/boom",
                 status="5xx") == 1


def test_uvicorns_access_line_and_httpx_call_lines_are_not_written(captured):
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET",
                                             "/c/abc?token=x", "1.1", 200)
    logging.getLogger("httpx").info("HTTP Request: GET https://elsewhere.example/?q=1")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["Application startup complete."]
