"""Starting and stopping the services as real processes (the dev stack and the e2e tests).

Only processes started here are ever signalled: by their own PID, or the process group each
one leads (its own descendants, e.g. uvicorn workers or a signing pool).

Every child dies with its parent however the parent dies (SIGKILL, a closed terminal, a
crash): on Linux it is started with ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, so the kernel
sends it SIGTERM — a graceful stop: anvil dumps its state, uvicorn stops its workers — the
moment the process that started it is gone. The signal follows the *thread* that called
``Popen``: start children from a thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies (Linux only).

    If the parent is already gone by the time the child runs it (the race ``prctl`` cannot
    close by itself), the child signals itself at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: nothing is imported after fork
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def port_holder(port: int, host: str = "127.0.0.1") -> str | None:
    """None if ``host:port`` can be listened on; else who holds it ("pid 123: python -m …")."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed socket in TIME_WAIT is no holder
        try:
            s.bind((host, port))
            return None
        except OSError:
            pass
    import psutil

    try:
        listeners = [c for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    except (psutil.AccessDenied, OSError):
        listeners = []
    for conn in listeners:
        if conn.pid is None:
            continue
        try:
            proc = psutil.Process(conn.pid)
            command = " ".join(proc.cmdline()) or proc.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            command = "?"
        if len(command) > 300:
            command = command[:300] + "…"
        return f"pid {conn.pid}: {command}"
    return "a process this user cannot see (another user's?)"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path | None = None
    url: str | None = None
    argv: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait (SIGKILL if it hangs), then end what it left behind in its own group."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._end_group()

    def _end_group(self) -> None:
        # The child leads its own session and group (start_new_session): any process still in
        # that group is a descendant it failed to stop.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL: the abrupt end a crash test wants (its descendants go with it)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)
        self._end_group()


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path | None, url: str | None = None) -> Proc:
    full_env = {**os.environ, **env}
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        out = open(log_path, "ab")
    else:
        out = subprocess.DEVNULL
    # Its own session: a Ctrl-C or a closed terminal reaches the supervisor only, which stops
    # the children in order; the death signal covers a supervisor that cannot.
    popen = subprocess.Popen(argv, env=full_env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent())
    if log_dir is not None:
        out.close()  # the child has its own copy
    return Proc(name=name, popen=popen, log_path=log_path, url=url, argv=argv)


def spawn_app(name: str, factory: str, port: int, env: dict[str, str], log_dir: Path | None,
              workers: int = 1) -> Proc:
    if workers > 1:
        argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    else:  # uvicorn's server, its loop waking once a second instead of ten times (services/ops/serve.py)
        argv = [sys.executable, "-m", "services.ops.serve", factory, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
    return spawn(name, argv, env, log_dir, url=f"http://127.0.0.1:{port}")


def spawn_module(name: str, module: str, env: dict[str, str], log_dir: Path | None) -> Proc:
    return spawn(name, [sys.executable, "-m", module], env, log_dir)


def wait_http(proc: Proc, path: str = "/api/v1/health", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            if httpx.get(proc.url + path, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer on {proc.url}{path} within {timeout}s:\n{proc.log_tail()}")
