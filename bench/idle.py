"""What doing nothing costs: whole-stack idle CPU and issue → anchored latency at 10, 100, 1,000 issuers.

The embedded default as processes, started as `make run` starts them (anvil with its state
file, SQLite, registry API and worker, issuer API and outbox relay, verifier) with the default
intervals. Issuers are created through the admin API until there are N, the bench waits until
every one is registered on chain and nothing is in flight, then:

* sums the CPU time of each process of the stack (children included) over a quiet window and
  prints it per process and in total as % of one core, and the total over the target (under
  2 % at every N). anvil is counted: it is part of the local chain. `make run`'s supervisor is
  not (it looks at its children once a second);
* issues one credential at a time through the API and times it until the issuer reports it
  ``anchored`` (outbox → registry → Merkle batch → transaction → confirmation → receipt back) —
  target: flat, the same at 1,000 issuers as at 10 (printed over the figure at the first size).

    python -m bench.idle                # 10, 100, 1,000 issuers
    python -m bench.idle 10 100         # other sizes

Bounded in time: registering issuers stops after ``REGISTER_BUDGET`` seconds per step (the
figures then say how many were registered).
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from tests.support.stack import ADMIN_TOKEN, stack_on_new_chain

SIZES = (10, 100, 1_000)
TARGET_CPU = 2.0  # % of one core, whole stack, nothing to do
IDLE_WINDOW = 30.0  # seconds of quiet measured (CPU time is counted in 10 ms ticks: 0.03 % resolution)
SETTLE = 3.0  # seconds left after the last work before measuring
REGISTER_BUDGET = 600.0  # seconds per step to create and register issuers
LATENCY_SAMPLES = 3
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SERVICES = ["registry", "registry-worker", "issuer", "issuer-outbox", "verifier"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and all its descendants alive now."""
    total = 0.0
    try:
        top = psutil.Process(pid)
        for p in [top, *top.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """% of one core each process (with its children) used over ``seconds`` of wall time."""
    before, start = {n: _cpu_seconds(p) for n, p in pids.items()}, time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    return {n: 100.0 * (_cpu_seconds(p) - before[n]) / wall for n, p in pids.items()}


class Db:
    """Read-only looks at the SQLite database, to know when the stack has settled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def one(self, sql: str) -> int:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0] or 0)

    def registered(self) -> int:
        return self.one("SELECT count(*) FROM issuer_issuers WHERE registry_state = 'active' "
                        "AND chain_id IS NOT NULL")

    def busy(self) -> int:
        return (self.one("SELECT count(*) FROM registry_jobs WHERE state IN ('pending', 'sent', 'mined')")
                + self.one("SELECT count(*) FROM issuer_outbox WHERE state = 'pending'")
                + self.one("SELECT count(*) FROM registry_anchors WHERE state != 'confirmed'"))


def _create_issuers(client: httpx.Client, first: int, last: int, deadline: float) -> int:
    def create(i: int) -> bool:
        if time.monotonic() > deadline:
            return False
        r = client.post("/api/v1/issuers", headers=ADMIN, json={
            "name": f"Idle College {i}", "slug": f"idle-{i}", "url": f"https://idle-{i}.example.edu",
            "email": f"registrar@idle-{i}.example.edu"})
        r.raise_for_status()
        return True

    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(create, range(first, last)))


def _wait(predicate, deadline: float, interval: float = 0.5) -> bool:
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _issue_to_anchored(client: httpx.Client, api_key: str, achievement: str, n: int, timeout: float = 60.0) -> float:
    auth = {"Authorization": f"Bearer {api_key}"}
    start = time.perf_counter()
    r = client.post("/api/v1/credentials", headers={**auth, "Idempotency-Key": f"idle-{n}-{time.time_ns()}"},
                    json={"achievement_id": achievement, "recipient": {"name": "Ada Lovelace",
                                                                       "email": "ada@example.org"}})
    r.raise_for_status()
    cid = r.json()["id"]
    while time.perf_counter() - start < timeout:
        if client.get(f"/api/v1/credentials/{cid}", headers=auth).json()["status"] == "anchored":
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError(f"credential {cid} not anchored after {timeout:.0f} s")


def main(sizes: tuple[int, ...] | None = None) -> None:
    sizes = sizes or tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or SIZES
    rows: list[tuple[int, int, dict[str, float], float]] = []
    # The embedded default's intervals, not the tests' faster ones; anvil as `make run` starts it,
    # its state kept in a file.
    with stack_on_new_chain("microcred-idle-", SERVICES, state_file=True,
                            MICROCRED_ANCHOR_INTERVAL="2.0", MICROCRED_POLL_INTERVAL="0.5",
                            MICROCRED_RESEND_AFTER="20", MICROCRED_LEASE_SECONDS="30",
                            MICROCRED_LOG_LEVEL="warning") as stack:
        anvil = stack.devnet
        db = Db(stack.root / "microcred.db")
        pids = {"anvil": anvil.pid, **{n: p.popen.pid for n, p in stack.procs.items()}}
        client = httpx.Client(base_url=stack.url("issuer"), timeout=60)
        first = client.post("/api/v1/issuers", headers=ADMIN, json={
            "name": "Idle College 0", "slug": "idle-0", "url": "https://idle-0.example.edu",
            "email": "registrar@idle-0.example.edu"})
        first.raise_for_status()
        api_key = first.json()["api_key"]
        achievement = client.post("/api/v1/achievements", headers={"Authorization": f"Bearer {api_key}"}, json={
            "name": "Patience", "description": "Waits well.", "criteria": {"narrative": "Waited."}})
        achievement.raise_for_status()
        achievement_id = achievement.json()["id"]
        created = 1
        for n in sorted(sizes):
            deadline = time.monotonic() + REGISTER_BUDGET
            if n > created:
                t0 = time.monotonic()
                created += _create_issuers(client, created, n, deadline)
                print(f"{created:,} issuers created ({time.monotonic() - t0:.0f} s)", flush=True)
            t0 = time.monotonic()
            _wait(lambda: db.registered() >= created and db.busy() == 0, deadline, interval=1.0)
            registered = db.registered()
            print(f"{registered:,} of {created:,} issuers registered on chain "
                  f"({time.monotonic() - t0:.0f} s more)", flush=True)
            time.sleep(SETTLE)
            by_process = _idle_cpu(pids, IDLE_WINDOW)
            cpu = sum(by_process.values())
            latency = statistics.median(_issue_to_anchored(client, api_key, achievement_id, n)
                                        for _ in range(LATENCY_SAMPLES))
            rows.append((n, registered, by_process, latency))
            print(f"  {registered:,} issuers: idle {cpu:.2f} % of a core "
                  f"({', '.join(f'{n} {c:.2f}' for n, c in by_process.items())}), "
                  f"issue → anchored {latency:.2f} s", flush=True)
    if not rows:
        return
    base = rows[0][3]
    names = list(rows[0][2])
    print(f"\nwhole stack (anvil, registry API + worker, issuer API + outbox relay, verifier), "
          f"{IDLE_WINDOW:.0f} s idle, % of one core; issue → anchored median of {LATENCY_SAMPLES}\n")
    print(f"{'issuers':>8} | " + " | ".join(f"{n:>15}" for n in names) + f" | {'total':>6} | {'/ 2 %':>6} | "
          f"{'→ anchored':>10} | {f'/ at {rows[0][1]:,}':>9}")
    print("-" * (8 + 18 * len(names) + 45))
    for _n, registered, by_process, latency in rows:
        cpu = sum(by_process.values())
        print(f"{registered:>8,} | " + " | ".join(f"{by_process[n]:>15.2f}" for n in names)
              + f" | {cpu:>6.2f} | {cpu / TARGET_CPU:>5.2f}× | {latency:>8.2f} s | {latency / base:>8.2f}×")
    print(f"\nidle CPU / target (< {TARGET_CPU:.0f} % of a core): < 1.00× to pass; "
          f"latency / latency at {rows[0][1]:,} issuers: ≈ 1.00× (flat) to pass. anvil is counted: it is part "
          f"of the local chain `make run` starts (mining only when a transaction comes; its state file "
          f"written only when the chain moved, looked at every {anvil.state_interval} s).")

if __name__ == "__main__":
    main()
