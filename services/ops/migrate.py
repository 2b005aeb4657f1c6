"""Run the Alembic migrations: ``python -m services.ops.migrate`` (the pre-start step)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each service's tables; imported lazily so that a service never pulls in another.
MODEL_MODULES = ("services.registry.models", "services.issuer.models")


def target_metadata() -> list[MetaData]:
    metadatas = []
    for name in MODEL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        metadatas.append(module.Base.metadata)
    return metadatas


def resolve_url(config: Config) -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("MICROCRED_DATABASE_URL")
    if not url:
        from services.core.settings import ServiceSettings
        url = ServiceSettings().database_url
    return url


def alembic_config(database_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


if __name__ == "__main__":
    from services.core.settings import ServiceSettings

    upgrade(ServiceSettings().database_url)
    print("migrations: database is at head")
