"""Database plumbing shared by the services: engines, the naming convention, sessions.

Each service declares its own tables on its own ``DeclarativeBase`` built with
:func:`declarative_base`; one Alembic history in migrations/ creates them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import enum
import os
import time

from sqlalchemy import DateTime, Enum, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

# Stable constraint names make migrations reproducible on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def string_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum column stored as plain strings (no database ENUM type), so a new state is not a migration."""
    return Enum(cls, name=name, native_enum=False, create_constraint=False, length=20,
                values_callable=lambda members: [m.value for m in members])


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the single writer; busy_timeout makes
            # concurrent writers wait instead of failing at once.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(connection, _name) -> None:
            # pysqlite opens a transaction only before INSERT/UPDATE/DELETE. A SAVEPOINT outside one
            # starts its own, and releasing it commits: what it wrote would outlive a later rollback
            # (a refused request's status-list entries). So open the transaction first.
            dbapi_connection = connection.connection.dbapi_connection
            if not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def add_unless_taken(session: Session, row: object) -> bool:
    """Insert ``row`` in a savepoint; False when a unique key says a concurrent transaction made it first."""
    try:
        with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


def _dialect_insert(session: Session, table):
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the two backends we run
        raise NotImplementedError(f"INSERT … ON CONFLICT on {name}")
    return dialect_insert(table)


def insert_ignore(session: Session, table, rows: list[dict]) -> None:
    """Insert ``rows`` (one executemany), skipping any a unique key says exist already (made by a
    concurrent transaction first).

    ``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL: no savepoint per row, and the
    transaction stays usable (on PostgreSQL a failed insert would abort it). Callers read back
    what they need: the count of rows inserted is not reliable over an executemany.
    """
    if rows:
        session.execute(_dialect_insert(session, table).on_conflict_do_nothing(), rows)


_RETURNING: dict[tuple, object] = {}  # built once per dialect, table and columns (see below)


def insert_ignore_returning(session: Session, table, row: dict, *columns):
    """Insert one ``row`` unless a unique key says it exists (``INSERT … ON CONFLICT DO NOTHING
    RETURNING columns``): the new row's ``columns``, or None when nothing was inserted.

    The statement is built once and the row passed as parameters: one built with ``.values(row)``
    is compiled again on every call (≈ 3× the cost)."""
    key = (session.get_bind().dialect.name, table.name, tuple(row), tuple(c.key for c in columns))
    statement = _RETURNING.get(key)
    if statement is None:
        statement = _RETURNING[key] = _dialect_insert(session, table).on_conflict_do_nothing().returning(*columns)
    return session.execute(statement, row).first()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _test_commit_delay() -> float:
    """``MICROCRED_TEST_COMMIT_DELAY``: seconds each transaction waits before committing.

    Fault injection for tests only (ignored with ``MICROCRED_ENV=production``): it widens the
    window between a unit of work and its commit, so a test can prove that no answer is sent
    before the commit (read-your-writes, nothing lost to a SIGKILL after a 2xx).
    """
    if os.environ.get("MICROCRED_ENV", "development") == "production":
        return 0.0
    try:
        return max(0.0, float(os.environ.get("MICROCRED_TEST_COMMIT_DELAY") or 0))
    except ValueError:
        return 0.0


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
    except BaseException:
        end(session, commit=False)
        raise
    end(session, commit=True)


def end(session: Session, commit: bool) -> None:
    """End a unit of work opened with ``factory()``: commit (or roll back), then close — on any failure
    to commit, roll back and raise. For callers that cannot hold a ``with`` block across threads."""
    try:
        if commit:
            commit_now(session)
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def commit_now(session: Session) -> None:
    """Commit (after ``MICROCRED_TEST_COMMIT_DELAY`` in tests): for a route that commits its own work
    before it answers, so that ending its session has no I/O left."""
    if delay := _test_commit_delay():
        time.sleep(delay)
    session.commit()
