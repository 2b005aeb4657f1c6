"""The outbox relay: delivers what the registry must hear, and brings anchor receipts back.

``python -m services.issuer.outbox`` runs it (with a batch runner beside it, which
resumes batches an API process left unfinished, an award runner, and the webhook deliverer:
services/issuer/webhooks/deliverer.py, docs/webhooks.md). Each pass, under one database lease so
that only one relay works at a time however many processes run one:

1. **deliver** pending outbox messages in order, per issuer: issuer registration, key
   rotations, and credential hashes to anchor or revoke — consecutive hashes of one
   issuer merged into one call of up to 10,000 (anchors: one call per signing key, naming
   the key, so the registry anchors them only once that key is on chain). A normal
   retirement goes with ``retire_at`` None (the block time), a compromise with its
   whole-second compromise time as given. A registry that is down leaves the
   messages pending (retried with backoff); one that refuses a message marks it failed
   with its answer. The registry is idempotent on all of these, so a message delivered
   twice (crash between its answer and our commit) changes nothing.
2. **follow registrations**: an issuer's chain account becomes ``active`` once the
   registry says so; the chain id is learnt then (for the DID document).
3. **collect anchors**: for credentials the registry holds, ask for their receipts in
   issuance order, stop at the first one not yet confirmed, and attach the anchor proof
   to each confirmed one.

Before delivering, each pass **publishes status lists** (services.issuer.statuslists): every
list with changes whose last version is at least MICROCRED_STATUS_LIST_INTERVAL old gets one
new signed version carrying all of them, stored with a ``status_list`` outbox message that
the same pass delivers (``POST /api/v1/status-lists``). Holding the lease makes this relay the
only publisher; the unique (list, version) constraint would refuse a second one anyway.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import transaction, utcnow
from services.core.wakeup import run_passes
from services.issuer import statuslists
from services.issuer.anchoring import repository as repo
from services.issuer.anchoring.repository import OUTBOX_CHANNEL
from services.issuer.anchoring.service import anchored_values
from services.issuer.issuers import repository as issuers_repo
from services.issuer.issuers.service import record_account
from services.issuer.models import AnchorState, OutboxKind
from services.issuer.metrics import observe_anchored
from services.issuer.registry_client import Registry, RegistryRefused, RegistryUnavailable
from services.issuer.settings import IssuerSettings
from services.issuer.credentials import document as cred
from services.issuer.webhooks import events
from services.issuer.webhooks import repository as webhooks_repo

log = logging.getLogger("microcred.issuer.outbox")

LEASE_NAME = "issuer-outbox"
LEASE_TTL = timedelta(seconds=30)
MAX_HASHES = 10_000
POLL_AGAIN = timedelta(seconds=1)
# An unconfirmed receipt younger than this is asked again at the next pass; an older one backs off.
STUCK_AFTER = timedelta(seconds=10)


def _poll_delay(age: timedelta) -> timedelta:
    """How long until an unconfirmed receipt is asked for again: 1 s while fresh, at most a minute."""
    return min(max(POLL_AGAIN, age / 4), timedelta(seconds=60))


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** min(attempts, 6), 60))


class Relay:
    def __init__(self, settings: IssuerSettings, sessions: sessionmaker[Session], registry: Registry,
                 holder: str | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.registry = registry
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._receipts = ThreadPoolExecutor(8, thread_name_prefix="receipts")
        self._chain_id: int | None = None
        self._last_registration_poll = 0.0
        self.outstanding = True  # until a pass says otherwise

    # -- the loop -----------------------------------------------------------------------
    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Pass after pass until ``stop``. While work is outstanding (a message, a receipt not yet
        attached, a registration followed, a list with changes) a pass every ``outbox_interval``;
        after passes that found none at all the wait doubles up to ``outbox_idle_interval``, and
        ends early when the database changed (a SQLite file's data_version, NOTIFY on PostgreSQL:
        services/core/wakeup.py) or the API beside it sets ``wake``."""
        run_passes(self.tick, lambda: self.outstanding, stop, self.settings.database_url, OUTBOX_CHANNEL, wake,
                   self.settings.outbox_interval, self.settings.outbox_idle_interval, log, "outbox relay")

    def tick(self) -> bool:
        """One pass; True when there may be more to do at once. With nothing due (one query) the
        pass ends there: no lease taken, no registry asked, whatever the number of issuers.
        ``outstanding`` says afterwards whether anything is waiting at all, due or not."""
        now = utcnow()
        with transaction(self.sessions) as session:
            due, self.outstanding = repo.work_state(
                session, now, now - timedelta(seconds=self.settings.status_list_interval))
            if not due:
                return False
            if not repo.acquire_lease(session, LEASE_NAME, self.holder, LEASE_TTL):
                return False
        try:
            published = self.publish_status_lists()
        except Exception:  # never let a list that cannot be signed stop deliveries
            log.exception("publishing status lists failed")
            published = False
        try:
            delivered = self.deliver()
            self.follow_registrations()
            polled = self.collect_anchors()
        except RegistryUnavailable as exc:
            log.warning("registry unavailable, will retry: %s", exc)
            return False
        return delivered or polled or published

    def publish_status_lists(self) -> bool:
        """New versions of the status lists that are due; True if the limit was reached (more may be due)."""
        limit = 200
        return len(statuslists.publish_due(self.sessions, self.settings, limit=limit)) >= limit

    def close(self) -> None:
        self._receipts.shutdown(wait=False, cancel_futures=True)

    # -- 1. deliver ------------------------------------------------------------------------
    def deliver(self, limit: int = 2_000) -> bool:
        now = utcnow()
        with transaction(self.sessions) as session:
            messages = [(m.id, m.issuer_id, m.kind, dict(m.payload), m.next_attempt_at)
                        for m in repo.pending_outbox(session, limit)]
        if not messages:
            return False
        blocked: set[str] = set()
        groups: list[tuple[str, OutboxKind, list[int], dict]] = []
        for mid, issuer_id, kind, payload, due in messages:
            if issuer_id in blocked:
                continue
            if due > now:
                blocked.add(issuer_id)  # keep this issuer's messages in order
                continue
            last = groups[-1] if groups else None
            mergeable = kind in (OutboxKind.anchor, OutboxKind.revoke)
            if (mergeable and last and last[0] == issuer_id and last[1] == kind
                    and len(last[3]["hashes"]) + len(payload["hashes"]) <= MAX_HASHES):
                last[2].append(mid)
                last[3]["hashes"].extend(payload["hashes"])
                if payload.get("flush"):
                    last[3]["flush"] = True
            else:
                groups.append((issuer_id, kind, [mid], {**payload, "hashes": list(payload.get("hashes", []))}
                               if mergeable else payload))
        failed_issuers: set[str] = set()
        for issuer_id, kind, ids, payload in groups:
            if issuer_id in failed_issuers:
                continue
            try:
                self._send(issuer_id, kind, ids, payload)
            except RegistryUnavailable as exc:
                self._retry(ids, str(exc))
                raise
            except RegistryRefused as exc:
                if exc.status == 404:
                    # the registry does not know the issuer (yet): keep order, retry later
                    self._retry(ids, str(exc))
                    failed_issuers.add(issuer_id)
                else:
                    log.error("registry refused outbox messages %s for %s: %s", ids, issuer_id, exc)
                    self._fail(ids, str(exc))
        return len(messages) >= limit

    def _send(self, issuer_id: str, kind: OutboxKind, ids: list[int], payload: dict) -> None:
        account = None
        match kind:
            case OutboxKind.register_issuer:
                account = self.registry.create_issuer(issuer_id, payload["did"], payload["public_key"])
            case OutboxKind.rotate_key:
                account = self.registry.rotate_key(issuer_id, _rotation(payload))
            case OutboxKind.anchor:
                # One call per signing key: the registry holds each group until its key is on chain.
                # ``flush`` (a batch's last chunk is in it): the registry anchors them without waiting.
                flush = {"flush": True} if payload.get("flush") else {}
                for public_key, hashes in self._by_signing_key(payload["hashes"]):
                    if public_key is None:
                        self.registry.queue_anchors(issuer_id, hashes, **flush)
                    else:
                        self.registry.queue_anchors(issuer_id, hashes, public_key=public_key, **flush)
            case OutboxKind.revoke:
                self.registry.queue_revocations(issuer_id, payload["hashes"])
            case OutboxKind.status_list:
                self.registry.queue_status_list(issuer_id, payload["list_id"], payload["hash"],
                                                int(payload["version"]))
        with transaction(self.sessions) as session:
            now = utcnow()
            repo.mark_done(session, ids, now)
            if account is not None:
                issuer = issuers_repo.issuer(session, issuer_id)
                if issuer is not None:
                    record_account(issuer, account)
            if kind == OutboxKind.anchor:
                repo.mark_anchors_queued(session, payload["hashes"], now)
        log.info("delivered %s for %s (%d message(s))", kind.value, issuer_id, len(ids))

    def _by_signing_key(self, hashes: list[str]) -> list[tuple[str | None, list[str]]]:
        """The hashes grouped by the public key that signed each credential, in order of first appearance."""
        with self.sessions() as session:
            key_of = repo.signing_key_of(session, hashes)
        groups: dict[str | None, list[str]] = {}
        for h in hashes:
            groups.setdefault(key_of.get(h), []).append(h)
        return list(groups.items())

    def _retry(self, ids: list[int], error: str) -> None:
        with transaction(self.sessions) as session:
            repo.retry_later(session, ids, error, _backoff)

    def _fail(self, ids: list[int], error: str) -> None:
        with transaction(self.sessions) as session:
            repo.mark_failed(session, ids, error)

    # -- 2. registrations ---------------------------------------------------------------------
    def follow_registrations(self, every: float = 2.0) -> None:
        if time.monotonic() - self._last_registration_poll < every:
            return
        self._last_registration_poll = time.monotonic()
        with transaction(self.sessions) as session:
            waiting = issuers_repo.issuers_awaiting_registration(session)
        for issuer_id in waiting:
            account = self.registry.get_issuer(issuer_id)
            chain_id = self._chain()
            with transaction(self.sessions) as session:
                issuer = issuers_repo.issuer(session, issuer_id)
                record_account(issuer, account)
                if chain_id is not None:
                    issuer.chain_id = chain_id

    def _chain(self) -> int | None:
        if self._chain_id is None:
            chain_id = self.registry.chain().get("chainId")
            self._chain_id = int(chain_id) if chain_id is not None else None
        return self._chain_id

    # -- 3. anchors -----------------------------------------------------------------------------
    def collect_anchors(self) -> bool:
        """Per issuer, the oldest credential due, if fresh, is asked for alone first (a probe): the
        registry anchors in order, so while it is unconfirmed nothing behind it is confirmed either,
        and the pass asks one hash, not a window of 2,000. Once it is confirmed, or if it is older
        than ``STUCK_AFTER`` (a slow chain, a stuck hash: each unconfirmed one then backs off by its
        own age, and the relay rests meanwhile), the rest are asked for."""
        budget = self.settings.receipt_polls_per_pass
        with transaction(self.sessions) as session:
            issuers = repo.issuers_awaiting_anchor(session)
        busy = False
        for issuer_id in issuers:
            if budget <= 0:
                return True
            with transaction(self.sessions) as session:
                probe = repo.awaiting_anchor(session, issuer_id, utcnow(), 1)
            if not probe:
                continue
            if utcnow() - probe[0][2] < STUCK_AFTER:
                budget -= 1
                if not self._collect(issuer_id, probe) or budget <= 0:
                    continue
            with transaction(self.sessions) as session:
                waiting = repo.awaiting_anchor(session, issuer_id, utcnow(), min(budget, 2_000))
            budget -= len(waiting)
            busy = self._collect(issuer_id, waiting) or busy
        return busy

    def _collect(self, issuer_id: str, waiting: list[tuple[str, str, datetime]], window: int = 2_000) -> bool:
        """Receipts in issuance order, ``window`` at a time in one registry call each (32 single reads
        at a time from a registry without the bulk route); stop after a window with an unconfirmed one.
        True if every one asked for was confirmed.

        An unconfirmed credential is asked again at the next pass while fresh (the next probe; its
        root is most likely being cut or mined). One unconfirmed for longer than ``STUCK_AFTER``
        is asked again after a delay that grows with its age (a quarter of it, 1 s to a minute),
        so one stuck hash never holds back those behind it.
        """
        bulk = getattr(self.registry, "anchor_receipts", None)
        window = window if bulk is not None else 32
        for start in range(0, len(waiting), window):
            part = waiting[start:start + window]
            if bulk is not None:
                receipts = bulk([h for _, h, _ in part])
            else:
                receipts = list(self._receipts.map(lambda item: self.registry.anchor_receipt(item[1]), part))
            confirmed, unconfirmed = [], []
            for (cid, h, created), receipt in zip(part, receipts, strict=True):
                if receipt is None:
                    self._requeue(issuer_id, cid, h)
                elif receipt.get("state") == "confirmed" and receipt.get("root") and receipt.get("txHash"):
                    confirmed.append((cid, receipt))
                else:
                    unconfirmed.append((cid, created))
            self._attach(issuer_id, confirmed)
            if unconfirmed:
                now = utcnow()
                self._poll_later({cid: now + _poll_delay(now - created) for cid, created in unconfirmed
                                  if now - created >= STUCK_AFTER})
                return False
        return bool(waiting)

    def _attach(self, issuer_id: str, confirmed: list[tuple[str, dict]]) -> None:
        """Anchor proofs into the confirmed credentials: one read, one bulk update and one commit per
        500. Short transactions: SQLite has one write lock, and a batch runner writing its next
        chunk waits for it. Between two, what is pending is delivered: a running batch's hashes reach
        the registry while the proofs of an earlier root are attached, not after all of them."""
        anchored: list = []
        attached = 0
        for start in range(0, len(confirmed), 500):
            part = confirmed[start:start + 500]
            with transaction(self.sessions) as session:
                now = utcnow()
                rows, refs = [], {}
                current = repo.unanchored_documents(session, [cid for cid, _ in part])
                for cid, receipt in part:
                    if cid in current:
                        document, created, achievement_id, learner_id = current[cid]
                        rows.append({"id": cid, **anchored_values(document, receipt, now)})
                        anchored.append(rows[-1]["anchored_at"] - created)
                        refs[cid] = (achievement_id, learner_id)
                repo.set_anchored(session, rows)
                self._anchored_events(session, issuer_id, rows, dict(part), refs)
            attached += len(rows)
            if start + 500 < len(confirmed):
                self.deliver()  # a batch's next hashes go to the registry now, not after the whole window
        observe_anchored(anchored)  # committed: microcred_issuer_issue_to_anchor_seconds
        log.info("anchor proofs attached to %d credential(s)", attached)

    @staticmethod
    def _anchored_events(session, issuer_id: str, rows: list[dict], receipts: dict[str, dict],
                         refs: dict[str, tuple[str | None, str | None]]) -> None:
        """``credential.anchored`` for each credential just anchored (webhooks, docs/webhooks.md), in the
        transaction that attaches the proofs, from the rows the attach already read (``refs``: their
        achievement and learner); nothing parsed when no endpoint of the issuer wants it."""
        if not rows or not webhooks_repo.subscribed(session, issuer_id, events.CREDENTIAL_ANCHORED):
            return
        items = []
        for row in rows:
            cid, receipt = row["id"], receipts[row["id"]]
            items.append((cid, {"credential": events.credential_ref(cid, orjson.loads(row["document"])["id"],
                                                                    *refs[cid]),
                                 "anchor": {"anchored_at": cred.xsd_datetime(row["anchored_at"]),
                                            "chain_id": int(receipt["chainId"]), "contract": receipt["contract"],
                                            "tx_hash": receipt["txHash"], "block_number": int(receipt["blockNumber"]),
                                            "root": receipt["root"]}}))
        events.record_many(session, issuer_id, events.CREDENTIAL_ANCHORED, items)

    def _poll_later(self, when: dict[str, datetime]) -> None:
        if not when:
            return
        by_time: dict[datetime, list[str]] = {}
        for cid, at in when.items():
            by_time.setdefault(at, []).append(cid)
        with transaction(self.sessions) as session:
            for at, ids in by_time.items():
                repo.poll_later(session, ids, at)

    def _requeue(self, issuer_id: str, credential_id: str, credential_hash: str) -> None:
        """The registry has no record of a hash it accepted (its database was reset?): send it again."""
        log.warning("registry has no anchor for %s; queueing it again", credential_hash)
        with transaction(self.sessions) as session:
            c = repo.credential(session, credential_id)
            if c is not None and c.anchor_state == AnchorState.queued:
                c.anchor_state = AnchorState.pending
                repo.add_outbox(session, issuer_id, OutboxKind.anchor, {"hashes": [credential_hash]})


