"""The development secrets under the data folder: made once, the same for every process that starts."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time

from services.core.settings import SECRET_FIELDS, load_or_create_dev_secrets

# Each process waits for the same instant, then asks for the secrets.
MAKE = ("import sys, json, time; from pathlib import Path; from services.core.settings import load_or_create_dev_secrets as f; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); print(json.dumps(f(Path(sys.argv[1]))))")


def test_processes_starting_at_once_on_a_fresh_folder_agree_on_one_set(tmp_path):
    folder = tmp_path / "data"
    at = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", MAKE, str(folder), at], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    seen = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    stored = json.loads((folder / "secrets.json").read_text())
    assert all(s == stored for s in seen) and set(stored) >= set(SECRET_FIELDS)
    assert stat.S_IMODE((folder / "secrets.json").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["secrets.json"]  # no temporary file left behind


def test_an_older_file_is_completed_and_what_it_held_kept(tmp_path):
    first, *rest = SECRET_FIELDS
    (tmp_path / "secrets.json").write_text(json.dumps({first: "kept-value-0123456789"}))
    made = load_or_create_dev_secrets(tmp_path)
    assert made[first] == "kept-value-0123456789" and all(made[n] for n in rest)
    assert load_or_create_dev_secrets(tmp_path) == made
