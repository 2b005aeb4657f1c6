"""Every query the registry makes. Functions flush, never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.core import leases
from services.core.db import utcnow
from services.registry.models import (Anchor, AccountState, ChainAccount, ChainJob, ItemState, JobKind, JobState,
                                      Lease, Revocation)


# -- accounts -------------------------------------------------------------------
def account_by_issuer(session: Session, issuer_id: str) -> ChainAccount | None:
    return session.scalar(select(ChainAccount).where(ChainAccount.issuer_id == issuer_id))


def account_by_address(session: Session, address: str) -> ChainAccount | None:
    return session.scalar(select(ChainAccount).where(ChainAccount.address == address))


def active_accounts(session: Session) -> Sequence[ChainAccount]:
    return session.scalars(select(ChainAccount).where(ChainAccount.state == AccountState.active)).all()


# -- anchors ----------------------------------------------------------------------
def anchors_by_hash(session: Session, hashes: Sequence[str]) -> dict[str, Anchor]:
    found: dict[str, Anchor] = {}
    for start in range(0, len(hashes), 500):  # stay under bound-parameter limits
        chunk = hashes[start:start + 500]
        found.update({a.hash: a for a in session.scalars(select(Anchor).where(Anchor.hash.in_(chunk)))})
    return found


def insert_anchors(session: Session, account_id: int, hashes: Sequence[str]) -> None:
    now = utcnow()
    if hashes:
        session.execute(insert(Anchor), [{"hash": h, "account_id": account_id, "state": ItemState.queued,
                                          "created_at": now} for h in hashes])


def anchor_with_job(session: Session, credential_hash: str) -> tuple[Anchor, ChainJob | None, ChainAccount] | None:
    row = session.execute(
        select(Anchor, ChainJob, ChainAccount)
        .join(ChainAccount, Anchor.account_id == ChainAccount.id)
        .outerjoin(ChainJob, Anchor.job_id == ChainJob.id)
        .where(Anchor.hash == credential_hash)).first()
    return (row[0], row[1], row[2]) if row else None


def unbatched(session: Session, model: type[Anchor] | type[Revocation], account_id: int, limit: int) -> list:
    return list(session.scalars(
        select(model).where(model.account_id == account_id, model.job_id.is_(None),
                            model.state == ItemState.queued)
        .order_by(model.id).limit(limit)))


def oldest_unbatched(session: Session, model: type[Anchor] | type[Revocation], account_id: int) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(model.id), func.min(model.created_at))
        .where(model.account_id == account_id, model.job_id.is_(None), model.state == ItemState.queued)).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite returns aggregates naive
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def assign_to_job(session: Session, model: type[Anchor] | type[Revocation], rows: list[dict]) -> None:
    """Bulk update by primary key: ``rows`` are dicts with ``id`` and the new values."""
    if rows:
        session.execute(update(model), rows)


def set_items_state(session: Session, job_id: int, state: ItemState) -> None:
    for model in (Anchor, Revocation):
        session.execute(update(model).where(model.job_id == job_id).values(state=state))


def release_items(session: Session, job_id: int) -> None:
    """Put a refused job's items back in the queue, to be batched again."""
    session.execute(update(Anchor).where(Anchor.job_id == job_id)
                    .values(job_id=None, proof=None, state=ItemState.queued))
    session.execute(update(Revocation).where(Revocation.job_id == job_id)
                    .values(job_id=None, state=ItemState.queued))


# -- revocations ----------------------------------------------------------------
def existing_revocations(session: Session, account_id: int, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        chunk = hashes[start:start + 500]
        found.update(session.scalars(select(Revocation.hash).where(
            Revocation.account_id == account_id, Revocation.hash.in_(chunk))))
    return found


def insert_revocations(session: Session, account_id: int, hashes: Sequence[str]) -> None:
    now = utcnow()
    if hashes:
        session.execute(insert(Revocation), [{"hash": h, "account_id": account_id, "state": ItemState.queued,
                                              "created_at": now} for h in hashes])


def revocation_with_job(session: Session, credential_hash: str) -> list[tuple[Revocation, ChainJob | None, ChainAccount]]:
    rows = session.execute(
        select(Revocation, ChainJob, ChainAccount)
        .join(ChainAccount, Revocation.account_id == ChainAccount.id)
        .outerjoin(ChainJob, Revocation.job_id == ChainJob.id)
        .where(Revocation.hash == credential_hash)).all()
    return [(r[0], r[1], r[2]) for r in rows]


# -- jobs -------------------------------------------------------------------------
def add_job(session: Session, sender: str, kind: JobKind, payload: dict, root: str | None = None) -> ChainJob:
    job = ChainJob(sender=sender, kind=kind, payload=payload, root=root, state=JobState.pending, attempts=0,
                   created_at=utcnow())
    session.add(job)
    session.flush()
    return job


def jobs_in_flight(session: Session, sender: str, watch_from_block: int) -> Sequence[ChainJob]:
    """Jobs broadcast but not settled, and confirmed ones still inside the re-org window."""
    return session.scalars(
        select(ChainJob).where(
            ChainJob.sender == sender,
            (ChainJob.state.in_([JobState.sent, JobState.mined]))
            | ((ChainJob.state == JobState.confirmed) & (ChainJob.block_number >= watch_from_block)))
        .order_by(ChainJob.id)).all()


def pending_jobs(session: Session, sender: str) -> Sequence[ChainJob]:
    return session.scalars(select(ChainJob).where(ChainJob.sender == sender, ChainJob.state == JobState.pending)
                           .order_by(ChainJob.id)).all()


def senders_with_work(session: Session, watch_from_block: int) -> list[str]:
    busy = select(ChainJob.sender).where(
        ChainJob.state.in_([JobState.pending, JobState.sent, JobState.mined])
        | ((ChainJob.state == JobState.confirmed) & (ChainJob.block_number >= watch_from_block))).distinct()
    return list(session.scalars(busy))


def queue_stats(session: Session) -> dict:
    queued, oldest = session.execute(select(func.count(Anchor.id), func.min(Anchor.created_at))
                                     .where(Anchor.state != ItemState.confirmed)).one()
    revocations = session.scalar(select(func.count(Revocation.id)).where(Revocation.state != ItemState.confirmed))
    last = session.scalar(select(func.max(ChainJob.confirmed_at)).where(ChainJob.kind == JobKind.anchor))
    failed = session.scalar(select(func.count(ChainJob.id)).where(ChainJob.state == JobState.failed))
    return {"unconfirmed": int(queued), "oldest": oldest, "revocations": int(revocations or 0),
            "last_anchor": last, "failed_jobs": int(failed or 0)}


# -- leases -------------------------------------------------------------------------
def acquire_lease(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    return leases.acquire_lease(session, Lease, name, holder, ttl)


def release_lease(session: Session, name: str, holder: str) -> None:
    leases.release_lease(session, Lease, name, holder)
