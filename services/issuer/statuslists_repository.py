"""The issuer's status lists, their entries and their signed versions in the database (services.issuer.statuslists).

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.core.db import add_unless_taken
from services.issuer.models import Issuer, StatusEntry, StatusList, StatusListVersion


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
    return add_unless_taken(session, row)


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


def delete_status_entries_of(session: Session, credential_id: str) -> None:
    """The entries of a credential being issued (after a failed insert of them, on SQLite)."""
    session.execute(delete(StatusEntry).where(StatusEntry.credential_id == credential_id))


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
