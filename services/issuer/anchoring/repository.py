"""The outbox (what the registry must hear) and the anchor state of credentials, in the database.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from services.core import leases, wakeup
from services.core.db import utcnow
from services.issuer.models import (AnchorState, Credential, Issuer, Lease, OutboxKind, OutboxMessage, OutboxState,
                                    RegistryState, SigningKey, StatusList)


# The relay LISTENs on this on PostgreSQL (services/core/wakeup.py); a SQLite commit wakes it anyway.
OUTBOX_CHANNEL = "microcred_issuer_outbox"


def add_outbox(session: Session, issuer_id: str, kind: OutboxKind, payload: dict) -> OutboxMessage:
    message = OutboxMessage(issuer_id=issuer_id, kind=kind, payload=payload, state=OutboxState.pending,
                            attempts=0, next_attempt_at=utcnow(), created_at=utcnow())
    session.add(message)
    session.flush()
    wakeup.notify(session, OUTBOX_CHANNEL)
    return message


def queue_outbox(session: Session, issuer_id: str, kind: OutboxKind, payload: dict) -> None:
    """:func:`add_outbox` as one Core INSERT, for callers that need no row back (every issuance)."""
    now = utcnow()
    session.execute(OutboxMessage.__table__.insert(), [{
        "issuer_id": issuer_id, "kind": kind, "payload": payload, "state": OutboxState.pending, "attempts": 0,
        "next_attempt_at": now, "created_at": now}])
    wakeup.notify(session, OUTBOX_CHANNEL)


def pending_outbox(session: Session, limit: int) -> Sequence[OutboxMessage]:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.state == OutboxState.pending)
                           .order_by(OutboxMessage.id).limit(limit)).all()


def awaiting_anchor(session: Session, issuer_id: str, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
    """(id, hash, created_at) of credentials the registry holds whose anchor is not attached yet, oldest first."""
    return [tuple(row) for row in session.execute(
        select(Credential.id, Credential.credential_hash, Credential.created_at)
        .where(Credential.issuer_id == issuer_id, Credential.anchor_state == AnchorState.queued,
               (Credential.anchor_next_poll_at.is_(None)) | (Credential.anchor_next_poll_at <= now))
        .order_by(Credential.created_at, Credential.id).limit(limit))]


def issuers_awaiting_anchor(session: Session) -> list[str]:
    return list(session.scalars(select(Credential.issuer_id)
                                .where(Credential.anchor_state == AnchorState.queued).distinct()))


# Built once: an idle relay pass runs this and nothing else. Each part reads an index that holds
# only rows with work (pending messages, queued anchors, issuers being registered, lists with
# unpublished changes), so its cost does not grow with the number of issuers or credentials.
# The first column: something is due now; the second: something is outstanding at all.
_NOW, _LISTS_BEFORE = bindparam("now"), bindparam("lists_before")
_FOLLOWED = exists().where((Issuer.registry_state == RegistryState.registering)
                           | ((Issuer.registry_state == RegistryState.active) & Issuer.chain_id.is_(None)))
_WORK_STATE = select(
    or_(exists().where(OutboxMessage.state == OutboxState.pending, OutboxMessage.next_attempt_at <= _NOW),
        exists().where(Credential.anchor_state == AnchorState.queued,
                       Credential.anchor_next_poll_at.is_(None) | (Credential.anchor_next_poll_at <= _NOW)),
        _FOLLOWED,
        exists().where(StatusList.changes > StatusList.published_changes,
                       StatusList.published_at.is_(None) | (StatusList.published_at <= _LISTS_BEFORE))),
    or_(exists().where(OutboxMessage.state == OutboxState.pending),
        exists().where(Credential.anchor_state == AnchorState.queued),
        _FOLLOWED,
        exists().where(StatusList.changes > StatusList.published_changes)))


def work_state(session: Session, now: datetime, lists_published_before: datetime) -> tuple[bool, bool]:
    """(due, outstanding) for a relay pass, in one query. Due: a message due for delivery, an
    anchor receipt due to be asked for, an issuer whose registration is being followed, or a
    status list with changes whose last version is older than ``lists_published_before``.
    Outstanding: any of these, due now or later."""
    due, outstanding = session.execute(_WORK_STATE, {"now": now, "lists_before": lists_published_before}).one()
    return bool(due), bool(outstanding)


def work_due(session: Session, now: datetime, lists_published_before: datetime) -> bool:
    """Whether a relay pass has anything to do now (``work_state``'s first half)."""
    return work_state(session, now, lists_published_before)[0]


def acquire_lease(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    return leases.acquire_lease(session, Lease, name, holder, ttl)


def mark_done(session: Session, ids: Sequence[int], now: datetime) -> None:
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        message.state, message.done_at, message.last_error = OutboxState.done, now, None


def retry_later(session: Session, ids: Sequence[int], error: str, backoff) -> None:
    """Count a failed attempt; ``backoff(attempts)`` says how long until the next one."""
    now = utcnow()
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        message.attempts += 1
        message.last_error = error[:2000]
        message.next_attempt_at = now + backoff(message.attempts)


def mark_failed(session: Session, ids: Sequence[int], error: str) -> None:
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        message.state, message.last_error = OutboxState.failed, error[:2000]
        message.attempts += 1


def mark_anchors_queued(session: Session, hashes: Sequence[str], now: datetime) -> None:
    """The registry holds these hashes now: ask for their receipts from ``now`` on."""
    for start in range(0, len(hashes), 500):
        session.execute(
            Credential.__table__.update()
            .where(Credential.credential_hash.in_(hashes[start:start + 500]),
                   Credential.anchor_state == AnchorState.pending)
            .values(anchor_state=AnchorState.queued, anchor_next_poll_at=now))


def signing_key_of(session: Session, hashes: Sequence[str]) -> dict[str, str]:
    """Credential hash → the public key of the signing key that signed it."""
    key_of: dict[str, str] = {}
    for start in range(0, len(hashes), 500):
        rows = session.execute(
            select(Credential.credential_hash, SigningKey.public_key)
            .join(SigningKey, SigningKey.id == Credential.signing_key_id)
            .where(Credential.credential_hash.in_(hashes[start:start + 500]))).all()
        key_of.update((h, key) for h, key in rows)
    return key_of


def unanchored_documents(session: Session, credential_ids: Sequence[str]
                         ) -> dict[str, tuple[str, datetime, str | None, str | None]]:
    """id → (document, created_at, achievement_id, learner_id) of those credentials not anchored yet
    (columns only, 500 ids per query)."""
    found: dict[str, tuple[str, datetime, str | None, str | None]] = {}
    for start in range(0, len(credential_ids), 500):
        for cid, document, created, achievement_id, learner_id in session.execute(
                select(Credential.id, Credential.document, Credential.created_at, Credential.achievement_id,
                       Credential.learner_id)
                .where(Credential.id.in_(credential_ids[start:start + 500]),
                       Credential.anchor_state != AnchorState.anchored)):
            found[cid] = (document, created, achievement_id, learner_id)
    return found


def set_anchored(session: Session, rows: list[dict]) -> None:
    """Bulk UPDATE by primary key: ``rows`` are ``id`` with the values of ``service.anchored_values``."""
    if rows:
        session.execute(update(Credential), rows)


def credential(session: Session, credential_id: str) -> Credential | None:
    return session.get(Credential, credential_id)


def poll_later(session: Session, credential_ids: Sequence[str], at: datetime) -> None:
    for start in range(0, len(credential_ids), 500):
        session.execute(Credential.__table__.update()
                        .where(Credential.id.in_(credential_ids[start:start + 500]),
                               Credential.anchor_state == AnchorState.queued)
                        .values(anchor_next_poll_at=at))
