"""``make run``'s supervisor (services.ops.devstack) as a real process tree.

Killed outright or hung up on, nothing it started outlives it; and with one of its ports
taken it refuses to start, saying by which process, instead of talking to a stranger.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from services.ops.processes import REPO_ROOT, free_port

pytestmark = pytest.mark.slow

READY = "Press Ctrl-C to stop."


def _env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROCRED_")}
    env.update({
        "MICROCRED_DATA_DIR": str(data_dir),
        "MICROCRED_ETH_RPC_URL": f"http://127.0.0.1:{ports['chain']}",
        "MICROCRED_REGISTRY_URL": f"http://127.0.0.1:{ports['registry']}",
        "MICROCRED_ISSUER_URL": f"http://127.0.0.1:{ports['issuer']}",
        "MICROCRED_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['verifier']}",
        "MICROCRED_SIGN_PROCESSES": "1",
    })
    return env


def _ports() -> dict[str, int]:
    return {name: free_port() for name in ("chain", "registry", "issuer", "verifier")}


def _start(tmp_path: Path, ports: dict[str, int]) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "devstack.out"
    proc = subprocess.Popen([sys.executable, "-m", "services.ops.devstack"], cwd=REPO_ROOT,
                            env=_env(tmp_path / "data", ports), stdin=subprocess.DEVNULL,
                            stdout=open(out, "wb"), stderr=subprocess.STDOUT)
    return proc, out


def _wait_ready(proc: subprocess.Popen, out: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY in out.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"the supervisor exited with {proc.returncode}:\n{out.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"the supervisor was not ready within {timeout}s:\n{out.read_text(errors='replace')[-3000:]}")


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:  # is_running also checks the start time
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("how", ["SIGKILL", "SIGHUP"])
def test_nothing_the_supervisor_started_outlives_it(tmp_path, how):
    ports = _ports()
    proc, out = _start(tmp_path, ports)
    descendants: list[psutil.Process] = []
    try:
        _wait_ready(proc, out)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in descendants)
        assert "anvil" in names and "services.issuer.app" in names and "services.registry.worker" in names, names
        proc.send_signal(getattr(signal, how))
        proc.wait(30)
        deadline = time.monotonic() + 15
        while _alive(descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(descendants)
        assert not left, f"outlived the supervisor ({how}): " + "; ".join(
            f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in left)
        assert not [name for name, port in ports.items() if _listening(port)], "a port is still served"
        if how == "SIGHUP":
            assert proc.returncode == 0, "a hang-up is a clean stop"
            assert "stopped; data kept in" in (tmp_path / "data" / "logs" / "devstack.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for p in _alive(descendants):  # only what this test started, by pid
            p.kill()


def _printed(out: Path, label: str) -> str:
    return [line.split()[-1] for line in out.read_text().splitlines() if line.strip().startswith(label)][0]


def _profile_when_settled(url: str, timeout: float = 60.0) -> dict:
    """The profile's JSON once every credential is anchored (valid): a couple of anchoring intervals."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, headers={"Accept": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        if all(c["status"] == "valid" for c in body["credentials"]) or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_the_demo_and_its_profile_and_the_next_run_resumes_after_a_sigkill(tmp_path):
    """The demo: three nano-credentials stacked into a micro-credential and the learner's profile URL
    printed after the credential's. Killed outright, the chain still got SIGTERM and dumped: the same
    data, the same URLs."""
    ports = _ports()
    proc, out = _start(tmp_path, ports)
    try:
        _wait_ready(proc, out)
        url = _printed(out, "demo credential")
        profile_url = _printed(out, "Profile:")
        lines = out.read_text().splitlines()
        assert [i for i, line in enumerate(lines) if "Profile:" in line][0] == \
            [i for i, line in enumerate(lines) if "demo credential" in line][0] + 1, "printed after the credential"
        assert profile_url.startswith(f"http://127.0.0.1:{ports['verifier']}/p/")
        profile = _profile_when_settled(profile_url)
        assert profile["learner_name"] == "Ada Lovelace"
        assert sorted(c["name"] for c in profile["credentials"]) == [
            "Active Listening", "Conflict Resolution", "Customer Empathy", "Perspective Taking"]
        assert [c["status"] for c in profile["credentials"]] == ["valid"] * 4, profile["credentials"]
        (pathway,) = profile["pathways"]
        assert (pathway["name"], pathway["held"], pathway["required"], pathway["complete"]) == (
            "Customer Empathy", 3, 3, True)
        assert pathway["credential_url"] == url and pathway["text"] == "3 of 3 toward Customer Empathy"
        skills = {s["framework"] for c in profile["credentials"] for s in c["skills"]}
        assert skills == {"O*NET", "ESCO"}
        assert {c["level"] for c in profile["credentials"]} == {"Foundational", "Intermediate"}
        import httpx

        assert httpx.get(profile_url, timeout=30).status_code == 200  # the page itself
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 15
        while any(_listening(p) for p in ports.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc, out = _start(tmp_path, ports)
        _wait_ready(proc, out)
        assert url in out.read_text() and profile_url in out.read_text(), "the second run prints the same URLs"
        report = httpx.get(url, headers={"Accept": "application/json"}, timeout=30).json()
        assert report["credential"]["name"] == "Customer Empathy"
        assert httpx.get(profile_url, headers={"Accept": "application/json"}, timeout=30).status_code == 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_a_taken_port_is_refused_saying_by_what(tmp_path):
    ports = _ports()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen(); "
        "print('ready', flush=True); time.sleep(120)") % ports["issuer"]],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout.readline().strip() == b"ready"
        proc, out = _start(tmp_path, ports)
        assert proc.wait(60) != 0
        text = out.read_text()
        assert f"port {ports['issuer']} (issuer) is taken by pid {holder.pid}" in text, text
        assert "time.sleep(120)" in text, "the holder's command line is shown"
        assert "MICROCRED_ISSUER_URL" in text
        assert not (tmp_path / "data" / "chain").exists(), "nothing was started"
        assert not _listening(ports["chain"])
    finally:
        holder.kill()
        holder.wait(10)