def _rotation(payload: dict) -> dict:
    """The rotation as the registry takes it: ``retire_at`` in whole unix seconds — for a normal
    retirement the second the issuer stopped signing with the key, for a compromise its time, as
    given (even if that is before the key's registration on chain: then nothing it signed counts).
    Rotations queued before this rule carry ``retire_at`` None for a normal one: the block time."""
    body = dict(payload)
    if "retire" in body and body.get("retire_at") is not None:
        body["retire_at"] = int(body["retire_at"])
    return body


def build_relay(settings: IssuerSettings, sessions: sessionmaker[Session] | None = None) -> Relay:
    from services.core.db import make_engine, make_sessionmaker
    from services.issuer.registry_client import HttpRegistry

    sessions = sessions or make_sessionmaker(make_engine(settings.database_url))
    registry = HttpRegistry(settings.registry_url, settings.secret("service_token"), settings.registry_timeout)
    return Relay(settings, sessions, registry)


def main() -> None:
    from services.core import logs
    from services.core.db import make_engine, make_sessionmaker
    from services.core.metrics import serve_worker_metrics
    from services.issuer.batches.runner import BatchRunner
    from services.issuer.settings import get_settings
    from services.issuer.signing import SigningPool

    settings = get_settings()
    logs.configure("issuer-outbox", settings.log_level, settings.log_format)
    serve_worker_metrics(settings, "issuer-outbox", settings.outbox_metrics_port)  # docs/operations.md
    sessions = make_sessionmaker(make_engine(settings.database_url))
    relay = build_relay(settings, sessions)
    pool = SigningPool(settings.sign_processes)
    wake = threading.Event()  # a written batch chunk wakes the relay: its hashes go to the registry at once
    runner = BatchRunner(settings, sessions, pool, on_chunk=wake.set)
    stop = threading.Event()
    wakes = [threading.Event(), threading.Event()]  # the runners' waits end at a stop too

    def on_stop(*_) -> None:
        stop.set()
        for event in wakes:
            event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_stop)
    batches = threading.Thread(target=runner.run, args=(stop, wakes[0]), name="batch-runner", daemon=True)
    batches.start()
    from services.issuer.pathways.runner import AwardRunner

    award_runner = AwardRunner(settings, sessions)
    awards = threading.Thread(target=award_runner.run, args=(stop, wakes[1]), name="award-runner", daemon=True)
    awards.start()
    from services.issuer.webhooks.deliverer import Deliverer

    deliverer = Deliverer(settings, sessions)
    webhooks = threading.Thread(target=deliverer.run, args=(stop,), name="webhook-deliverer", daemon=True)
    webhooks.start()
    log.info("issuer outbox relay %s started (registry %s)", relay.holder, settings.registry_url)
    relay.run(stop, wake)
    batches.join(timeout=30)
    awards.join(timeout=30)
    webhooks.join(timeout=30)
    award_runner.close()
    deliverer.close()
    pool.shutdown()
    relay.close()
    log.info("issuer outbox relay stopped")


if __name__ == "__main__":
    main()
