"""Credentials in the database. Every tenant lookup takes the issuer id, so none reaches across tenants.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.issuer.models import AnchorState, Credential


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
                     achievement_id: str | None,
                     lapsing: tuple[datetime, datetime] | None = None) -> Sequence[Credential]:
    """A page in issuance order; ``lapsing=(now, until)``: only those still in force that expire by
    ``until`` (not revoked, not renewed already)."""
    query = select(Credential).where(Credential.issuer_id == issuer_id)
    if achievement_id:
        query = query.where(Credential.achievement_id == achievement_id)
    if lapsing is not None:
        now, until = lapsing
        query = query.where(Credential.valid_until > now, Credential.valid_until <= until,
                            Credential.revoked_at.is_(None), Credential.replaced_by.is_(None))
    if after is not None:
        created, cid = after
        query = query.where((Credential.created_at > created)
                            | ((Credential.created_at == created) & (Credential.id > cid)))
    return session.scalars(query.order_by(Credential.created_at, Credential.id).limit(limit)).all()


def insert_credentials(session: Session, rows: list[dict]) -> None:
    """One executemany of the table's INSERT (Core: the ORM's bulk path costs more per row than SQLite)."""
    if rows:
        session.execute(Credential.__table__.insert(), rows)


def credentials_invalidated_by_compromise(session: Session, key_id: int, until: datetime) -> int:
    """What a key compromised at ``until`` no longer validates: signed, or not anchored, before it."""
    return int(session.scalar(select(func.count(Credential.id)).where(
        Credential.signing_key_id == key_id,
        (Credential.created_at >= until) | Credential.anchored_at.is_(None) | (Credential.anchored_at >= until))) or 0)


def credential_row(*, credential_id: str, issuer_id: str, achievement_id: str | None, key_id: int, document: dict,
                   credential_hash: str, valid_from: datetime, valid_until: datetime | None, now: datetime,
                   batch_id: str | None = None, batch_row: int | None = None, learner_id: str | None = None,
                   replaces: str | None = None) -> dict:
    return dict(id=credential_id, issuer_id=issuer_id, achievement_id=achievement_id, signing_key_id=key_id,
                batch_id=batch_id, batch_row=batch_row, document=orjson.dumps(document).decode(),
                credential_hash=credential_hash, valid_from=valid_from, valid_until=valid_until,
                anchor_state=AnchorState.pending, created_at=now, learner_id=learner_id, replaces=replaces)


def mark_replaced(session: Session, issuer_id: str, credential_id: str, successor_id: str) -> bool:
    """First renewal wins, and never of a revoked credential: ``UPDATE … WHERE replaced_by IS NULL``."""
    result = session.execute(update(Credential)
                             .where(Credential.issuer_id == issuer_id, Credential.id == credential_id,
                                    Credential.replaced_by.is_(None), Credential.revoked_at.is_(None))
                             .values(replaced_by=successor_id)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1
