"""``make run``: the whole system on the embedded default, one command.

A local anvil chain with its state kept under the data folder, the contract deployed on
first start, SQLite, the three services and the background workers, a demo issuer with a
demo credential whose URL is printed. Ctrl-C stops everything; the next run resumes with
the same data, and the same URL still verifies.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

from services.core.settings import ServiceSettings, read_deployment
from services.ops.migrate import upgrade
from services.ops.processes import Proc, spawn_app, spawn_module, wait_http

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


def main() -> None:
    settings = ServiceSettings()
    data_dir = settings.data_dir.resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[Proc] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    anvil, deployment = ensure_chain(settings, data_dir, log_dir)
    print(f"chain     {anvil.rpc_url}  (chain id {deployment['chainId']}, contract {deployment['contract']})")
    try:
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
        print()
        print(f"  demo credential  {url}")
        print(f"  verify page      {settings.public_base_url}/")
        print(f"  issuer API       {settings.issuer_url}/docs   (admin token in {data_dir / 'secrets.json'})")
        print(f"  registry API     {settings.registry_url}/docs")
        print(f"  logs             {log_dir}")
        print("\nPress Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            dead = [p for p in procs if not p.alive()]
            if dead:
                for p in dead:
                    print(f"{p.name} exited with {p.popen.returncode}; last log lines:\n{p.log_tail()}", file=sys.stderr)
                break
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping…", flush=True)
        for proc in reversed(procs):
            proc.stop()
        anvil.stop()
        print("stopped; data kept in", data_dir)


if __name__ == "__main__":
    main()
