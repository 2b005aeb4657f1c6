"""Verifier latency and throughput on loopback, next to the raw cost of one verification.

Starts the real stack (anvil, registry + worker, issuer + outbox, one verifier process),
issues credentials, then, in one run and against the same server:

* a trivial route (``GET /api/v1/health``) — the floor of the stack;
* warm ``GET /c/{id}`` with ``Accept: application/json`` — the report an HR system asks for;
* cold ``POST /api/v1/verify`` with a credential the verifier has never seen;
* the raw cost of one verification in-process: canonicalise + hash + Ed25519 verify +
  Merkle path, and one chain read (``eth_call``) on the same anvil.

Bounded: a fixed count of requests, a few at a time, loopback only.

    python -m bench.verifier        (BENCH_REQUESTS, BENCH_CONCURRENCY, BENCH_CREDENTIALS)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from web3 import HTTPProvider, Web3

from services.core import anchorproof
from services.core.merkle import leaf_hash, process_proof
from services.devchain.anvil import Anvil
from services.devchain.deploy import OPERATOR_KEY, deploy_registry
from services.ops.processes import free_port
from services.verifier.checker import document_verdict
from tests.support.stack import ADMIN_TOKEN, make_stack, wait_for

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
CREDENTIALS = int(os.environ.get("BENCH_CREDENTIALS", "300"))


async def _load(client: httpx.AsyncClient, make_request, count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            start = time.perf_counter()
            r = await make_request(client, i)
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise RuntimeError(f"request {i} answered {r.status_code}: {r.text[:200]}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


def _row(name: str, elapsed: float, latencies: list[float]) -> tuple:
    q = statistics.quantiles(latencies, n=100)
    return name, len(latencies) / elapsed, statistics.median(latencies) * 1000, q[98] * 1000


def _raw_verification_ms(documents: list[dict], w3: Web3, contract: str) -> tuple[float, float]:
    """In-process: the verdict (canonicalise, hash, Ed25519) + Merkle path, and one eth_call
    (a raw JSON-RPC request, as the verifier makes them)."""
    from services.core.contract import ABI

    registry = w3.eth.contract(address=contract, abi=ABI)
    rpc = httpx.Client(timeout=10)
    start = time.perf_counter()
    for doc in documents:
        verdict = document_verdict(doc)
        receipt = anchorproof.decode(anchorproof.find(doc["proof"]))
        assert verdict.signature_valid
        assert "0x" + process_proof(leaf_hash(bytes.fromhex(verdict.credential_hash[2:])),
                                    [bytes.fromhex(p[2:]) for p in receipt.path]).hex() == receipt.root
    cpu = (time.perf_counter() - start) / len(documents) * 1000
    root = anchorproof.decode(anchorproof.find(documents[0]["proof"])).root
    data = registry.encode_abi("anchorOf", args=[bytes.fromhex(root[2:])])
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": contract, "data": data}, "latest"]}
    start = time.perf_counter()
    for _ in range(200):
        rpc.post(w3.provider.endpoint_uri, json=body).raise_for_status()
    return cpu, (time.perf_counter() - start) / 200 * 1000


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="microcred-bench-verifier-"))
    anvil = Anvil(port=free_port(), log_path=root / "anvil.log").start()
    stack = None
    try:
        w3 = Web3(HTTPProvider(anvil.rpc_url))
        contract = deploy_registry(w3, OPERATOR_KEY)
        stack = make_stack(root, anvil.rpc_url, contract, 31337,
                           services=["registry", "registry-worker", "issuer", "issuer-outbox", "verifier"],
                           MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_LOG_LEVEL="warning",
                           MICROCRED_RATE_LIMIT_PER_MINUTE="1000000")
        issuer_url = stack.env["MICROCRED_ISSUER_URL"]
        admin = httpx.Client(base_url=issuer_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
        issuer = admin.post("/api/v1/issuers", json={"name": "Bench College", "slug": "bench", "url": "https://b.example",
                                                     "email": "b@b.example"}).json()
        api = httpx.Client(base_url=issuer_url, headers={"Authorization": f"Bearer {issuer['api_key']}"}, timeout=60)
        wait_for(lambda: api.get("/api/v1/issuer").json()["registry"]["state"] == "active", timeout=60)
        achievement = api.post("/api/v1/achievements", json={
            "name": "Critical Thinking", "description": "Reasons well.", "criteria": {"narrative": "Passed."}}).json()
        batch = api.post("/api/v1/credentials/batch", json={"achievement_id": achievement["id"], "recipients": [
            {"name": f"Learner {i}", "email": f"l{i}@example.org"} for i in range(CREDENTIALS)]}).json()
        wait_for(lambda: api.get(f"/api/v1/credentials/batches/{batch['id']}").json()["state"] == "done", timeout=120)
        ids = [c["id"] for c in api.get(f"/api/v1/credentials/batches/{batch['id']}").json()["credentials"]]
        wait_for(lambda: api.get(f"/api/v1/credentials/{ids[-1]}").json()["status"] == "anchored", timeout=120)
        wait_for(lambda: all(api.get(f"/api/v1/credentials/{i}").json()["anchored_at"] for i in ids[::25]), timeout=120)
        documents = [httpx.get(f"{issuer_url}/public/credentials/{i}").json() for i in ids]
        documents = [d for d in documents if anchorproof.find(d.get("proof"))]

        cpu_ms, call_ms = _raw_verification_ms(documents[:100], w3, contract)
        verifier = stack.url("verifier")

        async def run() -> list[tuple]:
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=verifier, limits=limits, timeout=30) as client:
                for i in ids[:20]:  # warm the report cache's neighbours: connections, contexts
                    await client.get(f"/c/{i}", headers={"Accept": "application/json"})
                rows = []
                elapsed, lat = await _load(client, lambda c, i: c.get("/api/v1/health"), REQUESTS, CONCURRENCY)
                rows.append(_row("GET /api/v1/health (trivial)", elapsed, lat))
                warm_id = ids[0]
                elapsed, lat = await _load(client, lambda c, i: c.get(f"/c/{warm_id}", headers={"Accept": "application/json"}),
                                           REQUESTS, CONCURRENCY)
                rows.append(_row("GET /c/{id} JSON (warm)", elapsed, lat))
                cold, cold2 = documents[20:150], documents[150:]
                # Cold: a credential this verifier has never seen, one request at a time (the raw
                # cost below is sequential too), then under the same concurrency as the rest.
                elapsed, lat = await _load(client, lambda c, i: c.post("/api/v1/verify", json={"credential": cold[i]}),
                                           len(cold), 1)
                rows.append(_row("POST /api/v1/verify (cold, 1 at a time)", elapsed, lat))
                elapsed, lat = await _load(client, lambda c, i: c.post("/api/v1/verify", json={"credential": cold2[i]}),
                                           len(cold2), CONCURRENCY)
                rows.append(_row(f"POST /api/v1/verify (cold, {CONCURRENCY} at a time)", elapsed, lat))
                elapsed, lat = await _load(client, lambda c, i: c.post("/api/v1/verify", json={"credential": cold[i % len(cold)]}),
                                           len(cold), 1)
                rows.append(_row("POST /api/v1/verify (cache warm, 1 at a time)", elapsed, lat))
                return rows

        rows = asyncio.run(run())
        print(f"{len(documents)} anchored credentials, {REQUESTS} requests per warm route, concurrency {CONCURRENCY}\n")
        print(f"{'route':<48} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7}")
        print(f"{'-' * 48}-+-{'-' * 8}-+-{'-' * 7}-+-{'-' * 7}")
        for name, rps, p50, p99 in rows:
            print(f"{name:<48} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f}")
        print(f"\nraw verification, in process: {cpu_ms:.2f} ms (canonicalise + hash + Ed25519 + Merkle path)")
        print(f"one chain read (eth_call anchorOf): {call_ms:.2f} ms")
        trivial, warm, cold = rows[0][2], rows[1][2], rows[2][2]  # p50s
        print(f"\nwarm GET /c/{{id}} p50 / trivial p50 = {warm / trivial:.2f}× (target ≤ 2×)")
        print(f"cold verify p50 / (raw + one chain read) = {cold / (cpu_ms + call_ms):.2f}× (target ≤ 2×)")
    finally:
        if stack:
            stack.close()
        anvil.stop()


if __name__ == "__main__":
    main()
