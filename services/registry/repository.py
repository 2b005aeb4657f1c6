"""Every query the registry makes. Functions flush, never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, bindparam, cast, func, insert, null, select, text, union_all, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.core import leases
from services.core.db import utcnow
from services.registry.models import (Anchor, AccountState, ChainAccount, ChainJob, ItemState, JobKind, JobState,
                                      Lease, Revocation, StatusListState, StatusListUpdate)


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


def insert_anchors(session: Session, account_id: int, hashes: Sequence[str], public_key: str | None = None,
                   flush: bool = False) -> None:
    now = utcnow()
    if hashes:
        session.execute(insert(Anchor), [{"hash": h, "account_id": account_id, "state": ItemState.queued,
                                          "public_key": public_key, "created_at": now, "flush": flush}
                                         for h in hashes])


def flush_anchors(session: Session, account_id: int, hashes: Sequence[str]) -> None:
    """Hashes queued earlier without ``flush`` that a later call asks to anchor at once."""
    for start in range(0, len(hashes), 500):
        session.execute(update(Anchor).where(Anchor.account_id == account_id, Anchor.hash.in_(hashes[start:start + 500]),
                                             Anchor.job_id.is_(None), Anchor.flush.is_not(True))
                        .values(flush=True).execution_options(synchronize_session=False))


def anchors_with_jobs(session: Session, hashes: Sequence[str]) -> dict[str, Row]:
    """What a receipt says of each of many hashes (500 per query), as plain columns: ``hash, state,
    proof, address`` (the account's) and the job's ``tx_hash, root, block_number, block_time``
    (None without a job). Columns, not entities: the relay asks for thousands at once."""
    found: dict[str, Row] = {}
    ordered = sorted(set(hashes))
    for start in range(0, len(ordered), 500):
        for row in session.execute(
                select(Anchor.hash, Anchor.state, Anchor.proof, ChainAccount.address, ChainJob.tx_hash,
                       ChainJob.root, ChainJob.block_number, ChainJob.block_time)
                .join(ChainAccount, Anchor.account_id == ChainAccount.id)
                .outerjoin(ChainJob, Anchor.job_id == ChainJob.id)
                .where(Anchor.hash.in_(ordered[start:start + 500]))):
            found[row.hash] = row
    return found


def anchor_with_job(session: Session, credential_hash: str) -> tuple[Anchor, ChainJob | None, ChainAccount] | None:
    row = session.execute(
        select(Anchor, ChainJob, ChainAccount)
        .join(ChainAccount, Anchor.account_id == ChainAccount.id)
        .outerjoin(ChainJob, Anchor.job_id == ChainJob.id)
        .where(Anchor.hash == credential_hash)).first()
    return (row[0], row[1], row[2]) if row else None


def _ready(model, account_id: int, keys: Collection[str] | None) -> list:
    """Queued, unbatched rows of the account; for anchors with ``keys``, only those signed by one of
    them (or by no recorded key)."""
    where = [model.account_id == account_id, model.job_id.is_(None), model.state == ItemState.queued]
    if keys is not None and model is Anchor:
        signed_by = model.public_key.is_(None)
        if keys:
            signed_by = signed_by | model.public_key.in_(sorted(keys))
        where.append(signed_by)
    return where


def unbatched(session: Session, model: type[Anchor] | type[Revocation], account_id: int, limit: int,
              keys: Collection[str] | None = None) -> list:
    """The oldest ``limit`` ready rows as (id, hash) columns, not entities: a cut reads thousands,
    and building an ORM object for each was most of a cut's time (docs/registry.md, "Measured")."""
    return list(session.execute(select(model.id, model.hash).where(*_ready(model, account_id, keys))
                                .order_by(model.id).limit(limit)))


def oldest_unbatched(session: Session, model: type[Anchor] | type[Revocation], account_id: int,
                     keys: Collection[str] | None = None) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(model.id), func.min(model.created_at)).where(*_ready(model, account_id, keys))).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite returns aggregates naive
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def flush_asked(session: Session, account_id: int, keys: Collection[str] | None = None) -> bool:
    """Whether a ready anchor was queued with ``flush`` (its batch is whole: anchor without waiting)."""
    return session.scalar(select(Anchor.id).where(*_ready(Anchor, account_id, keys), Anchor.flush.is_(True))
                          .limit(1)) is not None


