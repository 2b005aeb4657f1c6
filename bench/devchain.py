"""The embedded chain over a long run: state file size and RPC latency, before and after a restart.

One anvil with a state file, exactly as ``make run`` starts it (``services.devchain.anvil.Anvil``
with ``state_path``): the contract deployed, an issuer registered, then ``BENCH_BLOCKS``
blocks (10,000) — ``BENCH_TXS`` (500) of them real transactions (``anchorRoot`` and
``revoke``), the rest mined empty with ``anvil_mine`` — and then:

* the state file's size and anvil's memory while running;
* ``eth_blockNumber`` and ``eth_call`` (``anchorOf`` at ``latest``) latency, p50 / p99 / max
  over ``BENCH_SAMPLES`` (400) calls each, spread over several state dumps (every 2 s), and
  anvil's CPU use while idle (the dumps);
* a clean stop (SIGTERM, anvil dumps) and a restart: how long it takes, then the same
  latencies, and that nothing was lost — head block, contract code, every anchor record,
  the first and last receipts, every ``RootAnchored`` log, and a new transaction.

``BENCH_DEVCHAIN_LEGACY=1`` runs the same with the flags used before
(``--preserve-historical-states`` instead of ``--prune-history``) for comparison — it needs
several GB of disk and memory at 10,000 blocks.

    python -m bench.devchain        (BENCH_BLOCKS, BENCH_TXS, BENCH_SAMPLES; BENCH_KEEP=1 keeps the files)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from web3 import HTTPProvider, Web3

from services.core.contract import ABI
from services.devchain.anvil import Anvil
from services.devchain.deploy import DEV_ADDRESSES, OPERATOR_KEY, deploy_registry
from services.ops.processes import free_port

BLOCKS = int(os.environ.get("BENCH_BLOCKS", "10000"))
TXS = int(os.environ.get("BENCH_TXS", "500"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "400"))
LEGACY = os.environ.get("BENCH_DEVCHAIN_LEGACY") == "1"


class LegacyAnvil(Anvil):
    """The flags before: every block's whole world state kept and dumped."""

    def argv(self) -> list[str]:
        argv = super().argv()
        i = argv.index("--prune-history")
        return argv[:i] + ["--preserve-historical-states"] + argv[i + 2:]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(pid: int, seconds: float = 10.0) -> float:
    """anvil's CPU use with nothing to do but its periodic state dumps, in % of one core."""
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (_cpu_seconds(pid) - before) / seconds


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=120)

    def __call__(self, method: str, *params):
        r = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        body = r.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def latency(self, method: str, *params, samples: int = SAMPLES) -> tuple[float, float, float]:
        """p50, p99, max in ms, spread over ~4 s so that state dumps fall inside."""
        times = []
        pause = 4.0 / samples
        for _ in range(samples):
            t = time.perf_counter()
            self(method, *params)
            times.append((time.perf_counter() - t) * 1000)
            time.sleep(pause)
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.99) - 1], times[-1]


def _wait_receipts(w3: Web3, hashes: list) -> list:
    receipts = []
    for h in hashes:
        receipts.append(w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.01))
    return receipts


