"""``make run``: the whole system on the embedded default, one command.

A local anvil chain with its state kept under the data folder, the contract deployed on
first start, SQLite, the three services and the background workers, a demo issuer with a
demo credential whose URL is printed. Ctrl-C stops everything; the next run resumes with
the same data, and the same URL still verifies.

However the supervisor ends, nothing it started outlives it: Ctrl-C, SIGTERM and SIGHUP (a
closed terminal) stop the children in order; if it is killed outright, each child gets
SIGTERM from the kernel (``processes.die_with_parent``). And it refuses to start, saying
which process holds which port, when one of its ports is taken (an old run's orphan would
otherwise answer with other tokens: a bare 401).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx

from services.core.settings import ServiceSettings
from services.ops.migrate import upgrade
from services.ops.processes import Proc, port_holder, spawn_app, spawn_module, wait_http

DEMO = {
    "issuer": {"name": "Cascade Community College", "slug": "cascade-cc", "url": "https://cascade.example.edu",
               "email": "registrar@cascade.example.edu"},
    "achievement": {
        "name": "Critical Thinking",
        "description": "Analyses arguments, weighs evidence and reaches well-reasoned conclusions.",
        "criteria": {"narrative": "Completed the 20-hour Critical Thinking course and passed its capstone: "
                                  "a written evaluation of a real policy debate, assessed against a rubric."},
        "alignment": [{"targetName": "Critical Thinking", "targetFramework": "O*NET",
                       "targetCode": "2.A.2.a", "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.A.2.a"}],
        "tags": ["critical thinking", "analysis"],
    },
    "recipient": {"name": "Ada Lovelace", "email": "ada@example.org"},
}


def _port(url: str) -> int:
    return httpx.URL(url).port or 80


def planned_ports(settings: ServiceSettings) -> list[tuple[str, int, str]]:
    """(what, port, the variable that moves it) for everything ``make run`` listens on."""
    return [("chain (anvil)", _port(settings.eth_rpc_url), "MICROCRED_ETH_RPC_URL"),
            ("registry", _port(settings.registry_url), "MICROCRED_REGISTRY_URL"),
            ("issuer", _port(settings.issuer_url), "MICROCRED_ISSUER_URL"),
            ("verifier", _port(settings.public_base_url), "MICROCRED_PUBLIC_BASE_URL")]


def busy_ports(settings: ServiceSettings) -> list[str]:
    """One line per port already taken, saying by what (pid and command line)."""
    lines = []
    for what, port, variable in planned_ports(settings):
        holder = port_holder(port)
        if holder is not None:
            lines.append(f"  port {port} ({what}) is taken by {holder}   [move it with {variable}]")
    return lines


class Stopped(Exception):
    """SIGTERM or SIGHUP (a closed terminal): stop everything in order, like Ctrl-C."""


def _say(*parts, err: bool = False) -> None:
    """print, except that a terminal that went away (SIGHUP) must not break the stop."""
    try:
        print(*parts, file=sys.stderr if err else sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def ensure_chain(settings: ServiceSettings, data_dir: Path, log_dir: Path):
    """Start anvil with persisted state and deploy the contract on first start."""
    from services.devchain.anvil import Anvil
    from services.devchain.deploy import ensure_deployed

    chain_dir = data_dir / "chain"
    chain_dir.mkdir(parents=True, exist_ok=True)
    anvil = Anvil(port=_port(settings.eth_rpc_url), state_path=chain_dir / "state.json", log_path=log_dir / "anvil.log")
    anvil.start()
    deployment = ensure_deployed(anvil.rpc_url, data_dir)
    return anvil, deployment


def _demo(settings: ServiceSettings, data_dir: Path) -> str:
    """Create the demo issuer, achievement and credential once; return the credential URL."""
    path = data_dir / "demo.json"
    if path.exists():
        return json.loads(path.read_text())["url"]
    issuer_url = settings.issuer_url
    admin = {"Authorization": f"Bearer {settings.secret('admin_token')}"}
    with httpx.Client(base_url=issuer_url, timeout=60) as client:
        r = client.post("/api/v1/issuers", json=DEMO["issuer"], headers=admin)
        r.raise_for_status()
        issuer = r.json()
        auth = {"Authorization": f"Bearer {issuer['api_key']}"}
        r = client.post("/api/v1/achievements", json=DEMO["achievement"], headers=auth)
        r.raise_for_status()
        achievement = r.json()
        r = client.post("/api/v1/credentials", headers={**auth, "Idempotency-Key": "demo-credential"},
                        json={"achievement_id": achievement["id"], "recipient": DEMO["recipient"]})
        r.raise_for_status()
        credential = r.json()
    path.write_text(json.dumps({"issuer": issuer["slug"], "achievement": achievement["id"],
                                "credential": credential["id"], "url": credential["url"]}, indent=2))
    path.chmod(0o600)
    return credential["url"]


def main() -> int:
    settings = ServiceSettings()
    data_dir = settings.data_dir.resolve()
    busy = busy_ports(settings)
    if busy:
        _say("make run: cannot start, its ports are in use:\n" + "\n".join(busy) + "\n"
             "A microcred process left from an earlier run? Stop it by that pid (kill <pid>); or set the "
             "variable shown to another port.", err=True)
        return 1
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[Proc] = []
    anvil = None
    hung_up = False

    def on_signal(signum, _frame):
        nonlocal hung_up
        if signum == signal.SIGHUP and not hung_up:
            hung_up = True  # the terminal is gone: keep what we have to say in the log folder
            sys.stdout = sys.stderr = open(log_dir / "devstack.log", "a", buffering=1)
        raise Stopped(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    code = 0
    try:
        anvil, deployment = ensure_chain(settings, data_dir, log_dir)
        _say(f"chain     {anvil.rpc_url}  (chain id {deployment['chainId']}, contract {deployment['contract']})")
        settings = ServiceSettings()  # re-read: the contract address is known now
        upgrade(settings.database_url)
        env = {"MICROCRED_DATA_DIR": str(data_dir), "MICROCRED_CONTRACT_ADDRESS": deployment["contract"]}
        procs.append(spawn_app("registry", "services.registry.app:create_app", _port(settings.registry_url), env, log_dir))
        procs.append(spawn_module("registry-worker", "services.registry.worker", env, log_dir))
        procs.append(spawn_app("issuer", "services.issuer.app:create_app", _port(settings.issuer_url), env, log_dir))
        procs.append(spawn_module("issuer-outbox", "services.issuer.outbox", env, log_dir))
        procs.append(spawn_app("verifier", "services.verifier.app:create_app", _port(settings.public_base_url), env, log_dir))
        for proc in procs:
            if proc.url:
                wait_http(proc, "/docs")
        url = _demo(settings, data_dir)
        _say()
        _say(f"  demo credential  {url}")
        _say(f"  verify page      {settings.public_base_url}/")
        _say(f"  issuer API       {settings.issuer_url}/docs   (admin token in {data_dir / 'secrets.json'})")
        _say(f"  registry API     {settings.registry_url}/docs")
        _say(f"  logs             {log_dir}   (JSON lines; MICROCRED_LOG_FORMAT=text for plain)")
        _say("  metrics          /metrics on each service above (loopback only; docs/operations.md)")
        _say("\nPress Ctrl-C to stop.")
        while True:
            dead = [p for p in procs if not p.alive()]
            if dead or not anvil.running():
                for p in dead:
                    _say(f"{p.name} exited with {p.popen.returncode}; last log lines:\n{p.log_tail()}", err=True)
                if not anvil.running():
                    _say(f"anvil exited; see {log_dir / 'anvil.log'}", err=True)
                code = 1
                break
            time.sleep(1.0)
    except (KeyboardInterrupt, Stopped):
        pass
    except Exception as exc:  # a start that failed: say why, then stop what did start
        _say(f"make run failed: {exc}", err=True)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the stop short
        _say("\nstopping…")
        for proc in reversed(procs):
            proc.stop()
        if anvil is not None:
            anvil.stop()
        _say("stopped; data kept in", data_dir)
    return code


if __name__ == "__main__":
    sys.exit(main())