def assign_to_job(session: Session, model: type[Anchor] | type[Revocation], rows: list[dict]) -> None:
    """Bulk update by primary key: ``rows`` are dicts with ``id`` and the new values."""
    if rows:
        session.execute(update(model), rows)


def waiting_anchors_by_key(session: Session, account_id: int) -> dict[str | None, int]:
    """How many queued, unbatched hashes of the account each signing key has."""
    rows = session.execute(
        select(Anchor.public_key, func.count(Anchor.id))
        .where(Anchor.account_id == account_id, Anchor.job_id.is_(None), Anchor.state == ItemState.queued)
        .group_by(Anchor.public_key)).all()
    return {key: int(count) for key, count in rows}


def set_items_state(session: Session, job_id: int, state: ItemState) -> None:
    for model in (Anchor, Revocation):
        session.execute(update(model).where(model.job_id == job_id).values(state=state))
    session.execute(update(StatusListUpdate).where(StatusListUpdate.job_id == job_id)
                    .values(state=StatusListState(state.value)))


def release_items(session: Session, job_id: int) -> None:
    """Put a refused job's items back in the queue, to be batched again."""
    session.execute(update(Anchor).where(Anchor.job_id == job_id)
                    .values(job_id=None, proof=None, state=ItemState.queued))
    session.execute(update(Revocation).where(Revocation.job_id == job_id)
                    .values(job_id=None, state=ItemState.queued))
    session.execute(update(StatusListUpdate).where(StatusListUpdate.job_id == job_id)
                    .values(job_id=None, state=StatusListState.queued))


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


# -- status lists -------------------------------------------------------------------
def status_list_version(session: Session, account_id: int, list_id: str, version: int) -> StatusListUpdate | None:
    return session.scalar(select(StatusListUpdate).where(
        StatusListUpdate.account_id == account_id, StatusListUpdate.list_id == list_id,
        StatusListUpdate.version == version))


