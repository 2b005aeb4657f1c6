"""Starting and stopping the services as real processes (the dev stack and the e2e tests).

Only processes started here are ever signalled, by their own PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL: the abrupt end a crash test wants."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path | None, url: str | None = None) -> Proc:
    full_env = {**os.environ, **env}
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        out = open(log_path, "ab")
    else:
        out = subprocess.DEVNULL
    popen = subprocess.Popen(argv, env=full_env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    return Proc(name=name, popen=popen, log_path=log_path, url=url, argv=argv)


def spawn_app(name: str, factory: str, port: int, env: dict[str, str], log_dir: Path | None,
              workers: int = 1) -> Proc:
    argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning"]
    if workers > 1:
        argv += ["--workers", str(workers)]
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
