"""A 2xx means committed: the next request, on any replica, sees the write (issuer and registry).

Two issuer processes (replicas) share one database, SQLite and PostgreSQL; every write goes
to one and the read right after it to the other. ``MICROCRED_TEST_COMMIT_DELAY`` makes each
transaction wait before its commit, so an answer sent before the commit (FastAPI's default
for ``yield`` dependencies since 0.118) is caught every time instead of now and then.
"""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.ops.processes import free_port, spawn_app, wait_http
from tests.support.issuers import create_issuer
from tests.support.stack import ADMIN_TOKEN, APPS, SERVICE_TOKEN, make_stack

pytestmark = pytest.mark.slow

DELAY = "0.15"
ACHIEVEMENT = {"name": "Forklift Safety", "description": "Operates a forklift safely.",
               "criteria": {"narrative": "Passed the practical test."}}


def _replica(stack, name: str) -> str:
    """Another process of the same app on its own port, same database and settings."""
    return _replicas(stack, name)[0]


def _replicas(stack, *names: str) -> list[str]:
    """Replicas started at once (they import in parallel), each answering when this returns."""
    procs = [spawn_app(name, APPS["issuer" if name.startswith("issuer") else "registry"], free_port(),
                       {**stack.env, "MICROCRED_TEST_COMMIT_DELAY": DELAY}, stack.root / "logs") for name in names]
    for proc in procs:
        stack.procs[proc.name] = proc
    for proc in procs:
        wait_http(proc, "/docs")
    return [proc.url for proc in procs]


@pytest.fixture
def issuers(database_url, tmp_path):
    """(stack, replica A url, replica B url): two issuer processes on one database, no registry."""
    stack = make_stack(tmp_path / "stack", "http://127.0.0.1:9", "0x" + "11" * 20, 31337, database_url=database_url,
                       MICROCRED_REGISTRY_CREATE_TIMEOUT="0.2")
    try:
        yield stack, *_replicas(stack, "issuer-a", "issuer-b")
    finally:
        stack.close()


def _clients(a: str, b: str, key: str) -> tuple[httpx.Client, httpx.Client]:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.Client(base_url=a, headers=headers, timeout=30), httpx.Client(base_url=b, headers=headers, timeout=30)


def test_a_new_issuers_key_works_on_the_very_next_request(issuers):
    _stack, a, b = issuers
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        refused = []
        for i in range(30):
            created = create_issuer(admin, ADMIN_TOKEN, f"new-{i}")
            r = httpx.get(f"{b}/api/v1/issuer", headers={"Authorization": f"Bearer {created['api_key']}"})
            if r.status_code != 200:
                refused.append((i, r.status_code, r.text[:100]))
    assert not refused, f"{len(refused)} of 30 new keys refused right after 201: {refused[:3]}"


