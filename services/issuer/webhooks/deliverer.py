"""The webhook deliverer: sends due deliveries, signed, in order per (endpoint, subject) (docs/webhooks.md).

Runs as a thread of ``python -m services.issuer.outbox`` (and of the API with
``MICROCRED_RUN_WEBHOOKS``). Each pass, under one database lease (``issuer-webhooks``) so that
one process schedules at a time:

1. read the due, unclaimed deliveries that have no earlier pending delivery for the same
   endpoint and subject, in id order — so a later event about a credential waits while an
   earlier one is pending, retrying or being sent;
2. hand each endpoint's to a worker (``MICROCRED_WEBHOOK_CONCURRENCY`` of them), endpoints not
   already being sent to only; the pass does not wait for them, so a slow receiver holds one
   worker, never the next pass or another issuer's endpoints. A worker sends its endpoint's
   deliveries one after another, each after *claiming* it (``claimed_by``/``claimed_until``, one
   conditional UPDATE): no other deliverer takes a claimed delivery until the claim runs out,
   and the claim outlasts the attempt's deadline by ``CLAIM_MARGIN``;
3. one attempt — resolving the host (in a thread, waited for no longer than the rest), the URL
   check (DNS may have changed; the connection goes to the address that was checked),
   connecting, sending, the response's status line and headers — runs on an asyncio loop under
   one ``MICROCRED_WEBHOOK_TIMEOUT`` deadline that cancels it, however slowly the receiver
   trickles its answer. No redirect is followed, the response body is never read;
4. a 2xx marks it ``delivered``; anything else is an attempt that failed: it is tried again
   after ``base * 2**(attempts-1)`` seconds (at most ``max``), and becomes ``failed`` once the
   next try would fall outside ``MICROCRED_WEBHOOK_RETRY_FOR`` from when it was queued. A failed
   delivery no longer holds back later events of its subject. Only the claim's holder records
   the outcome, and recording it releases the claim.

An endpoint that failed is left alone for the rest of the pass and until that delivery's next
attempt, so a receiver that is down is not called once per waiting event. A crash between a
receiver's 2xx and our commit sends that delivery again (once the claim has run out): at least
once, never lost; the stable ``webhook-id`` lets the receiver drop the repeat.

Every ``PRUNE_EVERY`` seconds a pass also deletes, ``PRUNE_BATCH`` at a time, delivered and
failed deliveries queued more than ``MICROCRED_WEBHOOK_RETENTION_DAYS`` ago and the events no
delivery needs any more.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from services.core import urlsafety
from services.core.db import transaction, utcnow
from services.core.leases import acquire_lease
from services.core.secretbox import SecretBoxError
from services.core.wakeup import run_passes
from services.issuer.models import Lease, WebhookState
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import repository as repo, service, signatures

log = logging.getLogger("microcred.issuer.webhooks")

LEASE_NAME = "issuer-webhooks"
LEASE_TTL = timedelta(seconds=30)
CLAIM_MARGIN = 30.0  # seconds a claim outlasts its attempt's deadline (recording the outcome, a slow commit)
PASS_BUDGET = 10.0   # seconds a worker sends to one endpoint before it lets the next pass reschedule
WINDOW = 2_000       # eligible deliveries read per pass
PRUNE_EVERY = 600.0  # seconds between retention prunes
PRUNE_BATCH = 5_000  # rows of each table deleted per prune
USER_AGENT = "microcred-webhooks/1"
MAX_ERROR = 500


def backoff(settings: IssuerSettings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=min(settings.webhook_retry_base * 2 ** min(attempts - 1, 40), settings.webhook_retry_max))


class Deliverer:
    def __init__(self, settings: IssuerSettings, sessions: sessionmaker[Session], holder: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rules = service.url_rules(settings)
        self.deadline = settings.webhook_timeout
        self.claim_for = timedelta(seconds=self.deadline + CLAIM_MARGIN)
        self.retention = timedelta(days=settings.webhook_retention_days)
        # Attempts run on one event loop of their own, where a deadline can cancel them at any step.
        self._loop = asyncio.new_event_loop()
        self._io = threading.Thread(target=self._loop.run_forever, name="webhooks-io", daemon=True)
        self._io.start()
        self.http = httpx.AsyncClient(follow_redirects=False, transport=transport, headers={"User-Agent": USER_AGENT},
                                      timeout=httpx.Timeout(self.deadline))
        # getaddrinfo cannot be interrupted: it runs here and the attempt stops waiting for it at
        # the deadline (a stuck lookup keeps its thread until the system resolver gives up).
        self._dns = ThreadPoolExecutor(max(4, 2 * settings.webhook_concurrency), thread_name_prefix="webhooks-dns")
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency, thread_name_prefix="webhooks")
        self._lock = threading.Lock()
        self._resting: dict[str, datetime] = {}  # endpoint -> not before (it failed)
        self._busy: dict[str, Future] = {}       # endpoint -> its worker, queued or sending
        self._next_prune = 0.0
        self.outstanding = True  # a delivery pending at all (due or not), as the last pass found

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Pass after pass until ``stop``: every ``webhook_interval`` while any delivery is pending
        (a retry comes due on time); with none pending at all the wait doubles up to
        ``webhook_idle_interval``, and ends early when the database changed (a SQLite file's
        data_version, NOTIFY on PostgreSQL: services/core/wakeup.py), so a new event goes out as
        soon as before while an idle relay does not query its database four times a second."""
        run_passes(self.tick, lambda: self.outstanding, stop, self.settings.database_url, repo.WEBHOOK_CHANNEL, wake,
                   self.settings.webhook_interval, self.settings.webhook_idle_interval, log, "webhook")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        asyncio.run_coroutine_threadsafe(self.http.aclose(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._io.join(10)
        self._loop.close()
        self._dns.shutdown(wait=False, cancel_futures=True)

    def tick(self, wait: bool = False) -> bool:
        """One pass; True when work was handed out (more may be due at once). ``wait``: until it is done."""
        now = utcnow()
        if time.monotonic() >= self._next_prune:
            self.prune(now)
        with transaction(self.sessions) as session:
            due, self.outstanding = repo.work_state(session, now)
            if not due:
                return False
            if not acquire_lease(session, Lease, LEASE_NAME, self.holder, LEASE_TTL):
                return False
            with self._lock:
                self._resting = {e: until for e, until in self._resting.items() if until > now}
                skip = [*self._resting, *self._busy]
            eligible = repo.eligible(session, now, skip, WINDOW)
        due: dict[str, list[int]] = {}
        for delivery_id, endpoint_id in eligible:
            due.setdefault(endpoint_id, []).append(delivery_id)
        started = []
        for endpoint_id, ids in due.items():
            with self._lock:
                if endpoint_id in self._busy:
                    continue
                future = self._busy[endpoint_id] = self.pool.submit(self._endpoint_pass, endpoint_id, ids)
            started.append(future)
        if wait:
            for future in started:
                future.result()
        return bool(started)

    def prune(self, now: datetime) -> tuple[int, int]:
        """Delete what is past the retention (bounded); (deliveries, events) deleted."""
        self._next_prune = time.monotonic() + PRUNE_EVERY
        with transaction(self.sessions) as session:
            deleted = repo.prune(session, now - self.retention, PRUNE_BATCH)
        if any(deleted):
            log.info("webhook retention: deleted %s deliveries and %s events", *deleted)
            self._next_prune = time.monotonic()  # more may be left: go on at the next pass
        return deleted

    def _endpoint_pass(self, endpoint_id: str, ids: list[int]) -> bool:
        try:
            return self._send_to(endpoint_id, ids, time.monotonic() + PASS_BUDGET)
        except Exception:
            log.exception("webhook worker for %s failed", endpoint_id)
            return False
        finally:
            with self._lock:
                self._busy.pop(endpoint_id, None)

    def _send_to(self, endpoint_id: str, ids: list[int], deadline: float) -> bool:
        with self.sessions() as session:
            endpoint = repo.endpoints_by_id(session, [endpoint_id]).get(endpoint_id)
            rows = repo.for_sending(session, ids)
            if endpoint is None:
                return False  # deleted meanwhile (its deliveries went with it)
            url, secret = endpoint.url, None
            try:
                secret = service.open_secret(self.settings, endpoint)
            except SecretBoxError:
                log.error("the secret of webhook %s does not open with the configured key-encryption key", endpoint_id)
        sent = False
        for delivery_id, _, event_id, body, attempts, created in rows:
            if time.monotonic() > deadline:
                break
            now = utcnow()
            with transaction(self.sessions) as session:
                mine = repo.claim(session, delivery_id, self.holder, now, now + self.claim_for)
            if not mine:
                continue  # another deliverer is sending it, or it is no longer due
            if secret is None:
                status, error = None, "the endpoint's secret cannot be opened"
            else:
                status, error = self._send(url, secret, event_id, body.encode())
            resting = self._outcome(delivery_id, attempts, created, status, error)
            sent = True
            if resting is not None:
                with self._lock:
                    self._resting[endpoint_id] = resting
                break  # the endpoint rests: its other deliveries wait (their order is kept)
        return sent

    def _send(self, url: str, secret: str, event_id: str, body: bytes) -> tuple[int | None, str | None]:
        """(status code, error): error None means delivered. Returns within the attempt's deadline."""
        attempt = asyncio.wait_for(self._attempt(url, secret, event_id, body), self.deadline)
        future = asyncio.run_coroutine_threadsafe(attempt, self._loop)
        try:
            return future.result(self.deadline + 5)  # the loop's own deadline ends it first
        except TimeoutError:
            future.cancel()
            return None, f"no answer within {self.deadline:g} s"

    async def _attempt(self, url: str, secret: str, event_id: str, body: bytes) -> tuple[int | None, str | None]:
        loop = asyncio.get_running_loop()
        try:
            target = await loop.run_in_executor(self._dns, functools.partial(urlsafety.check_url_blocking, url,
                                                                             **self.rules))
        except urlsafety.FetchRefused as exc:
            return None, f"url refused: {exc}"
        headers = {**target.headers, "Content-Type": "application/json",
                   **signatures.headers(secret, event_id, int(time.time()), body)}
        try:
            # Streamed and closed unread: the receiver's body is never loaded.
            async with self.http.stream("POST", target.url, content=body, headers=headers,
                                        extensions=target.extensions) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return None, f"no answer within {self.deadline:g} s"
        except (httpx.HTTPError, httpx.StreamError, ValueError) as exc:
            return None, f"could not connect ({type(exc).__name__}: {str(exc)[:200]})"
        if 200 <= status < 300:
            return status, None
        return status, f"answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")

    def _outcome(self, delivery_id: int, attempts: int, created: datetime, status: int | None,
                 error: str | None) -> datetime | None:
        """Record the attempt; None when delivered, else until when its endpoint rests."""
        now = utcnow()
        with transaction(self.sessions) as session:
            if error is None:
                kept = repo.attempted(session, delivery_id, self.holder, now=now, status_code=status, error=None,
                                      state=WebhookState.delivered, next_attempt_at=None)
                if not kept:
                    log.warning("webhook delivery %s: delivered, but our claim had run out", delivery_id)
                return None
            later = now + backoff(self.settings, attempts + 1)
            gives_up = later > created + timedelta(seconds=self.settings.webhook_retry_for)
            repo.attempted(session, delivery_id, self.holder, now=now, status_code=status, error=error[:MAX_ERROR],
                           state=WebhookState.failed if gives_up else WebhookState.pending,
                           next_attempt_at=None if gives_up else later)
        (log.warning if gives_up else log.info)("webhook delivery %s %s: %s", delivery_id,
                                                "failed for good" if gives_up else "will be retried", error)
        return now if gives_up else later
