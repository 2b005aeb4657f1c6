"""Verifier latency and throughput on loopback, next to the raw cost of one verification.

Starts the real stack (anvil, registry + worker, issuer + outbox, one verifier process),
issues credentials, then, in one run and against the same server:

* a trivial route (``GET /api/v1/health``) — the floor of the stack;
* warm ``GET /c/{id}`` with ``Accept: application/json`` — the report an HR system asks for;
* cold ``POST /api/v1/verify`` with a credential the verifier has never seen, one at a time
  and ``BENCH_CONCURRENCY`` at a time;
* how many requests the verifier sent to the node per cold verification (its /metrics);
* the limit: one raw verification in-process (canonicalise + hash + Ed25519 verify + Merkle
  path) followed by one chain read (``eth_call``) on the same anvil, timed per operation at
  the same concurrency as the verify requests (threads of this one process, as the verifier is
  one process: the GIL serialises both alike).

The machine is shared, so load drifts: the limit and the cold requests are measured in
alternating rounds (``BENCH_ROUNDS``), and each ratio is of the medians over all of them.

The client is measured too, and kept out of the way: the requests go through aiohttp (the
library the verifier itself reads the chain with) and the limit's chain read through one
kept-alive ``http.client`` connection per thread. ``httpx.AsyncClient`` costs ≈ 1–2 ms a
request by itself on this machine, against a bare Starlette app: it would be measuring the
client (docs/verifier.md, "Where a cold verification's time goes"). The first rows are that
bare app, served by the same uvicorn in a process of its own, through both clients — the floor
under any route.

Bounded: a fixed count of requests, a few at a time, loopback only.

With ``BENCH_ENDORSEMENTS`` (default 2) endorsers endorse the credentials' achievement first, so
every report also lists and checks that many endorsements (docs/endorsements.md); 0 measures
credentials nobody endorses.

    python -m bench.verifier        (BENCH_REQUESTS, BENCH_CONCURRENCY, BENCH_CREDENTIALS, BENCH_ROUNDS,
                                     BENCH_ENDORSEMENTS)
"""

from __future__ import annotations

import asyncio
import http.client
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson
from web3 import HTTPProvider, Web3

from services.core import anchorproof
from services.core.merkle import leaf_hash, process_proof
from services.verifier.checker import document_verdict
from services.ops.processes import free_port, spawn_app, wait_http
from tests.support.stack import ADMIN_TOKEN, stack_on_new_chain, wait_for

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
CREDENTIALS = int(os.environ.get("BENCH_CREDENTIALS", "500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ENDORSEMENTS = int(os.environ.get("BENCH_ENDORSEMENTS", "2"))
TARGET = 1.5  # cold verify p50 ≤ 1.5 × (raw verification + one chain read), issue 11


class Client:
    """A kept-alive aiohttp session; ``get`` and ``post`` read the whole answer and fail on a non-200."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def _send(self, method: str, path: str, body: bytes | None = None, accept: str | None = None) -> bytes:
        headers = {"Accept": accept} if accept else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.base_url + path, data=body, headers=headers) as r:
            data = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{method} {path} answered {r.status}: {data[:200]!r}")
            return data

    async def get(self, path: str, accept: str | None = None) -> bytes:
        return await self._send("GET", path, accept=accept)

    async def post(self, path: str, document: dict) -> bytes:
        return await self._send("POST", path, orjson.dumps(document))

    async def close(self) -> None:
        await self.session.close()


async def _load(client: Client, make_request, count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            start = time.perf_counter()
            await make_request(client, i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def _chain_requests(verifier_url: str) -> float:
    """The verifier's ``microcred_verifier_chain_requests_total`` (its /metrics answers loopback)."""
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, session.get(verifier_url + "/metrics") as r:
        text = await r.text()
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "microcred_verifier_chain_requests_total")


def _row(name: str, elapsed: float, latencies: list[float]) -> tuple:
    q = statistics.quantiles(latencies, n=100)
    return name, len(latencies) / elapsed, statistics.median(latencies) * 1000, q[98] * 1000


class Limit:
    """The floor of a cold verification: the raw verification in process, then one eth_call
    (a raw JSON-RPC request on a kept-alive connection of the thread's own)."""

    def __init__(self, w3: Web3, contract: str) -> None:
        from services.core.contract import ABI

        self.registry = w3.eth.contract(address=contract, abi=ABI)
        self.url, self.contract = w3.provider.endpoint_uri, contract
        self.local = threading.local()

    def _post(self, body: bytes) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            u = urlsplit(self.url)
            conn = self.local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("POST", urlsplit(self.url).path or "/", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200 or b'"result"' not in data:
            raise RuntimeError(f"eth_call answered {answer.status}: {data[:200]!r}")

    def raw(self, doc: dict) -> float:
        start = time.perf_counter()
        verdict = document_verdict(doc)
        receipt = anchorproof.decode(anchorproof.find(doc["proof"]))
        assert verdict.signature_valid
        assert "0x" + process_proof(leaf_hash(bytes.fromhex(verdict.credential_hash[2:])),
                                    [bytes.fromhex(p[2:]) for p in receipt.path]).hex() == receipt.root
        return time.perf_counter() - start

    def read(self, doc: dict) -> float:
        root = anchorproof.decode(anchorproof.find(doc["proof"])).root
        data = self.registry.encode_abi("anchorOf", args=[bytes.fromhex(root[2:])])
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                             "params": [{"to": self.contract, "data": data}, "latest"]})
        start = time.perf_counter()
        self._post(body)
        return time.perf_counter() - start

    def measure(self, documents: list[dict], concurrency: int) -> tuple[list[float], list[float], list[float]]:
        """Per operation at ``concurrency``: raw verification, chain read, and the two in a row."""
        with ThreadPoolExecutor(concurrency) as pool:
            pairs = list(pool.map(lambda d: (self.raw(d), self.read(d)), documents))
        return [r for r, _ in pairs], [c for _, c in pairs], [r + c for r, c in pairs]


