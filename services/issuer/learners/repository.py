"""Learners in the database. Every lookup takes the issuer id: another issuer's learner is never found.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.core.db import add_unless_taken, insert_ignore, insert_ignore_returning
from services.issuer.models import Credential, Issuer, Learner


def set_secret_if_absent(session: Session, issuer_id: str, sealed: str) -> None:
    """First writer wins: a concurrent request that sealed another secret first keeps its own."""
    session.execute(update(Issuer).where(Issuer.id == issuer_id, Issuer.sealed_learner_secret.is_(None))
                    .values(sealed_learner_secret=sealed).execution_options(synchronize_session=False))


def sealed_secret(session: Session, issuer_id: str) -> str | None:
    return session.scalar(select(Issuer.sealed_learner_secret).where(Issuer.id == issuer_id))


def learner(session: Session, issuer_id: str, learner_id: str) -> Learner | None:
    return session.scalar(select(Learner).where(Learner.issuer_id == issuer_id, Learner.id == learner_id))


def by_email_keys(session: Session, issuer_id: str, keys: Sequence[str]) -> dict[str, Learner]:
    found: dict[str, Learner] = {}
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), 500):
        for row in session.scalars(select(Learner).where(Learner.issuer_id == issuer_id,
                                                         Learner.email_key.in_(ordered[start:start + 500]))):
            found[row.email_key] = row
    return found


def ids_by_email_keys(session: Session, issuer_id: str, keys: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """email key → (learner id, DID), for those of ``keys`` the issuer has (columns only, no ORM rows)."""
    found: dict[str, tuple[str, str | None]] = {}
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), 500):
        for key, learner_id, did in session.execute(
                select(Learner.email_key, Learner.id, Learner.did)
                .where(Learner.issuer_id == issuer_id, Learner.email_key.in_(ordered[start:start + 500]))):
            found[key] = (learner_id, did)
    return found


def insert_missing(session: Session, rows: list[dict]) -> None:
    """New learners in bulk; a row a concurrent transaction made first (same email key or DID) is skipped.

    In email-key order, so two transactions inserting some of the same learners wait for each
    other in one order and never deadlock (PostgreSQL holds a conflicting insert until the other
    commits)."""
    rows = sorted(rows, key=lambda r: r["email_key"] or "")
    for start in range(0, len(rows), 500):
        insert_ignore(session, Learner.__table__, rows[start:start + 500])


def insert_one(session: Session, row: dict) -> str | None:
    """A new learner in one statement: its id, or None when one with its email key (or DID) exists."""
    made = insert_ignore_returning(session, Learner.__table__, row, Learner.id)
    return made[0] if made is not None else None


def by_did(session: Session, issuer_id: str, did: str) -> Learner | None:
    return session.scalar(select(Learner).where(Learner.issuer_id == issuer_id, Learner.did == did))


def add(session: Session, row: Learner) -> bool:
    """Insert a new learner; False when a concurrent transaction created the same one first."""
    return add_unless_taken(session, row)


def set_did_if_absent(session: Session, learner_id: str, did: str) -> None:
    session.execute(update(Learner).where(Learner.id == learner_id, Learner.did.is_(None))
                    .values(did=did).execution_options(synchronize_session=False))


def credentials_of(session: Session, issuer_id: str, learner_id: str) -> Sequence[Credential]:
    return session.scalars(select(Credential).where(Credential.issuer_id == issuer_id,
                                                    Credential.learner_id == learner_id)
                           .order_by(Credential.created_at, Credential.id)).all()
