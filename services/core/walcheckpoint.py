"""SQLite: the write-ahead log copied back into the database file by a thread of its own, ahead of
the commits that would otherwise do it.

SQLite checkpoints in the commit that takes the log past 1,000 pages: that commit copies them
back into the database file and syncs it (``synchronous=NORMAL``). A single issue writes ≈ 25
pages (the rows and their indexes), so one request in forty paid for a checkpoint: an fsync and
4 MB of writes (measured, the single-issue use case in turns with and without this thread:
3.4–6.1 ms of wall time per credential with it, 5.5–6.6 without, the same CPU; docs/issuer.md,
"Where a request's time goes"). Here a thread does it first: a
``PASSIVE`` checkpoint (it never waits for readers or the writer, and holds no lock they wait on)
at each look that finds something committed since the last (``PRAGMA data_version``), looking
again after :data:`BUSY` seconds while commits keep coming, backing off to :data:`IDLE` when
they stop (one look a second on an idle file; nothing is written then).

Nothing else changes: ``synchronous`` stays, and so does SQLite's own automatic checkpoint at
1,000 pages, so the log never holds more unsynced commits than before — the thread only makes
them fewer (a commit still checkpoints if the log outgrows the thread).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger("microcred.db")

BUSY = 0.05  # seconds to the next look after one that found commits (≈ 500 pages at 400 issues a second)
IDLE = 1.0   # the longest wait between two looks (it doubles from BUSY while nothing is committed)


def checkpoint_in_background(engine: Engine, stop: threading.Event) -> threading.Thread | None:
    """Start the checkpointing thread for a SQLite file engine (None for any other); it ends once
    ``stop`` is set."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or path in (None, "", ":memory:") or path.startswith("file:"):
        return None
    thread = threading.Thread(target=_run, args=(path, stop), name="sqlite-wal-checkpoint", daemon=True)
    thread.start()
    return thread


def _run(path: str, stop: threading.Event) -> None:
    conn, seen, wait = None, None, IDLE
    while not stop.wait(wait):
        try:
            if conn is None:
                conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=1.0, isolation_level=None,
                                       check_same_thread=False)  # never makes the file
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == seen:
                wait = min(wait * 2, IDLE)
                continue
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            seen, wait = version, BUSY
        except sqlite3.Error as exc:  # e.g. no file yet: the commits' own checkpoint still runs
            log.debug("WAL checkpoint skipped: %s", exc)
            if conn is not None:
                conn.close()
            conn, seen, wait = None, None, IDLE
    if conn is not None:
        conn.close()
