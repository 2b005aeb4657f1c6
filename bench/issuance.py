"""Issuance throughput: credentials issued and signed per second, single and batch.

Measured in one run, next to the raw rates they are made of:

* Ed25519 sign (``cryptography``), 64-byte message — the signature alone;
* RDFC-1.0 canonicalisation of one credential (safe mode, warm caches);
* eddsa-rdfc-2022 sign, whole (proof configuration + document canonicalised, signed) —
  the "raw canonicalise-and-sign rate", one core;
* single issuance, the use case alone (``service.issue_credential``: build, sign, store,
  outbox, one transaction per credential), through the API in-process (Starlette's
  TestClient, whose thread hops add several ms per request), and through the API over real
  HTTP: the issuer as ``make run`` starts it (uvicorn, one process, SQLite), one keep-alive
  client, one request at a time and 4 at a time;
* batch issuance: one ``POST /api/v1/credentials/batch`` until the batch is done (chunks
  signed in a process pool, one transaction per chunk).

The credentials signed for the reference carry two status entries, as issued ones do. The
reference is measured again after the API runs (the machine is shared: its speed moves), and
every ratio is printed against the slower and the faster of the two.

``python -m bench issuance`` (``BENCH_BATCH=10000`` for a full-size batch). The 10,000-credential
batch all the way to anchored and verified is ``python -m bench batch_to_valid``.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _best(fn, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return _rate(n, best)


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from fastapi.testclient import TestClient

    from services.core.jsonld import canonicalize
    from bench.samples import credential_builder
    from services.issuer.credentials import document as cred
    from services.issuer.app import create_app
    from services.issuer.settings import IssuerSettings
    from services.issuer.signing import sign_documents
    from services.ops.migrate import upgrade

    n_single = int(os.environ.get("BENCH_SINGLE", "300"))
    n_batch = int(os.environ.get("BENCH_BATCH", "2000"))
    cores = os.cpu_count() or 1

    key = Ed25519PrivateKey.generate()
    message = os.urandom(64)
    now = datetime.now(UTC)
    document = credential_builder(status_lists="https://issuer.example/status-lists/bench")

    sample = document(0)
    canonicalize(sample)  # fill the caches
    seed = os.urandom(32)
    created = cred.xsd_datetime(now)
    docs = [document(i) for i in range(400)]
    it = iter(range(10**9))

    raw_sign = _best(lambda: key.sign(message), 5000)
    canon = _best(lambda: canonicalize(docs[next(it) % 400]), 400)
    sign_whole = _best(lambda: sign_documents(seed, "did:web:x#z6Mk", created, [docs[next(it) % 400]]), 400)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = IssuerSettings(data_dir=Path(tmp), database_url=url, admin_token="bench-admin-token-0123456789",
                                  service_token="bench-service-token-0123456789", key_encryption_key="bench-kek-0123456789",
                                  registry_url="http://127.0.0.1:1", registry_create_timeout=0.2,
                                  sign_processes=cores, batch_max_recipients=max(10_000, n_batch))
        with TestClient(create_app(settings)) as client:
            admin = {"Authorization": "Bearer bench-admin-token-0123456789"}
            issuer = client.post("/api/v1/issuers", json={"name": "Bench", "slug": "bench",
                                                          "url": "https://bench.example", "email": "a@bench.example"},
                                 headers=admin).json()
            auth = {"Authorization": f"Bearer {issuer['api_key']}"}
            ach = client.post("/api/v1/achievements", headers=auth, json={
                "name": "Critical Thinking", "description": "Analyses arguments and weighs evidence.",
                "criteria": {"narrative": "Passed the capstone."}, "achievementType": "MicroCredential"}).json()
            client.post("/api/v1/credentials", headers=auth, json={"achievement_id": ach["id"], "recipient": {
                "name": "Warm", "email": "warm@example.org"}})
            start = time.perf_counter()
            for i in range(n_single):
                r = client.post("/api/v1/credentials", headers=auth, json={
                    "achievement_id": ach["id"], "recipient": {"name": f"L {i}", "email": f"s{i}@example.org"}})
                assert r.status_code == 201, r.text
            single = _rate(n_single, time.perf_counter() - start)

            from services.core.db import transaction
            from services.issuer.credentials import service
            from services.issuer.credentials.schemas import CredentialCreate
            from services.issuer.issuers import repository as repo

            sessions = client.app.state.sessions
            start = time.perf_counter()
            for i in range(n_single):
                with transaction(sessions) as session:
                    service.issue_credential(session, settings, repo.issuer(session, issuer["id"]), CredentialCreate(
                        achievement_id=ach["id"], recipient={"name": f"L {i}", "email": f"u{i}@example.org"}), None)
            use_case = _rate(n_single, time.perf_counter() - start)

            http_rows = _over_http(tmp, url, settings, auth, ach["id"], n_single)
            http_serial, http_parallel = http_rows[-2][1], http_rows[-1][1]
            sign_after = _best(lambda: sign_documents(seed, "did:web:x#z6Mk", created, [docs[next(it) % 400]]), 400)

            # warm the pool's worker processes (spawned once per process, then reused)
            warm = client.post("/api/v1/credentials/batch", headers=auth, json={
                "achievement_id": ach["id"], "recipients": [{"name": "w", "email": f"w{i}@example.org"}
                                                            for i in range(cores * 8)]}).json()
            while client.get(f"/api/v1/credentials/batches/{warm['id']}?limit=0", headers=auth).json()["state"] != "done":
                time.sleep(0.05)
            recipients = [{"name": f"Learner {i}", "email": f"b{i}@example.org"} for i in range(n_batch)]
            start = time.perf_counter()
            batch = client.post("/api/v1/credentials/batch", headers=auth,
                                json={"achievement_id": ach["id"], "recipients": recipients})
            accepted = time.perf_counter() - start
            assert batch.status_code == 202, batch.text
            while True:
                state = client.get(f"/api/v1/credentials/batches/{batch.json()['id']}?limit=0", headers=auth).json()
                if state["state"] == "done":
                    break
                time.sleep(0.02)
            batch_rate = _rate(state["issued"], time.perf_counter() - start)
            assert state["issued"] == n_batch

    low, high = min(sign_whole, sign_after), max(sign_whole, sign_after)
    rows = [
        ("Ed25519 sign (64 bytes)", raw_sign, "1 core"),
        ("RDFC-1.0 canonicalise one credential", canon, "1 core"),
        ("eddsa-rdfc-2022 sign, whole (raw canonicalise+sign)", sign_whole, "1 core, before"),
        ("  the same, measured again after the API runs", sign_after, "1 core, after"),
        (f"single issuance, use case ({n_single}, a transaction each)", use_case, "1 core"),
        (f"single issuance via API, TestClient ({n_single} requests)", single, "1 request at a time"),
        *((f"{name} ({n_single} requests)", rate, note) for name, rate, note in http_rows),
        (f"batch issuance ({n_batch} recipients, 202 in {accepted * 1000:.0f} ms)", batch_rate,
         f"{cores} signing processes"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'per second':>11}  {'ms each':>8}  {'÷ raw sign':>12}  notes")
    for name, rate, note in rows:
        print(f"{name:<{width}}  {rate:>11,.0f}  {1000 / rate:>8.3f}  {rate / high:>5.2f}–{rate / low:<5.2f}  {note}")
    print(f"\nratios to the raw one-core canonicalise+sign rate of the same run (the two measurements: "
          f"{low:,.0f} and {high:,.0f}/s)")
    print(f"batch / raw = {batch_rate / high:.2f}–{batch_rate / low:.2f}  (target ≥ 0.5)")
    print(f"single via API over HTTP / raw = {http_serial / high:.2f}–{http_serial / low:.2f} one at a time, "
          f"{http_parallel / high:.2f}–{http_parallel / low:.2f} four at a time  (target ≥ 0.5)")
    print(f"single (use case) / raw = {use_case / high:.2f}–{use_case / low:.2f}")


class _Client:
    """Kept-alive ``http.client`` connections, one per thread: a request costs the client ≈ 0.1 ms
    (``httpx.Client`` cost 0.7–2.5 ms, more than the server's work being measured)."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        import threading
        from urllib.parse import urlsplit

        u = urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self.headers = {**headers, "Content-Type": "application/json"}
        self.local = threading.local()

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        import http.client

        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request(method, path, body, self.headers)
        answer = conn.getresponse()
        return answer.status, answer.read()


def _timed(fn, n: int, concurrency: int) -> float:
    """Requests per second of ``fn(i)`` for i < n, ``concurrency`` threads at a time."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    if concurrency == 1:
        for i in range(n):
            fn(i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(fn, range(n)))
    return _rate(n, time.perf_counter() - start)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _over_http(tmp: str, url: str, settings, auth: dict, achievement_id: str, n: int) -> list[tuple]:
    """Rows measured over real HTTP: the floor (a bare Starlette app, the issuer's health route), then
    single issuance through a real uvicorn process of the issuer on the same database, one at a
    time and four at a time, with the server process's CPU per request."""
    import orjson

    from services.ops.processes import free_port, spawn_app, wait_http

    rows: list[tuple] = []
    bare = spawn_app("bench-bare-app", "bench.bare_app:create_app", free_port(), dict(os.environ), None)
    try:
        wait_http(bare, "/health")
        client = _Client(bare.url, {})
        echo = orjson.dumps({"achievement_id": achievement_id, "recipient": {"name": "H", "email": "h@example.org"}})

        def post_echo(i: int) -> None:
            status, _ = client.send("POST", "/echo", echo)
            assert status == 200

        _timed(post_echo, 200, 1)
        rows.append(("HTTP floor: bare Starlette app, POST /echo (JSON in and out)", _timed(post_echo, n, 1),
                     "1 at a time, uvicorn"))
        rows.append(("HTTP floor: bare Starlette app, POST /echo (JSON in and out)", _timed(post_echo, n, 4),
                     "4 at a time, uvicorn"))
    finally:
        bare.stop()

    env = {**os.environ, "MICROCRED_DATA_DIR": tmp, "MICROCRED_DATABASE_URL": url,
           "MICROCRED_ADMIN_TOKEN": settings.secret("admin_token"),
           "MICROCRED_SERVICE_TOKEN": settings.secret("service_token"),
           "MICROCRED_KEY_ENCRYPTION_KEY": settings.secret("key_encryption_key"),
           "MICROCRED_REGISTRY_URL": "http://127.0.0.1:1", "MICROCRED_LOG_LEVEL": "warning"}
    proc = spawn_app("bench-issuer", "services.issuer.app:create_app", free_port(), env, Path(tmp))
    try:
        wait_http(proc)
        client = _Client(proc.url, auth)

        def health(i: int) -> None:
            status, _ = client.send("GET", "/api/v1/health")
            assert status == 200

        def issue(prefix: str):
            def one(i: int) -> None:
                status, body = client.send("POST", "/api/v1/credentials", orjson.dumps({
                    "achievement_id": achievement_id, "recipient": {"name": f"H {i}", "email": f"{prefix}{i}@example.org"}}))
                assert status == 201, body[:300]
            return one

        _timed(health, 100, 1)
        rows.append(("HTTP floor: the issuer's GET /api/v1/health", _timed(health, n, 1), "1 at a time, uvicorn"))
        _timed(issue("hw"), 20, 1)
        pid = proc.popen.pid
        cpu = _cpu_seconds(pid)
        serial = _timed(issue("h"), n, 1)
        cpu_each = (_cpu_seconds(pid) - cpu) / n * 1000
        rows.append(("single issuance via API over HTTP", serial,
                     f"1 at a time, uvicorn; server CPU {cpu_each:.2f} ms each"))
        cpu = _cpu_seconds(pid)
        parallel = _timed(issue("p"), n, 4)
        cpu_each = (_cpu_seconds(pid) - cpu) / n * 1000
        rows.append(("single issuance via API over HTTP", parallel,
                     f"4 at a time, uvicorn; server CPU {cpu_each:.2f} ms each"))
        return rows
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
