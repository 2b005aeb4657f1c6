"""Databases for tests, always built by the real Alembic migrations.

SQLite: a file per test. PostgreSQL: a fresh database per test on the server at
MICROCRED_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
Without a server the PostgreSQL tests are skipped, unless CI=true, where they must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.ops.migrate import upgrade

PG_ADMIN_URL = os.environ.get("MICROCRED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_connect(dbname: str | None = None):
    import psycopg

    url = PG_ADMIN_URL if dbname is None else PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def postgres_available() -> str | None:
    """None when a server answers, else why not."""
    try:
        with _pg_connect() as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).strip().splitlines()[0]


def require_postgres() -> None:
    why = postgres_available()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_ADMIN_URL}: {why}")
    pytest.skip(f"PostgreSQL tests skipped: no server at {PG_ADMIN_URL} ({why})")


@contextmanager
def migrated_sqlite(directory: Path) -> Iterator[str]:
    url = f"sqlite:///{directory / 'microcred.db'}"
    upgrade(url)
    yield url


@contextmanager
def migrated_postgres() -> Iterator[str]:
    require_postgres()
    name = f"microcred_t_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        with migrated_sqlite(directory) as url:
            yield url
    else:
        with migrated_postgres() as url:
            yield url
