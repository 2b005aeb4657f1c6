"""Every query the issuer makes. Functions flush, never commit: the caller owns the transaction.

Every lookup of a tenant's data takes the issuer id, so no query can reach across tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core import leases
from services.core.db import utcnow
from services.issuer.models import (Achievement, AnchorState, ApiKey, Batch, BatchState, Credential,
                                    IdempotencyRecord, Image, Issuer, KeyState, Lease, OutboxKind, OutboxMessage,
                                    OutboxState, SigningKey, StatusEntry, StatusList, StatusListVersion)


# -- issuers and keys ------------------------------------------------------------------
def issuer(session: Session, issuer_id: str) -> Issuer | None:
    return session.get(Issuer, issuer_id)


def issuer_by_slug(session: Session, slug: str) -> Issuer | None:
    return session.scalar(select(Issuer).where(Issuer.slug == slug))


def active_signing_key(session: Session, issuer_id: str) -> SigningKey | None:
    return session.scalar(select(SigningKey).where(SigningKey.issuer_id == issuer_id,
                                                   SigningKey.state == KeyState.active)
                          .order_by(SigningKey.id.desc()).limit(1))


def signing_keys(session: Session, issuer_id: str) -> Sequence[SigningKey]:
    return session.scalars(select(SigningKey).where(SigningKey.issuer_id == issuer_id).order_by(SigningKey.id)).all()


def signing_key(session: Session, key_id: int) -> SigningKey | None:
    return session.get(SigningKey, key_id)


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


def api_keys(session: Session, issuer_id: str) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.issuer_id == issuer_id).order_by(ApiKey.created_at)).all()


def api_key(session: Session, issuer_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.issuer_id == issuer_id, ApiKey.id == key_id))


def touch_api_key(session: Session, key_id: str, when: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


def revoke_api_key(session: Session, issuer_id: str, key_id: str, when: datetime) -> bool:
    """First revocation wins: ``UPDATE … WHERE revoked_at IS NULL``; True if this call revoked it."""
    result = session.execute(update(ApiKey)
                             .where(ApiKey.issuer_id == issuer_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                             .values(revoked_at=when)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


# -- images and achievements ----------------------------------------------------------------
def image(session: Session, issuer_id: str, sha256: str) -> Image | None:
    return session.scalar(select(Image).where(Image.issuer_id == issuer_id, Image.sha256 == sha256))


def public_image(session: Session, sha256: str) -> Image | None:
    return session.scalar(select(Image).where(Image.sha256 == sha256).limit(1))


def achievement(session: Session, issuer_id: str, achievement_id: str) -> Achievement | None:
    return session.scalar(select(Achievement).where(Achievement.issuer_id == issuer_id,
                                                    Achievement.id == achievement_id))


def public_achievement(session: Session, achievement_id: str) -> Achievement | None:
    return session.get(Achievement, achievement_id)


def achievements(session: Session, issuer_id: str) -> Sequence[Achievement]:
    return session.scalars(select(Achievement).where(Achievement.issuer_id == issuer_id)
                           .order_by(Achievement.created_at, Achievement.id)).all()


# -- credentials --------------------------------------------------------------------------------
def credential(session: Session, issuer_id: str, credential_id: str) -> Credential | None:
    return session.scalar(select(Credential).where(Credential.issuer_id == issuer_id, Credential.id == credential_id))


def public_credential(session: Session, credential_id: str) -> Credential | None:
    return session.get(Credential, credential_id)


def revoke_credential(session: Session, issuer_id: str, credential_id: str, when: datetime, reason: str) -> bool:
    """First revocation wins: one conditional ``UPDATE … WHERE revoked_at IS NULL``.

    True if this call revoked it. A concurrent second call waits for the first one's row
    lock (PostgreSQL) or write lock (SQLite), then matches no row. The caller re-reads the
    row (``session.refresh``) to answer with the stored time and reason.
    """
    result = session.execute(update(Credential)
                             .where(Credential.issuer_id == issuer_id, Credential.id == credential_id,
                                    Credential.revoked_at.is_(None))
                             .values(revoked_at=when, revocation_reason=reason)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def suspend_credential(session: Session, issuer_id: str, credential_id: str, when: datetime, reason: str) -> bool:
    """First suspension wins, and never of a revoked credential: one conditional ``UPDATE``.

    ``… WHERE suspended_at IS NULL AND revoked_at IS NULL``; True if this call suspended it.
    """
    result = session.execute(update(Credential)
                             .where(Credential.issuer_id == issuer_id, Credential.id == credential_id,
                                    Credential.suspended_at.is_(None), Credential.revoked_at.is_(None))
                             .values(suspended_at=when, suspension_reason=reason)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def unsuspend_credential(session: Session, issuer_id: str, credential_id: str) -> bool:
    """Lift a suspension: ``UPDATE … WHERE suspended_at IS NOT NULL``; True if this call lifted it."""
    result = session.execute(update(Credential)
                             .where(Credential.issuer_id == issuer_id, Credential.id == credential_id,
                                    Credential.suspended_at.is_not(None))
                             .values(suspended_at=None, suspension_reason=None)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def credentials_page(session: Session, issuer_id: str, limit: int, after: tuple[datetime, str] | None,
                     achievement_id: str | None) -> Sequence[Credential]:
    query = select(Credential).where(Credential.issuer_id == issuer_id)
    if achievement_id:
        query = query.where(Credential.achievement_id == achievement_id)
    if after is not None:
        created, cid = after
        query = query.where((Credential.created_at > created)
                            | ((Credential.created_at == created) & (Credential.id > cid)))
    return session.scalars(query.order_by(Credential.created_at, Credential.id).limit(limit)).all()


def insert_credentials(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Credential), rows)


def batch_credentials(session: Session, batch_id: str, offset: int, limit: int) -> list[tuple[int, str]]:
    return [(r, i) for r, i in session.execute(
        select(Credential.batch_row, Credential.id).where(Credential.batch_id == batch_id)
        .order_by(Credential.batch_row).offset(offset).limit(limit))]


def credentials_invalidated_by_compromise(session: Session, key_id: int, until: datetime) -> int:
    """What a key compromised at ``until`` no longer validates: signed, or not anchored, before it."""
    return int(session.scalar(select(func.count(Credential.id)).where(
        Credential.signing_key_id == key_id,
        (Credential.created_at >= until) | Credential.anchored_at.is_(None) | (Credential.anchored_at >= until))) or 0)


def retire_signing_key(session: Session, key_id: int, *, retired_at: datetime, valid_until: datetime,
                       compromised: bool) -> bool:
    """Retire the key if it is still active; False if a concurrent rotation retired it first."""
    result = session.execute(
        update(SigningKey).where(SigningKey.id == key_id, SigningKey.state == KeyState.active)
        .values(state=KeyState.retired, retired_at=retired_at, valid_until=valid_until, compromised=compromised)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def awaiting_anchor(session: Session, issuer_id: str, now: datetime, limit: int) -> Sequence[Credential]:
    """Credentials the registry holds whose anchor is not attached yet, oldest first."""
    return session.scalars(
        select(Credential).where(Credential.issuer_id == issuer_id, Credential.anchor_state == AnchorState.queued,
                                 (Credential.anchor_next_poll_at.is_(None)) | (Credential.anchor_next_poll_at <= now))
        .order_by(Credential.created_at, Credential.id).limit(limit)).all()


def issuers_awaiting_anchor(session: Session) -> list[str]:
    return list(session.scalars(select(Credential.issuer_id)
                                .where(Credential.anchor_state == AnchorState.queued).distinct()))


def set_anchor_state(session: Session, hashes: Sequence[str], state: AnchorState) -> None:
    for start in range(0, len(hashes), 500):
        session.execute(update(Credential).where(Credential.credential_hash.in_(hashes[start:start + 500]))
                        .values(anchor_state=state))


# -- status lists --------------------------------------------------------------------------------
def newest_status_list(session: Session, issuer_id: str, purpose: str) -> StatusList | None:
    return session.scalar(select(StatusList).where(StatusList.issuer_id == issuer_id, StatusList.purpose == purpose)
                          .order_by(StatusList.number.desc()).limit(1))


def open_status_lists(session: Session, issuer_id: str) -> list[StatusList]:
    """The issuer's lists that still hand out indices, newest first (normally one per purpose)."""
    return list(session.scalars(select(StatusList).where(StatusList.issuer_id == issuer_id,
                                                         StatusList.full.is_(False))
                                .order_by(StatusList.number.desc())))


