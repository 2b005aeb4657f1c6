"""Alembic environment: one history for all three services' tables.

The URL comes from ``-x url=…``, the config's ``sqlalchemy.url`` (set by
services.ops.migrate), or MICROCRED_DATABASE_URL.
"""

from alembic import context

from services.ops.migrate import target_metadata, resolve_url
from services.core.db import make_engine

config = context.config


def run_migrations_offline() -> None:
    context.configure(url=resolve_url(config), target_metadata=target_metadata(), literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(resolve_url(config))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    # render_as_batch: SQLite can only alter tables by copying them.
    context.configure(connection=connection, target_metadata=target_metadata(), render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
