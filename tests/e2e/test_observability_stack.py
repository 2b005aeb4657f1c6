"""What an operator sees of the real stack (docs/operations.md), every service a process, over HTTP.

A request id sent to the issuer shows in the registry's log lines; a junk one is replaced and
the replacement travels instead; each service and both workers answer /metrics in Prometheus
text format with the work just done in it; a token, once set, is required.
"""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.ops.processes import free_port
from tests.support.stack import ADMIN_TOKEN, make_stack, wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Forklift Safety", "description": "Operates a counterbalance forklift safely.",
               "criteria": {"narrative": "Passed the practical test and the written exam."}}
EMAIL = "ops-desk@metrics-college.example"
RECIPIENT = "learner-7781@example.org"


@pytest.fixture(scope="module")
def stack(devnet, tmp_path_factory):
    s = make_stack(tmp_path_factory.mktemp("observe"), devnet.rpc_url, devnet.address, 31337,
                   MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_WORKER_METRICS_PORT=str(free_port()),
                   MICROCRED_OUTBOX_METRICS_PORT=str(free_port()))
    for name in ("registry", "registry-worker", "issuer", "issuer-outbox", "verifier"):
        s.start(name)
    yield s
    s.close()


def log_lines(stack, name: str) -> list[dict]:
    """The process's log as JSON objects: every line must be one."""
    text = stack.procs[name].log_path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def lines_with(stack, name: str, request_id: str) -> list[dict]:
    return [line for line in log_lines(stack, name) if line.get("request_id") == request_id]