def _build_chain(anvil: Anvil, rpc: Rpc) -> dict:
    w3 = Web3(HTTPProvider(anvil.rpc_url))
    address = deploy_registry(w3, OPERATOR_KEY)
    contract = w3.eth.contract(address=address, abi=ABI)
    owner, issuer = DEV_ADDRESSES[0], DEV_ADDRESSES[1]
    _wait_receipts(w3, [contract.functions.registerIssuer(issuer, "did:web:bench.example", b"\x11" * 32)
                        .transact({"from": owner})])
    roots, anchor_txs = [], []
    empty_per_tx = max(0, (BLOCKS - w3.eth.block_number - TXS) // max(TXS, 1))
    start = time.perf_counter()
    for i in range(TXS):
        if empty_per_tx:
            rpc("anvil_mine", hex(empty_per_tx))
        if i % 10 == 9:
            tx = contract.functions.revoke(os.urandom(32)).transact({"from": issuer})
        else:
            root = os.urandom(32)
            roots.append(root)
            tx = contract.functions.anchorRoot(root, 100).transact({"from": issuer})
            anchor_txs.append(tx)
        _wait_receipts(w3, [tx])
    rest = BLOCKS - w3.eth.block_number
    if rest > 0:
        rpc("anvil_mine", hex(rest))
    seconds = time.perf_counter() - start
    return {"w3": w3, "contract": contract, "roots": roots, "anchor_txs": anchor_txs, "seconds": seconds,
            "head": w3.eth.block_number, "records": {r: contract.functions.anchorOf(r).call() for r in roots}}


def _measure(rpc: Rpc, contract) -> dict:
    call = {"to": contract.address, "data": contract.encode_abi("anchorOf", [b"\x00" * 32])}
    return {"eth_blockNumber": rpc.latency("eth_blockNumber"), "eth_call": rpc.latency("eth_call", call, "latest")}


def _check_nothing_lost(chain: dict, w3: Web3) -> list[str]:
    contract, problems = chain["contract"], []
    if w3.eth.block_number != chain["head"]:
        problems.append(f"head {w3.eth.block_number} != {chain['head']}")
    if not w3.eth.get_code(contract.address):
        problems.append("contract code gone")
    changed = [r for r, record in chain["records"].items() if contract.functions.anchorOf(r).call() != record]
    if changed:
        problems.append(f"{len(changed)} anchor records changed")
    for tx in (chain["anchor_txs"][0], chain["anchor_txs"][-1]):
        try:
            if w3.eth.get_transaction_receipt(tx)["status"] != 1:
                problems.append(f"receipt {tx.hex()} not successful")
        except Exception as exc:  # TransactionNotFound and friends
            problems.append(f"receipt {tx.hex()} gone ({type(exc).__name__})")
    logs = contract.events.RootAnchored.get_logs(from_block=0)
    if len(logs) != len(chain["roots"]):
        problems.append(f"{len(logs)} RootAnchored logs, {len(chain['roots'])} expected")
    tx = contract.functions.anchorRoot(os.urandom(32), 1).transact({"from": DEV_ADDRESSES[1]})
    if w3.eth.wait_for_transaction_receipt(tx, timeout=60, poll_latency=0.01)["status"] != 1:
        problems.append("a new transaction after the restart failed")
    return problems


def _row(label: str, figures: tuple[float, float, float]) -> str:
    p50, p99, top = figures
    return f"{label:<34} | {p50:>8.2f} | {p99:>8.2f} | {top:>8.2f}"


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="microcred-bench-devchain-"))
    state = root / "chain" / "state.json"
    kind = LegacyAnvil if LEGACY else Anvil
    anvil = kind(port=free_port(), state_path=state, log_path=root / "anvil.log")
    try:
        anvil.start()
        rpc = Rpc(anvil.rpc_url)
        print(f"anvil {' '.join(anvil.argv()[1:])}".replace(str(root), "<tmp>"), flush=True)
        chain = _build_chain(anvil, rpc)
        print(f"built {chain['head']:,} blocks ({TXS} with transactions) in {chain['seconds']:.1f} s", flush=True)
        time.sleep(anvil.state_interval + 1.5)  # at least one dump of the whole chain
        running = {"size": state.stat().st_size, "rss": _rss_mb(anvil.pid), "idle_cpu": _idle_cpu(anvil.pid),
                   **_measure(rpc, chain["contract"])}
        t = time.perf_counter()
        anvil.stop(timeout=120)
        stop_s = time.perf_counter() - t
        size_after_stop = state.stat().st_size
        t = time.perf_counter()
        anvil.start(timeout=300)
        restart_s = time.perf_counter() - t
        problems = _check_nothing_lost(chain, chain["w3"])
        after = {"rss": _rss_mb(anvil.pid), **_measure(rpc, chain["contract"])}

        print(f"\nstate file: {running['size'] / 1e6:,.1f} MB while running, {size_after_stop / 1e6:,.1f} MB after "
              f"the stop ({size_after_stop / chain['head']:,.0f} bytes per block); anvil memory "
              f"{running['rss']:,.0f} MB running, {after['rss']:,.0f} MB after the restart; idle CPU "
              f"{running['idle_cpu']:.1f} % of a core (a dump every {anvil.state_interval} s)")
        print(f"stop (SIGTERM, final dump) {stop_s:.2f} s; restart until JSON-RPC answers {restart_s:.2f} s\n")
        print(f"{'latency, ms':<34} | {'p50':>8} | {'p99':>8} | {'max':>8}")
        print(f"{'-' * 34}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 8}")
        for name in ("eth_blockNumber", "eth_call"):
            print(_row(f"{name}, {chain['head']:,} blocks", running[name]))
            print(_row(f"{name}, after the restart", after[name]))
        print("\nafter the restart: " + ("nothing lost (head, code, anchor records, receipts, logs, new tx)"
                                         if not problems else "LOST: " + "; ".join(problems)))
        worst = max(running["eth_blockNumber"][1], after["eth_blockNumber"][1])
        print(f"eth_blockNumber p99 {worst:.2f} ms (target < 50 ms) — {'OK' if worst < 50 else 'OVER TARGET'}")
        return 1 if problems else 0
    finally:
        anvil.stop(timeout=120)
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