def test_a_revoked_api_key_is_refused_by_the_very_next_request(issuers):
    _stack, a, b = issuers
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        owner = create_issuer(admin, ADMIN_TOKEN, "keys")
    manage_a, _ = _clients(a, b, owner["api_key"])
    accepted = []
    for i in range(10):
        r = manage_a.post("/api/v1/api-keys", json={"name": f"k{i}", "scopes": ["read"]})
        assert r.status_code == 201, r.text
        key = r.json()
        assert httpx.get(f"{b}/api/v1/issuer", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
        r = manage_a.post(f"/api/v1/api-keys/{key['id']}/revoke")
        assert r.status_code == 200 and r.json()["revoked_at"], r.text
        after = httpx.get(f"{b}/api/v1/issuer", headers={"Authorization": f"Bearer {key['key']}"})
        if after.status_code != 401:
            accepted.append((i, after.status_code))
    assert not accepted, f"a revoked key was accepted on the next request: {accepted}"


def test_credentials_batches_and_revocations_are_there_at_once(issuers):
    _stack, a, b = issuers
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        owner = create_issuer(admin, ADMIN_TOKEN, "creds")
    api_a, api_b = _clients(a, b, owner["api_key"])
    achievement = api_a.post("/api/v1/achievements", json=ACHIEVEMENT)
    assert achievement.status_code == 201, achievement.text
    assert api_b.get(f"/api/v1/achievements/{achievement.json()['id']}").status_code == 200
    missing, not_revoked, batches_missing = [], [], []
    for i in range(15):
        r = api_a.post("/api/v1/credentials", json={"achievement_id": achievement.json()["id"],
                                                    "recipient": {"name": f"R {i}", "email": f"r{i}@example.org"}})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        if api_b.get(f"/api/v1/credentials/{cid}").status_code != 200 \
                or httpx.get(f"{b}/public/credentials/{cid}").status_code != 200:
            missing.append(cid)
        if i % 3 == 0:
            assert api_a.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": "test"}).status_code == 200
            status = httpx.get(f"{b}/public/credentials/{cid}/status").json()
            if status.get("revoked") is not True:
                not_revoked.append(cid)
    for i in range(5):
        r = api_a.post("/api/v1/credentials/batch", json={"achievement_id": achievement.json()["id"],
                                                          "recipients": [{"name": "B", "email": f"b{i}@example.org"}]})
        assert r.status_code == 202, r.text
        if api_b.get(r.headers["Location"]).status_code != 200:
            batches_missing.append(r.headers["Location"])
    assert not missing, f"credentials answered 201 but not found by the next request: {missing}"
    assert not not_revoked, f"revoked (200) but the public status said otherwise: {not_revoked}"
    assert not batches_missing, f"batch Locations that answered 404: {batches_missing}"


def test_concurrent_revocations_first_wins_and_every_answer_tells_the_stored_one(issuers):
    stack, a, b = issuers
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        owner = create_issuer(admin, ADMIN_TOKEN, "race")
    api_a, api_b = _clients(a, b, owner["api_key"])
    achievement = api_a.post("/api/v1/achievements", json=ACHIEVEMENT).json()
    for attempt in range(3):
        cid = api_a.post("/api/v1/credentials", json={"achievement_id": achievement["id"], "recipient": {
            "name": "Racer", "email": f"race{attempt}@example.org"}}).json()["id"]

        def revoke(i: int) -> httpx.Response:
            client = api_a if i % 2 else api_b
            return client.post(f"/api/v1/credentials/{cid}/revoke", json={"reason": f"reason {i}"})

        before = _revocation_list_changes(stack, cid)

        with cf.ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(revoke, range(10)))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200]
        told = {(r.json()["revoked_at"], r.json()["revocation_reason"]) for r in answers}
        assert len(told) == 1, f"ten revocations, {len(told)} different answers: {told}"
        (revoked_at, reason), = told
        status = httpx.get(f"{b}/public/credentials/{cid}/status").json()
        assert status["revoked"] is True and status["reason"] == reason
        assert api_b.get(f"/api/v1/credentials/{cid}").json()["revoked_at"] == revoked_at
        # The revocation reaches the chain through the credential's revocation list: its bit set once
        # (one change counted), and nothing queued per hash (that path is for older credentials).
        assert _revocation_list_changes(stack, cid) == before + 1, "one change to the revocation list per credential"
        engine = create_engine(stack.database_url)
        try:
            with engine.connect() as conn:
                outbox = conn.execute(text("SELECT payload FROM issuer_outbox WHERE kind = 'revoke'")).all()
        finally:
            engine.dispose()
        assert outbox == [], "credentials with status lists are not revoked per hash"


