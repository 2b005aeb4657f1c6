"""``Idempotency-Key``: a retried request answers with what the first one made (docs/issuer.md).

A record maps (issuer, key) to the request's fingerprint and the resource it made; the
VC-API also keeps the caller's own credential ids here as lookup handles (services.issuer.vcapi).
"""

from __future__ import annotations

import hashlib

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict
from services.issuer.models import IdempotencyRecord, Issuer


def request_hash(kind: str, body: dict) -> str:
    return hashlib.sha256(orjson.dumps({"kind": kind, "body": body}, option=orjson.OPT_SORT_KEYS)).hexdigest()


def replay(session: Session, issuer: Issuer, key: str, fingerprint: str, kind: str) -> str | None:
    """The id of what an earlier request with this key made, or None; 409 if the key was used otherwise."""
    record = idempotency_record(session, issuer.id, key)
    if record is None:
        return None
    if record.request_hash != fingerprint or record.resource_kind != kind:
        raise Conflict("this Idempotency-Key was already used with a different request", code="idempotency_key_reused")
    return record.resource_id


def remember(session: Session, issuer: Issuer, key: str, fingerprint: str, kind: str, resource_id: str) -> None:
    if not add_idempotency_record(session, issuer.id, key, fingerprint, kind, resource_id):
        raise Conflict("another request with this Idempotency-Key is in progress; retry it", code="idempotency_conflict")


# -- SQL --------------------------------------------------------------------------------------------
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
