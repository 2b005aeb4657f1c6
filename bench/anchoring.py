"""Anchoring throughput and gas on the embedded default (anvil + SQLite + the real processes).

1. 10,000 hashes queued for one issuer in one request → time until all are ``confirmed``.
2. Gas per credential at batch sizes 1, 100 and 10,000 (one root per transaction).

    python -m bench.anchoring
"""

from __future__ import annotations

import os
import sys
import time

import httpx
from web3 import HTTPProvider, Web3

from tests.support.stack import SERVICE_TOKEN, stack_on_new_chain, wait_for

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def _hashes(n: int) -> list[str]:
    return ["0x" + os.urandom(32).hex() for _ in range(n)]


def _queue_and_wait(client: httpx.Client, hashes: list[str], timeout: float = 120.0) -> float:
    start = time.perf_counter()
    for i in range(0, len(hashes), 10_000):
        r = client.post("/api/v1/anchors", headers=AUTH, json={"issuer_id": "bench", "hashes": hashes[i:i + 10_000]})
        r.raise_for_status()
    wait_for(lambda: client.get("/api/v1/chain").json()["unconfirmedAnchors"] == 0, timeout=timeout, interval=0.05,
             what="all hashes confirmed")
    return time.perf_counter() - start


def _last_anchor_gas(w3: Web3, client: httpx.Client, h: str) -> int:
    receipt = client.get(f"/api/v1/anchors/{h}").json()
    return int(w3.eth.get_transaction_receipt(receipt["txHash"])["gasUsed"])


def main() -> None:
    # The embedded default's anchoring settings (interval 2 s, up to 10,000 leaves).
    with stack_on_new_chain("microcred-bench-", ["registry", "registry-worker"],
                            MICROCRED_ANCHOR_INTERVAL="2.0", MICROCRED_POLL_INTERVAL="0.5") as stack:
        w3 = Web3(HTTPProvider(stack.rpc_url))
        client = httpx.Client(base_url=stack.url("registry"), timeout=60)
        client.post("/api/v1/issuers", headers=AUTH, json={
            "issuer_id": "bench", "did": "did:web:bench.example", "public_key": _hashes(1)[0]}).raise_for_status()
        wait_for(lambda: client.get("/api/v1/issuers/bench", headers=AUTH).json().get("state") == "active",
                 what="issuer registration")

        rows = []
        for size in (1, 100, 10_000):
            hashes = _hashes(size)
            seconds = _queue_and_wait(client, hashes)
            gas = _last_anchor_gas(w3, client, hashes[0])
            rows.append((size, seconds, gas))
        print(f"{'batch size':>10} | {'queued → confirmed':>18} | {'gas (tx)':>9} | {'gas / credential':>16}")
        print(f"{'-' * 10}-+-{'-' * 18}-+-{'-' * 9}-+-{'-' * 16}")
        for size, seconds, gas in rows:
            print(f"{size:>10,} | {seconds:>16.2f} s | {gas:>9,} | {gas / size:>16,.2f}")
        ten_k = rows[-1][1]
        print(f"\n10,000 hashes queued → confirmed: {ten_k:.2f} s (target < 30 s; includes the "
              f"2 s batching interval) — {'OK' if ten_k < 30 else 'OVER TARGET'}")
        print(f"gas per credential at 10,000: {rows[-1][2] / 10_000:.2f} (target < 10) — "
              f"{'OK' if rows[-1][2] / 10_000 < 10 else 'OVER TARGET'}")


if __name__ == "__main__":
    sys.exit(main())