def _revocation_list_changes(stack, credential_id: str) -> int:
    """How many changes the credential's revocation list has counted (each set or cleared bit is one)."""
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT l.changes FROM issuer_status_lists l JOIN issuer_status_entries e ON e.status_list_id = l.id "
                "WHERE e.credential_id = :cid AND l.purpose = 'revocation'"), {"cid": credential_id}).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigkill_right_after_201_loses_nothing(issuers):
    stack, a, _b = issuers
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        owner = create_issuer(admin, ADMIN_TOKEN, "crash")
    headers = {"Authorization": f"Bearer {owner['api_key']}"}
    achievement = httpx.post(f"{a}/api/v1/achievements", json=ACHIEVEMENT, headers=headers).json()
    answered = []
    for i in range(4):
        url = stack.procs["issuer-a"].url
        r = httpx.post(f"{url}/api/v1/credentials", headers=headers, timeout=30, json={
            "achievement_id": achievement["id"], "recipient": {"name": "K", "email": f"k{i}@example.org"}})
        assert r.status_code == 201, r.text
        stack.kill("issuer-a")  # SIGKILL the moment the answer is in
        answered.append(r.json()["id"])
        _replica(stack, "issuer-a")
    survivor = stack.procs["issuer-a"].url
    lost = [cid for cid in answered
            if httpx.get(f"{survivor}/api/v1/credentials/{cid}", headers=headers).status_code != 200]
    assert not lost, f"answered 201, then lost to a SIGKILL: {lost}"


@pytest.fixture
def registries(database_url, tmp_path):
    stack = make_stack(tmp_path / "stack", "http://127.0.0.1:9", "0x" + "11" * 20, 31337, database_url=database_url)
    try:
        yield stack, *_replicas(stack, "registry-a", "registry-b")
    finally:
        stack.close()


def test_the_registry_answers_after_its_commit_too(registries):
    stack, a, b = registries
    auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    missing = []
    for i in range(10):
        issuer_id = f"iss_{i:02d}"
        r = httpx.post(f"{a}/api/v1/issuers", headers=auth, timeout=30, json={
            "issuer_id": issuer_id, "did": f"did:web:r{i}.example", "public_key": "0x" + f"{i + 1:02x}" * 32})
        assert r.status_code == 201, r.text
        if httpx.get(f"{b}/api/v1/issuers/{issuer_id}", headers=auth).status_code != 200:
            missing.append(issuer_id)
        h = "0x" + f"{i + 0x40:02x}" * 32
        r = httpx.post(f"{a}/api/v1/anchors", headers=auth, json={"issuer_id": issuer_id, "hashes": [h]})
        assert r.status_code == 202, r.text
        if httpx.get(f"{b}/api/v1/anchors/{h}").status_code != 200:
            missing.append(h)
    assert not missing, f"answered 2xx but not found by the next request: {missing}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_status_link_in_every_credential_resolves_on_the_verifier(issuers):
    stack, _a, _b = issuers
    issuer = stack.start("issuer", {"MICROCRED_TEST_COMMIT_DELAY": DELAY}).url
    verifier = stack.start("verifier").url
    with httpx.Client(base_url=issuer, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        owner = create_issuer(admin, ADMIN_TOKEN, "status")
    api, _ = _clients(issuer, issuer, owner["api_key"])
    achievement = api.post("/api/v1/achievements", json=ACHIEVEMENT).json()
    credential = api.post("/api/v1/credentials", json={"achievement_id": achievement["id"],
                                                       "recipient": {"name": "S", "email": "s@example.org"}}).json()
    # The credential's own status route on the verifier (what older credentials' credentialStatus
    # named) answers at once; its status lists are served once published (tests/e2e/test_status_lists.py).
    link = f"{verifier}/c/{credential['id']}/status"
    r = httpx.get(link)
    assert r.status_code == 200 and r.json()["revoked"] is False and r.json()["revokedAt"] is None
    assert r.headers["cache-control"] == "public, max-age=5"
    revoked = api.post(f"/api/v1/credentials/{credential['id']}/revoke", json={"reason": "issued in error"}).json()
    r = httpx.get(link)
    assert r.status_code == 200 and r.json()["revoked"] is True, "a revocation shows on the status link at once"
    assert r.json()["reason"] == "issued in error"
    assert r.json()["revokedAt"] == httpx.get(f"{issuer}/public/credentials/{credential['id']}/status").json()["revokedAt"]
    assert revoked["revoked_at"].startswith(r.json()["revokedAt"][:19])
    assert httpx.get(f"{verifier}/c/{'Z' * 22}/status").status_code == 404
    stack.stop("issuer")
    down = httpx.get(link)
    assert down.status_code == 503 and down.json()["error"]["code"] == "issuer_unavailable"