def newest_status_list(session: Session, account_id: int, list_id: str
                       ) -> tuple[StatusListUpdate, ChainJob | None] | None:
    """The highest version known of the list, with the job carrying it (if any)."""
    row = session.execute(
        select(StatusListUpdate, ChainJob).outerjoin(ChainJob, StatusListUpdate.job_id == ChainJob.id)
        .where(StatusListUpdate.account_id == account_id, StatusListUpdate.list_id == list_id)
        .order_by(StatusListUpdate.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def highest_version(session: Session, account_id: int, list_id: str,
                    states: Collection[StatusListState] | None = None) -> int:
    query = select(func.max(StatusListUpdate.version)).where(
        StatusListUpdate.account_id == account_id, StatusListUpdate.list_id == list_id)
    if states is not None:
        query = query.where(StatusListUpdate.state.in_(list(states)))
    return int(session.scalar(query) or 0)


def insert_status_list(session: Session, account_id: int, list_id: str, version: int, list_hash: str,
                       state: StatusListState) -> StatusListUpdate:
    row = StatusListUpdate(account_id=account_id, list_id=list_id, version=version, hash=list_hash, state=state,
                           created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def queued_status_lists(session: Session, account_id: int, list_ids: Collection[str] | None = None
                        ) -> list[StatusListUpdate]:
    """Versions waiting to be carried by a job, oldest first."""
    where = [StatusListUpdate.account_id == account_id, StatusListUpdate.job_id.is_(None),
             StatusListUpdate.state == StatusListState.queued]
    if list_ids is not None:
        where.append(StatusListUpdate.list_id.in_(sorted(list_ids)))
    return list(session.scalars(select(StatusListUpdate).where(*where).order_by(StatusListUpdate.id)))


def supersede_queued_below(session: Session, account_id: int, list_id: str, version: int) -> None:
    """Versions of the list below ``version`` that no job carries yet will never be sent. One
    conditional UPDATE: a row a worker is giving to a job at this moment is left alone."""
    session.execute(update(StatusListUpdate).where(
        StatusListUpdate.account_id == account_id, StatusListUpdate.list_id == list_id,
        StatusListUpdate.version < version, StatusListUpdate.job_id.is_(None),
        StatusListUpdate.state == StatusListState.queued).values(state=StatusListState.superseded)
        .execution_options(synchronize_session=False))


def status_lists_of_job(session: Session, job_id: int) -> list[StatusListUpdate]:
    return list(session.scalars(select(StatusListUpdate).where(StatusListUpdate.job_id == job_id)
                                .order_by(StatusListUpdate.id)))


def versions_in_jobs(session: Session, account_id: int, list_ids: Collection[str],
                     except_job: int | None = None) -> dict[str, int]:
    """Per list, the highest version a job carries (failed jobs give theirs back, so: a live job),
    leaving out ``except_job``."""
    if not list_ids:
        return {}
    where = [StatusListUpdate.account_id == account_id, StatusListUpdate.list_id.in_(sorted(list_ids)),
             StatusListUpdate.job_id.is_not(None)]
    if except_job is not None:
        where.append(StatusListUpdate.job_id != except_job)
    rows = session.execute(
        select(StatusListUpdate.list_id, func.max(StatusListUpdate.version)).where(*where)
        .group_by(StatusListUpdate.list_id)).all()
    return {list_id: int(version) for list_id, version in rows}


def status_list_job_unsent(session: Session, sender: str) -> bool:
    """Whether a status-list job of the account is waiting to be sent or to be mined."""
    return session.scalar(select(func.count(ChainJob.id)).where(
        ChainJob.sender == sender, ChainJob.kind == JobKind.status_list,
        ChainJob.state.in_([JobState.pending, JobState.sent]))) > 0


def status_list_stats(session: Session) -> tuple[int, datetime | None]:
    """How many status-list versions wait to be confirmed on chain (superseded ones never will), and
    since when the oldest waits."""
    count, oldest = session.execute(
        select(func.count(StatusListUpdate.id), func.min(StatusListUpdate.created_at))
        .where(StatusListUpdate.state.in_([StatusListState.queued, StatusListState.submitted]))).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count or 0), oldest


# -- jobs -------------------------------------------------------------------------
KEY_JOBS = (JobKind.register_issuer, JobKind.add_key, JobKind.retire_key)


def add_job(session: Session, sender: str, kind: JobKind, payload: dict, root: str | None = None,
            subject: str | None = None) -> ChainJob:
    job = ChainJob(sender=sender, kind=kind, payload=payload, root=root, state=JobState.pending, attempts=0,
                   subject=subject, created_at=utcnow())
    session.add(job)
    session.flush()
    return job


def jobs_in_flight(session: Session, sender: str, watch_from_block: int | None) -> Sequence[ChainJob]:
    """Jobs broadcast but not settled, and confirmed ones still inside the re-org window. With
    ``watch_from_block`` None (the chain has not moved), only those broadcast and not yet mined."""
    if watch_from_block is None:
        where = ChainJob.state == JobState.sent
    else:
        where = (ChainJob.state.in_([JobState.sent, JobState.mined])
                 | ((ChainJob.state == JobState.confirmed) & (ChainJob.block_number >= watch_from_block)))
    return session.scalars(select(ChainJob).where(ChainJob.sender == sender, where).order_by(ChainJob.id)).all()


def pending_jobs(session: Session, sender: str) -> Sequence[ChainJob]:
    return session.scalars(select(ChainJob).where(ChainJob.sender == sender, ChainJob.state == JobState.pending)
                           .order_by(ChainJob.id)).all()


def key_jobs(session: Session, account: str) -> Sequence[ChainJob]:
    """The account's registerIssuer / addKey / retireKey jobs, oldest first."""
    return session.scalars(select(ChainJob).where(ChainJob.subject == account, ChainJob.kind.in_(KEY_JOBS))
                           .order_by(ChainJob.id)).all()


def confirmed_keys(session: Session, account: str) -> set[str]:
    """The account's keys whose registerIssuer or addKey is confirmed on chain."""
    return {j.payload["publicKey"] for j in session.scalars(
        select(ChainJob).where(ChainJob.subject == account, ChainJob.state == JobState.confirmed,
                               ChainJob.kind.in_([JobKind.register_issuer, JobKind.add_key])))}


def failed_jobs(session: Session, limit: int, unacknowledged_only: bool = False) -> Sequence[ChainJob]:
    query = select(ChainJob).where(ChainJob.state == JobState.failed)
    if unacknowledged_only:
        query = query.where(ChainJob.acknowledged_at.is_(None))
    return session.scalars(query.order_by(ChainJob.failed_at.desc(), ChainJob.id.desc()).limit(limit)).all()


def accounts_by_address(session: Session, addresses: Collection[str]) -> dict[str, ChainAccount]:
    if not addresses:
        return {}
    return {a.address: a for a in session.scalars(select(ChainAccount).where(ChainAccount.address.in_(sorted(addresses))))}


def _due_work_query(watch: bool):
    no_account = cast(null(), Integer).label("account_id")
    parts = [select(ChainJob.sender.label("address"), no_account)
             .where(ChainJob.state.in_([JobState.pending, JobState.sent]))]
    if watch:  # what only a new head block can change
        parts += [select(ChainJob.sender, no_account).where(ChainJob.state == JobState.mined),
                  select(ChainJob.sender, no_account)
                  .where(ChainJob.state == JobState.confirmed, ChainJob.block_number >= bindparam("watch_from"))]
    queued = union_all(*(select(m.account_id).where(m.state == ItemState.queued, m.job_id.is_(None))
                         for m in (Anchor, Revocation)),
                       select(StatusListUpdate.account_id).where(StatusListUpdate.state == StatusListState.queued,
                                                                 StatusListUpdate.job_id.is_(None)))
    parts.append(select(ChainAccount.address, ChainAccount.id).where(
        ChainAccount.state == AccountState.active, ChainAccount.id.in_(queued.scalar_subquery())))
    return union_all(*parts)


# Built once: an idle pass runs one of these and nothing else, so it must not rebuild it each time.
_DUE_WORK = {False: _due_work_query(False), True: _due_work_query(True)}


def due_work(session: Session, watch_from_block: int | None) -> dict[str, int | None]:
    """Every sender with something to do, in one query: ``{address: account id}``.

    A sender is due when it has a job to send or broadcast and not yet mined, a mined job or a
    confirmed one inside the re-org window (from ``watch_from_block``; None when the chain has
    not moved since the last look: then nothing there can have changed), or, for an active
    issuer account, queued anchors, revocations or status-list versions that no job carries yet.
    The account id is set for an active issuer account with queued items (batches may be cut),
    None otherwise. Each part reads an index that leads with ``state``: the cost is the work
    waiting, not the number of issuers or of rows already settled.
    """
    watch = watch_from_block is not None
    rows = session.execute(_DUE_WORK[watch], {"watch_from": watch_from_block} if watch else {})
    due: dict[str, int | None] = {}
    for address, account_id in rows:
        due[address] = due.get(address) or account_id
    return due


# The channel the API signals on PostgreSQL when it queues work; the worker LISTENs on it.
WORK_CHANNEL = "microcred_registry_work"


def notify_work(session: Session) -> None:
    """Wake the worker (PostgreSQL: NOTIFY, delivered when this transaction commits; elsewhere a
    no-op, the worker's short idle poll finds the work). A lost wake-up costs latency, never work."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {WORK_CHANNEL}"))


def queue_stats(session: Session) -> dict:
    queued, oldest = session.execute(select(func.count(Anchor.id), func.min(Anchor.created_at))
                                     .where(Anchor.state != ItemState.confirmed)).one()
    revocations = session.scalar(select(func.count(Revocation.id)).where(Revocation.state != ItemState.confirmed))
    last = session.scalar(select(func.max(ChainJob.confirmed_at)).where(ChainJob.kind == JobKind.anchor))
    failed = session.scalar(select(func.count(ChainJob.id)).where(ChainJob.state == JobState.failed))
    unacknowledged = session.scalar(select(func.count(ChainJob.id)).where(ChainJob.state == JobState.failed,
                                                                           ChainJob.acknowledged_at.is_(None)))
    return {"unconfirmed": int(queued), "oldest": oldest, "revocations": int(revocations or 0),
            "last_anchor": last, "failed_jobs": int(failed or 0), "unacknowledged": int(unacknowledged or 0)}


def queued_by_account_and_key(session: Session) -> list[tuple[int, str, int, datetime | None]]:
    """(account id, signing key, count, oldest) of queued, unbatched hashes that name their key."""
    rows = session.execute(
        select(Anchor.account_id, Anchor.public_key, func.count(Anchor.id), func.min(Anchor.created_at))
        .where(Anchor.job_id.is_(None), Anchor.state == ItemState.queued, Anchor.public_key.is_not(None))
        .group_by(Anchor.account_id, Anchor.public_key)).all()
    out = []
    for account_id, key, count, oldest in rows:
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        out.append((int(account_id), key, int(count), oldest))
    return out


# -- leases -------------------------------------------------------------------------
def acquire_lease(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    return leases.acquire_lease(session, Lease, name, holder, ttl)


def release_lease(session: Session, name: str, holder: str) -> None:
    leases.release_lease(session, Lease, name, holder)
