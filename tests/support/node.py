"""The JavaScript libraries the interop tests cross-check against: node and node_modules, or a skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_packages(*packages: str, why: str = "cannot cross-check with the JS libraries") -> None:
    """Skip the calling module unless node and every one of ``packages`` (from ``npm ci``) are there."""
    if shutil.which("node") is None:
        pytest.skip(f"node is not installed: {why}", allow_module_level=True)
    if missing := [name for name in packages if not (REPO / "node_modules" / name).is_dir()]:
        pytest.skip(f"node_modules lacks {', '.join(missing)} (run npm ci)", allow_module_level=True)


def run_script(script: Path, *args: str, payload: Any, timeout: float = 120) -> Any:
    """Run ``node script args...`` in the repository with ``payload`` as JSON on stdin; its JSON stdout."""
    run = subprocess.run(["node", str(script), *args], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=timeout, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
