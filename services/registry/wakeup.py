"""Waking the anchoring worker when the API queues work, instead of polling fast.

On PostgreSQL the API sends ``NOTIFY`` (``repository.notify_work``) in the transaction that
queues the work, so it arrives only once the work is committed; the worker ``LISTEN``s on a
connection of its own and wakes at once. Elsewhere (SQLite) there is no channel between
processes: the worker's idle poll, one cheap query, finds the work. Either way a lost or
missing wake-up only delays work, never loses it: the poll runs regardless.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.engine import make_url

from services.registry.repository import WORK_CHANNEL

log = logging.getLogger("microcred.registry.wakeup")


class Wakeup:
    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._conninfo = (url.set(drivername="postgresql").render_as_string(hide_password=False)
                          if url.get_backend_name() == "postgresql" else None)
        self._conn = None
        self._retry_at = 0.0

    def _listening(self):
        """The LISTENing connection, (re)opened when needed; None without PostgreSQL or while it fails."""
        if self._conninfo is None or self._conn is not None or time.monotonic() < self._retry_at:
            return self._conn
        try:
            import psycopg

            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute(f"LISTEN {WORK_CHANNEL}")
        except Exception as exc:  # the poll still runs: only latency suffers
            log.warning("cannot LISTEN for new work, polling only: %s", exc)
            self._conn, self._retry_at = None, time.monotonic() + 30.0
        return self._conn

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Return after ``timeout`` seconds, when ``stop`` is set, or when new work is signalled."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn = self._listening()
            if conn is None:
                stop.wait(left)
                return
            try:
                # In slices, so that a stop is seen within a second.
                if any(True for _ in conn.notifies(timeout=min(left, 1.0), stop_after=1)):
                    for _ in conn.notifies(timeout=0.0):  # one pass serves every signal so far
                        pass
                    return
            except Exception as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", exc)
                self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
