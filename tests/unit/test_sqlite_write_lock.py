"""SQLite's write lock is asked for every millisecond: a writer beside one that commits again and again
(a batch runner writing chunk after chunk) gets it in the next gap, not after seconds."""

from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import text

from services.core.db import make_engine, take_write_lock


def _hog(path: str, stop: threading.Event, hold: float = 0.06, gap: float = 0.002) -> None:
    """Holds the write lock ``hold`` seconds, lets go for ``gap``, again and again (SQLite's own busy wait)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (1)")
            time.sleep(hold)
            conn.execute("COMMIT")
            time.sleep(gap)
    finally:
        conn.close()


def test_a_writer_beside_one_that_commits_again_and_again_waits_one_gap_not_seconds(tmp_path):
    path = str(tmp_path / "lock.db")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    stop = threading.Event()
    hog = threading.Thread(target=_hog, args=(path, stop), daemon=True)
    hog.start()
    waits = []
    try:
        time.sleep(0.2)
        for _ in range(5):
            start = time.monotonic()
            with engine.begin() as c:
                c.execute(text("INSERT INTO t VALUES (2)"))  # the first write of the transaction takes the lock
            waits.append(time.monotonic() - start)
            time.sleep(0.05)
    finally:
        stop.set()
        hog.join(5)
    # a hold of 60 ms and a gap of 2 ms: SQLite's own wait (100 ms between tries) mostly misses the gap
    assert max(waits) < 0.5, waits
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t WHERE x = 2")).scalar() == 5


def test_the_transaction_is_the_same_one_pysqlite_would_have_begun(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'same.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as c:
        c.execute(text("SELECT count(*) FROM t")).scalar()  # a read opens no transaction (as before)
        assert not c.connection.dbapi_connection.in_transaction
        c.execute(text("INSERT INTO t VALUES (1)"))
        assert c.connection.dbapi_connection.in_transaction
        c.rollback()  # rolled back: the write lock was a transaction's, and went with it
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 0
    # held elsewhere for longer than asked to wait: False, and the statement waits by busy_timeout as before
    other = sqlite3.connect(str(tmp_path / "same.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    mine = sqlite3.connect(str(tmp_path / "same.db"), isolation_level=None)
    assert take_write_lock(mine, wait=0.05) is False
    assert mine.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    other.execute("ROLLBACK")
    assert take_write_lock(mine, wait=0.05) is True
    mine.execute("ROLLBACK")
