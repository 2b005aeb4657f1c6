"""Waking a background worker when there is new work, instead of polling fast.

A worker that found nothing to do waits; this says when to look again before its wait is
over. On PostgreSQL the process that queues work sends ``NOTIFY <channel>`` (:func:`notify`)
in the transaction that queues it, so it arrives only once the work is committed; the
worker ``LISTEN``s on a connection of its own. On a SQLite file there is no channel between
processes, but SQLite says when another connection committed: ``PRAGMA data_version``
changes. The worker asks that every :data:`SQLITE_LOOK` seconds — a few microseconds and no
query of any table — and looks for work when it changed. Either way a lost or missing
wake-up only delays work, never loses it: the worker's own (backed-off) poll runs regardless.
An in-process ``threading.Event`` (the API waking a worker thread beside it) ends a wait too.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger("microcred.wakeup")

SQLITE_LOOK = 0.25  # seconds between two looks at a SQLite file's data_version while waiting


def notify(session: Session, channel: str) -> None:
    """Wake who waits on ``channel`` once this transaction commits (PostgreSQL; on SQLite the
    commit itself is the signal)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {channel}"))


class _CommitWatch(threading.Thread):
    """One thread per SQLite file and process: sets every subscribed event when another
    connection committed to the file. It ends once no event is subscribed any more."""

    def __init__(self, database_url: str, path: str) -> None:
        super().__init__(name="sqlite-commit-watch", daemon=True)
        self.path = path
        self.events: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self._look = Wakeup(database_url, "")

    def run(self) -> None:
        try:
            while self._look_once():
                time.sleep(SQLITE_LOOK)
        finally:
            self._look.close()

    def _look_once(self) -> bool:
        """One look; False once nobody listens (the events are held only weakly, and no
        reference to one outlives this call)."""
        with _watches_lock:
            events = list(self.events)
            if not events:
                del _watches[self.path]
                return False
        if self._look._sqlite_changed():  # noqa: SLF001 - the same look, shared
            for event in events:
                event.set()
        return True


_watches: dict[str, _CommitWatch] = {}
_watches_lock = threading.Lock()


def on_commit(database_url: str, event: threading.Event) -> None:
    """Set ``event`` whenever another connection commits to this SQLite file, looked at four
    times a second by one thread for all the events of the process (nothing elsewhere: on
    PostgreSQL a worker thread is woken by the API beside it, or finds the work at its poll)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    with _watches_lock:
        watch = _watches.get(url.database)
        if watch is None:
            watch = _watches[url.database] = _CommitWatch(database_url, url.database)
            watch.events.add(event)
            watch.start()
        else:
            watch.events.add(event)


def idle_wait(stop: threading.Event, wake: threading.Event | None, delay: float, base: float,
              longest: float) -> float:
    """Wait ``delay`` seconds or until ``wake`` (or ``stop``) is set; return the next wait: ``base``
    after a wake-up, else twice this one, at most ``longest``. For a worker thread that the API
    beside it wakes when it queues work, and that finds anything else on its own, later."""
    woken = (wake or stop).wait(delay)  # (whoever sets stop sets wake too)
    if wake is not None:
        wake.clear()
    return base if woken else min(max(delay * 2, base), max(longest, base))


class Wakeup:
    def __init__(self, database_url: str, channel: str) -> None:
        url = make_url(database_url)
        self.channel = channel
        backend = url.get_backend_name()
        self._conninfo = (url.set(drivername="postgresql").render_as_string(hide_password=False)
                          if backend == "postgresql" else None)
        self._sqlite_path = url.database if backend == "sqlite" and url.database not in (None, "", ":memory:") else None
        self._conn = None
        self._version: int | None = None
        self._retry_at = 0.0

    # -- PostgreSQL --------------------------------------------------------------------
    def _listening(self):
        """The LISTENing connection, (re)opened when needed; None without PostgreSQL or while it fails."""
        if self._conninfo is None or self._conn is not None or time.monotonic() < self._retry_at:
            return self._conn
        try:
            import psycopg

            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute(f"LISTEN {self.channel}")
        except Exception as exc:  # the poll still runs: only latency suffers
            log.warning("cannot LISTEN for new work, polling only: %s", exc)
            self._conn, self._retry_at = None, time.monotonic() + 30.0
        return self._conn

    # -- SQLite ------------------------------------------------------------------------
    def _sqlite_changed(self) -> bool:
        """Whether another connection committed since the last look (the first look: no)."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self._sqlite_path}?mode=ro", uri=True, timeout=1.0,
                                             check_same_thread=False, isolation_level=None)
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:  # e.g. the file is not made yet: the poll still runs
            log.debug("cannot read data_version: %s", exc)
            self.close()
            return False
        changed = self._version is not None and version != self._version
        self._version = version
        return changed

    # -- waiting -----------------------------------------------------------------------
    def wait(self, stop: threading.Event, timeout: float, event: threading.Event | None = None) -> bool:
        """Return after ``timeout`` seconds (False), or early (True) when ``stop`` or ``event`` is
        set or new work is signalled. ``event`` is cleared on the way out."""
        try:
            return self._wait(stop, timeout, event)
        finally:
            if event is not None:
                event.clear()

    def _wait(self, stop: threading.Event, timeout: float, event: threading.Event | None) -> bool:
        deadline = time.monotonic() + timeout
        sleeper = event or stop
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if event is not None and event.is_set():
                return True
            if self._sqlite_path is not None:
                if sleeper.wait(min(left, SQLITE_LOOK)) or self._sqlite_changed():
                    return True
                continue
            conn = self._listening()
            if conn is None:
                return sleeper.wait(left)
            if event is not None and event.is_set():
                return True
            try:
                # In slices, so that a stop (or an in-process event) is seen within a second.
                if any(True for _ in conn.notifies(timeout=min(left, 0.5 if event else 1.0), stop_after=1)):
                    for _ in conn.notifies(timeout=0.0):  # one pass serves every signal so far
                        pass
                    return True
            except Exception as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", exc)
                self.close()
        return True

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        self._version = None  # data_version is per connection: a new one starts a new baseline


def run_passes(tick: Callable[[], bool], outstanding: Callable[[], bool], stop: threading.Event,
               database_url: str, channel: str, wake: threading.Event | None, interval: float, longest: float,
               log: logging.Logger, what: str) -> None:
    """A worker's loop until ``stop``: a pass (``tick``; True when there may be more at once) right
    after a busy one; while ``outstanding()`` (work waiting, due or not) one every ``interval``;
    with none the wait doubles up to ``longest``. A wake-up on ``channel`` (a commit to the SQLite
    file, NOTIFY on PostgreSQL) or ``wake`` ends any wait, and the waits start again from
    ``interval``. A failed pass is logged (``what`` pass failed) and counts as an idle one."""
    waiter = Wakeup(database_url, channel)
    delay = interval
    try:
        while not stop.is_set():
            try:
                busy = tick()
            except Exception:
                log.exception("%s pass failed", what)
                busy = False
            if busy:
                continue
            delay = interval if outstanding() else min(max(delay * 2, interval), longest)
            if waiter.wait(stop, delay, wake):
                delay = interval
    finally:
        waiter.close()