def main() -> None:
    with stack_on_new_chain("microcred-bench-verifier-",
                            ["registry", "registry-worker", "issuer", "issuer-outbox", "verifier"],
                            MICROCRED_OUTBOX_INTERVAL="0.2", MICROCRED_LOG_LEVEL="warning",
                            MICROCRED_RATE_LIMIT_PER_MINUTE="1000000") as stack:
        w3, contract = Web3(HTTPProvider(stack.rpc_url)), stack.contract
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
        endorsement_urls = []
        for n in range(ENDORSEMENTS):
            endorser = admin.post("/api/v1/endorsers", json={"name": f"Employer {n}", "slug": f"employer-{n}",
                                                             "url": "https://e.example", "email": "e@e.example"}).json()
            eapi = httpx.Client(base_url=issuer_url, headers={"Authorization": f"Bearer {endorser['api_key']}"},
                                timeout=60)
            wait_for(lambda: eapi.get("/api/v1/endorser").json()["registry"]["state"] == "active", timeout=60)
            endorsement_urls.append(eapi.post("/api/v1/endorsements", json={
                "achievement_id": achievement["id"], "comment": "We hire on it."}).json()["url"])
        for url in endorsement_urls:
            wait_for(lambda u=url: httpx.get(u, headers={"Accept": "application/json"}).json()["verified"], timeout=120)
        documents = [httpx.get(f"{issuer_url}/public/credentials/{i}").json() for i in ids]
        documents = [d for d in documents if anchorproof.find(d.get("proof"))]

        limit = Limit(w3, contract)
        limit.measure(documents[:10], 1)  # warm: contexts, the connection
        verifier = stack.url("verifier")
        cold_rows: dict[int, dict[str, list[float]]] = {}

        async def floor(url: str) -> list[tuple]:
            """The bare app through aiohttp and through httpx.AsyncClient: what the client costs."""
            client = Client(url, 1)
            try:
                await _load(client, lambda c, i: c.get("/health"), 200, 1)
                rows = [_row("bare app GET /health, aiohttp", *await _load(client, lambda c, i: c.get("/health"),
                                                                        REQUESTS, 1))]
            finally:
                await client.close()
            async with httpx.AsyncClient(base_url=url) as hx:
                async def get(c, i):
                    (await hx.get("/health")).raise_for_status()
                await _load(None, get, 200, 1)
                rows.append(_row("bare app GET /health, httpx.AsyncClient", *await _load(None, get, REQUESTS, 1)))
            return rows

        async def run() -> list[tuple]:
            client = Client(verifier, CONCURRENCY)
            try:
                return await measure(client)
            finally:
                await client.close()

        async def measure(client: Client) -> list[tuple]:
            json_ = "application/json"
            for i in ids[:20]:  # warm the report cache's neighbours: connections, contexts
                await client.get(f"/c/{i}", accept=json_)
            rows = []
            elapsed, lat = await _load(client, lambda c, i: c.get("/api/v1/health"), REQUESTS, CONCURRENCY)
            rows.append(_row("GET /api/v1/health (trivial)", elapsed, lat))
            warm_id = ids[0]
            elapsed, lat = await _load(client, lambda c, i: c.get(f"/c/{warm_id}", accept=json_),
                                       REQUESTS, CONCURRENCY)
            rows.append(_row("GET /c/{id} JSON (warm)", elapsed, lat))
            # Cold: a credential this verifier has never seen. Each round measures the limit and
            # then the verify requests at concurrency 1, then both at CONCURRENCY.
            cold = documents[20:]
            per = len(cold) // (2 * ROUNDS)
            seen: list[dict] = []
            for r in range(ROUNDS):
                for j, concurrency in enumerate((1, CONCURRENCY)):
                    batch = cold[(2 * r + j) * per:(2 * r + j + 1) * per]
                    seen += batch
                    acc = cold_rows.setdefault(concurrency, {"raw": [], "read": [], "limit": [], "verify": [],
                                                              "elapsed": []})
                    raw, read, both = await asyncio.to_thread(limit.measure, batch, concurrency)
                    acc["raw"] += raw
                    acc["read"] += read
                    acc["limit"] += both
                    asked = await _chain_requests(verifier)
                    elapsed, lat = await _load(client, lambda c, i, b=batch: c.post(
                        "/api/v1/verify", {"credential": b[i]}), len(batch), concurrency)
                    acc["verify"] += lat
                    acc["elapsed"].append(elapsed)
                    acc["chain_requests"] = acc.get("chain_requests", 0) + await _chain_requests(verifier) - asked
            for concurrency, acc in cold_rows.items():
                rows.append(_row(f"POST /api/v1/verify (cold, {concurrency} at a time)", sum(acc["elapsed"]),
                                 acc["verify"]))
            elapsed, lat = await _load(client, lambda c, i: c.post("/api/v1/verify", {"credential": seen[i]}),
                                       min(len(seen), 200), 1)
            rows.append(_row("POST /api/v1/verify (cache warm, 1 at a time)", elapsed, lat))
            return rows

        bare = spawn_app("bench-bare-app", "bench.bare_app:create_app", free_port(), dict(os.environ), None)
        try:
            wait_http(bare, "/health")
            floor_rows = asyncio.run(floor(bare.url))
        finally:
            bare.stop()
        rows = asyncio.run(run())
        print(f"{len(documents)} anchored credentials, {REQUESTS} requests per warm route, concurrency {CONCURRENCY}, "
              f"{len(endorsement_urls)} endorsements of their achievement\n")
        print(f"{'route':<48} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7}")
        print(f"{'-' * 48}-+-{'-' * 8}-+-{'-' * 7}-+-{'-' * 7}")
        for name, rps, p50, p99 in floor_rows + rows:
            print(f"{name:<48} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f}")
        trivial, warm = rows[0][2], rows[1][2]  # p50s
        print(f"\nwarm GET /c/{{id}} p50 / trivial p50 = {warm / trivial:.2f}× (target ≤ 2×)")
        print(f"\ncold verify against the limit (raw verification in process + one chain read, "
              f"p50 over {ROUNDS} alternating rounds):")
        for concurrency, acc in cold_rows.items():
            raw, read, both = (statistics.median(acc[k]) * 1000 for k in ("raw", "read", "limit"))
            cold = statistics.median(acc["verify"]) * 1000
            ratio = cold / both
            print(f"  {concurrency} at a time: raw {raw:.2f} ms + read {read:.2f} ms = {both:.2f} ms; "
                  f"cold verify {cold:.2f} ms = {ratio:.2f}× (target ≤ {TARGET}×: {'met' if ratio <= TARGET else 'NOT met'})")
        print("requests the verifier sent to the node per cold verification (its revocation index's syncs "
              "included; the limit makes 1): " + ", ".join(
                  f"{acc['chain_requests'] / len(acc['verify']):.2f} at {concurrency} at a time"
                  for concurrency, acc in cold_rows.items()))


if __name__ == "__main__":
    main()
