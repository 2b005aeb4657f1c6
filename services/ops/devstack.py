"""``make run``: the whole system on the embedded default, one command.

A local anvil chain with its state kept under the data folder, the contract deployed on
first start, SQLite, the three services and the background workers, a demo issuer whose
three nano-credentials stack into a micro-credential for one learner: the micro-credential's
URL and the learner's profile URL are printed. Ctrl-C stops everything; the next run resumes with
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

ONET = "https://www.onetonline.org/find/descriptor/result/"
ESCO = "https://esco.ec.europa.eu/en/classification/skill_main"


def _nano(name: str, level: str, description: str, criteria: str, onet: tuple[str, str],
          esco: tuple[str, str]) -> dict:
    return {"name": name, "description": description, "criteria": {"narrative": criteria},
            "achievementType": "Competency", "level": level, "category": "soft", "validity_days": 730, "hours": 6,
            "alignment": [{"targetName": onet[1], "targetFramework": "O*NET", "targetCode": onet[0],
                           "targetUrl": ONET + onet[0]},
                          {"targetName": esco[1], "targetFramework": "ESCO", "targetCode": esco[0], "targetUrl": ESCO}],
            "tags": ["customer service", "soft skills"]}


# Three nano-credentials that stack into one micro-credential (docs/pathways.md), all for one learner.
DEMO = {
    "issuer": {"name": "Cascade Community College", "slug": "cascade-cc", "url": "https://cascade.example.edu",
               "email": "registrar@cascade.example.edu"},
    "nanos": [
        _nano("Active Listening", "foundational", "Gives full attention to what others say and checks what they meant.",
              "Two recorded customer conversations, assessed against the listening rubric.",
              ("2.A.1.b", "Active Listening"), ("S1.1.1", "listen actively")),
        _nano("Perspective Taking", "intermediate", "Understands a situation as the customer sees it and says so.",
              "A case study written from three customers' points of view, peer-reviewed and assessed.",
              ("2.B.1.a", "Social Perceptiveness"), ("S1.4.2", "show empathy")),
        _nano("Conflict Resolution", "intermediate", "Calms a disagreement and finds an outcome both sides accept.",
              "A role-played complaint resolved to the assessor's satisfaction.",
              ("2.B.1.d", "Negotiation"), ("S1.3.3", "apply conflict management")),
    ],
    "micro": {
        "name": "Customer Empathy", "achievementType": "MicroCredential", "level": "intermediate", "category": "soft",
        "description": "Listens, understands the customer's view and resolves conflict: the three together.",
        "criteria": {"narrative": "Awarded automatically for holding Active Listening, Perspective Taking and "
                                  "Conflict Resolution."},
        "alignment": [{"targetName": "Service Orientation", "targetFramework": "O*NET", "targetCode": "2.B.1.f",
                       "targetUrl": ONET + "2.B.1.f"}],
        "validity_days": 730,
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


def _demo(settings: ServiceSettings, data_dir: Path) -> dict:
    """Create the demo once: an issuer, three nano-credentials for the demo learner, the micro-credential
    they stack into (awarded automatically), and the learner's profile. Returns what demo.json keeps."""
    path = data_dir / "demo.json"
    if path.exists():
        return json.loads(path.read_text())
    admin = {"Authorization": f"Bearer {settings.secret('admin_token')}"}
    with httpx.Client(base_url=settings.issuer_url, timeout=60) as client:
        def call(method: str, route: str, **kwargs) -> dict:
            r = client.request(method, route, **kwargs)
            r.raise_for_status()
            return r.json()

        issuer = call("POST", "/api/v1/issuers", json=DEMO["issuer"], headers=admin)
        auth = {"Authorization": f"Bearer {issuer['api_key']}"}
        nanos = [call("POST", "/api/v1/achievements", json=body, headers=auth)["id"] for body in DEMO["nanos"]]
        micro = call("POST", "/api/v1/achievements", json={**DEMO["micro"], "requires": {"all_of": nanos}},
                     headers=auth)["id"]
        issued = [call("POST", "/api/v1/credentials", headers={**auth, "Idempotency-Key": f"demo-{n}"},
                       json={"achievement_id": a, "recipient": DEMO["recipient"]}) for n, a in enumerate(nanos)]
        learner = issued[0]["learner_id"]
        deadline = time.monotonic() + 60
        while True:  # the award runner gives the micro-credential within a second or so
            awarded = [i for i in call("GET", f"/api/v1/learners/{learner}/credentials", headers=auth)["items"]
                       if i["achievement_id"] == micro and i["pathway"]]
            if awarded or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not awarded:
            raise RuntimeError("the demo micro-credential was not awarded within 60 s; see the issuer's log")
        profile = call("POST", f"/api/v1/learners/{learner}/profile", headers=auth)
    demo = {"issuer": issuer["slug"], "learner": learner, "achievements": nanos + [micro],
            "credentials": [c["id"] for c in issued] + [awarded[0]["id"]], "credential": awarded[0]["id"],
            "url": awarded[0]["url"], "profile": profile["url"]}
    path.write_text(json.dumps(demo, indent=2))
    path.chmod(0o600)
    return demo


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
        demo = _demo(settings, data_dir)
        _say()
        _say(f"  demo credential  {demo['url']}")
        if demo.get("profile"):  # a data folder from before profiles has none
            _say(f"  Profile:         {demo['profile']}")
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
