"""docker-compose.yml and the Dockerfile start what exists, the way `make run` does.

Docker cannot run on this machine, so the files are checked by reading them: every command
names a module that imports, every API goes through ``services.ops.serve`` (the quiet server
loop, docs/registry.md "What doing nothing costs") with options it accepts, and the verifier
replicas trust the balancer's forwarded address.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

from services.ops import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def config_kwargs(monkeypatch):
    """``serve.config``'s options as uvicorn would get them (a real ``uvicorn.Config`` would also
    reconfigure the process's logging, which other tests read)."""
    monkeypatch.setattr(serve.uvicorn, "Config", lambda app, **kwargs: {"app": app, **kwargs})
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMMANDS = {name: svc["command"] for name, svc in COMPOSE["services"].items() if "command" in svc}


def _dockerfile_cmd() -> list[str]:
    line = next(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("CMD "))
    return json.loads(line[4:])


def _module_of(command: list[str]) -> str | None:
    return command[2] if command[:2] == ["python", "-m"] else None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_compose_command_runs_a_module_of_ours(name):
    command = COMMANDS[name]
    module = _module_of(command)
    assert module and module.startswith("services."), f"{name}: {command}"
    importlib.import_module(module)


@pytest.mark.parametrize("command", [c for c in COMMANDS.values() if _module_of(c) == "services.ops.serve"]
                         + [_dockerfile_cmd()])
def test_apis_start_through_the_quiet_server_with_options_it_takes(command):
    assert _module_of(command) == "services.ops.serve"
    args = serve.parser().parse_args(command[3:])
    module, _, factory = args.factory.partition(":")
    assert callable(getattr(importlib.import_module(module), factory))
    config = serve.config(args)
    assert config["factory"] and config["host"] == "0.0.0.0" and re.fullmatch(r"800[0-2]", str(config["port"]))


def test_the_three_apis_and_the_verifier_replicas_behind_the_balancer():
    served = {serve.parser().parse_args(c[3:]).factory: c for c in COMMANDS.values()
              if _module_of(c) == "services.ops.serve"}
    assert set(served) == {f"services.{s}.app:create_app" for s in ("issuer", "registry", "verifier")}
    verifier = serve.config(serve.parser().parse_args(served["services.verifier.app:create_app"][3:]))
    assert verifier["proxy_headers"] and verifier["forwarded_allow_ips"] == "*"
    issuer = serve.config(serve.parser().parse_args(served["services.issuer.app:create_app"][3:]))
    assert issuer["proxy_headers"] and issuer["forwarded_allow_ips"] is None  # uvicorn's default: loopback only
