"""The one Alembic history builds, and tears down, the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from services.core.db import make_engine
from services.ops.migrate import downgrade, target_metadata, upgrade


def test_migrations_create_every_modelled_table(database_url):
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    modelled = {t for md in target_metadata() for t in md.tables}
    assert modelled <= tables
    assert {"registry_anchors", "registry_jobs", "registry_accounts"} <= tables
    engine.dispose()


def test_migrations_downgrade_to_base_and_up_again(database_url):
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    assert "registry_anchors" in inspect(engine).get_table_names()
    engine.dispose()
