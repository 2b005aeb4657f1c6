"""The batch runner: issues a bulk request's good rows in chunks, each chunk one transaction.

A runner claims a batch with a lease (so any number of processes may run one; only one
works a batch at a time), then loops: build the next chunks' documents, sign them in the
process pool (three chunks at a time) while the one before them is written, and commit each
chunk together with its outbox message, the batch's progress (``next_index``) and the status-list
indices of the next chunk to sign, in a few set-based statements. A crash loses at most the
chunks in hand, and the next runner resumes at ``next_index``: no row is issued twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import transaction, utcnow
from services.issuer import statuslists, statuslists_repository
from services.issuer.achievements import repository as achievements_repo
from services.issuer.anchoring import repository as outbox
from services.issuer.batches import repository as repo
from services.issuer.credentials import builder, document as cred, repository as credentials_repo
from services.issuer.credentials import service as credentials
from services.issuer.issuers import repository as issuers_repo
from services.issuer.learners import service as learners
from services.core.wakeup import idle_wait, on_commit
from services.issuer.models import Batch, BatchState, KeyState, OutboxKind
from services.issuer.pathways import awards
from services.issuer.settings import IssuerSettings
from services.issuer.signing import SigningPool
from services.issuer.webhooks import events

log = logging.getLogger("microcred.issuer.batches")

LEASE_TTL = timedelta(seconds=60)
PIPELINE_DEPTH = 3  # chunks being signed while one is written


class _KeyChanged(Exception):
    """The signing key was rotated mid-batch: stop, and resume with the new one."""


class BatchRunner:
    def __init__(self, settings: IssuerSettings, sessions: sessionmaker[Session], pool: SigningPool,
                 holder: str | None = None, on_chunk: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.pool = pool
        # Called after each chunk commits (the relay's wake-up: its hashes go to the registry at once).
        self.on_chunk = on_chunk
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run(self, stop: threading.Event, wake: threading.Event | None = None, interval: float = 1.0) -> None:
        """Pass after pass until ``stop``; after passes with nothing to do the wait doubles from
        ``interval`` up to ``runner_idle_interval``. The API sets ``wake`` when it starts a batch."""
        delay = interval
        wake = wake or threading.Event()
        on_commit(self.settings.database_url, wake)  # a commit by another process wakes it too
        while not stop.is_set():
            try:
                worked = self.tick(stop)
            except Exception:  # keep the runner alive; the batch stays claimable
                log.exception("batch runner pass failed")
                worked = False
            if worked:
                delay = interval
                continue
            delay = idle_wait(stop, wake, delay, interval, self.settings.runner_idle_interval)

    def tick(self, stop: threading.Event | None = None) -> bool:
        with transaction(self.sessions) as session:
            ids = repo.claimable_batches(session, utcnow())
        worked = False
        for batch_id in ids:
            if stop is not None and stop.is_set():
                break
            worked = self.process(batch_id, stop) or worked
        return worked

    def process(self, batch_id: str, stop: threading.Event | None = None) -> bool:
        with transaction(self.sessions) as session:
            if not repo.claim_batch(session, batch_id, self.holder, LEASE_TTL):
                return False
            batch = session.get(Batch, batch_id)
            issuer = issuers_repo.issuer(session, batch.issuer_id)
            achievement = achievements_repo.achievement(session, batch.issuer_id, batch.achievement_id)
            key = issuers_repo.active_signing_key(session, batch.issuer_id)
            if batch.state == BatchState.queued:
                batch.state, batch.started_at = BatchState.running, utcnow()
            rows: list[dict] = list(batch.rows or [])
            start = batch.next_index
            options = dict(batch.options or {})
            context = credentials.signer(self.settings, issuer, key)
            template = builder.template(self.settings, issuer, achievement)
            learner_secret = learners.secret(session, self.settings, issuer)
            validity_days = template.validity_days
            issuer_id, achievement_id = issuer.id, achievement.id
        fixed_from = datetime.fromisoformat(options["valid_from"]) if options.get("valid_from") else None
        chunk = self.settings.batch_chunk
        log.info("batch %s: rows %d..%d of %d", batch_id, start, len(rows), len(rows))

        def reserve(session: Session, begin: int):
            """The next chunk's status-list indices, in the caller's transaction: reserved (committed)
            before its documents are signed; those of rows that end up not issued are given back
            when the chunk is written."""
            cids = [cred.new_credential_id() for _ in rows[begin:begin + chunk]]
            return begin, cids, statuslists.allocate(session, self.settings, issuer, cids)

        def launch(reserved):
            """Build the reserved chunk's documents and hand them to the signing pool."""
            begin, cids, status = reserved
            now = utcnow()
            valid_from = fixed_from or now
            valid_until = cred.valid_until_for(valid_from, validity_days)
            items = []
            for row, cid in zip(rows[begin:begin + chunk], cids, strict=True):
                doc = builder.build(self.settings, template, credential_id=cid,
                                    subject=builder.recipient_subject(row["name"], row["email"], did=row.get("did")),
                                    valid_from=valid_from, valid_until=valid_until, status=status[cid],
                                    evidence=row.get("evidence"))
                items.append((row["row"], cid, doc, (row["email"], row.get("did"))))
            futures = self.pool.submit(context.seed, context.verification_method, cred.xsd_datetime(now),
                                       [item[2] for item in items])
            return begin, now, valid_from, valid_until, items, futures

        # PIPELINE_DEPTH chunks in the pool while this thread writes the one before them: the signing
        # processes then never wait for the database. The first ones' indices are reserved in one
        # transaction; after that each chunk's write reserves those of the next chunk to launch (one
        # commit per chunk). Indices of chunks never written are lost if the runner stops for good.
        in_flight: deque = deque()
        cursor = start

        def more() -> bool:
            return cursor < len(rows) and not (stop and stop.is_set())

        with transaction(self.sessions) as session:
            first = []
            while len(first) < PIPELINE_DEPTH and more():
                first.append(reserve(session, cursor))
                cursor += len(first[-1][1])
        in_flight.extend(launch(reserved) for reserved in first)
        try:
            while in_flight:
                begin, now, valid_from, valid_until, items, futures = in_flight.popleft()
                end = begin + len(items)
                outcomes = self.pool.gather(futures)
                following = None
                if more():
                    following = cursor
                    cursor += len(rows[cursor:cursor + chunk])
                reserved = self._write(batch_id, issuer_id, achievement_id, context.key_id, learner_secret, items,
                                       outcomes, now, valid_from, valid_until, end, done=end >= len(rows),
                                       reserve=None if following is None else lambda s, b=following: reserve(s, b))
                if reserved is not None:
                    in_flight.append(launch(reserved))
                if self.on_chunk is not None:
                    self.on_chunk()
                if stop is not None and stop.is_set():
                    break
        except _KeyChanged:
            log.info("batch %s: signing key rotated; resuming with the new key", batch_id)
            for chunk_in_flight in in_flight:
                self.pool.gather(chunk_in_flight[5])
            return True
        return True

    def _write(self, batch_id: str, issuer_id: str, achievement_id: str, key_id: int, learner_secret: bytes, items,
               outcomes, now: datetime, valid_from: datetime, valid_until: datetime | None, end: int,
               done: bool, reserve: Callable[[Session], object] | None = None):
        """Commit the chunk (and, with ``reserve``, the next chunk's status-list indices); what
        ``reserve`` returned."""
        with transaction(self.sessions) as session:
            if not repo.claim_batch(session, batch_id, self.holder, LEASE_TTL):
                raise RuntimeError(f"lost the lease on batch {batch_id}")
            key = issuers_repo.signing_key(session, key_id)
            if key is None or key.state != KeyState.active:
                raise _KeyChanged()
            rows, errors, not_issued = [], [], []
            signed = []
            for (row_index, cid, _, recipient), outcome in zip(items, outcomes, strict=True):
                if outcome.error:
                    errors.append({"row": row_index, "reason": outcome.error})
                    not_issued.append(cid)
                    continue
                signed.append((row_index, cid, recipient, outcome))
            # Each issued row's learner, found or created in bulk in this chunk's transaction.
            learner_ids = learners.link_many(session, issuer_id, learner_secret, [r for _, _, r, _ in signed])
            for (row_index, cid, _, outcome), learner_id in zip(signed, learner_ids, strict=True):
                rows.append(credentials_repo.credential_row(
                    credential_id=cid, issuer_id=issuer_id, achievement_id=achievement_id, key_id=key_id,
                    document=outcome.document, credential_hash=outcome.credential_hash, valid_from=valid_from,
                    valid_until=valid_until, now=now, batch_id=batch_id, batch_row=row_index, learner_id=learner_id))
            credentials_repo.insert_credentials(session, rows)
            events.issued(session, issuer_id, rows)  # webhooks, in this chunk's transaction
            # Pathway components: their learners' award jobs, in this chunk's transaction.
            awards.queue(session, issuer_id, [(r.get("learner_id"), achievement_id) for r in rows], now)
            statuslists_repository.delete_status_entries(session, not_issued)
            if rows:
                # The last chunk asks the registry to anchor at once (``flush``): the batch is whole,
                # nothing more of it will come to wait for.
                outbox.add_outbox(session, issuer_id, OutboxKind.anchor,
                                  {"hashes": [r["credential_hash"] for r in rows], **({"flush": True} if done else {})})
            # Progress in one UPDATE: the batch row's recipients (a large JSON value) are not read back.
            values: dict = {"next_index": end, "processed": Batch.processed + len(items),
                            "issued": Batch.issued + len(rows), "failed": Batch.failed + len(errors)}
            if errors:
                stored = session.scalar(select(Batch.errors).where(Batch.id == batch_id))
                values["errors"] = [*(stored or []), *errors]
            if done:
                values.update(state=BatchState.done, finished_at=datetime.now(UTC),
                              rows=None,  # the only copy of plain email addresses goes with it
                              lease_holder=None, lease_until=None)
            session.execute(update(Batch).where(Batch.id == batch_id).values(**values)
                            .execution_options(synchronize_session=False))
            return reserve(session) if reserve is not None else None
