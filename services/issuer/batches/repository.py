"""Batches in the database, and the lease a runner holds on one.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from services.core.db import utcnow
from services.issuer.models import AnchorState, Batch, BatchState, Credential


def batch(session: Session, issuer_id: str, batch_id: str) -> Batch | None:
    """The batch without its recipients (a large JSON value a progress poll has no use for)."""
    return session.scalar(select(Batch).options(defer(Batch.rows))
                          .where(Batch.issuer_id == issuer_id, Batch.id == batch_id))


def claimable_batches(session: Session, now: datetime) -> list[str]:
    return list(session.scalars(
        # IN, not "!= done": the state index then reads only unfinished batches, not every one ever run.
        select(Batch.id).where(Batch.state.in_([BatchState.queued, BatchState.running]),
                               (Batch.lease_until.is_(None)) | (Batch.lease_until < now))
        .order_by(Batch.created_at)))


def claim_batch(session: Session, batch_id: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the batch's lease in one atomic UPDATE; True when ``holder`` holds it."""
    now = utcnow()
    result = session.execute(
        update(Batch).where(Batch.id == batch_id, Batch.state != BatchState.done,
                            (Batch.lease_holder == holder) | Batch.lease_until.is_(None) | (Batch.lease_until < now))
        .values(lease_holder=holder, lease_until=now + ttl))
    return result.rowcount == 1


def batch_credentials(session: Session, batch_id: str, offset: int, limit: int) -> list[tuple[int, str]]:
    return [(r, i) for r, i in session.execute(
        select(Credential.batch_row, Credential.id).where(Credential.batch_id == batch_id)
        .order_by(Credential.batch_row).offset(offset).limit(limit))]


def anchored_count(session: Session, batch_id: str) -> int:
    """How many of the batch's credentials carry their anchor proof (the batch index, then the rows)."""
    return int(session.scalar(select(func.count()).select_from(Credential).where(
        Credential.batch_id == batch_id, Credential.anchor_state == AnchorState.anchored)) or 0)
