"""The real system as processes, for tests that cross service boundaries over HTTP.

anvil (a fresh chain), the contract deployed, a SQLite database built by the migrations,
and whichever services a test asks for, each a uvicorn subprocess on a free loopback port.

Starting a stack costs seconds of CPU (five Python processes importing web3), so the e2e
tests share one: the package-scoped ``stack`` fixture of tests/e2e/conftest.py, every service
of ``SHARED_SERVICES`` running with ``SHARED_ENV`` on a chain of its own (``stack_devnet``,
never reverted by the ``chain`` fixture). The modules that use it run first and it stops after
the last of their tests. A test on it:

* makes its own issuers with ``tests.support.issuers.new_issuer`` (unique slugs), and asserts
  only about what they did: never global counts, metrics totals or "no rows at all";
* leaves every service running as it found it (stopping a worker for a moment and starting it
  again in a ``finally`` is fine; killing one, or other settings, is not).

A module that needs other settings, other services, faults or a pristine database defines a
fixture named ``stack`` of its own (``make_stack(...)``), which overrides the shared one.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.ops.migrate import upgrade
from services.ops.processes import Proc, free_port, spawn_app, spawn_module, wait_http
from tests.support.db import copy_of_migrated_sqlite

SERVICE_TOKEN = "stack-service-token-0123456789abcdef"
ADMIN_TOKEN = "stack-admin-token-0123456789abcdef"
KEK = "stack-key-encryption-key-0123456789abcdef"

APPS = {
    "registry": "services.registry.app:create_app",
    "issuer": "services.issuer.app:create_app",
    "verifier": "services.verifier.app:create_app",
}
WORKERS = {
    "registry-worker": "services.registry.worker",
    "issuer-outbox": "services.issuer.outbox",
}


@dataclass
class Stack:
    root: Path
    rpc_url: str
    contract: str
    chain_id: int
    database_url: str
    env: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)
    devnet: object | None = None  # the chain it runs on where its maker keeps it (a Devnet, or an Anvil)

    def url(self, name: str) -> str:
        return self.procs[name].url

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Proc:
        return self.start_many([name], extra_env)[name]

    def start_many(self, names: Iterable[str], extra_env: dict[str, str] | None = None) -> dict[str, Proc]:
        """Start the services at once, then wait until every app answers (they import in parallel)."""
        env = {**self.env, **(extra_env or {})}
        log_dir = self.root / "logs"
        started = {}
        for name in names:
            if name in APPS:
                proc = spawn_app(name, APPS[name], int(httpx.URL(self.env[_URL_VAR[name]]).port), env, log_dir)
            else:
                proc = spawn_module(name, WORKERS[name], env, log_dir)
            self.procs[name] = started[name] = proc
        for name, proc in started.items():
            if name in APPS:
                wait_http(proc, "/docs")
        return started

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc:
            proc.stop()

    def kill(self, name: str) -> Proc | None:
        proc = self.procs.pop(name, None)
        if proc:
            proc.kill()
        return proc

    def close(self) -> None:
        """Stop every process: SIGTERM to all at once, then wait for each (they stop in parallel)."""
        procs = [self.procs.pop(name) for name in list(self.procs)]
        for proc in procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()  # hung: SIGKILL, its group with it
            proc.stop()  # exited: ends what it left behind in its group

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{p.log_tail(60)}" for n, p in self.procs.items())


_URL_VAR = {"registry": "MICROCRED_REGISTRY_URL", "issuer": "MICROCRED_ISSUER_URL",
            "verifier": "MICROCRED_PUBLIC_BASE_URL"}


def stack_env(root: Path, rpc_url: str, contract: str, database_url: str, **extra: str) -> dict[str, str]:
    ports = {name: free_port() for name in _URL_VAR}
    env = {
        "MICROCRED_ENV": "development",
        "MICROCRED_DATA_DIR": str(root / "data"),
        "MICROCRED_DATABASE_URL": database_url,
        "MICROCRED_ETH_RPC_URL": rpc_url,
        "MICROCRED_CONTRACT_ADDRESS": contract,
        "MICROCRED_ADMIN_TOKEN": ADMIN_TOKEN,
        "MICROCRED_SERVICE_TOKEN": SERVICE_TOKEN,
        "MICROCRED_KEY_ENCRYPTION_KEY": KEK,
        "MICROCRED_ANCHOR_INTERVAL": "0.5",
        "MICROCRED_POLL_INTERVAL": "0.2",
        # An idle worker looks for new work this often (SQLite has no NOTIFY to wake it at once).
        "MICROCRED_IDLE_INTERVAL": "0.2",
        "MICROCRED_RESEND_AFTER": "3",
        "MICROCRED_LEASE_SECONDS": "3",
        # Tests poll the verify API in loops; the limiter itself has its own tests.
        "MICROCRED_RATE_LIMIT_PER_MINUTE": "100000",
        "MICROCRED_LOG_LEVEL": "info",
    }
    for name, var in _URL_VAR.items():
        env[var] = f"http://127.0.0.1:{ports[name]}"
    env.update(extra)
    return env


def make_stack(root: Path, rpc_url: str, contract: str, chain_id: int, services: Iterable[str] = (),
               database_url: str | None = None, **extra_env: str) -> Stack:
    root.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        database_url = copy_of_migrated_sqlite(root / "microcred.db")
    else:
        upgrade(database_url)  # at head already when it came from tests.support.db: then a quick no-op
    stack = Stack(root=root, rpc_url=rpc_url, contract=contract, chain_id=chain_id, database_url=database_url,
                  env=stack_env(root, rpc_url, contract, database_url, **extra_env))
    try:
        stack.start_many(services)
    except BaseException:
        stack.close()
        raise
    return stack


@contextmanager
def stack_on_new_chain(prefix: str, services: Iterable[str] = (), *, state_file: bool = False,
                       **extra_env: str) -> Iterator[Stack]:
    """A fresh anvil (logging into a new temporary folder) with the contract deployed, and a stack
    on it; both ended after. For the benchmarks: ``stack.devnet`` is the running ``Anvil``;
    ``state_file`` keeps its state in a file, as `make run` does."""
    from web3 import HTTPProvider, Web3

    from services.devchain.anvil import Anvil
    from services.devchain.deploy import OPERATOR_KEY, deploy_registry

    root = Path(tempfile.mkdtemp(prefix=prefix))
    anvil = Anvil(port=free_port(), log_path=root / "anvil.log",
                  state_path=root / "chain" / "state.json" if state_file else None).start()
    try:
        contract = deploy_registry(Web3(HTTPProvider(anvil.rpc_url)), OPERATOR_KEY)
        stack = make_stack(root, anvil.rpc_url, contract, 31337, services=services, **extra_env)
        stack.devnet = anvil
        try:
            yield stack
        finally:
            stack.close()
    finally:
        anvil.stop()


# The one stack the e2e tests share (tests/e2e/conftest.py): every service, and the union of the
# settings its modules asked for when each had a stack of its own, all short for tests.
SHARED_SERVICES = ("registry", "registry-worker", "issuer", "issuer-outbox", "verifier")
SHARED_ENV = {
    "MICROCRED_OUTBOX_INTERVAL": "0.2",
    "MICROCRED_AWARD_INTERVAL": "0.2",
    "MICROCRED_STATUS_LIST_INTERVAL": "0.5",
}


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; return its value, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
