"""Databases for tests, always built by the real Alembic migrations.

SQLite: a file per test. PostgreSQL: a database per test on the server at MICROCRED_TEST_PG
(default postgresql://postgres@127.0.0.1:5432/test), its own while the test runs, named
``microcred_t_*``; all of them are dropped when the test process ends. Without a server the
PostgreSQL tests are skipped, unless CI=true, where they must run.

Hundreds of tests ask for one, so the migrations run once per test process and kind, into a
template: a SQLite test gets a copy of the file (SQLite's backup API); a PostgreSQL test gets a
copy made with ``CREATE DATABASE ... TEMPLATE``, or one an earlier test had, emptied (see
``_PostgresDatabases``). Either is a database at head with no rows, as the migrations leave
it. The migrations themselves are run step by step, down and up again, by
tests/integration/test_migrations.py and the migration-specific tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
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


_templates: dict[str, str] = {}  # kind -> the template this process migrated


def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        folder = tempfile.mkdtemp(prefix="microcred-template-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "template.db"
        upgrade(f"sqlite:///{path}")
        _templates["sqlite"] = str(path)
    return _templates["sqlite"]


def copy_of_migrated_sqlite(path: Path) -> str:
    """A SQLite database at ``path`` at the migrations' head (a copy of this process's template); its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(_sqlite_template()) as source, sqlite3.connect(path) as target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{path}"


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def _drop_postgres(name: str) -> None:
    try:
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # the server went away first: nothing left to drop
        pass


# What a test could change of a database besides its rows: if any of it differs from the
# template's afterwards, the database is dropped instead of emptied and used again.
_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':'
         || coalesce(column_default, '') AS x FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT indexname || ':' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT typname || ':' || enumlabel FROM pg_enum JOIN pg_type ON pg_type.oid = enumtypid
  UNION ALL SELECT 'trigger:' || tgname FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'alembic:' || version_num FROM alembic_version
) AS parts
"""


class _PostgresDatabases:
    """Databases at the migrations' head for the tests of this process, each as fresh as a new one.

    CREATE and DROP DATABASE each wait for the server's disk (one to five seconds apiece on a
    busy machine, for tests that take a tenth of that), so a database a test is done with is
    emptied instead: every other session on it ended, every row deleted, every sequence
    restarted. Its schema is compared with the template's first, and if the test changed it
    (a downgrade, say), the database is dropped and never used again.
    """

    def __init__(self) -> None:
        self.template = f"microcred_tpl_{uuid.uuid4().hex[:12]}"
        with _pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        self.made: set[str] = {self.template}
        atexit.register(self.close)
        upgrade(_pg_url(self.template))  # disposes of its engine: no session is left on the template
        with _pg_connect(self.template) as conn:
            self.fingerprint = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]
            self.tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
            self.sequences = [r[0] for r in conn.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
        self.idle: list[str] = []

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        name = f"microcred_t_{uuid.uuid4().hex[:12]}"
        self.made.add(name)
        with _pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def give_back(self, name: str) -> None:
        try:
            if self._empty(name):
                self.idle.append(name)
                return
        except Exception:  # the test left it unusable (dropped, renamed...): a new one next time
            pass
        _drop_postgres(name)
        self.made.discard(name)

    def _empty(self, name: str) -> bool:
        """End every session on it and delete every row, if its schema is still the template's."""
        with _pg_connect() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        with _pg_connect(name) as conn:
            if conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0] == self.fingerprint:
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")  # no FK order to follow
                    for table in self.tables:
                        conn.execute(f'DELETE FROM "{table}"')
                    for sequence in self.sequences:
                        conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
                return True
        return False

    def close(self) -> None:
        for name in list(self.made):
            _drop_postgres(name)


_postgres: _PostgresDatabases | None = None


@contextmanager
def migrated_sqlite(directory: Path) -> Iterator[str]:
    yield copy_of_migrated_sqlite(directory / "microcred.db")


@contextmanager
def migrated_postgres() -> Iterator[str]:
    global _postgres
    require_postgres()
    _postgres = _postgres or _PostgresDatabases()
    name = _postgres.take()
    try:
        yield _pg_url(name)
    finally:
        _postgres.give_back(name)


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        with migrated_sqlite(directory) as url:
            yield url
    else:
        with migrated_postgres() as url:
            yield url
