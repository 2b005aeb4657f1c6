"""Run a local anvil (npm package @foundry-rs/anvil-linux-amd64), bound to loopback only.

With a state file, anvil loads it at start, dumps it every few seconds and at a clean
stop, so a restarted chain keeps every block: the embedded default loses nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# anvil's first dev accounts (from DEV_MNEMONIC): dev chains only, never real funds.
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9d804cdc9b0b5",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)


class AnvilError(RuntimeError):
    pass


def anvil_binary() -> Path:
    path = Path(os.environ.get("MICROCRED_ANVIL_BIN", ANVIL_BIN))
    if not path.exists():
        raise AnvilError(f"anvil not found at {path}: run `npm ci` (make install does)")
    return path


class Anvil:
    """One anvil process; use as a context manager or call start()/stop()."""

    def __init__(self, port: int, state_path: Path | None = None, chain_id: int = 31337,
                 block_time: float | None = None, log_path: Path | None = None) -> None:
        self.port = port
        self.state_path = state_path
        self.chain_id = chain_id
        self.block_time = block_time
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        argv = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(self.chain_id), "--mnemonic", DEV_MNEMONIC, "--accounts", "4"]
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            argv += ["--state", str(self.state_path), "--state-interval", "2"]
        if self.block_time:
            argv += ["--block-time", str(self.block_time)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AnvilError(f"anvil exited with {self.process.returncode} (port {self.port} taken?)")
            try:
                r = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                               timeout=1.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer on {self.rpc_url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, so anvil dumps its state, then wait; SIGKILL only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