def add_status_list(session: Session, row: StatusList) -> bool:
    """Insert a new list; False when a concurrent transaction created that number first."""
    try:
        with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


def mark_status_list_full(session: Session, status_list: StatusList) -> None:
    status_list.full = True
    session.flush()


def taken_indices(session: Session, status_list_id: int, candidates: Sequence[int]) -> set[int]:
    """Which of ``candidates`` the list has already given out."""
    taken: set[int] = set()
    ordered = sorted(candidates)
    for start in range(0, len(ordered), 1000):
        taken.update(session.scalars(select(StatusEntry.index).where(
            StatusEntry.status_list_id == status_list_id, StatusEntry.index.in_(ordered[start:start + 1000]))))
    return taken


def all_taken_indices(session: Session, status_list_id: int) -> set[int]:
    return set(session.scalars(select(StatusEntry.index).where(StatusEntry.status_list_id == status_list_id)))


def insert_status_entries(session: Session, status_list_id: int, rows: Sequence[tuple[str, int]]) -> None:
    """``(credential_id, index)`` rows, inserted in index order (so two writers never wait on each other
    in opposite orders). Raises IntegrityError if an index is taken; run it in a savepoint."""
    insert_status_entry_rows(session, [(status_list_id, index, cid) for cid, index in rows])


