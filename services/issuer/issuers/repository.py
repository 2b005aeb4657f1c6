"""Issuers and their signing keys in the database.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.issuer.models import Issuer, KeyState, RegistryState, SigningKey


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


def retire_signing_key(session: Session, key_id: int, *, retired_at: datetime, valid_until: datetime,
                       compromised: bool) -> bool:
    """Retire the key if it is still active; False if a concurrent rotation retired it first."""
    result = session.execute(
        update(SigningKey).where(SigningKey.id == key_id, SigningKey.state == KeyState.active)
        .values(state=KeyState.retired, retired_at=retired_at, valid_until=valid_until, compromised=compromised)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def issuers_awaiting_registration(session: Session) -> list[str]:
    """Issuers whose chain account is not active yet, or whose chain id is not known yet."""
    return list(session.scalars(select(Issuer.id).where(
        (Issuer.registry_state == RegistryState.registering)
        | ((Issuer.registry_state == RegistryState.active) & Issuer.chain_id.is_(None)))))
