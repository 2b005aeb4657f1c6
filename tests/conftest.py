"""Fixtures every test layer may use: databases from the real migrations."""

from __future__ import annotations

import pytest

from tests.support.db import migrated_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    with migrated_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def devnet():
    """One anvil for the session with the contract deployed; see ``chain`` for isolation."""
    from services.ops.processes import free_port
    from tests.support.devnet import start_devnet

    net = start_devnet(free_port())
    try:
        yield net
    finally:
        net.anvil.stop()


@pytest.fixture
def chain(devnet):
    """The session chain, reverted to its state before the test when the test ends."""
    snapshot = devnet.snapshot()
    try:
        yield devnet
    finally:
        devnet.revert(snapshot)
