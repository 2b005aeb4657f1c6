"""Run a local anvil (npm package @foundry-rs/anvil-linux-amd64), bound to loopback only.

With a state file, anvil loads it at start and dumps it at a clean stop (SIGTERM), and in
between the chain is dumped within a few seconds of each change (a new block): a thread here
looks at the head block every ``state_interval`` seconds and, only when it moved, asks anvil
for its state (``anvil_dumpState``, the same JSON as its own dump) and replaces the file
atomically. anvil's own ``--state-interval`` dump rewrites the whole chain every time,
changed or not, so an idle chain's cost grew with its history (1.8 % of a core at 1,000
issuers, dumping every 2 s); it is kept only as a rare safety net. So a restarted chain keeps
every block, transaction, receipt and log, the contract and its records: the embedded
default loses nothing. Only the *latest* world state
is dumped and only the last ``history_states`` block states are kept in memory
(``--prune-history``), so the file grows by about 1.7 kB per block and 3.7 kB per block with
a transaction, instead of a whole copy of the world state per block
(``--preserve-historical-states``: 4 GB of state file and 6.7 GB of memory after 10,000
blocks). Nothing here reads state at an old block after a restart: the verifier calls at
``latest``, the registry reads receipts, blocks and logs (kept), and replays a failed call
only at the block just before it (in memory). See docs/contract.md and bench/devchain.py.

anvil rewrites the state file in place; a copy of the last file that loaded is kept beside
it (``<state>.good``) and restored if the file is found cut short (a crash mid-dump).

Only the process started here is ever signalled, by its own PID; it gets SIGTERM (and so
dumps its state) when the process that started it dies, however that one dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import gzip
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import orjson

from services.ops.processes import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEV_CHAIN_ID = 31337
# Block states kept in memory (eth_call / eth_getBalance at a recent block number). More
# than the registry's re-org window and its replay of a failed call at the block before it.
HISTORY_STATES = 64
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# anvil's ten dev accounts (m/44'/60'/0'/0/i of DEV_MNEMONIC), each funded with 10,000 ETH.
# Dev chains only: these keys are public and must never hold real funds. Account 0 is the
# operator (the contract's owner) on the dev chain.
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


class AnvilError(RuntimeError):
    pass


def anvil_binary() -> Path:
    """The anvil executable: $MICROCRED_ANVIL_BIN, else the npm package under node_modules."""
    path = Path(os.environ.get("MICROCRED_ANVIL_BIN") or ANVIL_BIN)
    if not path.exists():
        raise AnvilError(f"anvil not found at {path}: run `npm ci` (make install does)")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parses_bytes(data: bytes) -> bool:
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def _parses(path: Path) -> bool:
    try:
        return _parses_bytes(path.read_bytes())
    except OSError:
        return False


class Anvil:
    """One anvil process; use as a context manager or call start()/stop().

    ``state_path``: load the chain from this file if it exists and dump it there every
    ``state_interval`` seconds and on stop, keeping ``history_states`` block states in
    memory. ``block_time``: mine on an interval instead of one block per transaction.
    ``port=None`` picks a free port.
    """

    # anvil's own periodic dump (the whole chain, changed or not): a safety net only.
    SAFETY_DUMP_INTERVAL = 600

    def __init__(self, port: int | None = None, state_path: Path | None = None, chain_id: int = DEV_CHAIN_ID,
                 block_time: float | None = None, log_path: Path | None = None,
                 state_interval: int = 2, history_states: int = HISTORY_STATES) -> None:
        self.port = port if port is not None else free_port()
        self.state_path = Path(state_path) if state_path is not None else None
        self.chain_id = chain_id
        self.block_time = block_time
        self.log_path = Path(log_path) if log_path is not None else None
        self.state_interval = state_interval
        self.history_states = history_states
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._dumped_head: str | None = None  # the head block hash the state file holds
        self._dumps_stop = threading.Event()
        self._dumper: threading.Thread | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def argv(self) -> list[str]:
        argv = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(self.chain_id), "--mnemonic", DEV_MNEMONIC, "--accounts", str(len(DEV_KEYS))]
        if self.state_path is not None:
            # --state = --load-state + --dump-state: blocks, transactions, receipts and the
            # latest world state. No --preserve-historical-states: it dumps a full copy of the
            # world state per block, and loading and dumping that is what grew without bound.
            argv += ["--state", str(self.state_path), "--state-interval", str(self.SAFETY_DUMP_INTERVAL),
                     "--prune-history", str(self.history_states)]
        if self.block_time:
            argv += ["--block-time", str(self.block_time)]
        return argv

    def start(self, timeout: float = 20.0) -> Anvil:
        if self.process is not None and self.process.poll() is None:
            raise AnvilError(f"anvil already running (pid {self.process.pid})")
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            self._check_state_file()
        self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                        stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        self._wait_ready(timeout)
        self._keep_good_copy()
        if self.state_path is not None:
            self._dumped_head = self._head()
            self._dumps_stop.clear()
            self._dumper = threading.Thread(target=self._dump_loop, name="anvil-state-dumps", daemon=True)
            self._dumper.start()
        return self

    # -- state dumps when the chain moved ----------------------------------------------
    def _rpc(self, method: str, params: list | None = None, timeout: float = 30.0):
        r = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []},
                       timeout=timeout)
        r.raise_for_status()
        return r.json()["result"]

    def _head(self) -> str | None:
        try:
            return self._rpc("eth_getBlockByNumber", ["latest", False], timeout=5.0)["hash"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def dump_if_moved(self) -> bool:
        """Write the state file if the head block changed since the last dump; True if written.
        Written beside the file and renamed over it, so a crash never leaves it cut short."""
        head = self._head()
        if head is None or head == self._dumped_head:
            return False
        data = gzip.decompress(bytes.fromhex(self._rpc("anvil_dumpState")[2:]))
        if not _parses_bytes(data):
            return False
        tmp = self.state_path.with_name(self.state_path.name + ".dump")
        tmp.write_bytes(data)
        tmp.replace(self.state_path)
        self._dumped_head = head
        return True

    def _dump_loop(self) -> None:
        while not self._dumps_stop.wait(self.state_interval):
            if not self.running():
                return
            try:
                self.dump_if_moved()
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:  # next look tries again
                self._note(f"state dump failed: {exc}")

    @property
    def good_copy(self) -> Path | None:
        return self.state_path.with_name(self.state_path.name + ".good") if self.state_path else None

    def _check_state_file(self) -> None:
        """A state file cut short by a crash mid-dump would not load: put the last good one back."""
        if not self.state_path.exists() or _parses(self.state_path):
            return
        broken = self.state_path.with_name(f"{self.state_path.name}.broken-{int(time.time())}")
        self.state_path.replace(broken)
        if self.good_copy.exists():
            shutil.copyfile(self.good_copy, self.state_path)
            self._note(f"state file {self.state_path} did not parse (kept as {broken.name}); "
                       f"restored the last good copy")
        else:
            self._note(f"state file {self.state_path} did not parse (kept as {broken.name}); starting a new chain")

    def _keep_good_copy(self) -> None:
        """The file anvil just loaded is good: copy it aside (atomically) for _check_state_file.

        Read once and parsed from those very bytes, so a dump that anvil starts meanwhile
        cannot slip a cut-short file into the copy.
        """
        if self.state_path is None:
            return
        try:
            data = self.state_path.read_bytes()
        except OSError:
            return
        if not _parses_bytes(data):
            return
        tmp = self.good_copy.with_name(self.good_copy.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.good_copy)

    def _note(self, message: str) -> None:
        if self._log is not None:
            self._log.write(f"microcred: {message}\n".encode())
            self._log.flush()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._close_log()
                raise AnvilError(f"anvil exited with {code} (port {self.port} taken? see {self.log_path})")
            try:
                r = httpx.post(self.rpc_url, json=payload, timeout=1.0)
                if r.status_code == 200 and int(r.json()["result"], 16) == self.chain_id:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer on {self.rpc_url} within {timeout}s")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, so anvil dumps its state, then wait; SIGKILL only if it hangs."""
        self._dumps_stop.set()
        if self._dumper is not None:
            self._dumper.join(timeout)  # never two writers of the state file at once
            self._dumper = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
