"""The webhook deliverer: sends due deliveries, signed, in order per (endpoint, subject) (docs/webhooks.md).

Runs as a thread of ``python -m services.issuer.outbox`` (and of the API with
``MICROCRED_RUN_WEBHOOKS``). Each pass, under one database lease (``issuer-webhooks``) so that
two processes never send the same delivery at once:

1. read the due deliveries that have no earlier pending delivery for the same endpoint and
   subject, in id order — so a later event about a credential waits while an earlier one is
   pending or retrying;
2. send the eligible ones, endpoints in parallel (``MICROCRED_WEBHOOK_CONCURRENCY``), each
   endpoint's one after another. The URL is checked again before every attempt (DNS may have
   changed) and the connection goes to the address that was checked; no redirect is
   followed, the response body is never read, one attempt lasts at most
   ``MICROCRED_WEBHOOK_TIMEOUT``;
3. a 2xx marks it ``delivered``; anything else is an attempt that failed: it is tried again
   after ``base * 2**(attempts-1)`` seconds (at most ``max``), and becomes ``failed`` once the
   next try would fall outside ``MICROCRED_WEBHOOK_RETRY_FOR`` from when it was queued. A failed
   delivery no longer holds back later events of its subject.

An endpoint that failed is left alone for the rest of the pass and until that delivery's next
attempt, so a receiver that is down is not called once per waiting event. A crash between a
receiver's 2xx and our commit sends that delivery again: at least once, never lost; the stable
``webhook-id`` lets the receiver drop the repeat.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from services.core import urlsafety
from services.core.db import transaction, utcnow
from services.core.leases import acquire_lease
from services.core.secretbox import SecretBoxError
from services.issuer.models import Lease, WebhookState
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import repository as repo, service, signatures

log = logging.getLogger("microcred.issuer.webhooks")

LEASE_NAME = "issuer-webhooks"
LEASE_TTL = timedelta(seconds=30)
PASS_BUDGET = 10.0  # seconds of sending per pass, well inside the lease
WINDOW = 2_000      # eligible deliveries read per pass
USER_AGENT = "microcred-webhooks/1"
MAX_ERROR = 500


def backoff(settings: IssuerSettings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=min(settings.webhook_retry_base * 2 ** min(attempts - 1, 40), settings.webhook_retry_max))


class Deliverer:
    def __init__(self, settings: IssuerSettings, sessions: sessionmaker[Session], holder: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rules = service.url_rules(settings)
        self.http = httpx.Client(follow_redirects=False, timeout=settings.webhook_timeout, transport=transport,
                                 headers={"User-Agent": USER_AGENT})
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency, thread_name_prefix="webhooks")
        self._resting: dict[str, datetime] = {}  # endpoint -> not before (it failed)

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        while not stop.is_set():
            try:
                busy = self.tick()
            except Exception:
                log.exception("webhook pass failed")
                busy = False
            if not busy:
                (wake or stop).wait(self.settings.webhook_interval)
                if wake is not None:
                    wake.clear()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()

    def tick(self) -> bool:
        """One pass; True when something was sent (more may be due at once)."""
        now = utcnow()
        with transaction(self.sessions) as session:
            if not repo.work_due(session, now):
                return False
            if not acquire_lease(session, Lease, LEASE_NAME, self.holder, LEASE_TTL):
                return False
            self._resting = {e: until for e, until in self._resting.items() if until > now}
            resting = list(self._resting)
            eligible = repo.eligible(session, now, resting, WINDOW)
        due: dict[str, list[int]] = {}
        for delivery_id, endpoint_id in eligible:
            due.setdefault(endpoint_id, []).append(delivery_id)
        if not due:
            return False
        deadline = time.monotonic() + PASS_BUDGET
        sent = list(self.pool.map(lambda item: self._endpoint_pass(item[0], item[1], deadline), due.items()))
        return any(sent)

    def _endpoint_pass(self, endpoint_id: str, ids: list[int], deadline: float) -> bool:
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
            if secret is None:
                status, error = None, "the endpoint's secret cannot be opened"
            else:
                status, error = self._send(url, secret, event_id, body.encode())
            resting = self._outcome(delivery_id, attempts, created, status, error)
            sent = True
            if resting is not None:
                self._resting[endpoint_id] = resting
                break  # the endpoint rests: its other deliveries wait (their order is kept)
        return sent

    def _send(self, url: str, secret: str, event_id: str, body: bytes) -> tuple[int | None, str | None]:
        """(status code, error): error None means delivered."""
        try:
            target = urlsafety.check_url_blocking(url, **self.rules)
        except urlsafety.FetchRefused as exc:
            return None, f"url refused: {exc}"
        headers = {**target.headers, "Content-Type": "application/json",
                   **signatures.headers(secret, event_id, int(time.time()), body)}
        try:
            # Streamed and closed unread: the receiver's body is never loaded.
            with self.http.stream("POST", target.url, content=body, headers=headers,
                                  extensions=target.extensions) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return None, f"no answer within {self.settings.webhook_timeout:g} s"
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
                repo.attempted(session, delivery_id, now=now, status_code=status, error=None,
                               state=WebhookState.delivered, next_attempt_at=None)
                return None
            later = now + backoff(self.settings, attempts + 1)
            gives_up = later > created + timedelta(seconds=self.settings.webhook_retry_for)
            repo.attempted(session, delivery_id, now=now, status_code=status, error=error[:MAX_ERROR],
                           state=WebhookState.failed if gives_up else WebhookState.pending,
                           next_attempt_at=None if gives_up else later)
        (log.warning if gives_up else log.info)("webhook delivery %s %s: %s", delivery_id,
                                                "failed for good" if gives_up else "will be retried", error)
        return now if gives_up else later