def insert_status_entry_rows(session: Session, rows: Sequence[tuple[int, int, str]]) -> None:
    """``(status_list_id, index, credential_id)`` rows, in (list, index) order; IntegrityError if one is taken."""
    if rows:
        session.execute(StatusEntry.__table__.insert(), [
            {"status_list_id": list_id, "index": index, "credential_id": cid, "is_set": False}
            for list_id, index, cid in sorted(rows, key=lambda r: (r[0], r[1]))])


def status_entries_of(session: Session, credential_id: str) -> list[tuple[StatusEntry, StatusList]]:
    """The credential's entries with their lists (none for a credential issued before status lists)."""
    return [(entry, status_list) for entry, status_list in session.execute(
        select(StatusEntry, StatusList).join(StatusList, StatusList.id == StatusEntry.status_list_id)
        .where(StatusEntry.credential_id == credential_id))]


def set_status_bit(session: Session, entry_id: int, status_list_id: int, on: bool) -> bool:
    """Set or clear one entry's bit and count the change on its list (same transaction); True if it changed."""
    result = session.execute(update(StatusEntry).where(StatusEntry.id == entry_id, StatusEntry.is_set != on)
                             .values(is_set=on).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    count_status_list_change(session, status_list_id)
    return True


def count_status_list_change(session: Session, status_list_id: int) -> None:
    session.execute(update(StatusList).where(StatusList.id == status_list_id)
                    .values(changes=StatusList.changes + 1).execution_options(synchronize_session=False))


def count_issuer_status_list_changes(session: Session, issuer_id: str) -> None:
    """Every list of the issuer is to be signed again (e.g. by a new key)."""
    session.execute(update(StatusList).where(StatusList.issuer_id == issuer_id)
                    .values(changes=StatusList.changes + 1).execution_options(synchronize_session=False))


def delete_status_entries(session: Session, credential_ids: Sequence[str]) -> None:
    """Give back the indices reserved for credentials that were not issued after all."""
    for start in range(0, len(credential_ids), 500):
        session.execute(StatusEntry.__table__.delete().where(
            StatusEntry.credential_id.in_(credential_ids[start:start + 500])))


def status_lists_due(session: Session, published_before: datetime, limit: int) -> list[int]:
    """Lists with unpublished changes whose last version is older than ``published_before`` (or none yet)."""
    return list(session.scalars(
        select(StatusList.id).where(StatusList.changes > StatusList.published_changes,
                                    StatusList.published_at.is_(None) | (StatusList.published_at <= published_before))
        .order_by(StatusList.id).limit(limit)))


def set_indices(session: Session, status_list_id: int) -> list[int]:
    return list(session.scalars(select(StatusEntry.index).where(StatusEntry.status_list_id == status_list_id,
                                                                StatusEntry.is_set.is_(True))))


def record_status_list_version(session: Session, status_list: StatusList, version: StatusListVersion,
                               changes: int) -> bool:
    """Store ``version`` as the list's newest, if no other publisher got there first; True if stored."""
    result = session.execute(
        update(StatusList).where(StatusList.id == status_list.id, StatusList.version == version.version - 1)
        .values(version=version.version, published_changes=changes, published_at=version.created_at)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    session.add(version)
    session.flush()
    return True


def status_list_by_path(session: Session, slug: str, purpose: str, number: int) -> StatusList | None:
    return session.scalar(select(StatusList).join(Issuer, Issuer.id == StatusList.issuer_id)
                          .where(Issuer.slug == slug, StatusList.purpose == purpose, StatusList.number == number))


def newest_status_list_version(session: Session, status_list_id: int) -> StatusListVersion | None:
    return session.scalar(select(StatusListVersion).where(StatusListVersion.status_list_id == status_list_id)
                          .order_by(StatusListVersion.version.desc()).limit(1))


def status_list_version_by_hash(session: Session, status_list_id: int, list_hash: str) -> StatusListVersion | None:
    return session.scalar(select(StatusListVersion).where(StatusListVersion.status_list_id == status_list_id,
                                                          StatusListVersion.hash == list_hash)
                          .order_by(StatusListVersion.version.desc()).limit(1))


def status_list_versions(session: Session, status_list_id: int) -> Sequence[StatusListVersion]:
    return session.scalars(select(StatusListVersion).where(StatusListVersion.status_list_id == status_list_id)
                           .order_by(StatusListVersion.version)).all()


# -- idempotency ----------------------------------------------------------------------------------
def idempotency_record(session: Session, issuer_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.issuer_id == issuer_id,
                                                          IdempotencyRecord.key == key))


def add_idempotency_record(session: Session, issuer_id: str, key: str, request_hash: str, kind: str,
                           resource_id: str) -> bool:
    """False when a concurrent request took the key first."""
    try:
        with session.begin_nested():
            session.add(IdempotencyRecord(issuer_id=issuer_id, key=key, request_hash=request_hash,
                                          resource_kind=kind, resource_id=resource_id, created_at=utcnow()))
        return True
    except IntegrityError:
        return False


# -- batches ----------------------------------------------------------------------------------------
def batch(session: Session, issuer_id: str, batch_id: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.issuer_id == issuer_id, Batch.id == batch_id))


def claimable_batches(session: Session, now: datetime) -> list[str]:
    return list(session.scalars(
        select(Batch.id).where(Batch.state != BatchState.done,
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


# -- outbox -----------------------------------------------------------------------------------------
def add_outbox(session: Session, issuer_id: str, kind: OutboxKind, payload: dict) -> OutboxMessage:
    message = OutboxMessage(issuer_id=issuer_id, kind=kind, payload=payload, state=OutboxState.pending,
                            attempts=0, next_attempt_at=utcnow(), created_at=utcnow())
    session.add(message)
    session.flush()
    return message


def pending_outbox(session: Session, limit: int) -> Sequence[OutboxMessage]:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.state == OutboxState.pending)
                           .order_by(OutboxMessage.id).limit(limit)).all()


def outbox_backlog(session: Session) -> int:
    return int(session.scalar(select(func.count(OutboxMessage.id))
                              .where(OutboxMessage.state == OutboxState.pending)) or 0)


# -- leases -------------------------------------------------------------------------------------------
def acquire_lease(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    return leases.acquire_lease(session, Lease, name, holder, ttl)


def release_lease(session: Session, name: str, holder: str) -> None:
    leases.release_lease(session, Lease, name, holder)
