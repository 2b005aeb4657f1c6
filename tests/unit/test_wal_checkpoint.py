"""SQLite's write-ahead log is copied into the database file by a thread, not by a request's commit
(services/core/walcheckpoint.py, docs/issuer.md "Single issuance"). A real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

from sqlalchemy import text

from services.core.db import make_engine
from services.core.walcheckpoint import checkpoint_in_background


def _rows_in_the_database_file_alone(path, tmp_path) -> int | None:
    """The rows of ``t`` as the database file holds them without its log (None while unreadable)."""
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(path, copy)  # the file alone: no -wal beside it, so only what was checkpointed
    try:
        with sqlite3.connect(copy) as conn:
            return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        copy.unlink()


def test_commits_reach_the_database_file_without_a_commit_checkpointing(tmp_path):
    path = tmp_path / "db.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    stop = threading.Event()
    thread = checkpoint_in_background(engine, stop)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(5):  # a few pages: far from the 1,000 at which a commit would checkpoint itself
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 100})
        deadline = time.monotonic() + 5
        while _rows_in_the_database_file_alone(path, tmp_path) != 5:
            assert time.monotonic() < deadline, "the log was never checkpointed into the database file"
            time.sleep(0.05)
        with engine.connect() as conn:  # SQLite's own automatic checkpoint is left as it was
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL, as before
    finally:
        stop.set()
        thread.join(5)
        engine.dispose()
    assert not thread.is_alive()


def test_only_a_sqlite_file_gets_a_thread(tmp_path):
    stop = threading.Event()
    assert checkpoint_in_background(make_engine("sqlite://"), stop) is None
    assert checkpoint_in_background(make_engine("postgresql+psycopg://u:p@127.0.0.1:1/x"), stop) is None


def test_a_missing_file_is_not_made(tmp_path):
    path = tmp_path / "not-yet.sqlite"
    stop = threading.Event()
    thread = checkpoint_in_background(make_engine(f"sqlite:///{path}"), stop)
    time.sleep(1.3)  # past its first look
    stop.set()
    thread.join(5)
    assert not path.exists()