def scrape(url: str, **headers) -> dict[tuple[str, tuple], float]:
    r = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def at(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def issued(stack):
    """An issuer created with a request id of ours, and one credential, anchored."""
    admin = httpx.Client(base_url=stack.url("issuer"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    r = admin.post("/api/v1/issuers", headers={"X-Request-ID": "e2e-create-issuer-0001"},
                   json={"name": "Metrics College", "slug": "metrics-college", "url": "https://metrics.example",
                         "email": EMAIL})
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "e2e-create-issuer-0001"
    info = r.json()
    api = httpx.Client(base_url=stack.url("issuer"), headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=30)
    wait_for(lambda: api.get("/api/v1/issuer").json()["registry"]["state"] == "active", timeout=60,
             what="the issuer registered on chain")
    achievement = api.post("/api/v1/achievements", json=ACHIEVEMENT).json()
    r = api.post("/api/v1/credentials", json={"achievement_id": achievement["id"],
                                              "recipient": {"name": "Sam Ortiz", "email": RECIPIENT}})
    assert r.status_code in (200, 201), r.text
    credential = r.json()
    wait_for(lambda: api.get(f"/api/v1/credentials/{credential['id']}").json()["anchored_at"], timeout=60,
             what="the credential anchored")
    return {"issuer": info, "credential": credential, "api": api}


def test_a_request_id_sent_to_the_issuer_shows_in_the_registry_log(stack, issued):
    issuer_lines = wait_for(lambda: lines_with(stack, "issuer", "e2e-create-issuer-0001"), timeout=10,
                            what="the issuer's request line")
    assert any(line["route"] == "/api/v1/issuers" and line["status"] == 201 and line["method"] == "POST"
               for line in issuer_lines)
    registry_lines = wait_for(lambda: lines_with(stack, "registry", "e2e-create-issuer-0001"), timeout=10,
                              what="the registry's line for the issuer's call")
    line = next(line for line in registry_lines if line.get("route") == "/api/v1/issuers")
    assert line["service"] == "registry" and line["method"] == "POST" and line["status"] in (200, 201)
    assert {"ts", "level", "logger", "msg", "duration_ms"} <= set(line)


def test_a_junk_request_id_is_replaced_and_the_replacement_travels(stack, issued):
    junk = "not a safe id; " + "x" * 200
    r = issued["api"].get("/api/v1/issuer", headers={"X-Request-ID": junk})  # asks the registry for key states
    assert r.status_code == 200, r.text
    made = r.headers["x-request-id"]
    assert made != junk and len(made) == 32
    wait_for(lambda: lines_with(stack, "registry", made), timeout=10, what="the new id at the registry")
    for name in ("issuer", "registry"):
        assert not any(junk in json.dumps(line) for line in log_lines(stack, name))


def test_the_verifier_passes_the_request_id_to_the_issuer_and_counts_the_checks(stack, issued):
    credential_id = issued["credential"]["id"]
    verifier = stack.url("verifier")
    r = wait_for(lambda: (r := httpx.get(f"{verifier}/c/{credential_id}", headers={
        "Accept": "application/json", "X-Request-ID": "e2e-verify-0001"}, timeout=30)).json()["status"] == "valid" and r,
        timeout=30, what="the credential valid at the verifier")
    assert r.headers["x-request-id"] == "e2e-verify-0001"
    issuer_lines = wait_for(lambda: lines_with(stack, "issuer", "e2e-verify-0001"), timeout=10,
                            what="the verifier's fetch at the issuer")
    assert any(line["route"].startswith("/public/credentials/{") for line in issuer_lines)
    found = scrape(verifier)
    assert at(found, "microcred_verifier_verifications_total", status="valid") >= 1
    for check in r.json()["checks"]:
        assert at(found, "microcred_verifier_checks_total", check=check["id"], status=check["status"]) >= 1
    assert at(found, "microcred_http_request_duration_seconds_count", method="GET", route="/c/{credential_id}",
              status="2xx") >= 1
    assert not any(credential_id in str(key) for key in found)  # ids never become labels
    # The verification started the revocation index's first sync with the chain's logs.
    synced = wait_for(lambda: (m := scrape(verifier)) and at(
        m, "microcred_verifier_revocation_index_syncs_total", outcome="ok") >= 1 and m,
        timeout=10, what="the revocation index synced")
    assert at(synced, "microcred_verifier_revocation_index_syncs_total", outcome="failed") == 0
    assert ("microcred_verifier_revocation_index_age_seconds", ()) in synced
    assert at(synced, "microcred_verifier_chain_requests_total") >= 2  # the verification's batch, the sync
    assert at(synced, "microcred_verifier_chain_calls_total", method="eth_getLogs") >= 1


def test_every_service_and_worker_answers_metrics_with_the_work_done(stack, issued):
    issuer = scrape(stack.url("issuer"))
    assert at(issuer, "microcred_http_request_duration_seconds_count", method="POST", route="/api/v1/credentials",
              status="2xx") == 1
    assert at(issuer, "microcred_metrics_db_up") == 1
    assert at(issuer, "microcred_issuer_outbox_relay_up") == 1
    assert at(issuer, "microcred_issuer_credentials_unanchored", anchor_state="pending") == 0
    registry = scrape(stack.url("registry"))
    assert at(registry, "microcred_http_request_duration_seconds_count", method="POST", route="/api/v1/anchors",
              status="2xx") >= 1
    assert at(registry, "microcred_registry_gas_used_total", issuer=issued["issuer"]["id"]) > 0
    assert at(registry, "microcred_registry_queue_items", queue="anchors", state="queued") == 0

    outbox = scrape(f"http://127.0.0.1:{stack.env['MICROCRED_OUTBOX_METRICS_PORT']}")
    assert at(outbox, "microcred_issuer_issue_to_anchor_seconds_count") == 1  # the relay attached the proof
    worker = scrape(f"http://127.0.0.1:{stack.env['MICROCRED_WORKER_METRICS_PORT']}")
    assert at(worker, "process_cpu_seconds_total") > 0

    for name in ("registry", "registry-worker", "issuer", "issuer-outbox", "verifier"):
        text = stack.procs[name].log_path.read_text()
        assert EMAIL not in text and RECIPIENT not in text and issued["issuer"]["api_key"] not in text
        log_lines(stack, name)  # every line is a JSON object


def test_with_a_token_metrics_want_it_even_from_loopback(stack):
    token = "e2e-metrics-token-0123456789abcdef"
    port = free_port()
    from services.ops.processes import spawn_app, wait_http

    proc = spawn_app("verifier-with-token", "services.verifier.app:create_app", port,
                     {**stack.env, "MICROCRED_METRICS_TOKEN": token, "MICROCRED_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
                     stack.root / "logs")
    try:
        wait_http(proc, "/api/v1/health")
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        proc.stop()
